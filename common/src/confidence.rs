//! How sure a measured statistic is (SEBS-CONTRACT §7): Student's t interval of the mean and Le
//! Boudec's non-parametric interval of the median, at 95% and 99%, each also given as its half
//! width in percent of the statistic it brackets (SeBS's "within x% of mean").
//!
//! The t quantile is computed here (regularized incomplete beta by continued fraction, inverted
//! by bisection) rather than taken from a statistics crate: `common` stays dependency-light, and
//! the tests pin it to scipy's values.

use serde::Serialize;

use crate::stats::Summary;

/// The confidence levels SeBS reports, with the standard normal quantile z(α/2) it uses for Le
/// Boudec's ranks (SeBS's table: 1.96 and 2.576).
pub const LEVELS: [(f64, f64); 2] = [(0.95, 1.96), (0.99, 2.576)];

/// Le Boudec's interval needs more samples than this (SeBS: "only for n > 20").
pub const LE_BOUDEC_MIN_EXCLUSIVE: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Parametric, of the mean: mean ± t(level, n − 1) · s / √n.
    StudentT,
    /// Non-parametric, of the median: order statistics at Le Boudec's ranks.
    LeBoudec,
}

/// One confidence interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub method: Method,
    /// 0.95 or 0.99.
    pub level: f64,
    pub low: f64,
    pub high: f64,
    /// Half the width, in percent of the mean (Student's t) or the median (Le Boudec).
    pub half_width_percent: f64,
}

/// What SeBS reports about one set of samples (the [`Summary`]: count, mean, median, sample
/// std, cv, min, max, p95, p99), and the intervals around it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Statistics {
    #[serde(flatten)]
    pub summary: Summary,
    /// Student's t at each level when n ≥ 2, then Le Boudec at each level when n > 20.
    pub intervals: Vec<Interval>,
}

impl Statistics {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let summary = Summary::of(samples)?;
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = summary.count;
        let mut intervals = Vec::new();
        for (level, _) in LEVELS {
            intervals.extend(student_t_interval(summary.mean, summary.std, n, level));
        }
        for (level, z) in LEVELS {
            intervals.extend(le_boudec_interval(&sorted, summary.median, level, z));
        }
        Some(Statistics { summary, intervals })
    }

    /// The interval of `method` at `level`, if there is one.
    pub fn interval(&self, method: Method, level: f64) -> Option<&Interval> {
        self.intervals
            .iter()
            .find(|i| i.method == method && (i.level - level).abs() < 1e-9)
    }
}

fn percent_of(half_width: f64, of: f64) -> f64 {
    if of == 0.0 {
        f64::NAN
    } else {
        100.0 * half_width / of.abs()
    }
}

/// mean ± t_{(1+level)/2, n−1} · std/√n, as `scipy.stats.t.interval(level, n−1, mean, sem)`.
fn student_t_interval(mean: f64, std: f64, n: usize, level: f64) -> Option<Interval> {
    if n < 2 {
        return None;
    }
    let half = student_t_quantile((1.0 + level) / 2.0, (n - 1) as f64) * std / (n as f64).sqrt();
    Some(Interval {
        method: Method::StudentT,
        level,
        low: mean - half,
        high: mean + half,
        half_width_percent: percent_of(half, mean),
    })
}

/// Le Boudec's ranks (1-based order statistics) of the median's interval for `n` samples:
/// j = ⌊(n − z√n)/2⌋ and k = ⌈1 + (n + z√n)/2⌉. They are symmetric, k = n + 1 − j.
pub fn le_boudec_ranks(n: usize, z: f64) -> (usize, usize) {
    let root = z * (n as f64).sqrt();
    let j = ((n as f64 - root) / 2.0).floor().max(1.0) as usize;
    let k = (1.0 + (n as f64 + root) / 2.0).ceil().min(n as f64) as usize;
    (j, k)
}

