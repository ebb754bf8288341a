//! Google Cloud Storage behind [`ObjectStorage`], through the JSON API with the `gcloud-storage`
//! crate.
//!
//! Why not the `google-cloud-storage` crate, whose name Google now owns: its object reads and
//! writes use the JSON API, but everything else (creating buckets, listing, deleting, reading an
//! object's metadata) goes through its `StorageControl` client, which speaks only gRPC. The
//! emulators that run offline (gcp-storage-emulator) speak only the JSON API, so that client
//! could not be tested here. `gcloud-storage` (the crate that held the name before) is JSON
//! throughout, takes an endpoint and can run without credentials against an emulator.

use std::path::Path;

use async_trait::async_trait;
use futures::TryStreamExt;
use gcloud_storage::client::{Client, ClientConfig};
use gcloud_storage::http::buckets::delete::DeleteBucketRequest;
use gcloud_storage::http::buckets::get::GetBucketRequest;
use gcloud_storage::http::buckets::insert::{
    BucketCreationConfig, InsertBucketParam, InsertBucketRequest,
};
use gcloud_storage::http::objects::delete::DeleteObjectRequest;
use gcloud_storage::http::objects::download::Range;
use gcloud_storage::http::objects::get::GetObjectRequest;
use gcloud_storage::http::objects::list::ListObjectsRequest;
use gcloud_storage::http::objects::upload::{UploadObjectRequest, UploadType};
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::Error as GcsError;
use sebs_platform::{check_key, DownloadFile, ObjectStorage, StorageError};

/// Cloud Storage's public endpoint (the JSON API lives under `/storage/v1`).
pub const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

#[derive(Clone)]
pub struct GcsStorage {
    client: Client,
    project: String,
    endpoint: String,
    /// Where new buckets are created (a region, or `US`).
    location: String,
}

impl std::fmt::Debug for GcsStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStorage")
            .field("endpoint", &self.endpoint)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl GcsStorage {
    /// A client without credentials, for an emulator at `endpoint` (`http://127.0.0.1:9023`).
    pub fn anonymous(endpoint: &str, project: &str) -> Self {
        let config = ClientConfig {
            storage_endpoint: endpoint.trim_end_matches('/').to_string(),
            project_id: Some(project.to_string()),
            ..ClientConfig::default()
        }
        .anonymous();
        GcsStorage {
            client: Client::new(config),
            project: project.to_string(),
            endpoint: endpoint.to_string(),
            location: "US".to_string(),
        }
    }

    /// A client that authenticates as the service account of `credentials_json` (the key file's
    /// text), against `endpoint`; new buckets go to `location`.
    pub async fn with_service_account(
        endpoint: &str,
        project: &str,
        location: &str,
        credentials_json: &str,
    ) -> Result<Self, String> {
        let credentials =
            gcloud_storage::client::google_cloud_auth::credentials::CredentialsFile::new_from_str(
                credentials_json,
            )
            .await
            .map_err(|e| format!("service account key: {e}"))?;
        let config = ClientConfig {
            storage_endpoint: endpoint.trim_end_matches('/').to_string(),
            ..ClientConfig::default()
        }
        .with_credentials(credentials)
        .await
        .map_err(|e| format!("Cloud Storage credentials: {e}"))?;
        Ok(GcsStorage {
            client: Client::new(config),
            project: project.to_string(),
            endpoint: endpoint.to_string(),
            location: location.to_string(),
        })
    }
}

impl GcsStorage {
    /// Whether the bucket exists.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError> {
        check_bucket_name(bucket)?;
        let request = GetBucketRequest {
            bucket: bucket.to_string(),
            ..Default::default()
        };
        match self.client.get_bucket(&request).await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(service_error("read bucket", bucket, e)),
        }
    }

    /// Empties the bucket and deletes it (nothing to do when it is gone).
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        if !self.bucket_exists(bucket).await? {
            return Ok(());
        }
        self.remove_prefix(bucket, "").await?;
        let request = DeleteBucketRequest {
            bucket: bucket.to_string(),
            ..Default::default()
        };
        match self.client.delete_bucket(&request).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(service_error("delete bucket", bucket, e)),
        }
    }
}

/// Bucket names: 3-63 lowercase letters, digits, `-`, `_` and `.`, starting and ending with a
/// letter or digit (names with dots may be longer on Google Cloud; sebs does not make those).
pub fn check_bucket_name(name: &str) -> Result<(), StorageError> {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && edge(name.bytes().next())
        && edge(name.bytes().last());
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidKey {
            key: name.to_string(),
            reason:
                "a Cloud Storage bucket name is 3-63 lowercase letters, digits, `-`, `_` and `.`, \
                     starting and ending with a letter or digit",
        })
    }
}

