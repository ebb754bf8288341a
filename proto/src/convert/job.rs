//! The job model on the wire.

use std::time::Duration;

use sebs_platform::TriggerSpec;
use sebs_worker::engine::schedule::{Arrival, RateProfile, Segment};
use sebs_worker::engine::seqset::SeqSet;
use sebs_worker::engine::share::Share;

use super::{parse, required, ConvertError};
use crate::generated::sebs::job::v1 as pb;
use crate::ids::Region;
use crate::job::{ClosedLoad, JobSpec, Load, OpenLoad, Placement, ShardWork};

pub(crate) fn trigger_to_pb(t: &TriggerSpec) -> pb::TriggerSpec {
    pb::TriggerSpec {
        deployment: t.deployment.as_str().to_string(),
        kind: t.kind.as_str().to_string(),
        function: t.function.clone(),
        url: t.url.clone(),
        timeout_s: t.timeout.as_secs_f64(),
        settings_json: if t.settings.is_null() {
            String::new()
        } else {
            t.settings.to_string()
        },
    }
}

pub(crate) fn trigger_from_pb(t: pb::TriggerSpec) -> Result<TriggerSpec, ConvertError> {
    Ok(TriggerSpec {
        deployment: parse(&t.deployment, "trigger.deployment")?,
        kind: parse(&t.kind, "trigger.kind")?,
        function: t.function,
        url: t.url,
        timeout: Duration::try_from_secs_f64(t.timeout_s)
            .map_err(|e| ConvertError::new("trigger.timeout_s", e.to_string()))?,
        settings: if t.settings_json.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&t.settings_json)
                .map_err(|e| ConvertError::new("trigger.settings_json", e.to_string()))?
        },
    })
}

fn segments_to_pb(p: &RateProfile) -> Vec<pb::Segment> {
    p.segments()
        .map(|s| pb::Segment {
            duration_s: s.duration.as_secs_f64(),
            start_rate: s.start_rate,
            end_rate: s.end_rate,
        })
        .collect()
}

fn profile_from_pb(segments: Vec<pb::Segment>) -> Result<RateProfile, ConvertError> {
    let segments = segments
        .into_iter()
        .map(|s| {
            Ok(Segment {
                duration: Duration::try_from_secs_f64(s.duration_s)
                    .map_err(|e| ConvertError::new("segments.duration_s", e.to_string()))?,
                start_rate: s.start_rate,
                end_rate: s.end_rate,
            })
        })
        .collect::<Result<Vec<_>, ConvertError>>()?;
    RateProfile::from_segments(segments).map_err(|e| ConvertError::new("segments", e.to_string()))
}

fn arrival_to_pb(a: Arrival) -> pb::Arrival {
    pb::Arrival {
        kind: Some(match a {
            Arrival::Constant => pb::arrival::Kind::Constant(pb::ConstantArrival {}),
            Arrival::Poisson { seed } => pb::arrival::Kind::Poisson(pb::PoissonArrival { seed }),
        }),
    }
}

fn arrival_from_pb(a: Option<pb::Arrival>) -> Result<Arrival, ConvertError> {
    match required(required(a, "arrival")?.kind, "arrival.kind")? {
        pb::arrival::Kind::Constant(_) => Ok(Arrival::Constant),
        pb::arrival::Kind::Poisson(p) => Ok(Arrival::Poisson { seed: p.seed }),
    }
}

pub(crate) fn open_to_pb(o: &OpenLoad) -> pb::OpenLoad {
    pb::OpenLoad {
        segments: segments_to_pb(&o.profile),
        arrival: Some(arrival_to_pb(o.arrival)),
        max_count: o.max_count,
        tasks: o.tasks,
    }
}

pub(crate) fn open_from_pb(o: pb::OpenLoad) -> Result<OpenLoad, ConvertError> {
    Ok(OpenLoad {
        profile: profile_from_pb(o.segments)?,
        arrival: arrival_from_pb(o.arrival)?,
        max_count: o.max_count,
        tasks: o.tasks,
    })
}

pub(crate) fn load_to_pb(l: &Load) -> pb::Load {
    pb::Load {
        kind: Some(match l {
            Load::Closed(c) => pb::load::Kind::Closed(pb::ClosedLoad {
                invocations: c.invocations,
                concurrency: c.concurrency,
                batches: c.batches,
            }),
            Load::Open(o) => pb::load::Kind::Open(open_to_pb(o)),
        }),
    }
}

