//! Object storage on an S3-compatible store (Minio as SeBS deploys it for OpenWhisk, Ceph's
//! RGW, moto's server), over plain HTTP with path-style addresses (`/<bucket>/<key>`) and
//! Signature Version 4. Only what [`ObjectStorage`] needs: bucket creation, single-request
//! PUT/GET/HEAD, ListObjectsV2 with continuation, and DELETE.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sebs_platform::{check_key, ObjectStorage, Resource, ResourceLog, StorageError};
use tokio::net::TcpStream;

use crate::sigv4::{self, Credentials};

/// How many DELETEs `remove_prefix` has in flight at once.
const PARALLEL_DELETES: usize = 16;

#[derive(Clone, Debug)]
pub struct S3Storage {
    /// `host:port`.
    authority: String,
    access_key: String,
    secret_key: String,
    region: String,
    timeout: Duration,
    /// Where the buckets this storage creates are recorded, for `sebs resources`.
    log: Option<ResourceLog>,
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl S3Storage {
    /// `endpoint` is `http://HOST:PORT`.
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
    ) -> Result<Self, String> {
        let authority = endpoint
            .strip_prefix("http://")
            .map(|a| a.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| format!("`{endpoint}` is not an http://HOST:PORT endpoint"))?;
        Ok(S3Storage {
            authority: authority.to_string(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: region.into(),
            timeout: Duration::from_secs(300),
            log: None,
        })
    }

    /// Records every bucket this storage creates in `log`.
    pub fn recording_buckets(mut self, log: ResourceLog) -> Self {
        self.log = Some(log);
        self
    }

    /// Whether the bucket exists (`HEAD /<bucket>`).
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError> {
        check_bucket(bucket)?;
        let path = format!("/{bucket}");
        let reply = self.request(Method::HEAD, &path, &[], Bytes::new()).await?;
        match reply.status {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            _ => Err(self.refused(&path, &reply)),
        }
    }

    /// Removes every object of the bucket, then the bucket; one already gone is not an error.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        if !self.bucket_exists(bucket).await? {
            return Ok(());
        }
        self.remove_prefix(bucket, "").await?;
        let path = format!("/{bucket}");
        let reply = self
            .request(Method::DELETE, &path, &[], Bytes::new())
            .await?;
        if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(self.refused(&path, &reply))
    }

    fn failure(&self, what: &str, detail: impl std::fmt::Display) -> StorageError {
        StorageError::Io {
            path: PathBuf::from(format!("http://{}/{what}", self.authority)),
            source: std::io::Error::other(detail.to_string()),
        }
    }

    /// One signed request on a new connection.
    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Bytes,
    ) -> Result<Reply, StorageError> {
        let encoded_path = sigv4::encode_path(path);
        let payload_sha256 = sigv4::sha256_hex(&body);
        let signed = sigv4::sign(
            &sigv4::Request {
                method: method.as_str(),
                host: &self.authority,
                path: &encoded_path,
                query,
                payload_sha256: &payload_sha256,
            },
            &Credentials {
                access_key: &self.access_key,
                secret_key: &self.secret_key,
                region: &self.region,
            },
            SystemTime::now(),
        );
        let mut uri = encoded_path;
        if !query.is_empty() {
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", sigv4::encode_query(k), sigv4::encode_query(v)))
                .collect();
            uri = format!("{uri}?{}", pairs.join("&"));
        }
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&uri)
            .header(http::header::HOST, &self.authority);
        for (name, value) in &signed {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| self.failure(path, e))?;
        let exchange = async {
            let stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| e.to_string())?;
            stream.set_nodelay(true).ok();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(self.failure(path, e)),
            Err(_) => Err(self.failure(path, format!("no reply within {:?}", self.timeout))),
        }
    }

    fn refused(&self, path: &str, reply: &Reply) -> StorageError {
        let text = String::from_utf8_lossy(&reply.body);
        let code = xml_values(&text, "Code").into_iter().next();
        let message = xml_values(&text, "Message").into_iter().next();
        self.failure(
            path,
            format!(
                "{}{}{}",
                reply.status,
                code.map(|c| format!(" {c}")).unwrap_or_default(),
                message.map(|m| format!(": {m}")).unwrap_or_default()
            ),
        )
    }

    fn object_path(bucket: &str, key: &str) -> Result<String, StorageError> {
        check_bucket(bucket)?;
        check_key(key)?;
        Ok(format!("/{bucket}/{key}"))
    }
}

fn check_bucket(bucket: &str) -> Result<(), StorageError> {
    if bucket.is_empty() || bucket.contains('/') {
        return Err(StorageError::InvalidKey {
            key: bucket.into(),
            reason: "bucket names have no `/` and are not empty",
        });
    }
    Ok(())
}

