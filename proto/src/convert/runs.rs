//! Client ⇄ coordinator messages on the wire.

use std::sync::Arc;

use sebs_common::config::Overrides;

use super::job::{
    job_from_pb, job_to_pb, load_from_pb, load_to_pb, open_from_pb, open_to_pb, placement_from_pb,
    placement_to_pb,
};
use super::records::{delta_from_pb, delta_to_pb, record_from_pb, record_to_pb};
use super::{parse, required, ConvertError};
use crate::generated::sebs::runs::v1 as pb;
use crate::ids::{Attempt, Region, RunId, ShardId, WorkerId};
use crate::runs::{
    BenchmarkInvoke, ConfigText, ExperimentCall, KeyedRecorder, Origin, PlannedShard, RunEvent,
    RunFinished, RunInterval, RunRecord, RunStarted, SessionId, SessionJob, ShardChange,
    ShardState, Submission, WorkerClock,
};

pub(crate) fn submission_to_pb(s: &Submission) -> pb::Submission {
    use pb::submission::Kind;
    let kind = match s {
        Submission::Job(job) => Kind::Job(job_to_pb(job)),
        Submission::Benchmark(b) => Kind::Benchmark(benchmark_to_pb(b)),
        Submission::SessionJob(j) => Kind::SessionJob(pb::SessionJob {
            session: j.session.0,
            job: Some(job_to_pb(&j.job)),
            metadata_json: j.metadata.to_string(),
        }),
    };
    pb::Submission { kind: Some(kind) }
}

fn benchmark_to_pb(b: &BenchmarkInvoke) -> pb::BenchmarkInvoke {
    let o = &b.overrides;
    pb::BenchmarkInvoke {
        benchmark: b.benchmark.clone(),
        size: b.size.clone(),
        config_json: b.config.as_ref().map(|c| c.text.clone()),
        config_origin: b
            .config
            .as_ref()
            .map(|c| c.origin.clone())
            .unwrap_or_default(),
        deployment: o.deployment.map(|d| d.as_str().to_string()),
        language: o.language.map(|l| l.to_string()),
        language_version: o.language_version.clone(),
        architecture: o.architecture.map(|a| a.to_string()),
        update_code: o.update_code,
        update_storage: o.update_storage,
        repetitions: o.repetitions,
        concurrency: o.concurrency,
        memory: o.memory,
        timeout: o.timeout,
        trigger: o.trigger.map(|t| t.as_str().to_string()),
        cold: b.cold,
        validate: b.validate,
        open: b.open.as_ref().map(open_to_pb),
        placement: Some(placement_to_pb(&b.placement)),
        client_host: b.client_host.clone(),
        data_url: b.data_url.clone(),
    }
}

pub(crate) fn experiment_call_to_pb(call: &ExperimentCall) -> pb::ExperimentCall {
    use pb::experiment_call::Kind;
    let kind = match call {
        ExperimentCall::Open(b) => Kind::Open(benchmark_to_pb(b)),
        ExperimentCall::Step { session, step } => Kind::Step(pb::SessionStep {
            session: session.0,
            step_json: step.to_string(),
        }),
    };
    pb::ExperimentCall { kind: Some(kind) }
}

pub(crate) fn experiment_call_from_pb(
    call: pb::ExperimentCall,
) -> Result<ExperimentCall, ConvertError> {
    use pb::experiment_call::Kind;
    Ok(match required(call.kind, "experiment_call.kind")? {
        Kind::Open(b) => ExperimentCall::Open(Box::new(benchmark_from_pb(b)?)),
        Kind::Step(s) => ExperimentCall::Step {
            session: SessionId(s.session),
            step: json(&s.step_json, "session_step.step_json")?.unwrap_or_default(),
        },
    })
}

fn optional<T: std::str::FromStr>(
    text: Option<String>,
    field: &'static str,
) -> Result<Option<T>, ConvertError>
where
    T::Err: std::fmt::Display,
{
    text.map(|t| parse(&t, field)).transpose()
}

