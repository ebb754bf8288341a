//! The CSV files experiments read and write: a header line, then rows of unquoted fields (what
//! sebs writes, and what the benchmarks' Python `csv` module writes for numbers and ids).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Calls `f` with the fields `columns` of every row of `path`, streaming (records files of
/// long runs do not fit in memory as text). Errors name the file, line and column.
pub fn for_each_row(
    path: &Path,
    columns: &[&str],
    mut f: impl FnMut(&Row<'_>) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = BufReader::new(file).lines();
    let header = match lines.next() {
        Some(line) => line.with_context(|| format!("reading {}", path.display()))?,
        None => bail!("{} is empty: expected a header line", path.display()),
    };
    let names: Vec<&str> = header.trim_end().split(',').collect();
    let index = columns
        .iter()
        .map(|c| {
            names.iter().position(|n| n == c).with_context(|| {
                format!(
                    "{}: no column `{c}` (it has: {})",
                    path.display(),
                    names.join(", ")
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    for (n, line) in lines.enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        let picked = index
            .iter()
            .map(|&i| fields.get(i).copied().unwrap_or(""))
            .collect::<Vec<&str>>();
        f(&Row {
            path,
            line: n + 2,
            columns,
            fields: &picked,
        })?;
    }
    Ok(())
}

/// The picked fields of one row.
#[derive(Debug)]
pub struct Row<'a> {
    path: &'a Path,
    line: usize,
    columns: &'a [&'a str],
    fields: &'a [&'a str],
}

impl Row<'_> {
    pub fn text(&self, i: usize) -> &str {
        self.fields[i]
    }

    pub fn number(&self, i: usize) -> Result<f64> {
        self.fields[i].parse().with_context(|| {
            format!(
                "{} line {}: `{}` is `{}`, expected a number",
                self.path.display(),
                self.line,
                self.columns[i],
                self.fields[i]
            )
        })
    }

    /// `True`/`False` (SeBS's, from Python) or `1`/`0`.
    pub fn flag(&self, i: usize) -> Result<bool> {
        match self.fields[i] {
            "True" | "true" | "1" => Ok(true),
            "False" | "false" | "0" => Ok(false),
            other => bail!(
                "{} line {}: `{}` is `{other}`, expected True or False",
                self.path.display(),
                self.line,
                self.columns[i]
            ),
        }
    }
}

/// Writes a CSV file row by row, flushing each, so that an interrupted run keeps its rows.
#[derive(Debug)]
pub struct CsvWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl CsvWriter {
    pub fn create(path: &Path, header: &[&str]) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = CsvWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        writer.row(header)?;
        Ok(writer)
    }

    pub fn row<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<()> {
        let line = fields
            .iter()
            .map(|f| f.as_ref())
            .collect::<Vec<_>>()
            .join(",");
        writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Python's `str(bool)`, as SeBS's CSV files spell booleans.
pub fn python_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_column_name_with_errors_naming_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut w = CsvWriter::create(&path, &["id", "x", "cold"]).unwrap();
        w.row(&["a", "1.5", "True"]).unwrap();
        w.row(&["b", "oops", "0"]).unwrap();
        drop(w);
        let mut seen = Vec::new();
        let err = for_each_row(&path, &["x", "cold"], |row| {
            seen.push(row.flag(1)?);
            row.number(0).map(|_| ())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(seen, vec![true, false]);
        assert!(
            err.contains("line 3") && err.contains("`x` is `oops`"),
            "{err}"
        );
        let err = for_each_row(&path, &["y"], |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no column `y`") && err.contains("id, x, cold"),
            "{err}"
        );
    }
}
