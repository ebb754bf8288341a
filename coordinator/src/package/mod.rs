//! Turns a benchmark into a deployable package, cached by content hash (SEBS-CONTRACT §6).
//!
//! Layout of a built package (docs/local-protocol.md): the platform's wrapper files at the root,
//! except its `storage.*` and `nosql.*`, which join the benchmark code in `function/`; dependencies installed
//! beside them. The cache holds one package per (platform, benchmark, language, version,
//! architecture) under `<cache>/packages/...`, with `meta.json` written last: **a package without
//! `meta.json` does not exist**, so an interrupted build is never mistaken for a finished one.

pub mod deps;
pub mod hash;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use sebs_common::{Architecture, Benchmark, Language};
use sebs_platform::DependencyInstaller;
use serde::{Deserialize, Serialize};

use hash::ContentHash;

/// Bump when the package layout changes so that every cached package is rebuilt.
const LAYOUT_VERSION: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no wrapper for platform `{platform}` and language {language}: {dir} does not exist")]
    NoWrapper {
        platform: String,
        language: Language,
        dir: PathBuf,
    },
    #[error("package build step `{what}` failed: {detail}")]
    Command { what: String, detail: String },
    #[error("the platform's build environment: {0:#}")]
    Installer(anyhow::Error),
}

impl PackageError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        PackageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct PackageRequest<'a> {
    pub benchmark: &'a Benchmark,
    pub language: Language,
    pub language_version: &'a str,
    pub architecture: Architecture,
    /// Platform name; selects `benchmarks/wrappers/<platform>/<language>/`.
    pub platform: &'a str,
    pub wrappers_root: &'a Path,
    /// The interpreter that installs Python dependencies (so wheels match the runtime).
    pub python: &'a Path,
    /// The platform's own build environment, which installs dependencies instead of `python`
    /// and `npm` on this machine when the platform has one.
    pub installer: Option<&'a dyn DependencyInstaller>,
    /// Rebuild even when the cached package is current (`--update-code`).
    pub force: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageMeta {
    pub hash: String,
    pub size_bytes: u64,
    pub built_at: f64,
    pub build_seconds: f64,
}

#[derive(Clone, Debug)]
pub struct BuiltPackage {
    pub dir: PathBuf,
    pub meta: PackageMeta,
    /// False when the cached package was reused.
    pub rebuilt: bool,
}

#[derive(Clone, Debug)]
pub struct PackageBuilder {
    cache_dir: PathBuf,
}

impl PackageBuilder {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        PackageBuilder {
            cache_dir: cache_dir.into(),
        }
    }

    /// Returns the cached package when its hash is current, else builds it. Concurrent builds
    /// of the same package (parallel runs sharing a cache) wait for each other.
    pub fn build(&self, req: &PackageRequest<'_>) -> Result<BuiltPackage, PackageError> {
        let slot = self
            .cache_dir
            .join("packages")
            .join(req.platform)
            .join(&req.benchmark.name)
            .join(format!(
                "{}-{}-{}",
                req.language, req.language_version, req.architecture
            ));
        fs::create_dir_all(&slot).map_err(|e| PackageError::io(&slot, e))?;
        let lock_path = slot.join(".lock");
        let lock = fs::File::create(&lock_path).map_err(|e| PackageError::io(&lock_path, e))?;
        lock.lock().map_err(|e| PackageError::io(&lock_path, e))?;

        let wrapper_dir = req
            .wrappers_root
            .join(req.platform)
            .join(req.language.as_str());
        if !wrapper_dir.is_dir() {
            return Err(PackageError::NoWrapper {
                platform: req.platform.to_string(),
                language: req.language,
                dir: wrapper_dir,
            });
        }
        let hash = content_hash(req, &wrapper_dir)?;
        let package_dir = slot.join("package");
        let meta_path = slot.join("meta.json");
        if !req.force {
            if let Some(meta) =
                read_meta(&meta_path).filter(|m| m.hash == hash && package_dir.is_dir())
            {
                return Ok(BuiltPackage {
                    dir: package_dir,
                    meta,
                    rebuilt: false,
                });
            }
        }

        let started = Instant::now();
        let _ = fs::remove_file(&meta_path);
        let staging = slot.join("staging");
        remove_dir_if_exists(&staging)?;
        let mut log = String::new();
        let result = assemble(req, &wrapper_dir, &staging, &mut log);
        let log_path = slot.join("build.log");
        let _ = fs::write(&log_path, &log);
        result?;

        remove_dir_if_exists(&package_dir)?;
        fs::rename(&staging, &package_dir).map_err(|e| PackageError::io(&package_dir, e))?;
        let meta = PackageMeta {
            hash,
            size_bytes: dir_size(&package_dir),
            built_at: sebs_worker::epoch_seconds(SystemTime::now()),
            build_seconds: started.elapsed().as_secs_f64(),
        };
        let text = serde_json::to_string_pretty(&meta).unwrap_or_default();
        fs::write(&meta_path, text).map_err(|e| PackageError::io(&meta_path, e))?;
        Ok(BuiltPackage {
            dir: package_dir,
            meta,
            rebuilt: true,
        })
    }
}

