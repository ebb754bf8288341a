//! An S3-compatible server for storage tests: moto's server (`moto[server]` from PyPI) on a
//! free port of 127.0.0.1, killed when dropped. It keeps objects in memory and accepts any
//! credentials with a valid Signature Version 4.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{free_port, require, which, Server};

/// Where `.ci/setup.d/41-openwhisk.sh` installs moto's server.
pub fn moto_venv() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/sebs-moto/bin/moto_server")
}

/// A running S3-compatible server and its `http://127.0.0.1:PORT` endpoint.
#[derive(Debug)]
pub struct S3Server {
    pub endpoint: String,
    pub server: Server,
}

/// Starts moto's server; `None` means "skip this test" (see [`require`]).
#[must_use]
pub fn moto_server() -> Option<S3Server> {
    let program = which("moto_server").or_else(|| {
        let venv = moto_venv();
        venv.is_file().then_some(venv)
    });
    let program = match program {
        Some(p) => p,
        None => require(
            "moto_server",
            "python3 -m venv ~/.cache/sebs-moto && ~/.cache/sebs-moto/bin/pip install 'moto[server]'",
        )?,
    };
    let port = free_port();
    let mut command = Command::new(program);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let mut server = Server::start("moto_server", command);
    let address = format!("127.0.0.1:{port}");
    server.wait_listening(&address, Duration::from_secs(60));
    Some(S3Server {
        endpoint: format!("http://{address}"),
        server,
    })
}
