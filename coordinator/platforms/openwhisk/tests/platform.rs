//! The OpenWhisk platform end to end on everything that runs here: a real Docker engine builds
//! the function image, OpenWhisk's REST API answers with recorded replies (tests/recorded), the
//! S3 storage is moto's server. The built image is then run as OpenWhisk's invoker runs an
//! action container (`POST /init`, then `POST /run`), so the wrapper's action protocol and its
//! S3 storage are exercised for real.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

mod recorded_server;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use recorded_server::RecordedServer;
use sebs_common::Language;
use sebs_platform::{FunctionSpec, Platform};
use sebs_platform_openwhisk::s3::S3Storage;
use sebs_platform_openwhisk::OpenWhiskPlatform;
use sebs_worker::{HttpTrigger, InvocationRequest, RawInvocation, Trigger};
use serde_json::{json, Value};

const PYTHON_FUNCTION: &str = "\
import os

from . import storage


def handler(event):
    if event.get('fail'):
        raise ValueError('asked to fail')
    s = storage.storage.get_instance()
    key = s.upload_stream(event['bucket'], 'out/result.txt', b'written by the action')
    setting = os.environ.get('SEBS_TEST_SETTING')
    return {'result': {'key': key, 'keys': s.list_directory(event['bucket'], ''), 'setting': setting}}
";

const NODEJS_FUNCTION: &str = "\
const storage = require('./storage');

exports.handler = async function (event) {
  if (event.fail) throw new TypeError('asked to fail');
  const s = storage.storage.get_instance();
  const [writable, stored, key] = s.uploadStream(event.bucket, 'out/result.txt');
  writable.end('written by the action');
  await stored;
  const setting = process.env.SEBS_TEST_SETTING;
  return { result: { key, keys: await s.listDirectory(event.bucket, ''), setting } };
};
";

/// A package of the OpenWhisk wrapper around a function that writes to and lists a bucket.
fn package(dir: &Path, language: Language) {
    let (folder, extension, function) = match language {
        Language::Python => ("python", "py", PYTHON_FUNCTION),
        Language::Nodejs => ("nodejs", "js", NODEJS_FUNCTION),
    };
    sebs_testkit::wrappers::lay_out("openwhisk", folder, dir);
    std::fs::write(dir.join(format!("function/function.{extension}")), function).unwrap();
}

async fn post(url: &str, request_id: &str, body: Value) -> (RawInvocation, Value) {
    let trigger = HttpTrigger::new(url, Duration::from_secs(60)).unwrap();
    let payload = Bytes::from(body.to_string());
    let raw = trigger
        .invoke(InvocationRequest {
            request_id,
            payload: &payload,
        })
        .await;
    let reply = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    (raw, reply)
}

/// A Docker object (`container` or `image`) removed when dropped.
struct Removed(&'static str, String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args([self.0, "rm", "-f", &self.1])
            .output();
    }
}

/// Runs `image` as an action container on the host's network, serving on `port`.
struct ActionContainer;

