//! OpenWhisk.
pub mod api;
pub mod config;
pub mod records;
pub mod s3;
mod sigv4;
