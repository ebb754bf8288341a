//! What sebs's tests share: servers started as real processes on 127.0.0.1 (killed on drop),
//! free ports, and waiting on a predicate instead of sleeping.
//!
//! Tests that need an external program (etcd, moto, azurite, dockerd, chromium, …) call
//! [`require`]. When the program is missing, the test is skipped with a message saying how to
//! install it, unless `SEBS_TEST_REQUIRE=all` is set (as `.ci/run` does), which turns the
//! missing program into a failure: CI never passes by skipping.

// Test support: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

pub mod cluster;
pub mod docker;
pub mod emulators;
pub mod etcd;
pub mod fleet;
pub mod moto;
pub mod netns;
pub mod observe;
pub mod picture;
pub mod proxy;
pub mod replay;
pub mod scripted_http;
pub mod wrappers;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root (the folder with `Cargo.lock` and `benchmarks/`), found when the test
/// runs: upwards from the package under test (`CARGO_MANIFEST_DIR`, which `cargo test` sets for
/// the test process) or else from the working directory. Not `env!("CARGO_MANIFEST_DIR")`: that
/// is fixed when this crate is compiled, and cargo reuses a compiled crate for a clone of the same
/// sources elsewhere (CI's clean clone and a developer's share one build cache), whose paths would
/// then point into the other clone.
pub fn repo_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .expect("CARGO_MANIFEST_DIR or a working directory");
    start
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file() && d.join("benchmarks").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no sebs repository (Cargo.lock and benchmarks/) at or above {}",
                start.display()
            )
        })
        .to_path_buf()
}

/// Finds `program` on `PATH` (or as a path). `None` means "skip this test": the caller returns
/// early. With `SEBS_TEST_REQUIRE=all` a missing program panics instead.
#[must_use]
pub fn require(program: &str, install_hint: &str) -> Option<PathBuf> {
    if let Some(found) = which(program) {
        return Some(found);
    }
    skip(&format!("`{program}` is not installed ({install_hint}; `bash .ci/run` installs everything the tests need)"));
    None
}

/// Says why a test is skipped, or panics with it under `SEBS_TEST_REQUIRE=all`: for tests that
/// need something other than a program (a font, a kernel feature).
pub fn skip(message: &str) {
    if std::env::var("SEBS_TEST_REQUIRE").as_deref() == Ok("all") {
        panic!("{message}, and SEBS_TEST_REQUIRE=all");
    }
    eprintln!("SKIPPED: {message}");
}

/// `program` if it is a path to a file, else the first match on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.components().count() > 1 {
        return candidate.is_file().then(|| candidate.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// A port nobody listens on right now on 127.0.0.1. (Another process may take it before the
/// caller binds it; servers that can bind port 0 and report their address should do that.)
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Polls `predicate` every 50 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut predicate: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !predicate() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether something accepts TCP connections at `addr`.
pub fn listening(addr: &str) -> bool {
    addr.parse()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_millis(200)).ok())
        .is_some()
}

/// A server process that is killed (SIGKILL) and reaped when dropped. Its output goes to a log
/// file that [`Server::log`] reads back, for the failure message of a test.
#[derive(Debug)]
pub struct Server {
    name: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `command` with its stdout and stderr in a log file, and a scratch folder of its own
    /// as the working directory unless the command set one.
    pub fn start(name: &str, mut command: Command) -> Server {
        let dir = tempfile::Builder::new()
            .prefix(&format!("sebs-test-{name}-"))
            .tempdir()
            .unwrap();
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        if command.get_current_dir().is_none() {
            command.current_dir(dir.path());
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", command.get_program()));
        Server {
            name: name.to_string(),
            child,
            log,
            _dir: dir,
        }
    }

    /// A scratch folder that lives as long as the server.
    pub fn scratch(&self) -> &Path {
        self._dir.path()
    }

    /// Waits until the server accepts connections at `addr`, or panics with its log.
    pub fn wait_listening(&mut self, addr: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !listening(addr) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before listening on {addr}:\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {addr} within {timeout:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server now (as `kill -9` would) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_killed_on_drop() {
        let port = free_port();
        let mut command = Command::new("python3");
        command.args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ]);
        let addr = format!("127.0.0.1:{port}");
        let mut server = Server::start("http.server", command);
        server.wait_listening(&addr, Duration::from_secs(20));
        drop(server);
        wait_until("the server to stop", Duration::from_secs(5), || {
            !listening(&addr)
        });
    }

    #[test]
    fn which_finds_programs_on_the_path() {
        assert!(which("sh").is_some());
        assert!(which("surely-not-a-program-sebs").is_none());
    }
}
