//! The service account sebs acts as on Google Cloud, and its OAuth access tokens.
//!
//! The key file comes from `deployment.gcp.credentials`, else `GOOGLE_APPLICATION_CREDENTIALS`
//! (else SeBS's `GCP_SECRET_APPLICATION_CREDENTIALS`); a key read from either is copied to
//! `<cache>/credentials/gcp.json` (mode 0600, folder 0700), which later runs use when neither is
//! set. Tokens are made by `gcloud-auth` (a JWT signed with the key, exchanged at the key's
//! `token_uri`) and reused until they expire. The key's content is never logged or printed by
//! `Debug`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use gcloud_storage::client::google_cloud_auth::credentials::CredentialsFile;
use gcloud_storage::client::google_cloud_auth::project::Config;
use gcloud_storage::client::google_cloud_auth::token::DefaultTokenSourceProvider;
use token_source::{TokenSource, TokenSourceProvider};

const CLOUD_PLATFORM: [&str; 1] = ["https://www.googleapis.com/auth/cloud-platform"];

/// A service account key and the project sebs works in.
#[derive(Clone)]
pub struct ServiceAccount {
    /// The key file's text.
    key: String,
    pub email: String,
    pub project: String,
    pub key_path: PathBuf,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("project", &self.project)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// `path` from the config wins over the environment; `project` from the config over
    /// `GCP_PROJECT_NAME` over the key's `project_id`.
    pub fn resolve(path: Option<&Path>, project: Option<&str>, cache_dir: &Path) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let given = path
            .map(Path::to_path_buf)
            .or_else(|| env("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from))
            .or_else(|| env("GCP_SECRET_APPLICATION_CREDENTIALS").map(PathBuf::from));
        let cached = sebs_platform::credentials::cache_file(cache_dir, "gcp");
        let key_path = match given {
            Some(path) => {
                cache_key(&path, &cached)?;
                path
            }
            None if cached.is_file() => cached,
            None => bail!(
                "no Google Cloud credentials: set deployment.gcp.credentials or \
                 GOOGLE_APPLICATION_CREDENTIALS to a service account key file (none is cached \
                 in {})",
                cached.display()
            ),
        };
        let key = std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading the service account key {}", key_path.display()))?;
        let fields: serde_json::Value = serde_json::from_str(&key).map_err(|e| {
            // The parser's message could quote the key: keep only where it failed.
            anyhow::anyhow!(
                "{} is not a JSON key file (line {}, column {})",
                key_path.display(),
                e.line(),
                e.column()
            )
        })?;
        if fields["type"] != "service_account" {
            bail!(
                "{} is not a service account key (its `type` is {})",
                key_path.display(),
                fields["type"]
            );
        }
        let project = project
            .map(str::to_string)
            .or_else(|| env("GCP_PROJECT_NAME"))
            .or_else(|| fields["project_id"].as_str().map(str::to_string))
            .with_context(|| {
                format!(
                    "no Google Cloud project: set deployment.gcp.project_name, GCP_PROJECT_NAME, \
                     or use a key with project_id ({})",
                    key_path.display()
                )
            })?;
        Ok(ServiceAccount {
            email: fields["client_email"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            key,
            project,
            key_path,
        })
    }

    /// A source of `Bearer` tokens for Google's APIs; it signs in once now.
    pub async fn tokens(&self) -> Result<Tokens> {
        let file = CredentialsFile::new_from_str(&self.key)
            .await
            .with_context(|| format!("the service account key {}", self.key_path.display()))?;
        let provider = DefaultTokenSourceProvider::new_with_credentials(
            Config::default().with_scopes(&CLOUD_PLATFORM),
            Box::new(file),
        )
        .await
        .with_context(|| format!("signing in as {}", self.email))?;
        Ok(Tokens(provider.token_source()))
    }

    /// The key file's text, for the storage client.
    pub fn key_json(&self) -> &str {
        &self.key
    }
}

/// Copies the key at `from` to the cache file `to`, readable by its owner only, through a
/// private temporary file (the key is never in a file others can read).
fn cache_key(from: &Path, to: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let key = std::fs::read(from)
        .with_context(|| format!("reading the service account key {}", from.display()))?;
    if std::fs::read(to).ok().as_deref() == Some(key.as_slice()) {
        return Ok(());
    }
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("closing {}", dir.display()))?;
    let tmp = dir.join(format!(".gcp.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(&key)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("writing {}", to.display()))?;
    tracing::debug!(path = %to.display(), "service account key cached");
    Ok(())
}

/// OAuth access tokens of a service account.
#[derive(Clone, Debug)]
pub struct Tokens(Arc<dyn TokenSource>);

impl Tokens {
    /// `Bearer <token>`, valid for a while yet.
    pub async fn authorization(&self) -> Result<String> {
        self.0
            .token()
            .await
            .map_err(|e| anyhow::anyhow!("a Google access token: {e}"))
    }
}
