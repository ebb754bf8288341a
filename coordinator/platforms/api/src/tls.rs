//! TLS for the worker's HTTP trigger: rustls over the system's root certificates, HTTP/1.1 by
//! ALPN. The cloud platforms hand it to `HttpTrigger::with_tls` for their `https://` function
//! URLs; the worker itself stays free of a TLS stack.

use std::sync::Arc;

use async_trait::async_trait;
use rustls::pki_types::ServerName;
use sebs_worker::{Stream, StreamSecurer};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Verifies servers against the system's roots (and an extra root, for tests).
#[derive(Clone)]
pub struct Rustls {
    connector: TlsConnector,
}

impl std::fmt::Debug for Rustls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rustls").finish_non_exhaustive()
    }
}

impl Rustls {
    /// `extra_root` is a DER certificate trusted besides the system's.
    pub fn new(extra_root: Option<Vec<u8>>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped: a server none of the others signs then
        // fails its handshake with a message that says so.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(der) = extra_root {
            roots
                .add(der.into())
                .map_err(|e| format!("extra root certificate: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Rustls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Shared by every trigger of the process (loading the system's roots takes a while).
    pub fn shared() -> Result<Arc<dyn StreamSecurer>, String> {
        static SHARED: std::sync::OnceLock<Result<Rustls, String>> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| Rustls::new(None))
            .clone()
            .map(|r| Arc::new(r) as Arc<dyn StreamSecurer>)
    }
}

#[async_trait]
impl StreamSecurer for Rustls {
    async fn secure(&self, tcp: TcpStream, host: &str) -> Result<Box<dyn Stream>, String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host} failed: {e}"))?;
        Ok(Box::new(tls))
    }
}

/// An HTTP trigger for `url`: plain for `http://`, over [`Rustls::shared`] for `https://`.
pub fn http_trigger(
    url: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<sebs_worker::HttpTrigger> {
    if url.starts_with("https://") {
        let securer = Rustls::shared().map_err(|e| anyhow::anyhow!("TLS set-up: {e}"))?;
        Ok(sebs_worker::HttpTrigger::with_tls(url, timeout, securer)?)
    } else {
        Ok(sebs_worker::HttpTrigger::new(url, timeout)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_get_tls_and_others_are_checked() {
        let timeout = std::time::Duration::from_secs(1);
        assert!(http_trigger("https://example.invalid/api/handler", timeout).is_ok());
        assert!(http_trigger("http://127.0.0.1:9/", timeout).is_ok());
        let err = http_trigger("ftp://x/", timeout).unwrap_err().to_string();
        assert!(err.contains("only http:// and https://"), "{err}");
    }
}