#[async_trait]
impl ObjectStorage for S3Storage {
    async fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        if self.bucket_exists(bucket).await? {
            return Ok(());
        }
        let path = format!("/{bucket}");
        let body = if self.region == "us-east-1" {
            Bytes::new()
        } else {
            Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.region
            ))
        };
        let reply = self.request(Method::PUT, &path, &[], body).await?;
        let text = String::from_utf8_lossy(&reply.body);
        if !(reply.status.is_success() || text.contains("BucketAlreadyOwnedByYou")) {
            return Err(self.refused(&path, &reply));
        }
        if let Some(log) = &self.log {
            let id = format!("http://{}/{bucket}", self.authority);
            log.record(Resource::new("bucket", bucket, Some(id)))
                .map_err(|e| self.failure(&path, e))?;
        }
        Ok(())
    }

    async fn upload(&self, bucket: &str, key: &str, from: &Path) -> Result<(), StorageError> {
        let path = Self::object_path(bucket, key)?;
        let body = tokio::fs::read(from)
            .await
            .map_err(|source| StorageError::Io {
                path: from.to_path_buf(),
                source,
            })?;
        let reply = self
            .request(Method::PUT, &path, &[], Bytes::from(body))
            .await?;
        if reply.status.is_success() {
            return Ok(());
        }
        Err(self.refused(&path, &reply))
    }

    async fn download(&self, bucket: &str, key: &str, to: &Path) -> Result<(), StorageError> {
        let path = Self::object_path(bucket, key)?;
        let reply = self.request(Method::GET, &path, &[], Bytes::new()).await?;
        match reply.status {
            StatusCode::NOT_FOUND => Err(StorageError::NotFound {
                bucket: bucket.into(),
                key: key.into(),
            }),
            s if s.is_success() => {
                tokio::fs::write(to, &reply.body)
                    .await
                    .map_err(|source| StorageError::Io {
                        path: to.to_path_buf(),
                        source,
                    })
            }
            _ => Err(self.refused(&path, &reply)),
        }
    }

    async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StorageError> {
        let path = Self::object_path(bucket, key)?;
        let reply = self.request(Method::HEAD, &path, &[], Bytes::new()).await?;
        match reply.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(reply
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            _ => Err(self.refused(&path, &reply)),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        check_bucket(bucket)?;
        let path = format!("/{bucket}");
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type", "2".to_string()),
                ("prefix", prefix.to_string()),
            ];
            if let Some(t) = &token {
                query.push(("continuation-token", t.clone()));
            }
            let reply = self
                .request(Method::GET, &path, &query, Bytes::new())
                .await?;
            if !reply.status.is_success() {
                return Err(self.refused(&path, &reply));
            }
            let text = String::from_utf8_lossy(&reply.body);
            keys.extend(xml_values(&text, "Key"));
            let truncated =
                xml_values(&text, "IsTruncated").first().map(String::as_str) == Some("true");
            token = xml_values(&text, "NextContinuationToken")
                .into_iter()
                .next();
            if !truncated || token.is_none() {
                break;
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn remove_prefix(&self, bucket: &str, prefix: &str) -> Result<usize, StorageError> {
        let keys = self.list(bucket, prefix).await?;
        let mut removed = 0;
        for chunk in keys.chunks(PARALLEL_DELETES) {
            let deletes = chunk.iter().map(|key| async move {
                let path = format!("/{bucket}/{key}");
                let reply = self
                    .request(Method::DELETE, &path, &[], Bytes::new())
                    .await?;
                if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
                    Ok(())
                } else {
                    Err(self.refused(&path, &reply))
                }
            });
            for outcome in futures_util::future::join_all(deletes).await {
                outcome?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The text of every `<tag>...</tag>` in an S3 XML reply, unescaped. (S3's replies are flat
/// enough that this needs no XML parser: `Key`, `Code`, `IsTruncated`, ... never nest.)
fn xml_values(text: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut values = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        values.push(unescape(&after[..end]));
        rest = &after[end + close.len()..];
    }
    values
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_and_continuation_from_a_list_reply() {
        let reply = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name><Prefix>p</Prefix>\
            <KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>\
            <Contents><Key>p/a&amp;b.txt</Key><Size>3</Size></Contents>\
            <Contents><Key>p/c.txt</Key><Size>0</Size></Contents>\
            <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\
            </ListBucketResult>";
        assert_eq!(xml_values(reply, "Key"), ["p/a&b.txt", "p/c.txt"]);
        assert_eq!(xml_values(reply, "IsTruncated"), ["true"]);
        assert_eq!(
            xml_values(reply, "NextContinuationToken"),
            ["1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="]
        );
    }

    #[test]
    fn endpoints_must_be_plain_http_host_and_port() {
        assert!(S3Storage::new("http://127.0.0.1:9000", "a", "b", "us-east-1").is_ok());
        assert!(S3Storage::new("https://s3.example", "a", "b", "us-east-1").is_err());
        assert!(S3Storage::new("http://h:1/path", "a", "b", "us-east-1").is_err());
    }
}
