//! Reading a platform's `deployment.<name>` section of the config file, which only that platform
//! parses: errors name the field by its full path, as `deployment.azure.endpoints.kudu: ...`, and
//! the checks several platforms' sections share live here.

use serde::de::DeserializeOwned;

/// Parses `deployment.<platform>`, or the defaults when the section is absent.
pub fn parse<T: DeserializeOwned + Default>(
    platform: &str,
    section: Option<&serde_json::Value>,
) -> Result<T, String> {
    match section {
        None => Ok(T::default()),
        Some(v) => serde_path_to_error::deserialize(v)
            .map_err(|e| format!("deployment.{platform}.{}: {}", e.path(), e.inner())),
    }
}

/// Checks that each `(field, value)` is a non-negative number of seconds.
pub fn check_seconds(platform: &str, fields: &[(&str, f64)]) -> Result<(), String> {
    match fields.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
        Some((field, value)) => Err(format!(
            "deployment.{platform}.{field}: {value} is not a number of seconds"
        )),
        None => Ok(()),
    }
}

/// Checks that each `(field, value)` is an `http://` or `https://` URL (or URL pattern).
pub fn check_urls(platform: &str, fields: &[(&str, &str)]) -> Result<(), String> {
    match fields
        .iter()
        .find(|(_, v)| !(v.starts_with("https://") || v.starts_with("http://")))
    {
        Some((field, value)) => Err(format!(
            "deployment.{platform}.{field}: `{value}` is not an http(s) URL"
        )),
        None => Ok(()),
    }
}

/// Checks a bucket name given at `field` (a full path such as `deployment.local.bucket`).
pub fn check_bucket(field: &str, bucket: &str) -> Result<(), String> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(format!("{field}: `{bucket}` is not a bucket name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Section {
        #[allow(dead_code)]
        limit: Option<u32>,
    }

    #[test]
    fn errors_name_the_platform_and_the_field() {
        let err = check_seconds("x", &[("a", 1.0), ("b", -1.0)]).unwrap_err();
        assert_eq!(err, "deployment.x.b: -1 is not a number of seconds");
        let err = check_urls("x", &[("u", "ftp://h")]).unwrap_err();
        assert_eq!(err, "deployment.x.u: `ftp://h` is not an http(s) URL");
        assert!(check_urls("x", &[("u", "https://{app}.example")]).is_ok());
        let err = parse::<Section>("local", Some(&serde_json::json!({"limt": 1}))).unwrap_err();
        assert!(err.starts_with("deployment.local.limt"), "{err}");
        assert!(parse::<Section>("local", None).is_ok());
        assert!(check_bucket("deployment.x.bucket", "a/b").is_err());
        assert!(check_bucket("deployment.x.bucket", "").is_err());
    }
}
