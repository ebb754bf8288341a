//! Runs the real `sebs` binary the way a user does, and reads the files it writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository root (the folder holding `benchmarks/`).
pub use sebs_testkit::repo_root;

/// A cache shared by every test of the run: packages, the tools venv and local storage are
/// built once (builds lock against each other), as a user's cache is.
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sebs-test-cache")
}

/// A catalogue root with the real wrappers and data generators and the fixture benchmarks of
/// `tests/fixtures/benchmarks` (functions that fail on purpose).
pub fn fixture_root() -> PathBuf {
    linked_root(
        "sebs-fixture-root",
        &["tests/fixtures/benchmarks/900.faulty"],
    )
}

/// A catalogue root for the experiments: the real wrappers and data, the catalogue's
/// microbenchmarks (020, 030, 040) and `100.webapps`, and the failing fixtures.
#[allow(dead_code)] // each test binary uses the roots it needs
pub fn experiments_root() -> PathBuf {
    linked_root(
        "sebs-experiments-root",
        &[
            "benchmarks/000.microbenchmarks",
            "benchmarks/100.webapps",
            "tests/fixtures/benchmarks/900.faulty",
        ],
    )
}

/// A folder with `benchmarks/wrappers`, `benchmark-data` and the benchmark groups `groups`
/// (paths in the repository), all linked from the repository.
///
/// The folder lives in the target directory, which outlives clones of the repository, so its
/// name carries the repository's path: links made for an earlier clone are never reused.
fn linked_root(name: &str, groups: &[&str]) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    repo_root().hash(&mut hasher);
    let root =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{:016x}", hasher.finish()));
    let benchmarks = root.join("benchmarks");
    std::fs::create_dir_all(&benchmarks).expect("fixture root");
    let link = |from: PathBuf, to: PathBuf| {
        if std::fs::symlink_metadata(&to).is_err() {
            // Tests run in parallel: another may have made the link first.
            let _ = std::os::unix::fs::symlink(from, &to);
        }
    };
    link(
        repo_root().join("benchmarks/wrappers"),
        benchmarks.join("wrappers"),
    );
    for group in groups {
        let folder = Path::new(group).file_name().expect("a group folder");
        link(repo_root().join(group), benchmarks.join(folder));
    }
    link(
        repo_root().join("benchmark-data"),
        root.join("benchmark-data"),
    );
    root
}

#[derive(Debug)]
pub struct Run {
    pub output: Output,
    pub out_dir: tempfile::TempDir,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn assert_success(&self) -> &Self {
        assert!(
            self.output.status.success(),
            "sebs failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// As `assert_success`, with `context` (other processes' logs) in the failure message.
    #[allow(dead_code)] // the fleet's tests use it
    pub fn assert_success_with(&self, context: &str) -> &Self {
        assert!(
            self.output.status.success(),
            "sebs failed ({:?}):\nstdout:\n{}\nstderr:\n{}\n{context}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn experiments(&self) -> Value {
        read_json(&self.out_dir.path().join("experiments.json"))
    }

    /// The invocations of experiments.json, in the order they were sent.
    pub fn invocations(&self) -> Vec<Value> {
        let doc = self.experiments();
        let functions = doc["_invocations"]
            .as_object()
            .expect("_invocations is an object");
        assert_eq!(functions.len(), 1, "one function per benchmark invoke");
        let mut all: Vec<Value> = functions
            .values()
            .next()
            .unwrap()
            .as_object()
            .unwrap()
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| {
            a["times"]["client_begin"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["times"]["client_begin"].as_f64().unwrap())
        });
        all
    }

    /// Lines of invocations.jsonl.
    pub fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out_dir.path().join("invocations.jsonl"))
            .expect("invocations.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `sebs <args>` against `root` with `cache`, writing results to a fresh folder.
pub fn sebs_in(root: &Path, cache: &Path, args: &[&str]) -> Run {
    let out_dir = tempfile::tempdir().expect("output dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sebs"));
    cmd.args(args)
        .current_dir(root)
        .env("SEBS_ROOT", root)
        .env_remove("SEBS_LOG");
    if args.first() == Some(&"benchmark") && matches!(args.get(1), Some(&"invoke" | &"regression"))
    {
        cmd.arg("--output-dir").arg(out_dir.path());
    }
    if args.first() == Some(&"benchmark") && args.get(1) != Some(&"list") {
        cmd.arg("--cache").arg(cache);
    }
    let output = cmd.output().expect("start sebs");
    Run { output, out_dir }
}

/// Runs `sebs <args>` against the repository's catalogue with the shared cache.
pub fn sebs(args: &[&str]) -> Run {
    sebs_in(&repo_root(), &shared_cache(), args)
}
