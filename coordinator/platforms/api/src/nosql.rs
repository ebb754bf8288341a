//! NoSQL tables behind one trait, for benchmarks with the `nosql` module (130.crud-api).
//!
//! SeBS's model: a benchmark's `input.py` declares its tables in `allocate_nosql()` (a primary
//! key and an optional secondary (sort) key each) and fills them through `nosql_func`; the
//! function reaches a table through its `nosql` wrapper module, which finds the table's real
//! name in the environment variable `NOSQL_STORAGE_TABLE_<table>`. Items are JSON objects that
//! hold their key attributes; key values are strings or numbers. The local platform implements
//! this in memory and serves it over its gateway; each cloud maps it onto its store (DynamoDB,
//! CosmosDB, Datastore).

use async_trait::async_trait;
use serde_json::{Map, Value};

/// One item: a JSON object holding its key attributes.
pub type Item = Map<String, Value>;

/// A table as `allocate_nosql()` declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// The name the benchmark uses (`shopping_cart`).
    pub name: String,
    /// The partition key attribute (`cart_id`).
    pub primary_key: String,
    /// The sort key attribute (`product_id`), if the table has one.
    pub secondary_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NoSqlError {
    #[error("no table `{0}`")]
    NoTable(String),
    #[error("table `{table}`: {reason}")]
    Invalid { table: String, reason: String },
    #[error("NoSQL backend failed: {0}")]
    Backend(String),
}

impl NoSqlError {
    pub fn invalid(table: &str, reason: impl Into<String>) -> Self {
        NoSqlError::Invalid {
            table: table.to_string(),
            reason: reason.into(),
        }
    }
}

/// The environment variable through which a function finds the real name of `table`.
pub fn table_variable(table: &str) -> String {
    format!("NOSQL_STORAGE_TABLE_{table}")
}

/// The real name of a benchmark's table: `sebs-<benchmark>-<table>`, in the characters every
/// store accepts (letters, digits, `-`, `_`, `.`).
pub fn table_name(benchmark: &str, table: &str) -> String {
    format!("sebs-{benchmark}-{table}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[async_trait]
pub trait NoSqlStorage: Send + Sync + std::fmt::Debug {
    /// Creates the table `sebs-<benchmark>-<name>` unless it exists (its items are kept, as
    /// SeBS keeps them); returns its real name. Creating it again with other keys is an error.
    async fn create_table(&self, benchmark: &str, table: &TableSpec) -> Result<String, NoSqlError>;

    /// Stores `item`, replacing any item with the same key.
    async fn insert(&self, table: &str, item: Item) -> Result<(), NoSqlError>;

    /// The item with `key` (the key attributes and their values), if any.
    async fn get(&self, table: &str, key: &Item) -> Result<Option<Item>, NoSqlError>;

    /// Sets the attributes of `updates` on the item with `key`, creating it if absent (as
    /// DynamoDB's UpdateItem does). Key attributes cannot be updated.
    async fn update(&self, table: &str, key: &Item, updates: Item) -> Result<(), NoSqlError>;

    /// Every item whose primary key attribute equals `value`, ordered by secondary key.
    async fn query(&self, table: &str, value: &Value) -> Result<Vec<Item>, NoSqlError>;

    /// Removes the item with `key`; removing a missing item is not an error.
    async fn delete(&self, table: &str, key: &Item) -> Result<(), NoSqlError>;
}

/// A key value as stores compare it: strings and numbers (by their JSON text, so `1` and `"1"`
/// differ, as they do in DynamoDB); anything else is refused.
pub fn key_value(
    table: &str,
    attribute: &str,
    value: Option<&Value>,
) -> Result<String, NoSqlError> {
    match value {
        Some(Value::String(s)) => Ok(format!("s:{s}")),
        Some(Value::Number(n)) => Ok(format!("n:{n}")),
        Some(other) => Err(NoSqlError::invalid(
            table,
            format!("key attribute `{attribute}` must be a string or a number, not {other}"),
        )),
        None => Err(NoSqlError::invalid(
            table,
            format!("key attribute `{attribute}` is missing"),
        )),
    }
}
