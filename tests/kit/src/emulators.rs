//! Cloud storage emulators, started as real processes on free ports of 127.0.0.1 with a
//! temporary folder each: azurite (Azure Blob storage) and gcp-storage-emulator (Google Cloud
//! Storage's JSON API).

use std::process::Command;
use std::time::Duration;

use crate::{free_port, require, Server};

/// azurite's development account, documented by Microsoft and the same in every installation.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The key of [`AZURITE_ACCOUNT`]; public, not a secret.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running azurite Blob service; killed on drop.
#[derive(Debug)]
pub struct Azurite {
    pub server: Server,
    /// The development account's blob endpoint, `http://127.0.0.1:<port>/devstoreaccount1`.
    pub blob_endpoint: String,
}

/// Starts `azurite-blob`, or returns `None` (test skipped) when it is not installed.
pub fn azurite() -> Option<Azurite> {
    let program = require("azurite-blob", "npm install -g azurite")?;
    let port = free_port();
    let mut command = Command::new(program);
    // Its data goes to the working directory, the server's scratch folder. The SDK may speak a
    // newer service version than this azurite knows: accept it.
    command.args([
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port.to_string(),
        "--skipApiVersionCheck",
        "--silent",
    ]);
    let mut server = Server::start("azurite", command);
    server.wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(60));
    Some(Azurite {
        server,
        blob_endpoint: format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"),
    })
}

/// A running gcp-storage-emulator; killed on drop.
#[derive(Debug)]
pub struct GcsEmulator {
    pub server: Server,
    /// `http://127.0.0.1:<port>`, the JSON API's root.
    pub endpoint: String,
}

/// Starts `gcp-storage-emulator`, or returns `None` (test skipped) when it is not installed.
pub fn gcs_emulator() -> Option<GcsEmulator> {
    let program = require("gcp-storage-emulator", "pip install gcp-storage-emulator")?;
    let port = free_port();
    let mut command = Command::new(program);
    // Objects are kept under the working directory, the server's scratch folder.
    command.args([
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--quiet",
    ]);
    let mut server = Server::start("gcp-storage-emulator", command);
    server.wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(60));
    Some(GcsEmulator {
        server,
        endpoint: format!("http://127.0.0.1:{port}"),
    })
}
