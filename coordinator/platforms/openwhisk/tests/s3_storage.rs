//! The OpenWhisk platform's S3 storage against a real S3-compatible server (moto's).

use sebs_platform::ObjectStorage;
use sebs_platform_openwhisk::s3::S3Storage;

#[tokio::test]
async fn passes_the_storage_suite_on_an_s3_compatible_server() {
    let Some(s3) = sebs_testkit::moto::start() else {
        return;
    };
    let storage = S3Storage::new(&s3.endpoint, "sebs-test", "sebs-test-secret", "us-east-1")
        .unwrap_or_else(|e| panic!("{e}"));
    sebs_platform::testing::storage_suite(&storage, "suite-bucket").await;
}

#[tokio::test]
async fn a_bucket_outside_us_east_1_is_created_with_its_location() {
    let Some(s3) = sebs_testkit::moto::start() else {
        return;
    };
    let storage = S3Storage::new(
        &s3.endpoint,
        "sebs-test",
        "sebs-test-secret",
        "eu-central-1",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    storage
        .create_bucket("regional")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(storage
        .list("regional", "")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty());
}
