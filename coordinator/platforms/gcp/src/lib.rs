//! Google Cloud Functions (2nd gen).

pub mod storage;
