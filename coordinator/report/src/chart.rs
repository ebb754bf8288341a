//! What a plot shows, as plain data: the experiments build [`Chart`]s, [`crate::render`] draws
//! them. Keeping the two apart lets the experiments' tests check what is plotted without
//! drawing, and lets the drawing change without touching an experiment.

/// One figure: a title, axis labels with their units, and what is drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Lines or points over a numeric x axis (CDFs, time series, size sweeps).
    Lines(Vec<Series>),
    /// One box per group over a categorical x axis.
    Boxes {
        groups: Vec<BoxGroup>,
        /// Which palette color means what, e.g. `("cold", 1)`.
        legend: Vec<(String, usize)>,
    },
    /// Counts per bin over a numeric x axis.
    Histogram(Vec<Bin>),
    /// A value per (row, column) cell, colored on a sequential scale and written in the cell.
    Heatmap(Heatmap),
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marks {
    Line,
    Points,
    LineAndPoints,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    /// Drawn in this order.
    pub points: Vec<(f64, f64)>,
    pub marks: Marks,
}

impl Series {
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            marks: Marks::Line,
        }
    }

    pub fn points(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            marks: Marks::Points,
        }
    }

    /// The empirical CDF of `samples`: (x, fraction of samples ≤ x), one step per sample.
    pub fn cdf(name: impl Into<String>, samples: &[f64]) -> Self {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mut points = Vec::with_capacity(2 * sorted.len());
        for (i, x) in sorted.iter().enumerate() {
            points.push((*x, i as f64 / n));
            points.push((*x, (i + 1) as f64 / n));
        }
        Series::line(name, points)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BoxGroup {
    pub label: String,
    /// Palette index.
    pub color: usize,
    pub summary: BoxSummary,
}

/// Tukey's box: quartiles, whiskers at the most extreme samples within 1.5 IQR of the box,
/// the samples beyond them as outliers.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxSummary {
    pub count: usize,
    pub low_whisker: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub high_whisker: f64,
    pub outliers: Vec<f64>,
}

impl BoxSummary {
    /// `None` without finite samples. Quartiles interpolate linearly between ranks (numpy's
    /// default).
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (s.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
        };
        let (q1, median, q3) = (q(0.25), q(0.5), q(0.75));
        let reach = 1.5 * (q3 - q1);
        let inside = |v: &&f64| **v >= q1 - reach && **v <= q3 + reach;
        let low_whisker = s.iter().find(inside).copied().unwrap_or(q1);
        let high_whisker = s.iter().rev().find(inside).copied().unwrap_or(q3);
        let outliers = s
            .iter()
            .copied()
            .filter(|v| *v < low_whisker || *v > high_whisker)
            .collect();
        Some(BoxSummary {
            count: s.len(),
            low_whisker,
            q1,
            median,
            q3,
            high_whisker,
            outliers,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bin {
    pub low: f64,
    pub high: f64,
    pub count: u64,
}

/// `bins` equal-width bins over the range of the finite samples (the last bin includes its
/// upper edge, as numpy's `histogram` does).
pub fn histogram(samples: &[f64], bins: usize) -> Vec<Bin> {
    let finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    let (Some(min), Some(max)) = (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) else {
        return Vec::new();
    };
    let bins = bins.max(1);
    let (min, max) = if max > min {
        (min, max)
    } else {
        (min - 0.5, max + 0.5)
    };
    let width = (max - min) / bins as f64;
    let mut out: Vec<Bin> = (0..bins)
        .map(|i| Bin {
            low: min + width * i as f64,
            high: min + width * (i + 1) as f64,
            count: 0,
        })
        .collect();
    for v in finite {
        let i = (((v - min) / width) as usize).min(bins - 1);
        out[i].count += 1;
    }
    out
}

/// Values per (row, column); `None` where nothing was measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `values[row][column]`.
    pub values: Vec<Vec<Option<f64>>>,
    /// Written after each cell's value, e.g. `ms`.
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_summary_uses_tukey_whiskers() {
        // numpy: percentile([1..9, 40], [25, 50, 75]) = 3.25, 5.5, 7.75; IQR 4.5, fences -3.5 and 14.5.
        let mut v: Vec<f64> = (1..=9).map(f64::from).collect();
        v.push(40.0);
        let b = BoxSummary::of(&v).unwrap();
        assert_eq!((b.q1, b.median, b.q3), (3.25, 5.5, 7.75));
        assert_eq!((b.low_whisker, b.high_whisker), (1.0, 9.0));
        assert_eq!(b.outliers, vec![40.0]);
        assert!(BoxSummary::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn histogram_counts_every_sample_once() {
        // numpy: histogram([0, 1, 2, 3, 4], bins=2) -> counts [2, 3], edges [0, 2, 4].
        let bins = histogram(&[0.0, 1.0, 2.0, 3.0, 4.0], 2);
        let counts: Vec<u64> = bins.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2, 3]);
        assert_eq!((bins[0].low, bins[1].high), (0.0, 4.0));
        assert_eq!(
            histogram(&[7.0, 7.0], 3)
                .iter()
                .map(|b| b.count)
                .sum::<u64>(),
            2
        );
        assert!(histogram(&[], 3).is_empty());
    }

    #[test]
    fn cdf_steps_reach_one() {
        let s = Series::cdf("x", &[3.0, 1.0, 2.0]);
        assert_eq!(s.points.first(), Some(&(1.0, 0.0)));
        assert_eq!(s.points.last(), Some(&(3.0, 1.0)));
        assert_eq!(s.points.len(), 6);
    }
}
