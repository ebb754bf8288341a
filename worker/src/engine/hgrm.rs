//! Histograms written in HdrHistogram's own formats, so that its tools (the plotter, the log
//! processor, HistogramLogAnalyzer) and readers used to wrk2 can read sebs's output.
//!
//! Two formats: the text "percentile distribution" (`.hgrm`), one histogram as a table, and the
//! interval log (`.hlog`), a sequence of histograms in V2 compressed form, one per interval,
//! which keeps the whole distribution of every interval so that they can be merged later.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use hdrhistogram::serialization::interval_log::{
    IntervalLogWriterBuilder, IntervalLogWriterError, Tag,
};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

/// Quantile ticks per half distance to 100%, as HdrHistogram's and wrk2's reports use.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `h` in HdrHistogram's percentile distribution format, with values divided by
/// `value_scale` (1000 turns µs into ms).
///
/// The layout is Java's `outputPercentileDistribution(out, 5, value_scale)` to the character: its
/// header, one row per quantile tick (value, quantile, cumulative count, 1/(1-quantile); the last
/// row, at quantile 1, has no fourth column), and its three footer lines. Values, mean, standard
/// deviation and max are printed with as many decimals as the histogram has significant digits.
/// One difference remains: a value exactly halfway between two printed decimals rounds to even
/// here (as C's printf in wrk2 does) where Java rounds up.
///
/// Writes many small pieces: give it a buffered writer.
pub fn write_percentiles(
    h: &Histogram<u64>,
    value_scale: f64,
    out: &mut impl Write,
) -> io::Result<()> {
    let digits = usize::from(h.sigfig());
    write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    // Counts up to the current row: the sum of what each step passed over.
    let mut total = 0u64;
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        let value = v.value_iterated_to() as f64 / value_scale;
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            writeln!(
                out,
                "{value:12.digits$} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(out, "{value:12.digits$} {q:2.12} {total:10}")?;
        }
    }
    writeln!(
        out,
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]",
        h.mean() / value_scale,
        h.stdev() / value_scale
    )?;
    writeln!(
        out,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        h.max() as f64 / value_scale,
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count(h)
    )
}

/// Sub-buckets per bucket, which hdrhistogram does not expose: its counts array holds
/// (buckets + 1) half-buckets of sub-buckets.
fn sub_bucket_count(h: &Histogram<u64>) -> usize {
    2 * h.distinct_values() / (usize::from(h.buckets()) + 1)
}

/// The legend line of an interval log, as Java's `HistogramLogWriter.outputLegend` writes it.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// An HdrHistogram interval log (format version 1.3): a header, then one line per interval with
/// its start (seconds after the log's start), length, max and V2 compressed histogram in base64.
///
/// The header sets BaseTime to StartTime, so interval timestamps are offsets from the start of
/// the run, as jHiccup writes them. `Interval_Max` is in the histogram's own unit (µs), not
/// Java's default ms-from-ns: readers decode the histogram and use that column only for display.
pub struct IntervalLog<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
}

impl<W: Write> fmt::Debug for IntervalLog<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntervalLog").finish_non_exhaustive()
    }
}

impl<W: Write> IntervalLog<W> {
    /// Writes the header: format version, StartTime and BaseTime (both `start_time_epoch_s`),
    /// and the legend.
    pub fn new(mut out: W, start_time_epoch_s: f64) -> io::Result<Self> {
        // Readers parse timestamps as unsigned decimals: a negative or non-finite one would make
        // the whole log unreadable.
        seconds(start_time_epoch_s)?;
        writeln!(out, "#[Histogram log format version 1.3]")?;
        writeln!(
            out,
            "#[StartTime: {start_time_epoch_s:.3} (seconds since epoch), {}]",
            UtcDate(start_time_epoch_s as u64)
        )?;
        writeln!(
            out,
            "#[BaseTime: {start_time_epoch_s:.3} (seconds since epoch)]"
        )?;
        writeln!(out, "{LEGEND}")?;
        Ok(IntervalLog {
            out,
            serializer: V2DeflateSerializer::new(),
        })
    }

