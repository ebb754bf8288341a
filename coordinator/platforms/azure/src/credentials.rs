//! The service principal sebs signs in to Azure with, and its access tokens.
//!
//! The principal comes from the shared credentials resolver: SeBS's variables
//! `AZURE_SECRET_APPLICATION_ID`, `AZURE_SECRET_TENANT`, `AZURE_SECRET_PASSWORD` with
//! `AZURE_SUBSCRIPTION_ID`, else `deployment.azure.credentials` (`appId`, `tenant`, `password`,
//! `subscription_id`), else `<cache>/credentials/azure.json`, where the first two are saved.
//! Tokens come from Microsoft Entra ID's client-credentials grant and are kept until a minute
//! before they expire. No secret is ever logged or printed by `Debug`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sebs_platform::credentials::{self, CredentialField, Secret};
use serde::Deserialize;
use tokio::sync::Mutex;

const FIELDS: [CredentialField; 4] = [
    CredentialField {
        name: "appId",
        env: "AZURE_SECRET_APPLICATION_ID",
        required: true,
    },
    CredentialField {
        name: "tenant",
        env: "AZURE_SECRET_TENANT",
        required: true,
    },
    CredentialField {
        name: "password",
        env: "AZURE_SECRET_PASSWORD",
        required: true,
    },
    CredentialField {
        name: "subscription_id",
        env: "AZURE_SUBSCRIPTION_ID",
        required: true,
    },
];

/// Who sebs is on Azure.
#[derive(Clone, Debug)]
pub struct ServicePrincipal {
    pub app_id: String,
    pub tenant: String,
    password: Secret,
    pub subscription_id: String,
}

impl ServicePrincipal {
    /// Resolves the principal (see the module doc); `section` is `deployment.azure.credentials`.
    pub fn resolve(section: Option<&serde_json::Value>, cache_dir: &Path) -> Result<Self> {
        let found = credentials::resolve("azure", &FIELDS, section, cache_dir)?;
        let field = |name: &str| {
            found
                .get(name)
                .cloned()
                .with_context(|| format!("azure credentials without {name}"))
        };
        Ok(ServicePrincipal {
            app_id: field("appId")?.expose().to_string(),
            tenant: field("tenant")?.expose().to_string(),
            password: field("password")?,
            subscription_id: field("subscription_id")?.expose().to_string(),
        })
    }
}

/// Access tokens of one service principal for one resource (`scope`), cached.
#[derive(Debug)]
pub struct TokenSource {
    principal: ServicePrincipal,
    login_endpoint: String,
    scope: String,
    http: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenSource {
    pub fn new(
        principal: ServicePrincipal,
        login_endpoint: &str,
        scope: &str,
        http: reqwest::Client,
    ) -> Self {
        TokenSource {
            principal,
            login_endpoint: login_endpoint.trim_end_matches('/').to_string(),
            scope: scope.to_string(),
            http,
            cached: Mutex::new(None),
        }
    }

    pub fn principal(&self) -> &ServicePrincipal {
        &self.principal
    }

    /// A bearer token valid for at least another minute.
    pub async fn token(&self) -> Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref() {
            if Instant::now() + Duration::from_secs(60) < *expires {
                return Ok(token.clone());
            }
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.login_endpoint, self.principal.tenant
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.principal.app_id.as_str()),
            ("client_secret", self.principal.password.expose()),
            ("scope", self.scope.as_str()),
        ];
        let reply = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .with_context(|| format!("signing in to Microsoft Entra ID at {url}"))?;
        let status = reply.status();
        let body = reply.bytes().await.unwrap_or_default();
        if !status.is_success() {
            // Entra ID's error codes (AADSTS...) say what is wrong; they never echo the secret.
            let reason = serde_json::from_slice::<TokenError>(&body)
                .map(|e| format!("{}: {}", e.error, e.error_description))
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            bail!(
                "service principal {} of tenant {} could not sign in (HTTP {}): {reason}",
                self.principal.app_id,
                self.principal.tenant,
                status.as_u16()
            );
        }
        let token: TokenReply = serde_json::from_slice(&body)
            .context("Microsoft Entra ID's token reply is not the expected JSON")?;
        let expires = Instant::now() + Duration::from_secs(token.expires_in);
        *cached = Some((token.access_token.clone(), expires));
        tracing::debug!(app = %self.principal.app_id, scope = %self.scope, expires_in = token.expires_in, "signed in to azure");
        Ok(token.access_token)
    }
}
