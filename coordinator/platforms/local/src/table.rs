//! The functions a gateway platform serves (the local platform's processes, the Docker
//! platform's containers): the gateway and the idle reaper it starts, the pool of each deployed
//! function, whatever [`Sandbox`] its instances run in, and the NoSQL tables the gateway serves
//! to them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use sebs_platform::{DeployedFunction, FunctionSpec};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gateway::{self, Functions};
use crate::nosql::MemoryTables;
use crate::pool::{FunctionPool, Sandbox};

#[derive(Debug)]
pub struct FunctionTable<S: Sandbox> {
    functions: Functions<S>,
    tables: Arc<MemoryTables>,
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl<S: Sandbox> FunctionTable<S> {
    /// Binds the gateway at `address` (`field`, the config field it came from, names it in
    /// errors), and starts it and the reaper of instances idle longer than `keep_alive`.
    pub async fn start(address: &str, field: &str, keep_alive: Duration) -> Result<Self> {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("{field}: cannot bind {address}"))?;
        let address = listener.local_addr()?;
        let functions: Functions<S> = Arc::new(RwLock::new(HashMap::new()));
        let (shutdown, stop) = watch::channel(false);
        let tables = Arc::new(MemoryTables::default());
        tokio::spawn(gateway::serve(
            listener,
            functions.clone(),
            tables.clone(),
            stop.clone(),
        ));
        tokio::spawn(reap_idle(functions.clone(), keep_alive, stop));
        Ok(FunctionTable {
            functions,
            tables,
            address,
            shutdown,
        })
    }

    /// Where the gateway listens; functions reach the NoSQL tables there too
    /// (`NOSQL_STORAGE_ENDPOINT`).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The environment of an instance of `spec`: the function's own variables and where the
    /// NoSQL tables are (`NOSQL_STORAGE_ENDPOINT`).
    pub fn environment(&self, spec: &FunctionSpec) -> Vec<(String, String)> {
        spec.environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain([(
                "NOSQL_STORAGE_ENDPOINT".to_string(),
                self.address.to_string(),
            )])
            .collect()
    }

    /// The NoSQL tables of benchmarks with the `nosql` module.
    pub fn tables(&self) -> Arc<MemoryTables> {
        self.tables.clone()
    }

    /// Serves `spec` from instances started from `sandbox`, at most `max_instances` at once.
    /// Redeploying replaces the function: its old instances stop with the old pool.
    pub fn deploy(
        &self,
        spec: &FunctionSpec,
        sandbox: S::Spec,
        max_instances: u32,
    ) -> Result<DeployedFunction> {
        let pool = Arc::new(FunctionPool::new(sandbox, max_instances));
        if let Some(old) = self
            .functions
            .write()
            .map_err(|_| anyhow::anyhow!("function table poisoned"))?
            .insert(spec.name.clone(), pool)
        {
            old.shutdown();
        }
        Ok(DeployedFunction {
            name: spec.name.clone(),
            memory_mb: spec.memory_mb,
            timeout: spec.timeout,
            url: gateway::url(self.address, &spec.name),
        })
    }

    /// Retires every instance of the function: its next invocations start cold.
    pub fn enforce_cold_start(&self, name: &str) -> Result<()> {
        let functions = self
            .functions
            .read()
            .map_err(|_| anyhow::anyhow!("function table poisoned"))?;
        functions
            .get(name)
            .with_context(|| format!("function {name} is not deployed"))?
            .enforce_cold_start();
        Ok(())
    }

    /// Stops the gateway and the reaper, and every instance.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        if let Ok(functions) = self.functions.read() {
            for pool in functions.values() {
                pool.shutdown();
            }
        }
    }
}

/// Stops idle instances past the keep-alive, checking every second (or sooner for short ones).
async fn reap_idle<S: Sandbox>(
    functions: Functions<S>,
    keep_alive: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let period = keep_alive
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let pools: Vec<Arc<FunctionPool<S>>> = match functions.read() {
            Ok(f) => f.values().cloned().collect(),
            Err(_) => return,
        };
        for pool in pools {
            let evicted = pool.evict_idle(keep_alive);
            if evicted > 0 {
                tracing::debug!(function = %pool.function(), evicted, idle = pool.idle_count(), "evicted idle instances");
            }
        }
    }
}
