//! `deployment.local` of the config file.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// How the embedded local platform runs functions. Every field is optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Root of the directory-backed object storage; default `<cache>/local-storage`.
    pub storage_dir: Option<PathBuf>,
    /// The bucket every benchmark's inputs and outputs live in.
    pub bucket: String,
    /// Seconds an idle instance is kept before it is stopped (FaaS keep-alive).
    pub idle_timeout: f64,
    /// Instances of one function that may exist at once; further requests wait.
    pub max_instances: u32,
    /// Seconds an instance may take to start listening.
    pub startup_timeout: f64,
    /// Stop an instance whose resident memory exceeds the function's memory size.
    pub enforce_memory_limit: bool,
    /// The Python interpreter; default `python<version>` if present, else `python3`.
    pub python: Option<PathBuf>,
    /// The Node.js binary; default `node`.
    pub node: Option<PathBuf>,
    /// Address the platform's HTTP gateway binds; port 0 picks a free one.
    pub gateway_address: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            storage_dir: None,
            bucket: "sebs-benchmarks-local".into(),
            idle_timeout: 600.0,
            max_instances: 64,
            startup_timeout: 30.0,
            enforce_memory_limit: true,
            python: None,
            node: None,
            gateway_address: "127.0.0.1:0".into(),
        }
    }
}

impl LocalConfig {
    /// Parses and checks the `deployment.local` section.
    pub fn from_section(section: Option<&serde_json::Value>) -> Result<Self, String> {
        let config: LocalConfig = sebs_platform::section::parse("local", section)?;
        if !(config.idle_timeout.is_finite() && config.idle_timeout > 0.0) {
            return Err(format!(
                "deployment.local.idle_timeout: {} is not a positive number of seconds",
                config.idle_timeout
            ));
        }
        if !(config.startup_timeout.is_finite() && config.startup_timeout > 0.0) {
            return Err(format!(
                "deployment.local.startup_timeout: {} is not a positive number of seconds",
                config.startup_timeout
            ));
        }
        if config.max_instances == 0 {
            return Err("deployment.local.max_instances: must be at least 1".into());
        }
        sebs_platform::section::check_bucket("deployment.local.bucket", &config.bucket)?;
        Ok(config)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.idle_timeout)
    }

    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.startup_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_errors() {
        let c = LocalConfig::from_section(None).unwrap();
        assert_eq!(c.max_instances, 64);
        let c = LocalConfig::from_section(Some(&json!({"idle_timeout": 2.5}))).unwrap();
        assert_eq!(c.idle_timeout(), Duration::from_millis(2500));
        let err = LocalConfig::from_section(Some(&json!({"idle_timout": 1}))).unwrap_err();
        assert!(err.contains("idle_timout"), "{err}");
        let err = LocalConfig::from_section(Some(&json!({"max_instances": 0}))).unwrap_err();
        assert!(err.contains("max_instances"), "{err}");
    }
}
