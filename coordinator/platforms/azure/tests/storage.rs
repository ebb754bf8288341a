//! Blob storage against azurite, a real Blob service on 127.0.0.1.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use sebs_platform::{ObjectStorage, StorageError};
use sebs_platform_azure::blob::BlobStorage;
use sebs_platform_azure::sas::AccountKey;
use sebs_testkit::emulators::{azurite, AZURITE_ACCOUNT, AZURITE_KEY};

fn storage(endpoint: &str) -> BlobStorage {
    let key = AccountKey::new(AZURITE_ACCOUNT, AZURITE_KEY).expect("azurite's key");
    BlobStorage::new(endpoint, key).expect("blob storage")
}

#[tokio::test]
async fn blob_storage_passes_the_storage_suite_against_azurite() {
    let Some(azurite) = azurite() else { return };
    let store = storage(&azurite.blob_endpoint);
    sebs_platform::testing::storage_suite(&store, "sebs-suite").await;
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_the_service_with_its_reason() {
    let Some(azurite) = azurite() else { return };
    let key = AccountKey::new(AZURITE_ACCOUNT, "d3Jvbmcga2V5").expect("base64");
    let store = BlobStorage::new(&azurite.blob_endpoint, key).expect("blob storage");
    match store.create_bucket("sebs-denied").await {
        Err(StorageError::Service {
            operation, message, ..
        }) => {
            assert_eq!(operation, "create container");
            assert!(
                message.contains("403") || message.contains("AuthorizationFailure"),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn container_names_are_checked_before_any_request() {
    // No server: a request would fail with a connection error, not InvalidKey.
    let store = storage("http://127.0.0.1:9/devstoreaccount1");
    for name in ["Upper", "ab", "a--b", "-ab", "a_b"] {
        assert!(
            matches!(
                store.create_bucket(name).await,
                Err(StorageError::InvalidKey { .. })
            ),
            "{name}"
        );
    }
}
