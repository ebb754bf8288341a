//! A built package as Lambda's deployment zip, with the size limits Lambda enforces.
//!
//! Layout: the wrapper's `handler.py`/`handler.js` at the root (Lambda's handler is
//! `handler.handler`) with the `sebs_handler` and `sebs_storage` it shares with the other
//! platforms, the benchmark in `function/`, Node.js's `node_modules/` at the root, and
//! Python's dependencies, which the package builder installs in `.python_packages/`, moved to the
//! root, where Lambda's Python finds them (`/var/task` is on `sys.path`).
//!
//! The zip is the shared `sebs_platform::archive` one, deterministic: entries in sorted order,
//! a fixed timestamp and fixed permissions. The same package therefore always gives the same
//! bytes, and the SHA-256 Lambda reports for a deployed function (`CodeSha256`) tells whether its
//! code is current.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use sebs_common::Language;
use sebs_platform::archive;
use sha2::{Digest, Sha256};

/// What Lambda accepts.
#[derive(Clone, Copy, Debug)]
pub struct LambdaLimits {
    /// Largest zip that `CreateFunction`/`UpdateFunctionCode` take directly; larger ones go
    /// through S3. 50 MB.
    pub direct_upload_bytes: u64,
    /// Largest unzipped package. 250 MB.
    pub unzipped_bytes: u64,
}

impl Default for LambdaLimits {
    fn default() -> Self {
        LambdaLimits {
            direct_upload_bytes: 50 * 1024 * 1024,
            unzipped_bytes: 250 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the package in {dir} is {size} bytes unzipped, more than Lambda's limit of {limit} bytes (250 MB); make it smaller with the benchmark's package.sh")]
    TooLarge { dir: PathBuf, size: u64, limit: u64 },
    #[error(
        "the package in {dir} has both `{path}` and a dependency of that name in .python_packages/"
    )]
    Collision { dir: PathBuf, path: String },
}

/// A deployment zip on disk.
#[derive(Clone, Debug)]
pub struct CodeZip {
    pub path: PathBuf,
    /// Bytes of the zip.
    pub size: u64,
    /// Bytes of the files in it.
    pub unzipped: u64,
    /// Base64 SHA-256 of the zip, as Lambda's `CodeSha256`.
    pub sha256: String,
}

impl CodeZip {
    /// Whether it must be uploaded through S3.
    pub fn needs_s3(&self, limits: &LambdaLimits) -> bool {
        self.size > limits.direct_upload_bytes
    }
}

/// The zip of `package_dir` at `dest` (reused when it is there: its name carries the package
/// hash), or an error when the package is over Lambda's unzipped limit.
pub fn lambda_zip(
    package_dir: &Path,
    language: Language,
    dest: &Path,
    limits: &LambdaLimits,
) -> Result<CodeZip, ZipError> {
    let io_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ZipError::Io { path, source }
    };
    let place = |rel: &Path| Some(lambda_path(rel, language));
    let mut names = BTreeSet::new();
    let mut unzipped = 0;
    for rel in archive::files(package_dir).map_err(io_at(package_dir))? {
        let name = lambda_path(&rel, language);
        if !names.insert(name.clone()) {
            return Err(ZipError::Collision {
                dir: package_dir.to_path_buf(),
                path: name.display().to_string(),
            });
        }
        let file = package_dir.join(&rel);
        unzipped += fs::metadata(&file).map_err(io_at(&file))?.len();
    }
    if unzipped > limits.unzipped_bytes {
        return Err(ZipError::TooLarge {
            dir: package_dir.to_path_buf(),
            size: unzipped,
            limit: limits.unzipped_bytes,
        });
    }
    if !dest.is_file() {
        let dir = dest.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let tmp = dest.with_extension(format!("zip.{}.tmp", std::process::id()));
        let file = fs::File::create(&tmp).map_err(io_at(&tmp))?;
        archive::write_zip_tree(package_dir, place, &[], io::BufWriter::new(file))
            .and_then(|mut out| out.flush())
            .map_err(io_at(&tmp))?;
        fs::rename(&tmp, dest).map_err(io_at(dest))?;
    }
    let bytes = fs::read(dest).map_err(io_at(dest))?;
    Ok(CodeZip {
        path: dest.to_path_buf(),
        size: bytes.len() as u64,
        unzipped,
        sha256: base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes)),
    })
}

/// Where a file of the package goes in the zip: Python's dependencies from `.python_packages/`
/// to the root, everything else where it is.
fn lambda_path(rel: &Path, language: Language) -> PathBuf {
    match rel.strip_prefix(".python_packages") {
        Ok(dependency) if language == Language::Python => dependency.to_path_buf(),
        _ => rel.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(dir: &Path) {
        for (rel, text) in [
            ("handler.py", "def handler(event, context): pass\n"),
            ("function/function.py", "def handler(event): return {}\n"),
            ("function/storage.py", "import boto3\n"),
            (".python_packages/jinja2/__init__.py", "# jinja2\n"),
            (".python_packages/markupsafe-2.1.dist-info/RECORD", "x\n"),
        ] {
            let path = dir.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }

    fn names(zip_path: &Path) -> Vec<String> {
        let archive = zip::ZipArchive::new(fs::File::open(zip_path).unwrap()).unwrap();
        archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect::<Vec<_>>()
    }

    #[test]
    fn python_dependencies_move_to_the_root_and_zips_are_reproducible() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("package");
        package(&pkg);
        let limits = LambdaLimits::default();
        let a = lambda_zip(&pkg, Language::Python, &tmp.path().join("a.zip"), &limits).unwrap();
        let mut listed = names(&a.path);
        listed.sort();
        assert_eq!(
            listed,
            [
                "function/function.py",
                "function/storage.py",
                "handler.py",
                "jinja2/__init__.py",
                "markupsafe-2.1.dist-info/RECORD"
            ]
        );
        // Rebuilt later from a copy with other timestamps: the same bytes.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let pkg2 = tmp.path().join("package2");
        package(&pkg2);
        let b = lambda_zip(&pkg2, Language::Python, &tmp.path().join("b.zip"), &limits).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(a.unzipped, b.unzipped);
        assert!(!a.needs_s3(&limits));
        let tiny = LambdaLimits {
            direct_upload_bytes: 10,
            ..limits
        };
        assert!(a.needs_s3(&tiny));
    }

    #[test]
    fn limits_and_collisions_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("package");
        package(&pkg);
        let small = LambdaLimits {
            unzipped_bytes: 20,
            ..Default::default()
        };
        let err = lambda_zip(&pkg, Language::Python, &tmp.path().join("a.zip"), &small)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("250 MB") && err.contains("package.sh"),
            "{err}"
        );
        fs::write(pkg.join(".python_packages/handler.py"), "x").unwrap();
        let err = lambda_zip(
            &pkg,
            Language::Python,
            &tmp.path().join("b.zip"),
            &LambdaLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ZipError::Collision { .. }), "{err}");
        // Node.js packages keep their layout.
        let node = lambda_zip(
            &pkg,
            Language::Nodejs,
            &tmp.path().join("c.zip"),
            &LambdaLimits::default(),
        )
        .unwrap();
        assert!(names(&node.path).contains(&".python_packages/handler.py".to_string()));
    }
}
