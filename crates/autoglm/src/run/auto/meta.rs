//! Meta-features: what the router knows about a dataset before training on
//! it. They shape the search space ([`super::space`]) and find the nearest
//! past datasets in the trial store ([`super::store`]).

use crate::data::{Features, GraphDataset, NodeDataset};
use crate::eval::stats::mean_std;
use crate::graph::Graph;
use serde::{Deserialize, Serialize};

/// A dataset's shape, as numbers the router and the store compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFeatures {
    /// The task these features were computed for.
    pub task: String,
    pub dataset: String,
    /// Number of graphs (1 for node and link tasks).
    pub graphs: usize,
    /// Nodes over all graphs.
    pub nodes: usize,
    /// Stored (directed) edges over all graphs.
    pub edges: usize,
    /// Mean over graphs of `edges / (n (n - 1))`.
    pub density: f64,
    /// In-degree mean, standard deviation and maximum over all nodes.
    pub degree_mean: f64,
    pub degree_std: f64,
    pub degree_max: usize,
    /// `sparse`, `dense` or `one-hot` (TU node labels / degrees).
    pub feature_kind: String,
    pub feature_width: usize,
    /// Share of the feature matrix that is non-zero.
    pub feature_density: f64,
    pub classes: usize,
    /// Share of nodes (node task) or graphs (graph task) with a training label.
    pub label_rate: f64,
    /// Validation nodes in the dataset's split (node task; 0 for the others).
    pub val_count: usize,
    /// Edge homophily on the training labels: the share of edges between two
    /// training nodes whose labels agree (`None` without such an edge).
    pub homophily: Option<f64>,
    /// Nodes per graph: mean and standard deviation (the size spread).
    pub graph_nodes_mean: f64,
    pub graph_nodes_std: f64,
    /// Whether the graphs carry continuous node attributes besides labels (TU).
    pub has_node_attributes: bool,
}

fn degree_stats(graphs: &[&Graph]) -> (f64, f64, usize) {
    let deg: Vec<f64> = graphs.iter().flat_map(|g| g.in_degree()).map(|d| d as f64).collect();
    let (m, s) = mean_std(&deg).unwrap_or((0.0, 0.0));
    (m, s, deg.iter().fold(0.0f64, |a, &b| a.max(b)) as usize)
}

fn density(g: &Graph) -> f64 {
    let n = g.num_nodes() as f64;
    if n < 2.0 {
        0.0
    } else {
        g.num_edges() as f64 / (n * (n - 1.0))
    }
}

impl MetaFeatures {
    /// The features of one graph with node labels, for `task` (`node` or `link`).
    pub fn of_nodes(task: &str, ds: &NodeDataset) -> MetaFeatures {
        let g = &ds.graph;
        let n = g.num_nodes();
        let (degree_mean, degree_std, degree_max) = degree_stats(&[g]);
        let (kind, width, nnz) = match &ds.x {
            Features::Dense { num_cols, data, .. } => ("dense", *num_cols, data.iter().filter(|v| **v != 0.0).count()),
            Features::Sparse(m) => ("sparse", m.num_cols, m.values.len()),
        };
        let train: Vec<usize> = ds.split.as_ref().map(|s| s.train.clone()).unwrap_or_default();
        let val_count = ds.split.as_ref().map_or(0, |s| s.val.len());
        let mut is_train = vec![false; n];
        for &i in &train {
            if i < n {
                is_train[i] = true;
            }
        }
        let (mut same, mut both) = (0usize, 0usize);
        if ds.y.len() == n {
            for (&src, &dst) in g.src().iter().zip(g.dst()) {
                if src != dst && is_train[src] && is_train[dst] {
                    both += 1;
                    same += usize::from(ds.y[src] == ds.y[dst]);
                }
            }
        }
        MetaFeatures {
            task: task.into(),
            dataset: ds.name.clone(),
            graphs: 1,
            nodes: n,
            edges: g.num_edges(),
            density: density(g),
            degree_mean,
            degree_std,
            degree_max,
            feature_kind: kind.into(),
            feature_width: width,
            feature_density: nnz as f64 / (n * width).max(1) as f64,
            classes: ds.num_classes,
            label_rate: train.len() as f64 / n.max(1) as f64,
            val_count,
            homophily: (both > 0).then(|| same as f64 / both as f64),
            graph_nodes_mean: n as f64,
            graph_nodes_std: 0.0,
            has_node_attributes: false,
        }
    }

    /// The features of a collection of labelled graphs (graph task).
    pub fn of_graphs(ds: &GraphDataset, has_node_attributes: bool) -> MetaFeatures {
        let gs: Vec<&Graph> = ds.graphs.iter().map(|s| &s.graph).collect();
        let (degree_mean, degree_std, degree_max) = degree_stats(&gs);
        let sizes: Vec<f64> = gs.iter().map(|g| g.num_nodes() as f64).collect();
        let (nm, ns) = mean_std(&sizes).unwrap_or((0.0, 0.0));
        let dens: Vec<f64> = gs.iter().map(|g| density(g)).collect();
        let nodes: usize = gs.iter().map(|g| g.num_nodes()).sum();
        let nnz: usize = ds.graphs.iter().map(|s| s.x.iter().filter(|v| **v != 0.0).count()).sum();
        MetaFeatures {
            task: "graph".into(),
            dataset: ds.name.clone(),
            graphs: gs.len(),
            nodes,
            edges: gs.iter().map(|g| g.num_edges()).sum(),
            density: mean_std(&dens).map_or(0.0, |m| m.0),
            degree_mean,
            degree_std,
            degree_max,
            feature_kind: "one-hot".into(),
            feature_width: ds.num_node_features,
            feature_density: nnz as f64 / (nodes * ds.num_node_features).max(1) as f64,
            classes: ds.num_classes,
            label_rate: 1.0,
            val_count: 0,
            homophily: None,
            graph_nodes_mean: nm,
            graph_nodes_std: ns,
            has_node_attributes,
        }
    }

    /// The numbers the store compares, on comparable scales (logs of counts).
    pub fn vector(&self) -> Vec<f64> {
        let l = |x: f64| (1.0 + x.max(0.0)).ln();
        vec![
            l(self.graphs as f64),
            l(self.nodes as f64),
            l(self.degree_mean),
            l(self.degree_std),
            l(self.feature_width as f64),
            self.feature_density,
            l(self.classes as f64),
            self.label_rate,
            self.homophily.unwrap_or(0.5),
            l(self.graph_nodes_mean),
            l(self.graph_nodes_std),
            self.density.sqrt(),
        ]
    }

    /// Euclidean distance between the [`MetaFeatures::vector`]s.
    pub fn distance(&self, other: &MetaFeatures) -> f64 {
        self.vector().iter().zip(other.vector()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn karate_features_are_what_the_data_says() {
        let ds = crate::data::karate::load_karate_builtin().unwrap();
        let m = MetaFeatures::of_nodes("node", &ds);
        assert_eq!((m.nodes, m.graphs, m.classes, m.val_count), (34, 1, 2, 0));
        assert_eq!(m.edges, 156);
        assert!((m.degree_mean - 156.0 / 34.0).abs() < 1e-12);
        assert_eq!(m.degree_max, 17);
        assert!((m.label_rate - 2.0 / 34.0).abs() < 1e-12);
        // the two training nodes (0 and 33) are not adjacent
        assert_eq!(m.homophily, None);
        assert_eq!(m.distance(&m), 0.0);
    }
}
