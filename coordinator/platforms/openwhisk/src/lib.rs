//! OpenWhisk.
