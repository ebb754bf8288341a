//! What `experiment process` writes besides its CSV tables: `statistics.json`, each plot as
//! `<name>.svg` and `<name>.png`, and `report.html`, which inlines the plots and tables and
//! ends with the experiment's settings and environment manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sebs_common::confidence::{Method, Statistics, LEVELS};
use sebs_report::html::{Block, Report, Table};
use sebs_report::{render, Chart, PlotError};
use serde_json::Value;

use crate::results::write_atomically;

/// The file every experiment writes its manifest to, at `invoke` time.
pub const ENVIRONMENT: &str = "environment.json";

#[derive(Debug)]
pub struct ReportWriter {
    dir: PathBuf,
    report: Report,
    /// Why plots could not be drawn (once per reason), for the command's output.
    pub missing_plots: Option<String>,
}

impl ReportWriter {
    pub fn new(dir: &Path, title: impl Into<String>) -> Self {
        ReportWriter {
            dir: dir.to_path_buf(),
            report: Report::new(title),
            missing_plots: None,
        }
    }

    pub fn heading(&mut self, text: impl Into<String>) {
        self.report.push(Block::Heading(text.into()));
    }

    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.report.push(Block::Paragraph(text.into()));
    }

    pub fn table(&mut self, table: Table) {
        self.report.push(Block::Table(table));
    }

    /// Writes `<stem>.svg` and `<stem>.png` and inlines the SVG. A plot that cannot be drawn
    /// (no font on this machine) is named in the report with the reason; the rest goes on.
    pub fn figure(&mut self, stem: &str, chart: &Chart, caption: impl Into<String>) {
        let caption = caption.into();
        let drawn = render::svg(chart).and_then(|svg| {
            let svg_path = self.dir.join(format!("{stem}.svg"));
            std::fs::write(&svg_path, &svg).map_err(|e| PlotError::Write {
                path: svg_path,
                message: e.to_string(),
            })?;
            render::png(chart, &self.dir.join(format!("{stem}.png")))?;
            Ok(svg)
        });
        match drawn {
            Ok(svg) => self.report.push(Block::Figure {
                caption,
                svg,
                png: Some(format!("{stem}.png")),
            }),
            Err(e) => {
                tracing::warn!(plot = stem, "plot not drawn: {e}");
                self.missing_plots.get_or_insert_with(|| e.to_string());
                self.report.push(Block::MissingFigure {
                    caption,
                    reason: e.to_string(),
                })
            }
        };
    }

    /// Ends the page with the run's manifest and writes `report.html`.
    pub fn finish(mut self) -> Result<PathBuf> {
        let manifest = self.dir.join(ENVIRONMENT);
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            if let Ok(doc) = serde_json::from_str::<Value>(&text) {
                for (key, summary) in [
                    ("settings", "Settings of the experiment"),
                    ("config", "Configuration file"),
                ] {
                    if !doc[key].is_null() {
                        self.report.push(Block::Details {
                            summary: summary.into(),
                            text: serde_json::to_string_pretty(&doc[key]).unwrap_or_default(),
                        });
                    }
                }
            }
            self.report.push(Block::Details {
                summary: format!("Environment ({ENVIRONMENT})"),
                text,
            });
        }
        let path = self.dir.join("report.html");
        write_atomically(&path, self.report.to_html().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        if let Some(reason) = &self.missing_plots {
            eprintln!("warning: plots were not drawn: {reason}");
        }
        Ok(path)
    }
}

/// Rounds for tables: three decimals, as numbers.
pub fn fixed(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "-".into()
    }
}

/// A JSON number for a table: integers as they are, others with three decimals.
pub fn number(v: &Value) -> String {
    match (v.as_u64(), v.as_f64()) {
        (Some(n), _) => n.to_string(),
        (None, Some(x)) => fixed(x),
        _ => "-".into(),
    }
}

/// One row per labelled set: SeBS's statistics and intervals (half widths in % of the mean or
/// the median, the way SeBS reports them).
pub fn statistics_table(caption: &str, rows: &[(String, Option<Statistics>)]) -> Table {
    let mut header: Vec<String> = ["", "n", "mean", "median", "std", "CV %", "min", "max"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in ["t", "LB"] {
        for (level, _) in LEVELS {
            header.push(format!("{name} {:.0}% ±%", level * 100.0));
        }
    }
    let rows = rows
        .iter()
        .filter_map(|(label, stats)| {
            let s = stats.as_ref()?;
            let m = &s.summary;
            let mut row = vec![
                label.clone(),
                m.count.to_string(),
                fixed(m.mean),
                fixed(m.median),
                fixed(m.std),
                fixed(m.cv * 100.0),
                fixed(m.min),
                fixed(m.max),
            ];
            for method in [Method::StudentT, Method::LeBoudec] {
                for (level, _) in LEVELS {
                    row.push(
                        s.interval(method, level)
                            .map_or("-".into(), |i| fixed(i.half_width_percent)),
                    );
                }
            }
            Some(row)
        })
        .collect();
    Table {
        caption: caption.into(),
        header,
        rows,
    }
}
