//! TU graph-classification datasets (Morris et al., "TUDataset: A collection of
//! benchmark datasets for learning with graphs", 2020) in their original text
//! format, processed as PyTorch Geometric's `TUDataset` does.
//!
//! # Files read
//!
//! For dataset `DS` in `<data_dir>/DS/` (or `<data_dir>/DS/raw/`, PyG's layout):
//!
//! | file | lines | content |
//! |---|---|---|
//! | `DS_A.txt` | one per directed edge | `row, col`: 1-based global node ids |
//! | `DS_graph_indicator.txt` | one per node | 1-based graph id of node `i` |
//! | `DS_graph_labels.txt` | one per graph | integer class label |
//! | `DS_node_labels.txt` (optional) | one per node | integer label(s), comma-separated if several columns |
//! | `DS_node_attributes.txt` (optional) | one per node | comma-separated floats |
//! | `DS_edge_labels.txt` (optional) | one per `_A` line | integer label(s); only [`read_tu_raw`] reads it |
//!
//! Fields are separated by a comma with any whitespace around it (`"1, 2"`,
//! `"1,2"`, `" 11.000000, 15.887014"`); a line without a comma is split on
//! whitespace. Files are read through the shared text reader: UTF-8, a
//! leading byte order mark is dropped, `\r\n` line ends and blank lines at
//! the end of a file are accepted; a blank line anywhere else is an error (it
//! would shift every following record onto the wrong node). Node attributes
//! must be finite after conversion to `f32` (`nan`, `inf`, `1e39` are errors);
//! without graph labels, graph ids are bounded by the number of nodes.
//!
//! # Processing (PyG `read_tu_data` + `OneHotDegree`)
//!
//! * Graph `g` gets the nodes whose indicator is `g`, numbered locally
//!   `0..n_g` in increasing global id. The indicator is normally
//!   non-decreasing (each graph one contiguous block); other orders are grouped
//!   the same way.
//! * Edges are converted to local ids; self loops and duplicate edges are
//!   removed (PyG `remove_self_loops` + `coalesce`; IMDB-BINARY lists every
//!   edge twice).
//! * Graph labels: sorted distinct values mapped to `0..num_classes` (PyG
//!   `unique(return_inverse=True)`; MUTAG's `-1 / 1` become `0 / 1`).
//! * Node features, in this column order (PyG's order):
//!   1. node attributes, when [`TuOptions::use_node_attributes`] (default
//!      **false**, as PyG's `use_node_attr=False` and the GIN paper);
//!   2. one-hot node labels, when [`TuOptions::use_node_labels`] (default
//!      true), one block per label column;
//!   3. one-hot out-degree (PyG `OneHotDegree(max_degree)`, `max_degree` the
//!      largest degree in the dataset, so `max_degree + 1` columns), per
//!      [`TuOptions::degree_features`]: by default only when 1 and 2 give no
//!      column (IMDB-BINARY and the other social datasets).
//!
//! Deviation from PyG: node label values are mapped to their sorted distinct
//! values (`L` distinct values give `L` columns), where PyG subtracts the
//! minimum and uses `max - min + 1` columns. The two agree whenever the label
//! values are contiguous, as in every dataset shipped here (MUTAG 0..6,
//! PROTEINS 0..2, ENZYMES 1..3); otherwise PyG has extra all-zero columns.
//! Edge labels and attributes are not turned into features (the
//! [`GraphSample`] type has no edge features); [`read_tu_raw`] exposes them.
//!
//! # Errors
//!
//! Malformed content is an [`Error::Parse`] naming the file, the 1-based line
//! and the fix; nothing in a file can make the loader panic.

use super::{limits, text, GraphDataset, GraphSample};
use crate::graph::Graph;
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// When to add one-hot degree node features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegreeFeatures {
    /// Only when node attributes and node labels give no feature column (the
    /// standard choice for IMDB-BINARY and other social datasets).
    #[default]
    Auto,
    /// Always, appended after the other features.
    Always,
    /// Never; a dataset without node labels or attributes then has
    /// `num_node_features == 0`.
    Never,
}

/// How [`load_tu`] turns TU files into node features.
///
/// ```
/// use autoglm::data::tu::{DegreeFeatures, TuOptions};
/// let opts = TuOptions::default().with_node_attributes(true);
/// assert!(opts.use_node_labels);
/// assert_eq!(opts.degree_features, DegreeFeatures::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TuOptions {
    /// One-hot encode `DS_node_labels.txt` where present. Default `true`.
    pub use_node_labels: bool,
    /// Include the continuous `DS_node_attributes.txt` where present. Default
    /// `false` (PyG `TUDataset(use_node_attr=False)`, the GIN paper's setting).
    pub use_node_attributes: bool,
    /// One-hot degree features. Default [`DegreeFeatures::Auto`].
    pub degree_features: DegreeFeatures,
    /// Read `DS_edge_labels.txt` (first column) into the graphs' edge types
    /// ([`Graph::edge_types`]: bond types for molecules). Default `false`.
    pub use_edge_labels: bool,
}

impl Default for TuOptions {
    fn default() -> Self {
        TuOptions { use_node_labels: true, use_node_attributes: false, degree_features: DegreeFeatures::Auto, use_edge_labels: false }
    }
}

impl TuOptions {
    /// Set [`TuOptions::use_node_labels`].
    pub fn with_node_labels(mut self, yes: bool) -> Self {
        self.use_node_labels = yes;
        self
    }
    /// Set [`TuOptions::use_node_attributes`].
    pub fn with_node_attributes(mut self, yes: bool) -> Self {
        self.use_node_attributes = yes;
        self
    }
    /// Set [`TuOptions::use_edge_labels`].
    pub fn with_edge_labels(mut self, yes: bool) -> Self {
        self.use_edge_labels = yes;
        self
    }
    /// Set [`TuOptions::degree_features`].
    pub fn with_degree_features(mut self, mode: DegreeFeatures) -> Self {
        self.degree_features = mode;
        self
    }
}

/// How a TU dataset's raw values became features and classes: the vocabulary
/// to reuse when classifying other graphs with a trained model (saved in graph
/// checkpoints), so that a node label, a degree or a class keeps its column.
///
/// Encoding other graphs with it: a node label value it does not list is an
/// error naming the file, line and value; a degree above the largest seen in
/// training uses the last degree column (PyG's `OneHotDegree` would fail);
/// attribute columns must match in number; graph labels it does not list are
/// an error (they can only be compared when they are known classes).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TuEncoding {
    /// Node attribute columns at the start of each feature row.
    pub attribute_cols: usize,
    /// Per node-label column, the distinct raw values in one-hot order.
    pub node_label_values: Vec<Vec<i64>>,
    /// Width of the one-hot degree block (largest degree + 1); 0: none.
    pub degree_cols: usize,
    /// The distinct raw graph labels, in class order.
    pub class_values: Vec<i64>,
    /// With [`TuOptions::use_edge_labels`]: the distinct raw edge labels, in edge-type order.
    #[serde(default)]
    pub edge_label_values: Vec<i64>,
}

impl TuEncoding {
    /// Feature width.
    pub fn num_features(&self) -> usize {
        self.attribute_cols + self.node_label_values.iter().map(Vec::len).sum::<usize>() + self.degree_cols
    }
}

