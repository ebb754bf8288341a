//! Peak memory of a container per invocation, from its memory cgroup: the counter the engine
//! reports as `memory_stats.max_usage` and that the container's memory limit is enforced on
//! (resident memory plus page cache the container touched).
//!
//! The engine's stats call takes 20 ms to 1 s, which would show in every client time, so when
//! sebs runs beside the engine the counter is read from the cgroup file itself, and reset before
//! each invocation (cgroup v1: `memory.max_usage_in_bytes`). On cgroup v2 the kernel's
//! `memory.peak` is read and not reset: the value is the container's peak so far. Without
//! access to the files (a remote engine) the engine's stats are asked instead.

use std::path::{Path, PathBuf};

use bollard::query_parameters::StatsOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

/// Where a container's memory peak is read.
#[derive(Clone, Debug)]
pub enum PeakSource {
    /// cgroup v1 `memory.max_usage_in_bytes`: read, and reset by writing 0.
    ResettableFile(PathBuf),
    /// cgroup v2 `memory.peak`: the peak since the container started.
    File(PathBuf),
    /// The engine's stats API.
    Engine { container: String },
}

impl PeakSource {
    /// Finds the memory cgroup of the container's main process `pid` (a pid on this host).
    pub fn find(pid: i64, container: &str) -> PeakSource {
        let engine = PeakSource::Engine {
            container: container.to_string(),
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return engine;
        };
        from_cgroup_file(&text, Path::new("/sys/fs/cgroup")).unwrap_or(engine)
    }

    /// Resets the peak before an invocation, where the kernel allows it.
    pub fn reset(&self) {
        if let PeakSource::ResettableFile(path) = self {
            let _ = std::fs::write(path, "0");
        }
    }

    /// The peak in KiB (0 when it cannot be read).
    pub async fn peak_kib(&self, docker: &Docker) -> u64 {
        let bytes = match self {
            PeakSource::ResettableFile(path) | PeakSource::File(path) => {
                std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
            }
            PeakSource::Engine { container } => {
                let options = StatsOptionsBuilder::default()
                    .stream(false)
                    .one_shot(true)
                    .build();
                let stats = docker.stats(container, Some(options)).next().await;
                stats
                    .and_then(|s| s.ok())
                    .and_then(|s| s.memory_stats)
                    .and_then(|m| m.max_usage.or(m.usage))
            }
        };
        bytes.unwrap_or(0) / 1024
    }
}

/// Reads `/proc/PID/cgroup` (`ID:CONTROLLERS:PATH` lines) into the file holding the peak, when
/// it exists under `root`.
fn from_cgroup_file(text: &str, root: &Path) -> Option<PeakSource> {
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            let file = root
                .join("memory")
                .join(relative)
                .join("memory.max_usage_in_bytes");
            if file.is_file() {
                return Some(PeakSource::ResettableFile(file));
            }
        } else if controllers.is_empty() {
            v2 = Some(root.join(relative).join("memory.peak"));
        }
    }
    v2.filter(|f| f.is_file()).map(PeakSource::File)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v1_memory_controller_before_the_unified_hierarchy() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let v1 = root.path().join("memory/docker/abc");
        std::fs::create_dir_all(&v1).unwrap_or_default();
        std::fs::write(v1.join("memory.max_usage_in_bytes"), "4096\n").unwrap_or_default();
        let text = "4:memory:/docker/abc\n1:cpu:/docker/abc\n0::/\n";
        match from_cgroup_file(text, root.path()) {
            Some(PeakSource::ResettableFile(f)) => {
                assert_eq!(f, v1.join("memory.max_usage_in_bytes"))
            }
            other => panic!("expected the v1 file, got {other:?}"),
        }
    }

    #[test]
    fn falls_back_to_memory_peak_on_cgroup_v2_and_to_nothing_without_files() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let text = "0::/system.slice/docker-abc.scope\n";
        assert!(from_cgroup_file(text, root.path()).is_none());
        let dir = root.path().join("system.slice/docker-abc.scope");
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::write(dir.join("memory.peak"), "8192\n").unwrap_or_default();
        assert!(matches!(
            from_cgroup_file(text, root.path()),
            Some(PeakSource::File(_))
        ));
    }
}
