//! The open-loop arrival schedule: when each request is meant to be sent.
//!
//! A [`RateProfile`] is the rate λ(t) in requests per second, as consecutive linear segments;
//! its integral Λ(t) counts the arrivals expected by t. Arrivals are points of a unit-rate
//! process mapped through Λ⁻¹ (a time change), which treats constant rates, ramps, stages and
//! pauses alike:
//! - constant arrivals are the points 0, 1, 2, …: evenly spaced at whatever the rate is;
//! - Poisson arrivals are the points of a unit-rate Poisson process, which Λ⁻¹ turns into a
//!   Poisson process of rate λ(t).
//!
//! [`task_schedule`] deals a schedule out in interleaved parts (part k of n: every n-th arrival),
//! and [`share_schedule`] gives a fleet worker its [`Share`]. The engine's tasks draw from one
//! part (0 of 1) of their share, each taking the next arrival when it is free. The engine
//! measures latency from these intended times, so an endpoint that stalls cannot hide the stall
//! by delaying the requests that would have measured it (STYLE §7).
//!
//! **This module is pure** (STYLE §6): no I/O, no clock, no allocation per arrival, and the same
//! inputs always give the same times.

use std::time::Duration;

use super::share::Share;

/// Arrivals this close (relative to the total) below the profile's end count as at the end, which
/// is not part of the run: rounding must not add one, e.g. 8.3/s × 30 s = 249.00000000000003.
const END_SLACK: f64 = 1e-12;

/// Why a rate profile cannot be built or parsed. Each message names the bad value and says what
/// was expected, since it goes straight to the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("rate `{0}`: expected a finite number of requests per second, 0 or more, e.g. 100")]
    Rate(String),
    #[error("ramp `{0}`: expected FROM..TO requests per second, e.g. 10..500")]
    Ramp(String),
    #[error(
        "stage `{0}`: expected RATE@DURATION or FROM..TO@DURATION, e.g. 100@10s or 10..500@1m"
    )]
    Stage(String),
    #[error(
        "duration `{0}`: expected a positive number with ms, s, m or h, e.g. 500ms, 10s or 2m"
    )]
    Duration(String),
    #[error("rate `{0}` needs a duration: give one, or use stages such as `{0}@30s`")]
    MissingDuration(String),
    #[error(
        "stages `{spec}` set their own length: expected no separate duration (got {duration})"
    )]
    DurationWithStages { spec: String, duration: String },
    #[error("the stages last longer than a Duration can hold: expected a shorter profile")]
    TooLong,
    #[error("the profile expects {0} requests in total: expected a positive, finite number")]
    NoArrivals(String),
}

/// One stretch of a [`RateProfile`]: the rate goes linearly from `start_rate` to `end_rate`
/// (requests per second, 0 or more; both 0 is a pause).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub duration: Duration,
    pub start_rate: f64,
    pub end_rate: f64,
}

impl Segment {
    fn len_s(&self) -> f64 {
        self.duration.as_secs_f64()
    }

    /// How fast the rate changes, in requests per second per second.
    fn slope(&self) -> f64 {
        (self.end_rate - self.start_rate) / self.len_s()
    }

    /// Arrivals expected over the whole segment: the trapezoid under the rate.
    fn count(&self) -> f64 {
        0.5 * (self.start_rate + self.end_rate) * self.len_s()
    }

    /// Arrivals expected in the segment's first `tau` seconds.
    fn count_by(&self, tau: f64) -> f64 {
        tau * (self.start_rate + 0.5 * self.slope() * tau)
    }

    /// Seconds into the segment by which `y` arrivals are expected: the root of
    /// r₀τ + slope·τ²/2 = y, written as 2y / (r₀ + √(r₀² + 2·slope·y)) so that flat segments
    /// (slope 0) and ramps from 0 (r₀ = 0) need no special case and nothing cancels.
    fn time_of(&self, y: f64) -> f64 {
        if y <= 0.0 {
            return 0.0;
        }
        let r0 = self.start_rate;
        // Never negative in exact arithmetic for y up to `count()`; clamp rounding.
        let discriminant = (r0 * r0 + 2.0 * self.slope() * y).max(0.0);
        (2.0 * y / (r0 + discriminant.sqrt())).min(self.len_s())
    }
}

