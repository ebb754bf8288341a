//! A timer for open-loop sends, finer than tokio's.
//!
//! tokio's timer wheel rounds every deadline up to the next whole millisecond, so a request sent
//! through `sleep_until` leaves 0–1 ms late (p99 ≈ 2 ms under load, measured by
//! `worker/benches/engine.rs`), and that lateness is charged to every open-loop latency. This timer
//! is one thread with a heap of deadlines: it waits on a condition variable with a timeout (a
//! futex on Linux, backed by a high-resolution timer) and wakes each task's waker when its time
//! has come.
//!
//! Each engine task owns one slot, so at most one deadline per slot is pending and nothing is
//! allocated per sleep once the heap has reached its capacity.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Instant;

#[derive(Debug)]
struct State {
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    wakers: Vec<Option<Waker>>,
    shutdown: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The timer thread; stopped and joined on drop.
#[derive(Debug)]
pub struct PreciseTimer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl PreciseTimer {
    /// Starts the thread for `slots` sleepers (one per engine task).
    pub fn start(slots: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                // Stale entries of abandoned sleeps can add a few more; the heap grows if needed.
                deadlines: BinaryHeap::with_capacity(slots * 2),
                wakers: vec![None; slots],
                shutdown: false,
            }),
            changed: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sebs-timer".into())
            .spawn(move || run(&thread_shared, slots))?;
        Ok(PreciseTimer {
            shared,
            thread: Some(thread),
        })
    }

    /// Completes at `due` (at once if it has passed). `slot` must be below the `slots` given
    /// to `start`, and used by one sleeper at a time.
    pub fn sleep_until(&self, slot: usize, due: Instant) -> PreciseSleep<'_> {
        PreciseSleep {
            shared: &self.shared,
            slot,
            due,
            registered: false,
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The future of [`PreciseTimer::sleep_until`].
#[derive(Debug)]
pub struct PreciseSleep<'a> {
    shared: &'a Shared,
    slot: usize,
    due: Instant,
    registered: bool,
}

impl Future for PreciseSleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.due {
            return Poll::Ready(());
        }
        let mut state = self.shared.lock();
        match state.wakers.get_mut(self.slot) {
            Some(w) => *w = Some(cx.waker().clone()),
            // A slot out of range cannot be woken: fall back to completing now.
            None => return Poll::Ready(()),
        }
        if !self.registered {
            let earliest = state
                .deadlines
                .peek()
                .is_none_or(|Reverse((d, _))| self.due < *d);
            state.deadlines.push(Reverse((self.due, self.slot)));
            drop(state);
            self.registered = true;
            if earliest {
                self.shared.changed.notify_one();
            }
        }
        Poll::Pending
    }
}

/// The thread: wait for the earliest deadline, wake whoever is due, repeat.
fn run(shared: &Shared, slots: usize) {
    let mut due_now: Vec<Waker> = Vec::with_capacity(slots);
    let mut state = shared.lock();
    loop {
        if state.shutdown {
            return;
        }
        let now = Instant::now();
        while let Some(&Reverse((due, slot))) = state.deadlines.peek() {
            if due > now {
                break;
            }
            state.deadlines.pop();
            if let Some(waker) = state.wakers.get_mut(slot).and_then(Option::take) {
                due_now.push(waker);
            }
        }
        if !due_now.is_empty() {
            // Wake outside the lock: a woken task may register its next deadline at once.
            drop(state);
            due_now.drain(..).for_each(Waker::wake);
            state = shared.lock();
            continue;
        }
        state = match state.deadlines.peek() {
            Some(&Reverse((due, _))) => {
                let wait = due.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(state, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sleepers_wake_in_order_and_never_early() {
        let timer = Arc::new(PreciseTimer::start(4).unwrap());
        let start = Instant::now();
        let mut handles = Vec::new();
        for slot in 0..4 {
            let timer = timer.clone();
            handles.push(tokio::spawn(async move {
                let mut woke = Vec::new();
                for i in 0..20u32 {
                    let due =
                        start + Duration::from_micros(u64::from(i) * 1500 + slot as u64 * 300);
                    timer.sleep_until(slot, due).await;
                    let now = Instant::now();
                    assert!(now >= due, "woke before its deadline");
                    woke.push(now.duration_since(due));
                }
                woke
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap().len(), 20);
        }
    }

    #[tokio::test]
    async fn past_deadlines_complete_at_once_and_drop_joins() {
        let timer = PreciseTimer::start(1).unwrap();
        timer.sleep_until(0, Instant::now()).await;
        timer
            .sleep_until(0, Instant::now() - Duration::from_millis(5))
            .await;
        // An abandoned sleep leaves a stale entry; the next sleep on the slot still completes.
        let abandoned = timer.sleep_until(0, Instant::now() + Duration::from_secs(60));
        let _ = tokio::time::timeout(Duration::from_millis(5), abandoned).await;
        timer
            .sleep_until(0, Instant::now() + Duration::from_millis(2))
            .await;
        drop(timer);
    }
}
