//! Planetoid citation graphs (Cora, CiteSeer, PubMed) from the raw pickles
//! `raw/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}` or from the
//! converted text files (`edges.csv`, `features.txt`, `labels.csv`,
//! `train.txt`, `val.txt`, `test.txt`).
//!
//! Processing follows PyTorch Geometric's `read_planetoid_data` exactly
//! (see `shared/datasets/README.md`, section 1.2):
//!
//! 1. `x = vstack(allx, tx)`, `y = argmax(vstack(ally, ty), axis=1)` (first
//!    maximum, so an all-zero label row gives class 0);
//! 2. gaps in `test.index` (CiteSeer) are padded: `tx`/`ty` grow to
//!    `max - min + 1` rows with zero rows at the missing ids, which then have
//!    an all-zero feature row, label 0 and are in no split;
//! 3. node `test_index[j]` gets row `j` of `tx` / `ty`
//!    (`x[test_index] = x[sorted(test_index)]`);
//! 4. edges: every `(key, v)` of `graph`, self loops removed, duplicates
//!    removed (PyG `remove_self_loops` + `coalesce`);
//! 5. public split: train `0..len(y)`, val `len(y)..len(y)+500`, test the ids
//!    of `test.index` (sorted).
//!
//! Deviations: padding is applied whenever `test.index` has gaps (PyG does it
//! only for a dataset named "citeseer"; for Cora and PubMed, whose ids are
//! contiguous, this changes nothing); the validation range is clipped to
//! `len(allx)` for tiny graphs (PyG would fail).
//!
//! **Missing features.** When a dataset has no features (PubMed ships without
//! `ind.pubmed.allx` and without `features.txt`), `x` is the one-hot in-degree
//! with 64 buckets ([`FeatureFallback::PLANETOID`]: column
//! `min(in_degree, 63)`), and [`PlanetoidInfo::features_available`] is
//! `false`. Nothing is printed.

use super::features::FeatureFallback;
use super::pickle::{self, NdArray, Pickle, PickleError};
use super::text::{self, numbered_lines};
use super::{Features, NodeDataset, Split};
use crate::graph::{CsrMatrix, Graph};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The Planetoid datasets this loader knows by name (any folder with the same
/// layout loads too).
pub const PLANETOID_NAMES: [&str; 3] = ["cora", "citeseer", "pubmed"];

/// Size of the public validation set.
const NUM_VAL: usize = 500;

/// Which files to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlanetoidSource {
    /// The converted text files when `edges.csv` and `labels.csv` exist, else the raw pickles.
    #[default]
    Auto,
    /// The raw pickles under `raw/`.
    Raw,
    /// The converted text files (features from `features.txt`, else from the
    /// raw pickles where present, else the fallback).
    Converted,
}

/// Where the node features came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureOrigin {
    /// `features.txt`.
    ConvertedFile,
    /// `raw/ind.<name>.allx` and `raw/ind.<name>.tx`.
    RawFiles,
    /// Not available; a stand-in was built.
    Fallback(FeatureFallback),
}

/// What [`load_planetoid_with_info`] found besides the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanetoidInfo {
    /// The files actually read ([`PlanetoidSource::Raw`] or [`PlanetoidSource::Converted`]).
    pub source: PlanetoidSource,
    /// Whether `x` holds the dataset's real features.
    pub features_available: bool,
    /// Where `x` came from.
    pub feature_origin: FeatureOrigin,
    /// Nodes added as padding for gaps in `test.index` (0 unless read from raw files with gaps).
    pub num_padded: usize,
    /// The dataset folder.
    pub dir: PathBuf,
}

/// Find `<data_dir>/<name>/`, matching the folder name in any letter case.
pub fn find_planetoid_dir(data_dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = data_dir.join(name);
    if exact.is_dir() {
        return Some(exact);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|f| f.eq_ignore_ascii_case(name)))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Load a Planetoid dataset from `<data_dir>/<name>/` (folder name in any letter case).
///
/// Features are [`Features::Sparse`]; the graph holds both directions of every
/// citation, without self loops or duplicates. Where the dataset has no
/// features (PubMed) `x` is the 64-bucket one-hot in-degree; use
/// [`load_planetoid_with_info`] to tell.
///
/// ```no_run
/// use autoglm::data::planetoid::{load_planetoid, PlanetoidSource};
/// let cora = load_planetoid("../shared/datasets".as_ref(), "cora", PlanetoidSource::Auto).unwrap();
/// assert_eq!(cora.graph.num_edges(), 10_556);
/// ```
///
/// # Errors
/// [`Error::DatasetNotFound`] for a missing folder or file; [`Error::Parse`]
/// (naming the file, and the line for text files) for malformed content;
/// [`Error::Inconsistent`] when files disagree about sizes;
/// [`Error::IndexOutOfRange`] for edges naming a node that does not exist.
pub fn load_planetoid(data_dir: &Path, name: &str, source: PlanetoidSource) -> Result<NodeDataset> {
    load_planetoid_with_info(data_dir, name, source).map(|(d, _)| d)
}

/// [`load_planetoid`], also returning what was found ([`PlanetoidInfo`]).
///
/// # Errors
/// As [`load_planetoid`].
pub fn load_planetoid_with_info(data_dir: &Path, name: &str, source: PlanetoidSource) -> Result<(NodeDataset, PlanetoidInfo)> {
    let dir = find_planetoid_dir(data_dir, name).ok_or_else(|| Error::DatasetNotFound {
        name: name.to_string(),
        msg: format!(
            "no folder '{name}' (any letter case) in {}; point --data-dir or AUTOGLM_DATA at the datasets folder, which must hold {}",
            data_dir.display(),
            where_to_put(&data_dir.join(name), name)
        ),
    })?;
    let converted = dir.join("edges.csv").is_file() && dir.join("labels.csv").is_file();
    let source = match source {
        PlanetoidSource::Auto if converted => PlanetoidSource::Converted,
        PlanetoidSource::Auto => PlanetoidSource::Raw,
        s => s,
    };
    let lname = name.to_lowercase();
    match source {
        PlanetoidSource::Converted => load_converted(&dir, &lname),
        _ => load_raw(&dir, &lname),
    }
}

/// What a Planetoid folder must hold, for error messages.
pub(crate) fn where_to_put(dir: &Path, name: &str) -> String {
    format!(
        "either the Planetoid raw files ind.{name}.{{x,tx,allx,y,ty,ally,graph,test.index}} in {} (from github.com/kimiyoung/planetoid, folder data/), or the converted edges.csv, labels.csv, features.txt (optional), train.txt, val.txt, test.txt in {}",
        dir.join("raw").display(),
        dir.display()
    )
}

