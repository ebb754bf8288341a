//! Plots and reports of sebs experiments.
//!
//! - [`chart`]: what a plot shows, as data ([`Chart`], [`Series`], [`BoxSummary`], …);
//! - [`render`]: draws a chart as SVG and PNG with plotters, the same code for both;
//! - [`html`]: one self-contained HTML page per experiment (plots inlined as SVG, tables, the
//!   configuration and the environment), readable offline and in any browser.

pub mod chart;
mod font;
pub mod html;
pub mod render;

use std::path::PathBuf;

pub use chart::{histogram, Bin, Body, BoxGroup, BoxSummary, Chart, Heatmap, Marks, Series};

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error(
        "no TrueType font for plot labels: install one (Debian: fonts-dejavu-core) or set \
         SEBS_PLOT_FONT to a .ttf file"
    )]
    NoFont,
    #[error("cannot use the plot font: {0}")]
    BadFont(String),
    #[error("drawing `{title}`: {message}")]
    Draw { title: String, message: String },
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
}

impl PlotError {
    fn draw(chart: &Chart, message: String) -> Self {
        PlotError::Draw {
            title: chart.title.clone(),
            message,
        }
    }
}
