//! A Docker engine with sebs's images, for the tests of the Docker and OpenWhisk platforms.
//!
//! [`docker_engine`] starts dockerd when none answers (`dockerfiles/engine.sh`, which leaves it
//! running) and builds the images of `dockerfiles/` (`dockerfiles/images.sh`: the base image
//! only when missing, the others from the layer cache in seconds), once per test process.

use std::process::Command;
use std::sync::OnceLock;

use crate::require;

/// Makes sure a Docker engine answers and the images exist. `None` means "skip this test"
/// (no Docker here, and `SEBS_TEST_REQUIRE` is not `all`); panics when they cannot be had.
#[must_use]
pub fn docker_engine() -> Option<()> {
    require("dockerd", "apt-get install docker.io")?;
    require("docker", "apt-get install docker.io")?;
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        run_script("engine.sh")?;
        let base_exists = Command::new("docker")
            .args(["image", "inspect", "sebs/base:bookworm"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !base_exists && require("debootstrap", "apt-get install debootstrap").is_none() {
            return Err("the base image is missing and debootstrap is not installed".into());
        }
        // Test processes run in parallel: one builds, the others wait for it.
        let lock_path = std::env::temp_dir().join("sebs-test-images.lock");
        let lock = std::fs::File::create(&lock_path).map_err(|e| e.to_string())?;
        lock.lock().map_err(|e| e.to_string())?;
        run_script("images.sh")
    });
    match ready {
        Ok(()) => Some(()),
        Err(e) => panic!("the Docker engine or its images are not ready: {e}"),
    }
}

fn run_script(name: &str) -> Result<(), String> {
    let script = crate::repo_root().join("dockerfiles").join(name);
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({}):\n{}{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
