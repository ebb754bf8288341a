//! What a benchmark needs around its function during `benchmark invoke`: the programs it runs
//! (`programs` of config.json), the client side it talks to (`client_side`), and the objects it
//! writes to storage, downloaded for the user and for `validate_output`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use sebs_common::{Benchmark, ClientSideKind};
use sebs_platform::ObjectStorage;
use sebs_worker::client_side::{ClientSide, ClientSideOptions};

/// Where client sides are reached. Command-line options of `benchmark invoke` and `regression`.
#[derive(Clone, Debug, Default, Args)]
pub struct ClientSideArgs {
    /// Host name or address at which functions reach the client sides this run starts (020,
    /// 030, 040, 120) [default: 127.0.0.1, and they listen on loopback only; any other value
    /// makes them listen on every interface].
    #[arg(long)]
    pub client_host: Option<String>,
    /// Base URL that serves 120.uploader's generated files (`<cache>/data/120.uploader/`), used
    /// instead of starting a local file server: for functions that cannot reach this machine.
    #[arg(long)]
    pub data_url: Option<String>,
}

/// Fails naming every program of `programs` that is not on `PATH`.
pub fn check_programs(benchmark: &Benchmark) -> Result<()> {
    let missing: Vec<&str> = benchmark
        .config
        .programs
        .iter()
        .map(String::as_str)
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        bail!(
            "benchmark {} runs {}, which {} not on PATH (on Debian: apt-get install {})",
            benchmark.name,
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            missing.join(" ")
        );
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The benchmark's client side while the run goes on.
#[derive(Debug, Default)]
pub struct RunningClientSide {
    server: Option<ClientSide>,
    url: Option<String>,
}

impl RunningClientSide {
    /// Starts the client side `config.json` names, if any. `data_dir` is the benchmark's
    /// generated data, which an `http-files` client side serves.
    pub async fn start(
        benchmark: &Benchmark,
        args: &ClientSideArgs,
        data_dir: &Path,
    ) -> Result<Self> {
        let Some(kind) = benchmark.config.client_side else {
            return Ok(RunningClientSide::default());
        };
        if kind == ClientSideKind::HttpFiles {
            if let Some(url) = &args.data_url {
                let url = url.trim_end_matches('/').to_string();
                tracing::info!(%url, "serving no files: functions fetch from --data-url");
                return Ok(RunningClientSide {
                    server: None,
                    url: Some(url),
                });
            }
        }
        let host = args.client_host.as_deref().unwrap_or("127.0.0.1");
        let loopback = host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(host == "localhost");
        let bind = if loopback {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let options = ClientSideOptions {
            files: Some(data_dir.to_path_buf()),
            ..Default::default()
        };
        let server = ClientSide::start(kind, bind, &options)
            .await
            .with_context(|| format!("starting the {} client side", kind.as_str()))?;
        let url = server.url(host);
        tracing::info!(kind = kind.as_str(), %url, "client side started");
        Ok(RunningClientSide {
            server: Some(server),
            url: Some(url),
        })
    }

    /// The URL functions are given (`SEBS_CLIENT_SIDE_URL` of input.py).
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Stops the server and writes what it recorded to `<out>/client-side/`.
    pub async fn finish(self, out: &Path) -> Result<Vec<PathBuf>> {
        let Some(server) = self.server else {
            return Ok(Vec::new());
        };
        let dir = out.join("client-side");
        let log = server.stop().await;
        log.write_to(&dir)
            .with_context(|| format!("writing the client side's records to {}", dir.display()))
    }
}

/// Downloads what the function wrote under its output `prefixes` to `<out>/outputs/`, and
/// returns that folder: always for benchmarks whose outputs are their measurements (the UDP
/// benchmarks' CSVs), and whenever outputs are validated.
pub async fn keep_outputs(
    benchmark: &Benchmark,
    validate: bool,
    storage: &dyn ObjectStorage,
    bucket: &str,
    prefixes: &[String],
    out: &Path,
) -> Result<PathBuf> {
    let dir = out.join("outputs");
    if validate || benchmark.config.client_side == Some(ClientSideKind::UdpEcho) {
        let n = download_outputs(storage, bucket, prefixes, &dir).await?;
        tracing::info!(objects = n, dir = %dir.display(), "outputs downloaded");
    }
    Ok(dir)
}

/// Downloads every object under the output `prefixes` of `bucket` to `<dir>/<key>`; returns
/// how many.
pub async fn download_outputs(
    storage: &dyn ObjectStorage,
    bucket: &str,
    prefixes: &[String],
    dir: &Path,
) -> Result<usize> {
    let mut count = 0;
    for prefix in prefixes {
        for key in storage.list(bucket, &format!("{prefix}/")).await? {
            let to = key
                .split('/')
                .fold(dir.to_path_buf(), |p, part| p.join(part));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            storage
                .download(bucket, &key, &to)
                .await
                .with_context(|| format!("downloading output {bucket}/{key}"))?;
            count += 1;
        }
    }
    Ok(count)
}

/// What a benchmark needs beyond its code, for `benchmark list`: platform modules, its client
/// side and the programs it runs, then the dependencies each language installs.
pub fn needs(benchmark: &Benchmark) -> (String, Vec<String>) {
    let c = &benchmark.config;
    let mut needs: Vec<String> = c.modules.clone();
    if let Some(kind) = c.client_side {
        needs.push(format!("client side {}", kind.as_str()));
    }
    if !c.programs.is_empty() {
        needs.push(format!("programs {}", c.programs.join(" ")));
    }
    let mut deps = Vec::new();
    for language in [sebs_common::Language::Python, sebs_common::Language::Nodejs] {
        let dir = benchmark.language_dir(language);
        if !benchmark.supports(language) {
            continue;
        }
        let mut names = dependency_names(&dir, language);
        if dir.join("package.sh").is_file() {
            names.push("+ what package.sh installs".into());
        }
        if !names.is_empty() {
            deps.push(format!("{language}: {}", names.join(", ")));
        }
    }
    let needs = if needs.is_empty() {
        "-".to_string()
    } else {
        needs.join(", ")
    };
    (needs, deps)
}

/// Package names of `requirements.txt` or `package.json`'s dependencies.
fn dependency_names(dir: &Path, language: sebs_common::Language) -> Vec<String> {
    match language {
        sebs_common::Language::Python => std::fs::read_to_string(dir.join("requirements.txt"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split(|c: char| "=<>!~;[ ".contains(c))
                    .next()
                    .unwrap_or(l)
                    .to_string()
            })
            .collect(),
        sebs_common::Language::Nodejs => std::fs::read(dir.join("package.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v["dependencies"]
                    .as_object()
                    .map(|d| d.keys().cloned().collect())
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sebs_platform_local::storage::DirStorage;

    #[test]
    fn dependency_names_read_both_languages() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("requirements.txt"),
            "# a comment\npillow==11.3.0\nsquiggle>=0.3 ; python_version >= '3.8'\n\ntorch[cpu]~=2.1  # note\n",
        )
        .unwrap();
        let python = dependency_names(tmp.path(), sebs_common::Language::Python);
        assert_eq!(python, ["pillow", "squiggle", "torch"]);
        std::fs::write(
            tmp.path().join("package.json"),
            r#"{"dependencies": {"sharp": "0.34.5", "mustache": "4"}}"#,
        )
        .unwrap();
        let node = dependency_names(tmp.path(), sebs_common::Language::Nodejs);
        assert_eq!(node, ["mustache", "sharp"]);
    }

    #[test]
    fn missing_programs_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("200.media/220.video");
        std::fs::create_dir_all(&dir).unwrap();
        let config = r#"{"timeout": 1, "memory": 128, "languages": ["python"],
                         "programs": ["sh", "sebs-no-such-program"]}"#;
        std::fs::write(dir.join("config.json"), config).unwrap();
        let benchmark = Benchmark::load(&dir).unwrap();
        let err = check_programs(&benchmark).unwrap_err().to_string();
        assert!(
            err.contains("220.video runs sebs-no-such-program, which is not on PATH"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn outputs_are_downloaded_under_their_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = DirStorage::new(tmp.path().join("store"));
        storage.create_bucket("b").await.unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"out").unwrap();
        for key in [
            "x-0-output/a.csv",
            "x-0-output/sub/b.csv",
            "x-0-input/c.csv",
            "x-0-outputs/d",
        ] {
            storage.upload("b", key, &file).await.unwrap();
        }
        let dir = tmp.path().join("outputs");
        let n = download_outputs(&storage, "b", &["x-0-output".into()], &dir)
            .await
            .unwrap();
        assert_eq!(n, 2, "only the output prefix, not its look-alikes");
        assert_eq!(
            std::fs::read(dir.join("x-0-output/sub/b.csv")).unwrap(),
            b"out"
        );
        assert!(!dir.join("x-0-input").exists() && !dir.join("x-0-outputs").exists());
    }
}
