//! The gateway's NoSQL endpoint: `POST /nosql/<operation>` with a JSON body, the protocol the
//! local `nosql` wrappers speak (docs/local-protocol.md, "NoSQL API").
//!
//! | operation | body | reply |
//! |---|---|---|
//! | `insert` | `{"table", "item"}` | `{}` |
//! | `get` | `{"table", "key"}` | `{"item": {...} or null}` |
//! | `update` | `{"table", "key", "updates"}` | `{}` |
//! | `query` | `{"table", "value"}` (the primary key's value) | `{"items": [...]}` |
//! | `delete` | `{"table", "key"}` | `{}` |
//!
//! Errors reply `400` (bad request or item) or `404` (no such table) with `{"error": message}`.

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use sebs_platform::{Item, NoSqlError, NoSqlStorage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    table: String,
    #[serde(default)]
    item: Option<Item>,
    #[serde(default)]
    key: Option<Item>,
    #[serde(default)]
    updates: Option<Item>,
    #[serde(default)]
    value: Option<Value>,
}

/// Runs one operation; returns the status and the JSON reply.
pub async fn handle(
    store: &dyn NoSqlStorage,
    operation: &str,
    body: &Bytes,
) -> (StatusCode, Value) {
    let request: Request = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return bad(format!(
                "the body of /nosql/{operation} is not a request: {e}"
            ))
        }
    };
    let table = request.table.as_str();
    let need = |field: Option<Item>, name: &str| {
        field.ok_or_else(|| NoSqlError::invalid(table, format!("`{operation}` needs `{name}`")))
    };
    let outcome = match operation {
        "insert" => match need(request.item, "item") {
            Ok(item) => store.insert(table, item).await.map(|_| json!({})),
            Err(e) => Err(e),
        },
        "get" => match need(request.key, "key") {
            Ok(key) => store
                .get(table, &key)
                .await
                .map(|item| json!({ "item": item })),
            Err(e) => Err(e),
        },
        "update" => match (need(request.key, "key"), need(request.updates, "updates")) {
            (Ok(key), Ok(updates)) => store.update(table, &key, updates).await.map(|_| json!({})),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        "query" => match request.value {
            Some(value) => store
                .query(table, &value)
                .await
                .map(|items| json!({ "items": items })),
            None => Err(NoSqlError::invalid(table, "`query` needs `value`")),
        },
        "delete" => match need(request.key, "key") {
            Ok(key) => store.delete(table, &key).await.map(|_| json!({})),
            Err(e) => Err(e),
        },
        other => {
            return bad(format!(
                "unknown NoSQL operation `{other}` (insert, get, update, query, delete)"
            ))
        }
    };
    match outcome {
        Ok(reply) => (StatusCode::OK, reply),
        Err(e @ NoSqlError::NoTable(_)) => (StatusCode::NOT_FOUND, json!({"error": e.to_string()})),
        Err(e @ NoSqlError::Invalid { .. }) => bad(e.to_string()),
        Err(e @ NoSqlError::Backend(_)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

fn bad(message: String) -> (StatusCode, Value) {
    (StatusCode::BAD_REQUEST, json!({ "error": message }))
}
