//! The instances of one function: reuse warm ones, start cold ones under load, retire them.
//! Generic over the [`Sandbox`] an instance runs in (a local process, a Docker container).
//!
//! As on a FaaS platform: a request takes the most recently used idle instance (warm), or
//! starts a new one (cold) when none is idle and fewer than `max_instances` exist; otherwise it
//! waits. A cold-start enforcement bumps the generation: idle instances stop at once, busy ones
//! when they finish, and new instances see a new `cold_start` variable. Instances idle longer
//! than the keep-alive are evicted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use sebs_common::ErrorKind;
use tokio::sync::Semaphore;

/// One function instance that serves one invocation at a time: a process, a container.
#[async_trait]
pub trait Sandbox: Send + Sized + std::fmt::Debug + 'static {
    /// Everything needed to start instances of one function.
    type Spec: Send + Sync + std::fmt::Debug;

    /// The function's name, for logs and error messages.
    fn function(spec: &Self::Spec) -> &str;

    /// Starts an instance and waits until it can serve; returns it and how long the start took.
    async fn start(spec: &Self::Spec, id: u64, generation: u64)
        -> Result<(Self, Duration), String>;

    /// Serves one event. On `Err` the instance is broken (stopped, crashed or over its limits)
    /// and is discarded.
    async fn invoke(
        &mut self,
        spec: &Self::Spec,
        event: Bytes,
        request_id: &str,
    ) -> Result<InstanceReply, InstanceFailure>;

    /// Which instance this is, and since when it is idle.
    fn info(&self) -> &InstanceInfo;
}

/// What the pool knows of every instance, whatever its sandbox.
#[derive(Clone, Copy, Debug)]
pub struct InstanceInfo {
    pub id: u64,
    /// The cold-start generation the instance was started in.
    pub generation: u64,
    /// When its last invocation ended (or it started).
    pub last_used: Instant,
}

impl InstanceInfo {
    pub fn new(id: u64, generation: u64) -> Self {
        InstanceInfo {
            id,
            generation,
            last_used: Instant::now(),
        }
    }
}

/// How one invocation on an instance ended.
#[derive(Debug)]
pub struct InstanceReply {
    pub status: u16,
    pub body: Bytes,
    /// µs from sending the request to the instance to having its whole reply.
    pub execution_us: u64,
    /// Peak memory during the invocation, KiB (0 when unknown).
    pub peak_kib: u64,
}

#[derive(Debug)]
pub struct InstanceFailure {
    pub kind: ErrorKind,
    pub message: String,
    pub execution_us: u64,
}

impl InstanceFailure {
    /// A failure of an invocation that began at `started`.
    pub fn since(kind: ErrorKind, message: String, started: Instant) -> Self {
        InstanceFailure {
            kind,
            message,
            execution_us: started.elapsed().as_micros() as u64,
        }
    }
}

/// What the platform reports about one invocation, besides the reply.
#[derive(Debug)]
pub struct Served {
    pub instance_id: u64,
    /// µs spent starting the instance for this request (0 when warm).
    pub init_us: u64,
    pub result: Result<InstanceReply, InstanceFailure>,
}

#[derive(Debug)]
struct PoolState<S> {
    idle: Vec<S>,
    generation: u64,
}

#[derive(Debug)]
pub struct FunctionPool<S: Sandbox> {
    pub spec: S::Spec,
    state: Mutex<PoolState<S>>,
    /// One permit per instance that may be busy; with idle instances always reused first,
    /// this bounds instances (busy + idle) by `max_instances`.
    busy: Arc<Semaphore>,
    next_id: AtomicU64,
}

impl<S: Sandbox> FunctionPool<S> {
    pub fn new(spec: S::Spec, max_instances: u32) -> Self {
        FunctionPool {
            spec,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                generation: 0,
            }),
            busy: Arc::new(Semaphore::new(max_instances as usize)),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn function(&self) -> &str {
        S::function(&self.spec)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState<S>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves one event on a warm instance or a new one.
    pub async fn invoke(&self, event: Bytes, request_id: &str) -> Served {
        let Ok(_permit) = self.busy.acquire().await else {
            return failed(
                0,
                0,
                ErrorKind::Platform,
                "the platform is shutting down".into(),
            );
        };
        // Idle instances are always of the current generation: `enforce_cold_start` takes them
        // all, and an instance goes back to `idle` only if its generation is still current.
        let (warm, generation) = {
            let mut state = self.state();
            (state.idle.pop(), state.generation)
        };
        let (mut instance, init_us) = match warm {
            Some(instance) => (instance, 0),
            None => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                match S::start(&self.spec, id, generation).await {
                    Ok((instance, took)) => (instance, took.as_micros() as u64),
                    Err(message) => {
                        let message =
                            format!("instance of {} failed to start: {message}", self.function());
                        return failed(id, 0, ErrorKind::Platform, message);
                    }
                }
            }
        };
        let result = instance.invoke(&self.spec, event, request_id).await;
        let id = instance.info().id;
        if result.is_ok() {
            let mut state = self.state();
            if instance.info().generation == state.generation {
                state.idle.push(instance);
            }
        }
        Served {
            instance_id: id,
            init_us,
            result,
        }
    }

    /// Retires every instance: the next invocations start cold.
    pub fn enforce_cold_start(&self) {
        let retired = {
            let mut state = self.state();
            state.generation += 1;
            std::mem::take(&mut state.idle)
        };
        tracing::debug!(function = %self.function(), retired = retired.len(), "cold start enforced");
    }

    /// Stops instances idle for longer than `keep_alive`; returns how many.
    pub fn evict_idle(&self, keep_alive: Duration) -> usize {
        let now = Instant::now();
        let mut state = self.state();
        let before = state.idle.len();
        state
            .idle
            .retain(|i| now.duration_since(i.info().last_used) < keep_alive);
        before - state.idle.len()
    }

    pub fn idle_count(&self) -> usize {
        self.state().idle.len()
    }

    /// Stops every instance and refuses further invocations.
    pub fn shutdown(&self) {
        self.busy.close();
        self.state().idle.clear();
    }
}

fn failed(instance_id: u64, init_us: u64, kind: ErrorKind, message: String) -> Served {
    Served {
        instance_id,
        init_us,
        result: Err(InstanceFailure {
            kind,
            message,
            execution_us: 0,
        }),
    }
}
