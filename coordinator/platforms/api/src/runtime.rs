//! The language runtimes on this machine that build packages (and, locally, run functions).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sebs_common::Language;

/// `python -m pip install` as every build step runs it: quiet, non-interactive.
pub const PIP_INSTALL: [&str; 6] = [
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--no-input",
    "--quiet",
];

/// `npm install` of a package's dependencies: production ones only, no lock file, quiet.
pub const NPM_INSTALL: [&str; 6] = [
    "install",
    "--omit=dev",
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
    "--loglevel=error",
];

/// The Python interpreter of version `version`: `explicit` when the config names one, else
/// `python<version>` when installed, else `python3` when it is that version. `section` names
/// the config section that can set it (`deployment.local`), for the error message.
pub fn find_python(explicit: Option<&Path>, version: &str, section: &str) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return check_version(p, Language::Python, version, section).map(|_| p.to_path_buf());
    }
    let versioned = PathBuf::from(format!("python{version}"));
    if check_version(&versioned, Language::Python, version, section).is_ok() {
        return Ok(versioned);
    }
    let python3 = PathBuf::from("python3");
    check_version(&python3, Language::Python, version, section)?;
    Ok(python3)
}

/// Checks that `program --version` is the requested language version (`3.11` matches 3.11.7,
/// `20` matches v20.20.2).
pub fn check_version(program: &Path, language: Language, want: &str, section: &str) -> Result<()> {
    let output = Command::new(program)
        .arg("--version")
        .output()
        .with_context(|| {
            format!(
                "cannot run `{} --version`: is {language} installed?",
                program.display()
            )
        })?;
    let text = String::from_utf8_lossy(if output.stdout.is_empty() {
        &output.stderr
    } else {
        &output.stdout
    })
    .to_string();
    let found = text
        .split_whitespace()
        .last()
        .unwrap_or("")
        .trim_start_matches('v')
        .to_string();
    let matches = found == want || found.starts_with(&format!("{want}."));
    if !matches {
        bail!(
            "{language} {want} was asked for but `{}` is {found}; pass --language-version {} or set \
             {section}.{} in the config",
            program.display(),
            found.split('.').take(if language == Language::Python { 2 } else { 1 }).collect::<Vec<_>>().join("."),
            if language == Language::Python { "python" } else { "node" },
        );
    }
    Ok(())
}
