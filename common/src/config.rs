//! The configuration file (SeBS's `config/example.json` format) and its validation.
//!
//! The file is read into serde structs that mirror it (`ConfigFile`), command-line values are laid
//! over it (`Overrides`), and one `validate` turns the result into `RunConfig`, the only type the
//! rest of the program sees. Platform sections (`deployment.<name>`) stay JSON here: each platform
//! parses its own section with its own `deny_unknown_fields` struct.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use crate::benchmark::describe_json_error;
use crate::experiments::{self, ExperimentPlans, ExperimentSections};
use crate::language::{Architecture, Language};

/// Where functions are deployed: every platform SeBS knows, each served by a crate of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    Local,
    Docker,
    Aws,
    Azure,
    Gcp,
    Openwhisk,
}

impl Deployment {
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Local => "local",
            Deployment::Docker => "docker",
            Deployment::Aws => "aws",
            Deployment::Azure => "azure",
            Deployment::Gcp => "gcp",
            Deployment::Openwhisk => "openwhisk",
        }
    }
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Deployment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "local" => Deployment::Local,
            "docker" => Deployment::Docker,
            "aws" => Deployment::Aws,
            "azure" => Deployment::Azure,
            "gcp" => Deployment::Gcp,
            "openwhisk" => Deployment::Openwhisk,
            other => {
                return Err(format!(
                    "unknown deployment `{other}`: expected one of local, docker, aws, azure, gcp, openwhisk"
                ))
            }
        })
    }
}

/// How a function is invoked (SeBS's `--trigger`): over its HTTP endpoint, or through the
/// platform's SDK ("library"), where the platform has one.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    #[default]
    Http,
    Library,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Http => "http",
            TriggerKind::Library => "library",
        }
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TriggerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "http" => Ok(TriggerKind::Http),
            "library" => Ok(TriggerKind::Library),
            other => Err(format!(
                "unknown trigger `{other}`: expected http or library"
            )),
        }
    }
}

/// The file as written. Unknown fields are errors so that a typo never silently does nothing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub experiments: ExperimentsSection,
    #[serde(default)]
    pub deployment: DeploymentSection,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentsSection {
    pub deployment: Option<String>,
    pub update_code: Option<bool>,
    pub update_storage: Option<bool>,
    pub download_results: Option<bool>,
    pub architecture: Option<String>,
    pub container_deployment: Option<bool>,
    pub runtime: Option<RuntimeSection>,
    /// Which experiment `sebs experiment invoke` runs when none is named.
    #[serde(rename = "type")]
    pub experiment_type: Option<String>,
    pub flags: Option<serde_json::Map<String, Value>>,
    /// Invocations of `benchmark invoke` (sebs extension; SeBS takes it only on the command line).
    pub repetitions: Option<u32>,
    /// Invocations in flight at once (sebs extension).
    pub concurrency: Option<u32>,
    /// Function memory in MB; defaults to the benchmark's `config.json`.
    pub memory: Option<u32>,
    /// Function timeout in seconds; defaults to the benchmark's `config.json`.
    pub timeout: Option<u32>,
    #[serde(rename = "perf-cost")]
    pub perf_cost: Option<experiments::PerfCostSection>,
    #[serde(rename = "network-ping-pong")]
    pub network_ping_pong: Option<experiments::NetworkPingPongSection>,
    #[serde(rename = "invocation-overhead")]
    pub invocation_overhead: Option<experiments::InvocationOverheadSection>,
    #[serde(rename = "eviction-model")]
    pub eviction_model: Option<experiments::EvictionModelSection>,
    /// sebs's open-loop load experiment.
    pub load: Option<experiments::LoadSection>,
    /// sebs's replay of an Azure Functions trace.
    #[serde(rename = "trace-replay")]
    pub trace_replay: Option<experiments::TraceReplaySection>,
    /// sebs's worker region × deployment region experiment.
    #[serde(rename = "region-matrix")]
    pub region_matrix: Option<experiments::RegionMatrixSection>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    pub language: String,
    pub version: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSection {
    pub name: Option<String>,
    pub local: Option<Value>,
    pub docker: Option<Value>,
    pub aws: Option<Value>,
    pub azure: Option<Value>,
    pub gcp: Option<Value>,
    pub openwhisk: Option<Value>,
}

/// Values given on the command line; each one that is set wins over the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub deployment: Option<Deployment>,
    pub language: Option<Language>,
    pub language_version: Option<String>,
    pub architecture: Option<Architecture>,
    pub update_code: bool,
    pub update_storage: bool,
    pub repetitions: Option<u32>,
    pub concurrency: Option<u32>,
    pub memory: Option<u32>,
    pub timeout: Option<u32>,
    pub trigger: Option<TriggerKind>,
}

