//! S3 as sebs's [`ObjectStorage`].

use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use sebs_platform::{check_key, DownloadFile, ObjectStorage, Resource, ResourceLog, StorageError};

/// S3 buckets in one region. Buckets it creates are recorded in the resource log.
#[derive(Clone, Debug)]
pub struct S3Storage {
    client: aws_sdk_s3::Client,
    region: String,
    log: ResourceLog,
}

impl S3Storage {
    pub fn new(client: aws_sdk_s3::Client, region: &str, log: ResourceLog) -> Self {
        S3Storage {
            client,
            region: region.to_string(),
            log,
        }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Whether the bucket exists (and is reachable with these credentials).
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(s3_error(bucket, "", "HeadBucket", e)),
        }
    }

    /// Empties the bucket and deletes it; a bucket already gone is not an error.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        if !self.bucket_exists(bucket).await? {
            return Ok(());
        }
        self.remove_prefix(bucket, "").await?;
        match self.client.delete_bucket().bucket(bucket).send().await {
            Err(e) if status(&e) != Some(404) => Err(s3_error(bucket, "", "DeleteBucket", e)),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl ObjectStorage for S3Storage {
    async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        if self.bucket_exists(bucket).await? {
            return Ok(());
        }
        let mut request = self.client.create_bucket().bucket(bucket);
        // us-east-1 is S3's default location and must not be named.
        if self.region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => {}
            // Another run created it in the meantime: it is ours all the same.
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => return Ok(()),
            Err(e) => return Err(s3_error(bucket, "", "CreateBucket", e)),
        }
        tracing::info!(%bucket, region = %self.region, "created S3 bucket");
        self.log
            .record(Resource::new(
                "bucket",
                bucket,
                Some(format!("arn:aws:s3:::{bucket}")),
            ))
            .map_err(|e| io_error(bucket, std::io::Error::other(e)))
    }

    async fn upload(&self, bucket: &str, key: &str, from: &Path) -> Result<(), StorageError> {
        check_key(key)?;
        let body = ByteStream::from_path(from)
            .await
            .map_err(|e| StorageError::Io {
                path: from.to_path_buf(),
                source: std::io::Error::other(e),
            })?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(|e| s3_error(bucket, key, "PutObject", e))?;
        Ok(())
    }

    async fn download(&self, bucket: &str, key: &str, to: &Path) -> Result<(), StorageError> {
        check_key(key)?;
        let object = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(bucket, key, "GetObject", e))?;
        let mut file = DownloadFile::create(to).await?;
        let mut body = object.body;
        while let Some(chunk) = body.try_next().await.map_err(|e| StorageError::Io {
            path: to.to_path_buf(),
            source: std::io::Error::other(e),
        })? {
            file.write(&chunk).await?;
        }
        file.finish().await
    }

    async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StorageError> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(s3_error(bucket, key, "HeadObject", e)),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error(bucket, prefix, "ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        // S3 lists in UTF-8 byte order already; sorting keeps the promise for any server.
        keys.sort();
        Ok(keys)
    }

    async fn remove_prefix(&self, bucket: &str, prefix: &str) -> Result<usize, StorageError> {
        let keys = self.list(bucket, prefix).await?;
        // DeleteObjects takes at most 1000 keys a request.
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| io_error(bucket, std::io::Error::other(e)))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| io_error(bucket, std::io::Error::other(e)))?;
            let out = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| s3_error(bucket, prefix, "DeleteObjects", e))?;
            if let Some(failed) = out.errors().first() {
                return Err(io_error(
                    bucket,
                    std::io::Error::other(format!(
                        "DeleteObjects could not delete `{}`: {}",
                        failed.key().unwrap_or_default(),
                        failed.message().unwrap_or_default()
                    )),
                ));
            }
        }
        Ok(keys.len())
    }
}

/// The HTTP status of a service error, when the service answered.
pub(crate) fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn s3_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    bucket: &str,
    key: &str,
    operation: &str,
    e: SdkError<E, HttpResponse>,
) -> StorageError {
    if status(&e) == Some(404) && !key.is_empty() {
        return StorageError::NotFound {
            bucket: bucket.to_string(),
            key: key.to_string(),
        };
    }
    io_error(
        bucket,
        std::io::Error::other(format!("S3 {operation}: {}", crate::describe(&e))),
    )
}

fn io_error(bucket: &str, source: impl Into<std::io::Error>) -> StorageError {
    StorageError::Io {
        path: format!("s3://{bucket}").into(),
        source: source.into(),
    }
}
