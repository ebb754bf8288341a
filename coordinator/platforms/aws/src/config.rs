//! `deployment.aws` of the config file, in SeBS's format plus a few sebs fields.

use serde::Deserialize;
use serde_json::Value;

use sebs_platform::credentials::CredentialField;
use sebs_platform::section;

/// What AWS credentials are made of: SeBS's `credentials` object, or the usual variables.
pub const CREDENTIAL_FIELDS: [CredentialField; 3] = [
    CredentialField {
        name: "access_key",
        env: "AWS_ACCESS_KEY_ID",
        required: true,
    },
    CredentialField {
        name: "secret_key",
        env: "AWS_SECRET_ACCESS_KEY",
        required: true,
    },
    CredentialField {
        name: "session_token",
        env: "AWS_SESSION_TOKEN",
        required: false,
    },
];

/// The `deployment.aws` section as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    region: Option<String>,
    /// SeBS's name for the execution role: a role name or ARN; empty makes sebs create one.
    #[serde(rename = "lambda-role")]
    lambda_role: Option<String>,
    credentials: Option<Value>,
    /// SeBS keeps its created resources here in its cache; accepted so SeBS files load, unused
    /// (sebs records what it creates in `<cache>/resources/`).
    #[allow(dead_code)]
    resources: Option<Value>,
    endpoint_url: Option<String>,
    bucket: Option<String>,
}

/// The validated AWS configuration.
#[derive(Clone, Debug)]
pub struct AwsConfig {
    pub region: String,
    /// The execution role (name or ARN) the config names; `None`: sebs makes its own.
    pub lambda_role: Option<String>,
    /// The `credentials` object, handed unread to `credentials::resolve`.
    pub credentials: Option<Value>,
    /// One endpoint for every AWS service (moto, LocalStack); `None` is AWS itself.
    pub endpoint_url: Option<String>,
    /// The benchmarks bucket; `None`: `sebs-benchmarks-<deployment id>`.
    pub bucket: Option<String>,
}

impl AwsConfig {
    pub fn from_section(section: Option<&Value>) -> Result<Self, String> {
        let s: Section = section::parse("aws", section)?;
        let region = s.region.unwrap_or_else(|| "us-east-1".into());
        if !is_region(&region) {
            return Err(format!(
                "deployment.aws.region: `{region}` is not an AWS region such as us-east-1"
            ));
        }
        if let Some(url) = &s.endpoint_url {
            section::check_urls("aws", &[("endpoint_url", url)])?;
        }
        if let Some(bucket) = &s.bucket {
            if !is_bucket_name(bucket) {
                return Err(format!(
                    "deployment.aws.bucket: `{bucket}` is not an S3 bucket name (3-63 characters: \
                     lowercase letters, digits, `-` and `.`)"
                ));
            }
        }
        Ok(AwsConfig {
            region,
            lambda_role: s.lambda_role.filter(|r| !r.trim().is_empty()),
            credentials: s.credentials,
            endpoint_url: s.endpoint_url,
            bucket: s.bucket,
        })
    }
}

fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

pub fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sebs_sections_load_and_errors_name_the_field() {
        let c = AwsConfig::from_section(Some(&json!({
            "region": "eu-central-1", "lambda-role": "",
            "resources": {"benchmarks": "sebs-benchmarks-1"}
        })))
        .unwrap();
        assert_eq!(c.region, "eu-central-1");
        assert!(c.lambda_role.is_none());
        assert_eq!(AwsConfig::from_section(None).unwrap().region, "us-east-1");
        let err = AwsConfig::from_section(Some(&json!({"regoin": "x"}))).unwrap_err();
        assert!(err.contains("regoin"), "{err}");
        let err = AwsConfig::from_section(Some(&json!({"region": "Mars"}))).unwrap_err();
        assert!(err.contains("deployment.aws.region"), "{err}");
        let err = AwsConfig::from_section(Some(&json!({"bucket": "Bad_Name"}))).unwrap_err();
        assert!(err.contains("deployment.aws.bucket"), "{err}");
        let err =
            AwsConfig::from_section(Some(&json!({"endpoint_url": "localhost:5000"}))).unwrap_err();
        assert!(err.contains("endpoint_url"), "{err}");
    }
}