/// A row-major table read from a TU file: one row per line, `num_cols` values each.
#[derive(Debug, Clone, PartialEq)]
pub struct Table<T> {
    /// Values per row (the same on every line).
    pub num_cols: usize,
    /// `num_rows x num_cols`, row-major.
    pub data: Vec<T>,
}

impl<T> Table<T> {
    /// Number of rows (lines).
    pub fn num_rows(&self) -> usize {
        self.data.len().checked_div(self.num_cols).unwrap_or(0)
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.num_cols..(i + 1) * self.num_cols]
    }
    /// Column `c`, copied.
    pub fn column(&self, c: usize) -> Vec<T>
    where
        T: Copy,
    {
        self.data.iter().skip(c).step_by(self.num_cols.max(1)).copied().collect()
    }
}

/// The content of a TU dataset's files, validated but not processed: global
/// 0-based ids, raw label values, duplicates kept.
#[derive(Debug, Clone)]
pub struct TuRaw {
    /// Dataset name (the file prefix).
    pub name: String,
    /// The folder the files were read from.
    pub dir: PathBuf,
    /// Number of nodes (lines of `DS_graph_indicator.txt`).
    pub num_nodes: usize,
    /// Source of every `DS_A.txt` line, 0-based global node id.
    pub src: Vec<usize>,
    /// Destination of every `DS_A.txt` line, 0-based global node id.
    pub dst: Vec<usize>,
    /// 0-based graph of every node.
    pub graph_indicator: Vec<usize>,
    /// Raw label of every graph (`num_graphs` values; empty when the dataset
    /// was read for prediction and has no `DS_graph_labels.txt`).
    pub graph_labels: Vec<i64>,
    /// Number of graphs: lines of `DS_graph_labels.txt`, or the largest graph
    /// id of the indicator when the labels are absent.
    pub graphs: usize,
    /// Raw node labels, one row per node.
    pub node_labels: Option<Table<i64>>,
    /// Node attributes, one row per node.
    pub node_attributes: Option<Table<f32>>,
    /// Raw edge labels, one row per `DS_A.txt` line.
    pub edge_labels: Option<Table<i64>>,
}

impl TuRaw {
    /// Number of graphs.
    pub fn num_graphs(&self) -> usize {
        self.graphs
    }
    /// Whether graph labels were read.
    pub fn is_labelled(&self) -> bool {
        !self.graph_labels.is_empty()
    }
}

/// Which optional files to read.
#[derive(Clone, Copy)]
struct Want {
    /// Accept a dataset without `DS_graph_labels.txt` (graphs to classify).
    unlabelled_ok: bool,
    node_labels: bool,
    node_attributes: bool,
    edge_labels: bool,
}

/// Read and validate every file of TU dataset `name` under `data_dir`,
/// without processing (see [`TuRaw`]).
///
/// # Errors
/// [`Error::DatasetNotFound`] when the folder or `DS_A.txt` is missing;
/// [`Error::Io`] when a file cannot be read; [`Error::Parse`] (file, line,
/// fix) for malformed content: non-integer tokens, node ids out of range, edges
/// crossing graphs, files with the wrong number of lines, graphs without nodes.
pub fn read_tu_raw(data_dir: &Path, name: &str) -> Result<TuRaw> {
    read_tu(data_dir, name, Want { unlabelled_ok: false, node_labels: true, node_attributes: true, edge_labels: true })
}

/// Load TU dataset `name` from `<data_dir>/<name>/` as a [`GraphDataset`]
/// (processing rules in the [module docs](self)).
///
/// ```
/// use autoglm::data::tu::{load_tu, TuOptions};
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tu");
/// let ds = load_tu(&dir, "TINY", &TuOptions::default()).unwrap();
/// assert_eq!(ds.graphs.len(), 3);
/// assert_eq!(ds.num_classes, 2);
/// assert_eq!(ds.num_node_features, 3); // three distinct node labels, one-hot
/// assert_eq!(ds.graphs[0].graph.num_edges(), 4); // duplicates removed
/// ```
///
/// # Errors
/// As [`read_tu_raw`].
pub fn load_tu(data_dir: &Path, name: &str, opts: &TuOptions) -> Result<GraphDataset> {
    load_tu_encoded(data_dir, name, opts, None).map(|(ds, _)| ds)
}

/// [`load_tu`], also returning the [`TuEncoding`] it used. With `encoding`
/// (from a training run), the graphs are encoded with that vocabulary instead
/// of their own, and a dataset without `DS_graph_labels.txt` is accepted (its
/// graphs get class 0 as a placeholder; check [`TuEncoding::class_values`] of
/// the result: empty means unlabelled).
///
/// # Errors
/// As [`read_tu_raw`]; [`Error::Parse`] for a node label, attribute width or
/// graph label that `encoding` does not know.
pub fn load_tu_encoded(data_dir: &Path, name: &str, opts: &TuOptions, encoding: Option<&TuEncoding>) -> Result<(GraphDataset, TuEncoding)> {
    let raw = read_tu(
        data_dir,
        name,
        Want {
            unlabelled_ok: encoding.is_some(),
            node_labels: opts.use_node_labels,
            node_attributes: opts.use_node_attributes,
            edge_labels: opts.use_edge_labels,
        },
    )?;
    process(raw, opts, encoding)
}

