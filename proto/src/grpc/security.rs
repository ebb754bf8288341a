//! Who may talk to the coordinator, and how: TLS (rustls) on every connection, and a shared
//! token, client certificates (mutual TLS), or both.
//!
//! Plain text is refused unless asked for explicitly (`plaintext`) on a loopback address, where
//! nothing crosses a network: a test, or a coordinator and its workers on one machine.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};
use tonic::{Request, Status};

/// Makes ring rustls's crypto provider for this process, unless one is chosen already. tonic
/// builds its TLS configurations with the process default, which rustls cannot pick by itself
/// once another crate of the build enables its aws-lc-rs backend as well.
pub(crate) fn use_ring() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is installed already, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The environment variable a token may come from instead of a file.
pub const TOKEN_ENV: &str = "SEBS_FLEET_TOKEN";

/// A shared secret every worker and client presents (`authorization: Bearer <token>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// At least 16 printable ASCII characters without spaces (it travels in a header).
    pub fn new(text: &str) -> Result<Self, SecurityError> {
        let text = text.trim();
        if text.len() < 16 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecurityError::Token(
                "expected at least 16 printable ASCII characters without spaces, e.g. from `openssl rand -hex 32`".into(),
            ));
        }
        Ok(Token(text.to_string()))
    }

    /// The token in `path` (surrounding whitespace ignored).
    pub fn from_file(path: &Path) -> Result<Self, SecurityError> {
        let text = read(path)?;
        let text = String::from_utf8(text)
            .map_err(|_| SecurityError::Token(format!("{}: not UTF-8 text", path.display())))?;
        Token::new(&text).map_err(|e| SecurityError::Token(format!("{}: {e}", path.display())))
    }

    /// The token of `--token-file`, else of [`TOKEN_ENV`], else none.
    pub fn from_file_or_env(path: Option<&Path>) -> Result<Option<Self>, SecurityError> {
        if let Some(path) = path {
            return Token::from_file(path).map(Some);
        }
        match std::env::var(TOKEN_ENV) {
            Ok(text) => Token::new(&text)
                .map(Some)
                .map_err(|e| SecurityError::Token(format!("{TOKEN_ENV}: {e}"))),
            Err(_) => Ok(None),
        }
    }

    /// Compares in time independent of where the first difference is.
    fn matches(&self, presented: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        let mut diff = mine.len() ^ presented.len();
        for (i, &b) in mine.iter().enumerate() {
            diff |= usize::from(b ^ presented.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read {0}")]
    Read(String),
    #[error("token: {0}")]
    Token(String),
    #[error("{0}")]
    Refused(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("coordinator url `{0}`: {1}")]
    Url(String, String),
}

fn read(path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|e| SecurityError::Read(format!("{}: {e}", path.display())))
}

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct KeyPair {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPair(<certificate and key>)")
    }
}