/// Paths of the raw files of one dataset.
struct RawFiles {
    dir: PathBuf,
    prefix: String,
}

impl RawFiles {
    fn new(dataset_dir: &Path, name: &str) -> RawFiles {
        let dir = dataset_dir.join("raw");
        // File names are `ind.<name>.<ext>` with the name as the authors spelled it
        // (lower case); accept any case.
        let prefix = std::fs::read_dir(&dir)
            .ok()
            .and_then(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .filter_map(|f| f.strip_prefix("ind.").and_then(|r| r.strip_suffix(".graph")).map(str::to_string))
                    .find(|p| p.eq_ignore_ascii_case(name))
            })
            .unwrap_or_else(|| name.to_string());
        RawFiles { dir, prefix }
    }

    fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("ind.{}.{ext}", self.prefix))
    }

    fn has(&self, ext: &str) -> bool {
        self.path(ext).is_file()
    }

    fn require(&self, ext: &str, name: &str) -> Result<PathBuf> {
        let p = self.path(ext);
        if p.is_file() {
            Ok(p)
        } else {
            let dataset_dir = self.dir.parent().unwrap_or(&self.dir);
            Err(Error::DatasetNotFound {
                name: name.to_string(),
                msg: format!("missing raw file {}; put {}", p.display(), where_to_put(dataset_dir, &self.prefix)),
            })
        }
    }
}

fn pickle_error(path: &Path, e: PickleError) -> Error {
    Error::parse(
        path,
        None,
        format!("{e}; expected a Python-2 pickle (protocol 2) as in the Planetoid raw data; the file may be truncated or corrupt: download it again"),
    )
}

/// A pickle whose structure is fine but whose values are not (NaN, sizes).
fn value_error(path: &Path, msg: String) -> Error {
    Error::parse(path, None, format!("{msg}; the file is corrupt or not a Planetoid file: download it again"))
}

fn load_pickle(path: &Path) -> Result<Pickle> {
    let bytes = text::read_bytes(path)?;
    pickle::parse(&bytes).map_err(|e| pickle_error(path, e))
}

fn load_csr(path: &Path) -> Result<CsrMatrix> {
    let p = load_pickle(path)?;
    let m = p.to_csr(p.root()).map_err(|e| pickle_error(path, e))?;
    // Every value finite (after the conversion to f32): name the element and its row.
    if let Some(k) = m.values.iter().position(|v| !v.is_finite()) {
        let row = m.row_ptr.partition_point(|&p| p <= k) - 1;
        return Err(value_error(path, format!("feature value {} (data element {k}: row {row}, column {}) is not a finite number", m.values[k], m.col_idx[k])));
    }
    Ok(m)
}

fn load_array(path: &Path) -> Result<NdArray> {
    let p = load_pickle(path)?;
    p.to_ndarray(p.root()).map_err(|e| pickle_error(path, e))
}

/// One-hot label rows: `(rows, num_classes, argmax per row)`.
fn load_label_rows(path: &Path) -> Result<(usize, usize, Vec<usize>)> {
    let a = load_array(path)?;
    let (rows, cols) = a.dims2().map_err(|e| pickle_error(path, e))?;
    let vals = a.to_f32();
    if let Some(k) = vals.iter().position(|v| !v.is_finite()) {
        return Err(value_error(path, format!("label value {} (element {k}: row {}, column {}) is not a finite number", vals[k], k / cols, k % cols)));
    }
    // One column per class: more classes than labelled rows cannot be real.
    if cols > rows.max(1) + 1024 {
        return Err(value_error(path, format!("the one-hot label array has shape ({rows}, {cols}): {cols} classes for {rows} rows")));
    }
    let labels = (0..rows)
        .map(|r| {
            let row = &vals[r * cols..(r + 1) * cols];
            // First maximum, as torch's max(dim=1) returns for these rows.
            let mut best = 0;
            for (c, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = c;
                }
            }
            best
        })
        .collect();
    Ok((rows, cols, labels))
}

/// Where each final node's feature / label row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowSource {
    /// Row of `allx` / `ally`.
    All(usize),
    /// Row of `tx` / `ty`.
    Test(usize),
    /// Padding for a gap in `test.index`.
    Zero,
}

/// Rules 1-3: the row source of every node.
struct Layout {
    rows: Vec<RowSource>,
    test_index: Vec<usize>,
    num_padded: usize,
}

fn read_test_index(path: &Path) -> Result<(String, Vec<usize>)> {
    let t = text::read_text(path)?;
    let ids = text::parse_id_list(path, &t)?;
    if ids.is_empty() {
        return Err(Error::parse(path, None, "no test ids; expected one node id per line"));
    }
    Ok((t, ids))
}

/// `rows_of`: the file whose rows are the non-test nodes (`ally`, or `allx`), for messages.
fn layout(n_all: usize, test_index: Vec<usize>, path: &Path, text_of: &str, rows_of: &Path) -> Result<Layout> {
    let mut sorted = test_index.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        let dup = w[0];
        let line = numbered_lines(text_of).filter(|(_, l)| l.trim().parse::<usize>() == Ok(dup)).nth(1).map(|(n, _)| n);
        return Err(Error::parse(path, line, format!("test id {dup} appears twice")));
    }
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    if min < n_all {
        // Ids below len(allx) are the rows of allx (train and validation nodes).
        let line = numbered_lines(text_of).find(|(_, l)| l.trim().parse::<usize>() == Ok(min)).map(|(n, _)| n);
        return Err(Error::parse(
            path,
            line,
            format!(
                "test id {min} is below {n_all}, the number of allx / ally rows: ids 0..{} are the non-test nodes (train and validation), so test ids must be >= {n_all}",
                n_all.saturating_sub(1)
            ),
        ));
    }
    if min > n_all {
        // Test rows follow the allx rows: x = vstack(allx, tx), so the smallest test id is len(allx).
        let line = numbered_lines(text_of).find(|(_, l)| l.trim().parse::<usize>() == Ok(min)).map(|(n, _)| n);
        return Err(Error::parse(
            path,
            line,
            format!(
                "the smallest test id is {min}, but {} has {n_all} rows, so the test nodes must start at id {n_all} (test ids follow the non-test nodes 0..{}); one of the two files is wrong",
                text::file_name(rows_of),
                n_all.saturating_sub(1)
            ),
        ));
    }
    let ext_len = max - min + 1;
    // CiteSeer pads 15 ids for 1,000 test rows; refuse absurd spans instead of allocating them.
    if ext_len > 16 * sorted.len() + 1024 {
        return Err(Error::parse(
            path,
            None,
            format!("the {} test ids span {min}..={max}; padding the gaps would add {} empty nodes; check the file", sorted.len(), ext_len - sorted.len()),
        ));
    }
    let num_nodes = n_all + ext_len;
    text::check_ids(path, text_of, &test_index, num_nodes)?;
    // tx_ext[sorted[j] - min] = tx[j]; x = cat(allx, tx_ext).
    let mut base: Vec<RowSource> = (0..n_all).map(RowSource::All).chain(std::iter::repeat_n(RowSource::Zero, ext_len)).collect();
    for (j, &s) in sorted.iter().enumerate() {
        base[n_all + s - min] = RowSource::Test(j);
    }
    // x[test_index] = x[sorted_test_index].
    let mut rows = base.clone();
    for (k, &t) in test_index.iter().enumerate() {
        rows[t] = base[sorted[k]];
    }
    Ok(Layout { rows, test_index, num_padded: ext_len - sorted.len() })
}

