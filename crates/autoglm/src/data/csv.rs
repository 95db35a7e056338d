//! A generic node-classification dataset from CSV / text files.
//!
//! * edges (required): header `src,dst[,weight]` (optional), then one directed
//!   edge per line, 0-based node ids; a third column becomes `edge_weight`;
//! * features (optional): comma-separated floats, one row per node (optional
//!   header), or the `features.txt` format of the Planetoid conversion (line 1
//!   `<num_nodes> <num_features> <nnz>`, then one line of `col:value` pairs
//!   per node); without a file, [`CsvOptions::fallback`] is used (default: one
//!   constant column);
//! * labels (optional): `node,label` (optional header); labels may be any
//!   text and are mapped to `0..C-1` in sorted order (numeric order when all
//!   labels are integers), see [`CsvInfo::label_values`]; every node needs a
//!   label. Without a file the dataset has no labels: `y` is empty and
//!   `num_classes` is 0 ([`NodeDataset::has_labels`] is false), so a
//!   node-classification run fails instead of learning one class;
//! * train / val / test (optional): one node id per line.
//!
//! With [`CsvOptions::undirected`] every edge's reverse is added and
//! duplicates are merged (keeping the first weight), like PyG's
//! `to_undirected`. Otherwise edges are kept exactly as listed.
//!
//! The number of nodes is [`CsvOptions::num_nodes`] when given, else the
//! number of feature rows, else the number of label rows (each file needs one
//! row per node), else the largest id in the edges + 1; an edge outside that
//! range is an error in the edge file. Split files must not repeat an id, and
//! train / val / test must be disjoint; an empty split file is an empty part.
//! A leading UTF-8 byte order mark and `\r\n` line ends are accepted. Errors
//! name the file and the 1-based line.

use super::features::FeatureFallback;
use super::limits;
use super::text::{self, numbered_lines};
use super::{Features, NodeDataset, Split};
use crate::graph::Graph;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Layout of the features file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeatureFormat {
    /// `col:value` when line 1 is three whitespace-separated integers and has no comma, else dense CSV.
    #[default]
    Auto,
    /// Comma-separated floats, one row per node.
    Dense,
    /// The `features.txt` `col:value` format.
    ColValue,
}

/// What to load; see the module docs for the file formats.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// Name given to the dataset.
    pub name: String,
    /// Edge list (required).
    pub edges: PathBuf,
    /// Node features.
    pub features: Option<PathBuf>,
    /// Layout of `features`.
    pub feature_format: FeatureFormat,
    /// `node,label` rows.
    pub labels: Option<PathBuf>,
    /// Training node ids.
    pub train: Option<PathBuf>,
    /// Validation node ids.
    pub val: Option<PathBuf>,
    /// Test node ids.
    pub test: Option<PathBuf>,
    /// Add the reverse of every edge (and merge duplicates).
    pub undirected: bool,
    /// Number of nodes, when it cannot be inferred (isolated nodes with the largest ids).
    pub num_nodes: Option<usize>,
    /// Features to build when there is no features file.
    pub fallback: FeatureFallback,
}

impl CsvOptions {
    /// Only an edge list; everything else off (constant features, no labels, no split).
    pub fn new(edges: impl Into<PathBuf>) -> CsvOptions {
        let edges = edges.into();
        let name = edges.file_stem().and_then(|s| s.to_str()).unwrap_or("csv").to_string();
        CsvOptions {
            name,
            edges,
            features: None,
            feature_format: FeatureFormat::Auto,
            labels: None,
            train: None,
            val: None,
            test: None,
            undirected: false,
            num_nodes: None,
            fallback: FeatureFallback::Constant,
        }
    }

