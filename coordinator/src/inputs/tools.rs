//! The Python interpreter that runs sebs's own scripts (data generators and `input.py`).
//!
//! It is a virtual environment under the cache with `benchmark-data/requirements.txt` installed
//! (Pillow, to make JPEG inputs), made once and remade when that file changes. Building it
//! needs the package index once; afterwards everything runs offline.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::package::deps::{run, PIP_INSTALL};
use crate::package::hash::ContentHash;

#[derive(Debug)]
pub struct ToolsPython;

impl ToolsPython {
    /// The venv's interpreter, creating or refreshing the venv as needed (blocking).
    pub fn ensure(base_python: &Path, requirements: &Path, cache_dir: &Path) -> Result<PathBuf> {
        let dir = cache_dir.join("tools");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = fs::File::create(dir.join(".lock"))?;
        lock.lock()?;
        let venv = dir.join("venv");
        let python = venv.join("bin").join("python3");
        let stamp = dir.join("venv.stamp");
        let want = ContentHash::new()
            .value("python", &base_python.display().to_string())
            .file("requirements", requirements)?
            .finish();
        if python.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
            return Ok(python);
        }
        let _ = fs::remove_file(&stamp);
        let _ = fs::remove_dir_all(&venv);
        tracing::info!(venv = %venv.display(), "creating the tools environment (once)");
        // Build-step output goes to the log only when a step fails (in the error).
        let mut log = String::new();
        let mut venv_cmd = Command::new(base_python);
        venv_cmd.args(["-m", "venv"]).arg(&venv);
        run(venv_cmd, "python3 -m venv", &mut log)?;
        if requirements.is_file() {
            let mut pip = Command::new(&python);
            pip.args(PIP_INSTALL).arg("--requirement").arg(requirements);
            run(
                pip,
                "pip install -r benchmark-data/requirements.txt",
                &mut log,
            )?;
        }
        fs::write(&stamp, want)?;
        Ok(python)
    }
}
