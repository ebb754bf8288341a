//! A fleet of real `sebs` processes for tests (STYLE §11): a coordinator and workers on
//! 127.0.0.1, each on port 0, their addresses read from what they print, killed on drop.
//!
//! The binary is the caller's (`env!("CARGO_BIN_EXE_sebs")` in the coordinator crate's tests).
//! TLS certificates (a CA, and a server certificate for 127.0.0.1 and localhost) and tokens are
//! made fresh for each fleet with rcgen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::Server;

/// How long a process may take to start and say where it listens.
const START: Duration = Duration::from_secs(60);

/// A CA, a server certificate it signed, and two tokens (the fleet's and a wrong one), as files.
#[derive(Debug)]
pub struct Credentials {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub token_file: PathBuf,
    pub wrong_token_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Credentials {
    pub fn generate() -> Self {
        Credentials::generate_for(&[])
    }

    /// As `generate`, the server certificate also valid for `hosts` (IP addresses or names).
    pub fn generate_for(hosts: &[&str]) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::Builder::new()
            .prefix("sebs-fleet-credentials-")
            .tempdir()
            .unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "sebs test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        names.extend(hosts.iter().map(|h| h.to_string()));
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "sebs coordinator");
        let cert = params.signed_by(&key, &ca).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Credentials {
            ca: write("ca.pem", &ca.pem()),
            cert: write("coordinator.pem", &cert.pem()),
            key: write("coordinator.key", &key.serialize_pem()),
            token_file: write("token", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
            wrong_token_file: write("wrong-token", "ffffffffffffffffffffffffffffffff"),
            _dir: dir,
        }
    }
}

/// How `Fleet::start_with` starts the coordinator.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// TLS with fresh certificates; else plain text (loopback only).
    pub tls: bool,
    /// `--listen`, `127.0.0.1:0` by default.
    pub listen: String,
    /// More names or addresses the server certificate is valid for.
    pub cert_hosts: Vec<String>,
    /// More arguments of `sebs coordinator`.
    pub coordinator_args: Vec<String>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            tls: false,
            listen: "127.0.0.1:0".into(),
            cert_hosts: Vec::new(),
            coordinator_args: Vec::new(),
        }
    }
}

/// A coordinator and its workers, as real processes.
#[derive(Debug)]
pub struct Fleet {
    bin: PathBuf,
    root: PathBuf,
    cache: PathBuf,
    pub credentials: Credentials,
    tls: bool,
    url: String,
    /// `None` only while the fleet is being made.
    coordinator: Option<Server>,
    workers: BTreeMap<String, Server>,
    results: tempfile::TempDir,
    /// Set for the coordinator and every worker (e.g. `SEBS_ETCD`).
    env: Vec<(String, String)>,
    /// The output of coordinators that were killed and started again.
    past_coordinators: String,
    /// More arguments of `sebs coordinator` (`FleetOptions::coordinator_args`).
    coordinator_args: Vec<String>,
}

impl Fleet {
    /// Starts `bin coordinator` on 127.0.0.1:0 with the catalogue at `root` and `cache` as its
    /// cache, over TLS or (`tls` false) plain text, and waits for its address.
    pub fn start(bin: &Path, root: &Path, cache: &Path, tls: bool) -> Fleet {
        let options = FleetOptions {
            tls,
            ..FleetOptions::default()
        };
        Fleet::start_with(bin, root, cache, &options, |_| {})
    }

    /// As `start`, with `env` set for the coordinator and every worker.
    pub fn start_with_env(
        bin: &Path,
        root: &Path,
        cache: &Path,
        tls: bool,
        env: &[(&str, &str)],
    ) -> Fleet {
        let options = FleetOptions {
            tls,
            ..FleetOptions::default()
        };
        Fleet::start_full(bin, root, cache, &options, env, |_| {})
    }

    /// As `start`, with `options`, and more of the coordinator's command (arguments,
    /// environment) set by `configure` (for its first start only).
    pub fn start_with(
        bin: &Path,
        root: &Path,
        cache: &Path,
        options: &FleetOptions,
        configure: impl FnOnce(&mut Command),
    ) -> Fleet {
        Fleet::start_full(bin, root, cache, options, &[], configure)
    }

