//! Benchmark inputs: data generated offline, `input.py` run for real, objects uploaded.
//!
//! 1. `benchmark-data/generate.py <benchmark> --root <cache>/data` makes the benchmark's data
//!    files (deterministic, seeded; a no-op when they exist). Generated data is cache: it lives
//!    under `--cache`, never in the source tree.
//! 2. `driver.py` (embedded in this binary) imports the benchmark's `input.py`, calls its hooks
//!    with a recording `upload_func` and `nosql_func`, and writes the event, the uploads and the
//!    NoSQL tables and items as JSON. A running client side's URL reaches `input.py` as
//!    `SEBS_CLIENT_SIDE_URL`.
//! 3. The uploads go to the platform's storage through [`ObjectStorage`]; objects already there
//!    with the same size are kept unless `--update-storage`. The tables are created and filled
//!    through [`NoSqlStorage`] (`nosql`).
//!
//! Both scripts run with the tools interpreter ([`tools::ToolsPython`]).

mod nosql;
pub mod tools;

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sebs_common::{Benchmark, Language};
use serde::Deserialize;
use serde_json::Value;

use sebs_platform::{NoSqlStorage, ObjectStorage};

const DRIVER: &str = include_str!("driver.py");

/// Input size, as SeBS names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputSize {
    Test,
    Small,
    Large,
}

impl InputSize {
    pub fn as_str(self) -> &'static str {
        match self {
            InputSize::Test => "test",
            InputSize::Small => "small",
            InputSize::Large => "large",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DriverOutput {
    output_prefixes: Vec<String>,
    uploads: Vec<Upload>,
    event: Value,
    /// What `allocate_nosql()` returned, if input.py has it.
    #[serde(default)]
    nosql_tables: Option<Value>,
    /// The calls input.py made to `nosql_func`, each as a list of its arguments.
    #[serde(default)]
    nosql_items: Vec<Value>,
}

/// The environment variable through which `input.py` learns the client side's URL.
pub const CLIENT_SIDE_VARIABLE: &str = "SEBS_CLIENT_SIDE_URL";

/// What `validate_output` said of one output.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Verdict {
    pub valid: bool,
    pub message: String,
}

#[derive(Debug, Deserialize)]
struct Upload {
    object_key: String,
    path: PathBuf,
}

/// The event to send, and what was done to storage to prepare it.
#[derive(Debug)]
pub struct PreparedInput {
    pub event: Value,
    pub uploaded: usize,
    pub kept: usize,
    /// Objects left in the output prefixes by earlier runs, removed before this one.
    pub cleaned: usize,
    /// The prefixes the function writes its outputs under.
    pub output_prefixes: Vec<String>,
    /// What the function's environment needs (its NoSQL tables' real names).
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct InputPreparer {
    python: PathBuf,
    /// `benchmark-data/` of the project: the generators.
    generators: PathBuf,
    /// Where generated data goes: `<cache>/data`.
    data_root: PathBuf,
    scratch: PathBuf,
}

impl InputPreparer {
    pub fn new(python: PathBuf, generators: PathBuf, cache_dir: &Path) -> Self {
        InputPreparer {
            python,
            generators,
            data_root: cache_dir.join("data"),
            scratch: cache_dir.join("inputs"),
        }
    }

    /// The folder of a benchmark's generated data (`data_dir` of its input.py hooks).
    pub fn data_dir(&self, benchmark: &Benchmark) -> PathBuf {
        self.data_root.join(&benchmark.name)
    }

