//! The Google Cloud platform's deployment calls against recorded OAuth, Cloud Functions v2 and
//! Cloud Run replies, served by a real HTTP server on 127.0.0.1 (no Google API is reachable
//! here). The service account key is a throwaway one made for these tests.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use sebs_common::config::TriggerKind;
use sebs_common::Language;
use sebs_platform::{FunctionSpec, Platform};
use sebs_platform_gcp::GcpPlatform;
use sebs_testkit::replay::{ReplayServer, Reply};
use sebs_worker::InvocationRequest;
use serde_json::json;

const PARENT: &str = "/v2/projects/sebs-test-project/locations/europe-west1";
const FUNCTION: &str =
    "/v2/projects/sebs-test-project/locations/europe-west1/functions/sebs-110-dynamic-html-python-3-11";
const OPERATION: &str = "/v2/projects/sebs-test-project/locations/europe-west1/operations/operation-1715678000000-61869a8c2e1f3-4f5a6b7c-8d9e0f1a";
const SERVICE: &str =
    "/v2/projects/sebs-test-project/locations/europe-west1/services/sebs-110-dynamic-html-python-3-11";
const UPLOAD: &str =
    "/gcf-v2-uploads-123456789012-europe-west1/fe4f2c1a-8b3d-4e6f-9a0b-1c2d3e4f5a6b.zip";
const HASH: &str = "9b74c9897bac770ffc029102a200c5de";

fn recorded_path(name: &str) -> PathBuf {
    sebs_testkit::repo_root()
        .join("coordinator/platforms/gcp/tests/recorded")
        .join(name)
}

fn recorded(name: &str, hash: &str) -> Reply {
    let mut reply = Reply::from_file(&recorded_path(&format!("{name}.json")));
    let body = String::from_utf8(reply.body).expect("utf-8 body");
    reply.body = body.replace("{{hash}}", hash).into_bytes();
    reply
}

const BUCKET: &str = "/storage/v1/b/sebs-benchmarks-sebs-test-project";

/// Routes for `GcpPlatform::start`: the token, and the bucket (missing, then created, or there).
fn record_start(server: &ReplayServer, bucket_exists: bool) {
    server.on("POST", "/token", vec![recorded("token", "")]);
    let bucket = recorded("bucket", "");
    if bucket_exists {
        server.on("GET", BUCKET, vec![bucket]);
    } else {
        let missing = Reply::json(
            404,
            &json!({"error": {"code": 404, "message": "The specified bucket does not exist.", "errors": [{"message": "The specified bucket does not exist.", "domain": "global", "reason": "notFound"}]}}),
        );
        server.on("GET", BUCKET, vec![missing, bucket.clone()]);
        server.on("POST", "/storage/v1/b", vec![bucket]);
    }
}

/// A recorded server, a cache folder and the platform started against them.
async fn started(bucket_exists: bool) -> (ReplayServer, tempfile::TempDir, GcpPlatform) {
    let server = ReplayServer::start();
    record_start(&server, bucket_exists);
    let tmp = tempfile::tempdir().unwrap();
    let platform = GcpPlatform::start(Some(&section(&server, tmp.path())), tmp.path())
        .await
        .expect("start");
    (server, tmp, platform)
}

/// A key file whose `token_uri` is the recorded server, and the section that uses it.
fn section(server: &ReplayServer, dir: &Path) -> serde_json::Value {
    let key = std::fs::read_to_string(recorded_path("service-account.json"))
        .unwrap()
        .replace("{{base}}", server.url());
    let path = dir.join("key.json");
    std::fs::write(&path, key).unwrap();
    json!({
        "region": "europe-west1",
        "credentials": path,
        "poll_interval": 0.01,
        "operation_timeout": 20,
        "endpoints": {"functions": server.url(), "run": server.url(), "storage": server.url()}
    })
}

fn spec(dir: &Path, memory_mb: u32) -> FunctionSpec {
    let package = dir.join("package");
    for (file, text) in [
        ("main.py", "import sebs_handler\n"),
        (
            "function/function.py",
            "def handler(event):\n    return {}\n",
        ),
    ] {
        std::fs::create_dir_all(package.join(file).parent().unwrap()).unwrap();
        std::fs::write(package.join(file), text).unwrap();
    }
    FunctionSpec {
        name: "sebs-110-dynamic-html-python-3-11".into(),
        language: Language::Python,
        language_version: "3.11".into(),
        package_dir: package,
        package_hash: HASH.into(),
        memory_mb,
        timeout: Duration::from_secs(10),
        environment: Default::default(),
    }
}

