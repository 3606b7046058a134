//! A plain table rendered for the terminal (aligned columns) or as CSV (through the results crate's
//! `CsvExporter`, so it shares the one exporter shape of every output).

use hercules_results::export::{csv_field, CsvExporter, Exporter};

/// Rows of cells under named columns.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Appends a row (cells beyond the column count are dropped, missing ones left blank).
    pub fn push<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Aligned text: text columns left, numeric columns right.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| self.rows.iter().map(|r| r[c].len()).chain([self.headers[c].len()]).max().unwrap_or(0))
            .collect();
        let numeric: Vec<bool> = (0..self.headers.len())
            .map(|c| self.rows.iter().all(|r| r[c].is_empty() || r[c].parse::<f64>().is_ok()))
            .collect();
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(c, s)| {
                    if numeric[c] {
                        format!("{s:>w$}", w = widths[c])
                    } else {
                        format!("{s:<w$}", w = widths[c])
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }

    /// RFC 4180 CSV with a header line ([`CsvExporter`]'s rendering of the table).
    pub fn to_csv(&self) -> String {
        CsvExporter.render(self)
    }
}

/// A table as RFC 4180 CSV with a header line: what every `--csv` of the harness writes.
impl Exporter<Table> for CsvExporter {
    fn extension(&self) -> &'static str {
        "csv"
    }

    fn render(&self, t: &Table) -> String {
        let mut out = String::new();
        for r in std::iter::once(&t.headers).chain(&t.rows) {
            out.push_str(&r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }
}

/// Formats a float with `digits` decimals, or `-` for a missing value.
pub fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite()).map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_escapes() {
        let mut t = Table::new(["name", "value"]);
        t.push(["a,b", "1.5"]);
        t.push(["c"]);
        assert_eq!(t.to_csv(), "name,value\n\"a,b\",1.5\nc,\n");
        assert_eq!(CsvExporter.render(&t), t.to_csv());
        let mut q = Table::new(["quote"]);
        q.push(["say \"hi\"\r"]);
        assert_eq!(CsvExporter.render(&q), "quote\n\"say \"\"hi\"\"\r\"\n");
        let text = t.render();
        assert!(text.lines().nth(2).unwrap().ends_with("1.5"));
        assert_eq!(num(None, 2), "-");
        assert_eq!(num(Some(f64::NAN), 2), "-");
        assert_eq!(num(Some(1.234), 1), "1.2");
    }
}