    /// Makes the benchmark's data if it is not there yet (blocking).
    fn generate_data(&self, benchmark: &Benchmark) -> Result<()> {
        let generator = self.generators.join("generate.py");
        if !generator.is_file() {
            return Ok(());
        }
        let out = Command::new(&self.python)
            .arg(&generator)
            .arg(&benchmark.name)
            .arg("--root")
            .arg(&self.data_root)
            .output()
            .with_context(|| format!("cannot run {}", generator.display()))?;
        let said = String::from_utf8_lossy(&out.stdout);
        tracing::debug!(benchmark = %benchmark.name, "generate.py: {}", said.trim_end());
        if !out.status.success() {
            bail!(
                "{} {} failed ({}):\n{}",
                generator.display(),
                benchmark.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        Ok(())
    }

    /// The driver script on disk, under a name derived from its content. Written once and
    /// renamed into place: other sebs processes sharing the cache may be running it right now,
    /// and rewriting it in place would let them read half a script.
    fn driver(&self) -> Result<PathBuf> {
        let hash = crate::package::hash::ContentHash::new()
            .value("driver", DRIVER)
            .finish();
        let path = self.scratch.join(format!("driver-{}.py", &hash[..16]));
        if !path.is_file() {
            std::fs::create_dir_all(&self.scratch)?;
            let tmp = tempfile::Builder::new()
                .prefix(".driver-")
                .tempfile_in(&self.scratch)?;
            std::fs::write(tmp.path(), DRIVER)?;
            tmp.persist(&path)?;
        }
        Ok(path)
    }

    /// Generates data and runs `input.py` (blocking: call from a blocking task). `client_url`
    /// is the running client side's URL, handed to input.py as `SEBS_CLIENT_SIDE_URL`.
    pub fn generate(
        &self,
        benchmark: &Benchmark,
        size: InputSize,
        bucket: &str,
        client_url: Option<&str>,
    ) -> Result<DriverOutput> {
        self.generate_data(benchmark)?;
        let input_py = benchmark.input_py();
        if !input_py.is_file() {
            bail!(
                "benchmark {} has no input.py at {}",
                benchmark.name,
                input_py.display()
            );
        }
        let driver = self.driver()?;
        let out = tempfile::Builder::new()
            .prefix("input-")
            .suffix(".json")
            .tempfile_in(&self.scratch)?;
        let mut command = Command::new(&self.python);
        if let Some(url) = client_url {
            command.env(CLIENT_SIDE_VARIABLE, url);
        }
        let output = command
            .arg(&driver)
            .arg("--input-py")
            .arg(&input_py)
            .args(["--benchmark", &benchmark.name])
            .arg("--data-dir")
            .arg(self.data_dir(benchmark))
            .args(["--size", size.as_str(), "--bucket", bucket])
            .arg("--out")
            .arg(out.path())
            .output()
            .with_context(|| {
                format!(
                    "cannot start {} for {}",
                    self.python.display(),
                    input_py.display()
                )
            })?;
        if !output.status.success() {
            bail!(
                "input generation failed for {} ({}):\n{}",
                benchmark.name,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
        let text = std::fs::read(out.path())?;
        let parsed: DriverOutput = serde_json::from_slice(&text).with_context(|| {
            format!(
                "the input driver wrote malformed JSON for {}",
                input_py.display()
            )
        })?;
        Ok(parsed)
    }

    /// Checks handler outputs with the benchmark's `validate_output` hook, all in one Python
    /// process. `None` when `input.py` has no such hook (blocking: call from a blocking task).
    /// `stored` is the output objects downloaded from storage (`<dir>/<key>` of `bucket`), which
    /// `validate_output` reads through its `storage` argument.
    pub fn validate(
        &self,
        benchmark: &Benchmark,
        language: Language,
        event: &Value,
        outputs: &[Value],
        stored: Option<(&Path, &str)>,
    ) -> Result<Option<Vec<Verdict>>> {
        let driver = self.driver()?;
        let scratch_json = |bytes: Vec<u8>| -> Result<tempfile::NamedTempFile> {
            let file = tempfile::Builder::new()
                .suffix(".json")
                .tempfile_in(&self.scratch)?;
            std::fs::write(file.path(), bytes)?;
            Ok(file)
        };
        let input_json = scratch_json(serde_json::to_vec(event)?)?;
        let outputs_json = scratch_json(serde_json::to_vec(outputs)?)?;
        let out = tempfile::Builder::new()
            .suffix(".json")
            .tempfile_in(&self.scratch)?;
        let mut command = Command::new(&self.python);
        command.arg(&driver);
        if let Some((dir, bucket)) = stored {
            command.arg("--storage-dir").arg(dir);
            command.args(["--storage-bucket", bucket]);
        }
        let output = command
            .args(["--validate", "--many", "--language", language.as_str()])
            .arg("--input-py")
            .arg(benchmark.input_py())
            .arg("--data-dir")
            .arg(self.data_dir(benchmark))
            .arg("--input-json")
            .arg(input_json.path())
            .arg("--output-json")
            .arg(outputs_json.path())
            .arg("--out")
            .arg(out.path())
            .output()
            .context("cannot start the validation driver")?;
        if !output.status.success() {
            bail!(
                "output validation failed to run for {} ({}):\n{}",
                benchmark.name,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
        let reply: Value = serde_json::from_slice(&std::fs::read(out.path())?)?;
        let Some(results) = reply.get("results") else {
            return Ok(None); // no validate_output hook
        };
        Ok(Some(serde_json::from_value(results.clone())?))
    }

    /// Generates the input, uploads its files to `bucket` of `storage` and creates and fills
    /// its NoSQL tables in `tables`.
    #[allow(clippy::too_many_arguments)]
    pub async fn prepare(
        &self,
        benchmark: &Benchmark,
        size: InputSize,
        storage: &dyn ObjectStorage,
        bucket: &str,
        update_storage: bool,
        client_url: Option<&str>,
        tables: Option<&dyn NoSqlStorage>,
    ) -> Result<PreparedInput> {
        let generated =
            tokio::task::block_in_place(|| self.generate(benchmark, size, bucket, client_url))?;
        let environment = nosql::allocate(
            benchmark,
            generated.nosql_tables.as_ref(),
            &generated.nosql_items,
            tables,
        )
        .await?;
        storage.create_bucket(bucket).await?;
        // As SeBS does: outputs of earlier runs are removed, so what is there is this run's.
        let mut cleaned = 0;
        for prefix in &generated.output_prefixes {
            cleaned += storage.remove_prefix(bucket, &format!("{prefix}/")).await?;
        }
        let (mut uploaded, mut kept) = (0, 0);
        for Upload {
            object_key: key,
            path,
        } in generated.uploads
        {
            let local = std::fs::metadata(&path)
                .with_context(|| format!("input file {}", path.display()))?;
            if !update_storage && storage.object_size(bucket, &key).await? == Some(local.len()) {
                kept += 1;
                continue;
            }
            storage
                .upload(bucket, &key, &path)
                .await
                .with_context(|| format!("uploading {} as {bucket}/{key}", path.display()))?;
            uploaded += 1;
        }
        Ok(PreparedInput {
            event: generated.event,
            uploaded,
            kept,
            cleaned,
            output_prefixes: generated.output_prefixes,
            environment,
        })
    }
}
