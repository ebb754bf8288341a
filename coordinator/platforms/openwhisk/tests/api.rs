//! OpenWhisk's REST client and library trigger against recorded replies, served by a real HTTP
//! server on 127.0.0.1 (tests/recorded_server): what sebs sends, and how it reads what comes back,
//! errors included.

// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

mod recorded_server;

use std::time::Duration;

use bytes::Bytes;
use recorded_server::RecordedServer;
use sebs_common::ErrorKind;
use sebs_platform_local::gateway;
use sebs_platform_openwhisk::api::{ApiClient, ApiError};
use sebs_platform_openwhisk::records::{ActionBody, Exec, KeyValue, Limits};
use sebs_platform_openwhisk::trigger::{LibraryTrigger, ACTIVATION_HEADER};
use sebs_worker::{InvocationRequest, Trigger};
use serde_json::json;

const ACTION: &str = "sebs-110-dynamic-html-python-3-11";
const AUTH: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

fn action_path(query: &str) -> String {
    format!("/api/v1/namespaces/_/actions/{ACTION}{query}")
}

fn action_body() -> ActionBody {
    ActionBody {
        exec: Exec {
            kind: "blackbox".into(),
            image: Some("sebs-openwhisk/sebs-110-dynamic-html-python-3-11:3bf636834d22e5b1".into()),
        },
        limits: Limits {
            timeout: 10_000,
            memory: 128,
            concurrency: Some(1),
        },
        annotations: vec![KeyValue {
            key: "web-export".into(),
            value: json!(true),
        }],
        parameters: vec![KeyValue {
            key: "cold_start".into(),
            value: json!("0"),
        }],
    }
}

async fn client(server: &RecordedServer, auth: &str) -> ApiClient {
    let address = server.start().await;
    ApiClient::new(&format!("http://{address}"), Some(auth), "_").unwrap()
}

#[tokio::test]
async fn creates_an_action_and_reads_it_back() {
    let server = RecordedServer::default();
    server
        .reply("GET", &action_path(""), 404, "action-not-found.json")
        .reply("PUT", &action_path("?overwrite=true"), 200, "action.json")
        .reply("GET", &action_path(""), 200, "action.json");
    let api = client(&server, AUTH).await;

    assert!(
        api.get_action(ACTION).await.unwrap().is_none(),
        "a 404 is no action"
    );
    let created = api.put_action(ACTION, &action_body()).await.unwrap();
    assert_eq!(
        (created.namespace.as_str(), created.version.as_str()),
        ("guest", "0.0.1")
    );
    assert_eq!(created.limits.memory, 128);
    let read = api.get_action(ACTION).await.unwrap().unwrap();
    assert_eq!(read, created);

    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let put = &seen[1];
    assert_eq!(put.method, "PUT");
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, AUTH)
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some(expected.as_str())),
        "every call carries the namespace's basic auth"
    );
    assert_eq!(put.body["exec"]["kind"], "blackbox");
    assert_eq!(
        put.body["exec"]["image"],
        "sebs-openwhisk/sebs-110-dynamic-html-python-3-11:3bf636834d22e5b1"
    );
    assert_eq!(
        put.body["limits"],
        json!({"timeout": 10000, "memory": 128, "concurrency": 1})
    );
    assert_eq!(
        put.body["annotations"][0],
        json!({"key": "web-export", "value": true})
    );
}

