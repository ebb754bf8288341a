//! `deployment.openwhisk` of the config file.

use sebs_platform::credentials::CredentialField;
use sebs_platform::section;
use sebs_platform_docker::config::check_image_template;
use serde::Deserialize;

/// OpenWhisk's credentials: the namespace's `UUID:KEY` (else the `AUTH` of `~/.wskprops`) and the
/// S3 store's keys, from the environment, `deployment.openwhisk.credentials` or the cache.
pub const CREDENTIAL_FIELDS: [CredentialField; 3] = [
    CredentialField {
        name: "auth",
        env: "OPENWHISK_AUTH",
        required: false,
    },
    CredentialField {
        name: "storage_access_key",
        env: "SEBS_S3_ACCESS_KEY",
        required: true,
    },
    CredentialField {
        name: "storage_secret_key",
        env: "SEBS_S3_SECRET_KEY",
        required: true,
    },
];

/// Where OpenWhisk and its storage are, and how functions are packaged for it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenWhiskConfig {
    /// The API host, `http://HOST:PORT` (OpenWhisk standalone listens on 3233); default the
    /// `APIHOST` of `~/.wskprops`.
    pub api_host: Option<String>,
    /// `auth`, `storage_access_key`, `storage_secret_key` (see [`CREDENTIAL_FIELDS`]), handed
    /// unread to the credentials module.
    pub credentials: Option<serde_json::Value>,
    /// The namespace; `_` is the credentials' default namespace.
    pub namespace: String,
    /// Registry the function images are pushed to (`127.0.0.1:5000`), so that invokers can pull
    /// them; none: images stay on the local engine (an OpenWhisk whose invokers use it).
    pub docker_registry: Option<String>,
    /// The engine that builds function images; default `DOCKER_HOST`, else the local socket.
    pub docker_host: Option<String>,
    /// The run image a function image is built on, with `{language}` and `{version}` replaced.
    pub run_image: String,
    /// The S3-compatible object storage functions use (Minio in SeBS).
    pub storage: S3Config,
}

/// An S3-compatible store (Minio, Ceph's RGW, moto's server, S3 itself).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// `http://HOST:PORT` as sebs reaches it.
    pub endpoint: String,
    /// The endpoint as functions reach it, when they see it at another address (a container
    /// network); default `endpoint`.
    pub function_endpoint: Option<String>,
    pub region: String,
    /// The bucket every benchmark's inputs and outputs live in.
    pub bucket: String,
}

impl Default for OpenWhiskConfig {
    fn default() -> Self {
        OpenWhiskConfig {
            api_host: None,
            credentials: None,
            namespace: "_".into(),
            docker_registry: None,
            docker_host: None,
            run_image: "sebs/run:{language}-{version}".into(),
            storage: S3Config::default(),
        }
    }
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: "http://127.0.0.1:9000".into(),
            function_endpoint: None,
            region: "us-east-1".into(),
            bucket: "sebs-benchmarks-openwhisk".into(),
        }
    }
}

/// What `~/.wskprops` (the `wsk` CLI's settings) says, where it exists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WskProps {
    pub api_host: Option<String>,
    pub auth: Option<String>,
}

impl WskProps {
    pub fn load() -> WskProps {
        let path = std::env::var_os("WSK_CONFIG_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".wskprops"))
            });
        path.and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| WskProps::parse(&text))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> WskProps {
        let mut props = WskProps::default();
        for line in text.lines() {
            match line.trim().split_once('=') {
                Some(("APIHOST", v)) => props.api_host = Some(v.trim().to_string()),
                Some(("AUTH", v)) => props.auth = Some(v.trim().to_string()),
                _ => {}
            }
        }
        props
    }
}

impl OpenWhiskConfig {
    /// Parses and checks the `deployment.openwhisk` section.
    pub fn from_section(section: Option<&serde_json::Value>) -> Result<Self, String> {
        let config: OpenWhiskConfig = section::parse("openwhisk", section)?;
        for (field, value) in [
            ("api_host", config.api_host.as_deref()),
            ("storage.endpoint", Some(config.storage.endpoint.as_str())),
            (
                "storage.function_endpoint",
                config.storage.function_endpoint.as_deref(),
            ),
        ] {
            if let Some(v) = value.filter(|v| !v.starts_with("http://")) {
                return Err(format!(
                    "deployment.openwhisk.{field}: `{v}` is not an http:// address (sebs speaks \
                     plain HTTP to OpenWhisk and storage; OpenWhisk standalone serves it on port 3233)"
                ));
            }
        }
        if config.namespace.is_empty() || config.namespace.contains('/') {
            return Err(format!(
                "deployment.openwhisk.namespace: `{}` is not a namespace",
                config.namespace
            ));
        }
        section::check_bucket(
            "deployment.openwhisk.storage.bucket",
            &config.storage.bucket,
        )?;
        check_image_template("deployment.openwhisk.run_image", &config.run_image)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field() {
        let error = |v: serde_json::Value| {
            OpenWhiskConfig::from_section(Some(&v))
                .err()
                .unwrap_or_default()
        };
        assert!(error(json!({"apihost": "x"})).contains("apihost"));
        assert!(
            error(json!({"api_host": "https://h:443"})).contains("deployment.openwhisk.api_host")
        );
        assert!(error(json!({"storage": {"endpoint": "minio:9000"}})).contains("storage.endpoint"));
        assert!(error(json!({"storage": {"bucket": "a/b"}})).contains("storage.bucket"));
        let ok = OpenWhiskConfig::from_section(Some(&json!({"api_host": "http://127.0.0.1:3233"})));
        assert_eq!(ok.map(|c| c.namespace).unwrap_or_default(), "_");
    }

    #[test]
    fn wskprops_are_read() {
        let props = WskProps::parse(
            "APIHOST=http://127.0.0.1:3233\nAUTH=23bc46b1:123zO3xZ\nNAMESPACE=guest\n",
        );
        assert_eq!(props.api_host.as_deref(), Some("http://127.0.0.1:3233"));
        assert_eq!(props.auth.as_deref(), Some("23bc46b1:123zO3xZ"));
    }

    #[test]
    fn the_example_config_section_is_valid() {
        let path = sebs_testkit::repo_root().join("config/example.json");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let example: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let section = &example["deployment"]["openwhisk"];
        assert!(
            section.is_object(),
            "config/example.json has deployment.openwhisk"
        );
        if let Err(e) = OpenWhiskConfig::from_section(Some(section)) {
            panic!("{e}");
        }
    }
}
