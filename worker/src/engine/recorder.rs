//! What every engine task records about its invocations: HDR histograms per metric and outcome,
//! and failure counts per error kind.
//!
//! A histogram is made at a cell's first record and grows only when a value beyond its range
//! arrives (a few times per run at most), so recording allocates nothing per request (STYLE §7).
//! Recorders are combined by adding histograms, never by averaging percentiles (STYLE §8): a task
//! hands its recorder over as a delta, the engine merges deltas into an interval and a total.

use std::fmt;

use hdrhistogram::Histogram;
use sebs_common::ErrorKind;

/// Largest value a histogram tracks: one hour in µs. Nothing the engine times should take longer;
/// larger values are clamped to it (and counted) rather than resizing in the hot loop.
pub const HIGHEST_US: u64 = 3_600_000_000;

/// Significant decimal digits every histogram keeps (relative error below 0.1%).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// The range a histogram starts with: values up to about 16 ms (40 KiB of counts). It grows to
/// the largest value recorded, up to [`HIGHEST_US`] (184 KiB), and keeps that size when reset.
/// A task's delta is reset at every hand-over, which clears all its counts: sized to what the
/// run's latencies need, that is a fifth of clearing an hour's range.
const INITIAL_HIGH_US: u64 = 1 << 14;

/// One finished invocation, as the engine sees it (all µs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// From the intended send time to the whole reply (coordinated omission corrected).
    pub client_us: u64,
    /// What the function's wrapper measured around the handler (0 when unknown).
    pub benchmark_us: u64,
    /// Time to establish the connection; `None` when a kept-alive one was reused (most requests:
    /// leaving them out keeps that histogram about new connections and unallocated otherwise).
    pub connect_us: Option<u64>,
    /// How far the send fell behind its intended time; `None` in closed loops, which have no
    /// intended times.
    pub lag_us: Option<u64>,
    pub cold: bool,
    pub ok: bool,
}

/// Which timing of a [`Sample`] a histogram holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    Client,
    Benchmark,
    Connect,
    Lag,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::Client,
        Metric::Benchmark,
        Metric::Connect,
        Metric::Lag,
    ];

    /// A name for files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Client => "client",
            Metric::Benchmark => "benchmark",
            Metric::Connect => "connect",
            Metric::Lag => "lag",
        }
    }

    fn index(self) -> usize {
        match self {
            Metric::Client => 0,
            Metric::Benchmark => 1,
            Metric::Connect => 2,
            Metric::Lag => 3,
        }
    }
}

/// Histograms per metric × {cold, warm} × {ok, failed}.
const CELLS: usize = Metric::ALL.len() * 4;

