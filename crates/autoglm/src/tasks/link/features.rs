//! Node features for link prediction: the dataset's own, one-hot ids, or
//! degrees computed on the training graph only.

use super::LinkTrainConfig;
use crate::data::edge_split::{split_edges, EdgeSplit};
use crate::data::{FeatureFallback, Features, NodeDataset};
use crate::graph::Graph;
use crate::nn::NodeInput;
use crate::ops::SparseInput;
use crate::{Error, Result};
use candle_core::{Device, Tensor};

/// Largest degree with its own column in [`FeatureMode::Degree`] (the loaders' 64 buckets).
pub const DEGREE_FEATURE_MAX: usize = 63;

/// Which node features the encoder gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureMode {
    /// The dataset's features when it has real ones; one-hot node ids when its
    /// features are only a loader's stand-in (the full graph's one-hot degree, as
    /// for PubMed here, or a constant column), as the GAE paper does for graphs
    /// without features (its GAE* rows).
    #[default]
    Auto,
    /// The dataset's features. Stand-in degree features are recomputed on the
    /// training graph, so the held-out edges never leak through the degrees.
    Dataset,
    /// One-hot node ids (`[num_nodes, num_nodes]`, sparse): a free embedding per node.
    Identity,
    /// One-hot degree in the training graph, 64 buckets (degrees above 63 share the last).
    Degree,
}

/// Where the node features came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSource {
    /// The dataset's own features.
    Dataset,
    /// One-hot degree computed on the training graph.
    TrainingDegree { max_degree: usize },
    /// One-hot node ids.
    Identity,
}

/// A split dataset turned into model inputs.
#[derive(Debug, Clone)]
pub struct LinkData {
    /// Dataset name.
    pub name: String,
    pub split: EdgeSplit,
    /// Constant node features (sparse stays sparse).
    pub x: NodeInput,
    pub features: FeatureSource,
    raw: Features,
    normalize: bool,
}

/// `Some(max_degree)` when `x` is exactly the one-hot (clipped) in-degree of `g`.
fn degree_one_hot(x: &Features, g: &Graph) -> Option<usize> {
    let Features::Sparse(m) = x else { return None };
    if m.num_rows != g.num_nodes() || m.num_cols == 0 || m.nnz() != m.num_rows {
        return None;
    }
    let max_degree = m.num_cols - 1;
    let deg = g.in_degree();
    let ok =
        (0..m.num_rows).all(|i| m.row_ptr[i + 1] - m.row_ptr[i] == 1 && m.values[m.row_ptr[i]] == 1.0 && m.col_idx[m.row_ptr[i]] == deg[i].min(max_degree));
    ok.then_some(max_degree)
}

/// Whether `x` is one constant column (a loader's stand-in for missing features).
fn constant_column(x: &Features) -> bool {
    x.num_cols() == 1 && {
        let d = x.to_dense();
        d.windows(2).all(|w| w[0] == w[1])
    }
}

fn to_input(mut f: Features, normalize: bool) -> Result<NodeInput> {
    if normalize {
        f.row_normalize();
    }
    Ok(match f {
        Features::Sparse(m) => NodeInput::Sparse(SparseInput::new(m)),
        Features::Dense { num_rows, num_cols, data } => NodeInput::Dense(Tensor::from_vec(data, (num_rows, num_cols), &Device::Cpu)?),
    })
}

impl LinkData {
    /// Split `ds`'s edges with `cfg.split` and seed [`LinkTrainConfig::split_seed`],
    /// and prepare the features (`cfg.features`, `cfg.normalize_features`).
    pub fn prepare(ds: &NodeDataset, cfg: &LinkTrainConfig) -> Result<LinkData> {
        let split = split_edges(&ds.graph, &cfg.split, cfg.split_seed())?;
        LinkData::from_split(ds, split, cfg.features, cfg.normalize_features)
    }

    /// Prepare the features for a given split of `ds`'s graph.
    ///
    /// Errors: [`Error::Inconsistent`] when the feature rows or the split's node count
    /// differ from the graph's.
    pub fn from_split(ds: &NodeDataset, split: EdgeSplit, mode: FeatureMode, normalize_features: bool) -> Result<LinkData> {
        let n = ds.graph.num_nodes();
        if ds.x.num_rows() != n || split.num_nodes != n {
            return Err(Error::inconsistent("rows of features / nodes of the split (one per node)", n, format!("{} / {}", ds.x.num_rows(), split.num_nodes)));
        }
        let stand_in_degree = degree_one_hot(&ds.x, &ds.graph);
        let features = match mode {
            FeatureMode::Identity => FeatureSource::Identity,
            FeatureMode::Degree => FeatureSource::TrainingDegree { max_degree: DEGREE_FEATURE_MAX },
            FeatureMode::Dataset => match stand_in_degree {
                Some(max_degree) => FeatureSource::TrainingDegree { max_degree },
                None => FeatureSource::Dataset,
            },
            FeatureMode::Auto if stand_in_degree.is_some() || constant_column(&ds.x) => FeatureSource::Identity,
            FeatureMode::Auto => FeatureSource::Dataset,
        };
        let mut data = LinkData {
            name: ds.name.clone(),
            split,
            x: NodeInput::Dense(Tensor::zeros((0, 0), candle_core::DType::F32, &Device::Cpu)?),
            features,
            raw: ds.x.clone(),
            normalize: normalize_features,
        };
        data.build_features()?;
        Ok(data)
    }

    fn build_features(&mut self) -> Result<()> {
        let f = match self.features {
            FeatureSource::Dataset => self.raw.clone(),
            FeatureSource::TrainingDegree { max_degree } => FeatureFallback::DegreeOneHot { max_degree }.build(&self.split.train_graph),
            FeatureSource::Identity => FeatureFallback::Identity.build(&self.split.train_graph),
        };
        self.x = to_input(f, self.normalize)?;
        Ok(())
    }

    /// The same data with another split of the same graph (edge noise). Degree
    /// features follow the new training graph.
    pub fn with_split(&self, split: EdgeSplit) -> Result<LinkData> {
        if split.num_nodes != self.split.num_nodes {
            return Err(Error::inconsistent("nodes of the new split", self.split.num_nodes, split.num_nodes));
        }
        let mut data = LinkData { split, ..self.clone() };
        if matches!(self.features, FeatureSource::TrainingDegree { .. }) {
            data.build_features()?;
        }
        Ok(data)
    }
}