pub(crate) fn submission_from_pb(s: pb::Submission) -> Result<Submission, ConvertError> {
    use pb::submission::Kind;
    Ok(match required(s.kind, "submission.kind")? {
        Kind::Job(job) => Submission::Job(Box::new(job_from_pb(job)?)),
        Kind::Benchmark(b) => Submission::Benchmark(Box::new(benchmark_from_pb(b)?)),
        Kind::SessionJob(j) => Submission::SessionJob(Box::new(SessionJob {
            session: SessionId(j.session),
            job: job_from_pb(required(j.job, "session_job.job")?)?,
            metadata: json(&j.metadata_json, "session_job.metadata_json")?.unwrap_or_default(),
        })),
    })
}

fn benchmark_from_pb(b: pb::BenchmarkInvoke) -> Result<BenchmarkInvoke, ConvertError> {
    Ok(BenchmarkInvoke {
        config: b.config_json.map(|text| ConfigText {
            text,
            origin: b.config_origin,
        }),
        overrides: Overrides {
            deployment: optional(b.deployment, "benchmark.deployment")?,
            language: optional(b.language, "benchmark.language")?,
            language_version: b.language_version,
            architecture: optional(b.architecture, "benchmark.architecture")?,
            update_code: b.update_code,
            update_storage: b.update_storage,
            repetitions: b.repetitions,
            concurrency: b.concurrency,
            memory: b.memory,
            timeout: b.timeout,
            trigger: optional(b.trigger, "benchmark.trigger")?,
        },
        benchmark: b.benchmark,
        size: b.size,
        cold: b.cold,
        validate: b.validate,
        open: b.open.map(open_from_pb).transpose()?,
        placement: placement_from_pb(b.placement)?,
        client_host: b.client_host,
        data_url: b.data_url,
    })
}

pub(crate) fn keyed_to_pb(k: &KeyedRecorder) -> pb::KeyedDelta {
    pb::KeyedDelta {
        function: k.function.clone(),
        region: k.region.to_string(),
        delta: Some(delta_to_pb(&k.recorder)),
    }
}

pub(crate) fn keyed_from_pb(k: pb::KeyedDelta) -> Result<KeyedRecorder, ConvertError> {
    Ok(KeyedRecorder {
        function: k.function,
        region: parse(&k.region, "delta.region")?,
        recorder: delta_from_pb(required(k.delta, "delta.delta")?)?,
    })
}

pub(crate) fn worker(id: String, field: &'static str) -> Result<WorkerId, ConvertError> {
    WorkerId::new(id).map_err(|e| ConvertError::new(field, e.to_string()))
}

fn json(text: &str, field: &'static str) -> Result<Option<serde_json::Value>, ConvertError> {
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ConvertError::new(field, e.to_string()))
}

pub(crate) fn event_to_pb(e: &RunEvent) -> pb::RunEvent {
    use pb::run_event::Kind;
    let kind = match e {
        RunEvent::Accepted(run) => Kind::Accepted(pb::Accepted { run_id: run.0 }),
        RunEvent::Status(message) => Kind::Status(pb::Status {
            message: message.clone(),
        }),
        RunEvent::Started(s) => Kind::Started(pb::Started {
            run_id: s.run.0,
            function: s.function.clone(),
            title: s.title.clone(),
            metadata_json: s.metadata.to_string(),
            load: Some(load_to_pb(&s.load)),
            keep_outputs: s.keep_outputs,
            started_at: s.started_at,
            shards: s
                .shards
                .iter()
                .map(|p| pb::PlannedShard {
                    shard_id: p.shard.0,
                    region: p.region.to_string(),
                    worker_id: p.worker.to_string(),
                    wave: p.wave,
                    planned: p.planned,
                })
                .collect(),
        }),
        RunEvent::Records(records) => Kind::Records(pb::Records {
            records: records
                .iter()
                .map(|r| pb::RunRecord {
                    origin: Some(pb::Origin {
                        region: r.origin.region.to_string(),
                        worker_id: r.origin.worker.to_string(),
                        shard_id: r.origin.shard.0,
                        attempt: r.origin.attempt.0,
                    }),
                    record: Some(record_to_pb(&r.record)),
                    result_json: r
                        .result
                        .as_ref()
                        .and_then(|x| serde_json::to_string(x).ok())
                        .unwrap_or_default(),
                })
                .collect(),
        }),
        RunEvent::Interval(i) => Kind::Interval(pb::Interval {
            from_s: i.from_s,
            to_s: i.to_s,
            sent: i.sent,
            intended: i.intended,
            deltas: i.deltas.iter().map(keyed_to_pb).collect(),
        }),
        RunEvent::Shard(c) => Kind::Shard(pb::ShardChange {
            shard_id: c.shard.0,
            attempt: c.attempt.0,
            worker_id: c.worker.to_string(),
            region: c.region.to_string(),
            state: c.state.as_str().to_string(),
            reason: c.reason.clone(),
        }),
        RunEvent::Finished(f) => Kind::Finished(pb::Finished {
            complete: f.complete,
            error: f.error.clone().unwrap_or_default(),
            totals: f.totals.iter().map(keyed_to_pb).collect(),
            sent: f.sent,
            elapsed_s: f.elapsed_s,
            worst_behind: f.worst_behind,
            workers: f
                .workers
                .iter()
                .map(|w| pb::WorkerClock {
                    worker_id: w.worker.to_string(),
                    region: w.region.to_string(),
                    offset_s: w.offset_s,
                    round_trip_s: w.round_trip_s,
                    samples: w.samples,
                })
                .collect(),
            validation_json: f
                .validation
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            duplicates: f.duplicates,
        }),
        RunEvent::Failed(message) => Kind::Failed(pb::Failed {
            message: message.clone(),
        }),
    };
    pb::RunEvent { kind: Some(kind) }
}

