//! A timer for open-loop sends, finer than tokio's, that can send a request itself.
//!
//! tokio's timer wheel rounds every deadline up to the next whole millisecond, so a request sent
//! through `sleep_until` leaves 0–1 ms late (p99 ≈ 2 ms under load, measured by
//! `worker/benches/engine.rs`), and that lateness is charged to every open-loop latency. This timer
//! is one thread with a heap of deadlines: it waits on a condition variable with a timeout (a
//! futex on Linux, backed by a high-resolution timer) and acts on each slot whose time has come.
//!
//! A slot either sleeps ([`PreciseTimer::sleep_until`]: the thread wakes its task) or hands the
//! thread a request to write ([`PreciseTimer::send_at`]): the thread writes the request's bytes to
//! the connection's socket the moment it wakes, and then wakes the task to read the reply. A
//! woken task waits for a runtime worker to run it, and on a busy machine that wait is as long
//! as the timer's own; writing from the timer thread takes it out of the schedule lag.
//!
//! The thread asks for real-time scheduling (`SCHED_FIFO` at the lowest priority), which Linux
//! grants to root or `CAP_SYS_NICE`: a thread woken 20,000 times a second that also writes
//! requests uses enough CPU that the fair scheduler lets it wait behind busier threads, and every
//! request due in that wait leaves late. Without the privilege it runs at normal priority
//! ([`PreciseTimer::realtime`] says which). It only writes requests while it is on time; one
//! that is already [`WRITE_WITHIN`] late is left to its task, so that a timer thread that cannot
//! keep up with the rate spreads the sends over the runtime's workers instead of holding them.
//!
//! Each engine task owns one slot, so at most one deadline per slot is pending and nothing is
//! allocated per deadline once the heap has reached its capacity. A request's bytes move into
//! the slot and back; the socket is a duplicate of the connection's descriptor, owned by the
//! connection and shared with the slot, so a slot never writes to a descriptor that was closed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io::Write;
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The timer thread writes a request only if it is at most this late; a later one is handed to
/// its task to send.
pub const WRITE_WITHIN: Duration = Duration::from_micros(250);

/// A request for the timer thread to write at its deadline.
#[derive(Debug)]
pub struct Dispatch {
    /// The connection's socket (a duplicate of its descriptor; non-blocking, as the runtime's).
    pub socket: Arc<TcpStream>,
    /// The request, whole.
    pub bytes: Vec<u8>,
}

/// What became of a [`Dispatch`]: its bytes back, and when the timer thread wrote how many of
/// them (`None`: it wrote nothing, and the task sends the request itself).
#[derive(Debug)]
pub struct Dispatched {
    pub bytes: Vec<u8>,
    pub sent: Option<(Instant, usize)>,
}

#[derive(Debug)]
struct Pending {
    due: Instant,
    dispatch: Dispatch,
    /// Set by the timer thread once it has tried to write.
    sent: Option<Option<(Instant, usize)>>,
}

impl Pending {
    /// The request's bytes back, with what the thread wrote of them (nothing, if it has not).
    fn into_dispatched(self) -> Dispatched {
        Dispatched {
            bytes: self.dispatch.bytes,
            sent: self.sent.flatten(),
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    waker: Option<Waker>,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Heap {
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    shutdown: bool,
}

#[derive(Debug)]
struct Shared {
    heap: Mutex<Heap>,
    changed: Condvar,
    /// Locked by the thread while it writes a slot's request, so that a task that gives up its
    /// send (its future dropped) waits for a write in progress rather than racing it.
    slots: Vec<Mutex<Slot>>,
    write_within: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Puts `due` for `slot` on the heap and wakes the thread if it is now the earliest.
    fn register(&self, due: Instant, slot: usize) {
        let mut heap = lock(&self.heap);
        let earliest = heap.deadlines.peek().is_none_or(|Reverse((d, _))| due < *d);
        heap.deadlines.push(Reverse((due, slot)));
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
    }
}

/// The timer thread; stopped and joined on drop.
#[derive(Debug)]
pub struct PreciseTimer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    realtime: bool,
}

impl PreciseTimer {
    /// Starts the thread for `slots` sleepers (one per engine task).
    pub fn start(slots: usize) -> std::io::Result<Self> {
        Self::start_writing_within(slots, WRITE_WITHIN)
    }

    /// [`PreciseTimer::start`], writing requests at most `write_within` late.
    fn start_writing_within(slots: usize, write_within: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            heap: Mutex::new(Heap {
                // Stale entries of abandoned sleeps can add a few more; the heap grows if needed.
                deadlines: BinaryHeap::with_capacity(slots * 2),
                shutdown: false,
            }),
            changed: Condvar::new(),
            slots: (0..slots).map(|_| Mutex::default()).collect(),
            write_within,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sebs-timer".into())
            .spawn(move || run(&thread_shared, slots))?;
        let realtime = match raise_to_realtime(&thread) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "the timer thread runs at normal priority (SCHED_FIFO needs root or CAP_SYS_NICE)");
                false
            }
        };
        Ok(PreciseTimer {
            shared,
            thread: Some(thread),
            realtime,
        })
    }

    /// Whether the thread got real-time scheduling.
    pub fn realtime(&self) -> bool {
        self.realtime
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

    /// Has the thread write `dispatch` at `due`, and completes once it has tried (or at once,
    /// with nothing sent, if `due` has passed or `slot` is out of range). A write that would
    /// block or fails leaves the request unsent: the caller sends it and meets the error itself.
    pub fn send_at(&self, slot: usize, due: Instant, dispatch: Dispatch) -> PreciseSend<'_> {
        PreciseSend {
            shared: &self.shared,
            slot,
            due,
            dispatch: Some(dispatch),
            registered: false,
        }
    }
}