/// Stack the feature rows in layout order.
fn assemble_features(layout: &Layout, allx: &CsrMatrix, tx: &CsrMatrix) -> CsrMatrix {
    let mut row_ptr = Vec::with_capacity(layout.rows.len() + 1);
    row_ptr.push(0);
    let mut col_idx = Vec::with_capacity(allx.nnz() + tx.nnz());
    let mut values = Vec::with_capacity(allx.nnz() + tx.nnz());
    for &r in &layout.rows {
        let (m, i) = match r {
            RowSource::All(i) => (allx, i),
            RowSource::Test(j) => (tx, j),
            RowSource::Zero => {
                row_ptr.push(col_idx.len());
                continue;
            }
        };
        let range = m.row_ptr[i]..m.row_ptr[i + 1];
        col_idx.extend_from_slice(&m.col_idx[range.clone()]);
        values.extend_from_slice(&m.values[range]);
        row_ptr.push(col_idx.len());
    }
    CsrMatrix { num_rows: layout.rows.len(), num_cols: allx.num_cols, row_ptr, col_idx, values }
}

/// Load `allx` and `tx` and stack them (rules 1-3). `n_test` is `len(test.index)`.
fn raw_features(files: &RawFiles, layout: &Layout, n_all: usize) -> Result<CsrMatrix> {
    let allx_path = files.path("allx");
    let tx_path = files.path("tx");
    let allx = load_csr(&allx_path)?;
    let tx = load_csr(&tx_path)?;
    if allx.num_rows != n_all {
        return Err(Error::inconsistent(
            format!("{}: rows (one per non-test node, as in {})", allx_path.display(), text::file_name(&files.path("ally"))),
            n_all,
            allx.num_rows,
        ));
    }
    if tx.num_rows != layout.test_index.len() {
        return Err(Error::inconsistent(
            format!("{}: rows (one per line of {})", tx_path.display(), text::file_name(&files.path("test.index"))),
            layout.test_index.len(),
            tx.num_rows,
        ));
    }
    if tx.num_cols != allx.num_cols {
        return Err(Error::inconsistent(format!("{}: feature columns (as in {})", tx_path.display(), text::file_name(&allx_path)), allx.num_cols, tx.num_cols));
    }
    Ok(assemble_features(layout, &allx, &tx))
}

fn load_raw(dir: &Path, name: &str) -> Result<(NodeDataset, PlanetoidInfo)> {
    let files = RawFiles::new(dir, name);
    if !files.dir.is_dir() {
        return Err(Error::DatasetNotFound {
            name: name.to_string(),
            msg: format!("{} has neither raw/ nor edges.csv + labels.csv; put {}", dir.display(), where_to_put(dir, name)),
        });
    }
    let y_path = files.require("y", name)?;
    let ty_path = files.require("ty", name)?;
    let ally_path = files.require("ally", name)?;
    let graph_path = files.require("graph", name)?;
    let ti_path = files.require("test.index", name)?;

    let (n_train, _, _) = load_label_rows(&y_path)?;
    let (n_all, num_classes, ally) = load_label_rows(&ally_path)?;
    let (n_test, ty_classes, ty) = load_label_rows(&ty_path)?;
    if ty_classes != num_classes {
        return Err(Error::inconsistent(format!("{}: label columns (as in {})", ty_path.display(), text::file_name(&ally_path)), num_classes, ty_classes));
    }
    let (ti_text, test_index) = read_test_index(&ti_path)?;
    if n_test != test_index.len() {
        return Err(Error::inconsistent(format!("{}: rows (one per line of {})", ty_path.display(), ti_path.display()), test_index.len(), n_test));
    }
    let lay = layout(n_all, test_index, &ti_path, &ti_text, &ally_path)?;
    let num_nodes = lay.rows.len();
    let y: Vec<usize> = lay
        .rows
        .iter()
        .map(|r| match *r {
            RowSource::All(i) => ally[i],
            RowSource::Test(j) => ty[j],
            RowSource::Zero => 0,
        })
        .collect();

    let origin = format!(
        "{} rows of {} and the test ids {}..={} of {}",
        n_all,
        text::file_name(&ally_path),
        lay.test_index.iter().min().copied().unwrap_or(0),
        lay.test_index.iter().max().copied().unwrap_or(0),
        text::file_name(&ti_path)
    );
    let graph = raw_graph(&graph_path, num_nodes, &origin)?;

    let (x, origin) = if files.has("allx") && files.has("tx") {
        (Features::Sparse(raw_features(&files, &lay, n_all)?), FeatureOrigin::RawFiles)
    } else {
        (FeatureFallback::PLANETOID.build(&graph), FeatureOrigin::Fallback(FeatureFallback::PLANETOID))
    };

    if n_train > n_all {
        return Err(Error::inconsistent(format!("{}: rows (at most the rows of ally)", y_path.display()), n_all, n_train));
    }
    let mut test = lay.test_index.clone();
    test.sort_unstable();
    let split = Split { train: (0..n_train).collect(), val: (n_train..(n_train + NUM_VAL).min(n_all)).collect(), test };
    let info = PlanetoidInfo {
        source: PlanetoidSource::Raw,
        features_available: !matches!(origin, FeatureOrigin::Fallback(_)),
        feature_origin: origin,
        num_padded: lay.num_padded,
        dir: dir.to_path_buf(),
    };
    let notes = fallback_notes(&info.feature_origin, name, dir);
    Ok((NodeDataset { name: name.to_string(), graph, x, y, num_classes, split: Some(split), source: dir.to_path_buf(), notes }, info))
}

