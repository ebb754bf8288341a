//! A task's own lean connection allocates nothing per request once its buffers have grown:
//! counted by a global allocator that tallies the allocations of the thread under test.

#![allow(clippy::unwrap_used)]
// Counting allocations takes a global allocator, whose trait is unsafe: the only unsafe code
// here forwards each call to the system allocator unchanged. Nothing outside this test binary
// is affected.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use sebs_testkit::scripted_http::{Reply, ScriptedHttp};
use sebs_worker::{HttpTrigger, InvocationRequest, Trigger};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the count is a
// thread-local `Cell`, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn steady_state_requests_allocate_nothing() {
    let reply =
        r#"{"is_cold": false, "begin": 1.0, "end": 1.5, "container_id": "c1", "result": {}}"#;
    let server = ScriptedHttp::start(move |_| {
        Reply::Send(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-sebs-memory-kib: 12\r\ncontent-length: {}\r\n\r\n{reply}",
                reply.len()
            )
            .into_bytes(),
        )
    });
    // One thread runs the client: the allocations counted are the client's own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let trigger = HttpTrigger::new(&server.url("/"), Duration::from_secs(10)).unwrap();
    let mut connection = trigger.own_connection().unwrap();
    let payload = Bytes::from_static(br#"{"size": "test"}"#);
    let id = "0123456789abcdef0123456789abcdef";
    let (warm, counted) = runtime.block_on(async {
        let mut send = async || {
            let raw = connection
                .invoke(InvocationRequest {
                    request_id: id,
                    payload: &payload,
                })
                .await;
            assert!(raw.error.is_none(), "{:?}", raw.error);
            assert_eq!(raw.body.len(), reply.len());
            assert_eq!(raw.headers["x-sebs-memory-kib"], "12");
        };
        for _ in 0..20 {
            send().await;
        }
        let before = allocations();
        for _ in 0..500 {
            send().await;
        }
        (before, allocations() - before)
    });
    assert!(warm > 0, "the counter counts");
    assert_eq!(counted, 0, "allocations in 500 kept-alive requests");
    assert_eq!(server.connections(), 1);
}
