//! The fleet's identifiers as types, so that a worker id cannot be passed where a region is meant.

use std::fmt;
use std::str::FromStr;

/// One run of a job (or of a benchmark, which becomes a job), unique per coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub u64);

impl RunId {
    /// A random run id (never 0, which protobuf cannot tell from "unset").
    pub fn random() -> Self {
        RunId(rand::random::<u64>().max(1))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for RunId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        u64::from_str_radix(s, 16)
            .map(RunId)
            .map_err(|_| IdError::RunId(s.to_string()))
    }
}

/// A shard of a run: its position in the run's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u32);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How many times a shard has been handed out before: 0 for its first worker, one more for
/// each reassignment. Results are counted once per (shard, sequence), whatever the attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attempt(pub u32);

impl Attempt {
    pub fn next(self) -> Attempt {
        Attempt(self.0.saturating_add(1))
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A worker's name: printable ASCII without spaces, at most 128 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(String);

impl WorkerId {
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdError::Worker(id));
        }
        Ok(WorkerId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A region label, as a cloud names its regions (`us-east-1`, `europe-west4`) or any label a
/// user gives a group of workers: lowercase letters, digits, `-`, `_` and `.`, at most 64.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if !ok {
            return Err(IdError::Region(name));
        }
        Ok(Region(name))
    }

    /// The region of the single-process default.
    pub fn local() -> Self {
        Region("local".to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Region {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Region::new(s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("run id `{0}`: expected up to 16 hex digits")]
    RunId(String),
    #[error("worker id `{0}`: expected 1 to 128 printable ASCII characters without spaces")]
    Worker(String),
    #[error(
        "region `{0}`: expected 1 to 64 lowercase letters, digits, `-`, `_` or `.`, e.g. us-east-1"
    )]
    Region(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_check_what_they_hold() {
        assert!(Region::new("us-east-1").is_ok());
        assert!(Region::new("US").is_err() && Region::new("").is_err());
        assert!(WorkerId::new("w-1@host").is_ok() && WorkerId::new("a b").is_err());
        let run = RunId(0xabc);
        assert_eq!(run.to_string(), "0000000000000abc");
        assert_eq!("0000000000000abc".parse::<RunId>(), Ok(run));
        assert_ne!(RunId::random(), RunId::random());
        assert_eq!(Attempt(0).next(), Attempt(1));
    }
}
