//! The Google Cloud wrapper's `storage.py` (the JSON API, standard library only) against
//! gcp-storage-emulator, checked from both sides: what Python writes, sebs's Rust storage reads.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use sebs_platform::ObjectStorage;
use sebs_platform_gcp::storage::GcsStorage;
use sebs_testkit::emulators::gcs_emulator;

#[tokio::test]
async fn the_python_wrapper_storage_works_against_the_emulator() {
    let Some(emulator) = gcs_emulator() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let rust = GcsStorage::anonymous(&emulator.endpoint, "sebs-test");
    rust.create_bucket("wrapper-check").await.unwrap();

    let output = Command::new("python3")
        .arg(root.join("tests/fixtures/storage_wrapper_check.py"))
        .arg(root.join("benchmarks/wrappers/gcp/python"))
        .arg("wrapper-check")
        .env("STORAGE_EMULATOR_HOST", &emulator.endpoint)
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