/// A segment placed in the profile: where it starts in time and in expected arrivals.
#[derive(Clone, Debug, PartialEq)]
struct Piece {
    segment: Segment,
    start: Duration,
    /// Λ at the piece's start and end.
    before: f64,
    after: f64,
}

/// Requests per second over time: consecutive segments, each linear from its start to its end
/// rate. Valid by construction: rates finite and 0 or more, every segment longer than 0, and a
/// positive, finite number of arrivals expected in total.
#[derive(Clone, Debug, PartialEq)]
pub struct RateProfile {
    pieces: Vec<Piece>,
    duration: Duration,
    expected: f64,
}

impl RateProfile {
    pub fn constant(rate: f64, duration: Duration) -> Result<Self, ScheduleError> {
        Self::ramp(rate, rate, duration)
    }

    pub fn ramp(from: f64, to: f64, duration: Duration) -> Result<Self, ScheduleError> {
        Self::from_segments(vec![Segment {
            duration,
            start_rate: from,
            end_rate: to,
        }])
    }

    /// Segments one after the other; stages are segments whose start and end rates are equal.
    pub fn from_segments(segments: Vec<Segment>) -> Result<Self, ScheduleError> {
        let mut pieces = Vec::with_capacity(segments.len());
        let (mut start, mut before) = (Duration::ZERO, 0.0);
        for segment in segments {
            check_rate(segment.start_rate)?;
            check_rate(segment.end_rate)?;
            if segment.duration.is_zero() {
                return Err(ScheduleError::Duration(format!("{:?}", segment.duration)));
            }
            let after = before + segment.count();
            pieces.push(Piece {
                segment,
                start,
                before,
                after,
            });
            start = start
                .checked_add(segment.duration)
                .ok_or(ScheduleError::TooLong)?;
            before = after;
        }
        if !(before.is_finite() && before > 0.0) {
            return Err(ScheduleError::NoArrivals(before.to_string()));
        }
        Ok(RateProfile {
            pieces,
            duration: start,
            expected: before,
        })
    }

    /// Parses the CLI syntax: `RATE` (constant) or `FROM..TO` (linear ramp) over `duration`, or
    /// stages `RATE@DUR,FROM..TO@DUR,…` (DUR like 500ms, 10s, 2m) that set their own length.
    pub fn parse(spec: &str, duration: Option<Duration>) -> Result<Self, ScheduleError> {
        let spec = spec.trim();
        if spec.contains('@') {
            if let Some(duration) = duration {
                return Err(ScheduleError::DurationWithStages {
                    spec: spec.to_string(),
                    duration: format!("{duration:?}"),
                });
            }
            let segments = spec
                .split(',')
                .map(parse_stage)
                .collect::<Result<Vec<_>, _>>()?;
            return Self::from_segments(segments);
        }
        let (from, to) = parse_rates(spec)?;
        let duration = duration.ok_or_else(|| ScheduleError::MissingDuration(spec.to_string()))?;
        Self::ramp(from, to, duration)
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment> + '_ {
        self.pieces.iter().map(|p| p.segment)
    }

    /// Expected number of arrivals: the integral of the rate, Λ(T).
    pub fn expected_count(&self) -> f64 {
        self.expected
    }

    /// Λ(t): arrivals expected by `t` (all of them from the profile's end on).
    pub fn cumulative(&self, t: Duration) -> f64 {
        if t >= self.duration {
            return self.expected;
        }
        let i = self
            .pieces
            .partition_point(|p| p.start <= t)
            .saturating_sub(1);
        let p = &self.pieces[i];
        let tau = t.saturating_sub(p.start).as_secs_f64();
        (p.before + p.segment.count_by(tau)).min(p.after)
    }