/// `origin` says where `num_nodes` came from (for the out-of-range message).
fn raw_graph(path: &Path, num_nodes: usize, origin: &str) -> Result<Graph> {
    let p = load_pickle(path)?;
    let adj = p.to_adjacency(p.root()).map_err(|e| pickle_error(path, e))?;
    let total: usize = adj.iter().map(|(_, l)| l.len()).sum();
    let (mut src, mut dst) = (Vec::with_capacity(total), Vec::with_capacity(total));
    for (k, list) in &adj {
        let key = usize::try_from(*k).map_err(|_| Error::parse(path, None, format!("graph key {k} is negative; node ids must be >= 0")))?;
        for &v in list {
            let v = usize::try_from(v).map_err(|_| Error::parse(path, None, format!("graph[{key}] lists the negative id {v}; node ids must be >= 0")))?;
            if key.max(v) >= num_nodes {
                return Err(Error::parse(
                    path,
                    None,
                    format!(
                        "node {} of the edge graph[{key}] -> {v} is out of range: the dataset has {num_nodes} nodes ({origin}), so ids must be below {num_nodes}; the graph or the test index is wrong",
                        key.max(v)
                    ),
                ));
            }
            src.push(key);
            dst.push(v);
        }
    }
    Graph::builder(num_nodes).edge_lists(src, dst).remove_self_loops(true).dedup(true).context(path.display().to_string()).build()
}

/// Parse `labels.csv` (`node,label`, one row per node `0..N-1`).
fn read_labels(path: &Path) -> Result<(Vec<usize>, usize)> {
    let t = text::read_text(path)?;
    let mut rows: Vec<(usize, usize, usize)> = Vec::new();
    for (ln, line) in numbered_lines(&t) {
        if line.trim().is_empty() || (rows.is_empty() && text::is_header(line)) {
            continue;
        }
        let mut f = text::fields(line);
        let node = f.next().unwrap_or("");
        let label = f.next().ok_or_else(|| Error::parse(path, Some(ln), "expected 'node,label'"))?;
        rows.push((text::parse_field(node, path, ln, "a node id")?, text::parse_field(label, path, ln, "a class id (non-negative integer)")?, ln));
    }
    let n = rows.len();
    if n == 0 {
        return Err(Error::parse(path, None, "no label rows; expected 'node,label' for every node"));
    }
    let mut y = vec![usize::MAX; n];
    for &(node, label, ln) in &rows {
        if node >= n {
            return Err(Error::parse(path, Some(ln), format!("node {node} is out of range: the file has {n} rows, so ids must be 0..{}", n - 1)));
        }
        if y[node] != usize::MAX {
            return Err(Error::parse(path, Some(ln), format!("node {node} has a second label row")));
        }
        // Class ids are 0..C-1 with C classes among n nodes: a larger id is a
        // wrong value, and would make C (the model's output width) absurd.
        if label >= n {
            return Err(Error::parse(
                path,
                Some(ln),
                format!("class id {label} of node {node} is out of range: with {n} nodes, class ids must be 0-based and below {n} (0..C-1 for C classes)"),
            ));
        }
        y[node] = label;
    }
    let num_classes = y.iter().max().map_or(0, |m| m + 1);
    Ok((y, num_classes))
}

fn load_converted(dir: &Path, name: &str) -> Result<(NodeDataset, PlanetoidInfo)> {
    let missing =
        |f: &str| Error::DatasetNotFound { name: name.to_string(), msg: format!("missing {}; put {}", dir.join(f).display(), where_to_put(dir, name)) };
    let labels_path = dir.join("labels.csv");
    let edges_path = dir.join("edges.csv");
    if !labels_path.is_file() {
        return Err(missing("labels.csv"));
    }
    if !edges_path.is_file() {
        return Err(missing("edges.csv"));
    }
    let (y, num_classes) = read_labels(&labels_path)?;
    let num_nodes = y.len();
    let edges = text::parse_edge_csv(&edges_path, &text::read_text(&edges_path)?, false)?;
    edges.check_range(&edges_path, num_nodes, &format!("labels.csv has {num_nodes} rows, one per node"))?;
    let graph =
        Graph::builder(num_nodes).edge_lists(edges.src, edges.dst).remove_self_loops(true).dedup(true).context(edges_path.display().to_string()).build()?;

    let feat_path = dir.join("features.txt");
    let files = RawFiles::new(dir, name);
    let (x, origin, num_padded) = if feat_path.is_file() {
        let m = text::parse_col_value(&feat_path, &text::read_text(&feat_path)?)?;
        if m.num_rows != num_nodes {
            return Err(Error::inconsistent(format!("{}: rows (one per node of {})", feat_path.display(), labels_path.display()), num_nodes, m.num_rows));
        }
        (Features::Sparse(m), FeatureOrigin::ConvertedFile, 0)
    } else if files.has("allx") && files.has("tx") && files.has("test.index") {
        let ti_path = files.path("test.index");
        let allx_rows = load_csr(&files.path("allx"))?.num_rows;
        let (ti_text, test_index) = read_test_index(&ti_path)?;
        let lay = layout(allx_rows, test_index, &ti_path, &ti_text, &files.path("allx"))?;
        if lay.rows.len() != num_nodes {
            return Err(Error::inconsistent(format!("{}: nodes implied by raw allx + test.index", dir.display()), num_nodes, lay.rows.len()));
        }
        let m = raw_features(&files, &lay, allx_rows)?;
        (Features::Sparse(m), FeatureOrigin::RawFiles, lay.num_padded)
    } else {
        (FeatureFallback::PLANETOID.build(&graph), FeatureOrigin::Fallback(FeatureFallback::PLANETOID), 0)
    };

    let (tr, va, te) = (dir.join("train.txt"), dir.join("val.txt"), dir.join("test.txt"));
    let split = if tr.is_file() && va.is_file() && te.is_file() {
        let s = Split { train: text::read_split_ids(&tr, num_nodes)?, val: text::read_split_ids(&va, num_nodes)?, test: text::read_split_ids(&te, num_nodes)? };
        text::check_disjoint(&[(&tr, &s.train), (&va, &s.val), (&te, &s.test)], num_nodes)?;
        Some(s)
    } else if let Some(present) = [&tr, &va, &te].into_iter().find(|p| p.is_file()) {
        // Some split files but not all: never silently drop the split.
        let missing: Vec<String> = [&tr, &va, &te].into_iter().filter(|p| !p.is_file()).map(|p| p.display().to_string()).collect();
        return Err(Error::parse(
            present,
            None,
            format!(
                "the split is incomplete: {} missing; give train.txt, val.txt and test.txt together (an empty file is an empty part), or none",
                missing.join(" and ")
            ),
        ));
    } else {
        None
    };
    let info = PlanetoidInfo {
        source: PlanetoidSource::Converted,
        features_available: !matches!(origin, FeatureOrigin::Fallback(_)),
        feature_origin: origin,
        num_padded,
        dir: dir.to_path_buf(),
    };
    let notes = fallback_notes(&info.feature_origin, name, dir);
    Ok((NodeDataset { name: name.to_string(), graph, x, y, num_classes, split, source: dir.to_path_buf(), notes }, info))
}

