//! `sebs resources list|remove` as a user runs it: on the local platform, and on AWS against
//! moto's server, where it also checks that no credential reaches the logs.

// Test helpers: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

// Only `repo_root` is used here; the rest serves the other end-to-end tests.
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sebs_common::{Architecture, Language};
use sebs_platform::FunctionSpec;
use serde_json::json;

fn sebs(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sebs"));
    command
        .current_dir(cwd)
        .env("SEBS_ROOT", support::repo_root())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::null())
        .args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("sebs runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn local_buckets_are_listed_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("cache/local-storage/sebs-benchmarks-local");
    std::fs::create_dir_all(bucket.join("110-0-input")).unwrap();
    std::fs::write(bucket.join("110-0-input/a.txt"), "x").unwrap();
    let list = sebs(
        tmp.path(),
        &["resources", "list", "--deployment", "local"],
        &[],
    );
    assert!(list.status.success(), "{}", text(&list));
    let shown = text(&list);
    assert!(
        shown.contains("bucket")
            && shown.contains("sebs-benchmarks-local")
            && shown.contains("exists"),
        "{shown}"
    );

    let dry = sebs(
        tmp.path(),
        &["resources", "remove", "--deployment", "local", "--dry-run"],
        &[],
    );
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains("dry run"));
    assert!(bucket.is_dir(), "a dry run removes nothing");

    let unconfirmed = sebs(
        tmp.path(),
        &["resources", "remove", "--deployment", "local"],
        &[],
    );
    assert_eq!(unconfirmed.status.code(), Some(2), "{}", text(&unconfirmed));
    assert!(text(&unconfirmed).contains("--yes"));
    assert!(bucket.is_dir());

    let removed = sebs(
        tmp.path(),
        &[
            "resources",
            "remove",
            "bucket",
            "--deployment",
            "local",
            "--yes",
        ],
        &[],
    );
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(!bucket.exists());
    let empty = sebs(
        tmp.path(),
        &["resources", "list", "--deployment", "local"],
        &[],
    );
    assert!(text(&empty).contains("no resources"), "{}", text(&empty));
}

const SECRET: &str = "sebs-test-secret-Zq8vXw2Rk";
const TOKEN: &str = "sebs-test-session-token-Pz4";

#[test]
fn aws_resources_are_listed_and_removed_and_secrets_stay_out_of_the_logs() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let cache = cache.canonicalize().unwrap();
    let config = tmp.path().join("config.json");
    let section = json!({"region": "us-east-1", "lambda-role": "", "endpoint_url": moto.endpoint});
    std::fs::write(
        &config,
        json!({"deployment": {"name": "aws", "aws": section}}).to_string(),
    )
    .unwrap();

    // Resources made the way `benchmark invoke` makes them, with credentials from the config.
    let mut with_credentials = section.clone();
    with_credentials["credentials"] =
        json!({"access_key": "AKIDSEBSTEST", "secret_key": SECRET, "session_token": TOKEN});
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let aws = sebs_platform_aws::AwsPlatform::start(
            Some(&with_credentials),
            &cache,
            Architecture::X64,
        )
        .await
        .unwrap();
        use sebs_platform::Platform;
        aws.storage()
            .create_bucket(aws.benchmarks_bucket())
            .await
            .unwrap();
        let pkg = tmp.path().join("pkg");
        std::fs::create_dir_all(pkg.join("function")).unwrap();
        std::fs::write(pkg.join("handler.py"), "def handler(e, c): return {}\n").unwrap();
        std::fs::write(
            pkg.join("function/function.py"),
            "def handler(e): return {}\n",
        )
        .unwrap();
        aws.deploy(&FunctionSpec {
            name: "sebs-cli-test".into(),
            language: Language::Python,
            language_version: "3.11".into(),
            package_dir: pkg,
            package_hash: "cli".into(),
            memory_mb: 128,
            timeout: Duration::from_secs(10),
            environment: Default::default(),
        })
        .await
        .unwrap();
    });

    // The cached credentials are private to the user.
    let cached = cache.join("credentials/aws.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cached).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A command with the credentials in its environment logs everything but them.
    let cfg = config.to_str().unwrap();
    let cache_arg = cache.to_str().unwrap();
    let list = sebs(
        tmp.path(),
        &[
            "resources",
            "list",
            "--config",
            cfg,
            "--cache",
            cache_arg,
            "--verbose",
        ],
        &[
            ("SEBS_LOG", "trace"),
            ("AWS_ACCESS_KEY_ID", "AKIDSEBSTEST"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", TOKEN),
        ],
    );
    let shown = text(&list);
    assert!(list.status.success(), "{shown}");
    for expected in [
        "function",
        "sebs-cli-test",
        "bucket",
        "sebs-benchmarks-",
        "role",
        "sebs-lambda-role-",
    ] {
        assert!(
            shown.contains(expected),
            "`{expected}` missing from:\n{}",
            String::from_utf8_lossy(&list.stdout)
        );
    }
    assert!(
        shown.contains("aws credentials resolved"),
        "the trace was on:\n{shown}"
    );
    assert!(!shown.contains(SECRET), "the secret key reached the output");
    assert!(
        !shown.contains(TOKEN),
        "the session token reached the output"
    );

    // Later commands take them from the cache, which the config file does not have.
    let removed = sebs(
        tmp.path(),
        &[
            "resources",
            "remove",
            "--config",
            cfg,
            "--cache",
            cache_arg,
            "--yes",
            "--verbose",
        ],
        &[("SEBS_LOG", "trace")],
    );
    let shown = text(&removed);
    assert!(removed.status.success(), "{shown}");
    let stdout = String::from_utf8_lossy(&removed.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("removed ")).count(),
        3,
        "{shown}"
    );
    assert!(!shown.contains(SECRET) && !shown.contains(TOKEN));
    let empty = sebs(
        tmp.path(),
        &["resources", "list", "--config", cfg, "--cache", cache_arg],
        &[],
    );
    assert!(text(&empty).contains("no resources"), "{}", text(&empty));
}