pub(crate) fn load_from_pb(l: Option<pb::Load>) -> Result<Load, ConvertError> {
    match required(required(l, "load")?.kind, "load.kind")? {
        pb::load::Kind::Closed(c) => Ok(Load::Closed(ClosedLoad {
            invocations: c.invocations,
            concurrency: c.concurrency,
            batches: c.batches,
        })),
        pb::load::Kind::Open(o) => Ok(Load::Open(open_from_pb(o)?)),
    }
}

pub(crate) fn placement_to_pb(p: &Placement) -> pb::Placement {
    pb::Placement {
        regions: p
            .regions()
            .iter()
            .map(|(region, weight)| pb::RegionWeight {
                region: region.to_string(),
                weight: *weight,
            })
            .collect(),
    }
}

pub(crate) fn placement_from_pb(p: Option<pb::Placement>) -> Result<Placement, ConvertError> {
    let regions = p
        .unwrap_or_default()
        .regions
        .into_iter()
        .map(|r| Ok((parse::<Region>(&r.region, "placement.region")?, r.weight)))
        .collect::<Result<Vec<_>, ConvertError>>()?;
    Placement::new(regions).map_err(|e| ConvertError::new("placement", e.to_string()))
}

pub(crate) fn job_to_pb(j: &JobSpec) -> pb::JobSpec {
    pb::JobSpec {
        function: j.function.clone(),
        trigger: Some(trigger_to_pb(&j.trigger)),
        payload: j.payload.to_vec(),
        load: Some(load_to_pb(&j.load)),
        keep_outputs: j.keep_outputs,
        placement: Some(placement_to_pb(&j.placement)),
    }
}

pub(crate) fn job_from_pb(j: pb::JobSpec) -> Result<JobSpec, ConvertError> {
    Ok(JobSpec {
        function: j.function,
        trigger: trigger_from_pb(required(j.trigger, "job.trigger")?)?,
        payload: j.payload.into(),
        load: load_from_pb(j.load)?,
        keep_outputs: j.keep_outputs,
        placement: placement_from_pb(j.placement)?,
    })
}

pub(crate) fn work_to_pb(w: &ShardWork) -> pb::ShardWork {
    pb::ShardWork {
        kind: Some(match w {
            ShardWork::Closed { invocations, tasks } => {
                pb::shard_work::Kind::Closed(pb::ClosedShard {
                    invocations: *invocations,
                    tasks: *tasks,
                })
            }
            ShardWork::Open {
                profile,
                arrival,
                max_count,
                share,
                tasks,
            } => pb::shard_work::Kind::Open(pb::OpenShard {
                segments: segments_to_pb(profile),
                arrival: Some(arrival_to_pb(*arrival)),
                max_count: *max_count,
                share: Some(pb::Share {
                    period: share.period(),
                    residues: share.residues().to_vec(),
                    stream: share.stream(),
                }),
                tasks: *tasks,
            }),
        }),
    }
}

pub(crate) fn work_from_pb(w: Option<pb::ShardWork>) -> Result<ShardWork, ConvertError> {
    match required(required(w, "work")?.kind, "work.kind")? {
        pb::shard_work::Kind::Closed(c) => Ok(ShardWork::Closed {
            invocations: c.invocations,
            tasks: c.tasks,
        }),
        pb::shard_work::Kind::Open(o) => {
            let share = required(o.share, "work.share")?;
            Ok(ShardWork::Open {
                profile: profile_from_pb(o.segments)?,
                arrival: arrival_from_pb(o.arrival)?,
                max_count: o.max_count,
                share: Share::new(share.period, share.residues, share.stream)
                    .map_err(|e| ConvertError::new("work.share", e.to_string()))?,
                tasks: o.tasks,
            })
        }
    }
}

pub(crate) fn seqset_to_pb(s: &SeqSet) -> Vec<pb::SeqRange> {
    s.ranges()
        .iter()
        .map(|r| pb::SeqRange {
            start: r.start,
            end: r.end,
        })
        .collect()
}

pub(crate) fn seqset_from_pb(ranges: Vec<pb::SeqRange>) -> SeqSet {
    SeqSet::from_ranges(ranges.into_iter().map(|r| r.start..r.end))
}
