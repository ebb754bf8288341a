//! Object storage behind one trait: buckets of objects addressed by `/`-separated keys.
//!
//! The local platform implements it over a directory; each cloud implements it over its store.
//! Benchmarks lay their data out as SeBS does: one bucket for all benchmarks, and inside it the
//! prefixes `<benchmark>-<i>-input` and `<benchmark>-<i>-output`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid object key `{key}`: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("object `{key}` not found in bucket `{bucket}`")]
    NotFound { bucket: String, key: String },
    #[error("storage I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A remote store refused or failed a request (after the client's own retries).
    #[error("{operation} in bucket `{bucket}` failed: {message}")]
    Service {
        operation: &'static str,
        bucket: String,
        message: String,
    },
}

#[async_trait]
pub trait ObjectStorage: Send + Sync + std::fmt::Debug {
    /// Creates the bucket if it does not exist.
    async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError>;
    async fn upload(&self, bucket: &str, key: &str, from: &Path) -> Result<(), StorageError>;
    async fn download(&self, bucket: &str, key: &str, to: &Path) -> Result<(), StorageError>;
    /// Size in bytes, or `None` when the object does not exist.
    async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StorageError>;
    /// Keys under `prefix`, sorted.
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Removes every object under `prefix`; returns how many.
    async fn remove_prefix(&self, bucket: &str, prefix: &str) -> Result<usize, StorageError>;
}

/// The file an [`ObjectStorage::download`] writes as the object's chunks arrive; its errors
/// are [`StorageError::Io`] naming the file.
#[derive(Debug)]
pub struct DownloadFile {
    path: PathBuf,
    file: tokio::fs::File,
}

impl DownloadFile {
    pub async fn create(path: &Path) -> Result<DownloadFile, StorageError> {
        let file = tokio::fs::File::create(path)
            .await
            .map_err(|source| io_error(path, source))?;
        Ok(DownloadFile {
            path: path.to_path_buf(),
            file,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        self.file
            .write_all(chunk)
            .await
            .map_err(|source| io_error(&self.path, source))
    }

    /// Flushes what was written; the download is complete.
    pub async fn finish(mut self) -> Result<(), StorageError> {
        self.file
            .flush()
            .await
            .map_err(|source| io_error(&self.path, source))
    }
}

fn io_error(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Keys are relative, `/`-separated, without empty, `.` or `..` segments, so no key can name a
/// path outside its bucket.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let invalid = |reason| StorageError::InvalidKey {
        key: key.to_string(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("empty"));
    }
    if key.starts_with('/') || key.contains('\\') {
        return Err(invalid("keys are relative and use `/`"));
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(invalid("empty, `.` and `..` segments are not allowed"));
    }
    Ok(())
}