impl PreciseTimer {
    /// Takes back `slot`'s request: the thread will not write it. If it already has, what it
    /// wrote (the request is on its way and its reply should be read).
    pub fn withdraw(&self, slot: usize) -> Option<Dispatched> {
        let pending = lock(self.shared.slots.get(slot)?).pending.take()?;
        let dispatched = pending.into_dispatched();
        dispatched.sent.is_some().then_some(dispatched)
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        lock(&self.shared.heap).shutdown = true;
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
        match self.shared.slots.get(self.slot) {
            Some(slot) => lock(slot).waker = Some(cx.waker().clone()),
            // A slot out of range cannot be woken: fall back to completing now.
            None => return Poll::Ready(()),
        }
        if !self.registered {
            self.registered = true;
            self.shared.register(self.due, self.slot);
        }
        Poll::Pending
    }
}

/// The future of [`PreciseTimer::send_at`].
#[derive(Debug)]
pub struct PreciseSend<'a> {
    shared: &'a Shared,
    slot: usize,
    due: Instant,
    /// The request until it is handed to the slot at the first poll.
    dispatch: Option<Dispatch>,
    registered: bool,
}

impl Future for PreciseSend<'_> {
    type Output = Dispatched;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Dispatched> {
        let this = &mut *self;
        let unsent = |dispatch: Dispatch| {
            Poll::Ready(Dispatched {
                bytes: dispatch.bytes,
                sent: None,
            })
        };
        let Some(slot) = this.shared.slots.get(this.slot) else {
            return match this.dispatch.take() {
                Some(dispatch) => unsent(dispatch),
                None => Poll::Pending,
            };
        };
        let mut state = lock(slot);
        if let Some(dispatch) = this.dispatch.take() {
            if Instant::now() >= this.due {
                return unsent(dispatch);
            }
            state.pending = Some(Pending {
                due: this.due,
                dispatch,
                sent: None,
            });
        }
        // Done once the thread has tried; or if woken late (or early by a stale deadline and now
        // past it) before the thread got to it, with nothing written: the task sends it.
        let done = match &state.pending {
            Some(p) => p.sent.is_some() || Instant::now() >= this.due,
            None => return Poll::Pending,
        };
        if done {
            if let Some(p) = state.pending.take() {
                return Poll::Ready(p.into_dispatched());
            }
        }
        state.waker = Some(cx.waker().clone());
        drop(state);
        if !this.registered {
            this.registered = true;
            this.shared.register(this.due, this.slot);
        }
        Poll::Pending
    }
}

impl Drop for PreciseSend<'_> {
    fn drop(&mut self) {
        // Waits for a write in progress; the request's bytes and socket go with the slot's hold.
        if let Some(slot) = self.shared.slots.get(self.slot) {
            let mut state = lock(slot);
            state.pending = None;
            state.waker = None;
        }
    }
}

