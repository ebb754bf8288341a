//! The AWS platform against moto's server on 127.0.0.1: S3 storage, the deployment calls, the
//! resource record, CloudWatch REPORT lines. (moto cannot run the functions: it runs Lambda
//! code in Docker images pulled from a registry; invocations are covered by recorded-response
//! tests in the crate.)

// Test helpers: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use sebs_common::{Architecture, Language};
use sebs_platform::{FunctionSpec, Platform};
use sebs_platform_aws::functions::Deployed;
use sebs_platform_aws::package::LambdaLimits;
use sebs_platform_aws::AwsPlatform;
use serde_json::json;

async fn platform(endpoint: &str, cache: &Path) -> AwsPlatform {
    let section = json!({
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "credentials": {"access_key": "testing", "secret_key": "testing-secret"}
    });
    AwsPlatform::start(Some(&section), cache, Architecture::X64)
        .await
        .expect("the aws platform starts")
}

/// A package as the builder makes it: wrapper, benchmark, one dependency.
fn package(dir: &Path, marker: &str) {
    for (rel, text) in [
        (
            "handler.py",
            "def handler(event, context):\n    return {}\n",
        ),
        ("function/function.py", marker),
        (".python_packages/dep/__init__.py", "VALUE = 1\n"),
    ] {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn spec(name: &str, dir: &Path, hash: &str, memory_mb: u32) -> FunctionSpec {
    FunctionSpec {
        name: name.into(),
        language: Language::Python,
        language_version: "3.11".into(),
        package_dir: dir.to_path_buf(),
        package_hash: hash.into(),
        memory_mb,
        timeout: Duration::from_secs(30),
        environment: Default::default(),
    }
}

async fn configuration(
    aws: &AwsPlatform,
    name: &str,
) -> aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput {
    aws.lambda()
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_passes_the_storage_suite() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let aws = platform(&moto.endpoint, cache.path()).await;
    sebs_platform::testing::storage_suite(aws.storage().as_ref(), "sebs-suite-bucket").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_are_created_updated_and_configured() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let aws = platform(&moto.endpoint, cache.path()).await;
    let pkg = cache.path().join("pkg-a");
    package(&pkg, "def handler(event):\n    return {'v': 1}\n");
    let name = "sebs-110-dynamic-html-python-3-11";

    let (function, done) = aws
        .deploy_function(&spec(name, &pkg, "hash-a", 128))
        .await
        .unwrap();
    assert_eq!(done, Deployed::Created);
    assert!(function.url.starts_with("https://"), "{}", function.url);
    let conf = configuration(&aws, name).await;
    assert_eq!(conf.runtime().map(|r| r.as_str()), Some("python3.11"));
    assert_eq!(conf.handler(), Some("handler.handler"));
    assert_eq!((conf.memory_size(), conf.timeout()), (Some(128), Some(30)));
    assert!(conf.role().unwrap().contains(":role/sebs-lambda-role-"));
    let url = aws
        .lambda()
        .get_function_url_config()
        .function_name(name)
        .send()
        .await
        .unwrap();
    assert_eq!(url.function_url(), function.url);

    // The same package again: nothing to do, not even the URL.
    let (again, done) = aws
        .deploy_function(&spec(name, &pkg, "hash-a", 128))
        .await
        .unwrap();
    assert_eq!(done, Deployed::Unchanged);
    assert_eq!(again.url, function.url);

    // Only the memory changed: configuration only, the code stays.
    let (_, done) = aws
        .deploy_function(&spec(name, &pkg, "hash-a", 256))
        .await
        .unwrap();
    assert_eq!(done, Deployed::ConfigurationUpdated);
    let conf = configuration(&aws, name).await;
    assert_eq!(conf.memory_size(), Some(256));
    let sha_before = conf.code_sha256().unwrap().to_string();

    // New code: the code is replaced.
    let pkg_b = cache.path().join("pkg-b");
    package(&pkg_b, "def handler(event):\n    return {'v': 2}\n");
    let (_, done) = aws
        .deploy_function(&spec(name, &pkg_b, "hash-b", 256))
        .await
        .unwrap();
    assert_eq!(done, Deployed::CodeUpdated);
    let conf = configuration(&aws, name).await;
    assert_ne!(conf.code_sha256().unwrap(), sha_before);

    // Forcing cold starts changes the `cold_start` variable each time.
    for expected in ["1", "2"] {
        aws.enforce_cold_start(&function).await.unwrap();
        let conf = configuration(&aws, name).await;
        let vars = conf.environment().unwrap().variables().unwrap();
        assert_eq!(vars.get("cold_start").map(String::as_str), Some(expected));
    }

    // Lambda's memory floor is checked before anything is sent.
    let err = aws
        .deploy_function(&spec("sebs-small", &pkg, "h", 64))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 128 MB"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_zips_go_through_s3() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let aws = platform(&moto.endpoint, cache.path())
        .await
        .with_limits(LambdaLimits {
            direct_upload_bytes: 100,
            ..LambdaLimits::default()
        });
    let pkg = cache.path().join("pkg");
    package(&pkg, "def handler(event):\n    return {}\n");
    let (_, done) = aws
        .deploy_function(&spec("sebs-big", &pkg, "hash-big", 128))
        .await
        .unwrap();
    assert_eq!(done, Deployed::Created);
    let keys = aws
        .storage()
        .list(aws.benchmarks_bucket(), "sebs-code/")
        .await
        .unwrap();
    assert_eq!(keys, ["sebs-code/sebs-big/hash-big.zip"]);
    let conf = configuration(&aws, "sebs-big").await;
    assert!(conf.code_size() > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_are_listed_confirmed_and_removed() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let aws = platform(&moto.endpoint, cache.path()).await;
    assert!(aws.resources().await.unwrap().is_empty());
    aws.storage()
        .create_bucket(aws.benchmarks_bucket())
        .await
        .unwrap();
    let pkg = cache.path().join("pkg");
    package(&pkg, "def handler(event):\n    return {}\n");
    aws.deploy_function(&spec("sebs-res", &pkg, "h1", 128))
        .await
        .unwrap();

    let listed = aws.resources().await.unwrap();
    let kinds: Vec<(&str, bool)> = listed
        .iter()
        .map(|l| (l.resource.kind.as_str(), l.exists))
        .collect();
    assert_eq!(
        kinds,
        [("function", true), ("bucket", true), ("role", true)],
        "removal order, each confirmed"
    );
    assert_eq!(listed[0].resource.name, "sebs-res");
    assert_eq!(listed[1].resource.name, aws.benchmarks_bucket());

    // A resource deleted behind sebs's back is listed as gone.
    aws.lambda()
        .delete_function()
        .function_name("sebs-res")
        .send()
        .await
        .unwrap();
    let listed = aws.resources().await.unwrap();
    assert!(!listed[0].exists);

    // The bucket is emptied before it is removed.
    let file = cache.path().join("object.txt");
    std::fs::write(&file, "x").unwrap();
    aws.storage()
        .upload(aws.benchmarks_bucket(), "110-0-input/a.txt", &file)
        .await
        .unwrap();
    for l in &listed {
        aws.remove_resource(&l.resource).await.unwrap();
    }
    assert!(aws.resources().await.unwrap().is_empty());
    let iam_roles = aws_role_count(&moto.endpoint).await;
    assert_eq!(iam_roles, 0, "the role sebs made is gone");
    // A fresh platform on the same cache sees the same (empty) record.
    let again = platform(&moto.endpoint, cache.path()).await;
    assert!(again.resources().await.unwrap().is_empty());
}

async fn aws_role_count(endpoint: &str) -> usize {
    let creds =
        aws_credential_types::Credentials::new("testing", "testing-secret", None, None, "t");
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_iam::Client::from_conf(conf)
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .filter(|r| r.role_name().starts_with("sebs-"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_lines_are_read_back_from_cloudwatch_logs() {
    let Some(moto) = sebs_testkit::moto::start() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let aws = platform(&moto.endpoint, cache.path()).await;
    let pkg = cache.path().join("pkg");
    package(&pkg, "def handler(event):\n    return {}\n");
    let (function, _) = aws
        .deploy_function(&spec("sebs-logged", &pkg, "h1", 128))
        .await
        .unwrap();

    // What Lambda writes to the function's log group for two invocations (recorded lines).
    let logs = sebs_platform_aws::clients::Connection::with_credentials(
        "us-east-1",
        Some(moto.endpoint.clone()),
        &sebs_platform::credentials::resolve_with_env(
            "aws",
            &sebs_platform_aws::config::CREDENTIAL_FIELDS,
            Some(&json!({"access_key": "testing", "secret_key": "testing-secret"})),
            cache.path(),
            |_| None,
        )
        .unwrap(),
    )
    .logs();
    let group = "/aws/lambda/sebs-logged";
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name("2024/05/20/[$LATEST]0123456789abcdef")
        .send()
        .await
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lines = [
        "START RequestId: aaaa1111-0000-4000-8000-000000000001 Version: $LATEST",
        "END RequestId: aaaa1111-0000-4000-8000-000000000001",
        "REPORT RequestId: aaaa1111-0000-4000-8000-000000000001\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 51 MB\tInit Duration: 180.02 ms\t",
        "REPORT RequestId: bbbb2222-0000-4000-8000-000000000002\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 52 MB\t",
        "REPORT RequestId: cccc3333-0000-4000-8000-000000000003\tDuration: 9.99 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 52 MB\t",
    ];
    let mut put = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name("2024/05/20/[$LATEST]0123456789abcdef");
    for (i, line) in lines.iter().enumerate() {
        put = put.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now_ms + i as i64)
                .message(*line)
                .build()
                .unwrap(),
        );
    }
    put.send().await.unwrap();

    let now = now_ms as f64 / 1000.0;
    let ids = vec![
        "aaaa1111-0000-4000-8000-000000000001".to_string(),
        "bbbb2222-0000-4000-8000-000000000002".to_string(),
        "dddd4444-0000-4000-8000-000000000004".to_string(),
    ];
    let metrics = aws
        .provider_metrics_from_logs(&function, &ids, (now - 5.0, now + 5.0))
        .await
        .unwrap();
    assert_eq!(metrics.len(), 2, "the third id never logged; {metrics:?}");
    let cold = &metrics["aaaa1111-0000-4000-8000-000000000001"];
    assert_eq!(
        (cold.execution_us, cold.initialization_us),
        (12_340, 180_020)
    );
    assert_eq!(metrics["bbbb2222-0000-4000-8000-000000000002"].billed_ms, 2);
    // A function that never logged has no log group yet: no metrics, no error.
    let other = sebs_platform::DeployedFunction {
        name: "sebs-never-ran".into(),
        ..function.clone()
    };
    assert!(aws
        .provider_metrics_from_logs(&other, &ids, (now - 5.0, now + 5.0))
        .await
        .unwrap()
        .is_empty());
}
