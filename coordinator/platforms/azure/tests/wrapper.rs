//! The Azure wrapper's `storage.py` (Blob REST with Shared Key, standard library only) against
//! azurite, checked from both sides: what Python writes, sebs's Rust storage reads.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use sebs_platform::ObjectStorage;
use sebs_platform_azure::blob::BlobStorage;
use sebs_platform_azure::resources::connection_string;
use sebs_platform_azure::sas::AccountKey;
use sebs_testkit::emulators::{azurite, AZURITE_ACCOUNT, AZURITE_KEY};

#[tokio::test]
async fn the_python_wrapper_storage_works_against_azurite() {
    let Some(azurite) = azurite() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let key = AccountKey::new(AZURITE_ACCOUNT, AZURITE_KEY).unwrap();
    let rust = BlobStorage::new(&azurite.blob_endpoint, key).unwrap();
    rust.create_bucket("wrapper-check").await.unwrap();

    let output = Command::new("python3")
        .arg(root.join("tests/fixtures/storage_wrapper_check.py"))
        .arg(root.join("benchmarks/wrappers/azure/python"))
        .arg("wrapper-check")
        .env(
            "STORAGE_CONNECTION_STRING",
            connection_string(AZURITE_ACCOUNT, AZURITE_KEY, &azurite.blob_endpoint),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let written: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(written.len(), 5, "{written:?}");
    assert_eq!(rust.list("wrapper-check", "").await.unwrap(), written);
    let nested = written
        .iter()
        .find(|k| k.ends_with("nested/b.bin"))
        .unwrap();
    assert_eq!(
        rust.object_size("wrapper-check", nested).await.unwrap(),
        Some(256 * 4100)
    );
}
