//! HDR histograms as experiments store and read them: interval logs written by the invocation
//! engine (`latency.hlog`), single histograms in JSON (V2 compressed, base64), and what reports
//! take from them. Percentiles are always read from a histogram merged first (STYLE §8).

use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use sebs_worker::engine::recorder::{HIGHEST_US, SIGNIFICANT_DIGITS};

pub(crate) use crate::results::load_files::percentiles_ms;

/// An empty histogram of µs with the engine's bounds, so that all histograms add up.
pub fn empty() -> Histogram<u64> {
    // Constant bounds the engine's recorder checks in its tests; valid by construction.
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Records `us` (clamped into the bounds).
pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(1, HIGHEST_US));
}

/// Adds `from` into `into`. Between histograms of [`empty`]'s bounds it cannot fail.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        tracing::warn!("a histogram with other bounds could not be merged");
    }
}

/// V2 compressed, base64: the form interval logs use, for JSON files.
pub fn encode(h: &Histogram<u64>) -> Result<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing a histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

pub fn decode(text: &str) -> Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .context("a histogram is not base64")?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("a histogram does not deserialize: {e:?}"))
}

/// One interval of an interval log.
#[derive(Debug)]
pub struct Interval {
    pub tag: Option<String>,
    pub histogram: Histogram<u64>,
}

/// Every interval of an HdrHistogram interval log file.
pub fn read_log(path: &Path) -> Result<Vec<Interval>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
        if let LogEntry::Interval(i) = entry {
            out.push(Interval {
                tag: i.tag().map(|t| t.as_str().to_string()),
                histogram: decode(i.encoded_histogram())
                    .with_context(|| format!("{}: an interval", path.display()))?,
            });
        }
    }
    Ok(out)
}

/// The intervals of `tag` merged into one histogram.
pub fn merged(intervals: &[Interval], tag: &str) -> Histogram<u64> {
    let mut total = empty();
    for i in intervals.iter().filter(|i| i.tag.as_deref() == Some(tag)) {
        merge(&mut total, &i.histogram);
    }
    total
}

/// The CDF of a histogram in ms: (value, fraction at or below it), one point per recorded value.
pub fn cdf_ms(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let total = h.len().max(1) as f64;
    let mut below = 0u64;
    let mut points = Vec::new();
    for v in h.iter_recorded() {
        let x = h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
        points.push((x, below as f64 / total));
        below += v.count_since_last_iteration();
        points.push((x, below as f64 / total));
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_json_and_merging() {
        let mut h = empty();
        for us in 1..=1000 {
            record(&mut h, us * 10);
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back.len(), 1000);
        let mut total = empty();
        merge(&mut total, &back);
        merge(&mut total, &h);
        assert_eq!(total.len(), 2000);
        let p = percentiles_ms(&total);
        assert!((p["p50"].as_f64().unwrap() - 5.0).abs() < 0.01, "{p}");
        let cdf = cdf_ms(&total);
        assert_eq!(cdf.last().map(|p| p.1), Some(1.0));
        assert!(percentiles_ms(&empty()).is_null());
    }
}