/// [x_(j), x_(k)] of the sorted samples, for n > 20.
///
/// SeBS indexes its 0-based sorted list with j and k, which takes x_(j+1) and x_(k+1): an
/// interval shifted up by one rank (for n = 21 at 95%: x_(7)..x_(17) instead of the symmetric
/// x_(6)..x_(16)). This takes Le Boudec's order statistics as he defines them.
fn le_boudec_interval(sorted: &[f64], median: f64, level: f64, z: f64) -> Option<Interval> {
    let n = sorted.len();
    if n <= LE_BOUDEC_MIN_EXCLUSIVE {
        return None;
    }
    let (j, k) = le_boudec_ranks(n, z);
    let (low, high) = (sorted[j - 1], sorted[k - 1]);
    Some(Interval {
        method: Method::LeBoudec,
        level,
        low,
        high,
        half_width_percent: percent_of((high - low) / 2.0, median),
    })
}

/// The `p` quantile (0 < p < 1) of Student's t distribution with `df` degrees of freedom.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    let valid = p > 0.0 && p < 1.0 && df > 0.0;
    if !valid {
        return f64::NAN;
    }
    if p == 0.5 {
        return 0.0;
    }
    // By symmetry solve for the upper tail q = min(p, 1 − p) ∈ (0, 0.5): the t with
    // P(T > t) = q satisfies I_x(df/2, 1/2) = 2q for x = df / (df + t²), and I_x increases in x.
    let q = p.min(1.0 - p);
    let target = 2.0 * q;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if regularized_incomplete_beta(mid, df / 2.0, 0.5) < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= f64::EPSILON * mid {
            break;
        }
    }
    let x = 0.5 * (lo + hi);
    let t = (df * (1.0 - x) / x).sqrt();
    if p > 0.5 {
        t
    } else {
        -t
    }
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// I_x(a, b), the regularized incomplete beta function, for 0 ≤ x ≤ 1 and a, b > 0.
fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    // x^a (1 − x)^b / B(a, b), in logs.
    let front = (a * x.ln() + b * (1.0 - x).ln() - ln_beta(a, b)).exp();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry
    // I_x(a, b) = 1 − I_{1−x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction 1 / (1 + d₁ / (1 + d₂ / (1 + …))) of the incomplete beta, with
