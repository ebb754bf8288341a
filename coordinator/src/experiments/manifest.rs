//! The environment manifest written beside every experiment's results (`environment.json`):
//! what ran, where and with what, so that a result can be reproduced or explained later.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use serde_json::{json, Value};

use super::backend::ExperimentBackend;

/// What `program --version` prints (first line of stdout, else of stderr), if it runs.
pub fn program_version(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    };
    String::from_utf8_lossy(text)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// Everything about the run that is not its results.
pub fn environment(
    experiment: &str,
    project_root: &Path,
    backend: &dyn ExperimentBackend,
    config_file: Option<&Path>,
    seed: Option<u64>,
) -> Value {
    let config = config_file.map(|path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .unwrap_or(Value::Null)
    });
    json!({
        "experiment": experiment,
        "sebs_version": env!("CARGO_PKG_VERSION"),
        "rustc": env!("SEBS_RUSTC_VERSION"),
        "git": git(project_root),
        "python": program_version(Path::new("python3")),
        "node": program_version(Path::new("node")),
        "platform": backend.describe(),
        "seed": seed,
        "host": host(),
        "config_file": config_file.map(|p| p.display().to_string()),
        "config": config,
        "command_line": std::env::args().collect::<Vec<_>>(),
        "started_at": sebs_worker::epoch_seconds(SystemTime::now()),
    })
}

/// The project's commit and whether its tree has changes, when it is a git checkout.
fn git(root: &Path) -> Value {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => json!({
            "commit": commit,
            "dirty": run(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()),
        }),
        None => Value::Null,
    }
}

fn host() -> Value {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let cpu_model = read("/proc/cpuinfo").and_then(|info| {
        info.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|m| m.trim().to_string())
    });
    let memory_mb = read("/proc/meminfo").and_then(|info| {
        info.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map(|kib| kib / 1024)
    });
    json!({
        "hostname": read("/proc/sys/kernel/hostname"),
        "os": std::env::consts::OS,
        "kernel": read("/proc/sys/kernel/osrelease"),
        "arch": std::env::consts::ARCH,
        "cpu_model": cpu_model,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "memory_mb": memory_mb,
    })
}
