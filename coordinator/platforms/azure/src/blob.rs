//! Azure Blob storage behind [`ObjectStorage`], through Microsoft's `azure_storage_blob` crate.
//!
//! A sebs bucket is a blob container of the storage account; keys are blob names. Requests carry
//! an account SAS that sebs signs with the account key ([`crate::sas`]) and renews before it
//! expires. The same code talks to Azure (`https://<account>.blob.core.windows.net/`) and to
//! azurite (`http://127.0.0.1:10000/devstoreaccount1/`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use azure_core::http::{RequestContent, StatusCode, Url};
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders, BlobContainerClientListBlobsOptions,
};
use azure_storage_blob::{BlobContainerClient, BlobServiceClient};
use futures::TryStreamExt;
use sebs_platform::{check_key, DownloadFile, ObjectStorage, StorageError};

use crate::sas::AccountKey;

/// How long one signature is valid; a client is rebuilt with a fresh one after half of it.
const SAS_LIFETIME: Duration = Duration::from_secs(2 * 3600);

pub struct BlobStorage {
    endpoint: Url,
    key: AccountKey,
    client: Mutex<Option<(Arc<BlobServiceClient>, Instant)>>,
}

impl std::fmt::Debug for BlobStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStorage")
            .field("endpoint", &self.endpoint.as_str())
            .field("account", &self.key.account)
            .finish_non_exhaustive()
    }
}

impl BlobStorage {
    /// `endpoint` is the account's blob service URL.
    pub fn new(text: &str, key: AccountKey) -> Result<Self, String> {
        let mut endpoint = Url::parse(text).map_err(|e| format!("blob endpoint `{text}`: {e}"))?;
        // Container names are pushed as path segments: no empty segment may come before them
        // (`http://127.0.0.1:10000/devstoreaccount1/` would give `devstoreaccount1//name`).
        endpoint
            .path_segments_mut()
            .map_err(|()| format!("blob endpoint `{text}` is not a base URL"))?
            .pop_if_empty();
        Ok(BlobStorage {
            endpoint,
            key,
            client: Mutex::new(None),
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn account_key(&self) -> &AccountKey {
        &self.key
    }

    /// The service client with a signature valid for at least another half lifetime.
    fn service(&self) -> Result<Arc<BlobServiceClient>, StorageError> {
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((client, made)) = slot.as_ref() {
            if made.elapsed() < SAS_LIFETIME / 2 {
                return Ok(client.clone());
            }
        }
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .extend_pairs(self.key.blob_sas(SystemTime::now(), SAS_LIFETIME));
        let client =
            BlobServiceClient::new(url, None, None).map_err(|e| StorageError::Service {
                operation: "connect",
                bucket: String::new(),
                message: e.to_string(),
            })?;
        let client = Arc::new(client);
        *slot = Some((client.clone(), Instant::now()));
        Ok(client)
    }

    fn container(&self, bucket: &str) -> Result<BlobContainerClient, StorageError> {
        check_container_name(bucket)?;
        Ok(self.service()?.blob_container_client(bucket))
    }
}

/// Container names: 3-63 lowercase letters, digits and single hyphens, starting and ending with
/// a letter or digit.
pub fn check_container_name(name: &str) -> Result<(), StorageError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidKey {
            key: name.to_string(),
            reason: "an Azure container name is 3-63 lowercase letters, digits and single hyphens",
        })
    }
}

fn service_error(operation: &'static str, bucket: &str, e: azure_core::Error) -> StorageError {
    StorageError::Service {
        operation,
        bucket: bucket.to_string(),
        message: describe(&e),
    }
}

/// The status, the service's error code and its message (the `<Message>` of the XML error body),
/// which the SDK's own `Display` leaves out.
fn describe(e: &azure_core::Error) -> String {
    let azure_core::error::ErrorKind::HttpResponse {
        status,
        error_code,
        raw_response,
    } = e.kind()
    else {
        return e.to_string();
    };
    let mut text = format!("HTTP {}", u16::from(*status));
    if let Some(code) = error_code {
        text.push_str(&format!(" {code}"));
    }
    let body = raw_response
        .as_ref()
        .map(|r| String::from_utf8_lossy(r.body().as_ref()).into_owned())
        .unwrap_or_default();
    if let Some(message) = body
        .split_once("<Message>")
        .and_then(|(_, rest)| rest.split_once("</Message>"))
        .map(|(m, _)| m.lines().next().unwrap_or(m).trim().to_string())
    {
        text.push_str(&format!(": {message}"));
    }
    text
}

fn is_status(e: &azure_core::Error, status: StatusCode) -> bool {
    e.http_status() == Some(status)
}

#[async_trait]
impl ObjectStorage for BlobStorage {
    async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        match self.container(bucket)?.create(None).await {
            Ok(_) => Ok(()),
            // ContainerAlreadyExists: creating is idempotent.
            Err(e) if is_status(&e, StatusCode::Conflict) => Ok(()),
            Err(e) => Err(service_error("create container", bucket, e)),
        }
    }

    async fn upload(&self, bucket: &str, key: &str, from: &Path) -> Result<(), StorageError> {
        check_key(key)?;
        let bytes = tokio::fs::read(from)
            .await
            .map_err(|source| StorageError::Io {
                path: from.to_path_buf(),
                source,
            })?;
        self.container(bucket)?
            .blob_client(key)
            .upload(RequestContent::from(bytes), None)
            .await
            .map(|_| ())
            .map_err(|e| service_error("upload", bucket, e))
    }

    async fn download(&self, bucket: &str, key: &str, to: &Path) -> Result<(), StorageError> {
        check_key(key)?;
        let reply = match self
            .container(bucket)?
            .blob_client(key)
            .download(None)
            .await
        {
            Ok(reply) => reply,
            Err(e) if is_status(&e, StatusCode::NotFound) => {
                return Err(StorageError::NotFound {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            Err(e) => return Err(service_error("download", bucket, e)),
        };
        let mut file = DownloadFile::create(to).await?;
        let mut body = reply.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| service_error("download", bucket, e))?
        {
            file.write(&chunk).await?;
        }
        file.finish().await
    }

    async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StorageError> {
        check_key(key)?;
        match self
            .container(bucket)?
            .blob_client(key)
            .get_properties(None)
            .await
        {
            Ok(props) => props
                .content_length()
                .map_err(|e| service_error("read blob properties", bucket, e)),
            Err(e) if is_status(&e, StatusCode::NotFound) => Ok(None),
            Err(e) => Err(service_error("read blob properties", bucket, e)),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
            ..Default::default()
        };
        let mut pager = self
            .container(bucket)?
            .list_blobs(Some(options))
            .map_err(|e| service_error("list", bucket, e))?;
        let mut keys = Vec::new();
        while let Some(item) = pager
            .try_next()
            .await
            .map_err(|e| service_error("list", bucket, e))?
        {
            if let Some(name) = item.name {
                keys.push(name);
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn remove_prefix(&self, bucket: &str, prefix: &str) -> Result<usize, StorageError> {
        let container = self.container(bucket)?;
        let mut removed = 0;
        for key in self.list(bucket, prefix).await? {
            match container.blob_client(&key).delete(None).await {
                Ok(_) => removed += 1,
                // Removed by someone else meanwhile (a concurrent run sharing the bucket).
                Err(e) if is_status(&e, StatusCode::NotFound) => {}
                Err(e) => return Err(service_error("delete", bucket, e)),
            }
        }
        Ok(removed)
    }
}
