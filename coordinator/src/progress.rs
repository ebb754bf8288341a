//! Progress bars on long runs and live status lines, drawn on stderr when it is a terminal and
//! not at all otherwise (indicatif hides bars whose terminal is not attended), so that logs and
//! CI output stay clean. Log lines go through [`LogWriter`], which lifts the bars while it
//! writes, so the two never tear each other.

use std::io::{self, Write};
use std::sync::LazyLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;

static BARS: LazyLock<MultiProgress> =
    LazyLock::new(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));

/// A bar counting to `total`, e.g. samples gathered or sizes measured.
pub fn bar(total: u64, prefix: impl Into<String>) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    BARS.add(
        ProgressBar::new(total)
            .with_style(style)
            .with_prefix(prefix.into()),
    )
}

/// A live status line for runs measured in time rather than count (open loops, sleeps).
pub fn status(prefix: impl Into<String>) -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed:>4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let line = BARS.add(
        ProgressBar::new_spinner()
            .with_style(style)
            .with_prefix(prefix.into()),
    );
    line.enable_steady_tick(Duration::from_millis(250));
    line
}

/// The writer of log lines: stderr, with the bars lifted while a line is written.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        BARS.suspend(|| io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        BARS.suspend(|| io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