impl ActionContainer {
    fn run(image: &str, port: u16) -> Removed {
        let output = Command::new("docker")
            .args(["run", "-d", "--network", "host", "-e"])
            .arg(format!("SEBS_OPENWHISK_PORT={port}"))
            .arg(image)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Removed(
            "container",
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_action_image_deploys_and_serves_the_action_protocol() {
    deploys_and_serves(Language::Python, "3.11", "ValueError: asked to fail").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodejs_action_image_deploys_and_serves_the_action_protocol() {
    deploys_and_serves(Language::Nodejs, "18", "TypeError: asked to fail").await;
}

/// Deploys an action of `language`, forces a cold start, then runs its image as OpenWhisk's
/// invoker would: initialized once, a cold and a warm activation that write to S3, a failure.
async fn deploys_and_serves(language: Language, version: &str, failure: &str) {
    if sebs_testkit::docker::docker_engine().is_none() {
        return;
    }
    let Some(s3) = sebs_testkit::moto::start() else {
        return;
    };
    let action = format!(
        "sebs-110-dynamic-html-{language}-{}",
        version.replace('.', "-")
    );
    let action = action.as_str();
    let server = RecordedServer::default();
    let action_path = format!("/api/v1/namespaces/_/actions/{action}");
    let put = format!("{action_path}?overwrite=true");
    server
        .reply("GET", &action_path, 404, "action-not-found.json")
        .reply("PUT", &put, 200, "action.json")
        .reply("PUT", &put, 200, "action-updated.json")
        .reply("GET", &action_path, 200, "action-updated.json")
        .reply("DELETE", &action_path, 200, "action-updated.json");
    let api = server.start().await;
    let section = json!({
        "api_host": format!("http://{api}"),
        "credentials": {
            "auth": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZ",
            "storage_access_key": "sebs",
            "storage_secret_key": "sebs-secret",
        },
        "storage": {"endpoint": s3.endpoint},
    });
    let cache = tempfile::tempdir().unwrap();
    let platform = OpenWhiskPlatform::start(Some(&section), cache.path())
        .await
        .unwrap();
    let storage = platform.storage();
    storage.create_bucket("ow-test").await.unwrap();

    let package_dir = cache.path().join("package");
    package(&package_dir, language);
    let hash = format!("{:016x}{:016x}", std::process::id(), rand_suffix());
    let deployed = platform
        .deploy(&FunctionSpec {
            name: action.into(),
            language,
            language_version: version.into(),
            package_dir,
            package_hash: hash.clone(),
            memory_mb: 128,
            timeout: Duration::from_secs(10),
            environment: [("SEBS_TEST_SETTING".to_string(), "visible".to_string())].into(),
        })
        .await
        .unwrap();
    assert_eq!(
        deployed.url,
        format!("http://{api}/api/v1/web/guest/default/{action}.json"),
        "the web action's URL names the namespace OpenWhisk reported"
    );
    let image = format!("sebs-openwhisk/{action}:{}", &hash[..16]);
    let _image = Removed("image", image.clone());
    let seen = server.seen();
    assert_eq!(
        (seen[1].method.as_str(), seen[1].target.as_str()),
        ("PUT", put.as_str())
    );
    assert!(seen.iter().all(|s| s.authorization.is_some()));
    let created = &seen[1].body;
    assert_eq!(created["exec"], json!({"kind": "blackbox", "image": image}));
    assert_eq!(
        created["limits"],
        json!({"timeout": 10000, "memory": 128, "concurrency": 1})
    );
    let parameter = |body: &Value, key: &str| {
        body["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == key)
            .map(|p| p["value"].clone())
    };
    assert_eq!(
        parameter(created, "SEBS_S3_ENDPOINT"),
        Some(json!(s3.endpoint))
    );
    assert_eq!(parameter(created, "cold_start"), Some(json!("0")));

    platform.enforce_cold_start(&deployed).await.unwrap();
    let updated = &server.seen()[2].body;
    assert_eq!(
        parameter(updated, "cold_start"),
        Some(json!("1")),
        "a new parameter retires containers"
    );

    // The image as OpenWhisk's invoker runs it.
    let port = sebs_testkit::free_port();
    let container = ActionContainer::run(&image, port);
    let base = format!("http://127.0.0.1:{port}");
    sebs_testkit::wait_until(
        "the action container to listen",
        Duration::from_secs(30),
        || sebs_testkit::listening(&format!("127.0.0.1:{port}")),
    );
    let init = json!({"value": {"name": action, "main": "main", "code": "", "binary": false}});
    assert_eq!(
        post(&format!("{base}/init"), "i", init.clone())
            .await
            .0
            .status,
        Some(200)
    );
    assert_eq!(
        post(&format!("{base}/init"), "i", init).await.0.status,
        Some(403),
        "a container is initialized once"
    );
    let mut params = updated["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap().to_string(), p["value"].clone()))
        .collect::<serde_json::Map<_, _>>();
    params.insert("bucket".into(), json!("ow-test"));
    params.insert("__ow_method".into(), json!("post"));
    params.insert(
        "__ow_headers".into(),
        json!({"x-request-id": "from-the-web-request"}),
    );
    let run = |params: &serde_json::Map<String, Value>, activation: &str| {
        json!({"value": params, "activation_id": activation, "namespace": "guest",
               "action_name": format!("/guest/{action}"), "deadline": "1795987999000"})
    };
    let (raw, first) = post(&format!("{base}/run"), "r", run(&params, "a1")).await;
    assert_eq!(raw.status, Some(200), "{first}");
    assert_eq!(first["is_cold"], true);
    assert_eq!(first["cold_start_var"], "1");
    assert_eq!(
        first["request_id"], "from-the-web-request",
        "a web request's id wins"
    );
    let key = first["result"]["result"]["key"].as_str().unwrap();
    assert!(
        key.starts_with("out/result.") && key.ends_with(".txt"),
        "{key}"
    );
    assert_eq!(
        storage.list("ow-test", "out/").await.unwrap(),
        [key],
        "the action wrote to S3"
    );

    params.remove("__ow_headers");
    let (_, second) = post(&format!("{base}/run"), "r", run(&params, "a2")).await;
    assert_eq!(second["is_cold"], false);
    assert_eq!(
        second["request_id"], "a2",
        "without one, the activation id is the request id"
    );
    assert_eq!(second["container_id"], first["container_id"]);

    params.insert("fail".into(), json!(true));
    let (raw, failed) = post(&format!("{base}/run"), "r", run(&params, "a3")).await;
    assert_ne!(raw.status, Some(200), "a failed activation is not a 200");
    assert_eq!(failed["error"], failure);
    drop(container);

    // What sebs created is listed in an order it can be removed in, and removed.
    let listed = platform.resources().await.unwrap();
    let kinds: Vec<(&str, &str, bool)> = listed
        .iter()
        .map(|l| (l.resource.kind.as_str(), l.resource.name.as_str(), l.exists))
        .collect();
    assert_eq!(
        kinds,
        [
            ("action", action, true),
            ("image", image.as_str(), true),
            ("bucket", "ow-test", true)
        ]
    );
    for l in &listed {
        platform.remove_resource(&l.resource).await.unwrap();
    }
    assert!(
        platform.resources().await.unwrap().is_empty(),
        "removed and forgotten"
    );
    let store = S3Storage::new(&s3.endpoint, "sebs", "sebs-secret", "us-east-1").unwrap();
    assert!(
        !store.bucket_exists("ow-test").await.unwrap(),
        "the bucket is gone"
    );
    let deleted = server
        .seen()
        .into_iter()
        .filter(|s| s.method == "DELETE")
        .count();
    assert_eq!(deleted, 1, "the action was deleted through the API");
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
