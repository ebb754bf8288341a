//! A worker's clock offset from the coordinator's, estimated NTP-style from round trips over
//! the worker's stream.
//!
//! The coordinator sends a ping at t0 (its clock); the worker notes t1 when it arrives and t2 when
//! it answers (its clock); the answer arrives at t3. If the network delay is the same both ways,
//! offset = ((t0 − t1) + (t3 − t2)) / 2 is coordinator minus worker (worker time + offset =
//! coordinator time), and its error is at most half the round trip (t3 − t0) − (t2 − t1). Of recent samples the one with the shortest round trip is kept, as NTP's
//! clock filter does: queueing only ever adds delay.
//!
//! **Pure**: samples in, estimate out.

use std::collections::VecDeque;

/// How many recent samples the filter keeps.
const WINDOW: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockSample {
    /// Coordinator clock minus worker clock, seconds.
    pub offset_s: f64,
    pub round_trip_s: f64,
}

impl ClockSample {
    /// From the four timestamps of one round trip (t0, t3 coordinator; t1, t2 worker).
    pub fn from_round_trip(t0: f64, t1: f64, t2: f64, t3: f64) -> Self {
        ClockSample {
            offset_s: ((t0 - t1) + (t3 - t2)) / 2.0,
            round_trip_s: ((t3 - t0) - (t2 - t1)).max(0.0),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ClockEstimate {
    recent: VecDeque<ClockSample>,
    samples: u32,
}

impl ClockEstimate {
    pub fn add(&mut self, sample: ClockSample) {
        if !(sample.offset_s.is_finite() && sample.round_trip_s.is_finite()) {
            return;
        }
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(sample);
        self.samples = self.samples.saturating_add(1);
    }

    /// The recent sample with the shortest round trip.
    pub fn best(&self) -> Option<ClockSample> {
        self.recent
            .iter()
            .copied()
            .min_by(|a, b| a.round_trip_s.total_cmp(&b.round_trip_s))
    }

    /// Coordinator minus worker clock, seconds (0 before the first sample).
    pub fn offset_s(&self) -> f64 {
        self.best().map_or(0.0, |s| s.offset_s)
    }

    pub fn samples(&self) -> u32 {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symmetric_round_trip_gives_the_offset() {
        // The worker's clock is 5 s behind; 10 ms each way, 1 ms to answer.
        let (t0, t1, t2, t3) = (100.0, 95.010, 95.011, 100.021);
        let s = ClockSample::from_round_trip(t0, t1, t2, t3);
        assert!((s.offset_s - 5.0).abs() < 1e-9, "{s:?}");
        assert!((s.round_trip_s - 0.020).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn the_fastest_round_trip_wins() {
        let mut c = ClockEstimate::default();
        assert_eq!(c.offset_s(), 0.0);
        c.add(ClockSample {
            offset_s: 1.3,
            round_trip_s: 0.2,
        });
        c.add(ClockSample {
            offset_s: 1.0,
            round_trip_s: 0.01,
        });
        c.add(ClockSample {
            offset_s: 0.7,
            round_trip_s: 0.3,
        });
        c.add(ClockSample {
            offset_s: f64::NAN,
            round_trip_s: 0.0,
        });
        assert_eq!(c.offset_s(), 1.0);
        assert_eq!(c.samples(), 3);
        for _ in 0..WINDOW {
            c.add(ClockSample {
                offset_s: 2.0,
                round_trip_s: 0.5,
            });
        }
        assert_eq!(c.offset_s(), 2.0, "old samples leave the window");
    }
}