/// Hash of everything that goes into the package (SEBS-CONTRACT §6), plus what selects it.
fn content_hash(req: &PackageRequest<'_>, wrapper_dir: &Path) -> Result<String, PackageError> {
    let bench = &req.benchmark.dir;
    let lang_dir = req.benchmark.language_dir(req.language);
    let mut h = ContentHash::new();
    h.value("layout", LAYOUT_VERSION)
        .value("platform", req.platform)
        .value("language", req.language.as_str())
        .value("version", req.language_version)
        .value("architecture", req.architecture.as_str());
    if let Some(installer) = req.installer {
        let environment = installer
            .environment(req.language, req.language_version)
            .map_err(PackageError::Installer)?;
        h.value("build-environment", &environment);
    }
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| PackageError::io(&p, e)
    };
    h.tree("code", &lang_dir).map_err(io(&lang_dir))?;
    h.tree("wrapper", wrapper_dir).map_err(io(wrapper_dir))?;
    for script in ["init.sh", "package.sh", "config.json"] {
        h.file(script, &bench.join(script)).map_err(io(bench))?;
    }
    Ok(h.finish())
}

/// Builds the package in `staging`.
fn assemble(
    req: &PackageRequest<'_>,
    wrapper_dir: &Path,
    staging: &Path,
    log: &mut String,
) -> Result<(), PackageError> {
    let lang_dir = req.benchmark.language_dir(req.language);
    let function_dir = staging.join("function");
    copy_tree(&lang_dir, &function_dir)?;
    for rel in hash::files_sorted(wrapper_dir).map_err(|e| PackageError::io(wrapper_dir, e))? {
        // The wrapper's modules for the benchmark (`from . import storage, nosql`) sit beside it.
        let is_module = rel
            .file_stem()
            .is_some_and(|s| s == "storage" || s == "nosql")
            && rel.parent() == Some(Path::new(""));
        let dest = if is_module {
            function_dir.join(&rel)
        } else {
            staging.join(&rel)
        };
        copy_file(&wrapper_dir.join(&rel), &dest)?;
    }
    // Build scripts: the benchmark root's init.sh, then the language folder's (it was copied).
    for init in [
        req.benchmark.dir.join("init.sh"),
        function_dir.join("init.sh"),
    ] {
        if init.is_file() {
            deps::run_script(&init, &function_dir, req.architecture, req.python, log)?;
        }
    }
    if let Some(file) = deps::dependency_file(
        &lang_dir,
        req.language,
        req.language_version,
        req.architecture,
    ) {
        if deps::lists_nothing(req.language, &file)? {
            // Nothing to install.
        } else {
            match req.installer {
                Some(installer) => {
                    // The dependency file was copied with the language folder.
                    let inside = function_dir.join(file.strip_prefix(&lang_dir).unwrap_or(&file));
                    let output = installer
                        .install(staging, req.language, req.language_version, &inside)
                        .map_err(PackageError::Installer)?;
                    log.push_str(&output);
                }
                None => deps::install(staging, req.language, req.python, &file, log)?,
            }
        }
    }
    for post in [
        req.benchmark.dir.join("package.sh"),
        function_dir.join("package.sh"),
    ] {
        if post.is_file() {
            deps::run_script(&post, staging, req.architecture, req.python, log)?;
        }
    }
    Ok(())
}

fn read_meta(path: &Path) -> Option<PackageMeta> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn remove_dir_if_exists(dir: &Path) -> Result<(), PackageError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PackageError::io(dir, e)),
        _ => Ok(()),
    }
}

fn copy_file(from: &Path, to: &Path) -> Result<(), PackageError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| PackageError::io(parent, e))?;
    }
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| PackageError::io(from, e))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), PackageError> {
    fs::create_dir_all(to).map_err(|e| PackageError::io(to, e))?;
    for rel in hash::files_sorted(from).map_err(|e| PackageError::io(from, e))? {
        copy_file(&from.join(&rel), &to.join(&rel))?;
    }
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
