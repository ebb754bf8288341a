//! What sebs created on a platform: recorded in the cache folder as it creates it, so that
//! `sebs resources list|remove` can find it again and confirm it against the platform.
//!
//! A [`ResourceLog`] is one JSON file per platform scope (`<cache>/resources/<scope>.json`, the
//! scope being e.g. `aws-us-east-1`): a random `deployment_id` that names what this cache created
//! (bucket names and the like take it, since they must be unique), and the [`Resource`]s in the
//! order they were created. Every change is a read-modify-write under a file lock, renamed into
//! place, so concurrent runs that share a cache lose nothing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Something sebs created on a platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// What it is, in the platform's words: `function`, `bucket`, `role`, `http-api`,
    /// `resource-group`, ...; the platform alone interprets it.
    pub kind: String,
    /// Its name on the platform.
    pub name: String,
    /// The platform's full identifier (an ARN, a URL), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Epoch seconds when sebs created it.
    pub created: f64,
}

impl Resource {
    pub fn new(kind: &str, name: &str, id: Option<String>) -> Self {
        Resource {
            kind: kind.to_string(),
            name: name.to_string(),
            id,
            created: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        }
    }
}

/// A recorded resource and whether the platform still has it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedResource {
    pub resource: Resource,
    pub exists: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LogFile {
    deployment_id: String,
    resources: Vec<Resource>,
}

/// The record of one platform scope's resources (see the module doc).
#[derive(Clone, Debug)]
pub struct ResourceLog {
    path: PathBuf,
    deployment_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("resource record {path}: {source}")]
pub struct ResourceLogError {
    path: PathBuf,
    source: std::io::Error,
}

impl ResourceLog {
    /// Opens (or starts) the record of `scope` in `cache_dir`.
    pub fn open(cache_dir: &Path, scope: &str) -> Result<Self, ResourceLogError> {
        let path = cache_dir.join("resources").join(format!("{scope}.json"));
        let mut log = ResourceLog {
            path,
            deployment_id: String::new(),
        };
        log.deployment_id = log.update(|_| {})?.deployment_id;
        Ok(log)
    }

    /// Eight hex characters, made once per scope and cache: unique names derive from it.
    pub fn deployment_id(&self) -> &str {
        &self.deployment_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a resource; one already recorded under the same kind and name is replaced.
    pub fn record(&self, resource: Resource) -> Result<(), ResourceLogError> {
        self.update(|log| {
            log.resources
                .retain(|r| !(r.kind == resource.kind && r.name == resource.name));
            log.resources.push(resource);
        })
        .map(drop)
    }

    /// Forgets a resource (after it was removed).
    pub fn forget(&self, kind: &str, name: &str) -> Result<(), ResourceLogError> {
        self.update(|log| {
            log.resources
                .retain(|r| !(r.kind == kind && r.name == name));
        })
        .map(drop)
    }

    /// Every recorded resource, oldest first.
    pub fn list(&self) -> Result<Vec<Resource>, ResourceLogError> {
        Ok(self.update(|_| {})?.resources)
    }

    fn update(&self, change: impl FnOnce(&mut LogFile)) -> Result<LogFile, ResourceLogError> {
        let io = |source| ResourceLogError {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io)?;
        let lock = fs::File::create(dir.join(".lock")).map_err(io)?;
        lock.lock().map_err(io)?;
        let mut log: LogFile = match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io(e.into()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LogFile::default(),
            Err(e) => return Err(io(e)),
        };
        let before = serde_json::to_vec(&log).map_err(|e| io(e.into()))?;
        if log.deployment_id.is_empty() {
            log.deployment_id = format!("{:08x}", rand_u32());
        }
        change(&mut log);
        let text = serde_json::to_vec_pretty(&log).map_err(|e| io(e.into()))?;
        if serde_json::to_vec(&log).map_err(|e| io(e.into()))? != before {
            let tmp = dir.join(format!(".{}.tmp", std::process::id()));
            let mut file = fs::File::create(&tmp).map_err(io)?;
            file.write_all(&text).map_err(io)?;
            file.sync_all().map_err(io)?;
            fs::rename(&tmp, &self.path).map_err(io)?;
        }
        Ok(log)
    }
}

/// A random number without a dependency: the standard library's hasher is randomly keyed.
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_keep_one_entry_per_name() {
        let tmp = tempfile::tempdir().unwrap();
        let log = ResourceLog::open(tmp.path(), "aws-us-east-1").unwrap();
        let id = log.deployment_id().to_string();
        assert_eq!(id.len(), 8);
        log.record(Resource::new("role", "sebs-role", None))
            .unwrap();
        log.record(Resource::new("function", "f", Some("arn:1".into())))
            .unwrap();
        log.record(Resource::new("function", "f", Some("arn:2".into())))
            .unwrap();

        let again = ResourceLog::open(tmp.path(), "aws-us-east-1").unwrap();
        assert_eq!(again.deployment_id(), id, "the id is made once");
        let listed = again.list().unwrap();
        let names: Vec<(&str, &str)> = listed
            .iter()
            .map(|r| (r.kind.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(names, [("role", "sebs-role"), ("function", "f")]);
        assert_eq!(listed[1].id.as_deref(), Some("arn:2"));

        again.forget("function", "f").unwrap();
        assert_eq!(log.list().unwrap().len(), 1);
        let other = ResourceLog::open(tmp.path(), "aws-eu-west-1").unwrap();
        assert!(other.list().unwrap().is_empty());
        assert_ne!(other.deployment_id(), id);
    }
}