///   d_{2m+1} = −(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
///   d_{2m}   = m (b − m) x / ((a + 2m − 1)(a + 2m)),
/// evaluated by the modified Lentz method.
fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut f = d;
    for m in 1..=10_000 {
        let m = m as f64;
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        f *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let step = d * c;
        f *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    f
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln Γ(x) for x > 0 by Lanczos' approximation (g = 7, nine terms; relative error ~1e-15),
/// with the reflection formula below 1/2.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs().max(1e-12),
            "got {got}, want {want}"
        );
    }

    /// scipy 1.17.1: `scipy.stats.t.ppf(0.975, df)` and `t.ppf(0.995, df)`.
    #[test]
    fn t_quantiles_match_scipy() {
        let scipy = [
            (1.0, 12.706204736174694, 63.656741162871526),
            (2.0, 4.302652729749462, 9.924843200918287),
            (3.0, 3.1824463052837078, 5.840909309733355),
            (5.0, 2.5705818356363146, 4.032142983555228),
            (10.0, 2.228138851986274, 3.16927267261695),
            (29.0, 2.045229642132703, 2.756385903670605),
            (30.0, 2.0422724563012378, 2.7499956535672254),
            (100.0, 1.9839715185235518, 2.6258905214380173),
            (1000.0, 1.9623390808264083, 2.580754698065951),
        ];
        for (df, q975, q995) in scipy {
            close(student_t_quantile(0.975, df), q975, 1e-10);
            close(student_t_quantile(0.995, df), q995, 1e-10);
            close(student_t_quantile(0.025, df), -q975, 1e-10);
        }
        assert_eq!(student_t_quantile(0.5, 7.0), 0.0);
        assert!(student_t_quantile(1.0, 7.0).is_nan());
    }

    /// scipy: `t.cdf(1.5, 4)`, `t.cdf(-2.2, 7)`, `t.cdf(0.3, 1)`.
    #[test]
    fn t_cdf_matches_scipy() {
        close(student_t_cdf(1.5, 4.0), 0.896, 1e-12);
        close(student_t_cdf(-2.2, 7.0), 0.03186550765131839, 1e-11);
        close(student_t_cdf(0.3, 1.0), 0.5927735790777423, 1e-12);
    }

    /// scipy: `t.interval(a, n−1, loc=mean, scale=sem)` of ten samples; numpy's mean, median
    /// and `std(ddof=1)`.
    #[test]
    fn statistics_of_ten_samples_match_scipy() {
        let x = [12.1, 9.8, 11.4, 10.2, 10.9, 13.5, 9.1, 10.0, 11.7, 10.4];
        let s = Statistics::of(&x).unwrap();
        let (mean, median) = (s.summary.mean, s.summary.median);
        close(mean, 10.91, 1e-12);
        close(median, 10.65, 1e-12);
        close(s.summary.std, 1.2948187346325952, 1e-12);
        close(s.summary.cv, 1.2948187346325952 / 10.91, 1e-12);
        let t95 = s.interval(Method::StudentT, 0.95).unwrap();
        close(t95.low, 9.983742476200376, 1e-11);
        close(t95.high, 11.836257523799624, 1e-11);
        close(
            t95.half_width_percent,
            100.0 * (11.836257523799624 - 10.91) / 10.91,
            1e-9,
        );
        let t99 = s.interval(Method::StudentT, 0.99).unwrap();
        close(t99.low, 9.579330022239636, 1e-11);
        close(t99.high, 12.240669977760364, 1e-11);
        assert!(
            s.interval(Method::LeBoudec, 0.95).is_none(),
            "no median interval for n <= 20"
        );
    }

    /// Ranks by the formula, computed independently in Python (`math.floor`, `math.ceil`); they
    /// are symmetric order statistics, j + k = n + 1.
    #[test]
    fn le_boudec_ranks_are_symmetric_order_statistics() {
        let python = [
            (21, 1.96, 6, 16),
            (21, 2.576, 4, 18),
            (30, 1.96, 9, 22),
            (30, 2.576, 7, 24),
            (50, 1.96, 18, 33),
            (50, 2.576, 15, 36),
            (100, 1.96, 40, 61),
            (100, 2.576, 37, 64),
            (1000, 1.96, 469, 532),
            (1000, 2.576, 459, 542),
        ];
        for (n, z, j, k) in python {
            assert_eq!(le_boudec_ranks(n, z), (j, k), "n = {n}, z = {z}");
        }
    }

    #[test]
    fn le_boudec_interval_takes_the_order_statistics() {
        // 1..=50 shuffled: x_(i) = i, so the interval is exactly the ranks.
        let mut x: Vec<f64> = (1..=50).map(f64::from).collect();
        x.reverse();
        x.swap(3, 40);
        let s = Statistics::of(&x).unwrap();
        assert_eq!(s.summary.median, 25.5);
        let lb95 = s.interval(Method::LeBoudec, 0.95).unwrap();
        assert_eq!((lb95.low, lb95.high), (18.0, 33.0));
        close(lb95.half_width_percent, 100.0 * 7.5 / 25.5, 1e-12);
        let lb99 = s.interval(Method::LeBoudec, 0.99).unwrap();
        assert_eq!((lb99.low, lb99.high), (15.0, 36.0));
        assert_eq!(s.intervals.len(), 4);
    }

    #[test]
    fn degenerate_sets() {
        assert!(Statistics::of(&[]).is_none());
        let one = Statistics::of(&[3.0]).unwrap();
        assert_eq!(
            (one.summary.std, one.summary.cv, one.intervals.len()),
            (0.0, 0.0, 0)
        );
        let zeros = Statistics::of(&[0.0, 0.0]).unwrap();
        assert_eq!(zeros.summary.cv, 0.0);
        assert!(zeros.intervals[0].half_width_percent.is_nan());
    }
}