/// The validated configuration of one run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub deployment: Deployment,
    pub language: Language,
    pub language_version: String,
    pub architecture: Architecture,
    pub update_code: bool,
    pub update_storage: bool,
    pub repetitions: u32,
    pub concurrency: u32,
    pub memory: Option<u32>,
    pub timeout: Option<u32>,
    /// How functions are invoked [default: http].
    pub trigger: TriggerKind,
    /// The `deployment.<name>` section of the chosen deployment, for its platform to parse.
    pub platform_section: Option<Value>,
    /// The experiment sections, validated (missing ones take their defaults).
    pub experiments: ExperimentPlans,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: `{field}` {message}")]
    Invalid {
        origin: String,
        field: &'static str,
        message: String,
    },
}

pub const MAX_MEMORY_MB: u32 = 10_240;
pub const MAX_TIMEOUT_S: u32 = 900;

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_json_error(&e),
        })
    }

    /// Lays `overrides` over the file and checks every value once.
    pub fn validate(&self, origin: &str, overrides: &Overrides) -> Result<RunConfig, ConfigError> {
        let invalid = |field: &'static str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            field,
            message,
        };
        let exp = &self.experiments;

        let deployment = match (overrides.deployment, &exp.deployment, &self.deployment.name) {
            (Some(d), _, _) => d,
            (None, Some(name), _) | (None, None, Some(name)) => name
                .parse()
                .map_err(|e| invalid("experiments.deployment", e))?,
            (None, None, None) => Deployment::Local,
        };
        let runtime = exp.runtime.as_ref();
        let language = match (overrides.language, runtime) {
            (Some(l), _) => l,
            (None, Some(r)) => {
                r.language
                    .parse()
                    .map_err(|e: crate::language::UnknownLanguage| {
                        invalid("experiments.runtime.language", e.to_string())
                    })?
            }
            (None, None) => Language::Python,
        };
        // A version from the file belongs to the file's language; switching languages on the
        // command line without a version takes the new language's default.
        let file_version = runtime
            .filter(|r| r.language == language.as_str())
            .and_then(|r| r.version.clone());
        let language_version = overrides
            .language_version
            .clone()
            .or(file_version)
            .unwrap_or_else(|| language.default_version().to_string());
        if !is_version(&language_version) {
            return Err(invalid(
                "experiments.runtime.version",
                format!("`{language_version}` is not a version such as 3.11 or 20"),
            ));
        }
        let architecture = match (overrides.architecture, &exp.architecture) {
            (Some(a), _) => a,
            (None, Some(a)) => a
                .parse()
                .map_err(|e| invalid("experiments.architecture", e))?,
            (None, None) => Architecture::host(),
        };
        let repetitions = overrides.repetitions.or(exp.repetitions).unwrap_or(1);
        if repetitions == 0 {
            return Err(invalid("repetitions", "must be at least 1".into()));
        }
        let concurrency = overrides.concurrency.or(exp.concurrency).unwrap_or(1);
        if concurrency == 0 {
            return Err(invalid("concurrency", "must be at least 1".into()));
        }
        let memory = overrides.memory.or(exp.memory);
        if let Some(m) = memory {
            if !(32..=MAX_MEMORY_MB).contains(&m) {
                return Err(invalid(
                    "memory",
                    format!("{m} MB is outside 32..={MAX_MEMORY_MB} MB"),
                ));
            }
        }
        let timeout = overrides.timeout.or(exp.timeout);
        if let Some(t) = timeout {
            if !(1..=MAX_TIMEOUT_S).contains(&t) {
                return Err(invalid(
                    "timeout",
                    format!("{t} s is outside 1..={MAX_TIMEOUT_S} s"),
                ));
            }
        }
        let d = &self.deployment;
        let platform_section = match deployment {
            Deployment::Local => &d.local,
            Deployment::Docker => &d.docker,
            Deployment::Aws => &d.aws,
            Deployment::Azure => &d.azure,
            Deployment::Gcp => &d.gcp,
            Deployment::Openwhisk => &d.openwhisk,
        }
        .clone();
        let experiments = ExperimentSections {
            perf_cost: exp.perf_cost.as_ref(),
            network_ping_pong: exp.network_ping_pong.as_ref(),
            invocation_overhead: exp.invocation_overhead.as_ref(),
            eviction_model: exp.eviction_model.as_ref(),
            load: exp.load.as_ref(),
            trace_replay: exp.trace_replay.as_ref(),
            region_matrix: exp.region_matrix.as_ref(),
        }
        .validate(origin)?;
        Ok(RunConfig {
            deployment,
            language,
            language_version,
            architecture,
            trigger: overrides.trigger.unwrap_or_default(),
            update_code: overrides.update_code || exp.update_code.unwrap_or(false),
            update_storage: overrides.update_storage || exp.update_storage.unwrap_or(false),
            repetitions,
            concurrency,
            memory,
            timeout,
            platform_section,
            experiments,
        })
    }
}

fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(text, Path::new("cfg.json"))
    }

    #[test]
    fn empty_file_gives_local_python_defaults() {
        let run = parse("{}")
            .unwrap()
            .validate("cfg.json", &Overrides::default())
            .unwrap();
        assert_eq!(run.deployment, Deployment::Local);
        assert_eq!(run.language, Language::Python);
        assert_eq!(run.language_version, "3.11");
        assert_eq!((run.repetitions, run.concurrency), (1, 1));
    }

    #[test]
    fn command_line_overrides_file() {
        let file = parse(
            r#"{"experiments": {"deployment": "local", "runtime": {"language": "python", "version": "3.10"},
                "repetitions": 5, "memory": 256},
                "deployment": {"name": "local", "local": {"idle_timeout": 5}}}"#,
        )
        .unwrap();
        let run = file.validate("cfg.json", &Overrides::default()).unwrap();
        assert_eq!(
            (run.language_version.as_str(), run.repetitions, run.memory),
            ("3.10", 5, Some(256))
        );
        assert!(run.platform_section.is_some());
        let over = Overrides {
            language: Some(Language::Nodejs),
            repetitions: Some(2),
            memory: Some(512),
            ..Default::default()
        };
        let run = file.validate("cfg.json", &over).unwrap();
        assert_eq!(run.language, Language::Nodejs);
        assert_eq!(
            run.language_version, "20",
            "file's python version must not leak into nodejs"
        );
        assert_eq!((run.repetitions, run.memory), (2, Some(512)));
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(r#"{"experiments": {"runtime": {"langauge": "python"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cfg.json") && err.contains("langauge"),
            "{err}"
        );
        let err = parse(r#"{"experiments": {"repetitions": -1}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("experiments.repetitions"), "{err}");
        let err = parse(r#"{"experiments": {"deployment": "lambda"}}"#)
            .unwrap()
            .validate("cfg.json", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lambda") && err.contains("experiments.deployment"),
            "{err}"
        );
        let err = parse(r#"{"experiments": {"memory": 8}}"#)
            .unwrap()
            .validate("cfg.json", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory") && err.contains("8 MB"), "{err}");
    }
}
