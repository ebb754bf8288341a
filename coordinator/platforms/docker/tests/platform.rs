//! The Docker platform through its traits, on a real engine: the storage its containers use
//! passes the storage suite and is the one functions see, and shutdown removes every container.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use sebs_common::config::TriggerKind;
use sebs_common::Language;
use sebs_platform::{FunctionSpec, Platform};
use sebs_platform_docker::{trigger_factory, DockerPlatform};
use sebs_worker::InvocationRequest;

/// A package of the docker wrapper around a function that lists a bucket of the storage.
fn package(dir: &Path) {
    let wrappers = sebs_testkit::repo_root().join("benchmarks/wrappers/docker/python");
    std::fs::create_dir_all(dir.join("function")).unwrap();
    for file in ["server.py", "handler.py", "sebs_storage.py"] {
        std::fs::copy(wrappers.join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(wrappers.join("storage.py"), dir.join("function/storage.py")).unwrap();
    std::fs::write(
        dir.join("function/function.py"),
        "import os\n\nfrom . import storage\n\n\
         def handler(event):\n    \
             keys = storage.storage.get_instance().list_directory(event['bucket'], '')\n    \
             return {'result': keys, 'setting': os.environ.get('SEBS_TEST_SETTING')}\n",
    )
    .unwrap();
}

/// Containers the engine has for `function`, running or not.
fn containers_of(function: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!("label=org.sebs.function={function}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_passes_the_suite_and_containers_see_it_and_go_at_shutdown() {
    if sebs_testkit::docker::docker_engine().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let platform = DockerPlatform::start(None, cache.path()).await.unwrap();
    let storage = platform.storage();
    sebs_platform::testing::storage_suite(storage.as_ref(), "suite-bucket").await;

    let object = cache.path().join("object.txt");
    std::fs::write(&object, "seen from the container").unwrap();
    storage.create_bucket("shared").await.unwrap();
    storage
        .upload("shared", "in/object.txt", &object)
        .await
        .unwrap();

    let package_dir = cache.path().join("package");
    package(&package_dir);
    let function = format!("sebs-docker-platform-test-{}", std::process::id());
    let deployed = platform
        .deploy(&FunctionSpec {
            name: function.clone(),
            language: Language::Python,
            language_version: "3.11".into(),
            package_dir,
            package_hash: "test".into(),
            memory_mb: 128,
            timeout: Duration::from_secs(30),
            environment: [("SEBS_TEST_SETTING".to_string(), "visible".to_string())].into(),
        })
        .await
        .unwrap();
    let spec = platform.trigger_spec(&deployed, TriggerKind::Http).unwrap();
    let built = trigger_factory().build(&spec).unwrap();
    let payload = Bytes::from_static(br#"{"bucket": "shared"}"#);
    let raw = built
        .trigger
        .invoke(InvocationRequest {
            request_id: "0123456789abcdef0123456789abcdef",
            payload: &payload,
        })
        .await;
    let reply: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(raw.status, Some(200), "{reply}");
    assert_eq!(
        reply["result"]["result"],
        serde_json::json!(["in/object.txt"])
    );
    let metrics = platform.provider_metrics(&deployed, &raw);
    assert!(
        metrics.initialization_us > 0 && metrics.memory_used_mb > 1.0,
        "{metrics:?}"
    );
    assert_eq!(containers_of(&function).len(), 1, "one container ran it");

    platform.shutdown().await;
    assert!(
        containers_of(&function).is_empty(),
        "shutdown removes the containers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_the_buckets_and_containers_a_dead_sebs_left() {
    if sebs_testkit::docker::docker_engine().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let platform = DockerPlatform::start(None, cache.path()).await.unwrap();
    platform.storage().create_bucket("kept").await.unwrap();
    // A function container whose sebs is gone (4194305 is above the largest pid Linux gives).
    let function = format!("sebs-docker-leftover-test-{}", std::process::id());
    let output = Command::new("docker")
        .args(["create", "--label"])
        .arg(format!("org.sebs.function={function}"))
        .args(["--label", "org.sebs.session=s4194305-dead00", "--name"])
        .arg(&function)
        .args(["sebs/run:python-3.11", "true"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let listed = platform.resources().await.unwrap();
    let names: Vec<(&str, &str)> = listed
        .iter()
        .map(|l| (l.resource.kind.as_str(), l.resource.name.as_str()))
        .collect();
    assert!(names.contains(&("bucket", "kept")), "{names:?}");
    let leftover = listed
        .iter()
        .find(|l| l.resource.kind == "container" && l.resource.name == function)
        .unwrap_or_else(|| panic!("the dead session's container is listed: {names:?}"));
    platform.remove_resource(&leftover.resource).await.unwrap();
    assert!(containers_of(&function).is_empty(), "removed");
    let bucket = listed.iter().find(|l| l.resource.name == "kept").unwrap();
    platform.remove_resource(&bucket.resource).await.unwrap();
    assert!(!cache.path().join("docker-storage/kept").exists());
    platform.shutdown().await;
}
