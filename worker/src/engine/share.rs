//! Which of a run's arrivals one engine sends, when several engines (workers of a fleet) share
//! one global schedule.
//!
//! The global constant schedule numbers its arrivals n = 0, 1, 2, … (see [`super::schedule`]). A [`Share`]
//! owns the arrivals whose number modulo `period` is one of its `residues`; the shares of a
//! fleet partition the residues, so their union is the global sequence exactly, evenly spaced:
//! no two workers send the same arrival, and none burst together. Within a share the arrivals are
//! numbered again, j = 0, 1, 2, … (the share's own sequence numbers), which is what the engine
//! records and a reassigned shard skips. Poisson arrivals use only the share's fraction of the
//! rate and its `stream`, which seeds its processes apart from every other share's.
//!
//! **Pure**: no I/O, no clock.

use std::sync::Arc;

/// A share of the global arrivals: the n with n mod `period` in `residues`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    period: u32,
    residues: Arc<[u32]>,
    stream: u64,
}

/// Why a share cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("share: period 0; expected at least 1")]
    ZeroPeriod,
    #[error("share: no residues; expected at least one of 0..{0}")]
    Empty(u32),
    #[error("share: residues {residues:?} must be increasing and below the period {period}")]
    BadResidues { period: u32, residues: Vec<u32> },
}

impl Default for Share {
    fn default() -> Self {
        Share::whole()
    }
}

impl Share {
    /// Every arrival: the share of an engine that runs alone.
    pub fn whole() -> Share {
        Share {
            period: 1,
            residues: Arc::from([0u32].as_slice()),
            stream: 0,
        }
    }

    /// The arrivals n with n mod `period` in `residues` (strictly increasing, below `period`);
    /// `stream` seeds Poisson arrivals apart from other shares'.
    pub fn new(period: u32, residues: Vec<u32>, stream: u64) -> Result<Share, ShareError> {
        if period == 0 {
            return Err(ShareError::ZeroPeriod);
        }
        if residues.is_empty() {
            return Err(ShareError::Empty(period));
        }
        let increasing = residues.windows(2).all(|w| w[0] < w[1]);
        if !increasing || residues.last().is_some_and(|&r| r >= period) {
            return Err(ShareError::BadResidues { period, residues });
        }
        Ok(Share {
            period,
            residues: residues.into(),
            stream,
        })
    }

    pub fn period(&self) -> u32 {
        self.period
    }

    pub fn residues(&self) -> &[u32] {
        &self.residues
    }

    pub fn stream(&self) -> u64 {
        self.stream
    }

    pub fn is_whole(&self) -> bool {
        self.residues.len() as u64 == u64::from(self.period)
    }

    /// The fraction of all arrivals this share sends.
    pub fn fraction(&self) -> f64 {
        self.residues.len() as f64 / f64::from(self.period)
    }

    /// The global number of the share's `j`-th arrival; `None` past u64.
    pub fn global(&self, j: u64) -> Option<u64> {
        let r = self.residues.len() as u64;
        let base = (j / r).checked_mul(u64::from(self.period))?;
        base.checked_add(u64::from(self.residues[(j % r) as usize]))
    }

    /// How many of the global arrivals 0..n this share owns.
    pub fn owned_below(&self, n: u64) -> u64 {
        let period = u64::from(self.period);
        let whole = (n / period) * self.residues.len() as u64;
        let rest = n % period;
        whole + self.residues.partition_point(|&x| u64::from(x) < rest) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_share_is_every_arrival() {
        let s = Share::whole();
        assert!(s.is_whole());
        assert_eq!(
            (0..5).map(|j| s.global(j).unwrap()).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(s.owned_below(7), 7);
        assert_eq!(s.fraction(), 1.0);
    }

    #[test]
    fn a_share_maps_its_sequence_onto_global_arrivals() {
        let s = Share::new(5, vec![1, 3], 9).unwrap();
        let globals: Vec<u64> = (0..6).map(|j| s.global(j).unwrap()).collect();
        assert_eq!(globals, [1, 3, 6, 8, 11, 13]);
        for n in 0..40 {
            let owned = (0..n).filter(|x| [1, 3].contains(&(x % 5))).count() as u64;
            assert_eq!(s.owned_below(n), owned, "n = {n}");
        }
        assert!((s.fraction() - 0.4).abs() < 1e-12);
        assert_eq!(s.stream(), 9);
    }

    #[test]
    fn bad_shares_are_refused() {
        assert_eq!(Share::new(0, vec![0], 0), Err(ShareError::ZeroPeriod));
        assert_eq!(Share::new(3, vec![], 0), Err(ShareError::Empty(3)));
        assert!(Share::new(3, vec![2, 1], 0).is_err());
        assert!(Share::new(3, vec![3], 0).is_err());
    }
}
