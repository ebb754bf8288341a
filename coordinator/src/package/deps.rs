//! Installing a benchmark's dependencies into its package, and running its build scripts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sebs_common::{Architecture, Language};

use super::PackageError;

/// The dependency file that applies, most specific first; they are never merged (SEBS-CONTRACT §1):
/// `requirements.txt.arm.<v>` (arm64 only), `requirements.txt.<v>`, `requirements.txt`; for
/// Node.js `package.json.<v>`, `package.json`.
pub fn dependency_file(
    lang_dir: &Path,
    language: Language,
    version: &str,
    arch: Architecture,
) -> Option<PathBuf> {
    let base = match language {
        Language::Python => "requirements.txt",
        Language::Nodejs => "package.json",
    };
    let mut candidates = Vec::new();
    if arch == Architecture::Arm64 && language == Language::Python {
        candidates.push(format!("{base}.arm.{version}"));
    }
    candidates.push(format!("{base}.{version}"));
    candidates.push(base.to_string());
    candidates
        .into_iter()
        .map(|c| lang_dir.join(c))
        .find(|p| p.is_file())
}

use sebs_platform::runtime::NPM_INSTALL;
pub use sebs_platform::runtime::PIP_INSTALL;

/// Whether `file` lists nothing to install (a requirements file of comments and blank lines);
/// pip refuses an empty one.
pub fn lists_nothing(language: Language, file: &Path) -> Result<bool, PackageError> {
    if language != Language::Python {
        return Ok(false);
    }
    let text = fs::read_to_string(file).map_err(|e| PackageError::io(file, e))?;
    Ok(!text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#')))
}

/// Installs the dependencies listed in `file` into `package`.
pub fn install(
    package: &Path,
    language: Language,
    runtime: &Path,
    file: &Path,
    log: &mut String,
) -> Result<(), PackageError> {
    match language {
        Language::Python => {
            let mut cmd = Command::new(runtime);
            cmd.args(PIP_INSTALL)
                .args(["--no-warn-script-location", "--target"])
                .arg(package.join(".python_packages"))
                .arg("--requirement")
                .arg(file);
            run(cmd, "pip install", log)
        }
        Language::Nodejs => {
            let target = package.join("package.json");
            fs::copy(file, &target).map_err(|e| PackageError::io(&target, e))?;
            let mut cmd = Command::new("npm");
            cmd.current_dir(package).args(NPM_INSTALL);
            run(cmd, "npm install", log)
        }
    }
}

/// Runs `script` with bash and SeBS's arguments: target directory, verbosity, architecture.
/// `$PYTHON` is the runtime's interpreter, for scripts that install Python packages themselves.
pub fn run_script(
    script: &Path,
    target: &Path,
    arch: Architecture,
    python: &Path,
    log: &mut String,
) -> Result<(), PackageError> {
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .arg(target)
        .arg("false")
        .arg(arch.as_str())
        .env("PYTHON", python)
        .current_dir(script.parent().unwrap_or(Path::new(".")));
    run(cmd, &script.display().to_string(), log)
}

/// Runs a build command, appending its output to `log`; fails with the tail of its stderr.
pub fn run(mut cmd: Command, what: &str, log: &mut String) -> Result<(), PackageError> {
    let output = cmd.output().map_err(|e| PackageError::Command {
        what: what.to_string(),
        detail: format!("cannot start {:?}: {e}", cmd.get_program()),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    log.push_str(&format!("$ {what}\n{stdout}{stderr}\n"));
    if output.status.success() {
        return Ok(());
    }
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(PackageError::Command {
        what: what.to_string(),
        detail: format!("{}\n{}", output.status, tail.join("\n")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_dependency_file_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert_eq!(
            dependency_file(d, Language::Python, "3.11", Architecture::X64),
            None
        );
        fs::write(d.join("requirements.txt"), "").unwrap();
        let pick = |arch| dependency_file(d, Language::Python, "3.11", arch).unwrap();
        assert!(pick(Architecture::X64).ends_with("requirements.txt"));
        fs::write(d.join("requirements.txt.3.11"), "").unwrap();
        fs::write(d.join("requirements.txt.arm.3.11"), "").unwrap();
        assert!(pick(Architecture::X64).ends_with("requirements.txt.3.11"));
        assert!(pick(Architecture::Arm64).ends_with("requirements.txt.arm.3.11"));
        fs::write(d.join("package.json.20"), "{}").unwrap();
        let node = dependency_file(d, Language::Nodejs, "20", Architecture::X64).unwrap();
        assert!(node.ends_with("package.json.20"));
    }
}