/// Turn validated raw content into graphs and features.
fn process(raw: TuRaw, opts: &TuOptions, given: Option<&TuEncoding>) -> Result<(GraphDataset, TuEncoding)> {
    let num_graphs = raw.num_graphs();
    let n = raw.num_nodes;
    let a_name = format!("{}_A.txt", raw.name);

    // Nodes of each graph (counting sort by graph, stable in global id).
    let mut node_ptr = vec![0usize; num_graphs + 1];
    for &g in &raw.graph_indicator {
        node_ptr[g + 1] += 1;
    }
    for g in 0..num_graphs {
        node_ptr[g + 1] += node_ptr[g];
    }
    let mut nodes = vec![0usize; n];
    let mut local = vec![0usize; n];
    let mut fill = node_ptr.clone();
    for (i, &g) in raw.graph_indicator.iter().enumerate() {
        local[i] = fill[g] - node_ptr[g];
        nodes[fill[g]] = i;
        fill[g] += 1;
    }

    // Edges of each graph, in local ids (read_tu checked they stay inside one graph).
    let mut edge_ptr = vec![0usize; num_graphs + 1];
    for &s in &raw.src {
        edge_ptr[raw.graph_indicator[s] + 1] += 1;
    }
    for g in 0..num_graphs {
        edge_ptr[g + 1] += edge_ptr[g];
    }
    let m = raw.src.len();
    let mut lsrc = vec![0usize; m];
    let mut ldst = vec![0usize; m];
    let mut fill = edge_ptr.clone();
    // Edge types: the first column of the edge labels, as indices into their sorted distinct values
    // (the training run's values when `given`).
    let edge_table = raw.edge_labels.as_ref().filter(|_| opts.use_edge_labels);
    let edge_label_values: Vec<i64> = match (given, edge_table) {
        (Some(e), Some(_)) => e.edge_label_values.clone(),
        (None, Some(t)) => {
            let mut v: Vec<i64> = (0..t.num_rows()).map(|r| t.data[r * t.num_cols]).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        _ => Vec::new(),
    };
    let mut ltype = vec![0u32; if edge_table.is_some() { m } else { 0 }];
    for (e, (&s, &d)) in raw.src.iter().zip(&raw.dst).enumerate() {
        let g = raw.graph_indicator[s];
        lsrc[fill[g]] = local[s];
        ldst[fill[g]] = local[d];
        if let Some(t) = edge_table {
            let v = t.data[e * t.num_cols];
            ltype[fill[g]] = edge_label_values.binary_search(&v).map_err(|_| {
                Error::parse(
                    raw.dir.join(format!("{}_edge_labels.txt", raw.name)),
                    Some(e + 1),
                    format!("edge label {v} is not one of the model's edge types {edge_label_values:?}"),
                )
            })? as u32;
        }
        fill[g] += 1;
    }

    let graphs: Vec<Graph> = (0..num_graphs)
        .into_par_iter()
        .map(|g| {
            let (a, b) = (edge_ptr[g], edge_ptr[g + 1]);
            let mut builder = Graph::builder(node_ptr[g + 1] - node_ptr[g]).edge_lists(lsrc[a..b].to_vec(), ldst[a..b].to_vec());
            if edge_table.is_some() {
                builder = builder.edge_types(ltype[a..b].to_vec(), edge_label_values.len());
            }
            builder.dedup(true).remove_self_loops(true).context(format!("{a_name}, graph {}", g + 1)).build()
        })
        .collect::<Result<_>>()?;

    // Feature blocks: attributes, one-hot labels per column, one-hot degree.
    let file = |suffix: &str| raw.dir.join(format!("{}_{suffix}.txt", raw.name));
    let attrs = raw.node_attributes.as_ref().filter(|_| opts.use_node_attributes);
    let attr_cols = attrs.map_or(0, |t| t.num_cols);
    if let Some(e) = given {
        if attr_cols != e.attribute_cols {
            return Err(Error::parse(
                file("node_attributes"),
                None,
                format!("{attr_cols} attribute columns, but the model was trained on {}; use graphs with the same node attributes", e.attribute_cols),
            ));
        }
    }
    let mut label_blocks: Vec<(Vec<usize>, usize)> = Vec::new(); // (code per node, width)
    let mut label_values: Vec<Vec<i64>> = Vec::new();
    if let Some(t) = raw.node_labels.as_ref().filter(|_| opts.use_node_labels) {
        if let Some(e) = given {
            if t.num_cols != e.node_label_values.len() {
                return Err(Error::parse(
                    file("node_labels"),
                    None,
                    format!("{} label columns, but the model was trained on {}", t.num_cols, e.node_label_values.len()),
                ));
            }
        }
        for c in 0..t.num_cols {
            let col = t.column(c);
            let values = match given {
                Some(e) => e.node_label_values[c].clone(),
                None => distinct(&col),
            };
            let mut codes = Vec::with_capacity(col.len());
            for (i, v) in col.iter().enumerate() {
                match values.binary_search(v) {
                    Ok(k) => codes.push(k),
                    Err(_) => {
                        return Err(Error::parse(
                            file("node_labels"),
                            Some(i + 1),
                            format!("node label {v} was not seen in training (known: {values:?}); the model has no feature column for it"),
                        ))
                    }
                }
            }
            label_blocks.push((codes, values.len()));
            label_values.push(values);
        }
    } else if given.is_some_and(|e| !e.node_label_values.is_empty()) {
        return Err(Error::parse(file("node_labels"), None, "missing: the model was trained with one-hot node labels"));
    }
    let label_cols: usize = label_blocks.iter().map(|b| b.1).sum();
    let use_degree = match given {
        Some(e) => e.degree_cols > 0,
        None => match opts.degree_features {
            DegreeFeatures::Always => true,
            DegreeFeatures::Never => false,
            DegreeFeatures::Auto => attr_cols + label_cols == 0,
        },
    };
    let degrees: Vec<Vec<usize>> = if use_degree { graphs.iter().map(|g| g.out_degree()).collect() } else { Vec::new() };
    let degree_cols = match given {
        Some(e) => e.degree_cols,
        None if use_degree => degrees.iter().flatten().copied().max().unwrap_or(0) + 1,
        None => 0,
    };
    let f = attr_cols + label_cols + degree_cols;
    // Dense one-hot rows: n x f floats (many distinct node labels or a huge
    // degree make this large).
    let widest = if degree_cols > label_cols { file("A") } else { file("node_labels") };
    limits::check_alloc(&format!("node features ({n} nodes x {f} columns)"), &widest, (n as u64).saturating_mul(f as u64), 4)?;

    let class_values = match given {
        Some(e) => e.class_values.clone(),
        None => distinct(&raw.graph_labels),
    };
    let mut class_of = vec![0usize; num_graphs];
    for (g, v) in raw.graph_labels.iter().enumerate() {
        class_of[g] = class_values
            .binary_search(v)
            .map_err(|_| Error::parse(file("graph_labels"), Some(g + 1), format!("graph label {v} is not one of the model's classes {class_values:?}")))?;
    }
    let num_classes = class_values.len();
    let encoding = TuEncoding {
        attribute_cols: attr_cols,
        node_label_values: label_values,
        degree_cols,
        class_values: if raw.is_labelled() { class_values } else { Vec::new() },
        edge_label_values,
    };
    let samples: Vec<GraphSample> = graphs
        .into_iter()
        .enumerate()
        .map(|(g, graph)| {
            let members = &nodes[node_ptr[g]..node_ptr[g + 1]];
            let mut x = vec![0f32; members.len() * f];
            for (j, &i) in members.iter().enumerate() {
                let row = &mut x[j * f..(j + 1) * f];
                if let Some(t) = attrs {
                    row[..attr_cols].copy_from_slice(t.row(i));
                }
                let mut off = attr_cols;
                for (codes, width) in &label_blocks {
                    row[off + codes[i]] = 1.0;
                    off += width;
                }
                if use_degree {
                    row[off + degrees[g][j].min(degree_cols - 1)] = 1.0;
                }
            }
            GraphSample { graph, x, y: class_of[g] }
        })
        .collect();

    let folds_file = super::folds::find_folds_in(&raw.dir, &raw.name);
    let ds = GraphDataset { name: raw.name, graphs: samples, num_node_features: f, num_classes, source: raw.dir, folds_file };
    Ok((ds, encoding))
}

/// The sorted distinct values.
fn distinct(values: &[i64]) -> Vec<i64> {
    let mut d = values.to_vec();
    d.sort_unstable();
    d.dedup();
    d
}

/// Find the folder holding `<name>_A.txt`: `<data_dir>/<name>` or PyG's `<data_dir>/<name>/raw`.
fn tu_dir(data_dir: &Path, name: &str) -> Result<PathBuf> {
    let base = data_dir.join(name);
    let a = format!("{name}_A.txt");
    for dir in [base.clone(), base.join("raw")] {
        if dir.join(&a).is_file() {
            return Ok(dir);
        }
    }
    let msg = if base.is_dir() {
        format!("{} has no {a} (looked in raw/ too); the folder name must match the file prefix exactly (case-sensitive)", base.display())
    } else {
        format!("no folder {}; pass the dataset directory (--data-dir or AUTOGLM_DATA) or unzip the TU dataset there", base.display())
    };
    Err(Error::DatasetNotFound { name: name.to_string(), msg })
}

fn read_tu(data_dir: &Path, name: &str, want: Want) -> Result<TuRaw> {
    let dir = tu_dir(data_dir, name)?;
    let file = |suffix: &str| dir.join(format!("{name}_{suffix}.txt"));
    let fname = |suffix: &str| format!("{name}_{suffix}.txt");
    let ind_name = fname("graph_indicator");
    let lab_name = fname("graph_labels");

    // Graph indicator: n nodes, 1-based graph ids.
    let ind_path = file("graph_indicator");
    let ind = read_int_table(&ind_path, Some(1))?;
    let n = ind.data.len();
    // Graph labels: N graphs.
    let lab_path = file("graph_labels");
    if !lab_path.is_file() && file("graph_attributes").is_file() {
        return Err(Error::parse(
            file("graph_attributes"),
            None,
            format!("{name} has graph_attributes but no {lab_name}: regression targets are not supported by the TU classification loader"),
        ));
    }
    let labels = if !lab_path.is_file() && want.unlabelled_ok { None } else { Some(read_int_table(&lab_path, Some(1))?) };
    let num_graphs = match &labels {
        Some(l) => l.data.len(),
        None => {
            // Without labels the largest graph id is the number of graphs; every
            // graph needs a node, so it is at most the number of nodes (lines).
            let (at, max) = ind.data.iter().copied().enumerate().max_by_key(|&(i, v)| (v, std::cmp::Reverse(i))).unwrap_or((0, 0));
            if max as u64 > n as u64 {
                return Err(Error::parse(
                    &ind_path,
                    Some(at + 1),
                    format!(
                        "graph id {max} is out of range: the file lists {n} nodes, so there are at most {n} graphs; \
                         graph ids must be 1-based and consecutive (1..=number of graphs)"
                    ),
                ));
            }
            max.max(0) as usize
        }
    };
    let count_path = if labels.is_some() { &lab_path } else { &ind_path };
    limits::check_alloc("number of graphs", count_path, num_graphs as u64, 64)?;
    if num_graphs == 0 {
        return Err(match labels {
            Some(_) => Error::parse(&lab_path, None, "file is empty: a TU dataset needs one label line per graph"),
            None => Error::parse(&ind_path, None, "file is empty: a TU dataset needs one graph id per node"),
        });
    }
    let mut graph_indicator = Vec::with_capacity(n);
    for (i, &v) in ind.data.iter().enumerate() {
        if v < 1 {
            return Err(Error::parse(&ind_path, Some(i + 1), format!("graph id {v} is not valid: TU graph ids are 1-based")));
        }
        if labels.is_some() && v as u64 > num_graphs as u64 {
            return Err(Error::parse(
                &lab_path,
                Some(num_graphs + 1),
                format!(
                    "file ends after {num_graphs} lines, but line {} of {ind_name} puts node {} in graph {v}; \
                     every graph needs one label line (labels are missing, or the indicator is wrong)",
                    i + 1,
                    i + 1
                ),
            ));
        }
        graph_indicator.push(v as usize - 1);
    }

    // Edges: 1-based global ids, inside [1, n], never crossing graphs.
    let a_path = file("A");
    let a = read_int_table(&a_path, Some(2))?;
    let m = a.num_rows();
    let mut src = Vec::with_capacity(m);
    let mut dst = Vec::with_capacity(m);
    for (e, pair) in a.data.chunks_exact(2).enumerate() {
        let mut ids = [0usize; 2];
        for (k, &v) in pair.iter().enumerate() {
            if v < 1 {
                return Err(Error::parse(&a_path, Some(e + 1), format!("node id {v} is not valid: TU node ids are 1-based (1..={n})")));
            }
            if v as u64 > n as u64 {
                return Err(Error::parse(
                    &a_path,
                    Some(e + 1),
                    format!(
                        "node id {v} is out of range: {ind_name} lists {n} nodes (one per line); \
                         the graph indicator is truncated, or this edge is wrong"
                    ),
                ));
            }
            ids[k] = v as usize - 1;
        }
        let (s, d) = (ids[0], ids[1]);
        let (gs, gd) = (graph_indicator[s], graph_indicator[d]);
        if gs != gd {
            return Err(Error::parse(
                &a_path,
                Some(e + 1),
                format!(
                    "edge {} -> {} crosses graphs: {ind_name} puts node {} in graph {} and node {} in graph {}; \
                     TU edges must stay inside one graph (do the two files belong together?)",
                    s + 1,
                    d + 1,
                    s + 1,
                    gs + 1,
                    d + 1,
                    gd + 1
                ),
            ));
        }
        src.push(s);
        dst.push(d);
    }

    // Every graph needs at least one node.
    let mut count = vec![0usize; num_graphs];
    for &g in &graph_indicator {
        count[g] += 1;
    }
    if let Some(g) = count.iter().position(|&c| c == 0) {
        return Err(Error::parse(
            &ind_path,
            None,
            format!(
                "graph {} (line {} of {lab_name}) has no nodes in this file; \
                 the graph indicator is truncated, or {lab_name} has extra lines",
                g + 1,
                g + 1
            ),
        ));
    }

    let node_labels = optional(&file("node_labels"), want.node_labels, |p| {
        let t = read_int_table(p, None)?;
        check_rows(p, t.num_rows(), n, &format!("{ind_name} lists {n} nodes"), "node")?;
        Ok(t)
    })?;
    let node_attributes = optional(&file("node_attributes"), want.node_attributes, |p| {
        let t = read_float_table(p)?;
        check_rows(p, t.num_rows(), n, &format!("{ind_name} lists {n} nodes"), "node")?;
        Ok(t)
    })?;
    let edge_labels = optional(&file("edge_labels"), want.edge_labels, |p| {
        let t = read_int_table(p, None)?;
        check_rows(p, t.num_rows(), m, &format!("{} has {m} edge lines", fname("A")), "edge")?;
        Ok(t)
    })?;

    Ok(TuRaw {
        name: name.to_string(),
        dir,
        num_nodes: n,
        src,
        dst,
        graph_indicator,
        graph_labels: labels.map(|l| l.data).unwrap_or_default(),
        graphs: num_graphs,
        node_labels,
        node_attributes,
        edge_labels,
    })
}

/// Read an optional file when wanted and present.
fn optional<T>(path: &Path, want: bool, read: impl FnOnce(&Path) -> Result<T>) -> Result<Option<T>> {
    if want && path.is_file() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Check that a per-node (per-edge) file has exactly `expected` lines.
fn check_rows(path: &Path, got: usize, expected: usize, why: &str, per: &str) -> Result<()> {
    if got < expected {
        Err(Error::parse(path, Some(got + 1), format!("file ends after {got} lines, but {why}; one line per {per} is needed")))
    } else if got > expected {
        Err(Error::parse(path, Some(expected + 1), format!("file has {got} lines, but {why}; one line per {per} is needed (is one of the files truncated?)")))
    } else {
        Ok(())
    }
}

/// Split a line on commas, or on whitespace when it has no comma; fields are trimmed.
fn fields<'a>(line: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    if line.contains(',') {
        out.extend(line.split(',').map(|f| f.trim_matches(|c: char| c.is_ascii_whitespace())));
    } else {
        out.extend(line.split(|c: char| c.is_ascii_whitespace()).filter(|f| !f.is_empty()));
    }
}

