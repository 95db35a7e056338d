//! Datasets: loaders for real benchmark data, in-memory dataset types, splits,
//! and the checksum-verifying downloader.
//!
//! Architecture invariant: `data` produces [`Graph`]s and plain vectors; it
//! knows nothing of tensors, models or gradients. Only `data::download` (and
//! the server) touch the network.

pub mod csbm;
pub mod csv;
pub mod download;
pub mod edge_split;
pub mod features;
pub mod karate;
pub mod limits;
pub mod pickle;
pub mod planetoid;
pub mod registry;
pub mod synthetic;
mod text;

pub use csv::{load_csv, load_csv_with_info, CsvInfo, CsvOptions, FeatureFormat};
pub use download::{default_cache_dir, download_verified, fetch_planetoid};
pub use features::FeatureFallback;
pub use karate::{load_karate, load_karate_builtin};
pub use planetoid::{load_planetoid, load_planetoid_with_info, PlanetoidInfo, PlanetoidSource};
pub use registry::{list_datasets, load_node_dataset, DatasetInfo};

use crate::graph::{CsrMatrix, Graph};
use std::path::PathBuf;

pub mod folds;
pub mod loader;
pub mod tu;

pub use folds::{find_folds, load_errica_folds, stratified_kfold, validate_folds, Fold};
pub use loader::{GraphBatch, GraphLoader, LoaderConfig};
pub use tu::{load_tu, load_tu_encoded, DegreeFeatures, TuEncoding, TuOptions};

/// Node features: dense row-major, or sparse (bag-of-words style).
#[derive(Debug, Clone)]
pub enum Features {
    /// `num_rows x num_cols`, row-major.
    Dense { num_rows: usize, num_cols: usize, data: Vec<f32> },
    /// CSR.
    Sparse(CsrMatrix),
}

impl Features {
    /// Number of rows (nodes).
    pub fn num_rows(&self) -> usize {
        match self {
            Features::Dense { num_rows, .. } => *num_rows,
            Features::Sparse(m) => m.num_rows,
        }
    }
    /// Feature dimension.
    pub fn num_cols(&self) -> usize {
        match self {
            Features::Dense { num_cols, .. } => *num_cols,
            Features::Sparse(m) => m.num_cols,
        }
    }
    /// Dense row-major copy.
    pub fn to_dense(&self) -> Vec<f32> {
        match self {
            Features::Dense { data, .. } => data.clone(),
            Features::Sparse(m) => m.to_dense(),
        }
    }
    /// Row-normalise (each row sums to 1; PyG `NormalizeFeatures`).
    pub fn row_normalize(&mut self) {
        match self {
            Features::Dense { num_rows, num_cols, data } => {
                for r in 0..*num_rows {
                    let row = &mut data[r * *num_cols..(r + 1) * *num_cols];
                    let s: f32 = row.iter().sum();
                    if s != 0.0 {
                        row.iter_mut().for_each(|v| *v /= s);
                    }
                }
            }
            Features::Sparse(m) => m.row_normalize(),
        }
    }
}

/// Train / validation / test node (or graph) ids.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// One graph with node features and node labels (Planetoid, karate, CSV).
#[derive(Debug, Clone)]
pub struct NodeDataset {
    pub name: String,
    /// Directed edges as stored (undirected graphs list both directions).
    pub graph: Graph,
    pub x: Features,
    /// Label of every node, in `0..num_classes`; empty when the dataset has
    /// no labels (a CSV folder without `labels.csv`), see [`NodeDataset::has_labels`].
    pub y: Vec<usize>,
    /// Number of classes; 0 when the dataset has no labels.
    pub num_classes: usize,
    /// The standard split, where the dataset has one.
    pub split: Option<Split>,
    /// Where it was loaded from.
    pub source: PathBuf,
    /// What the loader substituted or assumed (for example stand-in features
    /// for missing feature files): announced by the tasks and recorded in
    /// the result JSON, never silent.
    pub notes: Vec<String>,
}

impl NodeDataset {
    /// Whether every node has a label (false for a CSV folder without `labels.csv`,
    /// which is fine for link prediction but not for node classification).
    pub fn has_labels(&self) -> bool {
        self.num_classes > 0 && self.y.len() == self.graph.num_nodes()
    }

    /// The node labels, or an error saying the dataset has none (for tasks that need them).
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) when [`NodeDataset::has_labels`] is false.
    pub fn require_labels(&self) -> crate::Result<&[usize]> {
        if self.has_labels() {
            Ok(&self.y)
        } else {
            Err(crate::Error::config(
                "dataset",
                &self.name,
                format!(
                    "the dataset has no node labels (no labels.csv in {}); node classification needs a labels.csv with 'node,label' for every node",
                    self.source.display()
                ),
            ))
        }
    }
}

/// One graph of a graph-classification dataset.
#[derive(Debug, Clone)]
pub struct GraphSample {
    pub graph: Graph,
    /// `graph.num_nodes() x num_node_features`, row-major.
    pub x: Vec<f32>,
    /// Graph label in `0..num_classes`.
    pub y: usize,
}

/// Many labelled graphs (TU datasets).
#[derive(Debug, Clone)]
pub struct GraphDataset {
    pub name: String,
    pub graphs: Vec<GraphSample>,
    pub num_node_features: usize,
    pub num_classes: usize,
    pub source: PathBuf,
    /// The shipped cross-validation folds (Errica et al.'s `splits/*.json`) found with the data, if any.
    pub folds_file: Option<PathBuf>,
}

/// The dataset directory: `--data-dir`, else `$AUTOGLM_DATA`, else `../shared/datasets`.
pub fn data_dir(flag: Option<&std::path::Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("AUTOGLM_DATA") {
        return PathBuf::from(p);
    }
    PathBuf::from("../shared/datasets")
}