/// One task's (or one interval's, or one run's) record of its invocations.
///
/// Per [`Metric`] × {cold, warm} × {ok, failed} one HDR histogram (1 µs .. [`HIGHEST_US`],
/// [`SIGNIFICANT_DIGITS`] digits), failure counts per [`ErrorKind`] and the total count. A cell's
/// histogram is made the first time the cell is recorded into, sized for [`INITIAL_HIGH_US`],
/// and grows when a larger value arrives; `reset` keeps it and its size. A warm-only run uses 4
/// of the 16 cells, and a recorder that is reset and reused allocates nothing once its histograms
/// span the run's latencies.
#[derive(Clone)]
pub struct Recorder {
    cells: [Option<Box<Histogram<u64>>>; CELLS],
    failures: [u64; ErrorKind::ALL.len()],
    count: u64,
    clamped: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// The histograms are far too large to print; say what they add up to instead.
impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("count", &self.count)
            .field("clamped", &self.clamped)
            .field("failures", &self.failures().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            cells: std::array::from_fn(|_| None),
            failures: [0; ErrorKind::ALL.len()],
            count: 0,
            clamped: 0,
        }
    }

    /// The histogram of a cell, made on first use (once per cell, never per record).
    fn cell_mut(&mut self, index: usize) -> &mut Histogram<u64> {
        self.cells[index].get_or_insert_with(|| Box::new(empty_histogram()))
    }

    /// Makes the histograms of `metrics` in the cold/warm, ok/failed cell now, so that the first
    /// records into them allocate nothing. An open loop's tasks make theirs before the schedule
    /// starts: 184 KiB per cell and task, made at the first arrivals, had put the first tens of
    /// milliseconds of every open loop more than 1 ms behind.
    pub fn make_cells(&mut self, metrics: &[Metric], cold: bool, ok: bool) {
        for &metric in metrics {
            self.cell_mut(cell(metric, cold, ok));
        }
    }

    /// Records one invocation's timings in its cold/warm, ok/failed cell. Allocates only when a
    /// value is beyond every earlier one's range (the histogram grows to hold it); values above
    /// [`HIGHEST_US`] are clamped to it.
    pub fn record(&mut self, s: &Sample) {
        for (metric, value) in [
            (Metric::Client, Some(s.client_us)),
            (Metric::Benchmark, Some(s.benchmark_us)),
            (Metric::Connect, s.connect_us),
            (Metric::Lag, s.lag_us),
        ] {
            let Some(value) = value else { continue };
            if value > HIGHEST_US {
                self.clamped += 1;
            }
            put(
                self.cell_mut(cell(metric, s.cold, s.ok)),
                value.min(HIGHEST_US),
                1,
            );
        }
        self.count += 1;
    }

    /// Counts one failure by kind. The engine also calls [`Recorder::record`] with `ok: false`
    /// for the failed invocation's timings; this only says why it failed.
    pub fn record_failure(&mut self, kind: ErrorKind) {
        if let Some(i) = kind_index(kind) {
            self.failures[i] += 1;
        }
    }

    /// Adds another recorder's histograms and counts to this one.
    pub fn merge(&mut self, other: &Recorder) {
        for (i, theirs) in other.cells.iter().enumerate() {
            if let Some(theirs) = theirs.as_deref().filter(|h| !h.is_empty()) {
                add_same_bounds(self.cell_mut(i), theirs);
            }
        }
        for (mine, theirs) in self.failures.iter_mut().zip(&other.failures) {
            *mine += theirs;
        }
        self.count += other.count;
        self.clamped += other.clamped;
    }

    /// Empties the recorder but keeps its memory, for interval deltas.
    pub fn reset(&mut self) {
        for h in self.cells.iter_mut().flatten() {
            // Clearing walks the whole counts array; an empty histogram needs none of it.
            if !h.is_empty() {
                h.reset();
            }
        }
        self.failures = [0; ErrorKind::ALL.len()];
        self.count = 0;
        self.clamped = 0;
    }

    /// Invocations recorded (ok or not).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Values that exceeded [`HIGHEST_US`] and were recorded as it: nonzero means the top of the
    /// distribution is understated.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Failure counts per kind, only the kinds that occurred, in [`ErrorKind::ALL`] order.
    pub fn failures(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .into_iter()
            .zip(self.failures)
            .filter(|&(_, n)| n > 0)
    }

    /// The histograms that hold values, with the cell each belongs to: what a delta sent over
    /// the network carries.
    pub fn cells(&self) -> impl Iterator<Item = (Cell, &Histogram<u64>)> + '_ {
        self.cells.iter().enumerate().filter_map(|(i, h)| {
            let h = h.as_deref().filter(|h| !h.is_empty())?;
            Some((Cell::from_index(i), h))
        })
    }

    /// Adds a histogram received for `cell` (e.g. decoded from a worker's delta). Fails, adding
    /// nothing, when it holds values beyond the recorder's range ([`HIGHEST_US`]).
    pub fn add_histogram(
        &mut self,
        cell: Cell,
        h: &Histogram<u64>,
    ) -> Result<(), hdrhistogram::AdditionError> {
        if h.is_empty() {
            return Ok(());
        }
        // A value recorded as HIGHEST_US reads back as the top of its bucket, above it.
        if h.max() > h.highest_equivalent(HIGHEST_US) {
            return Err(hdrhistogram::AdditionError::OtherAddendValueExceedsRange);
        }
        self.cell_mut(cell.index()).add(h)
    }

    /// Adds counts received with a delta: invocations, clamped values and failures by kind.
    pub fn add_counts(
        &mut self,
        count: u64,
        clamped: u64,
        failures: impl IntoIterator<Item = (ErrorKind, u64)>,
    ) {
        self.count += count;
        self.clamped += clamped;
        for (kind, n) in failures {
            if let Some(i) = kind_index(kind) {
                self.failures[i] += n;
            }
        }
    }

    /// One histogram merged over the selected cold/warm and ok/failed cells (`None` = both).
    /// Allocates: meant for reports, not the hot loop.
    pub fn histogram(
        &self,
        metric: Metric,
        cold: Option<bool>,
        ok: Option<bool>,
    ) -> Histogram<u64> {
        let mut merged = empty_histogram();
        for c in [false, true] {
            for o in [false, true] {
                if cold.is_none_or(|want| want == c) && ok.is_none_or(|want| want == o) {
                    if let Some(h) = &self.cells[cell(metric, c, o)] {
                        add_same_bounds(&mut merged, h);
                    }
                }
            }
        }
        merged
    }
}