fn status(e: &GcsError) -> Option<u16> {
    match e {
        GcsError::Response(r) => Some(r.code),
        GcsError::HttpClient(e) => e.status().map(|s| s.as_u16()),
        _ => None,
    }
}

fn service_error(operation: &'static str, bucket: &str, e: GcsError) -> StorageError {
    let message = match &e {
        GcsError::Response(r) => format!("HTTP {}: {}", r.code, r.message),
        other => other.to_string(),
    };
    StorageError::Service {
        operation,
        bucket: bucket.to_string(),
        message,
    }
}

fn not_found(bucket: &str, key: &str) -> StorageError {
    StorageError::NotFound {
        bucket: bucket.to_string(),
        key: key.to_string(),
    }
}

#[async_trait]
impl ObjectStorage for GcsStorage {
    async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        check_bucket_name(bucket)?;
        let request = InsertBucketRequest {
            name: bucket.to_string(),
            param: InsertBucketParam {
                project: self.project.clone(),
                ..Default::default()
            },
            bucket: BucketCreationConfig {
                location: self.location.clone(),
                ..Default::default()
            },
        };
        match self.client.insert_bucket(&request).await {
            Ok(_) => Ok(()),
            // 409: the bucket exists (ours, from an earlier run): creating is idempotent.
            Err(e) if status(&e) == Some(409) => Ok(()),
            Err(e) => Err(service_error("create bucket", bucket, e)),
        }
    }

    async fn upload(&self, bucket: &str, key: &str, from: &Path) -> Result<(), StorageError> {
        check_bucket_name(bucket)?;
        check_key(key)?;
        let bytes = tokio::fs::read(from)
            .await
            .map_err(|source| StorageError::Io {
                path: from.to_path_buf(),
                source,
            })?;
        // A multipart upload (metadata and content in one request), as Google's own client
        // libraries send small objects. A plain media upload of an empty body would do on
        // Cloud Storage, but crashes gcp-storage-emulator.
        let object = Object {
            name: key.to_string(),
            content_type: Some("application/octet-stream".to_string()),
            ..Default::default()
        };
        let request = UploadObjectRequest {
            bucket: bucket.to_string(),
            ..Default::default()
        };
        self.client
            .upload_object(&request, bytes, &UploadType::Multipart(Box::new(object)))
            .await
            .map(|_| ())
            .map_err(|e| service_error("upload", bucket, e))
    }

    async fn download(&self, bucket: &str, key: &str, to: &Path) -> Result<(), StorageError> {
        check_bucket_name(bucket)?;
        check_key(key)?;
        let request = GetObjectRequest {
            bucket: bucket.to_string(),
            object: key.to_string(),
            ..Default::default()
        };
        let mut stream = match self
            .client
            .download_streamed_object(&request, &Range::default())
            .await
        {
            Ok(stream) => stream,
            Err(e) if status(&e) == Some(404) => return Err(not_found(bucket, key)),
            Err(e) => return Err(service_error("download", bucket, e)),
        };
        let mut file = DownloadFile::create(to).await?;
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| service_error("download", bucket, e))?
        {
            file.write(&chunk).await?;
        }
        file.finish().await
    }

    async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StorageError> {
        check_bucket_name(bucket)?;
        check_key(key)?;
        let request = GetObjectRequest {
            bucket: bucket.to_string(),
            object: key.to_string(),
            ..Default::default()
        };
        match self.client.get_object(&request).await {
            Ok(object) => Ok(Some(object.size.max(0) as u64)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(service_error("read object metadata", bucket, e)),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        check_bucket_name(bucket)?;
        let mut keys = Vec::new();
        let mut page_token = None;
        loop {
            let request = ListObjectsRequest {
                bucket: bucket.to_string(),
                prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
                page_token: page_token.take(),
                ..Default::default()
            };
            let page = self
                .client
                .list_objects(&request)
                .await
                .map_err(|e| service_error("list", bucket, e))?;
            keys.extend(page.items.unwrap_or_default().into_iter().map(|o| o.name));
            match page.next_page_token {
                Some(token) if !token.is_empty() => page_token = Some(token),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn remove_prefix(&self, bucket: &str, prefix: &str) -> Result<usize, StorageError> {
        let mut removed = 0;
        for key in self.list(bucket, prefix).await? {
            let request = DeleteObjectRequest {
                bucket: bucket.to_string(),
                object: key,
                ..Default::default()
            };
            match self.client.delete_object(&request).await {
                Ok(()) => removed += 1,
                // Removed by someone else meanwhile (a concurrent run sharing the bucket).
                Err(e) if status(&e) == Some(404) => {}
                Err(e) => return Err(service_error("delete", bucket, e)),
            }
        }
        Ok(removed)
    }
}
