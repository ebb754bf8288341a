//! The AWS wrappers (`benchmarks/wrappers/aws/{python,nodejs}`) run as Lambda runs them, calling
//! `handler.handler(event, context)`, with their storage on moto's S3: the reply of
//! SEBS-CONTRACT §2 in the `{statusCode, body}` envelope, cold then warm, the `logs` upload, both
//! event shapes (function URL envelope and SDK event) and the error reply.
//!
//! The Node.js wrapper needs the AWS SDK for JavaScript v3, which Lambda's runtime provides:
//! here `SEBS_AWS_SDK_JS` names a `node_modules` folder holding `@aws-sdk/client-s3`
//! (`.ci/setup.d/30-aws.sh` installs it).

// Test helpers: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use sebs_common::Architecture;
use sebs_platform::{ObjectStorage, Platform};
use sebs_testkit::moto::Moto;
use serde_json::{json, Value};

const PYTHON_FUNCTION: &str = r#"
from . import storage

def handler(event):
    client = storage.storage.get_instance()
    bucket = event["bucket"]
    text = client.download_stream(bucket, "in/data.txt")
    key = client.upload_stream(bucket, "out/data.txt", text.upper())
    return {"result": {"key": key, "keys": client.list_directory(bucket, "in/")},
            "measurement": {"download_size": len(text)}}
"#;

const PYTHON_DRIVER: &str = r#"
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

const NODE_FUNCTION: &str = r#"
const { storage } = require('./storage');

exports.handler = async (event) => {
  if (event.bucket === undefined) throw new TypeError("no 'bucket' in the event");
  const client = storage.get_instance();
  const chunks = [];
  for await (const chunk of await client.downloadStream(event.bucket, 'in/data.txt')) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString();
  const [writable, stored, key] = client.uploadStream(event.bucket, 'out/data.txt');
  writable.end(text.toUpperCase());
  await stored;
  return { result: { key, keys: await client.listDirectory(event.bucket, 'in/') },
           measurement: { download_size: text.length } };
};
"#;

const NODE_DRIVER: &str = r#"
const path = require('path');
const handler = require(path.join(process.argv[1], 'handler.js')); // node -e: arguments from argv[1]
const event = JSON.parse(process.argv[2]);
(async () => {
  const base64 = Buffer.from(JSON.stringify(event)).toString('base64');
  const replies = [
    await handler.handler({ body: base64, isBase64Encoded: true }, { awsRequestId: 'req-1' }),
    await handler.handler(event, { awsRequestId: 'req-2' }),
    await handler.handler({ size: 'test' }, { awsRequestId: 'req-3' }),
  ];
  console.log(JSON.stringify(replies));
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_wrapper_replies_as_sebs_expects() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    // The Python that has moto has boto3, as Lambda's runtime does. `moto_server` may be a link
    // to its virtual environment's script (CI links it alone onto PATH): follow it there.
    let moto_bin = std::fs::canonicalize(sebs_testkit::which("moto_server").unwrap()).unwrap();
    let python = moto_bin.with_file_name("python3");
    let run = WrapperRun::new(&moto, "python", "wrapper-python").await;
    std::fs::write(run.package.join("function/function.py"), PYTHON_FUNCTION).unwrap();
    std::fs::write(run.package.join("function/__init__.py"), "").unwrap();
    let mut command = Command::new(python);
    command.args(["-c", PYTHON_DRIVER]);
    let replies = run.replies(command, &moto);
    run.check(&replies, "KeyError: 'bucket'", "function.py")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodejs_wrapper_replies_as_sebs_expects() {
    let Some(node) = sebs_testkit::require("node", "apt-get install nodejs") else {
        return;
    };
    let sdk = std::env::var_os("SEBS_AWS_SDK_JS").map(PathBuf::from);
    let Some(sdk) = sdk.filter(|dir| dir.join("@aws-sdk/client-s3").is_dir()) else {
        sebs_testkit::skip(
            "SEBS_AWS_SDK_JS does not name a node_modules folder with @aws-sdk/client-s3 \
             (npm install @aws-sdk/client-s3@3; `bash .ci/run` installs it)",
        );
        return;
    };
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    let run = WrapperRun::new(&moto, "nodejs", "wrapper-nodejs").await;
    std::fs::write(run.package.join("function/function.js"), NODE_FUNCTION).unwrap();
    let mut command = Command::new(node);
    command.args(["-e", NODE_DRIVER]).env("NODE_PATH", sdk);
    let replies = run.replies(command, &moto);
    run.check(
        &replies,
        "TypeError: no 'bucket' in the event",
        "function.js",
    )
    .await;
}

/// A wrapper laid out as its package, with an input object in a bucket of its own.
struct WrapperRun {
    _tmp: tempfile::TempDir,
    package: PathBuf,
    instance_tmp: PathBuf,
    bucket: &'static str,
    storage: std::sync::Arc<dyn ObjectStorage>,
    scratch: PathBuf,
}

impl WrapperRun {
    async fn new(moto: &Moto, language: &str, bucket: &'static str) -> WrapperRun {
        let tmp = tempfile::tempdir().unwrap();
        let package = tmp.path().join("package");
        sebs_testkit::wrappers::lay_out("aws", language, &package);
        let section = json!({"endpoint_url": moto.endpoint,
            "credentials": {"access_key": "testing", "secret_key": "testing-secret"}});
        let aws =
            sebs_platform_aws::AwsPlatform::start(Some(&section), tmp.path(), Architecture::X64)
                .await
                .unwrap();
        let storage = aws.storage();
        storage.create_bucket(bucket).await.unwrap();
        let input = tmp.path().join("data.txt");
        std::fs::write(&input, "hello lambda").unwrap();
        storage.upload(bucket, "in/data.txt", &input).await.unwrap();
        let instance_tmp = tmp.path().join("instance-tmp");
        std::fs::create_dir_all(&instance_tmp).unwrap();
        WrapperRun {
            package,
            instance_tmp,
            bucket,
            storage,
            scratch: tmp.path().join("back.txt"),
            _tmp: tmp,
        }
    }

    /// Runs the driver `command` (its script already given) on the package with the event, as
    /// one instance with the AWS variables a function has; returns Lambda's three replies.
    fn replies(&self, mut command: Command, moto: &Moto) -> Vec<Value> {
        let event = json!({"bucket": self.bucket, "logs": {"bucket": self.bucket}});
        let out = command
            .arg(&self.package)
            .arg(event.to_string())
            .env("TMPDIR", &self.instance_tmp)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env("cold_start", "3")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The replies to: the event in a function URL's envelope (cold), as an SDK event (warm),
    /// and an event the benchmark fails on (`error`, raised in `source`).
    async fn check(&self, replies: &[Value], error: &str, source: &str) {
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
        let back = &self.scratch;
        self.storage
            .download(self.bucket, stored, back)
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(back).unwrap(), "HELLO LAMBDA");
        self.storage
            .download(self.bucket, "req-1.json", back)
            .await
            .unwrap();
        let log: Value = serde_json::from_str(&std::fs::read_to_string(back).unwrap()).unwrap();
        assert_eq!(log["measurement"]["download_size"], 12);

        // A benchmark that fails: a 500 with the error, and the instance is still known.
        let failed = body(2);
        assert_eq!(replies[2]["statusCode"], 500);
        assert_eq!(failed["error"], error, "{failed}");
        assert!(failed["traceback"].as_str().unwrap().contains(source));
        assert_eq!(failed["container_id"], container.as_str());
    }
}
