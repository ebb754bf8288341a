//! The Azure Functions 2019 trace format (Shahrad et al., ATC '20):
//! `invocations_per_function_md.anon.d01.csv` and its siblings hold one row per function and
//! day: `HashOwner, HashApp, HashFunction, Trigger`, then the invocations in each minute of the
//! day, columns `1` to `1440`.
//!
//! A replay picks the busiest functions of a window of minutes and turns each function's counts
//! into a rate profile: minute m becomes a stage of 60 / `time_scale` seconds at
//! count × `time_scale` / 60 requests per second, so the engine sends exactly the minute's count
//! (evenly spaced) or a Poisson number around it.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sebs_worker::engine::schedule::{RateProfile, Segment};

/// Minutes per day, the trace's count columns.
pub const MINUTES: usize = 1440;

/// The leading columns, before the minute counts.
pub const KEY_COLUMNS: [&str; 4] = ["HashOwner", "HashApp", "HashFunction", "Trigger"];

#[derive(Clone, Debug, PartialEq)]
pub struct TraceFunction {
    pub owner: String,
    pub app: String,
    pub function: String,
    pub trigger: String,
    /// Invocations in minute 1..=1440 (index 0 is minute 1).
    pub counts: Vec<u32>,
}

impl TraceFunction {
    /// The counts of minutes `start..start + minutes` (1-based `start`).
    pub fn window(&self, start: u32, minutes: u32) -> &[u32] {
        let from = (start as usize).saturating_sub(1).min(MINUTES);
        let to = (from + minutes as usize).min(MINUTES);
        &self.counts[from..to]
    }
}

/// Reads a trace file; errors name the file, line and column.
pub fn read(path: &Path) -> Result<Vec<TraceFunction>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the trace {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        bail!(
            "{} is empty: expected the header `HashOwner,HashApp,HashFunction,Trigger,1,...,1440`",
            path.display()
        );
    };
    let names: Vec<&str> = header.trim_end().split(',').collect();
    let expected_minutes = (1..=MINUTES).map(|m| m.to_string());
    let expected: Vec<String> = KEY_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .chain(expected_minutes)
        .collect();
    if names != expected {
        bail!(
            "{}: the header is not the Azure Functions trace's (expected {}, then minutes 1 to {MINUTES}; got {} columns starting `{}`)",
            path.display(),
            KEY_COLUMNS.join(","),
            names.len(),
            names.iter().take(5).copied().collect::<Vec<_>>().join(",")
        );
    }
    let mut functions = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        if fields.len() != expected.len() {
            bail!(
                "{} line {}: {} columns, expected {}",
                path.display(),
                n + 1,
                fields.len(),
                expected.len()
            );
        }
        let counts = fields[4..]
            .iter()
            .enumerate()
            .map(|(m, v)| {
                v.parse::<u32>().with_context(|| {
                    format!(
                        "{} line {}: minute {} is `{v}`, expected a count",
                        path.display(),
                        n + 1,
                        m + 1
                    )
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        functions.push(TraceFunction {
            owner: fields[0].into(),
            app: fields[1].into(),
            function: fields[2].into(),
            trigger: fields[3].into(),
            counts,
        });
    }
    Ok(functions)
}

/// The busiest `max` functions over the window whose trigger is among `triggers` (all when
/// `None`), with their index in the file; ties keep the file's order. Functions without any
/// invocation in the window are left out.
pub fn select<'a>(
    functions: &'a [TraceFunction],
    start: u32,
    minutes: u32,
    max: u32,
    triggers: Option<&[String]>,
) -> Vec<(usize, &'a TraceFunction)> {
    let mut chosen: Vec<(usize, &TraceFunction, u64)> = functions
        .iter()
        .enumerate()
        .filter(|(_, f)| triggers.is_none_or(|t| t.contains(&f.trigger)))
        .map(|(i, f)| {
            (
                i,
                f,
                f.window(start, minutes).iter().map(|&c| u64::from(c)).sum(),
            )
        })
        .filter(|(_, _, total)| *total > 0)
        .collect();
    chosen.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    chosen.truncate(max as usize);
    chosen.into_iter().map(|(i, f, _)| (i, f)).collect()
}

/// One stage per minute: 60 / `time_scale` s at count × `time_scale` / 60 requests per second.
pub fn profile(counts: &[u32], time_scale: f64) -> Result<RateProfile> {
    let stage = Duration::from_secs_f64(60.0 / time_scale);
    let segments = counts
        .iter()
        .map(|&c| {
            let rate = f64::from(c) * time_scale / 60.0;
            Segment {
                duration: stage,
                start_rate: rate,
                end_rate: rate,
            }
        })
        .collect();
    RateProfile::from_segments(segments).context("the trace window has no invocations")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_text(rows: &[(&str, &str, Vec<u32>)]) -> String {
        let mut text = KEY_COLUMNS.join(",");
        for m in 1..=MINUTES {
            text.push_str(&format!(",{m}"));
        }
        text.push('\n');
        for (name, trigger, counts) in rows {
            text.push_str(&format!("o,a,{name},{trigger}"));
            for m in 0..MINUTES {
                text.push_str(&format!(",{}", counts.get(m).copied().unwrap_or(0)));
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_busiest_functions_of_the_window_are_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            trace_text(&[
                ("quiet", "http", vec![1, 1, 1]),
                ("busy", "http", vec![0, 9, 9]),
                ("timer", "timer", vec![5, 5, 5]),
                ("late", "http", vec![0, 0, 0, 50]),
            ]),
        )
        .unwrap();
        let functions = read(&path).unwrap();
        assert_eq!(functions.len(), 4);
        assert_eq!(functions[1].window(2, 2), &[9, 9]);
        let names = |c: Vec<(usize, &TraceFunction)>| {
            c.iter()
                .map(|(_, f)| f.function.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(select(&functions, 1, 3, 2, None)), ["busy", "timer"]);
        let http = ["http".to_string()];
        assert_eq!(
            names(select(&functions, 1, 3, 5, Some(&http))),
            ["busy", "quiet"]
        );
    }

    #[test]
    fn a_minute_becomes_a_stage_with_its_count() {
        // time scale 60: a minute lasts a second; 30 invocations in it.
        let p = profile(&[30, 0, 6], 60.0).unwrap();
        assert_eq!(p.duration(), Duration::from_secs(3));
        assert!((p.expected_count() - 36.0).abs() < 1e-9);
        assert!((p.cumulative(Duration::from_secs(1)) - 30.0).abs() < 1e-9);
        assert!(profile(&[0, 0], 60.0).is_err());
    }

    #[test]
    fn a_malformed_trace_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "HashOwner,HashApp\n").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("header"));
        let mut text = trace_text(&[("f", "http", vec![1])]);
        text = text.replacen(",1,0,0", ",x,0,0", 1);
        std::fs::write(&path, text).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("minute 1"), "{err}");
    }
}