#[tokio::test]
async fn creates_updates_invokes_and_forces_cold_starts() {
    let (server, tmp, platform) = started(false).await;
    assert_eq!(
        platform.benchmarks_bucket(),
        "sebs-benchmarks-sebs-test-project"
    );
    let created = &server.requests_to("POST", "/storage/v1/b")[0];
    assert!(
        created.target.contains("project=sebs-test-project"),
        "{}",
        created.target
    );
    assert_eq!(created.json()["location"], "europe-west1");
    // The key was cached for later runs, readable by its owner only.
    let cached = tmp.path().join("credentials/gcp.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cached).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The service account signed in with a JWT it signed with its key.
    let token = &server.requests_to("POST", "/token")[0];
    let form = String::from_utf8(token.body.clone()).unwrap();
    assert!(
        form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
        "{form}"
    );

    // Create: nothing there, so the source is uploaded and the function created; the operation
    // is followed until done, and then everyone may invoke the service.
    server.on(
        "GET",
        FUNCTION,
        vec![
            recorded("function-not-found", ""),
            recorded("function", HASH),
        ],
    );
    server.on(
        "POST",
        &format!("{PARENT}/functions:generateUploadUrl"),
        vec![recorded("upload-url", "")],
    );
    server.on("PUT", UPLOAD, vec![Reply::empty(200)]);
    server.on(
        "POST",
        &format!("{PARENT}/functions"),
        vec![recorded("operation-started", "")],
    );
    server.on(
        "GET",
        OPERATION,
        vec![
            recorded("operation-running", ""),
            recorded("operation-done", ""),
        ],
    );
    server.on(
        "GET",
        &format!("{SERVICE}:getIamPolicy"),
        vec![recorded("iam-policy", "")],
    );
    server.on(
        "POST",
        &format!("{SERVICE}:setIamPolicy"),
        vec![recorded("iam-policy-set", "")],
    );
    let function = platform
        .deploy(&spec(tmp.path(), 256))
        .await
        .expect("deploy");
    assert_eq!(function.url, server.url());

    let upload = &server.requests_to("PUT", UPLOAD)[0];
    assert_eq!(upload.header("content-type"), Some("application/zip"));
    assert!(
        upload.header("authorization").is_none(),
        "the signed URL is the authorization"
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(upload.body.clone())).unwrap();
    assert!(zip.by_name("main.py").is_ok() && zip.by_name("function/function.py").is_ok());

    let create = &server.requests_to("POST", &format!("{PARENT}/functions"))[0];
    assert_eq!(
        create.target,
        format!("{PARENT}/functions?functionId=sebs-110-dynamic-html-python-3-11")
    );
    assert!(create
        .header("authorization")
        .is_some_and(|a| a == "Bearer ya29.c.b0AXv0zTPsebsRecordedAccessToken1Q7w"));
    let body = create.json();
    assert_eq!(body["environment"], "GEN_2");
    assert_eq!(body["buildConfig"]["runtime"], "python311");
    assert_eq!(body["buildConfig"]["entryPoint"], "handler");
    assert_eq!(
        body["buildConfig"]["source"]["storageSource"]["object"],
        "fe4f2c1a-8b3d-4e6f-9a0b-1c2d3e4f5a6b.zip"
    );
    assert_eq!(body["serviceConfig"]["availableMemory"], "256Mi");
    assert_eq!(body["serviceConfig"]["timeoutSeconds"], 10);
    assert_eq!(
        body["serviceConfig"]["environmentVariables"],
        json!({"cold_start": ""})
    );
    assert_eq!(body["labels"]["sebs-package-hash"], HASH);
    assert_eq!(server.requests_to("GET", OPERATION).len(), 2);
    let policy = server.requests_to("POST", &format!("{SERVICE}:setIamPolicy"))[0].json();
    assert_eq!(
        policy["policy"]["etag"], "BwYYx0bq2fQ=",
        "the read policy's etag guards the write"
    );
    assert_eq!(
        policy["policy"]["bindings"],
        json!([{"role": "roles/run.invoker", "members": ["allUsers"]}])
    );

    // The same package again: nothing is uploaded or changed.
    platform
        .deploy(&spec(tmp.path(), 256))
        .await
        .expect("redeploy");
    assert_eq!(server.requests_to("PUT", UPLOAD).len(), 1);
    assert!(server.requests_to("PATCH", FUNCTION).is_empty());

    // Another memory size: only the configuration is patched.
    server.on("PATCH", FUNCTION, vec![recorded("operation-started", "")]);
    platform
        .deploy(&spec(tmp.path(), 512))
        .await
        .expect("resize");
    let patch = &server.requests_to("PATCH", FUNCTION)[0];
    assert_eq!(
        patch.target,
        format!("{FUNCTION}?updateMask=serviceConfig.availableMemory,serviceConfig.timeoutSeconds")
    );
    assert_eq!(patch.json()["serviceConfig"]["availableMemory"], "512Mi");
    assert!(patch.json()["buildConfig"].get("source").is_none());
    assert_eq!(server.requests_to("PUT", UPLOAD).len(), 1);

    // A cold start: a new `cold_start`, the other variables kept.
    platform
        .enforce_cold_start(&function)
        .await
        .expect("cold start");
    let patch = server.requests_to("PATCH", FUNCTION).pop().unwrap();
    assert!(patch
        .target
        .ends_with("updateMask=serviceConfig.environmentVariables"));
    let env = &patch.json()["serviceConfig"]["environmentVariables"];
    assert_eq!(env["LOG_EXECUTION_ID"], "true");
    assert_eq!(env["cold_start"].as_str().map(str::len), Some(8));

    // `sebs resources list` sees the function and the bucket; `remove` deletes the function.
    let listed = platform.resources().await.expect("list");
    let kinds: Vec<(&str, bool)> = listed
        .iter()
        .map(|l| (l.resource.kind.as_str(), l.exists))
        .collect();
    assert_eq!(kinds, [("function", true), ("bucket", true)]);
    server.on("DELETE", FUNCTION, vec![recorded("operation-started", "")]);
    platform
        .remove_resource(&listed[0].resource)
        .await
        .expect("remove the function");
    assert_eq!(server.requests_to("DELETE", FUNCTION).len(), 1);
    assert_eq!(platform.resources().await.unwrap().len(), 1);

    // The trigger posts the event to the function's URL.
    let trigger_spec = platform.trigger_spec(&function, TriggerKind::Http).unwrap();
    assert!(platform
        .trigger_spec(&function, TriggerKind::Library)
        .is_err());
    server.on("POST", "/", vec![recorded("invocation", "")]);
    let built = sebs_platform_gcp::trigger_factory()
        .build(&trigger_spec)
        .unwrap();
    let payload = Bytes::from_static(br#"{"size": 10}"#);
    let raw = built
        .trigger
        .invoke(InvocationRequest {
            request_id: "r-1",
            payload: &payload,
        })
        .await;
    let reading = built.reader.read(&raw);
    assert!(reading.failure.is_none(), "{raw:?}");
    assert_eq!(reading.container_id, "77b0c1d2");
    assert_eq!(server.requests_to("POST", "/")[0].body, payload.to_vec());
}

#[tokio::test]
async fn a_failed_roll_out_reports_the_operations_error() {
    let (server, tmp, platform) = started(true).await;
    // The function runs an older package, so new code goes up, and its revision fails.
    server.on(
        "GET",
        FUNCTION,
        vec![recorded("function", "an-older-package")],
    );
    server.on(
        "POST",
        &format!("{PARENT}/functions:generateUploadUrl"),
        vec![recorded("upload-url", "")],
    );
    server.on("PUT", UPLOAD, vec![Reply::empty(200)]);
    server.on("PATCH", FUNCTION, vec![recorded("operation-started", "")]);
    server.on(
        "GET",
        OPERATION,
        vec![
            recorded("operation-running", ""),
            recorded("operation-failed", ""),
        ],
    );
    let err = platform
        .deploy(&spec(tmp.path(), 256))
        .await
        .expect_err("the roll-out failed");
    let text = format!("{err:#}");
    assert!(text.contains("Container Healthcheck failed"), "{text}");
    assert!(text.contains("code 3"), "{text}");
    let patch = &server.requests_to("PATCH", FUNCTION)[0];
    assert!(
        patch.target.contains("buildConfig.source"),
        "{}",
        patch.target
    );
    // No IAM change after a failed deployment.
    assert!(server
        .requests_to("GET", &format!("{SERVICE}:getIamPolicy"))
        .is_empty());
}

#[tokio::test]
async fn a_refused_request_names_googles_status() {
    let (server, tmp, platform) = started(true).await;
    server.on(
        "GET",
        FUNCTION,
        vec![Reply::json(
            403,
            &json!({"error": {"code": 403, "message": "Permission 'cloudfunctions.functions.get' denied on 'projects/sebs-test-project/locations/europe-west1/functions/sebs-110-dynamic-html-python-3-11'", "status": "PERMISSION_DENIED"}}),
        )],
    );
    let err = platform
        .deploy(&spec(tmp.path(), 256))
        .await
        .expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains("HTTP 403 PERMISSION_DENIED"), "{text}");
    assert!(text.contains("cloudfunctions.functions.get"), "{text}");
}