    /// Writes one interval: `h` recorded from `start_offset_s` after the log's start, for
    /// `length_s`. A tag (no commas, spaces or line breaks) lets one log hold several series,
    /// e.g. one per metric.
    pub fn write_interval(
        &mut self,
        start_offset_s: f64,
        length_s: f64,
        h: &Histogram<u64>,
        tag: Option<&str>,
    ) -> io::Result<()> {
        let (start, length) = (seconds(start_offset_s)?, seconds(length_s)?);
        let tag = match tag {
            None => None,
            Some(t) => Some(Tag::new(t).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("interval log tag {t:?} has a comma, space or line break"),
                )
            })?),
        };
        // hdrhistogram's writer borrows its output, so it cannot live in `self` beside it. A
        // builder with no settings writes no header, so a fresh writer per interval writes just
        // the interval line; it costs two small buffers, once per interval.
        let mut writer =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        writer
            .write_histogram(h, start, length, tag)
            .map_err(|e| match e {
                IntervalLogWriterError::IoError(e) => e,
                IntervalLogWriterError::SerializeError(e) => io::Error::other(e),
            })
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Seconds as a `Duration`, refusing negative and non-finite values.
fn seconds(s: f64) -> io::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{s} is not a valid time in seconds for an interval log"),
        )
    })
}

/// Epoch seconds shown as Java's `Date.toString()` shows them (`Thu Jan 01 00:00:00 UTC 1970`),
/// in UTC: the StartTime line carries it for humans; readers use only the number before it.
struct UtcDate(u64);

impl fmt::Display for UtcDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (days, secs) = (self.0 / 86_400, self.0 % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
            WEEKDAYS[(days % 7) as usize],
            MONTHS[(month - 1) as usize],
            day,
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            year
        )
    }
}