    /// Λ⁻¹(x): the time by which `x` arrivals are expected, for 0 ≤ x ≤ Λ(T); None otherwise.
    ///
    /// Where Λ is flat (a pause) this is the pause's end, the last time with Λ(t) ≤ x: a request
    /// due at a pause's edge goes out when sending resumes, and `0@5s,100@10s` starts at 5 s.
    pub fn time_of(&self, x: f64) -> Option<Duration> {
        if !(0.0..=self.expected).contains(&x) {
            return None;
        }
        let i = self.pieces.partition_point(|p| p.after <= x);
        Some(self.time_in(i, x))
    }

    /// The piece holding `x` (the first with Λ at its end above `x`), walking on from `from`:
    /// schedules ask for increasing `x`, so the walk is short and the lookup O(1) on average.
    fn piece_from(&self, from: usize, x: f64) -> usize {
        let mut i = from;
        while self.pieces.get(i).is_some_and(|p| p.after <= x) {
            i += 1;
        }
        i
    }

    /// Λ⁻¹(x) within piece `i`; past the last piece, the profile's end.
    fn time_in(&self, i: usize, x: f64) -> Duration {
        let Some(p) = self.pieces.get(i) else {
            return self.duration;
        };
        let end = p.start.saturating_add(p.segment.duration);
        let tau = p.segment.time_of(x - p.before);
        p.start.saturating_add(seconds(tau)).min(end)
    }
}

/// How requests arrive at the rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Evenly spaced (in Λ): the n-th global arrival at Λ⁻¹(n).
    Constant,
    /// A Poisson process of rate λ(t); the same seed gives the same times.
    Poisson { seed: u64 },
}

/// The intended send offsets (from the run's start) of task `task` of `tasks`, in increasing
/// order; a task outside `0..tasks` gets none.
///
/// - Constant: task k gets the global arrivals n ≡ k (mod tasks), so the tasks' union is exactly
///   the global sequence, evenly interleaved: no task bursts while another idles.
/// - Poisson: task k runs its own Poisson process of rate λ(t)/tasks (unit exponential gaps
///   scaled by `tasks` in Λ-space), seeded from (seed, k); independent Poisson processes add up,
///   so the union is Poisson with rate λ(t).
///
/// `max_count` caps the global count at N: task k gets at most the number of n < N with
/// n ≡ k (mod tasks), so the tasks' shares add up to N (exactly N for Constant).
pub fn task_schedule(
    profile: &RateProfile,
    arrival: Arrival,
    task: usize,
    tasks: usize,
    max_count: Option<u64>,
) -> TaskSchedule {
    share_schedule(profile, arrival, &Share::whole(), task, tasks, max_count)
}

/// [`task_schedule`] within a [`Share`] of the global arrivals, as one worker of a fleet sends
/// them: the share's own arrivals j = 0, 1, 2, … are split over its tasks as the global ones are
/// by `task_schedule` (task k gets j ≡ k mod tasks), and arrival j goes out at the time of global
/// arrival `share.global(j)`. Poisson tasks run at the share's fraction of the rate, seeded
/// from (seed, share's stream, k). `max_count` still caps the global count: the share sends
/// the arrivals it owns below it.
///
/// The whole share gives exactly `task_schedule`'s times.
pub fn share_schedule(
    profile: &RateProfile,
    arrival: Arrival,
    share_of: &Share,
    task: usize,
    tasks: usize,
    max_count: Option<u64>,
) -> TaskSchedule {
    let process = match arrival {
        Arrival::Constant => Process::Constant {
            next: task as u64,
            stride: tasks as u64,
        },
        Arrival::Poisson { seed } => Process::Poisson {
            at: 0.0,
            scale: tasks as f64 / share_of.fraction(),
            rng: SplitMix64::for_task(seed, share_of.stream(), task),
            next: task as u64,
            stride: tasks as u64,
        },
    };
    let owned = max_count.map(|n| share_of.owned_below(n));
    TaskSchedule {
        profile: profile.clone(),
        share: share_of.clone(),
        process,
        left: share(owned, task as u64, tasks as u64),
        limit: profile.expected * (1.0 - END_SLACK),
        piece: 0,
        last: Duration::ZERO,
    }
}