#[tokio::test]
async fn refusals_carry_openwhisks_message_and_code() {
    let server = RecordedServer::default();
    server
        .reply(
            "PUT",
            &action_path("?overwrite=true"),
            400,
            "memory-too-low.json",
        )
        .reply("GET", &action_path(""), 401, "unauthorized.json");
    let api = client(&server, "wrong:credentials").await;

    match api.put_action(ACTION, &action_body()).await {
        Err(ApiError::Refused {
            status: 400,
            message,
            code: Some(code),
            ..
        }) => {
            assert!(
                message.contains("memory 64 MB below allowed threshold of 128 MB"),
                "{message}"
            );
            assert_eq!(code, "Qk3pW0bWn1zCq8Hh2uTg5YxRvL7dEa4M");
        }
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
    let err = api.get_action(ACTION).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("401: The supplied authentication is invalid."),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_openwhisk_is_named() {
    let port = sebs_testkit::free_port();
    let api = ApiClient::new(&format!("http://127.0.0.1:{port}"), Some(AUTH), "_").unwrap();
    let err = api.get_action(ACTION).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Unreachable { host, .. } if host == &format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn library_trigger_reads_activation_records() {
    let server = RecordedServer::default();
    let invoke = action_path("?blocking=true&result=false");
    server
        .reply("POST", &invoke, 200, "activation-cold.json")
        .reply("POST", &invoke, 200, "activation-warm.json")
        .reply("POST", &invoke, 502, "activation-application-error.json")
        .reply("POST", &invoke, 502, "activation-timeout.json")
        .reply("POST", &invoke, 202, "invoke-accepted.json");
    let activation = "/api/v1/namespaces/_/activations/e5f6a7b8c9d04e1f2a3b4c5d6e7f8091";
    server
        .reply("GET", activation, 404, "action-not-found.json")
        .reply("GET", activation, 200, "activation-late.json");
    let trigger = LibraryTrigger {
        client: client(&server, AUTH).await,
        action: ACTION.into(),
        timeout: Duration::from_secs(30),
    };
    let payload = Bytes::from_static(br#"{"username": "testname", "random_len": 10}"#);
    let mut raws = Vec::new();
    for i in 0..5 {
        let id = format!("{i:032x}");
        raws.push(
            trigger
                .invoke(InvocationRequest {
                    request_id: &id,
                    payload: &payload,
                })
                .await,
        );
    }
    let reader = gateway::reply_reader();

    let cold = &raws[0];
    assert_eq!(cold.status, Some(200));
    assert_eq!(
        cold.headers[ACTIVATION_HEADER],
        "6f1a2b3c4d5e4f60a1b2c3d4e5f60718"
    );
    let metrics = gateway::provider_metrics(cold);
    assert_eq!(
        (metrics.execution_us, metrics.initialization_us),
        (538_000, 412_000)
    );
    assert_eq!(metrics.billed_ms, 538);
    let reading = reader.read(cold);
    assert!(reading.failure.is_none() && reading.cold, "{reading:?}");
    assert_eq!(reading.container_id, "9c41e07b");
    assert!(reading.benchmark_us > 100_000);

    let warm = &raws[1];
    let metrics = gateway::provider_metrics(warm);
    assert_eq!(
        (metrics.execution_us, metrics.initialization_us),
        (4_000, 0)
    );
    assert!(!reader.read(warm).cold);

    let failed = gateway::provider_metrics(&raws[2]);
    assert_eq!(failed.error.map(|e| e.0), Some(ErrorKind::FunctionError));
    assert_eq!(raws[2].status, Some(502));
    let body: serde_json::Value = serde_json::from_slice(&raws[2].body).unwrap();
    assert_eq!(
        body["error"], "KeyError: 'username'",
        "the wrapper's error is the body"
    );

    let timed_out = gateway::provider_metrics(&raws[3]);
    assert_eq!(timed_out.error.map(|e| e.0), Some(ErrorKind::Timeout));
    assert_eq!(timed_out.execution_us, 10_003_000);

    let late = &raws[4];
    assert_eq!(
        late.status,
        Some(200),
        "a 202 is followed to the stored activation"
    );
    assert_eq!(gateway::provider_metrics(late).execution_us, 61_204_000);
    let polls = server
        .seen()
        .iter()
        .filter(|s| s.target == activation)
        .count();
    assert_eq!(polls, 2, "polled until the activation was stored");
    let sent = &server.seen()[0];
    assert_eq!(
        sent.body,
        json!({"username": "testname", "random_len": 10}),
        "the event is the parameters"
    );
}
