//! Reading a platform's `deployment.<name>` section of the config file, which only that
//! platform parses: errors name the field by its full path.

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
    fn errors_carry_the_full_path() {
        let err = parse::<Section>("local", Some(&serde_json::json!({"limt": 1}))).unwrap_err();
        assert!(err.starts_with("deployment.local.limt"), "{err}");
        assert!(parse::<Section>("local", None).is_ok());
        assert!(check_bucket("deployment.x.bucket", "a/b").is_err());
    }
}
