//! Where the catalogue lives: the folder holding `benchmarks/` and `benchmark-data/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use sebs_common::Catalogue;

#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// `$SEBS_ROOT`, else the nearest folder upwards from the working directory with
    /// `benchmarks/wrappers`, else the source tree this binary was built from.
    pub fn locate() -> Result<Self> {
        if let Some(root) = std::env::var_os("SEBS_ROOT") {
            let root = PathBuf::from(root);
            if !is_root(&root) {
                bail!(
                    "SEBS_ROOT={} has no benchmarks/wrappers folder",
                    root.display()
                );
            }
            return Ok(Project { root });
        }
        let cwd = std::env::current_dir()?;
        if let Some(root) = cwd.ancestors().find(|d| is_root(d)) {
            return Ok(Project {
                root: root.to_path_buf(),
            });
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if is_root(&built_from) {
            return Ok(Project {
                root: built_from.canonicalize()?,
            });
        }
        bail!(
            "cannot find the benchmark catalogue: run sebs inside the sebs repository or set SEBS_ROOT \
             to the folder that holds benchmarks/ and benchmark-data/"
        )
    }

    pub fn catalogue(&self) -> Catalogue {
        Catalogue::new(self.root.join("benchmarks"))
    }

    pub fn wrappers(&self) -> PathBuf {
        self.root.join("benchmarks").join("wrappers")
    }

    pub fn benchmark_data(&self) -> PathBuf {
        self.root.join("benchmark-data")
    }
}

fn is_root(dir: &Path) -> bool {
    dir.join("benchmarks").join("wrappers").is_dir()
}
