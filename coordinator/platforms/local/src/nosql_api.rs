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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::LocalPlatform;
    use sebs_platform::{Platform, TableSpec};

    /// One request to the real gateway over TCP; returns the status and the JSON body.
    async fn call(
        platform: &LocalPlatform,
        method: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let mut stream = tokio::net::TcpStream::connect(platform.functions.address())
            .await
            .unwrap();
        let body = body.to_string();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap())
    }

    #[tokio::test]
    async fn the_gateway_serves_the_tables() {
        let tmp = tempfile::tempdir().unwrap();
        let platform = LocalPlatform::start(None, tmp.path()).await.unwrap();
        let store = platform.nosql().unwrap();
        let spec = TableSpec {
            name: "cart".into(),
            primary_key: "cart_id".into(),
            secondary_key: Some("product_id".into()),
        };
        let table = store.create_table("130.crud-api", &spec).await.unwrap();
        for (product, price) in [("b", 2), ("a", 1)] {
            let item = json!({"table": table, "item": {"cart_id": "c", "product_id": product, "price": price}});
            assert_eq!(
                call(&platform, "POST", "/nosql/insert", &item).await,
                (200, json!({}))
            );
        }
        let (status, listed) = call(
            &platform,
            "POST",
            "/nosql/query",
            &json!({"table": table, "value": "c"}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            listed["items"][0]["product_id"], "a",
            "ordered by the sort key: {listed}"
        );
        let key = json!({"cart_id": "c", "product_id": "b"});
        let update = json!({"table": table, "key": key, "updates": {"price": 5}});
        assert_eq!(
            call(&platform, "POST", "/nosql/update", &update).await.0,
            200
        );
        let (_, got) = call(
            &platform,
            "POST",
            "/nosql/get",
            &json!({"table": table, "key": key}),
        )
        .await;
        assert_eq!(got["item"]["price"], 5);
        assert_eq!(
            call(
                &platform,
                "POST",
                "/nosql/delete",
                &json!({"table": table, "key": key})
            )
            .await
            .0,
            200
        );
        let (_, gone) = call(
            &platform,
            "POST",
            "/nosql/get",
            &json!({"table": table, "key": key}),
        )
        .await;
        assert_eq!(gone, json!({"item": null}));

        let (status, e) = call(
            &platform,
            "POST",
            "/nosql/query",
            &json!({"table": "nope", "value": 1}),
        )
        .await;
        assert_eq!(status, 404);
        assert!(e["error"].as_str().unwrap().contains("nope"), "{e}");
        let (status, e) = call(&platform, "POST", "/nosql/scan", &json!({"table": table})).await;
        assert_eq!(status, 400);
        assert!(e["error"].as_str().unwrap().contains("scan"), "{e}");
        let (status, e) = call(&platform, "POST", "/nosql/get", &json!({"table": table})).await;
        assert_eq!(status, 400);
        assert!(e["error"].as_str().unwrap().contains("`key`"), "{e}");
        assert_eq!(
            call(&platform, "GET", "/nosql/get", &json!({})).await.0,
            405
        );
        platform.shutdown().await;
    }
}
