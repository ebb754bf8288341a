//! Runs a platform wrapper's storage module against a real store, through
//! `tests/fixtures/storage_wrapper_check.{py,js}`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root (this crate is `tests/kit`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the check for `language` (`python` or `nodejs`) on `benchmarks/wrappers/<platform>/<language>`
/// with `env` set, against `bucket` (which must exist); returns the keys it wrote, or panics with
/// the check's output.
pub fn storage_check(
    platform: &str,
    language: &str,
    bucket: &str,
    env: &[(&str, &str)],
) -> Vec<String> {
    let root = repository_root();
    let (program, script) = match language {
        "python" => ("python3", "storage_wrapper_check.py"),
        "nodejs" => ("node", "storage_wrapper_check.js"),
        other => panic!("no storage check for {other}"),
    };
    let mut command = Command::new(program);
    command
        .arg(root.join("tests/fixtures").join(script))
        .arg(
            root.join("benchmarks/wrappers")
                .join(platform)
                .join(language),
        )
        .arg(bucket);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{platform}/{language} storage check failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
