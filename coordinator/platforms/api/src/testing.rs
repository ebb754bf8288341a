//! The storage test suite every platform's [`ObjectStorage`] passes, against its real server
//! (the local directory, moto's S3, azurite, the GCS emulator). Enabled by the `testing` feature.
//!
//! It checks the behaviour the rest of sebs relies on: buckets are created idempotently, objects
//! round-trip byte for byte (nested keys, empty and multi-megabyte objects), an upload replaces
//! an object, `list` is a sorted string-prefix match, `remove_prefix` counts what it removed,
//! a missing object is `NotFound` for `download` and `None` for `object_size`, and keys that
//! could escape a bucket are refused before any request is made.

use std::path::Path;

use crate::storage::{ObjectStorage, StorageError};

/// Runs the whole suite in `bucket` (created if needed), which should be empty or new; panics
/// with a message naming the failed check.
pub async fn storage_suite(storage: &dyn ObjectStorage, bucket: &str) {
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path();
    storage.create_bucket(bucket).await.expect("create_bucket");
    storage
        .create_bucket(bucket)
        .await
        .expect("create_bucket of an existing bucket succeeds");

    let small = write(dir, "small.txt", b"hello storage");
    let empty = write(dir, "empty.bin", b"");
    // Several MiB, not a multiple of any usual part size, so multipart paths are exercised too.
    let big_bytes: Vec<u8> = (0..(5 * 1024 * 1024 + 12_345u32))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let big = write(dir, "big.bin", &big_bytes);

    let keys = [
        ("suite-0-input/a/x.txt", &small),
        ("suite-0-input/y.txt", &small),
        ("suite-0-input-extra/z.txt", &small),
        ("suite-0-output/empty.bin", &empty),
        ("suite-0-output/big.bin", &big),
    ];
    for (key, from) in &keys {
        storage
            .upload(bucket, key, from)
            .await
            .unwrap_or_else(|e| panic!("upload {key}: {e}"));
    }

    assert_eq!(
        size(storage, bucket, "suite-0-input/y.txt").await,
        Some(13),
        "object_size of an uploaded object"
    );
    assert_eq!(
        size(storage, bucket, "suite-0-output/empty.bin").await,
        Some(0)
    );
    assert_eq!(
        size(storage, bucket, "suite-0-output/big.bin").await,
        Some(big_bytes.len() as u64)
    );
    assert_eq!(
        size(storage, bucket, "suite-0-input/missing.txt").await,
        None,
        "object_size of a missing object is None"
    );

    let back = dir.join("back.bin");
    storage
        .download(bucket, "suite-0-output/big.bin", &back)
        .await
        .expect("download big.bin");
    assert!(
        std::fs::read(&back).expect("read download") == big_bytes,
        "a multi-megabyte object round-trips byte for byte"
    );
    storage
        .download(bucket, "suite-0-output/empty.bin", &back)
        .await
        .expect("download empty.bin");
    assert_eq!(std::fs::read(&back).expect("read download"), b"");
    match storage
        .download(bucket, "suite-0-input/missing.txt", &back)
        .await
    {
        Err(StorageError::NotFound { .. }) => {}
        other => panic!("download of a missing object: expected NotFound, got {other:?}"),
    }

    // An upload to an existing key replaces the object.
    let replacement = write(dir, "replacement.txt", b"replaced");
    storage
        .upload(bucket, "suite-0-input/y.txt", &replacement)
        .await
        .expect("upload over an existing object");
    storage
        .download(bucket, "suite-0-input/y.txt", &back)
        .await
        .expect("download the replaced object");
    assert_eq!(std::fs::read(&back).expect("read download"), b"replaced");

    assert_eq!(
        list(storage, bucket, "suite-0-input/").await,
        ["suite-0-input/a/x.txt", "suite-0-input/y.txt"],
        "list under a folder-like prefix, sorted"
    );
    assert_eq!(
        list(storage, bucket, "suite-0-input").await,
        [
            "suite-0-input-extra/z.txt",
            "suite-0-input/a/x.txt",
            "suite-0-input/y.txt"
        ],
        "a prefix is a string prefix, as in S3"
    );
    assert_eq!(list(storage, bucket, "").await.len(), keys.len());
    assert!(list(storage, bucket, "nothing-here/").await.is_empty());

    assert_eq!(
        storage
            .remove_prefix(bucket, "suite-0-input/")
            .await
            .expect("remove_prefix"),
        2
    );
    assert_eq!(
        storage
            .remove_prefix(bucket, "suite-0-input/")
            .await
            .expect("remove_prefix of nothing"),
        0
    );
    assert_eq!(
        list(storage, bucket, "").await,
        [
            "suite-0-input-extra/z.txt",
            "suite-0-output/big.bin",
            "suite-0-output/empty.bin"
        ]
    );

    for key in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
        match storage.upload(bucket, key, &small).await {
            Err(StorageError::InvalidKey { .. }) => {}
            other => panic!("upload to key {key:?}: expected InvalidKey, got {other:?}"),
        }
    }

    storage
        .remove_prefix(bucket, "")
        .await
        .expect("clean the bucket");
    assert!(list(storage, bucket, "").await.is_empty());
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test file");
    path
}

async fn size(storage: &dyn ObjectStorage, bucket: &str, key: &str) -> Option<u64> {
    storage
        .object_size(bucket, key)
        .await
        .unwrap_or_else(|e| panic!("object_size {key}: {e}"))
}

async fn list(storage: &dyn ObjectStorage, bucket: &str, prefix: &str) -> Vec<String> {
    storage
        .list(bucket, prefix)
        .await
        .unwrap_or_else(|e| panic!("list {prefix:?}: {e}"))
}
