//! Invocation records and histogram deltas on the wire.
//!
//! A histogram delta travels as the recorder's non-empty cells, each in HdrHistogram's V2 format
//! compressed with deflate (what `.hlog` files hold), plus its counts. Decoding adds the cells to
//! a recorder: deltas add up exactly, nothing is averaged.

use http::{HeaderMap, HeaderName, HeaderValue};
use sebs_common::{ErrorKind, InvocationError};
use sebs_worker::engine::recorder::{Cell, Metric, Recorder};
use sebs_worker::engine::records::{Record, RequestId, ShortText, Timing};
use sebs_worker::RawInvocation;

use super::ConvertError;
use crate::generated::sebs::job::v1 as pb;

fn kind_from_pb(kind: &str, field: &'static str) -> Result<ErrorKind, ConvertError> {
    ErrorKind::parse(kind)
        .ok_or_else(|| ConvertError::new(field, format!("unknown error kind `{kind}`")))
}

pub(crate) fn record_to_pb(r: &Record) -> pb::InvocationRecord {
    let t = &r.timing;
    pb::InvocationRecord {
        sequence: r.sequence,
        request_id: r.request_id.to_string(),
        intended_s: t.intended_s,
        client_begin: t.client_begin,
        latency_us: t.latency_us,
        service_us: t.service_us,
        lag_us: t.lag_us,
        connect_us: t.connect_us,
        first_byte_us: t.first_byte_us,
        status: u32::from(r.status),
        failure: r
            .failure
            .map(|k| k.as_str().to_string())
            .unwrap_or_default(),
        cold: r.cold,
        benchmark_us: r.benchmark_us,
        container_id: r.container_id.as_str().to_string(),
        execution_us: r.execution_us,
        init_us: r.init_us,
        memory_kib: r.memory_kib,
        raw: r.raw.as_deref().map(raw_to_pb),
    }
}

pub(crate) fn record_from_pb(r: pb::InvocationRecord) -> Result<Record, ConvertError> {
    let request_id = RequestId::parse(&r.request_id).ok_or_else(|| {
        ConvertError::new(
            "record.request_id",
            format!("`{}` is not 32 hex digits", r.request_id),
        )
    })?;
    Ok(Record {
        sequence: r.sequence,
        request_id,
        timing: Timing {
            intended_s: r.intended_s,
            client_begin: r.client_begin,
            latency_us: r.latency_us,
            service_us: r.service_us,
            lag_us: r.lag_us,
            connect_us: r.connect_us,
            first_byte_us: r.first_byte_us,
        },
        status: u16::try_from(r.status)
            .map_err(|_| ConvertError::new("record.status", r.status.to_string()))?,
        failure: if r.failure.is_empty() {
            None
        } else {
            Some(kind_from_pb(&r.failure, "record.failure")?)
        },
        cold: r.cold,
        benchmark_us: r.benchmark_us,
        container_id: ShortText::new(&r.container_id),
        execution_us: r.execution_us,
        init_us: r.init_us,
        memory_kib: r.memory_kib,
        raw: r.raw.map(raw_from_pb).transpose()?.map(Box::new),
    })
}

fn raw_to_pb(raw: &RawInvocation) -> pb::RawInvocation {
    pb::RawInvocation {
        client_begin: raw.client_begin,
        client_end: raw.client_end,
        client_us: raw.client_us,
        http_startup_s: raw.http_startup,
        first_byte_s: raw.first_byte,
        status: raw.status.map(u32::from),
        headers: raw
            .headers
            .iter()
            .map(|(name, value)| pb::Header {
                name: name.as_str().to_string(),
                value: value.as_bytes().to_vec(),
            })
            .collect(),
        body: raw.body.to_vec(),
        error: raw.error.as_ref().map(|e| pb::InvocationFailure {
            kind: e.kind.as_str().to_string(),
            message: e.message.clone(),
        }),
    }
}

