//! One function instance: a container of the function's run image, serving the wrapper's
//! local protocol (docs/local-protocol.md) on 127.0.0.1 of the host's network.
//!
//! The container shares the host's network namespace, so its server binds 127.0.0.1 directly
//! and no bridge network or published port is involved. The package is mounted read-only at
//! `/function`, the storage root at `/sebs-storage`. The container runs as the calling user, so
//! what a function writes to storage belongs to whoever runs sebs. Its memory limit is the
//! function's memory (no swap), enforced by the kernel: an instance over it is OOM-killed.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sebs_common::ErrorKind;
use sebs_platform_local::connection::{PostError, WrapperConnection};
use sebs_platform_local::pool::{InstanceFailure, InstanceInfo, InstanceReply, Sandbox};

use crate::memory::PeakSource;

/// The label every container of this platform carries, with the session that made it.
pub const SESSION_LABEL: &str = "org.sebs.session";
pub const FUNCTION_LABEL: &str = "org.sebs.function";
/// Where the package and the storage are mounted in the container.
const FUNCTION_MOUNT: &str = "/function";
pub const STORAGE_MOUNT: &str = "/sebs-storage";
const LOG_LINES: usize = 20;

/// Everything needed to start containers of one function.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    pub docker: Docker,
    pub function: String,
    pub image: String,
    pub package_dir: PathBuf,
    pub storage_root: PathBuf,
    pub memory_mb: u32,
    pub cpus: Option<f64>,
    pub timeout: Duration,
    pub startup_timeout: Duration,
    /// Names this sebs process's containers, so that shutdown removes exactly them.
    pub session: String,
    /// The function's own environment (its NoSQL tables and endpoint, for one).
    pub environment: Vec<(String, String)>,
}

type LogTail = Arc<Mutex<VecDeque<String>>>;

#[derive(Debug)]
pub struct Container {
    info: InstanceInfo,
    /// The engine's name of the container.
    name: String,
    docker: Docker,
    connection: WrapperConnection,
    peak: PeakSource,
    logs: LogTail,
}

#[async_trait]
impl Sandbox for Container {
    type Spec = ContainerSpec;

    fn function(spec: &ContainerSpec) -> &str {
        &spec.function
    }

    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    /// Creates and starts the container, and waits until its wrapper listens.
    async fn start(
        spec: &ContainerSpec,
        id: u64,
        generation: u64,
    ) -> Result<(Container, Duration), String> {
        let started = Instant::now();
        let name = format!("{}-{}-{id}", spec.function, spec.session);
        let docker = spec.docker.clone();
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        docker
            .create_container(Some(options), container_body(spec, generation))
            .await
            .map_err(|e| format!("cannot create container {name} of {}: {e}", spec.image))?;
        // From here on the container exists: dropping `container` removes it.
        let logs: LogTail = Arc::default();
        let attach = AttachContainerOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(true)
            .build();
        let output = match docker.attach_container(&name, Some(attach)).await {
            Ok(attached) => attached.output,
            Err(e) => {
                remove(&docker, &name).await;
                return Err(format!("cannot attach to container {name}: {e}"));
            }
        };
        if let Err(e) = docker.start_container(&name, None).await {
            remove(&docker, &name).await;
            return Err(format!("cannot start container {name}: {e}"));
        }
        let listening =
            tokio::time::timeout(spec.startup_timeout, wait_listening(output, logs.clone())).await;
        let port = match listening {
            Ok(Some((port, rest))) => {
                tokio::spawn(drain(rest, logs.clone(), spec.function.clone(), id));
                port
            }
            Ok(None) => {
                let why = describe_exit(&docker, &name, &logs, "exited before listening").await;
                remove(&docker, &name).await;
                return Err(why);
            }
            Err(_) => {
                let why = format!("not listening after {:?}", spec.startup_timeout);
                let why = describe_exit(&docker, &name, &logs, &why).await;
                remove(&docker, &name).await;
                return Err(why);
            }
        };
        let pid = match docker.inspect_container(&name, None).await {
            Ok(c) => c.state.and_then(|s| s.pid).unwrap_or(0),
            Err(_) => 0,
        };
        let connection = match WrapperConnection::open(port).await {
            Ok(connection) => connection,
            Err(e) => {
                remove(&docker, &name).await;
                return Err(format!("container {name} listens but {e}"));
            }
        };
        let peak = PeakSource::find(pid, &name);
        tracing::debug!(container = %name, port, ?peak, took = ?started.elapsed(), "container listening");
        let container = Container {
            info: InstanceInfo::new(id, generation),
            peak,
            name,
            docker,
            connection,
            logs,
        };
        Ok((container, started.elapsed()))
    }