impl KeyPair {
    pub fn read(cert: &Path, key: &Path) -> Result<Self, SecurityError> {
        Ok(KeyPair {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }
}

/// How the coordinator's server accepts connections.
#[derive(Clone, Debug, Default)]
pub struct ServerSecurity {
    /// The server's certificate and key; `None` is plain text (loopback only).
    pub tls: Option<KeyPair>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    pub client_ca_pem: Option<Vec<u8>>,
    pub token: Option<Token>,
}

impl ServerSecurity {
    /// Refuses settings that would let anyone in, or let anything cross a network unencrypted.
    pub fn check(&self, listen: SocketAddr) -> Result<(), SecurityError> {
        if self.tls.is_none() && !listen.ip().is_loopback() {
            return Err(SecurityError::Refused(format!(
                "plain text on {listen}: plain text is only allowed on a loopback address (127.0.0.1, ::1); give --tls-cert and --tls-key"
            )));
        }
        if self.tls.is_none() && self.client_ca_pem.is_some() {
            return Err(SecurityError::Refused(
                "--client-ca needs TLS: give --tls-cert and --tls-key".into(),
            ));
        }
        if self.token.is_none() && self.client_ca_pem.is_none() {
            return Err(SecurityError::Refused(format!(
                "no credential: give --token-file (or {TOKEN_ENV}) for a shared token, or --client-ca for client certificates"
            )));
        }
        Ok(())
    }

    pub(crate) fn tls_config(&self) -> Option<ServerTlsConfig> {
        let pair = self.tls.as_ref()?;
        use_ring();
        let mut config =
            ServerTlsConfig::new().identity(Identity::from_pem(&pair.cert_pem, &pair.key_pem));
        if let Some(ca) = &self.client_ca_pem {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        Some(config)
    }

    pub(crate) fn interceptor(&self) -> CheckToken {
        CheckToken {
            token: self.token.clone(),
        }
    }
}

/// How a worker or client connects to the coordinator.
#[derive(Clone, Debug, Default)]
pub struct ClientSecurity {
    /// The CA that signed the coordinator's certificate (PEM); `None`: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate, for coordinators that require one.
    pub identity: Option<KeyPair>,
    pub token: Option<Token>,
    /// Allow an `http://` URL (plain text), only to a loopback address.
    pub plaintext: bool,
}

/// Where the coordinator is and how to reach it, checked.
#[derive(Clone, Debug)]
pub struct CoordinatorAddress {
    url: String,
    security: ClientSecurity,
}

/// How large one message may be: a job's payload (up to SeBS's 6 MB invocation-overhead
/// payloads) or a batch of records with kept replies.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;

impl CoordinatorAddress {
    /// `https://HOST:PORT`, or `http://127.0.0.1:PORT` with `plaintext`.
    pub fn new(url: &str, security: ClientSecurity) -> Result<Self, SecurityError> {
        let bad = |why: &str| SecurityError::Url(url.to_string(), why.to_string());
        let uri: http::Uri = url.parse().map_err(|_| bad("expected https://HOST:PORT"))?;
        let host = uri
            .host()
            .ok_or_else(|| bad("expected https://HOST:PORT"))?;
        match uri.scheme_str() {
            Some("https") => {
                if security.plaintext {
                    return Err(bad("--plaintext goes with an http:// URL, not https://"));
                }
            }
            Some("http") => {
                let loopback = host == "localhost"
                    || host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !security.plaintext {
                    return Err(bad("plain text needs --plaintext; use https:// for TLS"));
                }
                if !loopback {
                    return Err(bad("plain text is only allowed to a loopback address (127.0.0.1, ::1, localhost)"));
                }
            }
            _ => return Err(bad("expected https://HOST:PORT")),
        }
        Ok(CoordinatorAddress {
            url: url.to_string(),
            security,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn token(&self) -> Option<&Token> {
        self.security.token.as_ref()
    }

    /// A lazily connecting channel: the first call opens the connection (and the TLS handshake).
    pub(crate) fn channel(&self) -> Result<Channel, SecurityError> {
        let mut endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|e| SecurityError::Url(self.url.clone(), e.to_string()))?
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        if self.url.starts_with("https://") {
            use_ring();
            let mut tls = ClientTlsConfig::new();
            tls = match &self.security.ca_pem {
                Some(ca) => tls.ca_certificate(Certificate::from_pem(ca)),
                None => tls.with_native_roots(),
            };
            if let Some(pair) = &self.security.identity {
                tls = tls.identity(Identity::from_pem(&pair.cert_pem, &pair.key_pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| SecurityError::Tls(error_chain(&e)))?;
        }
        Ok(endpoint.connect_lazy())
    }

    /// Adds the token to every request.
    pub(crate) fn authorize(&self) -> Authorize {
        Authorize {
            header: self
                .token()
                .and_then(|t| MetadataValue::try_from(format!("Bearer {}", t.0)).ok()),
        }
    }
}

/// The client's interceptor: puts the token into each request's `authorization` header.
#[derive(Clone, Debug)]
pub(crate) struct Authorize {
    header: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Authorize {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            request.metadata_mut().insert("authorization", h.clone());
        }
        Ok(request)
    }
}

/// The server's interceptor, run before every handler: checks the token, when one is set.
#[derive(Clone, Debug)]
pub(crate) struct CheckToken {
    token: Option<Token>,
}

impl Interceptor for CheckToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        match presented {
            Some(p) if token.matches(p) => Ok(request),
            Some(_) => Err(Status::unauthenticated(
                "wrong fleet token: the coordinator expects the token of its --token-file",
            )),
            None => Err(Status::unauthenticated(format!(
                "no fleet token: give --token-file (or {TOKEN_ENV}) with the coordinator's token"
            ))),
        }
    }
}

/// An error with its sources, one after the other: transport errors hide the useful part
/// (refused connection, bad certificate) a few sources down.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token::new("0123456789abcdef0123").unwrap()
    }

    #[test]
    fn tokens_are_long_printable_and_compared_whole() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space in the middle!").is_err());
        let t = token();
        assert!(t.matches(b"0123456789abcdef0123"));
        assert!(!t.matches(b"0123456789abcdef012"));
        assert!(!t.matches(b"0123456789abcdef01234"));
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }

    #[test]
    fn a_server_needs_tls_off_loopback_and_some_credential() {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:7070".parse().unwrap();
        let plain = ServerSecurity {
            token: Some(token()),
            ..Default::default()
        };
        assert!(plain.check(loopback).is_ok());
        assert!(plain
            .check(public)
            .unwrap_err()
            .to_string()
            .contains("loopback"));
        let nothing = ServerSecurity::default();
        assert!(nothing
            .check(loopback)
            .unwrap_err()
            .to_string()
            .contains("no credential"));
    }

    #[test]
    fn plain_text_urls_need_the_flag_and_loopback() {
        let plain = ClientSecurity {
            plaintext: true,
            ..Default::default()
        };
        assert!(CoordinatorAddress::new("http://127.0.0.1:7070", plain.clone()).is_ok());
        assert!(CoordinatorAddress::new("http://[::1]:7070", plain.clone()).is_ok());
        let far = CoordinatorAddress::new("http://10.1.2.3:7070", plain.clone()).unwrap_err();
        assert!(far.to_string().contains("loopback"), "{far}");
        let unasked = CoordinatorAddress::new("http://127.0.0.1:7070", ClientSecurity::default())
            .unwrap_err();
        assert!(unasked.to_string().contains("--plaintext"), "{unasked}");
        assert!(CoordinatorAddress::new(
            "https://coordinator.example:7070",
            ClientSecurity::default()
        )
        .is_ok());
        assert!(CoordinatorAddress::new("ftp://x", ClientSecurity::default()).is_err());
    }
}