    /// The files of a folder: `edges.csv` (required), `features.csv` or
    /// `features.txt`, `labels.csv`, `train.txt`, `val.txt`, `test.txt`
    /// (each used when present). The dataset is named after the folder.
    ///
    /// # Errors
    /// [`Error::DatasetNotFound`] when the folder or `edges.csv` is missing.
    pub fn from_folder(dir: &Path) -> Result<CsvOptions> {
        let name = dir.file_name().and_then(|s| s.to_str()).unwrap_or("csv").to_string();
        let edges = dir.join("edges.csv");
        if !edges.is_file() {
            return Err(Error::DatasetNotFound {
                name: format!("csv:{}", dir.display()),
                msg: format!("missing {}; a CSV dataset folder needs edges.csv ('src,dst[,weight]' per line)", edges.display()),
            });
        }
        let some = |f: &str| Some(dir.join(f)).filter(|p| p.is_file());
        Ok(CsvOptions {
            name,
            features: some("features.csv").or_else(|| some("features.txt")),
            labels: some("labels.csv"),
            train: some("train.txt"),
            val: some("val.txt"),
            test: some("test.txt"),
            ..CsvOptions::new(edges)
        })
    }

    /// Set [`CsvOptions::undirected`].
    pub fn undirected(mut self, yes: bool) -> CsvOptions {
        self.undirected = yes;
        self
    }
}

/// What [`load_csv_with_info`] found besides the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsvInfo {
    /// The original label text of class `c`, at index `c`.
    pub label_values: Vec<String>,
    /// Whether a labels file was read.
    pub has_labels: bool,
    /// Whether a features file was read (else `x` is the fallback).
    pub has_features: bool,
}

/// Load a node dataset from CSV files.
///
/// # Errors
/// [`Error::Io`] for unreadable files; [`Error::Parse`] naming the file and
/// line for malformed rows, out-of-range ids, nodes without a label, and
/// feature rows that disagree with the number of nodes.
pub fn load_csv(opts: &CsvOptions) -> Result<NodeDataset> {
    load_csv_with_info(opts).map(|(d, _)| d)
}

/// [`load_csv`], also returning the label mapping ([`CsvInfo`]).
///
/// # Errors
/// As [`load_csv`].
pub fn load_csv_with_info(opts: &CsvOptions) -> Result<(NodeDataset, CsvInfo)> {
    let edges = text::parse_edge_csv(&opts.edges, &text::read_text(&opts.edges)?, true)?;

    let features = match &opts.features {
        Some(p) => Some((p, read_features(p, opts.feature_format)?)),
        None => None,
    };
    let labels = match &opts.labels {
        Some(p) => Some((p, read_labels(p)?)),
        None => None,
    };

    // The node count: given, else one per feature row, else one per label row
    // (both files must cover every node), else the largest edge id + 1. An
    // edge outside that range is then the edge file's error, not a missing label.
    if let (None, Some((fp, x)), Some((lp, l))) = (opts.num_nodes, &features, &labels) {
        if x.num_rows() != l.len() {
            return Err(Error::parse(
                fp,
                None,
                format!(
                    "{} feature rows for {} nodes: {} has {} label rows; both files need one row per node",
                    x.num_rows(),
                    l.len(),
                    text::file_name(lp),
                    l.len()
                ),
            ));
        }
    }
    let (num_nodes, origin) = if let Some(n) = opts.num_nodes {
        (n, "as set in the options".to_string())
    } else if let Some((p, x)) = &features {
        (x.num_rows(), format!("{} has {} feature rows, one per node", text::file_name(p), x.num_rows()))
    } else if let Some((p, l)) = &labels {
        (l.len(), format!("{} has {} label rows, one per node", text::file_name(p), l.len()))
    } else {
        let n = edges.min_num_nodes();
        // A stray huge id would otherwise allocate a giant graph.
        let rows = edges.src.len();
        if n > 16 * rows + (1 << 20) {
            return Err(Error::parse(
                &opts.edges,
                None,
                format!("the largest node id implies {n} nodes for only {rows} edges; node ids must be 0-based and dense: fix the ids (or, from the library, set num_nodes explicitly if that many isolated nodes are intended)"),
            ));
        }
        (n, String::new())
    };
    limits::check_alloc("num_nodes", &opts.edges, num_nodes as u64, 64)?;
    edges.check_range(&opts.edges, num_nodes, &origin)?;

    let (mut src, mut dst, mut weight) = (edges.src, edges.dst, edges.edge_weight);
    if opts.undirected {
        let (s0, d0) = (src.clone(), dst.clone());
        src.extend_from_slice(&d0);
        dst.extend_from_slice(&s0);
        if let Some(w) = &mut weight {
            w.extend_from_within(..);
        }
    }
    let mut b = Graph::builder(num_nodes).edge_lists(src, dst).dedup(opts.undirected).context(opts.edges.display().to_string());
    if let Some(w) = weight {
        b = b.edge_weight(w);
    }
    let graph = b.build()?;

    let mut info = CsvInfo::default();
    let x = match features {
        Some((p, x)) => {
            if x.num_rows() != num_nodes {
                return Err(Error::parse(
                    p,
                    None,
                    format!("{} feature rows for {num_nodes} nodes; give one row per node 0..{} (or set num_nodes)", x.num_rows(), num_nodes.saturating_sub(1)),
                ));
            }
            info.has_features = true;
            x
        }
        None => opts.fallback.build(&graph),
    };

    // Without a labels file the dataset says so: no labels, no classes.
    let (y, num_classes) = match labels {
        Some((p, rows)) => {
            info.has_labels = true;
            let (y, values) = remap_labels(p, &rows, num_nodes)?;
            info.label_values = values;
            let c = info.label_values.len();
            (y, c)
        }
        None => (Vec::new(), 0),
    };

    let split = if opts.train.is_some() || opts.val.is_some() || opts.test.is_some() {
        let ids = |p: &Option<PathBuf>| -> Result<Vec<usize>> {
            match p {
                Some(p) => text::read_split_ids(p, num_nodes),
                None => Ok(vec![]),
            }
        };
        let split = Split { train: ids(&opts.train)?, val: ids(&opts.val)?, test: ids(&opts.test)? };
        let parts: Vec<(&Path, &[usize])> = [(&opts.train, &split.train), (&opts.val, &split.val), (&opts.test, &split.test)]
            .into_iter()
            .filter_map(|(p, ids)| p.as_deref().map(|p| (p, ids.as_slice())))
            .collect();
        text::check_disjoint(&parts, num_nodes)?;
        Some(split)
    } else {
        None
    };

    let source = opts.edges.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((NodeDataset { name: opts.name.clone(), graph, x, y, num_classes, split, source, notes: vec![] }, info))
}

