//! Reading a platform's `deployment.<name>` section: parsed with the failing field named, and the
//! checks that several platforms' sections share.

use serde::de::DeserializeOwned;

/// Parses `deployment.<platform>` (its defaults when the file has none); an error names the
/// field, as `deployment.azure.endpoints.kudu: invalid type ...`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_platform_and_the_field() {
        let err = check_seconds("x", &[("a", 1.0), ("b", -1.0)]).unwrap_err();
        assert_eq!(err, "deployment.x.b: -1 is not a number of seconds");
        let err = check_urls("x", &[("u", "ftp://h")]).unwrap_err();
        assert_eq!(err, "deployment.x.u: `ftp://h` is not an http(s) URL");
        assert!(check_urls("x", &[("u", "https://{app}.example")]).is_ok());
        let parsed: Result<std::collections::BTreeMap<String, u32>, _> =
            parse("x", Some(&serde_json::json!({"n": "one"})));
        assert!(parsed.unwrap_err().starts_with("deployment.x.n: "));
    }
}
