//! SDK clients for the services sebs uses, made from the config and the credentials.
//!
//! sebs does not use `aws-config` (profiles, SSO, IMDS): credentials come from
//! `sebs_platform::credentials` (the environment, the config file or the cache), which keeps the
//! build small and the sources of a secret few and known.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use sebs_platform::credentials::{self, CredentialError, Credentials as Resolved};

use crate::config::{AwsConfig, CREDENTIAL_FIELDS};

/// Where and as whom to talk to AWS: enough to make any client, and nothing secret in `Debug`.
#[derive(Clone, Debug)]
pub struct Connection {
    pub region: String,
    pub endpoint_url: Option<String>,
    credentials: Credentials,
}

impl Connection {
    /// Resolves the credentials (environment, config file, cache) for `config`.
    pub fn new(config: &AwsConfig, cache_dir: &std::path::Path) -> Result<Self, CredentialError> {
        let resolved = credentials::resolve(
            "aws",
            &CREDENTIAL_FIELDS,
            config.credentials.as_ref(),
            cache_dir,
        )?;
        tracing::debug!(source = %resolved.source, region = %config.region, "aws credentials resolved");
        Ok(Connection::with_credentials(
            &config.region,
            config.endpoint_url.clone(),
            &resolved,
        ))
    }

    pub fn with_credentials(
        region: &str,
        endpoint_url: Option<String>,
        resolved: &Resolved,
    ) -> Self {
        let get = |name| resolved.get(name).map(|s| s.expose().to_string());
        let credentials = Credentials::new(
            get("access_key").unwrap_or_default(),
            get("secret_key").unwrap_or_default(),
            get("session_token"),
            None,
            "sebs",
        );
        Connection {
            region: region.to_string(),
            endpoint_url,
            credentials,
        }
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        self.lambda_with(Duration::from_secs(120), RetryConfig::standard())
    }

    /// A Lambda client that waits up to `read_timeout` for a reply and retries as told: the
    /// invoking trigger waits as long as the function may run and never retries (a retried
    /// invocation would be measured as one slow one).
    pub fn lambda_with(
        &self,
        read_timeout: Duration,
        retry: RetryConfig,
    ) -> aws_sdk_lambda::Client {
        let mut b = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new(self.region.clone()))
            .credentials_provider(self.credentials.clone())
            .http_client(https_client())
            .timeout_config(timeouts(read_timeout))
            .retry_config(retry);
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_lambda::Client::from_conf(b.build())
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(self.region.clone()))
            .credentials_provider(self.credentials.clone())
            .http_client(https_client())
            .timeout_config(timeouts(Duration::from_secs(300)));
        if let Some(url) = &self.endpoint_url {
            // Emulators serve buckets as paths, not as host names.
            b = b.endpoint_url(url).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        // IAM is global: it lives in us-east-1 whatever region the functions are in.
        let mut b = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .credentials_provider(self.credentials.clone())
            .http_client(https_client())
            .timeout_config(timeouts(Duration::from_secs(60)));
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_iam::Client::from_conf(b.build())
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        let mut b = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatchlogs::config::Region::new(
                self.region.clone(),
            ))
            .credentials_provider(self.credentials.clone())
            .http_client(https_client())
            .timeout_config(timeouts(Duration::from_secs(60)));
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_cloudwatchlogs::Client::from_conf(b.build())
    }
}

fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

fn timeouts(read: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(read)
        .build()
}
