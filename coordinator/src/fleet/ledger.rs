//! Counting every invocation once: which reports of a shard are accepted, and the histograms
//! they add up to.
//!
//! A worker's report carries records and the histogram delta of exactly those invocations, and
//! is accepted or refused as a whole, by (shard, attempt, sequence): a report of an attempt that
//! is no longer the shard's current one is stale (its worker was replaced), and a report that
//! holds a sequence number already counted is a duplicate. So a retried or late report never
//! counts twice, and the histograms always cover exactly the records accepted.
//!
//! **Pure**: no I/O.

use std::collections::BTreeMap;
use std::ops::Range;

use sebs_proto::runs::KeyedRecorder;
use sebs_proto::{Attempt, Region};
use sebs_worker::engine::recorder::Recorder;
use sebs_worker::engine::seqset::SeqSet;

/// What the coordinator has accepted of one shard.
#[derive(Clone, Debug)]
pub struct ShardLedger {
    attempt: Attempt,
    done: SeqSet,
    /// The sequence numbers a closed shard sends; `None` for open shards.
    sequences: Option<Range<u64>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// From an attempt other than the current one.
    Stale {
        current: Attempt,
    },
    /// Holds sequence numbers already counted (or outside the shard).
    Duplicate,
}

impl ShardLedger {
    pub fn new(sequences: Option<Range<u64>>) -> Self {
        ShardLedger {
            attempt: Attempt(0),
            done: SeqSet::new(),
            sequences,
        }
    }

    pub fn attempt(&self) -> Attempt {
        self.attempt
    }

    /// Sequence numbers accepted so far, over all attempts.
    pub fn done(&self) -> &SeqSet {
        &self.done
    }

    /// Accepts the report of `attempt` holding `sequences` (all or nothing).
    pub fn accept(&mut self, attempt: Attempt, sequences: &[u64]) -> Verdict {
        match self.examine(attempt, sequences) {
            Ok(seen) => {
                self.done.union_with(&seen);
                Verdict::Accepted
            }
            Err(refused) => refused,
        }
    }

    /// What `accept` would say, changing nothing: so that a report can be stored before it
    /// counts.
    pub fn check(&self, attempt: Attempt, sequences: &[u64]) -> Verdict {
        self.examine(attempt, sequences)
            .err()
            .unwrap_or(Verdict::Accepted)
    }

    /// The report's sequence numbers as a set, or why it is refused.
    fn examine(&self, attempt: Attempt, sequences: &[u64]) -> Result<SeqSet, Verdict> {
        if attempt != self.attempt {
            return Err(Verdict::Stale {
                current: self.attempt,
            });
        }
        let mut seen = SeqSet::new();
        for &s in sequences {
            let outside = self.sequences.as_ref().is_some_and(|r| !r.contains(&s));
            if outside || self.done.contains(s) || seen.contains(s) {
                return Err(Verdict::Duplicate);
            }
            seen.insert(s);
        }
        Ok(seen)
    }

    /// Resumes at `attempt` with `done` accepted (a run a restarted coordinator took up).
    pub fn restore(&mut self, attempt: Attempt, done: SeqSet) {
        self.attempt = attempt;
        self.done = done;
    }

    /// Hands the shard to a new attempt: reports of older ones are stale from now on.
    pub fn next_attempt(&mut self) -> Attempt {
        self.attempt = self.attempt.next();
        self.attempt
    }

    /// A closed shard whose every sequence number is accepted; open shards are complete when
    /// their attempt ends (their count is the schedule's), so this says nothing of them.
    pub fn is_complete(&self) -> Option<bool> {
        self.sequences.as_ref().map(|r| self.done.covers(r))
    }

    /// What a closed shard still misses.
    pub fn missing(&self) -> Option<u64> {
        self.sequences
            .as_ref()
            .map(|r| self.done.complement_within(r.clone()).len())
    }
}

