//! Small, fast text helpers shared by the loaders: whole-file reads, numbered
//! lines, CSV fields, id lists and the `col:value` feature format.
//!
//! Every error names the file and the 1-based line. Nothing here panics on
//! file content.

use crate::graph::CsrMatrix;
use crate::{Error, Result};
use std::path::Path;
use std::str::FromStr;

/// Read a whole file as bytes.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// The UTF-8 byte order mark some editors (Excel, Notepad) write at the start of a file.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Read a whole file as UTF-8 text, without a leading byte order mark.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let mut bytes = read_bytes(path)?;
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::parse(path, Some(line), "not valid UTF-8 text; is this the right file?")
    })
}

/// Lines with their 1-based numbers, `\r` stripped. A trailing newline does
/// not produce an extra line.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n').enumerate().filter(move |_| !empty).map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// Lines of a record file, one record per line (the TU format): 1-based
/// numbers, `\r` stripped, trailing blank lines dropped, and a blank line
/// anywhere else an error (it would shift every later record onto the wrong
/// node).
pub(crate) fn record_lines<'a>(path: &'a Path, text: &'a str) -> impl Iterator<Item = Result<(usize, &'a str)>> + 'a {
    let body = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
    let pieces = if body.is_empty() { None } else { Some(body.split('\n')) };
    pieces.into_iter().flatten().enumerate().map(move |(i, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_matches(|c: char| c.is_ascii_whitespace()).is_empty() {
            Err(Error::parse(path, Some(i + 1), "blank line: every line must hold one record (a blank line would shift all later records); delete it"))
        } else {
            Ok((i + 1, line))
        }
    })
}

/// Parse one field, with an error naming the file, the line and what was expected.
pub(crate) fn parse_field<T: FromStr>(s: &str, path: &Path, line: usize, what: &str) -> Result<T> {
    s.trim().parse::<T>().map_err(|_| Error::parse(path, Some(line), format!("cannot parse {what} from '{}'", truncate(s.trim(), 40))))
}

/// A finite `f32`.
pub(crate) fn parse_f32(s: &str, path: &Path, line: usize, what: &str) -> Result<f32> {
    let v: f32 = parse_field(s, path, line, what)?;
    if !v.is_finite() {
        return Err(Error::parse(
            path,
            Some(line),
            format!("{what} '{}' is not a finite number (NaN, infinite, or beyond the f32 range)", truncate(s.trim(), 40)),
        ));
    }
    Ok(v)
}

/// Shorten a string for an error message, with control characters (and
/// other unprintable ones) escaped as `\t`, `\u{1b}`, ... so that a hostile
/// field cannot garble the terminal.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.escape_debug().to_string()
    } else {
        let t: String = s.chars().take(max).collect();
        format!("{}...", t.escape_debug())
    }
}

/// Whether a CSV line is a header: its first field is not a number.
pub(crate) fn is_header(line: &str) -> bool {
    let first = line.split(',').next().unwrap_or("").trim();
    !first.is_empty() && first.parse::<f64>().is_err()
}

/// Split a CSV line into trimmed fields.
pub(crate) fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(str::trim)
}

/// Parse a file of node ids, one per line (blank lines ignored).
pub(crate) fn parse_id_list(path: &Path, text: &str) -> Result<Vec<usize>> {
    let mut ids = Vec::new();
    for (ln, line) in numbered_lines(text) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        ids.push(parse_field::<usize>(t, path, ln, "a non-negative node id")?);
    }
    Ok(ids)
}

/// Check that every id is below `num_nodes`, naming the file and line of the first bad one.
pub(crate) fn check_ids(path: &Path, text: &str, ids: &[usize], num_nodes: usize) -> Result<()> {
    if let Some(k) = ids.iter().position(|&i| i >= num_nodes) {
        // Recover the line: the k-th non-blank line.
        let line = numbered_lines(text).filter(|(_, l)| !l.trim().is_empty()).nth(k).map(|(n, _)| n);
        return Err(Error::parse(
            path,
            line,
            format!("node id {} is out of range: the dataset has {num_nodes} nodes (ids 0..{})", ids[k], num_nodes.saturating_sub(1)),
        ));
    }
    Ok(())
}

