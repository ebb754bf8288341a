//! Azure Functions.

pub mod blob;
pub mod sas;