/// Histograms per (function, region): one table for the interval since the last tick, one for
/// the whole run. Only accepted deltas go in.
#[derive(Debug, Default)]
pub struct HistogramTable {
    interval: BTreeMap<(String, Region), Recorder>,
    total: BTreeMap<(String, Region), Recorder>,
}

impl HistogramTable {
    pub fn add(&mut self, function: &str, region: &Region, delta: &Recorder) {
        let key = (function.to_string(), region.clone());
        self.interval.entry(key.clone()).or_default().merge(delta);
        self.total.entry(key).or_default().merge(delta);
    }

    /// The interval's histograms, emptied for the next one.
    pub fn take_interval(&mut self) -> Vec<KeyedRecorder> {
        std::mem::take(&mut self.interval)
            .into_iter()
            .map(|((function, region), recorder)| KeyedRecorder {
                function,
                region,
                recorder,
            })
            .collect()
    }

    pub fn totals(&self) -> Vec<KeyedRecorder> {
        self.total
            .iter()
            .map(|((function, region), recorder)| KeyedRecorder {
                function: function.clone(),
                region: region.clone(),
                recorder: recorder.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sebs_worker::engine::recorder::{Metric, Sample};

    fn delta(values: &[u64]) -> Recorder {
        let mut r = Recorder::new();
        for &v in values {
            r.record(&Sample {
                client_us: v,
                ok: true,
                ..Sample::default()
            });
        }
        r
    }

    #[test]
    fn a_report_counts_once() {
        let mut l = ShardLedger::new(Some(0..10));
        assert_eq!(l.accept(Attempt(0), &[0, 1, 2]), Verdict::Accepted);
        assert_eq!(
            l.accept(Attempt(0), &[0, 1, 2]),
            Verdict::Duplicate,
            "the same report again"
        );
        assert_eq!(
            l.accept(Attempt(0), &[2, 3]),
            Verdict::Duplicate,
            "a report overlapping one"
        );
        assert_eq!(
            l.accept(Attempt(0), &[4, 4]),
            Verdict::Duplicate,
            "a sequence twice in one"
        );
        assert_eq!(
            l.accept(Attempt(0), &[10]),
            Verdict::Duplicate,
            "outside the shard"
        );
        assert_eq!(l.done().len(), 3, "refused reports add nothing");
        assert_eq!(l.missing(), Some(7));
        assert_eq!(l.is_complete(), Some(false));
    }

    #[test]
    fn a_replaced_attempt_is_stale_and_the_new_one_finishes_the_rest() {
        let mut l = ShardLedger::new(Some(0..6));
        assert_eq!(l.accept(Attempt(0), &[0, 1, 2]), Verdict::Accepted);
        assert_eq!(l.next_attempt(), Attempt(1));
        assert_eq!(
            l.accept(Attempt(0), &[3]),
            Verdict::Stale {
                current: Attempt(1)
            }
        );
        assert_eq!(l.accept(Attempt(1), &[3, 4, 5]), Verdict::Accepted);
        assert_eq!(l.is_complete(), Some(true));
        let open = ShardLedger::new(None);
        assert_eq!(open.is_complete(), None);
    }

    #[test]
    fn tables_merge_accepted_deltas_per_function_and_region() {
        let (a, b) = (Region::new("a").unwrap(), Region::new("b").unwrap());
        let mut t = HistogramTable::default();
        t.add("f", &a, &delta(&[100, 200]));
        t.add("f", &a, &delta(&[300]));
        t.add("f", &b, &delta(&[1000]));
        let interval = t.take_interval();
        assert_eq!(interval.len(), 2);
        assert_eq!(interval[0].recorder.count(), 3);
        assert!(t.take_interval().is_empty(), "an interval is taken once");
        t.add("f", &b, &delta(&[2000]));
        let totals = t.totals();
        assert_eq!(
            (totals[0].recorder.count(), totals[1].recorder.count()),
            (3, 2)
        );
        let whole = delta(&[100, 200, 300]);
        assert_eq!(
            totals[0].recorder.histogram(Metric::Client, None, None),
            whole.histogram(Metric::Client, None, None)
        );
    }
}