/// A file's name for messages (`train.txt`), else the whole path.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned())
}

/// Read a split file (one node id per line): every id below `num_nodes`, none
/// twice. An empty file is an empty split.
pub(crate) fn read_split_ids(path: &Path, num_nodes: usize) -> Result<Vec<usize>> {
    let t = read_text(path)?;
    let ids = parse_id_list(path, &t)?;
    check_ids(path, &t, &ids, num_nodes)?;
    let mut first_line = vec![0usize; num_nodes];
    let lines = numbered_lines(&t).filter(|(_, l)| !l.trim().is_empty()).map(|(n, _)| n);
    for (&id, ln) in ids.iter().zip(lines) {
        if first_line[id] != 0 {
            return Err(Error::parse(
                path,
                Some(ln),
                format!(
                    "node id {id} appears twice (lines {} and {ln}); each node may be listed once (a repeated id would count twice in training and metrics)",
                    first_line[id]
                ),
            ));
        }
        first_line[id] = ln;
    }
    Ok(ids)
}

/// Check that train / val / test id lists (each `(file, ids)`, ids already
/// below `num_nodes`) share no id; the error names both files and the first ids.
pub(crate) fn check_disjoint(parts: &[(&Path, &[usize])], num_nodes: usize) -> Result<()> {
    // owner[i] = 1 + index of the part that listed node i.
    let mut owner = vec![0u8; num_nodes];
    for (k, (path, ids)) in parts.iter().enumerate() {
        let mut clash: Vec<(usize, usize)> = Vec::new(); // (other part, id)
        for &i in ids.iter() {
            match owner[i] {
                0 => owner[i] = (k + 1) as u8,
                o if o as usize != k + 1 => clash.push((o as usize - 1, i)),
                _ => {}
            }
        }
        if let Some(&(other, _)) = clash.first() {
            let mut same: Vec<usize> = clash.iter().filter(|c| c.0 == other).map(|c| c.1).collect();
            same.sort_unstable();
            let shown: Vec<String> = same.iter().take(10).map(|i| i.to_string()).collect();
            let more = if same.len() > 10 { format!(" ... ({} in all)", same.len()) } else { String::new() };
            return Err(Error::parse(
                path,
                None,
                format!(
                    "ids {}{more} appear in both {} and {}; train, validation and test nodes must be disjoint",
                    shown.join(", "),
                    file_name(parts[other].0),
                    file_name(path)
                ),
            ));
        }
    }
    Ok(())
}

/// An edge list read from CSV: parallel `src`, `dst` and optional `edge_weight`.
#[derive(Debug, Clone, Default)]
pub(crate) struct EdgeList {
    pub src: Vec<usize>,
    pub dst: Vec<usize>,
    pub edge_weight: Option<Vec<f32>>,
    /// 1-based line of every edge, for error messages.
    pub lines: Vec<usize>,
}

impl EdgeList {
    /// Largest node id plus one (0 for no edges).
    pub fn min_num_nodes(&self) -> usize {
        self.src.iter().chain(&self.dst).max().map_or(0, |m| m + 1)
    }

    /// Error naming the line of the first edge with an id `>= num_nodes`,
    /// saying where the node count comes from (`origin`, e.g. "labels.csv has
    /// 3 rows, one per node"; may be empty).
    pub fn check_range(&self, path: &Path, num_nodes: usize, origin: &str) -> Result<()> {
        for k in 0..self.src.len() {
            let (s, d) = (self.src[k], self.dst[k]);
            if s >= num_nodes || d >= num_nodes {
                let origin = if origin.is_empty() { String::new() } else { format!(" ({origin})") };
                return Err(Error::parse(
                    path,
                    Some(self.lines[k]),
                    format!("edge {s} -> {d} uses a node id >= num_nodes = {num_nodes}{origin}; ids must be 0-based and below the number of nodes"),
                ));
            }
        }
        Ok(())
    }
}

