//! "Regions" as network namespaces on this machine: each one a namespace joined to the host by
//! a veth pair (host end `10.B.N.1/24`, namespace end `10.B.N.2/24`, default route through the
//! host end), with a network delay of its own. A process runs inside one through
//! `ip netns exec` (`Regions::prefix`). Everything is removed on drop, also when the test
//! fails.
//!
//! The delay is `tc qdisc … netem delay` on the namespace's end of its veth when the kernel has
//! netem: everything the namespace sends waits that long. Kernels without netem (some VMs'
//! kernels, like this project's CI machines) get the same one-way delay on one service instead:
//! a relay on the host end of the veth ([`Proxy::with_delay`]) holds what the namespace sends,
//! and an `iptables` DNAT rule inside the namespace sends its connections to the service there.
//! Traffic flows only between the namespaces and the host ends of their veths.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use crate::proxy::Proxy;

/// How a region's delay was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayKind {
    /// netem on the namespace's interface: everything it sends.
    Netem,
    /// A relay on the host with DNAT in the namespace: what it sends to one service.
    Relay,
}

#[derive(Debug)]
struct Namespace {
    name: String,
    host_if: String,
    host_ip: Ipv4Addr,
    ns_if: String,
}

/// Namespaces made for one test; deleted on drop.
#[derive(Debug)]
pub struct Regions {
    namespaces: Vec<Namespace>,
    relays: Vec<Proxy>,
}

impl Regions {
    /// `count` namespaces, or `None` (after `crate::skip`, which fails under
    /// `SEBS_TEST_REQUIRE=all`) when this machine cannot make them: not root, no `ip`.
    pub fn create(count: usize) -> Option<Regions> {
        crate::require("ip", "apt-get install iproute2")?;
        let pid = std::process::id();
        if let Err(e) = ip(&["netns", "add", &format!("sebs-probe-{pid}")]) {
            crate::skip(&format!(
                "cannot create network namespaces here ({e}); they need root"
            ));
            return None;
        }
        let _ = ip(&["netns", "del", &format!("sebs-probe-{pid}")]);
        let base = free_subnet();
        let mut regions = Regions {
            namespaces: Vec::new(),
            relays: Vec::new(),
        };
        for n in 1..=count {
            let ns = Namespace {
                name: format!("sebs-{pid}-{n}"),
                host_if: format!("sv{}h{n}", pid % 100_000),
                host_ip: Ipv4Addr::new(10, base, n as u8, 1),
                ns_if: format!("sv{}n{n}", pid % 100_000),
            };
            let ns_ip = Ipv4Addr::new(10, base, n as u8, 2);
            // Recorded first, so that drop removes whatever part was made.
            regions.namespaces.push(ns);
            let ns = regions.namespaces.last().unwrap();
            let inside = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &ns.name, "ip"];
                all.extend_from_slice(args);
                ip(&all)
            };
            let made = ip(&["netns", "add", &ns.name])
                .and_then(|_| {
                    ip(&[
                        "link",
                        "add",
                        &ns.host_if,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        &ns.ns_if,
                    ])
                })
                .and_then(|_| ip(&["link", "set", &ns.ns_if, "netns", &ns.name]))
                .and_then(|_| {
                    ip(&[
                        "addr",
                        "add",
                        &format!("{}/24", ns.host_ip),
                        "dev",
                        &ns.host_if,
                    ])
                })
                .and_then(|_| ip(&["link", "set", &ns.host_if, "up"]))
                .and_then(|_| inside(&["addr", "add", &format!("{ns_ip}/24"), "dev", &ns.ns_if]))
                .and_then(|_| inside(&["link", "set", &ns.ns_if, "up"]))
                .and_then(|_| inside(&["link", "set", "lo", "up"]))
                .and_then(|_| inside(&["route", "add", "default", "via", &ns.host_ip.to_string()]));
            if let Err(e) = made {
                panic!("cannot set up namespace {}: {e}", ns.name);
            }
        }
        Some(regions)
    }

    /// The host's address on region `i`'s veth (every namespace reaches every such address
    /// through its own veth, by its default route).
    pub fn host_ip(&self, i: usize) -> Ipv4Addr {
        self.namespaces[i].host_ip
    }

    /// The command prefix that runs a program inside region `i`.
    pub fn prefix(&self, i: usize) -> [&str; 4] {
        ["ip", "netns", "exec", &self.namespaces[i].name]
    }

    /// Delays what region `i` sends by `delay`: everything (netem), or, on a kernel without
    /// netem, its connections to `service` (a relay). `service` must be on the host.
    pub fn add_delay(&mut self, i: usize, delay: Duration, service: SocketAddr) -> DelayKind {
        let ns = &self.namespaces[i];
        let ms = format!("{}ms", delay.as_millis());
        let netem = ip(&[
            "netns", "exec", &ns.name, "tc", "qdisc", "add", "dev", &ns.ns_if, "root", "netem",
            "delay", &ms,
        ]);
        if netem.is_ok() {
            return DelayKind::Netem;
        }
        crate::require("iptables", "apt-get install iptables")
            .unwrap_or_else(|| panic!("no netem in this kernel ({netem:?}), and no iptables"));
        let relay = Proxy::with_delay(&format!("{}:0", ns.host_ip), service, delay);
        let to = relay.addr().to_string();
        let (host, port) = (service.ip().to_string(), service.port().to_string());
        ip(&[
            "netns",
            "exec",
            &ns.name,
            "iptables",
            "-t",
            "nat",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            &host,
            "--dport",
            &port,
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ])
        .unwrap_or_else(|e| panic!("cannot redirect {service} in {}: {e}", ns.name));
        self.relays.push(relay);
        DelayKind::Relay
    }
}

impl Drop for Regions {
    fn drop(&mut self) {
        self.relays.clear();
        for ns in &self.namespaces {
            // Deleting the namespace deletes its end of the veth, and so the pair.
            let _ = ip(&["netns", "del", &ns.name]);
            let _ = ip(&["link", "del", &ns.host_if]);
        }
    }
}

/// A second octet `B` such that no address of this machine is in 10.B.0.0/16.
fn free_subnet() -> u8 {
    let addresses = Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let start = 200 + (std::process::id() % 50) as u8;
    (0..50u8)
        .map(|k| 200 + (start - 200 + k) % 50)
        .find(|b| !addresses.contains(&format!(" 10.{b}.")))
        .expect("a free 10.B.0.0/16 for the test's namespaces")
}

/// Runs `ip args` (`ip netns exec NS …` runs other programs in a namespace).
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