/// An empty histogram with the recorder's precision, sized for [`INITIAL_HIGH_US`] and growing
/// as needed (values are clamped to [`HIGHEST_US`] before they reach it).
fn empty_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy every precondition of `new_with_bounds`
    // (low >= 1, high >= 2 * low, sigfig <= 5), checked by a test; it cannot fail at run time.
    let mut h = Histogram::new_with_bounds(1, INITIAL_HIGH_US, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

/// Adds `src` into `dst`. Both have the recorder's precision (so a bucket of one is a bucket of
/// the other), and `dst` grows to hold `src`'s largest value.
///
/// Walks `src`'s buckets only up to its largest value: `Histogram::add` walks all of them (about
/// 23,000 for an hour at 3 digits) even when a task's delta holds a few hundred requests of
/// similar latency, and the aggregator adds one delta per task hand-over.
fn add_same_bounds(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    for bucket in src.iter_recorded() {
        // A bucket's highest equivalent value lands in the same bucket of `dst`.
        put(dst, bucket.value_iterated_to(), bucket.count_at_value());
    }
}

/// Adds `count` at `value` (at most [`HIGHEST_US`]), growing `h` when the value is beyond its
/// range. (`saturating_record` would clamp it to the range instead of growing.)
fn put(h: &mut Histogram<u64>, value: u64, count: u64) {
    if h.record_n(value, count).is_err() {
        // Growing fails only if the counts' length overflows usize, not for an hour at 3 digits
        // on any platform this runs on; keep the value, at the top of the range, regardless.
        h.saturating_record_n(value, count);
    }
}

fn cell(metric: Metric, cold: bool, ok: bool) -> usize {
    Cell { metric, cold, ok }.index()
}

/// One histogram of a [`Recorder`]: a metric of cold or warm, ok or failed invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    pub metric: Metric,
    pub cold: bool,
    pub ok: bool,
}

impl Cell {
    fn index(self) -> usize {
        self.metric.index() * 4 + usize::from(self.cold) * 2 + usize::from(self.ok)
    }

    fn from_index(i: usize) -> Cell {
        Cell {
            metric: Metric::ALL[(i / 4) % Metric::ALL.len()],
            cold: i % 4 >= 2,
            ok: i % 2 == 1,
        }
    }
}