/// How many of the arrivals j < `max_count` satisfy j ≡ `task` (mod `tasks`).
fn share(max_count: Option<u64>, task: u64, tasks: u64) -> u64 {
    if task >= tasks {
        return 0;
    }
    match max_count {
        None => u64::MAX,
        Some(n) if n > task => (n - task - 1) / tasks + 1,
        Some(_) => 0,
    }
}

/// One task's arrival times, computed as they are asked for.
#[derive(Clone, Debug)]
pub struct TaskSchedule {
    profile: RateProfile,
    share: Share,
    process: Process,
    /// Arrivals this task may still send (its share of `max_count`); 0 once it has ended.
    left: u64,
    /// Arrivals lie strictly below this point in Λ-space: the profile's end, less [`END_SLACK`].
    limit: f64,
    /// The piece of the last arrival; the next one is in it or after it.
    piece: usize,
    /// The last time given out: times never go backwards, not even by a rounding error.
    last: Duration,
}

impl TaskSchedule {
    /// The next arrival: its sequence number within the share (see [`Share`]; for Poisson
    /// arrivals, i·tasks + k for task k's i-th) and its intended offset from the run's start.
    pub fn next_arrival(&mut self) -> Option<(u64, Duration)> {
        if self.left == 0 {
            return None;
        }
        let (sequence, x) = match self.process.next_point(&self.share) {
            Some((sequence, x)) if x < self.limit => (sequence, x),
            _ => {
                self.left = 0;
                return None;
            }
        };
        self.left -= 1;
        self.piece = self.profile.piece_from(self.piece, x);
        self.last = self.profile.time_in(self.piece, x).max(self.last);
        Some((sequence, self.last))
    }
}

impl Iterator for TaskSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.next_arrival().map(|(_, offset)| offset)
    }
}

impl std::iter::FusedIterator for TaskSchedule {}

/// A task's points in Λ-space, before they are mapped to times, with their sequence numbers.
#[derive(Clone, Debug)]
enum Process {
    /// The share's arrivals j ≡ task (mod stride), as the next one; its point is the global
    /// arrival number the share maps j to.
    Constant { next: u64, stride: u64 },
    /// The last point of a Poisson process whose gaps are unit exponentials times `scale`; its
    /// arrivals are numbered task, task + stride, ….
    Poisson {
        at: f64,
        scale: f64,
        rng: SplitMix64,
        next: u64,
        stride: u64,
    },
}

impl Process {
    fn next_point(&mut self, share: &Share) -> Option<(u64, f64)> {
        match self {
            Process::Constant { next, stride } => {
                let j = *next;
                *next = next.checked_add(*stride)?;
                Some((j, share.global(j)? as f64))
            }
            Process::Poisson {
                at,
                scale,
                rng,
                next,
                stride,
            } => {
                *at += *scale * rng.exponential();
                let sequence = *next;
                *next = next.checked_add(*stride)?;
                Some((sequence, *at))
            }
        }
    }
}

