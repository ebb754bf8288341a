//! Traces of a fleet run, exported over OTLP by real `sebs` processes to a small OTLP/gRPC
//! receiver this test runs on 127.0.0.1: the coordinator's `run` → `shard` → `report` spans,
//! and each worker's `shard` (continuing the coordinator's across the network) → `report`.
#![cfg(feature = "otel")]
// Test code: a panic with a message is the right way to fail.
#![allow(clippy::unwrap_used)]

// This binary uses only part of what the end-to-end tests share.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use sebs_testkit::fleet::{run_bounded, Fleet, FleetOptions};
use sebs_testkit::{free_port, wait_until, Server};
use support::{repo_root, shared_cache, Run};

const RUN_LIMIT: Duration = Duration::from_secs(600);

/// A span as received: who sent it, and what it says.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    name: String,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    attributes: BTreeMap<String, String>,
}

/// An OTLP/gRPC trace receiver that keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.map(|r| attributes(&r.attributes));
            let service = resource
                .and_then(|r| r.get("service.name").cloned())
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace: span.trace_id,
                    id: span.span_id,
                    parent: span.parent_span_id,
                    attributes: attributes(&span.attributes),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn attributes(
    kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                Some(Any::StringValue(s)) => s,
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::BoolValue(b)) => b.to_string(),
                Some(Any::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// What every traced process gets: the receiver, a short batch delay, its own service name.
fn traced(command: &mut Command, endpoint: &str, service: &str) {
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("OTEL_SERVICE_NAME", service);
}

#[test]
fn a_runs_spans_reach_an_otlp_receiver_with_their_parents() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = Receiver::default();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let service = TraceServiceServer::new(receiver.clone());
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve(addr),
    );
    let endpoint = format!("http://127.0.0.1:{port}");

    let bin = Path::new(env!("CARGO_BIN_EXE_sebs"));
    let fleet = Fleet::start_with(
        bin,
        &repo_root(),
        &shared_cache(),
        &FleetOptions::default(),
        |c| {
            traced(c, &endpoint, "test-coordinator");
        },
    );
    let mut workers = Vec::new();
    for (name, region) in [("w-east", "east"), ("w-west", "west")] {
        let mut command = fleet.worker_command(name, region, &fleet.credentials.token_file);
        traced(&mut command, &endpoint, &format!("test-{name}"));
        let worker = Server::start(name, command);
        sebs_testkit::fleet::wait_for_line(&worker, "attached to the coordinator", RUN_LIMIT);
        workers.push(worker);
    }

    let out_dir = tempfile::tempdir().unwrap();
    let args = [
        "110.dynamic-html",
        "test",
        "--repetitions",
        "8",
        "--concurrency",
        "2",
    ];
    let mut command = fleet.invoke_command(&fleet.credentials.token_file, &args, out_dir.path());
    command.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    let run = Run {
        output: run_bounded(command, RUN_LIMIT),
        out_dir,
    };
    run.assert_success();
    let run_id = read_run_id(&run);

    let spans = || receiver.0.lock().unwrap().clone();
    let named = |spans: &[Received], service: &str, name: &str| -> Vec<Received> {
        spans
            .iter()
            .filter(|s| s.service == service && s.name == name)
            .cloned()
            .collect()
    };
    // Both shards' spans on both sides, once their attempts ended and were exported.
    wait_until("the spans of the run", Duration::from_secs(60), || {
        let all = spans();
        named(&all, "test-coordinator", "run").len() == 1
            && named(&all, "test-coordinator", "shard").len() == 2
            && ["test-w-east", "test-w-west"]
                .iter()
                .all(|w| named(&all, w, "shard").len() == 1 && !named(&all, w, "report").is_empty())
    });
    let all = spans();
    let run_span = &named(&all, "test-coordinator", "run")[0];
    assert_eq!(run_span.attributes["run"], run_id);
    assert!(run_span.parent.is_empty(), "the run is the root");
    for shard in named(&all, "test-coordinator", "shard") {
        assert_eq!(shard.trace, run_span.trace);
        assert_eq!(shard.parent, run_span.id, "a shard is a child of its run");
        for key in ["run", "shard", "attempt", "worker", "region"] {
            assert!(shard.attributes.contains_key(key), "{key} in {shard:?}");
        }
        let worker = &shard.attributes["worker"];
        // The worker's span of the same attempt continues it.
        let theirs: Vec<Received> = named(&all, &format!("test-{worker}"), "shard");
        assert_eq!(theirs.len(), 1, "{all:#?}");
        let theirs = &theirs[0];
        assert_eq!(theirs.trace, run_span.trace, "one trace across processes");
        assert_eq!(
            theirs.parent, shard.id,
            "the worker's shard span continues the coordinator's"
        );
        assert_eq!(theirs.attributes["shard"], shard.attributes["shard"]);
        assert_eq!(theirs.attributes["region"], shard.attributes["region"]);
        // Reports: sent under the worker's shard span, merged under the coordinator's.
        let sent = named(&all, &format!("test-{worker}"), "report");
        assert!(sent
            .iter()
            .all(|r| r.parent == theirs.id && r.trace == run_span.trace));
        let merged: Vec<&Received> = all
            .iter()
            .filter(|s| {
                s.service == "test-coordinator" && s.name == "report" && s.parent == shard.id
            })
            .collect();
        assert!(!merged.is_empty(), "merged reports of {shard:?}");
        assert!(merged.iter().all(|r| r.attributes["verdict"] == "merged"));
        let records: u64 = merged
            .iter()
            .map(|r| r.attributes["records"].parse::<u64>().unwrap())
            .sum();
        assert_eq!(records, 4, "each region's half of the invocations");
    }
    drop(workers);
}

/// The run's id, from fleet.json.
fn read_run_id(run: &Run) -> String {
    let fleet = support::read_json(&run.out_dir.path().join("fleet.json"));
    fleet["run"].as_str().unwrap().to_string()
}