/// Position of `kind` in [`ErrorKind::ALL`]; `None` only if `ALL` ever missed a kind.
fn kind_index(kind: ErrorKind) -> Option<usize> {
    ErrorKind::ALL.iter().position(|&k| k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64, cold: bool, ok: bool) -> Sample {
        Sample {
            client_us: 1000 + i,
            benchmark_us: 500 + i,
            connect_us: Some(i % 7),
            lag_us: Some(i % 13),
            cold,
            ok,
        }
    }

    /// 1000 samples: cold every 4th, failed every 5th.
    fn fill(r: &mut Recorder, range: std::ops::Range<u64>) {
        for i in range {
            let (cold, ok) = (i % 4 == 0, i % 5 != 0);
            r.record(&sample(i, cold, ok));
            if !ok {
                r.record_failure(if i % 2 == 0 {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::HttpStatus
                });
            }
        }
    }

    #[test]
    fn constant_bounds_are_valid() {
        assert!(Histogram::<u64>::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS).is_ok());
        assert!(empty_histogram().is_auto_resize());
    }

    #[test]
    fn histograms_start_small_and_grow_to_the_values_recorded() {
        let mut r = Recorder::new();
        let mut s = Sample {
            client_us: 900,
            ok: true,
            ..Sample::default()
        };
        r.record(&s);
        let client = cell(Metric::Client, false, true);
        let small = r.cells[client].as_ref().unwrap().distinct_values();
        assert!(small <= 6 * 1024, "starts at {small} counts");
        s.client_us = HIGHEST_US;
        r.record(&s);
        let grown = r.cells[client].as_ref().unwrap();
        assert!(grown.distinct_values() > small);
        assert!(grown.equivalent(grown.max(), HIGHEST_US));
        // Reset keeps the size: the next run of a reused delta does not grow it again.
        let size = grown.distinct_values();
        r.reset();
        assert_eq!(r.cells[client].as_ref().unwrap().distinct_values(), size);
    }

    #[test]
    fn counts_per_cell_and_selection() {
        let mut r = Recorder::new();
        fill(&mut r, 0..1000);
        assert_eq!(r.count(), 1000);
        let n = |cold: Option<bool>, ok: Option<bool>| {
            (0..1000u64)
                .filter(|i| {
                    cold.is_none_or(|c| c == (i % 4 == 0)) && ok.is_none_or(|o| o == (i % 5 != 0))
                })
                .count() as u64
        };
        for metric in Metric::ALL {
            for cold in [None, Some(false), Some(true)] {
                for ok in [None, Some(false), Some(true)] {
                    assert_eq!(
                        r.histogram(metric, cold, ok).len(),
                        n(cold, ok),
                        "{metric:?} {cold:?} {ok:?}"
                    );
                }
            }
        }
        assert_eq!(n(Some(true), Some(false)), 50);
        let all = r.histogram(Metric::Client, None, None);
        assert_eq!(all.min(), 1000);
        assert!(all.equivalent(all.max(), 1999));
        let failed: Vec<_> = r.failures().collect();
        assert_eq!(
            failed,
            vec![(ErrorKind::Timeout, 100), (ErrorKind::HttpStatus, 100)]
        );
        assert_eq!(r.clamped(), 0);
    }

    #[test]
    fn merge_equals_recording_into_one() {
        let mut one = Recorder::new();
        fill(&mut one, 0..1000);
        let (mut a, mut b) = (Recorder::new(), Recorder::new());
        fill(&mut a, 0..400);
        fill(&mut b, 400..1000);
        a.merge(&b);
        assert_eq!(a.count(), one.count());
        assert_eq!(
            a.failures().collect::<Vec<_>>(),
            one.failures().collect::<Vec<_>>()
        );
        for metric in Metric::ALL {
            let (x, y) = (
                a.histogram(metric, None, None),
                one.histogram(metric, None, None),
            );
            assert_eq!(x.len(), y.len());
            for q in [0.5, 0.99] {
                assert_eq!(
                    x.value_at_quantile(q),
                    y.value_at_quantile(q),
                    "{metric:?} q={q}"
                );
            }
            let (x, y) = (
                a.histogram(metric, Some(true), Some(false)),
                one.histogram(metric, Some(true), Some(false)),
            );
            assert_eq!(x, y);
        }
    }

    /// Cells made ahead hold nothing (a delta carries none of them) and are the ones the first
    /// records go into: no histogram is made at the record.
    #[test]
    fn cells_made_ahead_are_empty_and_used_by_the_first_records() {
        let mut r = Recorder::new();
        r.make_cells(
            &[Metric::Client, Metric::Benchmark, Metric::Lag],
            false,
            true,
        );
        assert_eq!(r.cells().count(), 0, "made cells are empty");
        let made: Vec<usize> = (0..CELLS).filter(|&i| r.cells[i].is_some()).collect();
        let address = |r: &Recorder, i: usize| r.cells[i].as_deref().map(std::ptr::from_ref);
        let before: Vec<_> = made.iter().map(|&i| address(&r, i)).collect();
        let mut warm = sample(1, false, true);
        warm.connect_us = None;
        r.record(&warm);
        assert_eq!(made.len(), 3);
        let after: Vec<_> = made.iter().map(|&i| address(&r, i)).collect();
        assert_eq!(before, after, "the record went into the cells made ahead");
        assert_eq!(r.cells().count(), 3);
        assert_eq!(
            (0..CELLS).filter(|&i| r.cells[i].is_some()).count(),
            3,
            "no other cell was made"
        );
        assert_eq!(r.histogram(Metric::Lag, Some(false), Some(true)).len(), 1);
    }

    #[test]
    fn reset_empties() {
        let mut r = Recorder::new();
        fill(&mut r, 0..1000);
        r.record(&Sample {
            client_us: HIGHEST_US + 1,
            ..Sample::default()
        });
        r.reset();
        assert_eq!(r.count(), 0);
        assert_eq!(r.clamped(), 0);
        assert_eq!(r.failures().count(), 0);
        for metric in Metric::ALL {
            assert!(r.histogram(metric, None, None).is_empty());
        }
        // Still usable after a reset.
        fill(&mut r, 0..10);
        assert_eq!(r.count(), 10);
    }

    #[test]
    fn values_above_an_hour_are_clamped_and_counted() {
        let mut r = Recorder::new();
        r.record(&Sample {
            client_us: 10 * HIGHEST_US,
            lag_us: Some(u64::MAX),
            ok: true,
            ..Sample::default()
        });
        r.record(&Sample {
            client_us: HIGHEST_US,
            ok: true,
            ..Sample::default()
        });
        assert_eq!(r.clamped(), 2);
        assert_eq!(r.count(), 2);
        let client = r.histogram(Metric::Client, Some(false), Some(true));
        assert_eq!(client.len(), 2);
        assert!(client.equivalent(client.max(), HIGHEST_US));
        assert!(r
            .histogram(Metric::Lag, None, None)
            .equivalent(r.histogram(Metric::Lag, None, None).max(), HIGHEST_US));
        let mut total = Recorder::new();
        total.merge(&r);
        assert_eq!(total.clamped(), 2);
        // Clamped values travel: a delta holding them is accepted where it arrives.
        let mut arrived = Recorder::new();
        for (cell, h) in r.cells() {
            arrived.add_histogram(cell, h).unwrap();
        }
        assert_eq!(
            arrived.histogram(Metric::Client, None, None).max(),
            client.max()
        );
    }

    #[test]
    fn cells_add_back_into_an_equal_recorder() {
        let mut r = Recorder::new();
        fill(&mut r, 0..1000);
        let mut copy = Recorder::new();
        for (cell, h) in r.cells() {
            copy.add_histogram(cell, h).unwrap();
        }
        copy.add_counts(r.count(), r.clamped(), r.failures());
        assert_eq!(copy.count(), r.count());
        assert_eq!(
            copy.failures().collect::<Vec<_>>(),
            r.failures().collect::<Vec<_>>()
        );
        for metric in Metric::ALL {
            assert_eq!(
                copy.histogram(metric, Some(true), Some(false)),
                r.histogram(metric, Some(true), Some(false))
            );
        }
        let mut wide = Histogram::<u64>::new(3).unwrap();
        wide.record(HIGHEST_US * 2).unwrap();
        let cell = Cell {
            metric: Metric::Client,
            cold: false,
            ok: true,
        };
        assert!(
            copy.add_histogram(cell, &wide).is_err(),
            "values beyond an hour are refused"
        );
    }

    #[test]
    fn debug_is_short() {
        let mut r = Recorder::new();
        r.record_failure(ErrorKind::Connect);
        let s = format!("{r:?}");
        assert!(s.contains("Connect") && s.len() < 200, "{s}");
    }
}
