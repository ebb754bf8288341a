//! `deployment.gcp` of the config file, in SeBS's shape plus what sebs adds.

use std::path::PathBuf;
use std::time::Duration;

use sebs_platform::section;
use serde::Deserialize;

/// How sebs deploys to Cloud Functions. Every field is optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpConfig {
    /// The region of the functions and of the benchmarks' bucket.
    pub region: String,
    /// The project; else `GCP_PROJECT_NAME`, else the service account key's `project_id`.
    pub project_name: Option<String>,
    /// Path of the service account key file; else `GOOGLE_APPLICATION_CREDENTIALS`.
    pub credentials: Option<PathBuf>,
    /// Let anyone invoke the functions (`allUsers` gets `roles/run.invoker`), as SeBS does; else
    /// invoking needs an identity token, which sebs does not send.
    pub allow_unauthenticated: bool,
    /// Seconds between two polls of a long-running operation.
    pub poll_interval: f64,
    /// Seconds a long-running operation (a build and roll-out) may take.
    pub operation_timeout: f64,
    /// Service endpoints; the defaults are Google's.
    pub endpoints: Endpoints,
}

impl Default for GcpConfig {
    fn default() -> Self {
        GcpConfig {
            region: "europe-west1".into(),
            project_name: None,
            credentials: None,
            allow_unauthenticated: true,
            poll_interval: 3.0,
            operation_timeout: 900.0,
            endpoints: Endpoints::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Endpoints {
    /// The Cloud Functions API (v2).
    pub functions: String,
    /// The Cloud Run Admin API (v2), which owns a 2nd-gen function's service and its IAM policy.
    pub run: String,
    /// Cloud Storage's JSON API.
    pub storage: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            functions: "https://cloudfunctions.googleapis.com".into(),
            run: "https://run.googleapis.com".into(),
            storage: crate::storage::GCS_ENDPOINT.into(),
        }
    }
}

impl GcpConfig {
    /// Parses and checks the `deployment.gcp` section.
    pub fn from_section(section: Option<&serde_json::Value>) -> Result<Self, String> {
        let config: GcpConfig = section::parse("gcp", section)?;
        let region_ok = config.region.split('-').count() >= 2
            && config
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(format!(
                "deployment.gcp.region: `{}` is not a Google Cloud region (like `europe-west1`)",
                config.region
            ));
        }
        section::check_seconds(
            "gcp",
            &[
                ("poll_interval", config.poll_interval),
                ("operation_timeout", config.operation_timeout),
            ],
        )?;
        let e = &config.endpoints;
        section::check_urls(
            "gcp",
            &[
                ("endpoints.functions", &e.functions),
                ("endpoints.run", &e.run),
                ("endpoints.storage", &e.storage),
            ],
        )?;
        Ok(config)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_interval)
    }

    pub fn operation_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.operation_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_sebs_sections_and_names_bad_fields() {
        let c = GcpConfig::from_section(Some(&json!({
            "region": "us-central1", "project_name": "my-project", "credentials": "key.json"
        })))
        .unwrap();
        assert_eq!(c.project_name.as_deref(), Some("my-project"));
        assert!(c.allow_unauthenticated);
        let err = GcpConfig::from_section(Some(&json!({"projectname": "x"}))).unwrap_err();
        assert!(err.contains("projectname"), "{err}");
        let err = GcpConfig::from_section(Some(&json!({"region": "Europe"}))).unwrap_err();
        assert!(err.contains("deployment.gcp.region"), "{err}");
        let err = GcpConfig::from_section(Some(&json!({"poll_interval": -1}))).unwrap_err();
        assert!(err.contains("poll_interval"), "{err}");
    }
}
