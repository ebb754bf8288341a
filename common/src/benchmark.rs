//! Benchmarks on disk, in SeBS's format: `benchmarks/<group>/<id>.<name>/config.json`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::language::Language;

/// `config.json` of a benchmark: the fields SeBS defines, and two optional ones of sebs's
/// (`client_side`, `programs`), which SeBS ignores.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkConfig {
    /// Seconds an invocation may run.
    pub timeout: u32,
    /// MB: the smallest memory size the benchmark runs in on every platform.
    pub memory: u32,
    /// Languages with an implementation folder; may name languages sebs cannot run yet.
    pub languages: Vec<String>,
    /// Platform services the benchmark needs (`storage`, `nosql`).
    #[serde(default)]
    pub modules: Vec<String>,
    /// SeBS's C++ build dependencies; accepted so that SeBS's files load, unused here.
    #[serde(default)]
    pub cpp_dependencies: Vec<String>,
    /// sebs: a server the run starts beside the function, whose address the function gets
    /// through its event (SeBS's experiments start these by hand).
    #[serde(default)]
    pub client_side: Option<ClientSideKind>,
    /// sebs: programs the function runs that no dependency file installs (e.g. `ffmpeg`); a run
    /// checks that they are on `PATH` before it builds anything.
    #[serde(default)]
    pub programs: Vec<String>,
}

/// The client side of a benchmark: what the run serves to the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientSideKind {
    /// A UDP server that echoes every datagram and records when (020, 030).
    UdpEcho,
    /// A TCP server that writes a short reply to every connection and closes it (040).
    TcpReply,
    /// An HTTP server of the benchmark's generated data folder (120).
    HttpFiles,
}

impl ClientSideKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientSideKind::UdpEcho => "udp-echo",
            ClientSideKind::TcpReply => "tcp-reply",
            ClientSideKind::HttpFiles => "http-files",
        }
    }
}

/// One benchmark of the catalogue.
#[derive(Clone, Debug)]
pub struct Benchmark {
    /// Full name, `110.dynamic-html`.
    pub name: String,
    /// Group folder, `100.webapps`.
    pub group: String,
    pub dir: PathBuf,
    pub config: BenchmarkConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error("benchmark `{name}` not found under {root}; known benchmarks: {known}")]
    NotFound {
        name: String,
        root: PathBuf,
        known: String,
    },
    #[error("benchmark name `{name}` matches several benchmarks: {matches}")]
    Ambiguous { name: String, matches: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    InvalidConfig { path: PathBuf, message: String },
    #[error("benchmark `{benchmark}` has no {language} implementation (it supports: {supported})")]
    UnsupportedLanguage {
        benchmark: String,
        language: Language,
        supported: String,
    },
}

impl Benchmark {
    /// Reads a benchmark folder; its name is the folder name.
    pub fn load(dir: &Path) -> Result<Self, BenchmarkError> {
        let config_path = dir.join("config.json");
        let text = fs::read_to_string(&config_path).map_err(|source| BenchmarkError::Io {
            path: config_path.clone(),
            source,
        })?;
        let mut de = serde_json::Deserializer::from_str(&text);
        let config: BenchmarkConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            BenchmarkError::InvalidConfig {
                path: config_path.clone(),
                message: describe_json_error(&e),
            }
        })?;
        if config.timeout == 0 || config.memory == 0 {
            return Err(BenchmarkError::InvalidConfig {
                path: config_path,
                message: "`timeout` and `memory` must be positive".into(),
            });
        }
        let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        Ok(Benchmark {
            name: file_name(dir).unwrap_or_default(),
            group: dir.parent().and_then(file_name).unwrap_or_default(),
            dir: dir.to_path_buf(),
            config,
        })
    }

    /// The numeric id, `110` for `110.dynamic-html`.
    pub fn id(&self) -> &str {
        self.name.split('.').next().unwrap_or(&self.name)
    }

    pub fn supports(&self, language: Language) -> bool {
        self.config.languages.iter().any(|l| l == language.as_str())
            && self.language_dir(language).is_dir()
    }

    /// Fails with a message naming the languages the benchmark does have.
    pub fn require_language(&self, language: Language) -> Result<(), BenchmarkError> {
        if self.supports(language) {
            return Ok(());
        }
        Err(BenchmarkError::UnsupportedLanguage {
            benchmark: self.name.clone(),
            language,
            supported: self.config.languages.join(", "),
        })
    }

    pub fn language_dir(&self, language: Language) -> PathBuf {
        self.dir.join(language.as_str())
    }

    pub fn input_py(&self) -> PathBuf {
        self.dir.join("input.py")
    }

    pub fn uses_module(&self, module: &str) -> bool {
        self.config.modules.iter().any(|m| m == module)
    }
}

/// The benchmarks under one root folder (`benchmarks/`).
#[derive(Clone, Debug)]
pub struct Catalogue {
    root: PathBuf,
}

