//! `deployment.docker` of the config file.

use std::path::PathBuf;
use std::time::Duration;

use sebs_platform::section;
use serde::Deserialize;

/// How the Docker platform runs functions. Every field is optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// The engine's address (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`); default
    /// `DOCKER_HOST`, else the local socket.
    pub docker_host: Option<String>,
    /// Root of the directory-backed object storage, mounted into every container; default
    /// `<cache>/docker-storage`.
    pub storage_dir: Option<PathBuf>,
    /// The bucket every benchmark's inputs and outputs live in.
    pub bucket: String,
    /// The run image of a function, with `{language}` and `{version}` replaced.
    pub run_image: String,
    /// The image that installs dependencies; default: the run image's `org.sebs.build-image`
    /// label (the build image of the same Debian release).
    pub build_image: Option<String>,
    /// Seconds an idle container is kept before it is removed (FaaS keep-alive).
    pub idle_timeout: f64,
    /// Containers of one function that may exist at once; further requests wait.
    pub max_containers: u32,
    /// Seconds a container may take from creation to listening.
    pub startup_timeout: f64,
    /// CPUs each container may use (Docker's `--cpus`); default: no limit.
    pub cpus: Option<f64>,
    /// Address the platform's HTTP gateway binds; port 0 picks a free one.
    pub gateway_address: String,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            docker_host: None,
            storage_dir: None,
            bucket: "sebs-benchmarks-docker".into(),
            run_image: "sebs/run:{language}-{version}".into(),
            build_image: None,
            idle_timeout: 600.0,
            max_containers: 32,
            startup_timeout: 60.0,
            cpus: None,
            gateway_address: "127.0.0.1:0".into(),
        }
    }
}

impl DockerConfig {
    /// Parses and checks the `deployment.docker` section.
    pub fn from_section(section: Option<&serde_json::Value>) -> Result<Self, String> {
        let config: DockerConfig = section::parse("docker", section)?;
        for (field, value) in [
            ("idle_timeout", config.idle_timeout),
            ("startup_timeout", config.startup_timeout),
            ("cpus", config.cpus.unwrap_or(1.0)),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!(
                    "deployment.docker.{field}: {value} is not a positive number"
                ));
            }
        }
        if config.max_containers == 0 {
            return Err("deployment.docker.max_containers: must be at least 1".into());
        }
        section::check_bucket("deployment.docker.bucket", &config.bucket)?;
        check_image_template("deployment.docker.run_image", &config.run_image)?;
        Ok(config)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.idle_timeout)
    }

    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.startup_timeout)
    }
}

/// Checks a run image template given at `field`: it names the language and version.
pub fn check_image_template(field: &str, template: &str) -> Result<(), String> {
    if !template.contains("{language}") || !template.contains("{version}") {
        return Err(format!(
            "{field}: `{template}` must contain {{language}} and {{version}}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(section: serde_json::Value) -> String {
        DockerConfig::from_section(Some(&section))
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn defaults_and_errors_that_name_the_field() {
        let c = DockerConfig::from_section(None).unwrap_or_default();
        assert_eq!(c.max_containers, 32);
        assert_eq!(c.run_image, "sebs/run:{language}-{version}");
        assert!(error(json!({"max_container": 2})).contains("max_container"));
        assert!(error(json!({"max_containers": 0})).contains("max_containers"));
        assert!(error(json!({"cpus": -1.0})).contains("deployment.docker.cpus"));
        assert!(error(json!({"run_image": "x:latest"})).contains("{language}"));
        assert!(error(json!({"idle_timeout": "long"})).contains("idle_timeout"));
    }

    #[test]
    fn the_example_config_section_is_valid() {
        let path = sebs_testkit::repo_root().join("config/example.json");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let example: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let section = &example["deployment"]["docker"];
        assert!(
            section.is_object(),
            "config/example.json has deployment.docker"
        );
        if let Err(e) = DockerConfig::from_section(Some(section)) {
            panic!("{e}");
        }
    }
}
