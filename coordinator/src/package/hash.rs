//! The content hash that decides whether a cached package is still good (SEBS-CONTRACT §6).
//!
//! Files are hashed in sorted order of their relative paths (SeBS walks them in directory
//! order, so its hash can change without any change to the code: a defect fixed here).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Folders that are build output, never input.
const SKIPPED_DIRS: [&str; 4] = [
    "__pycache__",
    "node_modules",
    ".python_packages",
    ".pytest_cache",
];

/// Every regular file under `dir`, as paths relative to it, sorted.
pub fn files_sorted(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    stack.push(path);
                }
            } else if !name.to_string_lossy().ends_with(".pyc") {
                if let Ok(rel) = path.strip_prefix(dir) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Accumulates labelled inputs into one SHA-256.
#[derive(Debug, Default)]
pub struct ContentHash {
    hasher: Sha256,
}

impl ContentHash {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a named string (language version, platform name, ...).
    pub fn value(&mut self, label: &str, value: &str) -> &mut Self {
        self.hasher.update(label.as_bytes());
        self.hasher.update([0]);
        self.hasher.update(value.as_bytes());
        self.hasher.update([0]);
        self
    }

    /// Adds every file under `dir` (path and content), under `label`.
    pub fn tree(&mut self, label: &str, dir: &Path) -> io::Result<&mut Self> {
        for rel in files_sorted(dir)? {
            self.file(&format!("{label}/{}", rel.display()), &dir.join(&rel))?;
        }
        Ok(self)
    }

    /// Adds one file's content under `label`, if it exists.
    pub fn file(&mut self, label: &str, path: &Path) -> io::Result<&mut Self> {
        if path.is_file() {
            let content = fs::read(path)?;
            self.hasher.update(label.as_bytes());
            self.hasher.update([0]);
            self.hasher.update((content.len() as u64).to_le_bytes());
            self.hasher.update(&content);
        }
        Ok(self)
    }

    pub fn finish(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_hash(dir: &Path) -> String {
        ContentHash::new().tree("x", dir).unwrap().finish()
    }

    #[test]
    fn hash_follows_content_not_creation_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (name, body) in [("z.py", "1"), ("a/b.py", "2"), ("m.txt", "3")] {
            fs::create_dir_all(a.path().join(name).parent().unwrap()).unwrap();
            fs::write(a.path().join(name), body).unwrap();
        }
        for (name, body) in [("m.txt", "3"), ("a/b.py", "2"), ("z.py", "1")] {
            fs::create_dir_all(b.path().join(name).parent().unwrap()).unwrap();
            fs::write(b.path().join(name), body).unwrap();
        }
        assert_eq!(tree_hash(a.path()), tree_hash(b.path()));
        fs::create_dir_all(a.path().join("__pycache__")).unwrap();
        fs::write(a.path().join("__pycache__/z.pyc"), "bytecode").unwrap();
        assert_eq!(
            tree_hash(a.path()),
            tree_hash(b.path()),
            "build output is ignored"
        );
        fs::write(a.path().join("z.py"), "changed").unwrap();
        assert_ne!(tree_hash(a.path()), tree_hash(b.path()));
    }

    #[test]
    fn renaming_a_file_changes_the_hash() {
        let a = tempfile::tempdir().unwrap();
        fs::write(a.path().join("one.py"), "x").unwrap();
        let before = tree_hash(a.path());
        fs::rename(a.path().join("one.py"), a.path().join("two.py")).unwrap();
        assert_ne!(before, tree_hash(a.path()));
    }
}
