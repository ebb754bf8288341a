//! Domain types shared by every sebs crate.
//!
//! Nothing here does network I/O or spawns processes: this crate holds the vocabulary (languages,
//! benchmarks, configuration, invocation results) and the pure computations over it (statistics).

pub mod benchmark;
pub mod config;
pub mod language;
pub mod result;
pub mod stats;

pub use benchmark::{Benchmark, BenchmarkError, Catalogue, ClientSideKind};
pub use language::{Architecture, Language};
pub use result::{ErrorKind, ExecutionResult, InvocationError};
