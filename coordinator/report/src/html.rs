//! A self-contained HTML page: everything inline (style, plots as SVG), nothing fetched, so
//! the file can be mailed, archived or opened offline.

use std::fmt::Write as _;

/// One experiment's report, built block by block.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub title: String,
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    Table(Table),
    /// A plot inlined as SVG, with a link to its PNG beside the report.
    Figure {
        caption: String,
        svg: String,
        png: Option<String>,
    },
    /// A plot that could not be drawn, and why.
    MissingFigure {
        caption: String,
        reason: String,
    },
    /// Preformatted text in a collapsible section (the configuration, the environment).
    Details {
        summary: String,
        text: String,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:1em 0;font-size:.9em}caption{text-align:left;font-weight:bold;padding:.3em 0}\
th,td{border:1px solid #ccc;padding:.25em .6em}th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.9em;color:#555}\
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.85em}.missing{color:#a33}";

impl Report {
    pub fn new(title: impl Into<String>) -> Self {
        Report {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn push(&mut self, block: Block) -> &mut Self {
        self.blocks.push(block);
        self
    }

    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for block in &self.blocks {
            match block {
                Block::Heading(text) => {
                    let _ = writeln!(out, "<h2>{}</h2>", escape(text));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(text));
                }
                Block::Table(t) => table(&mut out, t),
                Block::Figure { caption, svg, png } => {
                    let link = png.as_ref().map_or(String::new(), |p| {
                        format!(" (<a href=\"{}\">PNG</a>)", escape(p))
                    });
                    let _ = writeln!(
                        out,
                        "<figure>{}<figcaption>{}{link}</figcaption></figure>",
                        strip_xml_declaration(svg),
                        escape(caption)
                    );
                }
                Block::MissingFigure { caption, reason } => {
                    let _ = writeln!(
                        out,
                        "<p class=\"missing\">{}: not drawn ({})</p>",
                        escape(caption),
                        escape(reason)
                    );
                }
                Block::Details { summary, text } => {
                    let _ = writeln!(
                        out,
                        "<details><summary>{}</summary><pre>{}</pre></details>",
                        escape(summary),
                        escape(text)
                    );
                }
            }
        }
        out.push_str("</body></html>\n");
        out
    }
}

fn table(out: &mut String, t: &Table) {
    out.push_str("<table>");
    if !t.caption.is_empty() {
        let _ = write!(out, "<caption>{}</caption>", escape(&t.caption));
    }
    out.push_str("<thead><tr>");
    for h in &t.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for cell in row {
            let class = if cell.parse::<f64>().is_ok() {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// An inline `<svg>` may not carry an XML declaration.
fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_text_and_inlines_figures() {
        let mut r = Report::new("perf-cost <110>");
        r.push(Block::Table(Table {
            caption: "times".into(),
            header: vec!["type".into(), "mean".into()],
            rows: vec![vec!["cold & warm".into(), "1.5".into()]],
        }))
        .push(Block::Figure {
            caption: "cdf".into(),
            svg: "<?xml version=\"1.0\"?><svg width=\"1\"></svg>".into(),
            png: Some("cdf.png".into()),
        });
        let html = r.to_html();
        assert!(html.contains("<title>perf-cost &lt;110&gt;</title>"));
        assert!(html.contains("<td>cold &amp; warm</td><td class=\"n\">1.5</td>"));
        assert!(html.contains("<figure><svg width=\"1\"></svg>"), "{html}");
        assert!(!html.contains("<?xml"));
        assert!(html.contains("href=\"cdf.png\""));
    }
}
