//! The Azure wrappers' storage (Blob REST with Shared Key: Python's standard library, Node.js's
//! fetch and crypto) against azurite, checked from both sides: what the wrappers write, sebs's
//! Rust storage reads.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use sebs_platform::ObjectStorage;
use sebs_platform_azure::blob::BlobStorage;
use sebs_platform_azure::resources::connection_string;
use sebs_platform_azure::sas::AccountKey;
use sebs_testkit::emulators::{azurite, AZURITE_ACCOUNT, AZURITE_KEY};
use sebs_testkit::wrappers::storage_check_both;

#[tokio::test]
async fn the_wrappers_storage_works_against_azurite() {
    let Some(azurite) = azurite() else { return };
    let key = AccountKey::new(AZURITE_ACCOUNT, AZURITE_KEY).unwrap();
    let rust = BlobStorage::new(&azurite.blob_endpoint, key).unwrap();
    rust.create_bucket("wrapper-check").await.unwrap();
    let connection = connection_string(AZURITE_ACCOUNT, AZURITE_KEY, &azurite.blob_endpoint);
    let env = [("STORAGE_CONNECTION_STRING", connection.as_str())];

    let written = storage_check_both("azure", "wrapper-check", &env);
    assert_eq!(rust.list("wrapper-check", "").await.unwrap(), written);
    for key in written.iter().filter(|k| k.ends_with("nested/b.bin")) {
        assert_eq!(
            rust.object_size("wrapper-check", key).await.unwrap(),
            Some(256 * 4100)
        );
    }
}