/// Read a table with the same number of fields on every line (`Some(k)`: exactly `k`),
/// through the shared text reader (UTF-8, leading byte order mark stripped).
/// `parse` returns the value or why the field is not one.
fn read_table<T>(path: &Path, expect_cols: Option<usize>, what: &str, parse: impl Fn(&str) -> std::result::Result<T, String>) -> Result<Table<T>> {
    let content = text::read_text(path)?;
    let mut data = Vec::with_capacity(content.len() / 4);
    let mut num_cols = expect_cols;
    let mut buf = Vec::new();
    for item in text::record_lines(path, &content) {
        let (no, line) = item?;
        fields(line, &mut buf);
        let cols = *num_cols.get_or_insert(buf.len());
        if buf.len() != cols {
            let why = if expect_cols.is_some() {
                format!("expected {cols} comma-separated {what}s")
            } else {
                format!("expected {cols} comma-separated {what}s, as on line 1 (every line needs the same number)")
            };
            return Err(Error::parse(path, Some(no), format!("{why}, found {} in '{}'", buf.len(), text::truncate(line, 80))));
        }
        for (k, f) in buf.iter().enumerate() {
            match parse(f) {
                Ok(v) => data.push(v),
                Err(why) => return Err(Error::parse(path, Some(no), format!("field {} is '{}', {why}", k + 1, text::truncate(f, 40)))),
            }
        }
    }
    Ok(Table { num_cols: num_cols.unwrap_or(0), data })
}

