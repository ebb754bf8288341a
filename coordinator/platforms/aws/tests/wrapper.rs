//! The AWS Python wrapper (`benchmarks/wrappers/aws/python`) run as Lambda runs it, calling
//! `handler.handler(event, context)`, with its storage on moto's S3: the reply of SEBS-CONTRACT
//! §2 in the `{statusCode, body}` envelope, cold then warm, the `logs` upload, both event shapes
//! (function URL envelope and SDK event) and the error reply.

// Test helpers: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sebs_common::Architecture;
use sebs_platform::Platform;
use serde_json::{json, Value};

const FUNCTION: &str = r#"
from . import storage

def handler(event):
    client = storage.storage.get_instance()
    bucket = event["bucket"]
    text = client.download_stream(bucket, "in/data.txt")
    key = client.upload_stream(bucket, "out/data.txt", text.upper())
    return {"result": {"key": key, "keys": client.list_directory(bucket, "in/")},
            "measurement": {"download_size": len(text)}}
"#;

const DRIVER: &str = r#"
import json, sys, types
sys.path.insert(0, sys.argv[1])
import handler
event = json.loads(sys.argv[2])
replies = [
    handler.handler({"body": json.dumps(event), "isBase64Encoded": False}, types.SimpleNamespace(aws_request_id="req-1")),
    handler.handler(event, types.SimpleNamespace(aws_request_id="req-2")),
    handler.handler({"size": "test"}, types.SimpleNamespace(aws_request_id="req-3")),
]
print(json.dumps(replies))
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_wrapper_replies_as_sebs_expects() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    // The Python that has moto has boto3, as Lambda's runtime does. `moto_server` may be a link
    // to its virtual environment's script (CI links it alone onto PATH): follow it there.
    let moto_bin = std::fs::canonicalize(sebs_testkit::which("moto_server").unwrap()).unwrap();
    let python = moto_bin.with_file_name("python3");
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("package");
    let wrapper = repo().join("benchmarks/wrappers/aws/python");
    std::fs::create_dir_all(pkg.join("function")).unwrap();
    std::fs::copy(wrapper.join("handler.py"), pkg.join("handler.py")).unwrap();
    std::fs::copy(wrapper.join("storage.py"), pkg.join("function/storage.py")).unwrap();
    std::fs::write(pkg.join("function/function.py"), FUNCTION).unwrap();
    std::fs::write(pkg.join("function/__init__.py"), "").unwrap();

    let section = json!({"endpoint_url": moto.endpoint,
        "credentials": {"access_key": "testing", "secret_key": "testing-secret"}});
    let aws = sebs_platform_aws::AwsPlatform::start(Some(&section), tmp.path(), Architecture::X64)
        .await
        .unwrap();
    let storage = aws.storage();
    storage.create_bucket("wrapper-bucket").await.unwrap();
    let input = tmp.path().join("data.txt");
    std::fs::write(&input, "hello lambda").unwrap();
    storage
        .upload("wrapper-bucket", "in/data.txt", &input)
        .await
        .unwrap();

    let event = json!({"bucket": "wrapper-bucket", "logs": {"bucket": "wrapper-bucket"}});
    let tmpdir = tmp.path().join("instance-tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let out = Command::new(&python)
        .args(["-c", DRIVER])
        .arg(&pkg)
        .arg(event.to_string())
        .env("TMPDIR", &tmpdir)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("cold_start", "3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let body = |i: usize| -> Value {
        assert_eq!(replies[i]["headers"]["Content-Type"], "application/json");
        serde_json::from_str(replies[i]["body"].as_str().unwrap()).unwrap()
    };

    let cold = body(0);
    assert_eq!(replies[0]["statusCode"], 200, "{cold}");
    assert_eq!(cold["is_cold"], true);
    assert_eq!(cold["request_id"], "req-1");
    assert_eq!(cold["cold_start_var"], "3");
    let container = cold["container_id"].as_str().unwrap().to_string();
    assert_eq!(container.len(), 8);
    assert!(cold["end"].as_f64().unwrap() >= cold["begin"].as_f64().unwrap());
    assert!(cold["results_time"].as_u64().unwrap() > 0);
    assert_eq!(cold["result"]["measurement"]["download_size"], 12);
    assert_eq!(cold["result"]["result"]["keys"], json!(["in/data.txt"]));
    let stored = cold["result"]["result"]["key"].as_str().unwrap();
    assert!(
        stored.starts_with("out/data.") && stored.ends_with(".txt"),
        "{stored}"
    );

    let warm = body(1);
    assert_eq!(replies[1]["statusCode"], 200);
    assert_eq!(warm["is_cold"], false);
    assert_eq!(warm["container_id"], container.as_str());

    // The benchmark's upload and the wrapper's log of each request are in the bucket.
    let back = tmp.path().join("back.txt");
    storage
        .download("wrapper-bucket", stored, &back)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "HELLO LAMBDA");
    storage
        .download("wrapper-bucket", "req-1.json", &back)
        .await
        .unwrap();
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&back).unwrap()).unwrap();
    assert_eq!(log["measurement"]["download_size"], 12);

    // A benchmark that raises: a 500 with the error, and the instance is still known.
    let failed = body(2);
    assert_eq!(replies[2]["statusCode"], 500);
    assert_eq!(failed["error"], "KeyError: 'bucket'", "{failed}");
    assert!(failed["traceback"]
        .as_str()
        .unwrap()
        .contains("function.py"));
    assert_eq!(failed["container_id"], container.as_str());
}