pub(crate) fn event_from_pb(e: pb::RunEvent) -> Result<RunEvent, ConvertError> {
    use pb::run_event::Kind;
    Ok(match required(e.kind, "run_event.kind")? {
        Kind::Accepted(a) => RunEvent::Accepted(RunId(a.run_id)),
        Kind::Status(s) => RunEvent::Status(s.message),
        Kind::Started(s) => RunEvent::Started(Arc::new(RunStarted {
            run: RunId(s.run_id),
            function: s.function,
            title: s.title,
            metadata: json(&s.metadata_json, "started.metadata_json")?.unwrap_or_default(),
            load: load_from_pb(s.load)?,
            keep_outputs: s.keep_outputs,
            started_at: s.started_at,
            shards: s
                .shards
                .into_iter()
                .map(|p| {
                    Ok(PlannedShard {
                        shard: ShardId(p.shard_id),
                        region: parse(&p.region, "started.shards.region")?,
                        worker: worker(p.worker_id, "started.shards.worker_id")?,
                        wave: p.wave,
                        planned: p.planned,
                    })
                })
                .collect::<Result<_, ConvertError>>()?,
        })),
        Kind::Records(r) => RunEvent::Records(Arc::new(
            r.records
                .into_iter()
                .map(|r| {
                    let origin = required(r.origin, "records.origin")?;
                    Ok(RunRecord {
                        origin: Origin {
                            region: parse::<Region>(&origin.region, "records.origin.region")?,
                            worker: worker(origin.worker_id, "records.origin.worker_id")?,
                            shard: ShardId(origin.shard_id),
                            attempt: Attempt(origin.attempt),
                        },
                        record: record_from_pb(required(r.record, "records.record")?)?,
                        result: json(&r.result_json, "records.result_json")?
                            .map(|v| {
                                serde_json::from_value(v).map_err(|e| {
                                    ConvertError::new("records.result_json", e.to_string())
                                })
                            })
                            .transpose()?,
                    })
                })
                .collect::<Result<_, ConvertError>>()?,
        )),
        Kind::Interval(i) => RunEvent::Interval(Arc::new(RunInterval {
            from_s: i.from_s,
            to_s: i.to_s,
            sent: i.sent,
            intended: i.intended,
            deltas: i
                .deltas
                .into_iter()
                .map(keyed_from_pb)
                .collect::<Result<_, _>>()?,
        })),
        Kind::Shard(c) => RunEvent::Shard(ShardChange {
            shard: ShardId(c.shard_id),
            attempt: Attempt(c.attempt),
            worker: worker(c.worker_id, "shard.worker_id")?,
            region: parse(&c.region, "shard.region")?,
            state: ShardState::parse(&c.state)
                .ok_or_else(|| ConvertError::new("shard.state", c.state.clone()))?,
            reason: c.reason,
        }),
        Kind::Finished(f) => RunEvent::Finished(Arc::new(RunFinished {
            complete: f.complete,
            error: (!f.error.is_empty()).then_some(f.error),
            totals: f
                .totals
                .into_iter()
                .map(keyed_from_pb)
                .collect::<Result<_, _>>()?,
            sent: f.sent,
            elapsed_s: f.elapsed_s,
            worst_behind: f.worst_behind,
            workers: f
                .workers
                .into_iter()
                .map(|w| {
                    Ok(WorkerClock {
                        worker: worker(w.worker_id, "finished.workers.worker_id")?,
                        region: parse(&w.region, "finished.workers.region")?,
                        offset_s: w.offset_s,
                        round_trip_s: w.round_trip_s,
                        samples: w.samples,
                    })
                })
                .collect::<Result<_, ConvertError>>()?,
            validation: json(&f.validation_json, "finished.validation_json")?,
            duplicates: f.duplicates,
        })),
        Kind::Failed(f) => RunEvent::Failed(f.message),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use sebs_common::config::{Deployment, TriggerKind};
    use sebs_platform::TriggerSpec;

    use super::*;
    use crate::job::{ClosedLoad, JobSpec, Load, Placement};

    fn job() -> JobSpec {
        JobSpec {
            function: "sebs-110-python".into(),
            trigger: TriggerSpec {
                deployment: Deployment::Local,
                kind: TriggerKind::Http,
                function: "sebs-110-python".into(),
                url: Some("http://127.0.0.1:9/sebs-110-python".into()),
                timeout: Duration::from_secs(30),
                settings: serde_json::Value::Null,
            },
            payload: Bytes::from_static(b"{\"size\": 1}"),
            load: Load::Closed(ClosedLoad {
                invocations: 4,
                concurrency: 4,
                batches: false,
            }),
            keep_outputs: true,
            placement: Placement::parse("eu-west-1").unwrap(),
        }
    }

    #[test]
    fn session_jobs_and_experiment_steps_cross_the_wire() {
        let submission = Submission::SessionJob(Box::new(SessionJob {
            session: SessionId(7),
            job: job(),
            metadata: serde_json::json!({"experiment": "perf-cost"}),
        }));
        let Submission::SessionJob(back) =
            submission_from_pb(submission_to_pb(&submission)).unwrap()
        else {
            panic!("not a session job");
        };
        assert_eq!(back.session, SessionId(7));
        assert_eq!(back.metadata["experiment"], "perf-cost");
        assert_eq!(back.job.trigger, job().trigger);
        assert_eq!(back.job.placement, job().placement);
        assert_eq!(back.job.payload, job().payload);

        let step = serde_json::json!({"step": "prepare", "size": "test"});
        let call = ExperimentCall::Step {
            session: SessionId(7),
            step: step.clone(),
        };
        let ExperimentCall::Step { session, step: got } =
            experiment_call_from_pb(experiment_call_to_pb(&call)).unwrap()
        else {
            panic!("not a step");
        };
        assert_eq!((session, got), (SessionId(7), step));

        let open = ExperimentCall::Open(Box::new(BenchmarkInvoke {
            benchmark: "110.dynamic-html".into(),
            overrides: Overrides {
                memory: Some(256),
                ..Overrides::default()
            },
            ..BenchmarkInvoke::default()
        }));
        let ExperimentCall::Open(b) =
            experiment_call_from_pb(experiment_call_to_pb(&open)).unwrap()
        else {
            panic!("not an open");
        };
        assert_eq!(
            (b.benchmark.as_str(), b.overrides.memory),
            ("110.dynamic-html", Some(256))
        );
    }

    #[test]
    fn a_step_that_is_not_json_names_its_field() {
        let bad = pb::ExperimentCall {
            kind: Some(pb::experiment_call::Kind::Step(pb::SessionStep {
                session: 1,
                step_json: "{not json".into(),
            })),
        };
        let e = experiment_call_from_pb(bad).unwrap_err();
        assert_eq!(e.field, "session_step.step_json");
    }
}
