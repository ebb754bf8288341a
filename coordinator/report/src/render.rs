//! Draws a [`Chart`] with plotters, once generically over the backend: the same code makes the
//! SVG (inlined in the HTML report) and the PNG beside it.

use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::chart::{Bin, BoxGroup, Chart, Heatmap, Marks, Series};
use crate::font::{self, FAMILY};
use crate::{Body, PlotError};

/// Pixels of every plot.
pub const SIZE: (u32, u32) = (800, 480);

/// Series colors, in order (Tableau's ten, first eight). The first one is what screenshot tests
/// look for.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> Result<String, PlotError> {
    font::ensure()?;
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&area, chart).map_err(|message| PlotError::draw(chart, message))?;
        area.present()
            .map_err(|e| PlotError::draw(chart, e.to_string()))?;
    }
    Ok(out)
}

/// The chart as a PNG file at `path`.
pub fn png(chart: &Chart, path: &Path) -> Result<(), PlotError> {
    font::ensure()?;
    let area = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(&area, chart).map_err(|message| PlotError::draw(chart, message))?;
    area.present().map_err(|e| PlotError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

type Drawn = Result<(), String>;

/// A chart with numeric axes, as every kind here draws on.
type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let area = root.titled(&chart.title, (FAMILY, 20)).map_err(fail)?;
    let empty = match &chart.body {
        Body::Lines(series) => series.iter().all(|s| s.points.is_empty()),
        Body::Boxes { groups, .. } => groups.is_empty(),
        Body::Histogram(bins) => bins.is_empty(),
        Body::Heatmap(h) => h.rows.is_empty() || h.columns.is_empty(),
    };
    if empty {
        let style =
            TextStyle::from((FAMILY, 16).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        let (w, h) = area.dim_in_pixel();
        return area
            .draw_text("no data", &style, ((w / 2) as i32, (h / 2) as i32))
            .map_err(fail);
    }
    match &chart.body {
        Body::Lines(series) => lines(&area, chart, series),
        Body::Boxes { groups, legend } => boxes(&area, chart, groups, legend),
        Body::Histogram(bins) => histogram(&area, chart, bins),
        Body::Heatmap(h) => heatmap(&area, chart, h),
    }
}

/// A value with three significant digits and no trailing zeros (cell labels).
pub fn tick(v: f64) -> String {
    let a = v.abs();
    let decimals = if a == 0.0 {
        return "0".into();
    } else if !(1e-3..1e6).contains(&a) {
        return format!("{v:.1e}");
    } else {
        (2 - a.log10().floor() as i32).max(0) as usize
    };
    trim(format!("{v:.decimals$}"))
}

/// Axis tick labels for an axis spanning `span`: as many decimals as a tenth of the span
/// needs, so that neighbouring ticks never print the same.
fn axis_label(v: f64, span: f64) -> String {
    let a = v.abs().max(span.abs());
    if a >= 1e6 || (a > 0.0 && a < 1e-3) {
        return format!("{v:.1e}");
    }
    let step = span.abs() / 10.0;
    let decimals = if step > 0.0 {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        0
    };
    trim(format!("{v:.decimals$}"))
}

fn trim(text: String) -> String {
    if text.contains('.') {
        let t = text.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".into()
        } else {
            t.to_string()
        }
    } else {
        text
    }
}

/// The range of `values` with 5% padding on each side (a unit around a single value).
fn padded(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi <= lo {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return lo - d..hi + d;
    }
    let pad = (hi - lo) * 0.05;
    lo - pad..hi + pad
}

fn mesh<DB: DrawingBackend>(chart: &Chart, c: &mut Plot<'_, DB>, x_labels: usize) -> Drawn {
    let (x, y) = (c.x_range(), c.y_range());
    let (x_span, y_span) = (x.end - x.start, y.end - y.start);
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(x_labels)
        .x_label_formatter(&|v| axis_label(*v, x_span))
        .y_label_formatter(&|v| axis_label(*v, y_span))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(fail)
}

fn builder<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<Plot<'a, DB>, String> {
    ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)
        .map_err(fail)
}

fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    series: &[Series],
) -> Drawn {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let mut c = builder(area, padded(all().map(|p| p.0)), padded(all().map(|p| p.1)))?;
    mesh(chart, &mut c, 10)?;
    for (i, s) in series.iter().enumerate() {
        let color = color(i);
        let style = color.stroke_width(2);
        let drawn = match s.marks {
            Marks::Line => c.draw_series(LineSeries::new(s.points.iter().copied(), style)),
            Marks::Points => {
                c.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            }
            Marks::LineAndPoints => {
                c.draw_series(LineSeries::new(s.points.iter().copied(), style))
                    .map_err(fail)?;
                c.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            }
        }
        .map_err(fail)?;
        drawn
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    if series.iter().any(|s| !s.name.is_empty()) {
        series_labels(&mut c)?;
    }
    Ok(())
}

/// The series' names in a box at the upper left (empty there in CDFs and most series).
fn series_labels<'a, DB: DrawingBackend + 'a>(c: &mut Plot<'a, DB>) -> Drawn {
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(fail)
}

/// Category labels under a categorical x axis, at x = 0, 1, 2, …
fn category_labels<DB: DrawingBackend>(
    c: &mut Plot<'_, DB>,
    labels: impl Iterator<Item = String>,
    y: f64,
) -> Drawn {
    let style = TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let texts: Vec<_> = labels
        .enumerate()
        .map(|(i, label)| EmptyElement::at((i as f64, y)) + Text::new(label, (0, 6), style.clone()))
        .collect();
    c.draw_series(texts).map(|_| ()).map_err(fail)
}

fn boxes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    groups: &[BoxGroup],
    legend: &[(String, usize)],
) -> Drawn {
    let values = groups.iter().flat_map(|g| {
        let s = &g.summary;
        [s.low_whisker, s.high_whisker]
            .into_iter()
            .chain(s.outliers.iter().copied())
    });
    let y = padded(values);
    let y_floor = y.start;
    let mut c = builder(area, -0.5..groups.len() as f64 - 0.5, y)?;
    mesh(chart, &mut c, 0)?;
    for (i, g) in groups.iter().enumerate() {
        let (x, s, col) = (i as f64, &g.summary, color(g.color));
        let half = 0.3;
        c.draw_series([
            Rectangle::new([(x - half, s.q1), (x + half, s.q3)], col.mix(0.35).filled()),
            Rectangle::new([(x - half, s.q1), (x + half, s.q3)], col.stroke_width(2)),
        ])
        .map_err(fail)?;
        let segments = [
            vec![(x - half, s.median), (x + half, s.median)],
            vec![(x, s.q3), (x, s.high_whisker)],
            vec![(x, s.q1), (x, s.low_whisker)],
            vec![
                (x - half / 2.0, s.high_whisker),
                (x + half / 2.0, s.high_whisker),
            ],
            vec![
                (x - half / 2.0, s.low_whisker),
                (x + half / 2.0, s.low_whisker),
            ],
        ];
        c.draw_series(
            segments
                .into_iter()
                .map(|p| PathElement::new(p, col.stroke_width(2))),
        )
        .map_err(fail)?;
        c.draw_series(
            s.outliers
                .iter()
                .map(|&v| Circle::new((x, v), 3, col.stroke_width(1))),
        )
        .map_err(fail)?;
    }
    category_labels(
        &mut c,
        groups
            .iter()
            .map(|g| format!("{} (n={})", g.label, g.summary.count)),
        y_floor,
    )?;
    for (name, index) in legend {
        let style = color(*index).mix(0.35).filled();
        c.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (0.0, 0.0)],
            style,
        )))
        .map_err(fail)?
        .label(name.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], style));
    }
    if !legend.is_empty() {
        series_labels(&mut c)?;
    }
    Ok(())
}

fn histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    bins: &[Bin],
) -> Drawn {
    let x = padded(bins.iter().flat_map(|b| [b.low, b.high]));
    let top = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let mut c = builder(area, x, 0.0..top * 1.05)?;
    mesh(chart, &mut c, 10)?;
    let fill = color(0);
    c.draw_series(bins.iter().map(|b| {
        Rectangle::new(
            [(b.low, 0.0), (b.high, b.count as f64)],
            fill.mix(0.8).filled(),
        )
    }))
    .map_err(fail)?;
    Ok(())
}

/// Viridis, sampled at five points and interpolated: dark (low) to yellow (high).
fn sequential(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart, h: &Heatmap) -> Drawn {
    let (cols, rows) = (h.columns.len() as f64, h.rows.len() as f64);
    let mut c = builder(area, -0.5..cols - 0.5, -0.5..rows - 0.5)?;
    c.configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(fail)?;
    let measured = h.values.iter().flatten().flatten().copied();
    let (lo, hi) = measured.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let scale = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    let center =
        TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    for (r, row) in h.values.iter().enumerate() {
        for (col, value) in row.iter().enumerate() {
            // The first row on top, as tables read.
            let (x, y) = (col as f64, rows - 1.0 - r as f64);
            let fill = value.map_or(RGBColor(230, 230, 230), |v| sequential(scale(v)));
            c.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                fill.filled(),
            )))
            .map_err(fail)?;
            let text = value.map_or("–".to_string(), |v| format!("{} {}", tick(v), h.unit));
            let ink = if value.is_some_and(|v| scale(v) < 0.6) {
                WHITE
            } else {
                BLACK
            };
            c.draw_series(std::iter::once(Text::new(
                text,
                (x, y),
                center.clone().color(&ink),
            )))
            .map_err(fail)?;
        }
    }
    category_labels(&mut c, h.columns.iter().cloned(), -0.5)?;
    let left = TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let rows: Vec<_> = h
        .rows
        .iter()
        .enumerate()
        .map(|(r, label)| {
            EmptyElement::at((-0.5, rows - 1.0 - r as f64))
                + Text::new(label.clone(), (-6, 0), left.clone())
        })
        .collect();
    c.draw_series(rows).map(|_| ()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_three_significant_digits() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(12.25), "12.2");
        assert_eq!(tick(1234.0), "1234");
        assert_eq!(tick(0.125), "0.125");
        assert_eq!(tick(2.0e7), "2.0e7");
    }

    #[test]
    fn axis_labels_tell_neighbouring_ticks_apart() {
        assert_eq!(axis_label(840.5, 2.2), "840.5");
        assert_eq!(axis_label(841.0, 2.2), "841");
        assert_eq!(axis_label(1200.0, 1500.0), "1200");
        assert_eq!(axis_label(0.3, 1.1), "0.3");
        assert_eq!(axis_label(0.05, 0.2), "0.05");
        assert_eq!(axis_label(-0.0, 1.0), "0");
    }

    #[test]
    fn sequential_scale_runs_dark_to_light() {
        assert_eq!(sequential(0.0), RGBColor(68, 1, 84));
        assert_eq!(sequential(1.0), RGBColor(253, 231, 37));
        assert_eq!(sequential(f64::NAN), RGBColor(68, 1, 84));
    }
}
