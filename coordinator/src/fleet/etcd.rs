//! The fleet's etcd: endpoints from `--etcd`, the connection, the key layout, and leases held
//! alive by the process that owns them (a worker its membership, the coordinator its office).
//!
//! Keys, all under `sebs/`:
//! - `sebs/members/<worker>`: a worker's registration (JSON: region, capacity, deployments,
//!   version), written by **the worker itself** under its own lease, so that it disappears when
//!   the worker dies or is cut off from etcd, whatever the coordinator sees;
//! - `sebs/coordinator`: who coordinates (`<host>-<pid>`), under the coordinator's lease: one
//!   coordinator per etcd prefix at a time;
//! - `sebs/run/<run>`, `sebs/shards/<run>/<shard>`, `sebs/batches/<run>/<index>`: runs, their
//!   shards and accepted results (`state_etcd.rs`).
//!
//! Only this file, `membership_etcd.rs` and `state_etcd.rs` name etcd.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, PutOptions, TlsOptions, Txn, TxnOp};
use tokio::sync::watch;

/// How long a lease lives without a keep-alive: how soon a dead worker (or coordinator) is
/// noticed. Keep-alives go out three times per TTL.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

pub const MEMBERS: &str = "sebs/members/";
pub const COORDINATOR: &str = "sebs/coordinator";

pub fn member_key(worker: &sebs_proto::WorkerId) -> String {
    format!("{MEMBERS}{worker}")
}

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("--etcd `{0}`: expected URL[,URL...] with http://HOST:PORT or https://HOST:PORT")]
    Syntax(String),
    #[error("--etcd {0}: plain http:// only to a loopback address (127.0.0.1, ::1, localhost); use https:// elsewhere")]
    PlainText(String),
    #[error("--etcd-ca {path}: {source}")]
    Ca {
        path: String,
        source: std::io::Error,
    },
    #[error("etcd at {endpoints}: {source}")]
    Client {
        endpoints: String,
        source: etcd_client::Error,
    },
}

/// Where etcd is: endpoints of one cluster, and the CA its TLS certificates are checked with.
#[derive(Clone, Debug)]
pub struct EtcdEndpoints {
    urls: Vec<String>,
    ca_pem: Option<Vec<u8>>,
}

impl EtcdEndpoints {
    /// `URL[,URL...]`, each `http://` (loopback only: nothing crosses a network in plain text)
    /// or `https://` (checked against `ca`, else the system's roots).
    pub fn parse(text: &str, ca: Option<&std::path::Path>) -> Result<Self, EtcdError> {
        let urls: Vec<String> = text
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .collect();
        for url in &urls {
            let (scheme, rest) = url
                .split_once("://")
                .ok_or_else(|| EtcdError::Syntax(text.to_string()))?;
            let host = host_of(rest).ok_or_else(|| EtcdError::Syntax(text.to_string()))?;
            match scheme {
                "https" => {}
                "http" if is_loopback(host) => {}
                "http" => return Err(EtcdError::PlainText(url.clone())),
                _ => return Err(EtcdError::Syntax(text.to_string())),
            }
        }
        let ca_pem = ca
            .map(|path| {
                std::fs::read(path).map_err(|source| EtcdError::Ca {
                    path: path.display().to_string(),
                    source,
                })
            })
            .transpose()?;
        Ok(EtcdEndpoints { urls, ca_pem })
    }

    fn shown(&self) -> String {
        self.urls.join(",")
    }

    /// A client, once etcd has answered (so a wrong URL fails here, named).
    pub async fn connect(&self) -> Result<Client, EtcdError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(10))
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
        if self.urls.iter().any(|u| u.starts_with("https://")) {
            let tls = match &self.ca_pem {
                Some(pem) => {
                    TlsOptions::new().ca_certificate(etcd_client::Certificate::from_pem(pem))
                }
                None => TlsOptions::new().with_native_roots(),
            };
            options = options.with_tls(tls);
        }
        let error = |source| EtcdError::Client {
            endpoints: self.shown(),
            source,
        };
        let mut client = Client::connect(&self.urls, Some(options))
            .await
            .map_err(error)?;
        client.status().await.map_err(error)?;
        Ok(client)
    }
}

/// The host of `host:port[/...]`, without brackets.
fn host_of(rest: &str) -> Option<&str> {
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A key held under a lease this process keeps alive. When the lease is lost (etcd unreachable
/// for a TTL, or the lease revoked), the key is written again under a new lease as soon as etcd
/// answers; `lease()` says which lease holds it now (0: none).
pub struct LeasedKey {
    lease: watch::Receiver<i64>,
    task: tokio::task::JoinHandle<()>,
    client: Client,
}

impl std::fmt::Debug for LeasedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasedKey")
            .field("lease", &*self.lease.borrow())
            .finish_non_exhaustive()
    }
}

impl LeasedKey {
    /// Writes `key` = `value` under a lease of `ttl` and keeps it there; returns at once.
    pub fn hold(client: Client, key: String, value: Vec<u8>, ttl: Duration) -> Self {
        Self::start(client, key, value, ttl, None)
    }

    /// Keeps `lease`, which already holds the key, alive; once it is lost, the key is not
    /// written again (`lease()` stays 0).
    fn keep_only(client: Client, key: String, lease: i64) -> Self {
        Self::start(client, key, Vec::new(), LEASE_TTL, Some(lease))
    }

    fn start(
        client: Client,
        key: String,
        value: Vec<u8>,
        ttl: Duration,
        existing: Option<i64>,
    ) -> Self {
        let (tx, lease) = watch::channel(existing.unwrap_or(0));
        let task = tokio::spawn(hold(
            client.clone(),
            key,
            value,
            ttl,
            existing,
            Arc::new(tx),
        ));
        LeasedKey {
            lease,
            task,
            client,
        }
    }

