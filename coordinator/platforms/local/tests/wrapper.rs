//! The local wrappers' storage (files under `SEBS_STORAGE_ROOT`, on the shared `sebs_storage`)
//! checked from both sides: what the wrappers write, sebs's Rust `DirStorage` reads. Docker's
//! wrappers are links to these.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use sebs_platform::ObjectStorage;
use sebs_platform_local::storage::DirStorage;
use sebs_testkit::wrappers::storage_check_both;

#[tokio::test]
async fn the_wrappers_storage_works_on_the_storage_folder() {
    for (program, hint) in [
        ("python3", "apt-get install python3"),
        ("node", "apt-get install nodejs"),
    ] {
        if sebs_testkit::require(program, hint).is_none() {
            return;
        }
    }
    let root = tempfile::tempdir().unwrap();
    let rust = DirStorage::new(root.path());
    rust.create_bucket("wrapper-check").await.unwrap();
    let env = [("SEBS_STORAGE_ROOT", root.path().to_str().unwrap())];

    let written = storage_check_both("local", "wrapper-check", &env);
    assert_eq!(rust.list("wrapper-check", "").await.unwrap(), written);
    for key in written.iter().filter(|k| k.ends_with("nested/b.bin")) {
        assert_eq!(
            rust.object_size("wrapper-check", key).await.unwrap(),
            Some(256 * 4100)
        );
    }
}