/// Parse an edge CSV: optional header (`src,dst[,weight]`), then `src,dst[,weight]`
/// rows of 0-based ids. Blank lines are ignored. With `allow_weight == false` a
/// third column is an error.
pub(crate) fn parse_edge_csv(path: &Path, text: &str, allow_weight: bool) -> Result<EdgeList> {
    let mut out = EdgeList::default();
    let mut width: Option<usize> = None;
    let mut weights = Vec::new();
    for (ln, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        if width.is_none() && out.src.is_empty() && is_header(line) {
            let n = fields(line).count();
            if n != 2 && n != 3 {
                return Err(Error::parse(path, Some(ln), format!("edge header '{}' must be 'src,dst' or 'src,dst,weight'", truncate(line, 60))));
            }
            width = Some(n);
            continue;
        }
        let mut it = fields(line);
        let s = it.next().unwrap_or("");
        let d = it.next().ok_or_else(|| Error::parse(path, Some(ln), "expected 'src,dst[,weight]', found one field"))?;
        let w = it.next();
        if it.next().is_some() {
            return Err(Error::parse(path, Some(ln), "too many fields; expected 'src,dst[,weight]'"));
        }
        let n = if w.is_some() { 3 } else { 2 };
        match width {
            None => width = Some(n),
            Some(expected) if expected != n => {
                return Err(Error::parse(path, Some(ln), format!("expected {expected} fields like the lines before, found {n}")));
            }
            _ => {}
        }
        out.src.push(parse_field(s, path, ln, "a source node id (non-negative integer)")?);
        out.dst.push(parse_field(d, path, ln, "a destination node id (non-negative integer)")?);
        out.lines.push(ln);
        if let Some(w) = w {
            if !allow_weight {
                return Err(Error::parse(path, Some(ln), "this file must have exactly two columns 'src,dst'"));
            }
            weights.push(parse_f32(w, path, ln, "an edge weight")?);
        }
    }
    if width == Some(3) {
        out.edge_weight = Some(weights);
    }
    Ok(out)
}

/// Parse the `features.txt` format: line 1 `<num_rows> <num_cols> <nnz>`, then
/// exactly `num_rows` lines of space-separated `col:value` pairs (0-based
/// columns; an empty line is an all-zero row). Columns are sorted per row;
/// duplicate columns are an error.
pub(crate) fn parse_col_value(path: &Path, text: &str) -> Result<CsrMatrix> {
    let mut lines = numbered_lines(text);
    let (ln, header) = lines.next().ok_or_else(|| Error::parse(path, Some(1), "empty file; expected a header '<num_nodes> <num_features> <nnz>'"))?;
    let h: Vec<&str> = header.split_whitespace().collect();
    if h.len() != 3 {
        return Err(Error::parse(path, Some(ln), "expected a header '<num_nodes> <num_features> <nnz>'"));
    }
    let num_rows: usize = parse_field(h[0], path, ln, "num_nodes")?;
    let num_cols: usize = parse_field(h[1], path, ln, "num_features")?;
    let nnz: usize = parse_field(h[2], path, ln, "nnz")?;
    // Capacities bounded by the file size, whatever the header claims.
    let mut row_ptr = Vec::with_capacity(num_rows.min(text.len()) + 1);
    row_ptr.push(0usize);
    let mut col_idx = Vec::with_capacity(nnz.min(text.len() / 3));
    let mut values = Vec::with_capacity(nnz.min(text.len() / 3));
    let mut row: Vec<(usize, f32)> = Vec::new();
    for (ln, line) in lines {
        if row_ptr.len() > num_rows {
            if line.trim().is_empty() {
                continue;
            }
            return Err(Error::parse(path, Some(ln), format!("more rows than the {num_rows} announced in the header")));
        }
        row.clear();
        for pair in line.split_whitespace() {
            let (c, v) = pair.split_once(':').ok_or_else(|| Error::parse(path, Some(ln), format!("expected 'col:value', found '{}'", truncate(pair, 40))))?;
            let c: usize = parse_field(c, path, ln, "a feature column (non-negative integer)")?;
            if c >= num_cols {
                return Err(Error::parse(path, Some(ln), format!("feature column {c} is out of range: the header says {num_cols} features")));
            }
            row.push((c, parse_f32(v, path, ln, "a feature value")?));
        }
        if row.windows(2).any(|w| w[0].0 >= w[1].0) {
            row.sort_by_key(|e| e.0);
            if row.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(Error::parse(path, Some(ln), "a feature column appears twice in this row"));
            }
        }
        for &(c, v) in &row {
            col_idx.push(c);
            values.push(v);
        }
        row_ptr.push(col_idx.len());
    }
    // `row_ptr` holds one entry more than the rows read (compare without `num_rows + 1`: the header may say usize::MAX).
    if row_ptr.len() - 1 != num_rows {
        return Err(Error::parse(
            path,
            None,
            format!("the header announces {num_rows} rows but the file has {}; the file may be truncated", row_ptr.len() - 1),
        ));
    }
    if col_idx.len() != nnz {
        return Err(Error::parse(path, Some(1), format!("the header announces nnz = {nnz} but the rows hold {} entries", col_idx.len())));
    }
    // The width becomes a model's input dimension: bound it by the columns used.
    let used = col_idx.iter().max().map_or(0, |c| c + 1);
    if !super::limits::bounded_by_data(num_cols, used, nnz + num_rows) {
        return Err(Error::parse(
            path,
            Some(1),
            format!(
                "the header announces {num_cols} features, but the rows use only the first {used} columns ({nnz} values in {num_rows} rows); fix num_features in the header (line 1: '<num_nodes> <num_features> <nnz>')"
            ),
        ));
    }
    CsrMatrix::new(num_rows, num_cols, row_ptr, col_idx, values)
}

