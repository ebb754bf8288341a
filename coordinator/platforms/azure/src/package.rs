//! A built package as an Azure Functions app: the zip Kudu deploys.
//!
//! The package builder lays out the wrapper (`handler/function.json`, the entry point, the
//! shared reply code) with the benchmark in `function/` and the dependencies beside them. For
//! Azure, Python dependencies move from `.python_packages/` to
//! `.python_packages/lib/site-packages/`, where the Python worker looks for them, and `host.json`
//! is written here because it carries the function's timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

/// The consumption plan's ceiling for `functionTimeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// `host.json` of the app: the runtime's schema version 2.0 and the function timeout.
pub fn host_json(timeout: Duration) -> String {
    let secs = timeout.min(MAX_TIMEOUT).as_secs();
    json!({
        "version": "2.0",
        "functionTimeout": format!("{:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60),
        "logging": {"logLevel": {"default": "Warning", "Function": "Information"}}
    })
    .to_string()
}

/// The zip of `package_dir` in the layout above.
pub fn app_zip(package_dir: &Path, timeout: Duration) -> Result<Vec<u8>> {
    let place = |rel: &Path| -> Option<PathBuf> {
        if rel.components().any(|c| c.as_os_str() == "__pycache__") {
            return None;
        }
        match rel.strip_prefix(".python_packages") {
            Ok(inner) => Some(Path::new(".python_packages/lib/site-packages").join(inner)),
            Err(_) => Some(rel.to_path_buf()),
        }
    };
    sebs_platform::archive::zip_tree(
        package_dir,
        place,
        &[("host.json", host_json(timeout).into_bytes())],
    )
    .with_context(|| format!("zipping {}", package_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_json_carries_the_timeout_capped_at_ten_minutes() {
        let host: serde_json::Value =
            serde_json::from_str(&host_json(Duration::from_secs(75))).unwrap();
        assert_eq!(host["version"], "2.0");
        assert_eq!(host["functionTimeout"], "00:01:15");
        let host: serde_json::Value =
            serde_json::from_str(&host_json(Duration::from_secs(900))).unwrap();
        assert_eq!(host["functionTimeout"], "00:10:00");
    }

    #[test]
    fn python_packages_move_where_the_worker_finds_them() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for file in [
            "handler/function.json",
            "function/function.py",
            ".python_packages/jinja2/__init__.py",
            "function/__pycache__/function.cpython-311.pyc",
        ] {
            std::fs::create_dir_all(d.join(file).parent().unwrap()).unwrap();
            std::fs::write(d.join(file), "x").unwrap();
        }
        let zip = app_zip(d, Duration::from_secs(30)).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".python_packages/lib/site-packages/jinja2/__init__.py",
                "function/function.py",
                "handler/function.json",
                "host.json"
            ]
        );
    }
}