/// (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01: Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    fn one_to_ten_thousand() -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=10_000 {
            h.record(v).unwrap();
        }
        h
    }

    /// (value, quantile, total count) of each row.
    fn rows(text: &str) -> Vec<(f64, f64, u64)> {
        text.lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
            .collect()
    }

    fn footer_number(text: &str, label: &str) -> f64 {
        let at = text.find(label).unwrap() + label.len();
        let rest = text[at..].trim_start_matches([' ', '=']);
        rest[..rest.find([',', ']']).unwrap()]
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn percentiles_in_hdrhistogram_text_format() {
        let mut out = Vec::new();
        write_percentiles(&one_to_ten_thousand(), 1000.0, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        assert_eq!(
            lines.next(),
            Some("       0.001 0.000000000000          1           1.00")
        );

        let rows = rows(&text);
        assert!(rows.len() > 20);
        for w in rows.windows(2) {
            assert!(
                w[0].0 <= w[1].0 && w[0].1 <= w[1].1 && w[0].2 <= w[1].2,
                "{w:?}"
            );
        }
        let median = rows.iter().find(|r| r.1 == 0.5).unwrap();
        assert!((median.0 - 5.0).abs() <= 0.005, "{median:?}");
        assert_eq!(median.2, 5003, "the row counts whole 4 µs buckets");
        let last = rows.last().unwrap();
        assert_eq!((last.1, last.2), (1.0, 10_000));
        // The last row has no 1/(1-p) column; the others have four.
        let body: Vec<&str> = text.lines().skip(2).take(rows.len()).collect();
        assert_eq!(body.last().unwrap().split_whitespace().count(), 3);
        assert!(body[..body.len() - 1]
            .iter()
            .all(|l| l.split_whitespace().count() == 4));
        assert_eq!(
            body.last().unwrap(),
            &"      10.007 1.000000000000      10000"
        );

        assert!((footer_number(&text, "#[Mean") - 5.0).abs() <= 0.01);
        assert_eq!(footer_number(&text, "Total count") as u64, 10_000);
        assert!((footer_number(&text, "#[Max") - 10.0).abs() <= 0.01);
        assert!(
            text.ends_with("#[Buckets =           22, SubBuckets     =         2048]\n"),
            "{text}"
        );
        let footer: Vec<&str> = text.lines().rev().take(3).collect();
        assert!(
            footer[2].starts_with("#[Mean    =        5.00")
                && footer[2].contains(", StdDeviation   =        2.88")
        );
        assert!(footer[1].starts_with("#[Max     =       10.007, Total count    =        10000]"));
    }

    #[test]
    fn empty_histogram_prints_header_and_footer_only() {
        let h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        let mut out = Vec::new();
        write_percentiles(&h, 1000.0, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains("Total count    =            0]"));
    }

    /// Test-only base64 decoding (the crate's dependency is not ours to use).
    fn base64_decode(s: &str) -> Vec<u8> {
        let sextet = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        };
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|&c| c != b'=') {
            acc = acc << 6 | u32::from(sextet(c));
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    #[test]
    fn interval_log_round_trips() {
        let first = one_to_ten_thousand();
        let mut second = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        second.record_n(42_000_000, 3).unwrap();
        let mut log = IntervalLog::new(Vec::new(), 1_700_000_000.25).unwrap();
        log.write_interval(0.0, 1.0, &first, None).unwrap();
        log.write_interval(1.0, 1.5, &second, Some("client"))
            .unwrap();
        let bytes = log.into_inner();
        let text = std::str::from_utf8(&bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#[Histogram log format version 1.3]");
        assert_eq!(
            lines[1],
            "#[StartTime: 1700000000.250 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]"
        );
        assert_eq!(
            lines[2],
            "#[BaseTime: 1700000000.250 (seconds since epoch)]"
        );
        assert_eq!(lines[3], LEGEND);
        assert!(
            lines[4].starts_with("0.000,1.000,10007.000,HISTFAA"),
            "{}",
            lines[4]
        );
        assert!(
            lines[5].starts_with("Tag=client,1.000,1.500,"),
            "{}",
            lines[5]
        );

        let mut deserializer = Deserializer::new();
        let mut read = Vec::new();
        let mut start_times = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            match entry.unwrap() {
                LogEntry::StartTime(t) | LogEntry::BaseTime(t) => start_times.push(t),
                LogEntry::Interval(i) => {
                    let raw = base64_decode(i.encoded_histogram());
                    let h: Histogram<u64> = deserializer.deserialize(&mut raw.as_slice()).unwrap();
                    read.push((
                        i.start_timestamp(),
                        i.duration(),
                        i.tag().map(|t| t.as_str().to_owned()),
                        h,
                    ));
                }
            }
        }
        assert_eq!(
            start_times,
            vec![Duration::from_millis(1_700_000_000_250); 2]
        );
        assert_eq!(read.len(), 2);
        assert_eq!(
            (read[0].0, read[0].1, read[0].2.as_deref()),
            (Duration::ZERO, Duration::from_secs(1), None)
        );
        assert_eq!(
            (read[0].3.len(), read[0].3.max()),
            (first.len(), first.max())
        );
        assert_eq!(read[0].3, first);
        assert_eq!(read[1].1, Duration::from_millis(1500));
        assert_eq!(read[1].2.as_deref(), Some("client"));
        assert_eq!((read[1].3.len(), read[1].3.max()), (3, second.max()));
    }

    #[test]
    fn interval_log_refuses_what_readers_cannot_parse() {
        assert!(IntervalLog::new(Vec::new(), -1.0).is_err());
        assert!(IntervalLog::new(Vec::new(), f64::NAN).is_err());
        let mut log = IntervalLog::new(Vec::new(), 0.0).unwrap();
        let h = one_to_ten_thousand();
        assert_eq!(
            log.write_interval(0.0, 1.0, &h, Some("a b"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(log.write_interval(-0.5, 1.0, &h, None).is_err());
        assert!(String::from_utf8(log.into_inner()).unwrap().starts_with(
            "#[Histogram log format version 1.3]\n#[StartTime: 0.000 (seconds since epoch), Thu Jan 01 00:00:00 UTC 1970]\n"
        ));
    }

    #[test]
    fn dates_like_java() {
        assert_eq!(UtcDate(0).to_string(), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            UtcDate(951_782_400).to_string(),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
        assert_eq!(
            UtcDate(4_102_444_799).to_string(),
            "Thu Dec 31 23:59:59 UTC 2099"
        );
    }
}