/// Parse dense features: comma-separated floats, one row per node, optional
/// header line, blank lines ignored. Returns `(num_rows, num_cols, data)`.
pub(crate) fn parse_dense_csv(path: &Path, text: &str) -> Result<(usize, usize, Vec<f32>)> {
    let mut data = Vec::new();
    let mut num_cols: Option<usize> = None;
    let mut num_rows = 0;
    for (ln, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        if num_rows == 0 && num_cols.is_none() && is_header(line) {
            num_cols = Some(fields(line).count());
            continue;
        }
        let before = data.len();
        for f in fields(line) {
            data.push(parse_f32(f, path, ln, "a feature value")?);
        }
        let n = data.len() - before;
        match num_cols {
            None => num_cols = Some(n),
            Some(c) if c != n => {
                return Err(Error::parse(path, Some(ln), format!("expected {c} feature values like the first row, found {n}")));
            }
            _ => {}
        }
        num_rows += 1;
    }
    Ok((num_rows, num_cols.unwrap_or(0), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("f.csv")
    }

    #[test]
    fn lines_are_numbered_and_trailing_newline_ignored() {
        let v: Vec<_> = numbered_lines("a\r\nb\n\nc\n").collect();
        assert_eq!(v, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
        assert_eq!(numbered_lines("").count(), 0);
        assert_eq!(numbered_lines("\n").collect::<Vec<_>>(), vec![(1, "")]);
    }

    #[test]
    fn record_lines_reject_inner_blank_lines() {
        let v: Vec<_> = record_lines(p(), "1\r\n2\n\n \n").map(|r| r.unwrap()).collect();
        assert_eq!(v, vec![(1, "1"), (2, "2")]);
        assert_eq!(record_lines(p(), " \n\n").count(), 0);
        let e = record_lines(p(), "1\n\n2\n").nth(1).unwrap().unwrap_err().to_string();
        assert!(e.contains("f.csv:2") && e.contains("blank line"), "{e}");
    }

    #[test]
    fn bom_is_stripped_and_fields_escaped() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("e.csv");
        std::fs::write(&f, "\u{feff}0,1\n").unwrap();
        let t = read_text(&f).unwrap();
        assert_eq!(t, "0,1\n");
        assert_eq!(parse_edge_csv(&f, &t, false).unwrap().src, vec![0]);
        assert_eq!(truncate("a\u{1b}[0m\tb", 40), "a\\u{1b}[0m\\tb");
        assert_eq!(truncate("\u{7}abcdef", 3), "\\u{7}ab...");
    }

    #[test]
    fn edge_csv_with_and_without_header_and_weights() {
        let e = parse_edge_csv(p(), "src,dst\n0,1\n1, 2\n", false).unwrap();
        assert_eq!((e.src, e.dst, e.edge_weight), (vec![0, 1], vec![1, 2], None));
        let e = parse_edge_csv(p(), "0,1,2.5\n\n1,0,1\n", true).unwrap();
        assert_eq!(e.edge_weight, Some(vec![2.5, 1.0]));
        assert_eq!(e.lines, vec![1, 3]);
        assert_eq!(e.min_num_nodes(), 2);
    }

    #[test]
    fn edge_csv_errors_name_the_line() {
        let err = parse_edge_csv(p(), "src,dst\n0,1\n1,x\n", false).unwrap_err().to_string();
        assert!(err.contains("f.csv:3"), "{err}");
        let err = parse_edge_csv(p(), "0,1\n1,2,3\n", true).unwrap_err().to_string();
        assert!(err.contains(":2") && err.contains("expected 2 fields"), "{err}");
        let err = parse_edge_csv(p(), "0,1,1\n", false).unwrap_err().to_string();
        assert!(err.contains("two columns"), "{err}");
        let err = parse_edge_csv(p(), "0,-1\n", false).unwrap_err().to_string();
        assert!(err.contains(":1"), "{err}");
        let e = parse_edge_csv(p(), "0,5\n", false).unwrap();
        let err = e.check_range(p(), 3, "").unwrap_err().to_string();
        assert!(err.contains(":1") && err.contains("num_nodes = 3"), "{err}");
    }

    #[test]
    fn col_value_features() {
        let m = parse_col_value(p(), "3 4 3\n1:1 3:0.5\n\n2:2\n").unwrap();
        assert_eq!(m.row_ptr, vec![0, 2, 2, 3]);
        assert_eq!(m.col_idx, vec![1, 3, 2]);
        assert_eq!(m.values, vec![1.0, 0.5, 2.0]);
        // Unsorted columns are sorted.
        let m = parse_col_value(p(), "1 4 2\n3:1 0:2\n").unwrap();
        assert_eq!(m.col_idx, vec![0, 3]);
        for (bad, needle) in [
            ("", "empty"),
            ("2 4\n", "header"),
            ("2 4 1\n1:1\n", "truncated"),
            ("1 4 1\n9:1\n", "out of range"),
            ("1 4 2\n1:1 1:2\n", "twice"),
            ("1 4 2\n1:1\n", "nnz"),
            ("1 4 1\n1=1\n", "col:value"),
            ("1 4 1\n1:nan\n", "finite"),
            ("1 4 1\n1:1\n2:1\n", "more rows"),
            // Found by tests/mutation.rs: a row count of usize::MAX overflowed `num_rows + 1`.
            ("18446744073709551615 4 1\n1:1\n", "truncated"),
        ] {
            let err = parse_col_value(p(), bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn dense_csv_features() {
        let (r, c, d) = parse_dense_csv(p(), "a,b\n1,2\n3,4.5\n").unwrap();
        assert_eq!((r, c, d), (2, 2, vec![1.0, 2.0, 3.0, 4.5]));
        let err = parse_dense_csv(p(), "1,2\n3\n").unwrap_err().to_string();
        assert!(err.contains(":2"), "{err}");
    }

    #[test]
    fn id_lists() {
        let t = "3\n\n1\n";
        assert_eq!(parse_id_list(p(), t).unwrap(), vec![3, 1]);
        let err = check_ids(p(), t, &[3, 1], 2).unwrap_err().to_string();
        assert!(err.contains("f.csv:1"), "{err}");
        let err = parse_id_list(p(), "1\n-2\n").unwrap_err().to_string();
        assert!(err.contains("f.csv:2"), "{err}");
    }
}