fn read_features(path: &Path, format: FeatureFormat) -> Result<Features> {
    let t = text::read_text(path)?;
    let format = match format {
        FeatureFormat::Auto => {
            let first = numbered_lines(&t).map(|(_, l)| l).find(|l| !l.trim().is_empty()).unwrap_or("");
            let toks: Vec<&str> = first.split_whitespace().collect();
            if !first.contains(',') && toks.len() == 3 && toks.iter().all(|s| s.parse::<usize>().is_ok()) {
                FeatureFormat::ColValue
            } else {
                FeatureFormat::Dense
            }
        }
        f => f,
    };
    Ok(match format {
        FeatureFormat::ColValue => Features::Sparse(text::parse_col_value(path, &t)?),
        _ => {
            let (num_rows, num_cols, data) = text::parse_dense_csv(path, &t)?;
            Features::Dense { num_rows, num_cols, data }
        }
    })
}

struct LabelRow {
    node: usize,
    label: String,
    line: usize,
}

fn read_labels(path: &Path) -> Result<Vec<LabelRow>> {
    let t = text::read_text(path)?;
    let mut rows = Vec::new();
    for (ln, line) in numbered_lines(&t) {
        if line.trim().is_empty() || (rows.is_empty() && text::is_header(line)) {
            continue;
        }
        let mut f = text::fields(line);
        let node = f.next().unwrap_or("");
        let label = f.next().filter(|l| !l.is_empty()).ok_or_else(|| Error::parse(path, Some(ln), "expected 'node,label'"))?;
        rows.push(LabelRow { node: text::parse_field(node, path, ln, "a node id (non-negative integer)")?, label: label.to_string(), line: ln });
    }
    Ok(rows)
}

