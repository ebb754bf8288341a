//! Runs a platform wrapper's storage module against a real store, through
//! `tests/fixtures/storage_wrapper_check.{py,js}`, in the layout a package has: the wrapper's
//! files at the root (links followed), its `storage.*` in `function/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root (this crate is `tests/kit`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the check for `language` (`python` or `nodejs`) on `benchmarks/wrappers/<platform>/<language>`,
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
    let package = tempfile::tempdir().unwrap();
    let wrapper = root
        .join("benchmarks/wrappers")
        .join(platform)
        .join(language);
    for entry in std::fs::read_dir(&wrapper).unwrap() {
        let path = entry.unwrap().path();
        // Entry points live in folders (`handler/`); storage needs none of them.
        if !path.is_file() {
            continue;
        }
        let name = path.file_name().unwrap().to_owned();
        let dest = if Path::new(&name).file_stem().is_some_and(|s| s == "storage") {
            std::fs::create_dir_all(package.path().join("function")).unwrap();
            package.path().join("function").join(&name)
        } else {
            package.path().join(&name)
        };
        std::fs::copy(&path, dest).unwrap();
    }
    let mut command = Command::new(program);
    command
        .arg(root.join("tests/fixtures").join(script))
        .arg(package.path())
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

/// [`storage_check`] for Python and then Node.js; every key both wrote, sorted.
pub fn storage_check_both(platform: &str, bucket: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut written = storage_check(platform, "python", bucket, env);
    assert_eq!(written.len(), 5, "python wrote {written:?}");
    let node = storage_check(platform, "nodejs", bucket, env);
    assert_eq!(node.len(), 4, "node.js wrote {node:?}");
    written.extend(node);
    written.sort();
    written
}