fn raw_from_pb(raw: pb::RawInvocation) -> Result<RawInvocation, ConvertError> {
    let mut headers = HeaderMap::with_capacity(raw.headers.len());
    for h in raw.headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| ConvertError::new("raw.headers.name", e.to_string()))?;
        let value = HeaderValue::from_bytes(&h.value)
            .map_err(|e| ConvertError::new("raw.headers.value", e.to_string()))?;
        headers.append(name, value);
    }
    Ok(RawInvocation {
        client_begin: raw.client_begin,
        client_end: raw.client_end,
        client_us: raw.client_us,
        http_startup: raw.http_startup_s,
        first_byte: raw.first_byte_s,
        status: raw
            .status
            .map(|s| u16::try_from(s).map_err(|_| ConvertError::new("raw.status", s.to_string())))
            .transpose()?,
        headers,
        body: raw.body.into(),
        error: raw
            .error
            .map(|e| {
                Ok::<_, ConvertError>(InvocationError {
                    kind: kind_from_pb(&e.kind, "raw.error.kind")?,
                    message: e.message,
                })
            })
            .transpose()?,
    })
}

/// A recorder (a delta, an interval, a total) as its compressed cells and counts.
pub(crate) fn delta_to_pb(r: &Recorder) -> pb::HistogramDelta {
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut serializer = V2DeflateSerializer::new();
    let cells = r
        .cells()
        .filter_map(|(cell, h)| {
            let mut bytes = Vec::new();
            match serializer.serialize(h, &mut bytes) {
                Ok(_) => Some(pb::HistogramCell {
                    metric: cell.metric.as_str().to_string(),
                    cold: cell.cold,
                    ok: cell.ok,
                    v2_deflate: bytes,
                }),
                Err(e) => {
                    // Writing into a Vec cannot fail; a histogram the serializer refuses is a bug.
                    tracing::error!(error = ?e, "cannot serialize a histogram; its cell is left out");
                    None
                }
            }
        })
        .collect();
    pb::HistogramDelta {
        cells,
        failures: r
            .failures()
            .map(|(kind, count)| pb::FailureCount {
                kind: kind.as_str().to_string(),
                count,
            })
            .collect(),
        count: r.count(),
        clamped: r.clamped(),
    }
}

