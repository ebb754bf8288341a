//! The instances of one function: reuse warm ones, start cold ones under load, retire them.
//!
//! As on a FaaS platform: a request takes the most recently used idle instance (warm), or
//! starts a new one (cold) when none is idle and fewer than `max_instances` exist; otherwise it
//! waits. A cold-start enforcement bumps the generation: idle instances stop at once, busy ones
//! when they finish, and new instances see a new `cold_start` variable. Instances idle longer
//! than the keep-alive are evicted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sebs_common::ErrorKind;
use tokio::sync::Semaphore;

use super::instance::{Instance, InstanceFailure, InstanceReply, InstanceSpec};

/// What the platform reports about one invocation, besides the reply.
#[derive(Debug)]
pub struct Served {
    pub instance_id: u64,
    /// µs spent starting the instance for this request (0 when warm).
    pub init_us: u64,
    pub result: Result<InstanceReply, InstanceFailure>,
}

#[derive(Debug, Default)]
struct PoolState {
    idle: Vec<Instance>,
    generation: u64,
}

#[derive(Debug)]
pub struct FunctionPool {
    pub spec: InstanceSpec,
    state: Mutex<PoolState>,
    /// One permit per instance that may be busy; with idle instances always reused first,
    /// this bounds instances (busy + idle) by `max_instances`.
    busy: Arc<Semaphore>,
    next_id: AtomicU64,
}

impl FunctionPool {
    pub fn new(spec: InstanceSpec, max_instances: u32) -> Self {
        FunctionPool {
            spec,
            state: Mutex::default(),
            busy: Arc::new(Semaphore::new(max_instances as usize)),
            next_id: AtomicU64::new(1),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
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
                match Instance::start(&self.spec, id, generation).await {
                    Ok((instance, took)) => (instance, took.as_micros() as u64),
                    Err(message) => {
                        let message = format!(
                            "instance of {} failed to start: {message}",
                            self.spec.function
                        );
                        return failed(id, 0, ErrorKind::Platform, message);
                    }
                }
            }
        };
        let result = instance.invoke(&self.spec, event, request_id).await;
        let id = instance.id;
        if result.is_ok() {
            let mut state = self.state();
            if instance.generation == state.generation {
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
        tracing::debug!(function = %self.spec.function, retired = retired.len(), "cold start enforced");
    }

    /// Stops instances idle for longer than `keep_alive`; returns how many.
    pub fn evict_idle(&self, keep_alive: Duration) -> usize {
        let now = Instant::now();
        let mut state = self.state();
        let before = state.idle.len();
        state
            .idle
            .retain(|i| now.duration_since(i.last_used) < keep_alive);
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
