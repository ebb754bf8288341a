//! A built package as a Cloud Functions source zip.
//!
//! Cloud Functions builds the function from this source with Google's buildpacks: `main.py` or
//! `index.js` at the root exports `handler`. The package's dependencies travel in it
//! (`.python_packages/`, which `main.py` puts on `sys.path`, and `node_modules/`), so the build
//! installs nothing but the Functions Framework. Node.js sources need a `package.json`; one is
//! written when the benchmark has none.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sebs_common::Language;

/// The runtime id of Cloud Functions (`python311`, `nodejs20`).
pub fn runtime_id(language: Language, version: &str) -> String {
    let digits: String = version.chars().filter(char::is_ascii_digit).collect();
    match language {
        Language::Python => format!("python{digits}"),
        Language::Nodejs => format!("nodejs{digits}"),
    }
}

/// The source zip of `package_dir`.
pub fn source_zip(package_dir: &Path, language: Language) -> Result<Vec<u8>> {
    let place = |rel: &Path| -> Option<PathBuf> {
        let cached = rel.components().any(|c| c.as_os_str() == "__pycache__");
        (!cached).then(|| rel.to_path_buf())
    };
    let mut extra = Vec::new();
    if language == Language::Nodejs && !package_dir.join("package.json").is_file() {
        let manifest =
            serde_json::json!({"name": "sebs-function", "version": "1.0.0", "main": "index.js"});
        extra.push(("package.json", manifest.to_string().into_bytes()));
    }
    sebs_platform::archive::zip_tree(package_dir, place, &extra)
        .with_context(|| format!("zipping {}", package_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_ids() {
        assert_eq!(runtime_id(Language::Python, "3.11"), "python311");
        assert_eq!(runtime_id(Language::Nodejs, "20"), "nodejs20");
    }

    #[test]
    fn node_sources_get_a_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("index.js"), "exports.handler = () => {};").unwrap();
        let zip = source_zip(tmp.path(), Language::Nodejs).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut manifest = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("package.json").unwrap(), &mut manifest)
            .unwrap();
        assert!(manifest.contains("\"main\":\"index.js\""), "{manifest}");
        assert!(archive.by_name("index.js").is_ok());
    }
}