    /// Waits until the key is written.
    pub async fn held(&mut self) -> i64 {
        match self.lease.wait_for(|l| *l != 0).await {
            Ok(l) => *l,
            Err(_) => 0,
        }
    }

    /// Changes of the lease that holds the key (0 while none does).
    pub fn watch(&self) -> watch::Receiver<i64> {
        self.lease.clone()
    }

    /// Stops keeping the key and revokes its lease, which deletes it.
    pub async fn release(self) {
        self.task.abort();
        let lease = *self.lease.borrow();
        if lease != 0 {
            let mut client = self.client.clone();
            if let Err(e) = client.lease_revoke(lease).await {
                tracing::warn!(error = %e, "cannot revoke the lease in etcd; it expires on its own");
            }
        }
    }
}

impl Drop for LeasedKey {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes the key under a fresh lease and keeps that alive, again and again; or keeps the
/// `existing` lease alive until it is lost, and stops.
async fn hold(
    mut client: Client,
    key: String,
    value: Vec<u8>,
    ttl: Duration,
    existing: Option<i64>,
    lease: Arc<watch::Sender<i64>>,
) {
    if let Some(id) = existing {
        if let Err(e) = keep_alive(&mut client, id, ttl).await {
            tracing::warn!(%key, error = %e, "lost etcd");
        }
        tracing::warn!(%key, "the lease in etcd ended");
        let _ = lease.send(0);
        return;
    }
    let mut backoff = Duration::from_millis(200);
    loop {
        match keep(&mut client, &key, &value, ttl, &lease).await {
            Ok(()) => tracing::warn!(%key, "the lease in etcd ended; writing the key again"),
            Err(e) => {
                tracing::warn!(%key, error = %e, "lost etcd; writing the key again in {backoff:?}")
            }
        }
        let _ = lease.send(0);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(ttl);
    }
}

/// One lease: granted, the key put under it, kept alive until it ends (`Ok`) or etcd fails.
async fn keep(
    client: &mut Client,
    key: &str,
    value: &[u8],
    ttl: Duration,
    lease: &watch::Sender<i64>,
) -> Result<(), etcd_client::Error> {
    let granted = client.lease_grant(ttl.as_secs() as i64, None).await?;
    let id = granted.id();
    client
        .put(key, value, Some(PutOptions::new().with_lease(id)))
        .await?;
    let _ = lease.send(id);
    tracing::info!(%key, lease = id, "holding the key in etcd");
    keep_alive(client, id, ttl).await
}

/// Keeps lease `id` alive until it ends (`Ok`) or etcd fails.
async fn keep_alive(client: &mut Client, id: i64, ttl: Duration) -> Result<(), etcd_client::Error> {
    let (mut keeper, mut replies) = client.lease_keep_alive(id).await?;
    loop {
        tokio::time::sleep(ttl / 3).await;
        keeper.keep_alive().await?;
        // No answer within a TTL: the lease may have expired in etcd meanwhile.
        match tokio::time::timeout(ttl, replies.message()).await {
            Ok(Ok(Some(reply))) if reply.ttl() > 0 => {}
            Ok(Err(e)) => return Err(e),
            _ => return Ok(()),
        }
    }
}

/// Takes the coordinator's office (`sebs/coordinator`) for `who`, waiting while another
/// coordinator holds it (one that was killed holds it until its lease expires). Returns the
/// lease's watch: it turns 0 when the office is lost.
pub async fn take_office(client: &Client, who: &str) -> Result<LeasedKey, EtcdError> {
    let mut told = false;
    let mut c = client.clone();
    loop {
        let error = |source| EtcdError::Client {
            endpoints: "the coordinator's".into(),
            source,
        };
        let granted = c
            .lease_grant(LEASE_TTL.as_secs() as i64, None)
            .await
            .map_err(error)?;
        let txn = Txn::new()
            .when([Compare::create_revision(COORDINATOR, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                COORDINATOR,
                who,
                Some(PutOptions::new().with_lease(granted.id())),
            )]);
        if c.txn(txn).await.map_err(error)?.succeeded() {
            tracing::info!(
                lease = granted.id(),
                "coordinating: holding {COORDINATOR} in etcd"
            );
            return Ok(LeasedKey::keep_only(
                client.clone(),
                COORDINATOR.to_string(),
                granted.id(),
            ));
        }
        let _ = c.lease_revoke(granted.id()).await;
        if !told {
            let holder = c
                .get(COORDINATOR, None)
                .await
                .ok()
                .and_then(|r| {
                    r.kvs()
                        .first()
                        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
                })
                .unwrap_or_default();
            tracing::warn!(%holder, "another coordinator holds {COORDINATOR} in etcd; waiting until its lease expires");
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked() {
        assert!(EtcdEndpoints::parse("http://127.0.0.1:2379", None).is_ok());
        assert!(EtcdEndpoints::parse("http://localhost:2379,http://[::1]:2379", None).is_ok());
        assert!(EtcdEndpoints::parse("https://etcd.example:2379", None).is_ok());
        assert!(matches!(
            EtcdEndpoints::parse("http://etcd.example:2379", None),
            Err(EtcdError::PlainText(_))
        ));
        assert!(matches!(
            EtcdEndpoints::parse("etcd:2379", None),
            Err(EtcdError::Syntax(_))
        ));
        assert!(matches!(
            EtcdEndpoints::parse("ftp://127.0.0.1:2379", None),
            Err(EtcdError::Syntax(_))
        ));
    }
}
