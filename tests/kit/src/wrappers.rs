//! A platform wrapper laid out as a package has it ([`lay_out`]), and its storage module run
//! against a real store through `tests/fixtures/storage_wrapper_check.{py,js}`.

use std::path::Path;
use std::process::Command;

/// Runs the check for `language` (`python` or `nodejs`) on `benchmarks/wrappers/<platform>/<language>`,
/// with `env` set, against `bucket` (which must exist); returns the keys it wrote, or panics with
/// the check's output.
pub fn storage_check(
    platform: &str,
    language: &str,
    bucket: &str,
    env: &[(&str, &str)],
) -> Vec<String> {
    let root = crate::repo_root();
    let (program, script) = match language {
        "python" => ("python3", "storage_wrapper_check.py"),
        "nodejs" => ("node", "storage_wrapper_check.js"),
        other => panic!("no storage check for {other}"),
    };
    let package = tempfile::tempdir().unwrap();
    lay_out(platform, language, package.path());
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

/// Copies the files of `benchmarks/wrappers/<platform>/<language>` into `package` as the package
/// builder places them (links followed): `storage.*` and `nosql.*` beside the benchmark in
/// `function/`, the rest at the root. Entry points that live in folders (Azure's `handler/`) are
/// left out.
pub fn lay_out(platform: &str, language: &str, package: &Path) {
    let wrapper = crate::repo_root()
        .join("benchmarks/wrappers")
        .join(platform)
        .join(language);
    std::fs::create_dir_all(package.join("function")).unwrap();
    for entry in std::fs::read_dir(&wrapper).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let name = path.file_name().unwrap().to_owned();
        let module = Path::new(&name)
            .file_stem()
            .is_some_and(|s| s == "storage" || s == "nosql");
        let dest = if module {
            package.join("function").join(&name)
        } else {
            package.join(&name)
        };
        std::fs::copy(&path, dest).unwrap();
    }
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
