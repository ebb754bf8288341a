//! Languages and CPU architectures a function can be built for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A function language, spelled as SeBS spells it (`python`, `nodejs`; never `node` or `py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Nodejs,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Python, Language::Nodejs];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Nodejs => "nodejs",
        }
    }

    /// The version used when neither the config nor the command line names one.
    pub fn default_version(self) -> &'static str {
        match self {
            Language::Python => "3.11",
            Language::Nodejs => "20",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown language `{0}`: expected one of python, nodejs")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "python" => Ok(Language::Python),
            "nodejs" => Ok(Language::Nodejs),
            other => Err(UnknownLanguage(other.to_string())),
        }
    }
}

/// CPU architecture of the function sandbox; selects `requirements.txt.arm.<version>` files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    #[default]
    X64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X64 => "x64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The architecture of the machine running sebs, which is what the local platform runs on.
    pub fn host() -> Self {
        if cfg!(target_arch = "aarch64") {
            Architecture::Arm64
        } else {
            Architecture::X64
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Architecture {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "x64" | "x86_64" | "amd64" => Ok(Architecture::X64),
            "arm64" | "aarch64" => Ok(Architecture::Arm64),
            other => Err(format!(
                "unknown architecture `{other}`: expected x64 or arm64"
            )),
        }
    }
}