/// splitmix64 (Steele, Lea & Flood, 2014): small, fast and good enough for arrival gaps. Ours
/// rather than `rand`'s `SmallRng`, which does not promise the same stream across versions, so
/// that a seed gives the same schedule whatever the lock file says.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    /// Mixes the seed before the task so that nearby seeds and tasks give unrelated streams;
    /// `stream` (a share's) 0 leaves the state as it was before shares existed.
    fn for_task(seed: u64, stream: u64, task: usize) -> Self {
        SplitMix64(mix64(mix64(seed) ^ task as u64) ^ mix64(stream))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// A unit-rate exponential: -ln(1 - U) with U uniform on [0, 1) in steps of 2⁻⁵³, so the
    /// logarithm's argument is never 0.
    fn exponential(&mut self) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        -(-u).ln_1p()
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seconds (finite, 0 or more here) as a Duration, clamped rather than panicking.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

fn check_rate(rate: f64) -> Result<f64, ScheduleError> {
    if rate.is_finite() && rate >= 0.0 {
        Ok(rate)
    } else {
        Err(ScheduleError::Rate(rate.to_string()))
    }
}

fn parse_rate(text: &str) -> Result<f64, ScheduleError> {
    let text = text.trim();
    let bad = || ScheduleError::Rate(text.to_string());
    let rate: f64 = text.parse().map_err(|_| bad())?;
    check_rate(rate).map_err(|_| bad())
}

/// `RATE` or `FROM..TO`, as (start rate, end rate).
fn parse_rates(text: &str) -> Result<(f64, f64), ScheduleError> {
    match text.split_once("..") {
        None => parse_rate(text).map(|rate| (rate, rate)),
        Some((from, to)) if from.trim().is_empty() || to.trim().is_empty() || to.contains("..") => {
            Err(ScheduleError::Ramp(text.to_string()))
        }
        Some((from, to)) => Ok((parse_rate(from)?, parse_rate(to)?)),
    }
}

/// `RATE@DUR` or `FROM..TO@DUR`.
fn parse_stage(text: &str) -> Result<Segment, ScheduleError> {
    let text = text.trim();
    let (rates, duration) = match text.split_once('@') {
        Some((r, d)) if !r.trim().is_empty() && !d.trim().is_empty() => (r, d),
        _ => return Err(ScheduleError::Stage(text.to_string())),
    };
    let (start_rate, end_rate) = parse_rates(rates)?;
    Ok(Segment {
        duration: parse_duration(duration)?,
        start_rate,
        end_rate,
    })
}

/// `500ms`, `10s`, `2m`, `1h`, or plain seconds (`1.5`): stage lengths and the CLI's --duration.
pub fn parse_duration(text: &str) -> Result<Duration, ScheduleError> {
    let text = text.trim();
    let bad = || ScheduleError::Duration(text.to_string());
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_or_plain_seconds() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "-1s", "10x", "0s", "nan"] {
            assert!(
                parse_duration(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("expected"),
                "{bad}"
            );
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// Every task's schedule, as seconds.
    fn per_task(
        p: &RateProfile,
        arrival: Arrival,
        tasks: usize,
        cap: Option<u64>,
    ) -> Vec<Vec<f64>> {
        (0..tasks)
            .map(|k| {
                task_schedule(p, arrival, k, tasks, cap)
                    .map(|d| d.as_secs_f64())
                    .collect()
            })
            .collect()
    }

    /// The tasks' union, sorted, after checking that each task's own times increase.
    fn merged(p: &RateProfile, arrival: Arrival, tasks: usize, cap: Option<u64>) -> Vec<f64> {
        let mut all = Vec::new();
        for (k, times) in per_task(p, arrival, tasks, cap).into_iter().enumerate() {
            assert!(
                times.windows(2).all(|w| w[0] < w[1]),
                "task {k} not increasing"
            );
            all.extend(times);
        }
        all.sort_by(f64::total_cmp);
        all
    }

    fn count_in(times: &[f64], from: f64, to: f64) -> usize {
        times.iter().filter(|&&t| from <= t && t < to).count()
    }

    fn poisson(seed: u64) -> Arrival {
        Arrival::Poisson { seed }
    }

    #[test]
    fn constant_tasks_interleave_into_the_global_sequence() {
        let p = RateProfile::constant(1000.0, S(2)).unwrap();
        let all = merged(&p, Arrival::Constant, 4, None);
        assert_eq!(all.len(), 2000);
        for (k, t) in all.iter().enumerate() {
            assert!((t - k as f64 / 1000.0).abs() < 1e-6, "arrival {k} at {t}");
        }
        // Interleaved, not blocked: task 1's first three arrivals are n = 1, 5, 9.
        let task1: Vec<_> = task_schedule(&p, Arrival::Constant, 1, 4, None)
            .take(3)
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(task1, [ms(1), ms(5), ms(9)]);
    }

    #[test]
    fn max_count_caps_the_global_count_exactly() {
        let p = RateProfile::constant(2000.0, S(2)).unwrap();
        let shares: Vec<usize> = per_task(&p, Arrival::Constant, 3, Some(777))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(shares, [259, 259, 259]);
        let all = merged(&p, Arrival::Constant, 3, Some(777));
        assert!(
            (all[776] - 0.388).abs() < 1e-6,
            "the first 777, not any 777"
        );
        assert_eq!(merged(&p, Arrival::Constant, 4, Some(6)).len(), 6);
        assert_eq!(merged(&p, Arrival::Constant, 8, Some(3)).len(), 3);
        assert_eq!(merged(&p, Arrival::Constant, 3, Some(0)).len(), 0);
        // A cap above the profile's count changes nothing; Poisson shares respect the cap.
        assert_eq!(merged(&p, Arrival::Constant, 3, Some(10_000)).len(), 4000);
        assert_eq!(merged(&p, poisson(7), 3, Some(777)).len(), 777);
        // A task outside 0..tasks has no share.
        assert_eq!(task_schedule(&p, Arrival::Constant, 3, 3, None).count(), 0);
        assert_eq!(task_schedule(&p, Arrival::Constant, 0, 0, None).count(), 0);
    }

    #[test]
    fn poisson_has_its_rate_and_exponential_gaps() {
        let (rate, secs) = (5000.0, 2.0);
        let p = RateProfile::constant(rate, S(2)).unwrap();
        let all = merged(&p, poisson(42), 8, None);
        let expected = rate * secs;
        let n = all.len() as f64;
        assert!((n - expected).abs() < 4.0 * expected.sqrt(), "count {n}");
        assert!(all[0] >= 0.0 && all[all.len() - 1] < secs);

        let gaps: Vec<f64> = all.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((mean * rate - 1.0).abs() < 0.05, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.05, "coefficient of variation {cv}");

        // Counts per 10 ms are Poisson too: variance ≈ mean (a fixed-spacing stream gives ≈ 0).
        let bins: Vec<f64> = (0..200)
            .map(|b| count_in(&all, b as f64 * 0.01, (b + 1) as f64 * 0.01) as f64)
            .collect();
        let bin_mean = bins.iter().sum::<f64>() / 200.0;
        let bin_var = bins.iter().map(|c| (c - bin_mean).powi(2)).sum::<f64>() / 199.0;
        assert!(
            (bin_var / bin_mean - 1.0).abs() < 0.4,
            "dispersion {}",
            bin_var / bin_mean
        );
    }

    #[test]
    fn poisson_repeats_with_its_seed() {
        let p = RateProfile::constant(500.0, S(1)).unwrap();
        let run = |seed| per_task(&p, poisson(seed), 4, None);
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let tasks = run(1);
        assert_ne!(tasks[0], tasks[1], "tasks draw independent streams");
    }

    #[test]
    fn ramp_from_zero_triples_in_the_second_second() {
        let p = RateProfile::ramp(0.0, 1000.0, S(2)).unwrap();
        assert_eq!(p.expected_count(), 1000.0);
        let all = merged(&p, Arrival::Constant, 4, None);
        assert_eq!(all.len(), 1000);
        assert_eq!(all[0], 0.0);
        let (first, second) = (count_in(&all, 0.0, 1.0), count_in(&all, 1.0, 2.0));
        assert_eq!((first, second), (250, 750));

        let all = merged(&p, poisson(3), 4, None);
        assert!((all.len() as f64 - 1000.0).abs() < 4.0 * 1000f64.sqrt());
        let (first, second) = (count_in(&all, 0.0, 1.0), count_in(&all, 1.0, 2.0));
        let ratio = second as f64 / first as f64;
        assert!((2.4..3.7).contains(&ratio), "{first} then {second}");
    }

    #[test]
    fn stages_step_the_rate() {
        let p = RateProfile::parse("100@1s,1000@1s", None).unwrap();
        assert_eq!(p.duration(), S(2));
        let all = merged(&p, Arrival::Constant, 3, None);
        assert_eq!(all.len(), 1100);
        assert_eq!(count_in(&all, 0.0, 1.0), 100);
        assert!((all[100] - 1.0).abs() < 1e-9 && (all[101] - 1.001).abs() < 1e-9);
    }

    #[test]
    fn pauses_send_nothing_and_resume_on_time() {
        let p = RateProfile::parse("100@1s,0@1s,100@1s", None).unwrap();
        let all = merged(&p, Arrival::Constant, 2, None);
        assert_eq!(all.len(), 200);
        assert_eq!(count_in(&all, 0.0, 1.0), 100);
        assert_eq!(count_in(&all, 1.0, 2.0), 0);
        assert!((all[100] - 2.0).abs() < 1e-9, "resumes at the pause's end");
        assert_eq!(count_in(&merged(&p, poisson(9), 2, None), 1.0, 2.0), 0);

        let late = RateProfile::parse("0@5s,10@1s", None).unwrap();
        assert_eq!(late.time_of(0.0), Some(S(5)));
        let all = merged(&late, Arrival::Constant, 2, None);
        assert_eq!(all.len(), 10);
        assert!((all[0] - 5.0).abs() < 1e-9);
    }

    #[test]
    fn time_of_inverts_cumulative() {
        let profiles = [
            RateProfile::ramp(0.0, 1000.0, S(2)).unwrap(),
            RateProfile::ramp(800.0, 3.0, S(7)).unwrap(),
            RateProfile::constant(0.5, S(60)).unwrap(),
            RateProfile::parse("100@1s,10..1000@3s,1000..0@500ms,7@2m", None).unwrap(),
        ];
        for p in &profiles {
            let total_ns = p.duration().as_nanos() as u64;
            let mut x = 0x2545_F491_4F6C_DD1D_u64;
            for i in 0..2000 {
                // Boundaries and evenly spread points, then pseudo-random ones.
                let ns = match i {
                    0..=100 => total_ns / 100 * i,
                    _ => {
                        x = mix64(x);
                        x % total_ns
                    }
                };
                let t = Duration::from_nanos(ns);
                let back = p.time_of(p.cumulative(t)).unwrap();
                let err = back.as_secs_f64() - t.as_secs_f64();
                assert!(err.abs() < 1e-7, "{p:?}: {t:?} came back as {back:?}");
            }
            assert_eq!(p.time_of(p.expected_count()), Some(p.duration()));
            assert_eq!(p.cumulative(p.duration() + S(1)), p.expected_count());
        }
    }

    #[test]
    fn time_of_outside_the_profile_is_none() {
        let p = RateProfile::constant(10.0, S(1)).unwrap();
        assert_eq!(p.time_of(0.0), Some(Duration::ZERO));
        assert_eq!(p.time_of(10.5), None);
        assert_eq!(p.time_of(-1.0), None);
        assert_eq!(p.time_of(f64::NAN), None);
    }

    #[test]
    fn rounding_never_adds_an_arrival_at_the_end() {
        let p = RateProfile::constant(8.3, S(30)).unwrap();
        assert!(p.expected_count() > 249.0, "8.3 × 30 rounds up");
        let all = merged(&p, Arrival::Constant, 2, None);
        assert_eq!(all.len(), 249);
        assert!((all[248] - 248.0 / 8.3).abs() < 1e-9);
    }

    #[test]
    fn parse_accepts_each_syntax() {
        let flat = RateProfile::parse(" 200 ", Some(S(30))).unwrap();
        assert_eq!(flat, RateProfile::constant(200.0, S(30)).unwrap());
        assert_eq!(flat.expected_count(), 6000.0);

        let ramp = RateProfile::parse("10..500", Some(S(10))).unwrap();
        assert_eq!(ramp, RateProfile::ramp(10.0, 500.0, S(10)).unwrap());

        let staged = RateProfile::parse("100@500ms, 2.5..50@2m,0@1h,1@1.5", None).unwrap();
        let got: Vec<_> = staged
            .segments()
            .map(|s| (s.duration, s.start_rate, s.end_rate))
            .collect();
        let ms = Duration::from_millis;
        let want = [
            (ms(500), 100.0, 100.0),
            (S(120), 2.5, 50.0),
            (S(3600), 0.0, 0.0),
            (ms(1500), 1.0, 1.0),
        ];
        assert_eq!(got, want);
        assert_eq!(staged.duration(), ms(500 + 120_000 + 3_600_000 + 1500));
    }

    #[test]
    fn parse_errors_name_the_value_and_what_is_expected() {
        let cases = [
            ("abc", Some(S(1)), "rate `abc`: expected"),
            ("-5", Some(S(1)), "rate `-5`: expected"),
            ("nan", Some(S(1)), "rate `nan`: expected"),
            ("inf", Some(S(1)), "rate `inf`: expected"),
            ("10..", Some(S(1)), "ramp `10..`: expected FROM..TO"),
            ("..10", Some(S(1)), "ramp `..10`: expected"),
            ("1..2..3", Some(S(1)), "ramp `1..2..3`: expected"),
            ("100@", None, "stage `100@`: expected RATE@DURATION"),
            ("@1s", None, "stage `@1s`: expected"),
            ("5@-1s", None, "duration `-1s`: expected a positive"),
            ("5@0s", None, "duration `0s`: expected"),
            ("5@1y", None, "duration `1y`: expected"),
            ("x@1s", None, "rate `x`: expected"),
            ("100", None, "rate `100` needs a duration"),
            ("10..20", None, "rate `10..20` needs a duration"),
            ("100@1s", Some(S(1)), "expected no separate duration"),
            (
                "0",
                Some(S(1)),
                "expects 0 requests in total: expected a positive",
            ),
            ("0@1s,0..0@2s", None, "expects 0 requests"),
        ];
        for (spec, duration, want) in cases {
            let got = RateProfile::parse(spec, duration).unwrap_err().to_string();
            assert!(got.contains(want), "`{spec}` gave: {got}");
        }
    }

    #[test]
    fn constructors_reject_invalid_profiles() {
        let bad_rates = [f64::NAN, f64::INFINITY, -1.0];
        for rate in bad_rates {
            let err = RateProfile::constant(rate, S(1)).unwrap_err();
            assert!(matches!(err, ScheduleError::Rate(_)), "{rate}: {err}");
            assert!(RateProfile::ramp(0.0, rate, S(1)).is_err());
        }
        let zero = RateProfile::constant(10.0, Duration::ZERO).unwrap_err();
        assert_eq!(zero, ScheduleError::Duration("0ns".into()));
        assert!(matches!(
            RateProfile::from_segments(Vec::new()),
            Err(ScheduleError::NoArrivals(_))
        ));
        let overflow = RateProfile::constant(f64::MAX, S(10)).unwrap_err();
        assert!(
            matches!(overflow, ScheduleError::NoArrivals(_)),
            "{overflow}"
        );
        let long = Segment {
            duration: Duration::MAX,
            start_rate: 1.0,
            end_rate: 1.0,
        };
        let too_long = RateProfile::from_segments(vec![long, long]).unwrap_err();
        assert_eq!(too_long, ScheduleError::TooLong);
    }
}
