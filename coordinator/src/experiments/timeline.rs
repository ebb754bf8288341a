//! Open-loop runs over time, from their `records.csv` files: per time bucket, how many requests
//! the schedule intended and how many were sent, how many started cold or failed, and HDR
//! histograms of latency and schedule lag (percentiles per bucket are read from them). Several
//! records files (one per function of a trace replay) add into one timeline.

use std::path::Path;

use anyhow::Result;
use hdrhistogram::Histogram;
use sebs_report::{Body, Chart, Series};

use super::csv::for_each_row;
use super::hdr;

/// At most this many buckets, however long the run: bounded memory, readable plots.
const MAX_BUCKETS: f64 = 600.0;

#[derive(Default)]
struct Bucket {
    intended: u64,
    sent: u64,
    cold: u64,
    failed: u64,
    latency: Option<Histogram<u64>>,
    lag: Option<Histogram<u64>>,
}

/// Per-bucket histograms keep two significant digits (1%): enough for a time series, and a
/// tenth of the size of the engine's three-digit ones.
fn small_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, sebs_worker::engine::recorder::HIGHEST_US, 2)
        .expect("constant histogram bounds are valid")
}

pub struct Timeline {
    width_s: f64,
    buckets: Vec<Bucket>,
}

impl std::fmt::Debug for Timeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeline")
            .field("width_s", &self.width_s)
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

impl Timeline {
    /// Buckets of a whole number of seconds, at most [`MAX_BUCKETS`] of them over `duration_s`.
    pub fn new(duration_s: f64) -> Self {
        Timeline {
            width_s: (duration_s / MAX_BUCKETS).ceil().max(1.0),
            buckets: Vec::new(),
        }
    }

    pub fn width_s(&self) -> f64 {
        self.width_s
    }

    fn bucket(&mut self, t: f64) -> &mut Bucket {
        let i = (t.max(0.0) / self.width_s) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Bucket::default);
        }
        &mut self.buckets[i]
    }

    /// Adds one records file (the engine's `records.csv`).
    pub fn add(&mut self, records: &Path) -> Result<()> {
        let columns = ["intended_s", "lag_us", "latency_us", "is_cold", "ok"];
        for_each_row(records, &columns, |row| {
            let intended = row.number(0)?;
            let lag_us = row.number(1)?;
            self.bucket(intended).intended += 1;
            let b = self.bucket(intended + lag_us / 1e6);
            b.sent += 1;
            b.cold += u64::from(row.flag(3)?);
            b.failed += u64::from(!row.flag(4)?);
            hdr::record(
                b.latency.get_or_insert_with(small_histogram),
                row.number(2)? as u64,
            );
            hdr::record(b.lag.get_or_insert_with(small_histogram), lag_us as u64);
            Ok(())
        })
    }

    fn series(&self, name: &str, value: impl Fn(&Bucket) -> Option<f64>) -> Series {
        let points = self
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| value(b).map(|v| ((i as f64 + 0.5) * self.width_s, v)))
            .collect();
        Series::line(name, points)
    }

    fn quantile_ms(h: &Option<Histogram<u64>>, q: f64) -> Option<f64> {
        h.as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Rate intended and sent, latency and schedule lag percentiles, cold starts and failures
    /// over time: (file stem, chart, caption).
    pub fn charts(&self, x_label: &str) -> Vec<(&'static str, Chart, String)> {
        let per_s = self.width_s;
        let chart = |title: &str, y: &str, series| Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y.into(),
            body: Body::Lines(series),
        };
        let bucket = format!("per {per_s:.0} s bucket");
        vec![
            (
                "rate",
                chart(
                    "request rate",
                    "requests per second",
                    vec![
                        self.series("intended", |b| Some(b.intended as f64 / per_s)),
                        self.series("sent", |b| Some(b.sent as f64 / per_s)),
                    ],
                ),
                format!("Requests the schedule intended and the engine sent, {bucket}."),
            ),
            (
                "latency-over-time",
                chart(
                    "latency over time",
                    "latency [ms]",
                    vec![
                        self.series("p50", |b| Self::quantile_ms(&b.latency, 0.5)),
                        self.series("p99", |b| Self::quantile_ms(&b.latency, 0.99)),
                    ],
                ),
                format!("Latency from the intended send time (coordinated omission corrected), {bucket}, by when requests were sent."),
            ),
            (
                "lag",
                chart(
                    "schedule lag",
                    "lag [ms]",
                    vec![
                        self.series("p50", |b| Self::quantile_ms(&b.lag, 0.5)),
                        self.series("p99", |b| Self::quantile_ms(&b.lag, 0.99)),
                        self.series("max", |b| Self::quantile_ms(&b.lag, 1.0)),
                    ],
                ),
                format!("How late requests left after their intended time, {bucket}."),
            ),
            (
                "cold-starts",
                chart(
                    "cold starts and failures",
                    "invocations per second",
                    vec![
                        self.series("cold", |b| Some(b.cold as f64 / per_s)),
                        self.series("failed", |b| Some(b.failed as f64 / per_s)),
                    ],
                ),
                format!("Invocations that started an instance, and failures, {bucket}."),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::csv::CsvWriter;

    #[test]
    fn records_fall_in_their_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.csv");
        let mut w = CsvWriter::create(
            &path,
            &["intended_s", "lag_us", "latency_us", "is_cold", "ok"],
        )
        .unwrap();
        w.row(&["0.5", "100", "2000", "1", "1"]).unwrap();
        w.row(&["0.9", "200000", "3000", "0", "0"]).unwrap(); // intended in second 0, sent in 1
        w.row(&["1.2", "0", "4000", "0", "1"]).unwrap();
        drop(w);
        let mut t = Timeline::new(2.0);
        t.add(&path).unwrap();
        let (i, s) = (&t.buckets[0], &t.buckets[1]);
        assert_eq!((i.intended, i.sent, i.cold), (2, 1, 1));
        assert_eq!((s.intended, s.sent, s.failed), (1, 2, 1));
        assert_eq!(Timeline::new(6000.0).width_s(), 10.0);
    }
}
