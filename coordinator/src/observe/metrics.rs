//! Metric families and the Prometheus text exposition format (version 0.0.4) they render to.
//!
//! Small on purpose: counters, gauges and histograms with a fixed set of label names, each label
//! set's value behind one mutex per family. Callers count once per report or per state change,
//! never per invocation, so a lock per update costs nothing measurable; the engine's hot loop
//! never sees these types.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// What a family's samples mean to Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (names end in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A counter or gauge per label set.
#[derive(Debug)]
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Vec<String>, f64>>,
}

impl Family {
    pub fn counter(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Family::new(name, help, Kind::Counter, labels)
    }

    pub fn gauge(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Family::new(name, help, Kind::Gauge, labels)
    }

    fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
    ) -> Self {
        Family {
            name,
            help,
            kind,
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds `by` to the series of `values` (one per label name, in order); a counter only goes
    /// up, so a negative `by` on one is a bug and ignored.
    pub fn add(&self, values: &[&str], by: f64) {
        debug_assert_eq!(values.len(), self.labels.len(), "labels of {}", self.name);
        debug_assert!(
            self.kind == Kind::Gauge || by >= 0.0,
            "{} is a counter: it cannot go down",
            self.name
        );
        if self.kind == Kind::Counter && by < 0.0 {
            return;
        }
        *lock(&self.series).entry(key(values)).or_insert(0.0) += by;
    }

    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1.0);
    }

    /// Sets a gauge's series of `values`.
    pub fn set(&self, values: &[&str], to: f64) {
        debug_assert_eq!(self.kind, Kind::Gauge, "{} is not a gauge", self.name);
        lock(&self.series).insert(key(values), to);
    }

    /// The value of one series (0 when it was never touched).
    pub fn get(&self, values: &[&str]) -> f64 {
        lock(&self.series).get(&key(values)).copied().unwrap_or(0.0)
    }

    pub fn render(&self, out: &mut String) {
        header(out, self.name, self.help, self.kind.as_str());
        for (values, value) in lock(&self.series).iter() {
            sample(out, self.name, self.labels, values, None, *value);
        }
    }
}

/// A histogram per label set, with fixed upper bounds.
#[derive(Debug)]
pub struct HistogramFamily {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    /// Upper bounds, ascending; `+Inf` is implied.
    bounds: &'static [f64],
    series: Mutex<BTreeMap<Vec<String>, Buckets>>,
}

#[derive(Debug, Default, Clone)]
struct Buckets {
    /// Per bound (and one more for `+Inf`), not cumulative.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl HistogramFamily {
    pub fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds of {name}");
        HistogramFamily {
            name,
            help,
            labels,
            bounds,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds observations given as (value, how many times) pairs, all under one lock.
    pub fn observe_many(
        &self,
        values: &[&str],
        observations: impl IntoIterator<Item = (f64, u64)>,
    ) {
        let mut series = lock(&self.series);
        let buckets = series.entry(key(values)).or_insert_with(|| Buckets {
            counts: vec![0; self.bounds.len() + 1],
            ..Buckets::default()
        });
        for (value, n) in observations {
            let i = self.bounds.partition_point(|&bound| bound < value);
            buckets.counts[i] += n;
            buckets.sum += value * n as f64;
            buckets.count += n;
        }
    }

    pub fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "histogram");
        let bucket_name = format!("{}_bucket", self.name);
        let mut labels = self.labels.to_vec();
        labels.push("le");
        for (values, b) in lock(&self.series).iter() {
            let mut cumulative = 0;
            for (i, n) in b.counts.iter().enumerate() {
                cumulative += n;
                let le = self
                    .bounds
                    .get(i)
                    .map_or("+Inf".to_string(), |b| number(*b));
                sample(
                    out,
                    &bucket_name,
                    &labels,
                    values,
                    Some(&le),
                    cumulative as f64,
                );
            }
            sample(
                out,
                &format!("{}_sum", self.name),
                self.labels,
                values,
                None,
                b.sum,
            );
            sample(
                out,
                &format!("{}_count", self.name),
                self.labels,
                values,
                None,
                b.count as f64,
            );
        }
    }
}

fn key(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_string()).collect()
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape(help, false));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line: `name{label="value",...} value`; `extra` is the value of a last label
/// (a histogram's `le`) not in `values`.
fn sample(
    out: &mut String,
    name: &str,
    labels: &[&str],
    values: &[String],
    extra: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    let values = values.iter().map(String::as_str).chain(extra);
    let mut pairs = labels.iter().zip(values).peekable();
    if pairs.peek().is_some() {
        out.push('{');
        for (i, (label, value)) in pairs.enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape(value, true));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// Escapes what the format reserves: backslash and newline everywhere, `"` in label values.
fn escape(text: &str, quoted: bool) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '"' if quoted => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A sample value as the format spells it: integers without a fraction, `+Inf`, `NaN`.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_escaped_labels() {
        let f = Family::counter("sebs_things_total", "Things\\done.", &["region", "kind"]);
        f.inc(&["eu", "a\"b"]);
        f.add(&["eu", "a\"b"], 2.0);
        f.inc(&["us", "line\nbreak"]);
        let mut out = String::new();
        f.render(&mut out);
        assert_eq!(
            out,
            "# HELP sebs_things_total Things\\\\done.\n\
             # TYPE sebs_things_total counter\n\
             sebs_things_total{region=\"eu\",kind=\"a\\\"b\"} 3\n\
             sebs_things_total{region=\"us\",kind=\"line\\nbreak\"} 1\n"
        );
    }

    #[test]
    fn gauges_without_labels_have_no_braces() {
        let g = Family::gauge("sebs_up", "Up.", &[]);
        g.set(&[], 1.0);
        g.add(&[], 0.5);
        let mut out = String::new();
        g.render(&mut out);
        assert!(out.ends_with("\nsebs_up 1.5\n"), "{out}");
        assert_eq!(g.get(&[]), 1.5);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let h = HistogramFamily::new("sebs_lag_seconds", "Lag.", &["region"], &[0.1, 1.0]);
        h.observe_many(&["eu"], [(0.05, 2), (0.1, 1), (0.5, 3), (7.0, 1)]);
        let mut out = String::new();
        h.render(&mut out);
        let lines: Vec<&str> = out.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                "sebs_lag_seconds_bucket{region=\"eu\",le=\"0.1\"} 3",
                "sebs_lag_seconds_bucket{region=\"eu\",le=\"1\"} 6",
                "sebs_lag_seconds_bucket{region=\"eu\",le=\"+Inf\"} 7",
                "sebs_lag_seconds_sum{region=\"eu\"} 8.7",
                "sebs_lag_seconds_count{region=\"eu\"} 7",
            ]
        );
    }
}
