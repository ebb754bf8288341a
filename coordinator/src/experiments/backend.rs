//! What experiments need from a deployment, and nothing more: the seam between the experiments
//! and whatever runs them.
//!
//! [`super::in_process::InProcess`] implements it with this process's machinery (the platform,
//! the closed loop, the invocation engine); [`super::fleet_backend::FleetBackend`] with a
//! coordinator, which holds the platform in an experiment session, and its workers in several
//! regions, which invoke. Every method takes or returns data that can cross a process boundary
//! (a [`TriggerSpec`] names the function, results are `ExecutionResult`s, open-loop runs leave
//! their files in a folder), so the experiments are the same code either way.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Result;
use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::config::Deployment;
use sebs_common::ExecutionResult;
use sebs_platform::TriggerSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::load::{OpenLoopPlan, StatusFn};

/// A region's name (`local` on the local platform).
pub type Region = String;

/// The regions a backend can send invocations from and deploy functions to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regions {
    pub workers: Vec<Region>,
    pub deployments: Vec<Region>,
}

/// A benchmark ready to deploy: its package built and its input in storage. Through a fleet
/// it travels back to the coordinator that made it (`package_dir` is a path there).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Prepared {
    pub benchmark: String,
    pub size: String,
    /// The event `input.py` made.
    pub event: Value,
    pub package_dir: PathBuf,
    pub package_hash: String,
    /// The benchmark's own memory and timeout (config.json).
    pub memory_mb: u32,
    pub timeout_s: u32,
    /// The function name the benchmark deploys under; copies add a suffix.
    pub function_name: String,
    /// Environment variables the function needs (its NoSQL tables).
    pub environment: BTreeMap<String, String>,
}

/// One function to create or update.
#[derive(Clone, Debug, Default)]
pub struct DeployRequest {
    /// Appended to the benchmark's function name, for copies (`-120-0`).
    pub suffix: String,
    /// MB [the benchmark's].
    pub memory_mb: Option<u32>,
    pub region: Option<Region>,
    /// A file added to the code package, e.g. random bytes that make the package larger.
    pub extra_file: Option<(String, Vec<u8>)>,
}

/// A deployed function, as data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FunctionHandle {
    pub name: String,
    pub memory_mb: u32,
    pub region: Region,
    pub trigger: TriggerSpec,
}

/// A client-side service functions talk to (SeBS's 020/030/040 reach back to the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// Echoes every UDP datagram back to its sender and logs when it received and answered it;
    /// a datagram `stop` ends the exchange with that sender (030's clock synchronization).
    UdpEcho,
    /// Accepts TCP connections `barrier` at a time; once that many are open it sends each
    /// `accepted` and closes it (040's server reply; the barrier makes invocations overlap).
    /// `port` 0 lets the system pick one.
    TcpReply { barrier: usize, port: u16 },
}

/// What a client-side service saw: one row per message, in arrival order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceLog {
    pub rows: Vec<ServiceRow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRow {
    /// Who sent it.
    pub peer: SocketAddr,
    /// The message (the request id for 020/030's datagrams).
    pub message: String,
    /// Epoch seconds when it arrived and when the answer left (by this host's clock).
    pub received: f64,
    pub sent: f64,
}

/// A running client-side service; [`ClientService::finish`] stops it and returns its log.
#[derive(Debug)]
pub struct ClientService {
    /// Where functions reach it.
    pub address: SocketAddr,
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) task: JoinHandle<Result<ServiceLog>>,
}

impl ClientService {
    pub async fn finish(self) -> Result<ServiceLog> {
        let _ = self.stop.send(());
        self.task.await?
    }
}

impl ClientService {
    /// The address to give functions: `given` (the experiment's `client-address`), else the
    /// one the service listens on, unless that is unspecified (functions elsewhere need to be
    /// told this machine's address); `field` names the setting in the error.
    pub fn reachable_at(&self, given: Option<IpAddr>, field: &str) -> Result<IpAddr> {
        match given {
            Some(ip) => Ok(ip),
            None if self.address.ip().is_unspecified() => anyhow::bail!(
                "{field}: the functions run elsewhere and cannot reach this machine's loopback; \
                 give the address they can reach it at"
            ),
            None => Ok(self.address.ip()),
        }
    }
}

/// Reads an experiment's `client-address` setting.
pub fn parse_client_address(value: &Option<String>, field: &str) -> Result<Option<IpAddr>> {
    value
        .as_deref()
        .map(|a| {
            a.parse()
                .map_err(|_| anyhow::anyhow!("{field}: `{a}` is not an IP address"))
        })
        .transpose()
}

/// Called with each invocation's result as soon as it arrives.
pub type OnResult<'a> = &'a mut (dyn FnMut(ExecutionResult) -> Result<()> + Send);

#[async_trait]
pub trait ExperimentBackend: Send + Sync {
    fn deployment(&self) -> Deployment;

    fn regions(&self) -> Regions;

    /// The address client-side services listen on: one functions can reach (loopback for the
    /// local platform), or the unspecified address when they run elsewhere and the experiment
    /// must be told the address they reach this machine at (`client-address`).
    fn client_address(&self) -> IpAddr;

    /// Builds (or reuses) the package of the benchmark the backend was opened for, and puts its
    /// input of `size` in storage.
    async fn prepare(&self, size: &str) -> Result<Prepared>;

    /// Creates or updates one function of a prepared benchmark.
    async fn deploy(&self, prepared: &Prepared, request: &DeployRequest) -> Result<FunctionHandle>;

    /// Retires the function's warm instances: its next invocations start cold.
    async fn enforce_cold_start(&self, function: &FunctionHandle) -> Result<()>;

    /// Sends `n` invocations with `payload` at once from worker region `from`, and hands each
    /// result to `on_result` as it arrives. Returns when all have replied.
    async fn invoke_batch(
        &self,
        function: &FunctionHandle,
        payload: Bytes,
        n: u32,
        from: &Region,
        on_result: OnResult<'_>,
    ) -> Result<()>;

    /// Runs an open-loop load against the function; its files (records.csv, latency.hlog, the
    /// .hgrm percentiles, summary.json) go to `out_dir`. Returns summary.json's contents.
    async fn open_loop(
        &self,
        function: &FunctionHandle,
        plan: &OpenLoopPlan,
        payload: Bytes,
        out_dir: &Path,
        metadata: Value,
        status: Option<StatusFn>,
    ) -> Result<Value>;

    /// Starts a client-side service where the invocations are sent from.
    async fn start_service(&self, kind: ServiceKind) -> Result<ClientService>;

    /// Copies the objects functions wrote under `prefix` of `bucket` into `into`; returns the
    /// files written.
    async fn fetch_outputs(&self, bucket: &str, prefix: &str, into: &Path) -> Result<Vec<PathBuf>>;

    /// The bucket benchmarks read and write (events name prefixes inside it).
    fn benchmarks_bucket(&self) -> String;

    /// Whether the user asked to stop (Ctrl-C): experiments finish the step at hand and write
    /// what they have.
    fn stop_requested(&self) -> bool;

    /// Whether any invocation so far succeeded (the command fails when none did).
    fn any_succeeded(&self) -> bool;

    /// What describes this deployment in the environment manifest: platform, language and the
    /// runtime's version, settings.
    fn describe(&self) -> Value;

    async fn shutdown(&self);
}
