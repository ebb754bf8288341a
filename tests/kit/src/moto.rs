//! moto's server (PyPI `moto[server]`): AWS's APIs on 127.0.0.1, for the AWS platform's tests.

use std::process::Command;
use std::time::Duration;

use crate::{free_port, require, Server};

/// A running moto server and its endpoint URL (`http://127.0.0.1:PORT`).
#[derive(Debug)]
pub struct Moto {
    pub server: Server,
    pub endpoint: String,
}

/// Starts `moto_server` on a free port, or `None` (test skipped) when it is not installed.
pub fn start() -> Option<Moto> {
    let program = require("moto_server", "pip install 'moto[server]'")?;
    let port = free_port();
    let mut command = Command::new(program);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    // AWS's managed policies (AWSLambdaBasicExecutionRole, ...) exist in every real account.
    command.env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
    let mut server = Server::start("moto", command);
    let addr = format!("127.0.0.1:{port}");
    server.wait_listening(&addr, Duration::from_secs(60));
    Some(Moto {
        server,
        endpoint: format!("http://{addr}"),
    })
}
