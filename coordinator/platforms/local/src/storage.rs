//! The local platform's object storage: a directory per bucket, a file per object.
//!
//! Function instances reach the same tree through `SEBS_STORAGE_ROOT` (see
//! docs/local-protocol.md), so what the tool uploads is what the function downloads.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use anyhow::Context;
use sebs_platform::{check_key, ListedResource, ObjectStorage, Resource, StorageError};

#[derive(Clone, Debug)]
pub struct DirStorage {
    root: PathBuf,
}

impl DirStorage {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirStorage { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The buckets, as resources sebs made (`sebs resources list`): a folder each.
    pub fn buckets(&self) -> anyhow::Result<Vec<ListedResource>> {
        let root = self.root();
        let mut buckets = Vec::new();
        for entry in
            std::fs::read_dir(root).with_context(|| format!("listing {}", root.display()))?
        {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let created = entry
                    .metadata()?
                    .modified()
                    .map(sebs_worker::epoch_seconds)
                    .unwrap_or(0.0);
                buckets.push(ListedResource {
                    resource: Resource {
                        kind: "bucket".into(),
                        id: Some(entry.path().display().to_string()),
                        name,
                        created,
                    },
                    exists: true,
                });
            }
        }
        buckets.sort_by(|a, b| a.resource.name.cmp(&b.resource.name));
        Ok(buckets)
    }

    /// Removes a bucket and every object in it; one already gone is not an error.
    pub fn remove_bucket(&self, name: &str) -> anyhow::Result<()> {
        if name.contains('/') || name.starts_with('.') || name.is_empty() {
            anyhow::bail!("`{name}` is not a bucket name");
        }
        let dir = self.root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", dir.display()))
            }
            _ => Ok(()),
        }
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, StorageError> {
        check_key(bucket)?;
        if bucket.contains('/') {
            return Err(StorageError::InvalidKey {
                key: bucket.into(),
                reason: "bucket names have no `/`",
            });
        }
        Ok(self.root.join(bucket))
    }

    fn object_path(&self, bucket: &str, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.bucket_dir(bucket)?.join(key))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[async_trait]
impl ObjectStorage for DirStorage {
    async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let dir = self.bucket_dir(bucket)?;
        tokio::fs::create_dir_all(&dir).await.map_err(io(&dir))
    }

    async fn upload(&self, bucket: &str, key: &str, from: &Path) -> Result<(), StorageError> {
        let dest = self.object_path(bucket, key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(parent))?;
        }
        // Copy beside the destination and rename: readers never see half an object. The name is
        // unique to this upload: the same key may be uploaded twice at once, in this process or
        // in another sharing the storage.
        static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dest.with_extension(format!("sebs-upload-{}-{n}", std::process::id()));
        tokio::fs::copy(from, &tmp).await.map_err(io(from))?;
        tokio::fs::rename(&tmp, &dest).await.map_err(io(&dest))
    }

    async fn download(&self, bucket: &str, key: &str, to: &Path) -> Result<(), StorageError> {
        let src = self.object_path(bucket, key)?;
        if !src.is_file() {
            return Err(StorageError::NotFound {
                bucket: bucket.into(),
                key: key.into(),
            });
        }
        tokio::fs::copy(&src, to).await.map(|_| ()).map_err(io(to))
    }

    async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StorageError> {
        let path = self.object_path(bucket, key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let dir = self.bucket_dir(bucket)?;
        let mut keys = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&d).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&d)(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(io(&d))? {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&dir) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) && !key.contains(".sebs-upload-") {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn remove_prefix(&self, bucket: &str, prefix: &str) -> Result<usize, StorageError> {
        let mut removed = 0;
        for key in self.list(bucket, prefix).await? {
            let path = self.object_path(bucket, &key)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => removed += 1,
                // Someone else (a concurrent run sharing the storage) removed it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_storage_suite() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStorage::new(tmp.path().join("store"));
        sebs_platform::testing::storage_suite(&store, "suite-bucket").await;
    }

    #[tokio::test]
    async fn bucket_names_have_no_slash() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStorage::new(tmp.path());
        assert!(matches!(
            store.create_bucket("a/b").await,
            Err(StorageError::InvalidKey { .. })
        ));
    }
}
