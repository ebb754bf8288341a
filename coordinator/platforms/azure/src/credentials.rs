//! The service principal sebs signs in to Azure with, and its access tokens.
//!
//! SeBS's variables `AZURE_SECRET_APPLICATION_ID`, `AZURE_SECRET_TENANT`,
//! `AZURE_SECRET_PASSWORD` (and the Azure SDKs' `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
//! `AZURE_CLIENT_SECRET`), with `AZURE_SUBSCRIPTION_ID`; else `deployment.azure.credentials`.
//! Tokens come from Microsoft Entra ID's client-credentials grant and are kept until a minute
//! before they expire. No secret is ever logged or printed by `Debug`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::CredentialsSection;

/// Who sebs is on Azure.
#[derive(Clone)]
pub struct ServicePrincipal {
    pub app_id: String,
    pub tenant: String,
    password: String,
    pub subscription_id: String,
}

impl std::fmt::Debug for ServicePrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicePrincipal")
            .field("app_id", &self.app_id)
            .field("tenant", &self.tenant)
            .field("password", &"***")
            .field("subscription_id", &self.subscription_id)
            .finish()
    }
}

impl ServicePrincipal {
    pub fn new(app_id: &str, tenant: &str, password: &str, subscription_id: &str) -> Self {
        ServicePrincipal {
            app_id: app_id.into(),
            tenant: tenant.into(),
            password: password.into(),
            subscription_id: subscription_id.into(),
        }
    }

    /// The environment first, then the config file's section. `subscription`, when given, is the
    /// subscription to work in whatever the sources say (a worker takes it from its trigger).
    pub fn resolve(
        section: Option<&CredentialsSection>,
        subscription: Option<&str>,
    ) -> Result<Self> {
        Self::resolve_with(section, subscription, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    fn resolve_with(
        section: Option<&CredentialsSection>,
        given_subscription: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let either = |a: &str, b: &str| env(a).or_else(|| env(b));
        let from_env = (
            either("AZURE_SECRET_APPLICATION_ID", "AZURE_CLIENT_ID"),
            either("AZURE_SECRET_TENANT", "AZURE_TENANT_ID"),
            either("AZURE_SECRET_PASSWORD", "AZURE_CLIENT_SECRET"),
        );
        let subscription = given_subscription
            .map(str::to_string)
            .or_else(|| env("AZURE_SUBSCRIPTION_ID"))
            .or_else(|| section.and_then(|s| s.subscription_id.clone()));
        let need_subscription = |s: Option<String>| {
            s.context(
                "no Azure subscription: set AZURE_SUBSCRIPTION_ID or \
                 deployment.azure.credentials.subscription_id",
            )
        };
        match (from_env, section) {
            ((Some(app), Some(tenant), Some(password)), _) => Ok(ServicePrincipal::new(
                &app,
                &tenant,
                &password,
                &need_subscription(subscription)?,
            )),
            ((None, None, None), Some(s)) => Ok(ServicePrincipal::new(
                &s.app_id,
                &s.tenant,
                &s.password,
                &need_subscription(subscription)?,
            )),
            ((None, None, None), None) => bail!(
                "no Azure credentials: set AZURE_SECRET_APPLICATION_ID, AZURE_SECRET_TENANT and \
                 AZURE_SECRET_PASSWORD (a service principal), or deployment.azure.credentials \
                 (appId, tenant, password) in the config file"
            ),
            ((app, tenant, password), _) => {
                let missing: Vec<&str> = [
                    (app.is_none(), "AZURE_SECRET_APPLICATION_ID"),
                    (tenant.is_none(), "AZURE_SECRET_TENANT"),
                    (password.is_none(), "AZURE_SECRET_PASSWORD"),
                ]
                .into_iter()
                .filter_map(|(missing, name)| missing.then_some(name))
                .collect();
                bail!(
                    "incomplete Azure credentials in the environment: {} not set",
                    missing.join(" and ")
                )
            }
        }
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
            ("client_secret", self.principal.password.as_str()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_wins_and_gaps_are_named() {
        let section = CredentialsSection {
            app_id: "file-app".into(),
            tenant: "file-tenant".into(),
            password: "file-secret".into(),
            subscription_id: Some("sub-file".into()),
        };
        let p = ServicePrincipal::resolve_with(
            Some(&section),
            None,
            env(&[
                ("AZURE_CLIENT_ID", "env-app"),
                ("AZURE_SECRET_TENANT", "env-tenant"),
                ("AZURE_SECRET_PASSWORD", "env-secret"),
            ]),
        )
        .unwrap();
        assert_eq!(p.app_id, "env-app");
        assert_eq!(p.subscription_id, "sub-file");
        assert!(!format!("{p:?}").contains("env-secret"));

        let p = ServicePrincipal::resolve_with(Some(&section), None, env(&[])).unwrap();
        assert_eq!(p.tenant, "file-tenant");

        let err = ServicePrincipal::resolve_with(None, None, env(&[("AZURE_SECRET_TENANT", "t")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AZURE_SECRET_APPLICATION_ID and AZURE_SECRET_PASSWORD"),
            "{err}"
        );
        let err = ServicePrincipal::resolve_with(None, None, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no Azure credentials"), "{err}");
        let no_subscription = CredentialsSection {
            subscription_id: None,
            ..section
        };
        let err = ServicePrincipal::resolve_with(Some(&no_subscription), None, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("AZURE_SUBSCRIPTION_ID"), "{err}");
    }
}
