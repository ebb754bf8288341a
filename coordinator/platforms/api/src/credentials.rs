//! Platform credentials: taken from the environment or the config file, cached in the cache
//! folder (mode 0600) so later runs need neither, and never logged.
//!
//! A platform describes its credentials as a list of [`CredentialField`]s (a name in the config
//! file's `deployment.<platform>.credentials` object, an environment variable, required or not)
//! and calls [`resolve`]. The first source that has every required field wins, in this order:
//! the environment, the config file, the cache. A source that has some required fields but not
//! all is an error naming what is missing, never silently completed from another source.
//! Whatever did not come from the cache is written to `<cache>/credentials/<platform>.json`.
//!
//! Values are [`Secret`]s: their `Debug` prints `***`, they have no `Display` and no `Serialize`,
//! so a secret reaches a log only through an explicit [`Secret::expose`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A credential value. Printing it with `{:?}` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, to hand to an SDK. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One credential of a platform.
#[derive(Clone, Copy, Debug)]
pub struct CredentialField {
    /// Its name in `deployment.<platform>.credentials` and in the cache file.
    pub name: &'static str,
    /// The environment variable that carries it.
    pub env: &'static str,
    pub required: bool,
}

/// Where resolved credentials came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    ConfigFile,
    Cache,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialSource::Environment => "environment",
            CredentialSource::ConfigFile => "config file",
            CredentialSource::Cache => "cache",
        })
    }
}

/// A platform's resolved credentials, by field name.
#[derive(Clone, Debug)]
pub struct Credentials {
    values: BTreeMap<String, Secret>,
    pub source: CredentialSource,
}