/// Puts `thread` in `SCHED_FIFO` at the lowest real-time priority: above every ordinary thread,
/// below any real-time thread the machine already has. Linux refuses it (`EPERM`) without root
/// or `CAP_SYS_NICE`.
pub fn raise_to_realtime<T>(thread: &JoinHandle<T>) -> std::io::Result<()> {
    use std::os::unix::thread::JoinHandleExt;
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: the handle is of a thread that has not been joined (it is joined on drop), so its
    // pthread id is valid, and `param` lives across the call.
    #[allow(unsafe_code)]
    let rc =
        unsafe { libc::pthread_setschedparam(thread.as_pthread_t(), libc::SCHED_FIFO, &param) };
    match rc {
        0 => Ok(()),
        errno => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// The thread: wait for the earliest deadline, act on each slot that is due, repeat.
fn run(shared: &Shared, slots: usize) {
    let mut due_now: Vec<usize> = Vec::with_capacity(slots);
    let mut heap = lock(&shared.heap);
    loop {
        if heap.shutdown {
            return;
        }
        let now = Instant::now();
        while let Some(&Reverse((due, slot))) = heap.deadlines.peek() {
            if due > now {
                break;
            }
            heap.deadlines.pop();
            due_now.push(slot);
        }
        if !due_now.is_empty() {
            // Act outside the heap's lock: a woken task may register its next deadline at once.
            drop(heap);
            for slot in due_now.drain(..) {
                if let Some(waker) = fire(&shared.slots[slot], shared.write_within) {
                    waker.wake();
                }
            }
            heap = lock(&shared.heap);
            continue;
        }
        heap = match heap.deadlines.peek() {
            Some(&Reverse((due, _))) => {
                let wait = due.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(heap, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared.changed.wait(heap).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// A slot's deadline has come: write its request, if it has one that is due and it is still on
/// time, and return the waker to wake. A stale deadline (the slot has since waited for a later
/// one) wakes nobody.
fn fire(slot: &Mutex<Slot>, write_within: Duration) -> Option<Waker> {
    let mut state = lock(slot);
    match state.pending.as_mut() {
        None => state.waker.take(),
        Some(p) if p.sent.is_some() => None,
        Some(p) => {
            let at = Instant::now();
            if p.due > at {
                return None;
            }
            p.sent = Some(None);
            if at.saturating_duration_since(p.due) <= write_within {
                if let Ok(n @ 1..) = (&*p.dispatch.socket).write(&p.dispatch.bytes) {
                    p.sent = Some(Some((at, n)));
                }
            }
            state.waker.take()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A connected pair on 127.0.0.1: the client side shared as a [`Dispatch`]'s socket
    /// (non-blocking, as the runtime's), the server side to read what was written.
    fn socket_pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        let (server, _) = listener.accept().unwrap();
        (Arc::new(client), server)
    }

    /// A timer of one slot that writes every request however late, and a connected pair.
    fn one_slot() -> (PreciseTimer, Arc<TcpStream>, TcpStream) {
        let timer = PreciseTimer::start_writing_within(1, Duration::from_secs(60)).unwrap();
        let (socket, server) = socket_pair();
        (timer, socket, server)
    }

    fn dispatch(socket: &Arc<TcpStream>, bytes: &[u8]) -> Dispatch {
        Dispatch {
            socket: socket.clone(),
            bytes: bytes.to_vec(),
        }
    }

    fn read_exactly(server: &mut TcpStream, n: usize) -> Vec<u8> {
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = vec![0; n];
        std::io::Read::read_exact(server, &mut got).unwrap();
        got
    }

    /// Nothing arrives at `server` (within a short wait).
    fn nothing_arrives(server: &TcpStream) {
        server
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut byte = [0u8; 1];
        let read = std::io::Read::read(&mut &*server, &mut byte);
        assert!(
            matches!(
                &read,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            ),
            "nothing was to be written, got {read:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_leave_at_their_deadlines_and_their_bytes_come_back() {
        // However late a loaded machine wakes the thread, it writes every request here.
        let timer =
            Arc::new(PreciseTimer::start_writing_within(3, Duration::from_secs(60)).unwrap());
        let mut handles = Vec::new();
        let mut servers = Vec::new();
        for slot in 0..3 {
            let (socket, server) = socket_pair();
            servers.push(server);
            let timer = timer.clone();
            handles.push(tokio::spawn(async move {
                let (mut sent, mut by_timer) = (Vec::new(), 0);
                for i in 0..10u64 {
                    let due = Instant::now() + Duration::from_micros(5_000 + slot * 400);
                    let bytes = format!("slot {slot} request {i};").into_bytes();
                    let done = timer
                        .send_at(slot as usize, due, dispatch(&socket, &bytes))
                        .await;
                    assert_eq!(done.bytes, bytes, "the request's bytes come back");
                    match done.sent {
                        Some((at, written)) => {
                            assert!(at >= due, "written before its deadline");
                            assert_eq!(written, bytes.len());
                            by_timer += 1;
                        }
                        // Only if this task first ran after the deadline: it sends it itself.
                        None => {
                            assert!(Instant::now() >= due, "handed back before its deadline");
                            (&*socket).write_all(&bytes).unwrap();
                        }
                    }
                    sent.push(bytes);
                }
                assert!(by_timer > 0, "the timer thread wrote none of 10 requests");
                sent
            }));
        }
        for (handle, server) in handles.into_iter().zip(&mut servers) {
            let sent = handle.await.unwrap().concat();
            assert_eq!(read_exactly(server, sent.len()), sent);
        }
    }

    #[tokio::test]
    async fn a_send_past_its_deadline_or_given_up_writes_nothing() {
        let (timer, socket, mut server) = one_slot();
        let past = timer
            .send_at(
                0,
                Instant::now() - Duration::from_millis(1),
                dispatch(&socket, b"late"),
            )
            .await;
        assert_eq!((past.bytes.as_slice(), past.sent), (&b"late"[..], None));
        // Given up before its deadline: the slot lets go of the request and its socket.
        let due = Instant::now() + Duration::from_millis(200);
        let given_up = timer.send_at(0, due, dispatch(&socket, b"never"));
        let _ = tokio::time::timeout(Duration::from_millis(5), given_up).await;
        tokio::time::sleep_until((due + Duration::from_millis(20)).into()).await;
        nothing_arrives(&server);
        assert_eq!(Arc::strong_count(&socket), 1, "the slot kept the socket");
        // The slot serves the next request.
        let due = Instant::now() + Duration::from_millis(50);
        let done = timer.send_at(0, due, dispatch(&socket, b"next")).await;
        assert_eq!(done.sent.map(|(_, n)| n), Some(4));
        assert_eq!(read_exactly(&mut server, 4), b"next");
    }

    /// What a stopping task does: a request not yet written is withdrawn and never written; one
    /// already written is handed back, so that its reply is read and recorded.
    #[tokio::test]
    async fn withdrawing_a_request_returns_it_only_if_it_was_written() {
        let (timer, socket, mut server) = one_slot();
        let due = Instant::now() + Duration::from_millis(200);
        let mut unwritten = Box::pin(timer.send_at(0, due, dispatch(&socket, b"withdrawn")));
        let _ = tokio::time::timeout(Duration::from_millis(1), &mut unwritten).await;
        assert!(timer.withdraw(0).is_none());
        tokio::time::sleep_until((due + Duration::from_millis(20)).into()).await;
        nothing_arrives(&server);
        drop(unwritten);

        let due = Instant::now() + Duration::from_millis(20);
        let mut written = Box::pin(timer.send_at(0, due, dispatch(&socket, b"written")));
        let _ = tokio::time::timeout(Duration::from_micros(100), &mut written).await;
        // Not polled again: the thread writes it at its deadline all the same.
        tokio::time::sleep_until((due + Duration::from_millis(30)).into()).await;
        let back = timer.withdraw(0).expect("the request was written");
        assert_eq!(
            (back.bytes.as_slice(), back.sent.map(|(_, n)| n)),
            (&b"written"[..], Some(7))
        );
        drop(written);
        assert_eq!(read_exactly(&mut server, 7), b"written");
        assert_eq!(Arc::strong_count(&socket), 1);
    }

    #[test]
    fn a_request_already_late_is_left_to_its_task() {
        let (socket, server) = socket_pair();
        let slot = Mutex::new(Slot {
            waker: Some(Waker::noop().clone()),
            pending: Some(Pending {
                due: Instant::now() - WRITE_WITHIN * 4,
                dispatch: Dispatch {
                    socket,
                    bytes: b"late".to_vec(),
                },
                sent: None,
            }),
        });
        assert!(
            fire(&slot, WRITE_WITHIN).is_some(),
            "the task is woken to send it"
        );
        let state = lock(&slot);
        assert_eq!(state.pending.as_ref().unwrap().sent, Some(None));
        nothing_arrives(&server);
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