pub(crate) fn delta_from_pb(d: pb::HistogramDelta) -> Result<Recorder, ConvertError> {
    let mut deserializer = hdrhistogram::serialization::Deserializer::new();
    let mut recorder = Recorder::new();
    for cell in d.cells {
        let metric = Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == cell.metric)
            .ok_or_else(|| {
                ConvertError::new(
                    "delta.cells.metric",
                    format!("unknown metric `{}`", cell.metric),
                )
            })?;
        let h: hdrhistogram::Histogram<u64> = deserializer
            .deserialize(&mut cell.v2_deflate.as_slice())
            .map_err(|e| ConvertError::new("delta.cells.v2_deflate", format!("{e:?}")))?;
        let cell = Cell {
            metric,
            cold: cell.cold,
            ok: cell.ok,
        };
        recorder
            .add_histogram(cell, &h)
            .map_err(|e| ConvertError::new("delta.cells.v2_deflate", format!("{e:?}")))?;
    }
    let failures = d
        .failures
        .iter()
        .map(|f| Ok((kind_from_pb(&f.kind, "delta.failures.kind")?, f.count)))
        .collect::<Result<Vec<_>, ConvertError>>()?;
    recorder.add_counts(d.count, d.clamped, failures);
    Ok(recorder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;
    use sebs_worker::engine::recorder::Sample;

    fn recorder(samples: &[(u64, u64, bool, bool)], failures: &[ErrorKind]) -> Recorder {
        let mut r = Recorder::new();
        for &(client, lag, cold, ok) in samples {
            r.record(&Sample {
                client_us: client,
                benchmark_us: client / 2,
                connect_us: (client % 3 == 0).then_some(client / 10),
                lag_us: Some(lag),
                cold,
                ok,
            });
        }
        for &kind in failures {
            r.record_failure(kind);
        }
        r
    }

    fn round_trip(r: &Recorder) -> Recorder {
        let bytes = delta_to_pb(r).encode_to_vec();
        let decoded = pb::HistogramDelta::decode(bytes.as_slice()).unwrap();
        delta_from_pb(decoded).unwrap()
    }

    fn assert_same(a: &Recorder, b: &Recorder) {
        assert_eq!(a.count(), b.count());
        assert_eq!(a.clamped(), b.clamped());
        assert_eq!(
            a.failures().collect::<Vec<_>>(),
            b.failures().collect::<Vec<_>>()
        );
        for metric in Metric::ALL {
            for cold in [false, true] {
                for ok in [false, true] {
                    assert_eq!(
                        a.histogram(metric, Some(cold), Some(ok)),
                        b.histogram(metric, Some(cold), Some(ok)),
                        "{metric:?} cold={cold} ok={ok}"
                    );
                }
            }
        }
    }

    proptest! {
        // Each case compresses a few 184 KiB histograms; a few dozen cases cover the shapes.
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn a_delta_decodes_to_the_recorder_it_came_from(
            samples in proptest::collection::vec((1u64..10_000_000_000, 0u64..1_000_000, any::<bool>(), any::<bool>()), 0..300),
            failures in proptest::collection::vec(proptest::sample::select(ErrorKind::ALL.to_vec()), 0..20),
        ) {
            let r = recorder(&samples, &failures);
            assert_same(&round_trip(&r), &r);
        }

        #[test]
        fn decoded_deltas_add_up_to_the_whole(
            a in proptest::collection::vec((1u64..100_000_000, 0u64..1_000, any::<bool>(), any::<bool>()), 0..200),
            b in proptest::collection::vec((1u64..100_000_000, 0u64..1_000, any::<bool>(), any::<bool>()), 0..200),
        ) {
            let whole = recorder(&[a.clone(), b.clone()].concat(), &[]);
            let mut merged = round_trip(&recorder(&a, &[]));
            merged.merge(&round_trip(&recorder(&b, &[])));
            assert_same(&merged, &whole);
        }
    }

    #[test]
    fn an_empty_delta_is_small_and_a_bad_one_is_named() {
        let empty = delta_to_pb(&Recorder::new());
        assert!(empty.encoded_len() < 8, "{}", empty.encoded_len());
        let bad = pb::HistogramDelta {
            cells: vec![pb::HistogramCell {
                metric: "latency?".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = delta_from_pb(bad).unwrap_err();
        assert!(e.to_string().contains("latency?"), "{e}");
        let garbled = pb::HistogramDelta {
            cells: vec![pb::HistogramCell {
                metric: "client".into(),
                v2_deflate: vec![1, 2, 3],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(delta_from_pb(garbled)
            .unwrap_err()
            .field
            .contains("v2_deflate"));
    }

    #[test]
    fn records_keep_every_field_and_the_raw_reply() {
        let mut headers = HeaderMap::new();
        headers.insert("x-sebs-instance", HeaderValue::from_static("abc"));
        let record = Record {
            sequence: 41,
            request_id: RequestId::new(5 << 64, 41),
            timing: Timing {
                intended_s: 1.5,
                client_begin: 1e9,
                latency_us: 10,
                service_us: 9,
                lag_us: 1,
                connect_us: 2,
                first_byte_us: 3,
            },
            status: 500,
            failure: Some(ErrorKind::FunctionError),
            cold: true,
            benchmark_us: 4,
            container_id: ShortText::new("c0ffee00"),
            execution_us: 5,
            init_us: 6,
            memory_kib: 7,
            raw: Some(Box::new(RawInvocation {
                status: Some(500),
                headers,
                body: bytes::Bytes::from_static(b"{\"error\": \"x\"}"),
                error: Some(InvocationError {
                    kind: ErrorKind::Timeout,
                    message: "slow".into(),
                }),
                client_us: 12,
                ..Default::default()
            })),
        };
        let back = record_from_pb(record_to_pb(&record)).unwrap();
        assert_eq!(back.sequence, 41);
        assert_eq!(back.request_id, record.request_id);
        assert_eq!(back.timing, record.timing);
        assert_eq!(
            (back.status, back.failure, back.cold),
            (500, Some(ErrorKind::FunctionError), true)
        );
        assert_eq!(back.container_id.as_str(), "c0ffee00");
        let raw = back.raw.unwrap();
        assert_eq!(raw.headers["x-sebs-instance"], "abc");
        assert_eq!(raw.body.as_ref(), b"{\"error\": \"x\"}");
        assert_eq!(raw.error.unwrap().message, "slow");
        assert_eq!(raw.client_us, 12);
    }
}