    fn start_full(
        bin: &Path,
        root: &Path,
        cache: &Path,
        options: &FleetOptions,
        env: &[(&str, &str)],
        configure: impl FnOnce(&mut Command),
    ) -> Fleet {
        let tls = options.tls;
        let hosts: Vec<&str> = options.cert_hosts.iter().map(String::as_str).collect();
        let credentials = Credentials::generate_for(&hosts);
        let results = tempfile::Builder::new()
            .prefix("sebs-fleet-results-")
            .tempdir()
            .unwrap();
        let mut fleet = Fleet {
            bin: bin.to_path_buf(),
            root: root.to_path_buf(),
            cache: cache.to_path_buf(),
            credentials,
            tls,
            url: String::new(),
            coordinator: None,
            workers: BTreeMap::new(),
            results,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            past_coordinators: String::new(),
            coordinator_args: options.coordinator_args.clone(),
        };
        fleet.start_coordinator(&options.listen, configure);
        fleet
    }

    /// Starts the coordinator on `listen` and waits for the address it prints.
    fn start_coordinator(&mut self, listen: &str, configure: impl FnOnce(&mut Command)) {
        let mut command = Command::new(&self.bin);
        command
            .args(["coordinator", "--listen", listen, "--cache"])
            .arg(&self.cache)
            .args(&self.coordinator_args)
            .arg("--results-dir")
            .arg(self.results.path())
            .arg("--token-file")
            .arg(&self.credentials.token_file);
        if self.tls {
            command
                .arg("--tls-cert")
                .arg(&self.credentials.cert)
                .arg("--tls-key")
                .arg(&self.credentials.key);
        } else {
            command.arg("--plaintext");
        }
        command
            .current_dir(&self.root)
            .env("SEBS_ROOT", &self.root)
            .env_remove("SEBS_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        configure(&mut command);
        let coordinator = Server::start("sebs-coordinator", command);
        let line = wait_for_line(&coordinator, "listening on ", START);
        self.coordinator = Some(coordinator);
        self.url = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
    }

    /// Kills the coordinator as `kill -9` would and starts it again on the same address.
    pub fn restart_coordinator(&mut self) {
        if let Some(mut old) = self.coordinator.take() {
            old.kill();
            self.past_coordinators
                .push_str(&format!("== coordinator (killed)\n{}\n", old.log()));
        }
        let listen = self
            .url
            .split("://")
            .nth(1)
            .unwrap_or_else(|| panic!("no address in {}", self.url))
            .to_string();
        self.start_coordinator(&listen, |_| {});
    }

    /// Where the coordinator keeps its copy of each run's files (`<run id>/`).
    pub fn results_dir(&self) -> &Path {
        self.results.path()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// What a client or worker adds to reach the coordinator: its URL and credentials.
    pub fn client_args(&self, token_file: &Path) -> Vec<String> {
        let mut args = vec![
            "--coordinator".to_string(),
            self.url.clone(),
            "--token-file".to_string(),
            token_file.display().to_string(),
        ];
        if self.tls {
            args.extend([
                "--ca".to_string(),
                self.credentials.ca.display().to_string(),
            ]);
        } else {
            args.push("--plaintext".to_string());
        }
        args
    }

    /// `bin worker` for this fleet, with `token_file`.
    pub fn worker_command(&self, name: &str, region: &str, token_file: &Path) -> Command {
        self.worker_command_via(name, region, token_file, &self.url, &[])
    }

    /// `bin worker` reaching the coordinator at `url` (a relay in front of it, or one of its
    /// other addresses), run through `prefix` (e.g. `ip netns exec NS`) when not empty.
    pub fn worker_command_via(
        &self,
        name: &str,
        region: &str,
        token_file: &Path,
        url: &str,
        prefix: &[&str],
    ) -> Command {
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let mut client_args = self.client_args(token_file);
        client_args[1] = url.to_string();
        command
            .args(["worker", "--name", name, "--region", region])
            .args(client_args)
            .current_dir(&self.root)
            .env("SEBS_ROOT", &self.root)
            .env_remove("SEBS_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// `bin benchmark invoke ARGS` through this fleet with `token_file`, writing into `out_dir`.
    pub fn invoke_command(&self, token_file: &Path, args: &[&str], out_dir: &Path) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(["benchmark", "invoke"])
            .args(args)
            .args(self.client_args(token_file))
            .arg("--output-dir")
            .arg(out_dir)
            .current_dir(&self.root)
            .env("SEBS_ROOT", &self.root)
            .env_remove("SEBS_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts a worker with the fleet's token and waits until the coordinator has it.
    pub fn add_worker(&mut self, name: &str, region: &str) {
        let url = self.url.clone();
        self.add_worker_via(name, region, &url, &[]);
    }

    /// As `add_worker`, through `url` and `prefix` (see `worker_command_via`).
    pub fn add_worker_via(&mut self, name: &str, region: &str, url: &str, prefix: &[&str]) {
        let token_file = self.credentials.token_file.clone();
        let command = self.worker_command_via(name, region, &token_file, url, prefix);
        let worker = Server::start(&format!("sebs-worker-{name}"), command);
        wait_for_line(&worker, "attached to the coordinator", START);
        self.workers.insert(name.to_string(), worker);
    }

    /// Kills a worker as `kill -9` would.
    pub fn kill_worker(&mut self, name: &str) {
        if let Some(w) = self.workers.get_mut(name) {
            w.kill();
        }
    }

    pub fn worker(&self, name: &str) -> &Server {
        &self.workers[name]
    }

    pub fn coordinator(&self) -> &Server {
        self.coordinator
            .as_ref()
            .expect("the fleet has a coordinator")
    }

    pub fn coordinator_mut(&mut self) -> &mut Server {
        self.coordinator
            .as_mut()
            .expect("the fleet has a coordinator")
    }

    /// Every process's output, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut text = format!(
            "{}== coordinator\n{}",
            self.past_coordinators,
            self.coordinator().log()
        );
        for (name, w) in &self.workers {
            text.push_str(&format!("\n== worker {name}\n{}", w.log()));
        }
        text
    }
}

/// Every (shard, sequence) of a run's `ExecutionResult`s once, and every request id once:
/// nothing was counted twice.
pub fn assert_each_invocation_once(results: &[serde_json::Value]) {
    use std::collections::BTreeSet;
    let keys: BTreeSet<(u64, u64)> = results
        .iter()
        .map(|r| {
            (
                r["origin"]["shard"].as_u64().unwrap(),
                r["origin"]["sequence"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys.len(),
        results.len(),
        "a (shard, sequence) appears twice"
    );
    let ids: BTreeSet<&str> = results
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), results.len(), "request ids are unique");
}

/// The results of later attempts (work reassigned after a worker was lost): asserts there are
/// some and that none ran on `lost`. `logs` go into the failure message.
pub fn assert_reassigned_away<'a>(
    results: &'a [serde_json::Value],
    lost: &str,
    logs: &str,
) -> Vec<&'a serde_json::Value> {
    let reassigned: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r["origin"]["attempt"].as_u64() > Some(0))
        .collect();
    assert!(
        !reassigned.is_empty(),
        "{lost}'s work ran again elsewhere\n{logs}"
    );
    assert!(
        reassigned.iter().all(|r| r["origin"]["worker"] != lost),
        "no reassigned invocation ran on {lost}\n{logs}"
    );
    reassigned
}

/// Waits until `server` printed a line holding `needle`; returns that line, or panics with the
/// output so far (also when the process exited first).
pub fn wait_for_line(server: &Server, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = server.log().lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needle:?} within {timeout:?}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `command` to its end, killing it after `timeout` (the test then fails). Its output goes
/// to files, so that a chatty command never blocks on a full pipe.
pub fn run_bounded(mut command: Command, timeout: Duration) -> Output {
    use std::io::{Read, Seek};
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("start the command");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the command") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |f: &mut std::fs::File| {
        let mut bytes = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut bytes).unwrap();
        bytes
    };
    let (stdout, stderr) = (read(&mut out), read(&mut err));
    let Some(status) = status else {
        panic!(
            "{command:?} did not end within {timeout:?}:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}
