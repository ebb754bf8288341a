//! The client side of SeBS's network experiments: the worker's servers (`sebs_worker::client_side`,
//! the ones `benchmark invoke` starts for 020/030/040), started where the invocations are sent
//! from, at an address the functions can reach.

use std::net::IpAddr;

use anyhow::{bail, Result};
use sebs_common::ClientSideKind;
use sebs_worker::client_side::{ClientSide, ClientSideOptions};

use super::backend::ExperimentBackend;

/// Where an experiment's functions reach its client sides: its `client-address` setting, if
/// given. `field` names the setting in errors.
#[derive(Clone, Copy, Debug)]
pub struct Reach {
    address: Option<IpAddr>,
    field: &'static str,
}

impl Reach {
    /// Reads an experiment's `client-address` setting.
    pub fn new(setting: Option<&str>, field: &'static str) -> Result<Self> {
        let address = match setting {
            None => None,
            Some(a) => match a.parse() {
                Ok(ip) => Some(ip),
                Err(_) => bail!("{field}: `{a}` is not an IP address"),
            },
        };
        Ok(Reach { address, field })
    }

    /// The address to give functions: the setting, else the one `side` listens on, unless that
    /// is unspecified (functions elsewhere need to be told this machine's address).
    fn ip_for(&self, side: &ClientSide) -> Result<IpAddr> {
        match self.address {
            Some(ip) => Ok(ip),
            None if side.address().ip().is_unspecified() => bail!(
                "{}: the functions run elsewhere and cannot reach this machine's loopback; \
                 give the address they can reach it at",
                self.field
            ),
            None => Ok(side.address().ip()),
        }
    }
}

/// A client side an experiment started, and the address its functions reach it at.
#[derive(Debug)]
pub struct Started {
    pub side: ClientSide,
    pub ip: IpAddr,
}

impl Started {
    /// The URL input.py is given (`SEBS_CLIENT_SIDE_URL`).
    pub fn url(&self) -> String {
        self.side.url(&self.ip.to_string())
    }

    pub fn port(&self) -> u16 {
        self.side.address().port()
    }
}

/// Starts a client side of `kind` through the backend; fails when the functions could not be
/// told where it is (the side stops as it is dropped).
pub async fn start(
    backend: &dyn ExperimentBackend,
    kind: ClientSideKind,
    options: &ClientSideOptions,
    reach: Reach,
) -> Result<Started> {
    let side = backend.start_client_side(kind, options).await?;
    let ip = reach.ip_for(&side)?;
    Ok(Started { side, ip })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    async fn side(bind: IpAddr) -> ClientSide {
        ClientSide::start(ClientSideKind::UdpEcho, bind, &Default::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn functions_elsewhere_need_to_be_told_the_address() {
        let anywhere = side(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).await;
        let field = "experiments.x.client-address";
        let err = Reach::new(None, field)
            .unwrap()
            .ip_for(&anywhere)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{err}");
        let given = Reach::new(Some("127.0.0.1"), field).unwrap();
        assert_eq!(given.ip_for(&anywhere).unwrap(), LOCALHOST);
        anywhere.stop().await;
        let local = side(LOCALHOST).await;
        assert_eq!(
            Reach::new(None, field).unwrap().ip_for(&local).unwrap(),
            LOCALHOST
        );
        local.stop().await;
    }

    #[test]
    fn a_bad_address_is_named() {
        let err = Reach::new(Some("my-laptop"), "experiments.x.client-address")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("experiments.x.client-address") && err.contains("my-laptop"),
            "{err}"
        );
    }
}