impl Catalogue {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Catalogue { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every folder `<group>/<id>.<name>` holding a `config.json`, sorted by name. Folders that
    /// are not benchmarks (such as `wrappers`) are skipped; a benchmark with a broken
    /// `config.json` is an error, not silently hidden.
    pub fn list(&self) -> Result<Vec<Benchmark>, BenchmarkError> {
        let mut found = Vec::new();
        for group in read_dirs(&self.root)? {
            for dir in read_dirs(&group)? {
                if dir.join("config.json").is_file() && looks_like_benchmark(&dir) {
                    found.push(Benchmark::load(&dir)?);
                }
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// Finds a benchmark by full name (`110.dynamic-html`), id (`110`) or short name
    /// (`dynamic-html`).
    pub fn find(&self, name: &str) -> Result<Benchmark, BenchmarkError> {
        let all = self.list()?;
        let matches: Vec<&Benchmark> = all
            .iter()
            .filter(|b| {
                b.name == name
                    || b.id() == name
                    || b.name.split_once('.').map(|(_, n)| n) == Some(name)
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(BenchmarkError::NotFound {
                name: name.to_string(),
                root: self.root.clone(),
                known: all
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            many => Err(BenchmarkError::Ambiguous {
                name: name.to_string(),
                matches: many
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

fn looks_like_benchmark(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(id, rest)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
        })
}

fn read_dirs(dir: &Path) -> Result<Vec<PathBuf>, BenchmarkError> {
    let entries = fs::read_dir(dir).map_err(|source| BenchmarkError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Renders a serde error with the JSON path of the offending field: `experiments.runtime: ...`.
pub fn describe_json_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.inner();
    if path.is_empty() || path == "." {
        format!("{inner}")
    } else {
        format!("field `{path}`: {inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bench(root: &Path, group: &str, name: &str, config: &str) -> PathBuf {
        let dir = root.join(group).join(name);
        fs::create_dir_all(dir.join("python")).unwrap();
        fs::write(dir.join("config.json"), config).unwrap();
        dir
    }

    #[test]
    fn finds_by_full_name_id_and_short_name() {
        let tmp = tempfile::tempdir().unwrap();
        write_bench(
            tmp.path(),
            "100.webapps",
            "110.dynamic-html",
            r#"{"timeout": 10, "memory": 128, "languages": ["python"], "modules": []}"#,
        );
        fs::create_dir_all(tmp.path().join("wrappers/local")).unwrap();
        let cat = Catalogue::new(tmp.path());
        for name in ["110.dynamic-html", "110", "dynamic-html"] {
            let b = cat.find(name).unwrap();
            assert_eq!(b.name, "110.dynamic-html");
            assert_eq!(b.group, "100.webapps");
        }
        assert!(b_supports(&cat, Language::Python));
        assert!(!b_supports(&cat, Language::Nodejs));
        let err = cat.find("999.nope").unwrap_err().to_string();
        assert!(
            err.contains("999.nope") && err.contains("110.dynamic-html"),
            "{err}"
        );
    }

    fn b_supports(cat: &Catalogue, l: Language) -> bool {
        cat.find("110").unwrap().supports(l)
    }

    #[test]
    fn bad_config_names_the_file_and_field() {
        let tmp = tempfile::tempdir().unwrap();
        write_bench(
            tmp.path(),
            "000.micro",
            "010.sleep",
            r#"{"timeout": "ten", "memory": 128, "languages": ["python"]}"#,
        );
        let err = Catalogue::new(tmp.path())
            .find("010")
            .unwrap_err()
            .to_string();
        assert!(err.contains("010.sleep/config.json"), "{err}");
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn sebs_extensions_parse() {
        let tmp = tempfile::tempdir().unwrap();
        write_bench(
            tmp.path(),
            "000.micro",
            "020.network-benchmark",
            r#"{"timeout": 1, "memory": 128, "languages": ["python"],
                "client_side": "udp-echo", "programs": ["ffmpeg"], "cpp_dependencies": ["boost"]}"#,
        );
        let b = Catalogue::new(tmp.path()).find("020").unwrap();
        assert_eq!(b.config.client_side, Some(ClientSideKind::UdpEcho));
        assert_eq!(b.config.programs, ["ffmpeg"]);
        write_bench(
            tmp.path(),
            "000.micro",
            "030.clock",
            r#"{"timeout": 1, "memory": 128, "languages": ["python"], "client_side": "smtp"}"#,
        );
        let err = Catalogue::new(tmp.path())
            .find("030")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client_side") && err.contains("udp-echo"),
            "{err}"
        );
    }

    #[test]
    fn unknown_field_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        write_bench(
            tmp.path(),
            "000.micro",
            "010.sleep",
            r#"{"timeout": 1, "memroy": 128, "languages": ["python"]}"#,
        );
        let err = Catalogue::new(tmp.path()).list().unwrap_err().to_string();
        assert!(err.contains("memroy"), "{err}");
    }
}
