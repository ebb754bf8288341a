//! Command-line options of the fleet: `sebs coordinator`, `sebs worker`, and the options
//! `benchmark invoke` takes to run through a coordinator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use sebs_proto::grpc::{ClientSecurity, CoordinatorAddress, KeyPair, ServerSecurity, Token};
use sebs_proto::job::Placement;

/// How a worker or client proves who it is and checks the coordinator.
#[derive(Debug, Args, Default)]
pub struct ClientSecurityArgs {
    /// CA certificate (PEM) that signed the coordinator's certificate [default: the system's].
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// A client certificate (PEM), for a coordinator that requires one (--client-ca).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// File holding the fleet's shared token [default: $SEBS_FLEET_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Allow an http:// coordinator URL: plain text, to a loopback address only.
    #[arg(long)]
    pub plaintext: bool,
}

impl ClientSecurityArgs {
    pub fn address(&self, url: &str) -> Result<CoordinatorAddress> {
        let security = ClientSecurity {
            ca_pem: self.ca.as_deref().map(read).transpose()?,
            identity: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(KeyPair::read(cert, key)?),
                _ => None,
            },
            token: Token::from_file_or_env(self.token_file.as_deref())?,
            plaintext: self.plaintext,
        };
        Ok(CoordinatorAddress::new(url, security)?)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `benchmark invoke` through a fleet.
#[derive(Debug, Args, Default)]
pub struct InvokeFleetArgs {
    /// Run through the coordinator at this URL (https://HOST:PORT) instead of in this process:
    /// it deploys the function, its workers invoke it.
    #[arg(long, value_name = "URL")]
    pub coordinator: Option<String>,
    /// Which regions invoke, with weights: `us-east-1=2,eu-west-1` [default: every worker, by
    /// capacity].
    #[arg(long, value_name = "REGION[=WEIGHT],...", requires = "coordinator", value_parser = parse_placement)]
    pub regions: Option<Placement>,
    #[command(flatten)]
    pub security: ClientSecurityArgs,
}

fn parse_placement(s: &str) -> Result<Placement, String> {
    Placement::parse(s).map_err(|e| e.to_string())
}

/// `sebs coordinator`.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// Address to listen on; port 0 picks a free one (the bound address is printed).
    #[arg(long, value_name = "ADDR", env = "SEBS_LISTEN")]
    pub listen: SocketAddr,
    /// The server's certificate (PEM); without it the coordinator speaks plain text, which is
    /// allowed only with --plaintext on a loopback address.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The server certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// File holding the shared token workers and clients must present [default:
    /// $SEBS_FLEET_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Serve plain text (no TLS): only on a loopback address.
    #[arg(long, conflicts_with = "tls_cert")]
    pub plaintext: bool,
    /// Folder of cached packages, tools and local storage.
    #[arg(long, default_value = "cache")]
    pub cache: PathBuf,
    /// Keep a copy of every run's result files in DIR/<run id>/.
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// Seconds a worker whose stream broke keeps its shards, waiting for it to attach again,
    /// before they go to other workers (0: at once).
    #[arg(long, value_name = "SECONDS", default_value_t = 15.0, value_parser = parse_seconds)]
    pub reassign_after: f64,
    #[command(flatten)]
    pub observe: ObserveArgs,
    /// At SIGTERM, how long runs going on may take to finish before they are cancelled (their
    /// results so far are kept), in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "SEBS_DRAIN_TIMEOUT",
        default_value_t = 20
    )]
    pub drain_timeout: u64,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("expected seconds from 0 to 86400, got {s:?}")),
    }
}

impl CoordinatorArgs {
    pub fn security(&self) -> Result<ServerSecurity> {
        if !self.plaintext && self.tls_cert.is_none() {
            anyhow::bail!("give --tls-cert and --tls-key, or --plaintext to serve plain text on a loopback address");
        }
        Ok(ServerSecurity {
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(KeyPair::read(cert, key)?),
                _ => None,
            },
            client_ca_pem: self.client_ca.as_deref().map(read).transpose()?,
            token: Token::from_file_or_env(self.token_file.as_deref())?,
        })
    }
}

/// `sebs worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The coordinator's URL, https://HOST:PORT.
    #[arg(long, value_name = "URL", env = "SEBS_COORDINATOR")]
    pub coordinator: String,
    /// The region this worker invokes from (a label: us-east-1, eu, lab-2).
    #[arg(long, env = "SEBS_REGION")]
    pub region: String,
    /// The worker's name, unique in the fleet [default: <host>-<pid>].
    #[arg(long, env = "SEBS_WORKER_NAME")]
    pub name: Option<String>,
    /// The most invocations it runs at once.
    #[arg(long, default_value_t = 256)]
    pub capacity: u32,
    /// Folder for the spill file of reports it cannot deliver while the coordinator is out of
    /// reach [default: $TMPDIR/sebs-spool].
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// MiB of undelivered reports kept in memory before they spill to disk.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub spool_memory: u32,
    #[command(flatten)]
    pub security: ClientSecurityArgs,
    #[command(flatten)]
    pub observe: ObserveArgs,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// Where the fleet's etcd is: membership through leases and run state that survives the
/// coordinator. Without it, both live in the coordinator's memory.
#[derive(Debug, Args, Default)]
pub struct EtcdArgs {
    /// etcd endpoints of one cluster: http://HOST:PORT (loopback only) or https://HOST:PORT.
    #[arg(long, value_name = "URL[,URL...]", env = "SEBS_ETCD")]
    pub etcd: Option<String>,
    /// CA certificate (PEM) of etcd's https:// endpoints [default: the system's].
    #[arg(long, value_name = "FILE", env = "SEBS_ETCD_CA", requires = "etcd")]
    pub etcd_ca: Option<PathBuf>,
}

impl EtcdArgs {
    /// The endpoints, checked; `None` without `--etcd`.
    pub fn endpoints(&self) -> Result<Option<super::etcd::EtcdEndpoints>> {
        self.etcd
            .as_deref()
            .map(|text| super::etcd::EtcdEndpoints::parse(text, self.etcd_ca.as_deref()))
            .transpose()
            .map_err(anyhow::Error::from)
    }
}

/// Observability of `sebs coordinator` and `sebs worker`.
#[derive(Debug, Args, Default)]
pub struct ObserveArgs {
    /// Serve GET /metrics (Prometheus), /healthz and /readyz on this address (plain HTTP; port
    /// 0 picks a free one, printed) [default: off].
    #[arg(long, value_name = "ADDR", env = "SEBS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}