fn read_int_table(path: &Path, expect_cols: Option<usize>) -> Result<Table<i64>> {
    read_table(path, expect_cols, "integer", |f| parse_int(f.as_bytes()).ok_or_else(|| "expected an integer".to_string()))
}

/// Floats, finite after the conversion to `f32` (`nan`, `inf` and `1e39` are errors).
fn read_float_table(path: &Path) -> Result<Table<f32>> {
    read_table(path, None, "number", |f| match f.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("not a finite number (NaN, infinite, or beyond the f32 range); must be finite".to_string()),
        Err(_) => Err("expected a number".to_string()),
    })
}

/// Parse an integer (`-12`, `+3`, `7`); integral floats such as `1.0` are accepted too.
fn parse_int(f: &[u8]) -> Option<i64> {
    let (neg, digits) = match f.first() {
        Some(b'-') => (true, &f[1..]),
        Some(b'+') => (false, &f[1..]),
        _ => (false, f),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            // Rare: "1.0" or "1e0" written by some exporters.
            let x: f64 = std::str::from_utf8(f).ok()?.parse().ok()?;
            return (x.fract() == 0.0 && x.abs() < 9.0e15).then_some(x as i64);
        }
        v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tu")
    }

    /// `$AUTOGLM_DATA`, else the shared folder next to the workspace; `None` (and a note) if absent.
    fn real_data(name: &str) -> Option<PathBuf> {
        crate::testing::shared_datasets(name)
    }

    /// Copy TINY into a temp dir, replacing file `suffix` with `content`.
    fn tiny_with(suffix: &str, content: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let dst = tmp.path().join("TINY");
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(fixtures().join("TINY")).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
        std::fs::write(dst.join(format!("TINY_{suffix}.txt")), content).unwrap();
        tmp
    }

    fn err_of(dir: &Path) -> String {
        load_tu(dir, "TINY", &TuOptions::default()).unwrap_err().to_string()
    }

    fn sorted_edges(g: &Graph) -> Vec<(usize, usize)> {
        let mut e: Vec<_> = g.edges().collect();
        e.sort();
        e
    }

    #[test]
    fn tiny_fixture() {
        let ds = load_tu(&fixtures(), "TINY", &TuOptions::default()).unwrap();
        assert_eq!(ds.name, "TINY");
        assert_eq!(ds.graphs.len(), 3);
        // graph labels 5, -1, 5 -> sorted distinct (-1, 5) -> 1, 0, 1
        assert_eq!(ds.graphs.iter().map(|s| s.y).collect::<Vec<_>>(), vec![1, 0, 1]);
        assert_eq!(ds.num_classes, 2);
        // node labels {2, 4, 7} -> 3 one-hot columns
        assert_eq!(ds.num_node_features, 3);
        let g0 = &ds.graphs[0];
        assert_eq!(g0.graph.num_nodes(), 3);
        // "1, 2" listed twice, and "2,3"/"3 , 2" with odd spacing
        assert_eq!(sorted_edges(&g0.graph), vec![(0, 1), (1, 0), (1, 2), (2, 1)]);
        assert_eq!(g0.x, vec![1., 0., 0., 0., 1., 0., 1., 0., 0.]);
        let g1 = &ds.graphs[1];
        assert_eq!(sorted_edges(&g1.graph), vec![(0, 1), (1, 0)]);
        assert_eq!(g1.x, vec![0., 1., 0., 0., 0., 1.]);
        let g2 = &ds.graphs[2];
        assert_eq!(g2.graph.num_nodes(), 4);
        // self loop 9, 9 removed (PyG remove_self_loops)
        assert_eq!(sorted_edges(&g2.graph), vec![(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]);
        for s in &ds.graphs {
            assert_eq!(s.x.len(), s.graph.num_nodes() * ds.num_node_features);
            assert!(s.graph.is_undirected());
        }
    }

    #[test]
    fn tiny_attributes_come_first_then_labels_then_degree() {
        let opts = TuOptions::default().with_node_attributes(true).with_degree_features(DegreeFeatures::Always);
        let ds = load_tu(&fixtures(), "TINY", &opts).unwrap();
        // 2 attributes + 3 labels + degrees 0..=2 (3 columns)
        assert_eq!(ds.num_node_features, 8);
        let x = &ds.graphs[0].x;
        // node 1: attrs (0.5, -1.25), label 2, degree 1
        assert_eq!(&x[..8], &[0.5, -1.25, 1., 0., 0., 0., 1., 0.]);
        // node 2: attrs (1, 2), label 4, degree 2
        assert_eq!(&x[8..16], &[1., 2., 0., 1., 0., 0., 0., 1.]);
    }

    #[test]
    fn degree_features_when_no_labels() {
        let opts = TuOptions::default().with_node_labels(false);
        let ds = load_tu(&fixtures(), "TINY", &opts).unwrap();
        assert_eq!(ds.num_node_features, 3); // max degree 2
        assert_eq!(ds.graphs[1].x, vec![0., 1., 0., 0., 1., 0.]);
        let never = opts.with_degree_features(DegreeFeatures::Never);
        let ds = load_tu(&fixtures(), "TINY", &never).unwrap();
        assert_eq!(ds.num_node_features, 0);
        assert!(ds.graphs.iter().all(|s| s.x.is_empty()));
    }

    #[test]
    fn raw_keeps_duplicates_and_edge_labels() {
        let raw = read_tu_raw(&fixtures(), "TINY").unwrap();
        assert_eq!(raw.num_nodes, 9);
        assert_eq!(raw.num_graphs(), 3);
        assert_eq!(raw.src.len(), 14);
        assert_eq!((raw.src[0], raw.dst[0]), (0, 1));
        assert_eq!(raw.edge_labels.as_ref().map(|t| t.num_rows()), Some(14));
        assert_eq!(raw.node_attributes.as_ref().map(|t| t.num_cols), Some(2));
        assert_eq!(raw.graph_labels, vec![5, -1, 5]);
    }

    #[test]
    fn edge_labels_become_edge_types_that_follow_their_edges() {
        let (ds, enc) = load_tu_encoded(&fixtures(), "TINY", &TuOptions::default().with_edge_labels(true), None).unwrap();
        let raw = read_tu_raw(&fixtures(), "TINY").unwrap();
        assert_eq!(enc.edge_label_values.len(), ds.graphs[0].graph.num_edge_types());
        // every stored edge's type is the raw label of that (src, dst) line
        let t = raw.edge_labels.as_ref().unwrap();
        let mut off = 0;
        for s in &ds.graphs {
            let types = s.graph.edge_types().expect("edge types");
            for ((u, v), &ty) in s.graph.edges().zip(types) {
                let line = (0..raw.src.len()).find(|&e| raw.src[e] == u + off && raw.dst[e] == v + off).unwrap();
                assert_eq!(enc.edge_label_values[ty as usize], t.data[line * t.num_cols]);
            }
            off += s.graph.num_nodes();
        }
        // off by default; the encoding carries the vocabulary to new graphs
        let (plain, _) = load_tu_encoded(&fixtures(), "TINY", &TuOptions::default(), None).unwrap();
        assert!(plain.graphs[0].graph.edge_types().is_none());
        let (again, _) = load_tu_encoded(&fixtures(), "TINY", &TuOptions::default().with_edge_labels(true), Some(&enc)).unwrap();
        assert_eq!(again.graphs[1].graph.edge_types(), ds.graphs[1].graph.edge_types());
    }

    #[test]
    fn non_contiguous_indicator_is_grouped() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("NC");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("NC_A.txt"), "1,3\n3,1\n2,4\n4,2\n").unwrap();
        std::fs::write(d.join("NC_graph_indicator.txt"), "1\n2\n1\n2\n").unwrap();
        std::fs::write(d.join("NC_graph_labels.txt"), "0\r\n1\r\n\r\n").unwrap();
        std::fs::write(d.join("NC_node_labels.txt"), "0\n1\n1\n0\n").unwrap();
        let ds = load_tu(tmp.path(), "NC", &TuOptions::default()).unwrap();
        assert_eq!(ds.graphs.len(), 2);
        for s in &ds.graphs {
            assert_eq!(sorted_edges(&s.graph), vec![(0, 1), (1, 0)]);
        }
        // graph 1 = global nodes 1, 3 (labels 0, 1); graph 2 = nodes 2, 4 (labels 1, 0)
        assert_eq!(ds.graphs[0].x, vec![1., 0., 0., 1.]);
        assert_eq!(ds.graphs[1].x, vec![0., 1., 1., 0.]);
    }

    #[test]
    fn truncated_indicator_is_an_error() {
        // TINY has 9 nodes; drop the last indicator line, so edges to node 9 are out of range.
        let tmp = tiny_with("graph_indicator", "1\n1\n1\n2\n2\n3\n3\n3\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_A.txt:"), "{e}");
        assert!(e.contains("node id 9 is out of range"), "{e}");
        assert!(e.contains("TINY_graph_indicator.txt lists 8 nodes"), "{e}");
        // A line number (the first edge touching node 9 is line 12).
        assert!(e.contains("TINY_A.txt:12:"), "{e}");
    }

    #[test]
    fn crossing_edge_is_an_error() {
        let a = std::fs::read_to_string(fixtures().join("TINY/TINY_A.txt")).unwrap();
        let tmp = tiny_with("A", &format!("{a}3, 4\n"));
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_A.txt:15:"), "{e}");
        assert!(e.contains("crosses graphs"), "{e}");
        assert!(e.contains("node 3 in graph 1 and node 4 in graph 2"), "{e}");
    }

    #[test]
    fn missing_labels_is_an_error() {
        let tmp = tiny_with("graph_labels", "5\n-1\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_graph_labels.txt:3:"), "{e}");
        assert!(e.contains("ends after 2 lines"), "{e}");
        assert!(e.contains("graph 3"), "{e}");
        // Extra labels: graph 4 has no nodes.
        let tmp = tiny_with("graph_labels", "5\n-1\n5\n5\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_graph_indicator.txt"), "{e}");
        assert!(e.contains("graph 4 (line 4 of TINY_graph_labels.txt) has no nodes"), "{e}");
    }

    #[test]
    fn bad_tokens_and_lengths_are_errors() {
        let tmp = tiny_with("graph_labels", "5\nabc\n5\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_graph_labels.txt:2:"), "{e}");
        assert!(e.contains("'abc', expected an integer"), "{e}");

        let tmp = tiny_with("A", "1, 2\n2; 1\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_A.txt:2:"), "{e}");

        let tmp = tiny_with("A", "1, 2\n0, 1\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_A.txt:2:") && e.contains("1-based"), "{e}");

        let tmp = tiny_with("A", "1, 2\n\n2, 1\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_A.txt:2:") && e.contains("blank line"), "{e}");

        let tmp = tiny_with("A", "1, 2, 3\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_A.txt:1:") && e.contains("expected 2"), "{e}");

        let tmp = tiny_with("graph_indicator", "1\n1\n1\n2\n2\n3\n3\n3\n0\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_graph_indicator.txt:9:") && e.contains("1-based"), "{e}");

        let tmp = tiny_with("node_labels", "2\n4\n2\n4\n7\n2\n2\n4\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_node_labels.txt:9:"), "{e}");
        assert!(e.contains("ends after 8 lines") && e.contains("lists 9 nodes"), "{e}");

        let tmp = tiny_with("node_labels", "2\n4\n2\n4\n7\n2\n2\n4\n7\n7\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_node_labels.txt:10:") && e.contains("has 10 lines"), "{e}");

        let tmp = tiny_with("node_attributes", "1,2\n1,2\n1,2\n1,2\n1,2\n1,2\n1,2\n1,2\n1\n");
        let opts = TuOptions::default().with_node_attributes(true);
        let e = load_tu(tmp.path(), "TINY", &opts).unwrap_err().to_string();
        assert!(e.contains("TINY_node_attributes.txt:9:") && e.contains("as on line 1"), "{e}");

        let tmp = tiny_with("node_attributes", "1,2\n1,2\n1,2\n1,2\n1,x\n1,2\n1,2\n1,2\n1,2\n");
        let e = load_tu(tmp.path(), "TINY", &opts).unwrap_err().to_string();
        assert!(e.contains("TINY_node_attributes.txt:5:") && e.contains("'x'"), "{e}");
        // Not read unless asked for.
        assert!(load_tu(tmp.path(), "TINY", &TuOptions::default()).is_ok());

        let tmp = tiny_with("edge_labels", "0\n");
        let e = read_tu_raw(tmp.path(), "TINY").unwrap_err().to_string();
        assert!(e.contains("TINY_edge_labels.txt:2:") && e.contains("14 edge lines"), "{e}");
    }

    #[test]
    fn never_panics_on_truncated_or_corrupted_files() {
        use rand::Rng;
        let tmp = tiny_with("A", &std::fs::read_to_string(fixtures().join("TINY/TINY_A.txt")).unwrap());
        let dir = tmp.path().join("TINY");
        let all = TuOptions::default().with_node_attributes(true).with_degree_features(DegreeFeatures::Always);
        let mut rng = crate::rng::seeded(0);
        for suffix in ["A", "graph_indicator", "graph_labels", "node_labels", "node_attributes", "edge_labels"] {
            let path = dir.join(format!("TINY_{suffix}.txt"));
            let orig = std::fs::read(&path).unwrap();
            let mut variants: Vec<Vec<u8>> = (0..orig.len()).map(|k| orig[..k].to_vec()).collect();
            for _ in 0..200 {
                let mut v = orig.clone();
                let k = rng.gen_range(0..v.len());
                v[k] = b"0123456789,- \n\r.x\xff"[rng.gen_range(0..18)];
                variants.push(v);
            }
            for v in variants {
                std::fs::write(&path, &v).unwrap();
                // Ok or Err, never a panic; a successful load is self-consistent.
                if let Ok(ds) = load_tu(tmp.path(), "TINY", &all) {
                    for s in &ds.graphs {
                        assert_eq!(s.x.len(), s.graph.num_nodes() * ds.num_node_features);
                        assert!(s.y < ds.num_classes);
                    }
                }
                let _ = read_tu_raw(tmp.path(), "TINY");
            }
            std::fs::write(&path, &orig).unwrap();
        }
    }

    #[test]
    fn huge_graph_id_without_labels_is_an_error() {
        let (_, enc) = load_tu_encoded(&fixtures(), "TINY", &TuOptions::default(), None).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        write_tu(tmp.path(), "BIG", &[1, 1, 99999999999], &[(1, 2), (2, 1)], &[2, 4, 7], None);
        let e = load_tu_encoded(tmp.path(), "BIG", &TuOptions::default(), Some(&enc)).unwrap_err().to_string();
        assert!(e.contains("BIG_graph_indicator.txt:3") && e.contains("graph id 99999999999"), "{e}");
        assert!(e.contains("at most 3 graphs"), "{e}");
        // With labels, the label file bounds the graphs.
        write_tu(tmp.path(), "BIGL", &[1, 1, 99999999999], &[(1, 2), (2, 1)], &[2, 4, 7], Some(&[5]));
        let e = load_tu(tmp.path(), "BIGL", &TuOptions::default()).unwrap_err().to_string();
        assert!(e.contains("BIGL_graph_labels.txt") && e.contains("graph 99999999999"), "{e}");
    }

    #[test]
    fn non_finite_attributes_are_errors() {
        let opts = TuOptions::default().with_node_attributes(true);
        let good = "1,2\n".repeat(9);
        for bad in ["nan", "inf", "-inf", "1e39", "NaN"] {
            let content = format!("1,2\n1, {bad}\n{}", "1,2\n".repeat(7));
            let tmp = tiny_with("node_attributes", &content);
            let e = load_tu(tmp.path(), "TINY", &opts).unwrap_err().to_string();
            assert!(e.contains("TINY_node_attributes.txt:2:") && e.contains("field 2") && e.contains("not a finite number"), "{bad}: {e}");
        }
        // 1e38 is finite in f32.
        let tmp = tiny_with("node_attributes", &good.replacen("1,2", "1,1e38", 1));
        assert!(load_tu(tmp.path(), "TINY", &opts).is_ok());
    }

    #[test]
    fn bom_and_crlf_give_identical_results() {
        let all = TuOptions::default().with_node_attributes(true).with_degree_features(DegreeFeatures::Always);
        let plain = load_tu(&fixtures(), "TINY", &all).unwrap();
        let tmp = tiny_with("A", "");
        let dir = tmp.path().join("TINY");
        for suffix in ["A", "graph_indicator", "graph_labels", "node_labels", "node_attributes"] {
            let orig = std::fs::read_to_string(fixtures().join(format!("TINY/TINY_{suffix}.txt"))).unwrap();
            let crlf = format!("\u{feff}{}", orig.replace('\n', "\r\n"));
            std::fs::write(dir.join(format!("TINY_{suffix}.txt")), crlf).unwrap();
        }
        let bom = load_tu(tmp.path(), "TINY", &all).unwrap();
        assert_eq!(bom.graphs.len(), plain.graphs.len());
        for (a, b) in plain.graphs.iter().zip(&bom.graphs) {
            assert_eq!((sorted_edges(&a.graph), &a.x, a.y), (sorted_edges(&b.graph), &b.x, b.y));
        }
    }

    #[test]
    fn control_characters_are_escaped_in_errors() {
        let tmp = tiny_with("graph_labels", "5\n\u{1b}[2J\n5\n");
        let e = err_of(tmp.path());
        assert!(e.contains("TINY_graph_labels.txt:2:") && e.contains("\\u{1b}[2J"), "{e}");
        assert!(!e.contains('\u{1b}'), "{e:?}");
    }

    #[test]
    fn missing_dataset_is_not_found() {
        let e = load_tu(&fixtures(), "NOPE", &TuOptions::default()).unwrap_err();
        assert!(matches!(e, Error::DatasetNotFound { .. }), "{e}");
    }

    #[test]
    fn parse_int_forms() {
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"+3"), Some(3));
        assert_eq!(parse_int(b"1.0"), Some(1));
        assert_eq!(parse_int(b"1.5"), None);
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b"99999999999999999999999"), None);
    }

    fn load_timed(dir: &Path, name: &str, opts: &TuOptions) -> GraphDataset {
        let t = Instant::now();
        let ds = load_tu(dir, name, opts).unwrap();
        eprintln!("load_tu {name}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        ds
    }

    fn totals(ds: &GraphDataset) -> (usize, usize) {
        let nodes = ds.graphs.iter().map(|s| s.graph.num_nodes()).sum();
        let edges = ds.graphs.iter().map(|s| s.graph.num_edges()).sum();
        (nodes, edges)
    }

    fn class_counts(ds: &GraphDataset) -> Vec<usize> {
        let mut c = vec![0; ds.num_classes];
        for s in &ds.graphs {
            c[s.y] += 1;
        }
        c
    }

    #[test]
    fn real_mutag() {
        let Some(dir) = real_data("MUTAG") else { return };
        let ds = load_timed(&dir, "MUTAG", &TuOptions::default());
        assert_eq!(ds.graphs.len(), 188);
        assert_eq!(totals(&ds), (3371, 7442));
        assert_eq!(ds.num_node_features, 7);
        assert_eq!(ds.num_classes, 2);
        assert_eq!(class_counts(&ds), vec![63, 125]);
        assert!(ds.graphs.iter().all(|s| s.graph.is_undirected()));
        // every node has exactly one label
        assert!(ds.graphs.iter().all(|s| s.x.iter().sum::<f32>() == s.graph.num_nodes() as f32));
        let raw = read_tu_raw(&dir, "MUTAG").unwrap();
        assert_eq!(raw.edge_labels.map(|t| t.num_rows()), Some(7442));
    }

    #[test]
    fn real_proteins() {
        let Some(dir) = real_data("PROTEINS") else { return };
        let ds = load_timed(&dir, "PROTEINS", &TuOptions::default());
        assert_eq!(ds.graphs.len(), 1113);
        assert_eq!(totals(&ds), (43471, 162088));
        assert_eq!(ds.num_node_features, 3);
        assert_eq!(class_counts(&ds), vec![663, 450]);
        let ds = load_timed(&dir, "PROTEINS", &TuOptions::default().with_node_attributes(true));
        assert_eq!(ds.num_node_features, 4);
        assert_eq!(ds.graphs[0].x[0], 23.0); // first attribute line " 23.000000"
    }

    #[test]
    fn real_enzymes() {
        let Some(dir) = real_data("ENZYMES") else { return };
        let ds = load_timed(&dir, "ENZYMES", &TuOptions::default());
        assert_eq!(ds.graphs.len(), 600);
        assert_eq!(ds.num_classes, 6);
        assert_eq!(class_counts(&ds), vec![100; 6]);
        assert_eq!(totals(&ds), (19580, 74564));
        assert_eq!(ds.num_node_features, 3);
        let ds = load_timed(&dir, "ENZYMES", &TuOptions::default().with_node_attributes(true));
        assert_eq!(ds.num_node_features, 21);
    }

    #[test]
    fn real_imdb_binary() {
        let Some(dir) = real_data("IMDB-BINARY") else { return };
        let ds = load_timed(&dir, "IMDB-BINARY", &TuOptions::default());
        assert_eq!(ds.graphs.len(), 1000);
        assert_eq!(totals(&ds), (19773, 193062));
        assert_eq!(class_counts(&ds), vec![500, 500]);
        // one-hot degree, max degree 135 as PyG's OneHotDegree(135) for IMDB-BINARY
        assert_eq!(ds.num_node_features, 136);
        for s in &ds.graphs {
            let deg = s.graph.out_degree();
            for (j, d) in deg.iter().enumerate() {
                let row = &s.x[j * 136..(j + 1) * 136];
                assert_eq!(row[*d], 1.0);
                assert_eq!(row.iter().sum::<f32>(), 1.0);
            }
        }
    }

    /// Write a TU dataset `name` into `dir` from per-node graph ids, edges
    /// (1-based), node labels and optional graph labels.
    fn write_tu(dir: &Path, name: &str, ind: &[usize], edges: &[(usize, usize)], labels: &[i64], graph_labels: Option<&[i64]>) {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let join = |v: Vec<String>| v.join("\n") + "\n";
        std::fs::write(d.join(format!("{name}_graph_indicator.txt")), join(ind.iter().map(|g| g.to_string()).collect())).unwrap();
        std::fs::write(d.join(format!("{name}_A.txt")), join(edges.iter().map(|(a, b)| format!("{a}, {b}")).collect())).unwrap();
        std::fs::write(d.join(format!("{name}_node_labels.txt")), join(labels.iter().map(|l| l.to_string()).collect())).unwrap();
        if let Some(g) = graph_labels {
            std::fs::write(d.join(format!("{name}_graph_labels.txt")), join(g.iter().map(|l| l.to_string()).collect())).unwrap();
        }
    }

    #[test]
    fn encoding_of_a_training_set_is_reused_for_new_graphs() {
        let (ds, enc) = load_tu_encoded(&fixtures(), "TINY", &TuOptions::default(), None).unwrap();
        assert_eq!(
            enc,
            TuEncoding { attribute_cols: 0, node_label_values: vec![vec![2, 4, 7]], degree_cols: 0, class_values: vec![-1, 5], edge_label_values: vec![] }
        );
        assert_eq!((ds.num_node_features, enc.num_features()), (3, 3));
        // new, unlabelled graphs whose nodes only use labels 4 and 7: their own
        // encoding would have two columns; the training one keeps three
        let tmp = tempfile::tempdir().unwrap();
        write_tu(tmp.path(), "NEW", &[1, 1, 2, 2], &[(1, 2), (2, 1), (3, 4), (4, 3)], &[7, 4, 4, 4], None);
        assert!(load_tu(tmp.path(), "NEW", &TuOptions::default()).is_err(), "labels are required without an encoding");
        let (new, new_enc) = load_tu_encoded(tmp.path(), "NEW", &TuOptions::default(), Some(&enc)).unwrap();
        assert_eq!((new.graphs.len(), new.num_node_features), (2, 3));
        assert_eq!(new.graphs[0].x, vec![0., 0., 1., 0., 1., 0.]);
        assert!(new_enc.class_values.is_empty(), "unlabelled");
        // a node label the model never saw names the file and line
        write_tu(tmp.path(), "ODD", &[1, 1], &[(1, 2), (2, 1)], &[2, 9], None);
        let err = load_tu_encoded(tmp.path(), "ODD", &TuOptions::default(), Some(&enc)).unwrap_err().to_string();
        assert!(err.contains("ODD_node_labels.txt:2") && err.contains("node label 9"), "{err}");
        // a graph label that is not a class
        write_tu(tmp.path(), "CLS", &[1, 1], &[(1, 2), (2, 1)], &[2, 4], Some(&[3]));
        let err = load_tu_encoded(tmp.path(), "CLS", &TuOptions::default(), Some(&enc)).unwrap_err().to_string();
        assert!(err.contains("graph label 3") && err.contains("[-1, 5]"), "{err}");
        // labelled graphs keep the training class order
        write_tu(tmp.path(), "LAB", &[1, 1, 2], &[(1, 2), (2, 1)], &[2, 4, 7], Some(&[5, -1]));
        let (lab, lab_enc) = load_tu_encoded(tmp.path(), "LAB", &TuOptions::default(), Some(&enc)).unwrap();
        assert_eq!(lab.graphs.iter().map(|g| g.y).collect::<Vec<_>>(), vec![1, 0]);
        assert_eq!(lab_enc.class_values, vec![-1, 5]);
        // degree features: widths from training, larger degrees in the last column
        let deg = TuOptions::default().with_node_labels(false);
        let (_, denc) = load_tu_encoded(&fixtures(), "TINY", &deg, None).unwrap();
        assert_eq!(denc.degree_cols, 3); // largest degree in TINY (self loops removed): 2
        write_tu(tmp.path(), "HUB", &[1, 1, 1, 1, 1], &[(1, 2), (1, 3), (1, 4), (1, 5), (2, 1), (3, 1), (4, 1), (5, 1)], &[0; 5], None);
        let (hub, _) = load_tu_encoded(tmp.path(), "HUB", &deg, Some(&denc)).unwrap();
        assert_eq!(hub.num_node_features, 3);
        assert_eq!(&hub.graphs[0].x[..3], &[0., 0., 1.], "degree 4 uses the last column");
        assert_eq!(&hub.graphs[0].x[3..6], &[0., 1., 0.]);
    }
}
