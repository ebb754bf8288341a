//! The Google Cloud wrappers' storage (the JSON API: Python's standard library, Node.js's fetch)
//! against gcp-storage-emulator, checked from both sides: what the wrappers write, sebs's Rust
//! storage reads.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use sebs_platform::ObjectStorage;
use sebs_platform_gcp::storage::GcsStorage;
use sebs_testkit::emulators::gcs_emulator;
use sebs_testkit::wrappers::storage_check_both;

#[tokio::test]
async fn the_wrappers_storage_works_against_the_emulator() {
    let Some(emulator) = gcs_emulator() else {
        return;
    };
    let rust = GcsStorage::anonymous(&emulator.endpoint, "sebs-test");
    rust.create_bucket("wrapper-check").await.unwrap();
    let env = [("STORAGE_EMULATOR_HOST", emulator.endpoint.as_str())];

    let written = storage_check_both("gcp", "wrapper-check", &env);
    assert_eq!(rust.list("wrapper-check", "").await.unwrap(), written);
    for key in written.iter().filter(|k| k.ends_with("nested/b.bin")) {
        assert_eq!(
            rust.object_size("wrapper-check", key).await.unwrap(),
            Some(256 * 4100)
        );
    }
}