    async fn invoke(
        &mut self,
        spec: &ContainerSpec,
        event: Bytes,
        request_id: &str,
    ) -> Result<InstanceReply, InstanceFailure> {
        self.peak.reset();
        let started = Instant::now();
        let exchange = self.connection.post(event, request_id);
        let outcome = tokio::time::timeout(spec.timeout, exchange).await;
        let execution_us = started.elapsed().as_micros() as u64;
        match outcome {
            Ok(Ok((status, body))) => {
                self.info.last_used = Instant::now();
                Ok(InstanceReply {
                    status,
                    body,
                    execution_us,
                    peak_kib: self.peak.peak_kib(&self.docker).await,
                })
            }
            Ok(Err(PostError::Request(e))) => {
                Err(InstanceFailure::since(ErrorKind::Platform, e, started))
            }
            Ok(Err(e)) => {
                let why = format!("connection to container {} broke: {e}", self.name);
                let message = describe_exit(&self.docker, &self.name, &self.logs, &why).await;
                let kind = if message.contains("killed for exceeding its memory limit") {
                    ErrorKind::MemoryLimit
                } else {
                    ErrorKind::Crashed
                };
                Err(InstanceFailure {
                    kind,
                    message,
                    execution_us,
                })
            }
            Err(_) => Err(InstanceFailure::since(
                ErrorKind::Timeout,
                format!(
                    "function did not finish within its {} s timeout; container {} was removed",
                    spec.timeout.as_secs_f64(),
                    self.name
                ),
                started,
            )),
        }
    }
}

impl Drop for Container {
    /// Removes the container in the background; `DockerPlatform::shutdown` waits for every
    /// container of the session to be gone.
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (docker, name) = (self.docker.clone(), self.name.clone());
            runtime.spawn(async move { remove(&docker, &name).await });
        }
    }
}

fn container_body(spec: &ContainerSpec, generation: u64) -> ContainerCreateBody {
    let memory = i64::from(spec.memory_mb) * 1024 * 1024;
    let platform = [
        ("SEBS_PORT", "0".to_string()),
        ("TMPDIR", "/tmp".to_string()),
        ("HOME", "/tmp".to_string()),
        ("SEBS_STORAGE_ROOT", STORAGE_MOUNT.to_string()),
        ("SEBS_FUNCTION_NAME", spec.function.clone()),
        ("SEBS_MEMORY_MB", spec.memory_mb.to_string()),
        ("cold_start", generation.to_string()),
    ];
    let env = spec
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(platform.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(env),
        working_dir: Some(FUNCTION_MOUNT.into()),
        user: current_user(),
        labels: Some(HashMap::from([
            (SESSION_LABEL.to_string(), spec.session.clone()),
            (FUNCTION_LABEL.to_string(), spec.function.clone()),
        ])),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            memory: Some(memory),
            memory_swap: Some(memory),
            nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
            binds: Some(vec![
                format!("{}:{FUNCTION_MOUNT}:ro", spec.package_dir.display()),
                format!("{}:{STORAGE_MOUNT}", spec.storage_root.display()),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `uid:gid` of this process (from /proc, without unsafe code), for the container's user.
pub(crate) fn current_user() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let real = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    };
    Some(format!("{}:{}", real("Uid:")?, real("Gid:")?))
}

type Output = std::pin::Pin<
    Box<dyn Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>> + Send>,
>;

/// Reads the container's output until the wrapper's `SEBS-LISTENING <port>` line; `None` when
/// the output ends first (the container exited).
async fn wait_listening(mut output: Output, logs: LogTail) -> Option<(u16, Output)> {
    let mut pending = String::new();
    while let Some(Ok(chunk)) = output.next().await {
        pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let line = line.trim_end();
            if let Some(port) = line
                .strip_prefix("SEBS-LISTENING ")
                .and_then(|p| p.parse().ok())
            {
                return Some((port, output));
            }
            keep(&logs, line);
        }
    }
    None
}

/// Forwards the container's output to the log, keeping its last lines for error messages.
async fn drain(mut output: Output, logs: LogTail, function: String, id: u64) {
    while let Some(Ok(chunk)) = output.next().await {
        for line in String::from_utf8_lossy(&chunk.into_bytes()).lines() {
            tracing::debug!(function = %function, instance = id, "{line}");
            keep(&logs, line);
        }
    }
}

fn keep(logs: &LogTail, line: &str) {
    if let Ok(mut tail) = logs.lock() {
        if tail.len() == LOG_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    }
}

/// Explains why a container is gone: its state (exit code, OOM kill) and its last output lines.
async fn describe_exit(docker: &Docker, name: &str, logs: &LogTail, why: &str) -> String {
    // The engine may need a moment to notice the exit.
    let mut state = None;
    for _ in 0..10 {
        state = docker
            .inspect_container(name, None)
            .await
            .ok()
            .and_then(|c| c.state);
        if state.as_ref().is_some_and(|s| s.running != Some(true)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut message = why.to_string();
    if let Some(s) = state.filter(|s| s.running != Some(true)) {
        message.push_str(&format!(" (exit code {})", s.exit_code.unwrap_or(-1)));
        if s.oom_killed == Some(true) {
            message.push_str("; killed for exceeding its memory limit");
        }
    }
    let tail: Vec<String> = logs
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    if !tail.is_empty() {
        message.push_str(&format!("; output:\n{}", tail.join("\n")));
    }
    message
}

/// Removes a container, running or not; a container already gone is not an error.
pub async fn remove(docker: &Docker, name: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    if let Err(e) = docker.remove_container(name, Some(options)).await {
        let text = e.to_string();
        // Already gone, or being removed by another call (a drop racing shutdown).
        if !text.contains("No such container") && !text.contains("already in progress") {
            tracing::warn!(container = name, error = %text, "cannot remove container");
        }
    }
}
