//! Cloud Storage against gcp-storage-emulator, a real JSON API server on 127.0.0.1.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use sebs_platform::{ObjectStorage, StorageError};
use sebs_platform_gcp::storage::GcsStorage;
use sebs_testkit::emulators::gcs_emulator;

#[tokio::test]
async fn gcs_storage_passes_the_storage_suite_against_the_emulator() {
    let Some(emulator) = gcs_emulator() else {
        return;
    };
    let store = GcsStorage::anonymous(&emulator.endpoint, "sebs-test");
    sebs_platform::testing::storage_suite(&store, "sebs-suite").await;
}

#[tokio::test]
async fn buckets_are_found_and_deleted_with_their_objects() {
    let Some(emulator) = gcs_emulator() else {
        return;
    };
    let store = GcsStorage::anonymous(&emulator.endpoint, "sebs-test");
    assert!(!store.bucket_exists("sebs-doomed").await.unwrap());
    store.create_bucket("sebs-doomed").await.unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    store
        .upload("sebs-doomed", "a/b.txt", file.path())
        .await
        .unwrap();
    assert!(store.bucket_exists("sebs-doomed").await.unwrap());
    store.delete_bucket("sebs-doomed").await.unwrap();
    assert!(!store.bucket_exists("sebs-doomed").await.unwrap());
    store
        .delete_bucket("sebs-doomed")
        .await
        .expect("deleting a deleted bucket");
}

#[tokio::test]
async fn a_missing_bucket_is_a_service_error_naming_it() {
    let Some(emulator) = gcs_emulator() else {
        return;
    };
    let store = GcsStorage::anonymous(&emulator.endpoint, "sebs-test");
    match store.list("sebs-never-created", "").await {
        Err(StorageError::Service {
            bucket, message, ..
        }) => {
            assert_eq!(bucket, "sebs-never-created");
            assert!(message.contains("404"), "{message}");
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

#[tokio::test]
async fn bucket_names_are_checked_before_any_request() {
    // Nothing listens on port 9: a request would fail to connect, not give InvalidKey.
    let store = GcsStorage::anonymous("http://127.0.0.1:9", "sebs-test");
    for name in ["Upper", "ab", "-ab", "ab-", "a/b"] {
        assert!(
            matches!(
                store.create_bucket(name).await,
                Err(StorageError::InvalidKey { .. })
            ),
            "{name}"
        );
    }
}