/// Map label text to `0..C-1` (sorted; numerically when every label is an integer).
fn remap_labels(path: &Path, rows: &[LabelRow], num_nodes: usize) -> Result<(Vec<usize>, Vec<String>)> {
    let mut values: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    if values.iter().all(|v| v.parse::<i64>().is_ok()) {
        // Numeric order, keeping each value's spelling (stable for equal numbers).
        values.sort_by_key(|v| v.parse::<i64>().unwrap_or(0));
    }
    let class: std::collections::HashMap<&str, usize> = values.iter().enumerate().map(|(c, v)| (*v, c)).collect();
    let mut y = vec![usize::MAX; num_nodes];
    for r in rows {
        if r.node >= num_nodes {
            return Err(Error::parse(
                path,
                Some(r.line),
                format!("node {} is out of range: the dataset has {num_nodes} nodes, so node ids must be 0..{}", r.node, num_nodes.saturating_sub(1)),
            ));
        }
        if y[r.node] != usize::MAX {
            return Err(Error::parse(path, Some(r.line), format!("node {} has a second label", r.node)));
        }
        y[r.node] = class.get(r.label.as_str()).copied().unwrap_or(0);
    }
    if let Some(missing) = y.iter().position(|&c| c == usize::MAX) {
        return Err(Error::parse(path, None, format!("node {missing} has no label; every node 0..{} needs a 'node,label' row", num_nodes - 1)));
    }
    Ok((y, values.into_iter().map(str::to_string).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, s: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, s).unwrap();
        p
    }

    #[test]
    fn folder_with_everything() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "edges.csv", "src,dst,weight\n0,1,0.5\n1,2,2\n2,0,1\n");
        write(d, "features.csv", "a,b\n1,0\n0,1\n1,1\n");
        write(d, "labels.csv", "node,label\n0,cat\n1,dog\n2,cat\n");
        write(d, "train.txt", "0\n");
        write(d, "test.txt", "1\n2\n");
        let opts = CsvOptions::from_folder(d).unwrap();
        let (ds, info) = load_csv_with_info(&opts).unwrap();
        assert_eq!(ds.graph.num_nodes(), 3);
        assert_eq!(ds.graph.num_edges(), 3);
        assert!(ds.graph.edge_weight().is_some());
        assert_eq!(ds.x.to_dense(), vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(ds.y, vec![0, 1, 0]);
        assert_eq!(ds.num_classes, 2);
        assert_eq!(info.label_values, vec!["cat", "dog"]);
        let s = ds.split.unwrap();
        assert_eq!((s.train, s.val, s.test), (vec![0], vec![], vec![1, 2]));

        let (u, _) = load_csv_with_info(&opts.clone().undirected(true)).unwrap();
        assert_eq!(u.graph.num_edges(), 6);
        assert!(u.graph.is_undirected());
        let e = u.graph.edges().position(|p| p == (1, 0)).unwrap();
        assert_eq!(u.graph.edge_weight().unwrap()[e], 0.5);
    }

    #[test]
    fn numeric_labels_sort_numerically_and_col_value_features() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut opts = CsvOptions::new(write(d, "e.csv", "0,1\n1,0\n1,1\n"));
        opts.labels = Some(write(d, "l.csv", "0,10\n1,-1\n2,9\n3,10\n"));
        opts.features = Some(write(d, "f.txt", "4 3 2\n0:1\n\n2:1.5\n\n"));
        let (ds, info) = load_csv_with_info(&opts).unwrap();
        assert_eq!(info.label_values, vec!["-1", "9", "10"]);
        assert_eq!(ds.y, vec![2, 0, 1, 2]);
        assert_eq!(ds.graph.num_nodes(), 4);
        assert!(matches!(ds.x, Features::Sparse(_)));
        // Self loop and both directions kept as listed.
        assert_eq!(ds.graph.num_edges(), 3);
        // num_nodes from the option; fallback features.
        let mut o = CsvOptions::new(opts.edges.clone());
        o.num_nodes = Some(5);
        o.fallback = FeatureFallback::DegreeOneHot { max_degree: 2 };
        let ds = load_csv(&o).unwrap();
        // No labels file: no labels (not one class).
        assert_eq!((ds.graph.num_nodes(), ds.x.num_cols(), ds.num_classes), (5, 3, 0));
        assert!(ds.y.is_empty() && !ds.has_labels());
        assert!(ds.split.is_none());
    }

    #[test]
    fn errors_name_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let check = |opts: &CsvOptions, needle: &str| {
            let e = load_csv(opts).unwrap_err().to_string();
            assert!(e.contains(needle), "expected '{needle}' in: {e}");
        };
        assert!(matches!(CsvOptions::from_folder(d), Err(Error::DatasetNotFound { .. })));
        let mut o = CsvOptions::new(write(d, "e.csv", "src,dst\n0,1\n1,a\n"));
        check(&o, "e.csv:3");
        write(d, "e.csv", "src,dst\n0,1\n1,99999999999\n");
        check(&o, "set num_nodes explicitly");
        write(d, "e.csv", "src,dst\n0,1\n1,2\n");
        o.num_nodes = Some(2);
        check(&o, "e.csv:3");
        o.num_nodes = None;
        o.labels = Some(write(d, "l.csv", "node,label\n0,a\n1,b\n"));
        // The labels define 2 nodes: the edge to node 2 is the edge file's error.
        check(&o, "e.csv:3");
        check(&o, "l.csv has 2 label rows");
        o.num_nodes = Some(3);
        check(&o, "node 2 has no label");
        o.num_nodes = None;
        write(d, "l.csv", "node,label\n0,a\n1,b\n2,a\n2,b\n");
        check(&o, "l.csv:5");
        write(d, "l.csv", "node,label\n0,a\n1,b\n2\n");
        check(&o, "l.csv:4");
        write(d, "l.csv", "0,a\n1,b\n2,a\n");
        o.features = Some(write(d, "f.csv", "1,2\n3,4\n"));
        check(&o, "2 feature rows for 3 nodes");
        write(d, "f.csv", "1,2\n3,4\n5,x\n");
        check(&o, "f.csv:3");
        write(d, "f.csv", "1,2\n3,4\n5,6\n");
        o.test = Some(write(d, "t.txt", "0\n\n3\n"));
        check(&o, "t.txt:3");
        write(d, "t.txt", "0\n");
        assert!(load_csv(&o).is_ok());
        o.edges = d.join("nope.csv");
        check(&o, "nope.csv");
    }

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (name, content) in files {
            write(tmp.path(), name, content);
        }
        tmp
    }

    fn folder_err(files: &[(&str, &str)]) -> String {
        let tmp = folder(files);
        load_csv(&CsvOptions::from_folder(tmp.path()).unwrap()).unwrap_err().to_string()
    }

    #[test]
    fn huge_values_are_bounded_by_the_data() {
        // A huge label value is one class among the labels present.
        let tmp = folder(&[("edges.csv", "0,1\n1,2\n"), ("labels.csv", "node,label\n0,99999999999\n1,0\n2,0\n")]);
        let ds = load_csv(&CsvOptions::from_folder(tmp.path()).unwrap()).unwrap();
        assert_eq!((ds.num_classes, ds.y.clone()), (2, vec![1, 0, 0]));
        // A huge node id in labels.csv names the file and line, allocating nothing.
        let e = folder_err(&[("edges.csv", "0,1\n"), ("labels.csv", "0,a\n99999999999,b\n")]);
        assert!(e.contains("labels.csv:2") && e.contains("node 99999999999 is out of range"), "{e}");
        // An absurd node count is checked against the memory budget first.
        let mut o = CsvOptions::new(write(tmp.path(), "e.csv", "0,1\n"));
        o.num_nodes = Some(1 << 60);
        let e = load_csv(&o).unwrap_err().to_string();
        assert!(e.contains("num_nodes = 1152921504606846976") && e.contains("memory budget") && e.contains("e.csv"), "{e}");
    }

    #[test]
    fn bom_and_crlf_give_identical_results() {
        let plain = folder(&[("edges.csv", "0,1\n1,2\n"), ("labels.csv", "0,a\n1,b\n2,a\n"), ("train.txt", "0\n"), ("test.txt", "2\n")]);
        let bom = folder(&[
            ("edges.csv", "\u{feff}0,1\r\n1,2\r\n"),
            ("labels.csv", "\u{feff}0,a\r\n1,b\r\n2,a\r\n"),
            ("train.txt", "\u{feff}0\r\n"),
            ("test.txt", "\u{feff}2\r\n"),
        ]);
        let a = load_csv(&CsvOptions::from_folder(plain.path()).unwrap()).unwrap();
        let b = load_csv(&CsvOptions::from_folder(bom.path()).unwrap()).unwrap();
        assert_eq!(b.graph.num_edges(), 2, "the first edge must not be taken for a header");
        assert_eq!((a.graph.src(), a.graph.dst()), (b.graph.src(), b.graph.dst()));
        assert_eq!((a.y, a.split), (b.y, b.split));
        // Dense features with a BOM and a header.
        let f = folder(&[("edges.csv", "0,1\n"), ("features.csv", "\u{feff}a,b\r\n1,2\r\n3,4\r\n")]);
        let ds = load_csv(&CsvOptions::from_folder(f.path()).unwrap()).unwrap();
        assert_eq!(ds.x.to_dense(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn out_of_range_edge_blames_the_edge_file() {
        let e = folder_err(&[("edges.csv", "src,dst\n0,1\n1,7\n"), ("labels.csv", "0,a\n1,b\n2,a\n")]);
        assert!(e.contains("edges.csv:3") && e.contains("edge 1 -> 7"), "{e}");
        assert!(e.contains("labels.csv has 3 label rows"), "{e}");
        let e = folder_err(&[("edges.csv", "0,1\n1,5\n"), ("features.csv", "1\n2\n")]);
        assert!(e.contains("edges.csv:2") && e.contains("features.csv has 2 feature rows"), "{e}");
    }

    #[test]
    fn no_labels_file_means_no_labels() {
        let tmp = folder(&[("edges.csv", "0,1\n1,2\n"), ("train.txt", "0\n"), ("test.txt", "1\n2\n")]);
        let (ds, info) = load_csv_with_info(&CsvOptions::from_folder(tmp.path()).unwrap()).unwrap();
        assert!(!info.has_labels && !ds.has_labels());
        assert_eq!((ds.num_classes, ds.y.len()), (0, 0));
        let e = ds.require_labels().unwrap_err().to_string();
        assert!(e.contains("no node labels") && e.contains("labels.csv"), "{e}");
        let with = folder(&[("edges.csv", "0,1\n"), ("labels.csv", "0,x\n1,y\n")]);
        let ds = load_csv(&CsvOptions::from_folder(with.path()).unwrap()).unwrap();
        assert_eq!(ds.require_labels().unwrap(), &[0, 1]);
    }

    #[test]
    fn split_files_empty_duplicates_and_overlap() {
        let base = [("edges.csv", "0,1\n1,2\n2,3\n"), ("labels.csv", "0,a\n1,b\n2,a\n3,b\n")];
        // An empty test.txt is an empty split.
        let tmp = folder(&[base[0], base[1], ("train.txt", "0\n1\n"), ("val.txt", "2\n"), ("test.txt", "")]);
        let s = load_csv(&CsvOptions::from_folder(tmp.path()).unwrap()).unwrap().split.unwrap();
        assert_eq!((s.train, s.val, s.test), (vec![0, 1], vec![2], vec![]));
        // A repeated id names the file and both lines.
        let e = folder_err(&[base[0], base[1], ("train.txt", "0\n1\n\n0\n")]);
        assert!(e.contains("train.txt:4") && e.contains("node id 0 appears twice (lines 1 and 4)"), "{e}");
        // Overlap names both files and the ids.
        let e = folder_err(&[base[0], base[1], ("train.txt", "0\n1\n3\n"), ("val.txt", "2\n"), ("test.txt", "3\n1\n")]);
        assert!(e.contains("ids 1, 3 appear in both train.txt and test.txt"), "{e}");
        let e = folder_err(&[base[0], base[1], ("train.txt", "0\n"), ("val.txt", "2\n"), ("test.txt", "2\n")]);
        assert!(e.contains("ids 2 appear in both val.txt and test.txt"), "{e}");
    }

    #[test]
    fn control_characters_are_escaped_in_errors() {
        let e = folder_err(&[("edges.csv", "0,1\n1,\u{1b}[2J\n")]);
        assert!(e.contains("edges.csv:2") && e.contains("\\u{1b}[2J"), "{e}");
        assert!(!e.contains('\u{1b}'), "raw escape in: {e:?}");
        let e = folder_err(&[("edges.csv", "0,1\n"), ("features.csv", "1\n2\tx\n")]);
        assert!(e.contains("\\t") && !e.contains('\t'), "{e:?}");
    }
}
