//! One function instance: a python3/node process serving the wrapped function on 127.0.0.1.
//!
//! The platform holds one kept-alive HTTP/1.1 connection per instance and sends one request at
//! a time over it, as a FaaS sandbox serves one invocation at a time.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::ErrorKind;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::connection::{PostError, WrapperConnection};
use super::memory;
use super::pool::{InstanceFailure, InstanceInfo, InstanceReply, Sandbox};

/// Everything needed to start instances of one function.
#[derive(Clone, Debug)]
pub struct InstanceSpec {
    pub function: String,
    pub program: PathBuf,
    /// `server.py` or `server.js`.
    pub server: &'static str,
    pub package_dir: PathBuf,
    pub storage_root: PathBuf,
    pub runtime_dir: PathBuf,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub startup_timeout: Duration,
    pub enforce_memory_limit: bool,
    /// The function's own environment (its NoSQL tables and endpoint, for one).
    pub environment: Vec<(String, String)>,
}

/// The last lines an instance wrote to stderr, kept to explain a crash.
type StderrTail = Arc<Mutex<VecDeque<String>>>;
const STDERR_LINES: usize = 20;

#[derive(Debug)]
pub struct Instance {
    info: InstanceInfo,
    pid: u32,
    child: Child,
    connection: WrapperConnection,
    stderr: StderrTail,
    tmpdir: PathBuf,
}

#[async_trait]
impl Sandbox for Instance {
    type Spec = InstanceSpec;

    fn function(spec: &InstanceSpec) -> &str {
        &spec.function
    }

    fn info(&self) -> &InstanceInfo {
        &self.info
    }

    /// Starts the process and waits until it listens.
    async fn start(
        spec: &InstanceSpec,
        id: u64,
        generation: u64,
    ) -> Result<(Instance, Duration), String> {
        let started = Instant::now();
        let tmpdir = spec.runtime_dir.join(format!("instance-{id}"));
        std::fs::create_dir_all(&tmpdir)
            .map_err(|e| format!("cannot create {}: {e}", tmpdir.display()))?;
        let mut child = Command::new(&spec.program)
            .arg(spec.server)
            .current_dir(&spec.package_dir)
            .env("SEBS_PORT", "0")
            .env("TMPDIR", &tmpdir)
            .env("SEBS_STORAGE_ROOT", &spec.storage_root)
            .env("SEBS_FUNCTION_NAME", &spec.function)
            .env("SEBS_MEMORY_MB", spec.memory_mb.to_string())
            .env("cold_start", generation.to_string())
            .envs(spec.environment.iter().map(|(k, v)| (k, v)))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} {}: {e}",
                    spec.program.display(),
                    spec.server
                )
            })?;
        let pid = child.id().unwrap_or(0);
        let stderr: StderrTail = Arc::default();
        if let Some(err) = child.stderr.take() {
            tokio::spawn(drain(err, stderr.clone(), spec.function.clone(), id));
        }
        let mut stdout = BufReader::new(child.stdout.take().ok_or("instance has no stdout")?);

        let port = tokio::time::timeout(spec.startup_timeout, async {
            let mut line = String::new();
            loop {
                line.clear();
                if stdout
                    .read_line(&mut line)
                    .await
                    .map_err(|e| e.to_string())?
                    == 0
                {
                    return Err("exited before listening".to_string());
                }
                if let Some(port) = line.trim().strip_prefix("SEBS-LISTENING ") {
                    return port
                        .parse::<u16>()
                        .map_err(|_| format!("bad port in {line:?}"));
                }
            }
        })
        .await;
        let port = match port {
            Ok(Ok(port)) => port,
            Ok(Err(why)) => return Err(describe_exit(&mut child, &stderr, &why).await),
            Err(_) => {
                return Err(describe_exit(
                    &mut child,
                    &stderr,
                    &format!("not listening after {:?}", spec.startup_timeout),
                )
                .await)
            }
        };
        tokio::spawn(drain(
            stdout.into_inner(),
            Arc::default(),
            spec.function.clone(),
            id,
        ));

        let connection = WrapperConnection::open(port)
            .await
            .map_err(|e| format!("instance {id} listens but {e}"))?;
        let instance = Instance {
            info: InstanceInfo::new(id, generation),
            pid,
            child,
            connection,
            stderr,
            tmpdir,
        };
        Ok((instance, started.elapsed()))
    }

    async fn invoke(
        &mut self,
        spec: &InstanceSpec,
        event: Bytes,
        request_id: &str,
    ) -> Result<InstanceReply, InstanceFailure> {
        let limit_kib = u64::from(spec.memory_mb) * 1024;
        memory::reset_peak(self.pid);
        let started = Instant::now();
        let exchange = self.connection.post(event, request_id);
        let pid = self.pid;
        let watchdog = async {
            if !spec.enforce_memory_limit {
                return std::future::pending::<u64>().await;
            }
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            loop {
                tick.tick().await;
                match memory::resident_kib(pid) {
                    Some(rss) if rss > limit_kib => return rss,
                    _ => {}
                }
            }
        };
        let outcome = tokio::select! {
            r = tokio::time::timeout(spec.timeout, exchange) => r,
            rss = watchdog => {
                return Err(InstanceFailure::since(
                    ErrorKind::MemoryLimit,
                    format!("instance {} used {} MB, over its {} MB limit, and was stopped", self.info.id, rss / 1024, spec.memory_mb),
                    started,
                ));
            }
        };
        let execution_us = started.elapsed().as_micros() as u64;
        match outcome {
            Ok(Ok((status, body))) => {
                self.info.last_used = Instant::now();
                let peak_kib = memory::peak_kib(self.pid).unwrap_or(0);
                Ok(InstanceReply {
                    status,
                    body,
                    execution_us,
                    peak_kib,
                })
            }
            Ok(Err(PostError::Request(e))) => {
                Err(InstanceFailure::since(ErrorKind::Platform, e, started))
            }
            Ok(Err(e)) => {
                let why = format!("connection to instance {} broke: {e}", self.info.id);
                let message = describe_exit(&mut self.child, &self.stderr, &why).await;
                Err(InstanceFailure {
                    kind: ErrorKind::Crashed,
                    message,
                    execution_us,
                })
            }
            Err(_) => Err(InstanceFailure::since(
                ErrorKind::Timeout,
                format!(
                    "function did not finish within its {} s timeout; instance {} was stopped",
                    spec.timeout.as_secs_f64(),
                    self.info.id
                ),
                started,
            )),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.tmpdir);
    }
}

/// Explains why an instance is gone: its exit status (after a short wait) and its last stderr lines.
async fn describe_exit(child: &mut Child, stderr: &StderrTail, why: &str) -> String {
    let status = match tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
        Ok(Ok(status)) => format!(" ({status})"),
        _ => String::new(),
    };
    // Give the stderr reader a moment to catch the last lines.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let tail: Vec<String> = stderr
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    if tail.is_empty() {
        format!("{why}{status}")
    } else {
        format!("{why}{status}; stderr:\n{}", tail.join("\n"))
    }
}

/// Forwards an instance's output to the log, keeping the last lines for error messages.
async fn drain(stream: impl AsyncRead + Unpin, tail: StderrTail, function: String, id: u64) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(function = %function, instance = id, "{line}");
        if let Ok(mut t) = tail.lock() {
            if t.len() == STDERR_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}
