//! Every kind of chart drawn to PNG and SVG, and the PNG's pixels checked: the data is drawn in
//! its palette colors, the heatmap in its scale.

// Test code: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used)]

use sebs_report::render::{self, PALETTE};
use sebs_report::{histogram, Body, BoxGroup, BoxSummary, Chart, Heatmap, PlotError, Series};
use sebs_testkit::picture::Picture;

fn rgb(i: usize) -> [u8; 3] {
    let c = PALETTE[i];
    [c.0, c.1, c.2]
}

fn charts() -> Vec<(&'static str, Chart)> {
    let samples: Vec<f64> = (0..200)
        .map(|i| 2.0 + ((i * 37) % 101) as f64 / 25.0)
        .collect();
    let chart = |title: &str, x: &str, y: &str, body| Chart {
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        body,
    };
    vec![
        (
            "cdf",
            chart(
                "client time",
                "time [ms]",
                "fraction",
                Body::Lines(vec![
                    Series::cdf("warm", &samples),
                    Series::cdf("cold", &samples.iter().map(|v| v * 3.0).collect::<Vec<_>>()),
                ]),
            ),
        ),
        (
            "boxes",
            chart(
                "warm invocations",
                "configuration",
                "time [ms]",
                Body::Boxes {
                    groups: vec![
                        BoxGroup {
                            label: "128 MB".into(),
                            color: 0,
                            summary: BoxSummary::of(&samples).unwrap(),
                        },
                        BoxGroup {
                            label: "256 MB".into(),
                            color: 1,
                            summary: BoxSummary::of(&samples[..50]).unwrap(),
                        },
                    ],
                    legend: vec![("warm".into(), 0), ("sequential".into(), 1)],
                },
            ),
        ),
        (
            "histogram",
            chart(
                "rtt",
                "rtt [ms]",
                "count",
                Body::Histogram(histogram(&samples, 20)),
            ),
        ),
        (
            "heatmap",
            chart(
                "median client time",
                "deployment region",
                "worker region",
                Body::Heatmap(Heatmap {
                    rows: vec!["local".into(), "eu".into()],
                    columns: vec!["local".into(), "us".into()],
                    values: vec![vec![Some(1.0), Some(80.0)], vec![Some(95.0), None]],
                    unit: "ms".into(),
                }),
            ),
        ),
    ]
}

#[test]
fn charts_are_drawn_in_their_colors() {
    let dir = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("SEBS_KEEP_PLOTS") {
        Some(keep) => std::path::PathBuf::from(keep),
        None => dir.path().to_path_buf(),
    };
    for (name, chart) in charts() {
        let svg = match render::svg(&chart) {
            Err(PlotError::NoFont) => {
                sebs_testkit::skip("no TrueType font for plots (Debian: fonts-dejavu-core)");
                return;
            }
            other => other.unwrap(),
        };
        assert!(
            svg.contains("<svg") && svg.contains(&chart.title),
            "{name}: {svg}"
        );
        let path = dir.join(format!("{name}.png"));
        render::png(&chart, &path).unwrap();
        let picture = Picture::load(&path);
        assert_eq!((picture.width, picture.height), render::SIZE);
        let ink = picture.count_ink();
        assert!(ink > 5_000, "{name}: only {ink} pixels drawn");
        match name {
            "heatmap" => {
                // The lowest cell is the scale's darkest color, the highest its lightest.
                assert!(
                    picture.count_near([68, 1, 84], 2) > 10_000,
                    "{name}: no low cell"
                );
                assert!(
                    picture.count_near([253, 231, 37], 2) > 10_000,
                    "{name}: no high cell"
                );
            }
            "histogram" => assert!(
                picture.count_near([76, 146, 195], 3) > 5_000,
                "{name}: no bars"
            ),
            _ => {
                for series in [0, 1] {
                    let n = picture.count_near(rgb(series), 10);
                    assert!(n > 300, "{name}: series {series} has {n} pixels");
                }
            }
        }
    }
}

#[test]
fn an_empty_chart_says_so() {
    let chart = Chart {
        title: "nothing".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        body: Body::Lines(vec![Series::line("a", vec![])]),
    };
    match render::svg(&chart) {
        Err(PlotError::NoFont) => sebs_testkit::skip("no TrueType font for plots"),
        other => assert!(other.unwrap().contains("no data")),
    }
}