impl Credentials {
    /// The value of a field, when it was given (required fields always are).
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no {platform} credentials: set {env}, or `deployment.{platform}.credentials` ({fields}) in the config file; none are cached in {cache}")]
    Missing {
        platform: String,
        env: String,
        fields: String,
        cache: PathBuf,
    },
    #[error("{platform} credentials from the {origin}: {message}")]
    Incomplete {
        platform: String,
        origin: CredentialSource,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Resolves `platform`'s credentials from the process environment, the config file's
/// `credentials` object (`config`) and the cache, and caches them (see the module doc).
pub fn resolve(
    platform: &str,
    fields: &[CredentialField],
    config: Option<&serde_json::Value>,
    cache_dir: &Path,
) -> Result<Credentials, CredentialError> {
    resolve_with_env(platform, fields, config, cache_dir, |name| {
        std::env::var(name).ok()
    })
}

/// [`resolve`] with the environment given as a lookup function (for tests).
pub fn resolve_with_env(
    platform: &str,
    fields: &[CredentialField],
    config: Option<&serde_json::Value>,
    cache_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Credentials, CredentialError> {
    let cache = cache_file(cache_dir, platform);
    let incomplete = |origin, message| CredentialError::Incomplete {
        platform: platform.to_string(),
        origin,
        message,
    };

    let from_env: BTreeMap<String, Secret> = fields
        .iter()
        .filter_map(|f| {
            env(f.env)
                .filter(|v| !v.is_empty())
                .map(|v| (f.name.to_string(), Secret(v)))
        })
        .collect();
    if let Some(values) = complete(fields, from_env, |f| f.env.to_string())
        .map_err(|m| incomplete(CredentialSource::Environment, m))?
    {
        return cached(values, CredentialSource::Environment, &cache);
    }

    if let Some(section) = config {
        let values = read_object(section, fields)
            .map_err(|m| incomplete(CredentialSource::ConfigFile, m))?;
        let prefix = format!("deployment.{platform}.credentials.");
        let label = |f: &CredentialField| format!("{prefix}{}", f.name);
        if let Some(values) = complete(fields, values, label)
            .map_err(|m| incomplete(CredentialSource::ConfigFile, m))?
        {
            return cached(values, CredentialSource::ConfigFile, &cache);
        }
    }

    if let Some(values) = read_cache(&cache, fields)? {
        return Ok(Credentials {
            values,
            source: CredentialSource::Cache,
        });
    }
    let names = |pick: fn(&CredentialField) -> &'static str| {
        fields
            .iter()
            .filter(|f| f.required)
            .map(pick)
            .collect::<Vec<_>>()
            .join(" and ")
    };
    Err(CredentialError::Missing {
        platform: platform.to_string(),
        env: names(|f| f.env),
        fields: names(|f| f.name),
        cache,
    })
}

/// `<cache>/credentials/<platform>.json`.
pub fn cache_file(cache_dir: &Path, platform: &str) -> PathBuf {
    cache_dir
        .join("credentials")
        .join(format!("{platform}.json"))
}

/// `Ok(None)` when the source has nothing; an error when it has some required fields but not all.
fn complete(
    fields: &[CredentialField],
    values: BTreeMap<String, Secret>,
    label: impl Fn(&CredentialField) -> String,
) -> Result<Option<BTreeMap<String, Secret>>, String> {
    if values.is_empty() {
        return Ok(None);
    }
    let missing: Vec<String> = fields
        .iter()
        .filter(|f| f.required && !values.contains_key(f.name))
        .map(&label)
        .collect();
    if missing.is_empty() {
        return Ok(Some(values));
    }
    if !fields
        .iter()
        .any(|f| f.required && values.contains_key(f.name))
    {
        // Only optional fields (say, a session token alone): this source has no credentials.
        return Ok(None);
    }
    Err(format!("{} is not set", missing.join(" and ")))
}

/// Reads a `{field: "value"}` object, refusing unknown fields and non-strings.
fn read_object(
    value: &serde_json::Value,
    fields: &[CredentialField],
) -> Result<BTreeMap<String, Secret>, String> {
    let Some(object) = value.as_object() else {
        return Err("`credentials` must be an object of strings".into());
    };
    let mut values = BTreeMap::new();
    for (name, v) in object {
        if !fields.iter().any(|f| f.name == name) {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            return Err(format!(
                "unknown field `{name}`, expected one of {}",
                known.join(", ")
            ));
        }
        match v.as_str() {
            Some("") => {}
            Some(s) => {
                values.insert(name.clone(), Secret(s.to_string()));
            }
            None => return Err(format!("`{name}` must be a string")),
        }
    }
    Ok(values)
}

fn read_cache(
    path: &Path,
    fields: &[CredentialField],
) -> Result<Option<BTreeMap<String, Secret>>, CredentialError> {
    let io = |source| CredentialError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    // A cache file someone made readable to others is closed again before it is used.
    let mode = fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "credential cache was readable by others; setting it to 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    let broken = |message: String| CredentialError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        // The parser's message could quote the file's content: keep only where it failed.
        .map_err(|e| {
            broken(format!(
                "not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
    let values = read_object(&value, fields).map_err(broken)?;
    complete(fields, values, |f| f.name.to_string()).map_err(broken)
}

/// Writes freshly resolved credentials to the cache (when they differ from it).
fn cached(
    values: BTreeMap<String, Secret>,
    source: CredentialSource,
    path: &Path,
) -> Result<Credentials, CredentialError> {
    let io = |source| CredentialError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = serde_json::to_string_pretty(
        &values
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect::<BTreeMap<_, _>>(),
    )
    .map_err(|e| io(std::io::Error::other(e)))?;
    if fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        // Written to a private temporary file and renamed: the secret is never in a file that
        // others can read, not even for a moment.
        let tmp = dir.join(format!(".{}.tmp", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, path).map_err(io)?;
        tracing::debug!(path = %path.display(), %source, "credentials cached");
    }
    Ok(Credentials { values, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: [CredentialField; 3] = [
        CredentialField {
            name: "access_key",
            env: "T_ACCESS",
            required: true,
        },
        CredentialField {
            name: "secret_key",
            env: "T_SECRET",
            required: true,
        },
        CredentialField {
            name: "session_token",
            env: "T_TOKEN",
            required: false,
        },
    ];

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_wins_and_is_cached_private() {
        let tmp = tempfile::tempdir().unwrap();
        let config = json!({"access_key": "file-id", "secret_key": "file-secret"});
        let c = resolve_with_env(
            "t",
            &FIELDS,
            Some(&config),
            tmp.path(),
            env(&[("T_ACCESS", "env-id"), ("T_SECRET", "env-secret")]),
        )
        .unwrap();
        assert_eq!(c.source, CredentialSource::Environment);
        assert_eq!(c.get("secret_key").unwrap().expose(), "env-secret");
        assert!(c.get("session_token").is_none());
        let file = cache_file(tmp.path(), "t");
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(file.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);

        // A later run with nothing set reads the cache.
        let c = resolve_with_env("t", &FIELDS, None, tmp.path(), env(&[])).unwrap();
        assert_eq!(c.source, CredentialSource::Cache);
        assert_eq!(c.get("access_key").unwrap().expose(), "env-id");
    }

    #[test]
    fn config_file_is_used_without_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let config =
            json!({"access_key": "file-id", "secret_key": "file-secret", "session_token": "tok"});
        let c = resolve_with_env("t", &FIELDS, Some(&config), tmp.path(), env(&[])).unwrap();
        assert_eq!(c.source, CredentialSource::ConfigFile);
        assert_eq!(c.get("session_token").unwrap().expose(), "tok");
    }

    #[test]
    fn half_given_credentials_are_errors_naming_what_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let err = resolve_with_env(
            "t",
            &FIELDS,
            None,
            tmp.path(),
            env(&[("T_ACCESS", "only-id")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("T_SECRET is not set"), "{err}");
        assert!(!err.contains("only-id"), "{err}");
        let config = json!({"access_key": "x"});
        let err = resolve_with_env("t", &FIELDS, Some(&config), tmp.path(), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("deployment.t.credentials.secret_key is not set"),
            "{err}"
        );
        let config = json!({"acess_key": "x"});
        let err = resolve_with_env("t", &FIELDS, Some(&config), tmp.path(), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `acess_key`"), "{err}");
        let err = resolve_with_env("t", &FIELDS, None, tmp.path(), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("T_ACCESS and T_SECRET"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let tmp = tempfile::tempdir().unwrap();
        let c = resolve_with_env(
            "t",
            &FIELDS,
            None,
            tmp.path(),
            env(&[("T_ACCESS", "id"), ("T_SECRET", "hunter2-secret")]),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn a_cache_readable_by_others_is_closed_before_use() {
        let tmp = tempfile::tempdir().unwrap();
        let file = cache_file(tmp.path(), "t");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, r#"{"access_key": "a", "secret_key": "b"}"#).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let c = resolve_with_env("t", &FIELDS, None, tmp.path(), env(&[])).unwrap();
        assert_eq!(c.source, CredentialSource::Cache);
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
