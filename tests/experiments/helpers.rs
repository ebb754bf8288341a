//! Running `sebs experiment invoke|process` the way a user does, and reading what it wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{experiments_root, read_json, shared_cache};

/// One experiment's output folder (`<out>/<name>/`), kept for the test's life.
pub struct Experiment {
    pub name: &'static str,
    pub out: tempfile::TempDir,
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `sebs <args>` against the experiments' catalogue root.
pub fn command(args: &[&str]) -> Command {
    let root = experiments_root();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sebs"));
    command
        .args(args)
        .current_dir(&root)
        .env("SEBS_ROOT", &root)
        .env_remove("SEBS_LOG");
    command
}

/// Runs `sebs <args>` against the experiments' catalogue root.
pub fn sebs(args: &[&str]) -> Output {
    command(args).output().expect("start sebs")
}

impl Experiment {
    /// `experiment invoke NAME` with `config` (JSON) as the configuration file; must succeed.
    pub fn invoke(name: &'static str, config: &str) -> Experiment {
        Self::invoke_with(name, config, &[], None)
    }

    /// `experiment invoke NAME` with `config` and `extra` arguments (a fleet's, say), killed
    /// after `limit` if given; must succeed.
    pub fn invoke_with(
        name: &'static str,
        config: &str,
        extra: &[String],
        limit: Option<std::time::Duration>,
    ) -> Experiment {
        let out = tempfile::tempdir().expect("output dir");
        let config_path = out.path().join("config.json");
        std::fs::write(&config_path, config).expect("config");
        let cache = shared_cache();
        let mut args = vec![
            "experiment",
            "invoke",
            name,
            "--config",
            config_path.to_str().expect("utf-8 path"),
            "--output-dir",
            out.path().to_str().expect("utf-8 path"),
            "--cache",
            cache.to_str().expect("utf-8 path"),
        ];
        args.extend(extra.iter().map(String::as_str));
        let output = match limit {
            None => sebs(&args),
            Some(limit) => sebs_testkit::fleet::run_bounded(command(&args), limit),
        };
        assert!(
            output.status.success(),
            "invoke {name} failed: {}",
            describe(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("sebs experiment process {name}")),
            "{stdout}"
        );
        Experiment { name, out }
    }

    /// `experiment process NAME`; must succeed and write report.html.
    pub fn process(&self) -> &Self {
        let output = sebs(&[
            "experiment",
            "process",
            self.name,
            "--output-dir",
            self.out.path().to_str().expect("utf-8 path"),
        ]);
        assert!(
            output.status.success(),
            "process {} failed: {}",
            self.name,
            describe(&output)
        );
        let report = std::fs::read_to_string(self.file("report.html")).expect("report.html");
        assert!(
            report.starts_with("<!DOCTYPE html>") && report.contains("<svg"),
            "a report with inline plots"
        );
        assert!(!report.contains("not drawn"), "every plot drawn: {report}");
        self
    }

    pub fn dir(&self) -> PathBuf {
        self.out.path().join(self.name)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    pub fn json(&self, name: &str) -> Value {
        read_json(&self.file(name))
    }

    /// The environment manifest: it names this build, the host and the settings.
    pub fn check_manifest(&self) -> Value {
        let env = self.json("environment.json");
        assert_eq!(env["experiment"], self.name);
        assert_eq!(env["sebs_version"], env!("CARGO_PKG_VERSION"));
        assert!(
            env["rustc"]
                .as_str()
                .is_some_and(|v| v.starts_with("rustc ")),
            "{env}"
        );
        assert!(
            env["python"]
                .as_str()
                .is_some_and(|v| v.starts_with("Python 3")),
            "{env}"
        );
        assert_eq!(env["platform"]["deployment"], "local");
        assert!(
            env["host"]["cpus"].as_u64().is_some_and(|n| n >= 1),
            "{env}"
        );
        assert!(
            env["config"]["experiments"].is_object(),
            "the config file is kept: {env}"
        );
        assert!(
            env["settings"].is_object(),
            "the effective settings are kept: {env}"
        );
        env
    }
}

/// A CSV file: its header and its rows by column name.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("a header")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

pub fn number(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("`{column}` = `{}` is not a number", row[column]))
}

/// Every PNG of the folder is a plot with something drawn in it.
pub fn check_pngs(dir: &Path, expected: &[&str]) {
    for stem in expected {
        let picture = sebs_testkit::picture::Picture::load(&dir.join(format!("{stem}.png")));
        assert!(picture.count_ink() > 5_000, "{stem}.png is nearly blank");
        assert!(
            dir.join(format!("{stem}.svg")).is_file(),
            "{stem}.svg beside it"
        );
    }
}