fn fallback_notes(origin: &FeatureOrigin, name: &str, dir: &Path) -> Vec<String> {
    match origin {
        FeatureOrigin::Fallback(f) => vec![format!(
            "{name}: no node features found in {} (neither raw/ind.{name}.allx and .tx nor features.txt); using the stand-in {f:?} features",
            dir.display()
        )],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::super::pickle::writer;
    use super::*;

    /// A temporary folder holding a copy of the shared Cora raw files (and that `raw` folder).
    fn copy_cora_raw(data: &Path) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let raw = tmp.path().join("cora/raw");
        std::fs::create_dir_all(&raw).unwrap();
        for ext in ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"] {
            std::fs::copy(data.join(format!("cora/raw/ind.cora.{ext}")), raw.join(format!("ind.cora.{ext}"))).unwrap();
        }
        (tmp, raw)
    }

    fn shared() -> Option<PathBuf> {
        crate::testing::shared_datasets("cora")
    }

    /// A CiteSeer-style toy: 4 non-test nodes, test ids [7, 4, 5] (gap at 6),
    /// 5 features, 3 classes, a duplicate edge and a self loop.
    struct Tiny {
        allx: Vec<f32>,
        tx: Vec<f32>,
        ally: Vec<usize>,
        ty: Vec<usize>,
    }

    fn tiny() -> Tiny {
        Tiny {
            allx: vec![
                1.0, 0.0, 0.0, 0.0, 0.0, //
                0.0, 2.0, 0.0, 0.0, 0.0, //
                0.0, 0.0, 3.0, 0.0, 0.0, //
                0.0, 0.0, 0.0, 4.0, 0.5,
            ],
            tx: vec![
                0.0, 0.0, 0.0, 0.0, 7.0, //
                5.0, 0.0, 0.0, 0.0, 5.0, //
                0.0, 6.0, 0.0, 6.0, 0.0,
            ],
            ally: vec![0, 1, 2, 1],
            ty: vec![2, 0, 1],
        }
    }

    fn write_tiny_raw(root: &Path, folder: &str) -> PathBuf {
        let t = tiny();
        let raw = root.join(folder).join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        let w = |ext: &str, b: Vec<u8>| std::fs::write(raw.join(format!("ind.tiny.{ext}")), b).unwrap();
        w("x", writer::csr(2, 5, &t.allx[..10]));
        w("allx", writer::csr(4, 5, &t.allx));
        w("tx", writer::csr(3, 5, &t.tx));
        w("y", writer::one_hot(&t.ally[..2], 3));
        w("ally", writer::one_hot(&t.ally, 3));
        w("ty", writer::one_hot(&t.ty, 3));
        w(
            "graph",
            writer::adjacency(&[(0, vec![1, 1, 0]), (1, vec![0, 2]), (2, vec![1]), (3, vec![7]), (4, vec![5]), (5, vec![4]), (6, vec![]), (7, vec![3])]),
        );
        std::fs::write(raw.join("ind.tiny.test.index"), "7\n4\n5\n").unwrap();
        root.join(folder)
    }

    fn expected_tiny_x() -> Vec<f32> {
        let t = tiny();
        let mut x = t.allx.clone();
        x.extend_from_slice(&t.tx[5..10]); // node 4 = tx[1]
        x.extend_from_slice(&t.tx[10..15]); // node 5 = tx[2]
        x.extend_from_slice(&[0.0; 5]); // node 6 = padding
        x.extend_from_slice(&t.tx[0..5]); // node 7 = tx[0]
        x
    }

    fn write_tiny_converted(dir: &Path, with_features: bool) {
        std::fs::write(dir.join("edges.csv"), "src,dst\n0,1\n1,0\n1,2\n2,1\n3,7\n4,5\n5,4\n7,3\n").unwrap();
        std::fs::write(dir.join("labels.csv"), "node,label\n0,0\n1,1\n2,2\n3,1\n4,0\n5,1\n6,0\n7,2\n").unwrap();
        std::fs::write(dir.join("train.txt"), "0\n1\n").unwrap();
        std::fs::write(dir.join("val.txt"), "2\n3\n").unwrap();
        std::fs::write(dir.join("test.txt"), "4\n5\n7\n").unwrap();
        if with_features {
            std::fs::write(dir.join("features.txt"), "8 5 10\n0:1\n1:2\n2:3\n3:4 4:0.5\n0:5 4:5\n1:6 3:6\n\n4:7\n").unwrap();
        }
    }

    #[test]
    fn tiny_raw_pads_gaps_and_reorders_test_rows() {
        let tmp = tempfile::tempdir().unwrap();
        write_tiny_raw(tmp.path(), "Tiny");
        let (d, info) = load_planetoid_with_info(tmp.path(), "TINY", PlanetoidSource::Auto).unwrap();
        assert_eq!(info.source, PlanetoidSource::Raw);
        assert_eq!(info.num_padded, 1);
        assert!(info.features_available);
        assert_eq!(d.graph.num_nodes(), 8);
        assert_eq!(d.x.to_dense(), expected_tiny_x());
        assert_eq!(d.y, vec![0, 1, 2, 1, 0, 1, 0, 2]);
        assert_eq!(d.num_classes, 3);
        let mut edges: Vec<_> = d.graph.edges().collect();
        edges.sort();
        assert_eq!(edges, vec![(0, 1), (1, 0), (1, 2), (2, 1), (3, 7), (4, 5), (5, 4), (7, 3)]);
        let s = d.split.unwrap();
        assert_eq!((s.train, s.val, s.test), (vec![0, 1], vec![2, 3], vec![4, 5, 7]));
        assert!(matches!(d.x, Features::Sparse(_)));
    }

    #[test]
    fn tiny_converted_equals_raw() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_tiny_raw(tmp.path(), "tiny");
        let raw = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Raw).unwrap();
        // Converted without features.txt: features come from the raw files.
        write_tiny_converted(&dir, false);
        let (c, info) = load_planetoid_with_info(tmp.path(), "tiny", PlanetoidSource::Auto).unwrap();
        assert_eq!((info.source, info.feature_origin), (PlanetoidSource::Converted, FeatureOrigin::RawFiles));
        assert_same(&raw, &c);
        // With features.txt.
        write_tiny_converted(&dir, true);
        let (c, info) = load_planetoid_with_info(tmp.path(), "tiny", PlanetoidSource::Converted).unwrap();
        assert_eq!(info.feature_origin, FeatureOrigin::ConvertedFile);
        assert_same(&raw, &c);
    }

    fn assert_same(a: &NodeDataset, b: &NodeDataset) {
        assert_eq!(a.graph.src(), b.graph.src());
        assert_eq!(a.graph.dst(), b.graph.dst());
        match (&a.x, &b.x) {
            (Features::Sparse(p), Features::Sparse(q)) => assert_eq!(p, q),
            _ => panic!("expected sparse features"),
        }
        assert_eq!(a.y, b.y);
        assert_eq!(a.num_classes, b.num_classes);
        assert_eq!(a.split, b.split);
    }

    #[test]
    fn missing_features_fall_back_to_degree_one_hot() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_tiny_raw(tmp.path(), "tiny");
        std::fs::remove_file(dir.join("raw/ind.tiny.allx")).unwrap();
        let (d, info) = load_planetoid_with_info(tmp.path(), "tiny", PlanetoidSource::Raw).unwrap();
        assert!(!info.features_available);
        assert_eq!(info.feature_origin, FeatureOrigin::Fallback(FeatureFallback::PLANETOID));
        assert_eq!((d.x.num_rows(), d.x.num_cols()), (8, 64));
        // Node 1 has in-degree 2, node 6 none.
        let x = d.x.to_dense();
        assert_eq!(x[64 + 2], 1.0);
        assert_eq!(x[6 * 64], 1.0);
        write_tiny_converted(&dir, false);
        let (_, info) = load_planetoid_with_info(tmp.path(), "tiny", PlanetoidSource::Converted).unwrap();
        assert!(!info.features_available);
    }

    #[test]
    fn errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let e = load_planetoid(tmp.path(), "cora", PlanetoidSource::Auto).unwrap_err();
        assert!(matches!(e, Error::DatasetNotFound { .. }), "{e}");

        let dir = write_tiny_raw(tmp.path(), "tiny");
        let raw = dir.join("raw");
        let check = |needle: &str, file: &str| {
            let e = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Raw).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(file), "expected '{needle}' and '{file}' in: {e}");
        };

        // Missing file.
        std::fs::remove_file(raw.join("ind.tiny.ty")).unwrap();
        check("missing raw file", "ind.tiny.ty");
        std::fs::write(raw.join("ind.tiny.ty"), writer::one_hot(&tiny().ty, 3)).unwrap();

        // Truncated pickle.
        let full = writer::csr(4, 5, &tiny().allx);
        std::fs::write(raw.join("ind.tiny.allx"), &full[..full.len() / 2]).unwrap();
        check("truncated", "ind.tiny.allx");
        // Unknown opcode.
        let mut bad = full.clone();
        bad[2] = b'I';
        std::fs::write(raw.join("ind.tiny.allx"), &bad).unwrap();
        check("unknown opcode", "ind.tiny.allx");
        // Wrong shape: allx with 3 rows.
        std::fs::write(raw.join("ind.tiny.allx"), writer::csr(3, 5, &tiny().allx[..15])).unwrap();
        check("expected 4, got 3", "ind.tiny.allx");
        std::fs::write(raw.join("ind.tiny.allx"), &full).unwrap();

        // Out-of-range graph id.
        std::fs::write(raw.join("ind.tiny.graph"), writer::adjacency(&[(0, vec![9])])).unwrap();
        check("out of range", "ind.tiny.graph");
        std::fs::write(raw.join("ind.tiny.graph"), writer::adjacency(&[(0, vec![-1])])).unwrap();
        check("negative", "ind.tiny.graph");
        std::fs::write(raw.join("ind.tiny.graph"), writer::adjacency(&[(0, vec![1])])).unwrap();

        // test.index: duplicate, bad line, wrong count.
        std::fs::write(raw.join("ind.tiny.test.index"), "7\n4\n7\n").unwrap();
        check("appears twice", "ind.tiny.test.index:3");
        std::fs::write(raw.join("ind.tiny.test.index"), "7\nx\n5\n").unwrap();
        check("cannot parse", "ind.tiny.test.index:2");
        std::fs::write(raw.join("ind.tiny.test.index"), "7\n4\n").unwrap();
        check("expected 2, got 3", "ind.tiny.ty");
        std::fs::write(raw.join("ind.tiny.test.index"), "7\n4\n5000000000\n").unwrap();
        check("padding the gaps", "ind.tiny.test.index");
        // Found by tests/mutation.rs: when the node count from ally + test.index is too
        // small for the graph, or the test ids do not start after the ally rows, the error
        // names the files the count came from (not only the graph / test index).
        std::fs::write(raw.join("ind.tiny.graph"), writer::adjacency(&[(3, vec![7])])).unwrap();
        std::fs::write(raw.join("ind.tiny.test.index"), "6\n4\n5\n").unwrap();
        check("out of range", "ind.tiny.graph");
        check("test ids 4..=6 of ind.tiny.test.index", "4 rows of ind.tiny.ally");
        std::fs::write(raw.join("ind.tiny.test.index"), "7\n4\n5\n").unwrap();
        std::fs::write(raw.join("ind.tiny.ally"), writer::one_hot(&tiny().ally[..2], 3)).unwrap();
        check("the smallest test id is 4", "ind.tiny.ally has 2 rows");
        std::fs::write(raw.join("ind.tiny.ally"), writer::one_hot(&tiny().ally, 3)).unwrap();
        assert!(load_planetoid(tmp.path(), "tiny", PlanetoidSource::Raw).is_ok());

        // Converted files.
        write_tiny_converted(&dir, true);
        let check = |needle: &str, file: &str| {
            let e = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Converted).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(file), "expected '{needle}' and '{file}' in: {e}");
        };
        std::fs::write(dir.join("edges.csv"), "src,dst\n0,1\n1,9\n").unwrap();
        check("num_nodes = 8", "edges.csv:3");
        std::fs::write(dir.join("edges.csv"), "src,dst\n0,1\n1;0\n").unwrap();
        check("edges.csv:3", "edges.csv");
        std::fs::write(dir.join("edges.csv"), "src,dst\n0,1\n").unwrap();
        std::fs::write(dir.join("labels.csv"), "node,label\n0,0\n0,1\n").unwrap();
        check("second label", "labels.csv:3");
        std::fs::write(dir.join("labels.csv"), "node,label\n0,0\n1,1\n2,2\n3,1\n4,0\n5,1\n6,0\n7,2\n").unwrap();
        std::fs::write(dir.join("test.txt"), "4\n5\n8\n").unwrap();
        check("out of range", "test.txt:3");
        std::fs::write(dir.join("test.txt"), "4\n5\n7\n").unwrap();
        std::fs::write(dir.join("features.txt"), "7 5 0\n\n\n\n\n\n\n\n").unwrap();
        check("expected 8, got 7", "features.txt");
        std::fs::write(dir.join("features.txt"), "8 5 1\n9:1\n\n\n\n\n\n\n\n").unwrap();
        check("out of range", "features.txt:2");
        std::fs::remove_file(dir.join("features.txt")).unwrap();
        assert!(load_planetoid(tmp.path(), "tiny", PlanetoidSource::Converted).is_ok());
    }

    #[test]
    fn hostile_raw_values_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_tiny_raw(tmp.path(), "tiny");
        let raw = dir.join("raw");
        let check = |needles: &[&str]| {
            let e = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Raw).unwrap_err().to_string();
            assert!(needles.iter().all(|n| e.contains(n)), "expected {needles:?} in: {e}");
        };
        // NaN / infinity inside the allx and tx pickles: file, element and row.
        let mut allx = tiny().allx;
        allx[7] = f32::NAN; // row 1, column 2
        std::fs::write(raw.join("ind.tiny.allx"), writer::csr(4, 5, &allx)).unwrap();
        check(&["ind.tiny.allx", "NaN", "data element 2: row 1, column 2", "not a finite number"]);
        std::fs::write(raw.join("ind.tiny.allx"), writer::csr(4, 5, &tiny().allx)).unwrap();
        let mut tx = tiny().tx;
        tx[0] = f32::INFINITY;
        std::fs::write(raw.join("ind.tiny.tx"), writer::csr(3, 5, &tx)).unwrap();
        check(&["ind.tiny.tx", "inf", "data element 0: row 0, column 0"]);
        std::fs::write(raw.join("ind.tiny.tx"), writer::csr(3, 5, &tiny().tx)).unwrap();
        // Found by tests/mutation.rs: allx and tx disagreeing on the width name both files.
        std::fs::write(raw.join("ind.tiny.allx"), writer::csr_claiming(4, 5, 69, &tiny().allx)).unwrap();
        check(&["ind.tiny.tx", "feature columns (as in ind.tiny.allx)", "expected 69, got 5"]);
        std::fs::write(raw.join("ind.tiny.allx"), writer::csr(4, 5, &tiny().allx)).unwrap();
        // A feature width far beyond the columns used.
        std::fs::write(raw.join("ind.tiny.allx"), writer::csr_claiming(4, 5, 2_000_000_000, &tiny().allx)).unwrap();
        check(&["ind.tiny.allx", "2000000000 columns", "first 5"]);
        std::fs::write(raw.join("ind.tiny.allx"), writer::csr(4, 5, &tiny().allx)).unwrap();
        // A test id among the allx rows would make a node both train/val and test.
        std::fs::write(raw.join("ind.tiny.test.index"), "7\n1\n5\n").unwrap();
        check(&["ind.tiny.test.index:2", "test id 1 is below 4"]);
        std::fs::write(raw.join("ind.tiny.test.index"), "7\n4\n5\n").unwrap();
        assert!(load_planetoid(tmp.path(), "tiny", PlanetoidSource::Raw).is_ok());
    }

    #[test]
    fn hostile_converted_values_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tiny");
        std::fs::create_dir_all(&dir).unwrap();
        write_tiny_converted(&dir, true);
        let check = |needles: &[&str]| {
            let e = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Converted).unwrap_err().to_string();
            assert!(needles.iter().all(|n| e.contains(n)), "expected {needles:?} in: {e}");
        };
        let labels = "node,label\n0,0\n1,1\n2,2\n3,1\n4,0\n5,1\n6,0\n7,2\n";
        // A huge class id: an error naming the line, not 10^11 classes.
        std::fs::write(dir.join("labels.csv"), labels.replace("3,1", "3,99999999999")).unwrap();
        check(&["labels.csv:5", "class id 99999999999", "below 8"]);
        std::fs::write(dir.join("labels.csv"), labels).unwrap();
        // A feature width far beyond the columns used.
        let feats = std::fs::read_to_string(dir.join("features.txt")).unwrap();
        std::fs::write(dir.join("features.txt"), feats.replacen("8 5 10", "8 99999999999 10", 1)).unwrap();
        check(&["features.txt:1", "99999999999 features", "first 5 columns"]);
        std::fs::write(dir.join("features.txt"), feats.replacen("0:1", "0:1e39", 1)).unwrap();
        check(&["features.txt:2", "not a finite number"]);
        std::fs::write(dir.join("features.txt"), &feats).unwrap();
        // The edge file is blamed for its own bad id.
        std::fs::write(dir.join("edges.csv"), "0,1\n1,8\n").unwrap();
        check(&["edges.csv:2", "labels.csv has 8 rows"]);
        // A BOM on a headerless edges.csv keeps the first edge.
        std::fs::write(dir.join("edges.csv"), "\u{feff}0,1\r\n1,0\r\n").unwrap();
        let d = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Converted).unwrap();
        assert_eq!(d.graph.num_edges(), 2);
        // Split files: empty loads, duplicates and overlap are errors.
        std::fs::remove_file(dir.join("test.txt")).unwrap();
        check(&["test.txt missing"]);
        std::fs::write(dir.join("test.txt"), "").unwrap();
        let d = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Converted).unwrap();
        assert!(d.split.unwrap().test.is_empty());
        std::fs::write(dir.join("val.txt"), "2\n3\n2\n").unwrap();
        check(&["val.txt:3", "node id 2 appears twice"]);
        std::fs::write(dir.join("val.txt"), "2\n3\n").unwrap();
        std::fs::write(dir.join("test.txt"), "4\n0\n").unwrap();
        check(&["ids 0 appear in both train.txt and test.txt"]);
        // Missing file: named, with what to put where, and no library internals.
        std::fs::remove_file(dir.join("edges.csv")).unwrap();
        let e = load_planetoid(tmp.path(), "tiny", PlanetoidSource::Converted).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("edges.csv") && e.contains("ind.tiny."), "{e}");
        assert!(!e.contains("PlanetoidSource") && !e.contains("data::"), "{e}");
    }

    #[test]
    fn nan_in_real_cora_allx_is_an_error() {
        let Some(data) = shared() else {
            return;
        };
        let (tmp, raw) = copy_cora_raw(&data);
        // The data array (float32 ones) is the last array of the pickle: make its last value NaN.
        let p = raw.join("ind.cora.allx");
        let mut b = std::fs::read(&p).unwrap();
        let one = 1.0f32.to_le_bytes();
        let at = b.windows(4).rposition(|w| w == one).unwrap();
        b[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        let e = load_planetoid(tmp.path(), "cora", PlanetoidSource::Raw).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(&e, Error::Parse { path, .. } if path == &p), "{msg}");
        assert!(msg.contains("NaN") && msg.contains("row 1707"), "{msg}");
    }

    fn fixture_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/planetoid_tiny")
    }

    /// Regenerate the committed fixture: `cargo test -p autoglm --lib write_fixture -- --ignored`.
    #[test]
    #[ignore = "writes tests/fixtures/planetoid_tiny"]
    fn write_fixture() {
        let root = fixture_root();
        let dir = write_tiny_raw(&root, "tiny");
        write_tiny_converted(&dir, true);
    }

    #[test]
    fn committed_fixture_matches_writer_and_loads() {
        let root = fixture_root();
        assert!(root.is_dir(), "the committed fixture {} is missing", root.display());
        let tmp = tempfile::tempdir().unwrap();
        let fresh = write_tiny_raw(tmp.path(), "tiny");
        write_tiny_converted(&fresh, true);
        for sub in ["", "raw"] {
            for e in std::fs::read_dir(fresh.join(sub)).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    let committed = root.join("tiny").join(sub).join(p.file_name().unwrap());
                    assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&committed).unwrap(), "{}", committed.display());
                }
            }
        }
        let (raw, info) = load_planetoid_with_info(&root, "tiny", PlanetoidSource::Raw).unwrap();
        assert_eq!(info.num_padded, 1);
        assert_eq!(raw.x.to_dense(), expected_tiny_x());
        assert_same(&raw, &load_planetoid(&root, "tiny", PlanetoidSource::Converted).unwrap());
    }

    #[test]
    fn cora_raw_equals_converted() {
        let Some(data) = shared() else {
            return;
        };
        let (raw, ri) = load_planetoid_with_info(&data, "Cora", PlanetoidSource::Raw).unwrap();
        let (conv, ci) = load_planetoid_with_info(&data, "cora", PlanetoidSource::Converted).unwrap();
        assert_eq!(ri.feature_origin, FeatureOrigin::RawFiles);
        assert_eq!(ci.feature_origin, FeatureOrigin::ConvertedFile);
        assert_eq!(raw.graph.num_nodes(), 2708);
        assert_eq!(raw.graph.num_edges(), 10_556);
        assert!(raw.graph.is_undirected());
        assert_eq!(raw.graph.num_isolated(), 0);
        let Features::Sparse(m) = &raw.x else { panic!("sparse expected") };
        assert_eq!((m.nnz(), m.num_cols), (49_216, 1433));
        assert_eq!(raw.num_classes, 7);
        let mut counts = vec![0; 7];
        raw.y.iter().for_each(|&c| counts[c] += 1);
        assert_eq!(counts, vec![351, 217, 418, 818, 426, 298, 180]);
        let s = raw.split.as_ref().unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (140, 500, 1000));
        assert_same(&raw, &conv);
    }

    #[test]
    fn pubmed_counts_and_feature_fallback() {
        let Some(data) = crate::testing::shared_datasets("pubmed") else {
            return;
        };
        for source in [PlanetoidSource::Raw, PlanetoidSource::Converted] {
            let (d, info) = load_planetoid_with_info(&data, "PubMed", source).unwrap();
            assert_eq!(d.graph.num_nodes(), 19_717, "{source:?}");
            assert_eq!(d.graph.num_edges(), 88_648, "{source:?}");
            assert_eq!(d.num_classes, 3);
            let mut counts = vec![0; 3];
            d.y.iter().for_each(|&c| counts[c] += 1);
            assert_eq!(counts, vec![4103, 7739, 7875]);
            let s = d.split.as_ref().unwrap();
            assert_eq!((s.train.len(), s.val.len(), s.test.len()), (60, 500, 1000));
            assert!(!info.features_available);
            assert_eq!((d.x.num_rows(), d.x.num_cols()), (19_717, 64));
        }
        let raw = load_planetoid(&data, "pubmed", PlanetoidSource::Raw).unwrap();
        let conv = load_planetoid(&data, "pubmed", PlanetoidSource::Converted).unwrap();
        assert_same(&raw, &conv);
    }

    #[test]
    fn truncated_real_cora_files_are_parse_errors() {
        let Some(data) = shared() else {
            return;
        };
        let (tmp, raw) = copy_cora_raw(&data);
        assert!(load_planetoid(tmp.path(), "cora", PlanetoidSource::Raw).is_ok());
        for ext in ["allx", "ally", "graph"] {
            let p = raw.join(format!("ind.cora.{ext}"));
            let full = std::fs::read(&p).unwrap();
            for cut in [1, 3, full.len() / 3, full.len() - 1] {
                std::fs::write(&p, &full[..cut]).unwrap();
                let e = load_planetoid(tmp.path(), "cora", PlanetoidSource::Raw).unwrap_err();
                assert!(matches!(&e, Error::Parse { path, .. } if path == &p), "{ext} cut {cut}: {e}");
            }
            std::fs::write(&p, &full).unwrap();
        }
        // Every prefix of the small label file fails cleanly.
        let y = std::fs::read(raw.join("ind.cora.y")).unwrap();
        for cut in 0..y.len() {
            assert!(pickle::parse(&y[..cut]).is_err());
        }
    }

    #[test]
    fn writer_reproduces_real_label_pickle() {
        // The test writer emits the same bytes as numpy did, which validates the
        // fixtures built with it.
        let Some(data) = shared() else {
            return;
        };
        let real = std::fs::read(data.join("cora/raw/ind.cora.y")).unwrap();
        let p = pickle::parse(&real).unwrap();
        let a = p.to_ndarray(p.root()).unwrap();
        let (r, c) = a.dims2().unwrap();
        let ints: Vec<i32> = a.as_ints().unwrap().iter().map(|&v| v as i32).collect();
        assert_eq!(writer::int_matrix(r, c, &ints), real);
    }
}
