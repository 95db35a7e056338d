//! A contextual stochastic block model (Deshpande et al., NeurIPS 2018): a
//! seeded, learnable node-classification graph of any size, for measuring
//! training at scale where accuracy must mean something (the benchmarks'
//! uniform random graph has random labels).
//!
//! `csbm:N` (any letter case) names the graph of `N` nodes with the fixed
//! settings below: every node gets one of [`CSBM_CLASSES`] classes uniformly;
//! each of the `N * CSBM_DEGREE / 2` undirected edges joins a uniformly drawn
//! node to a node of its own class with probability [`CSBM_HOMOPHILY`], else
//! to a uniformly drawn node (so about `0.4 + 0.6 / 10 = 46 %` of edges join
//! equal classes); features are binary bags of words as in the citation
//! graphs (so the node recipe's row normalisation applies): each class has
//! [`CSBM_TOPIC`] topic words of a [`CSBM_DIM`]-word vocabulary (a seeded
//! choice), and each node draws [`CSBM_WORDS`] words, each from its class's
//! topic with probability [`CSBM_SIGNAL`], else from the whole vocabulary.
//! The split is a seeded permutation: 10 % train, 10 %
//! validation, 80 % test. Everything follows from seed 0.

use super::{Features, NodeDataset, Split};
use crate::graph::Graph;
use crate::rng::{derive, Rng};
use crate::{Error, Result};
use rand::seq::SliceRandom;

/// Classes of `csbm:N`.
pub const CSBM_CLASSES: usize = 10;
/// Mean degree (both directions of every undirected edge counted once).
pub const CSBM_DEGREE: usize = 10;
/// Probability that an edge is drawn inside the source's class.
pub const CSBM_HOMOPHILY: f64 = 0.4;
/// Vocabulary size (the feature dimension).
pub const CSBM_DIM: usize = 64;
/// Topic words per class.
pub const CSBM_TOPIC: usize = 8;
/// Words drawn per node (with repetition; a word present is a 1).
pub const CSBM_WORDS: usize = 5;
/// Probability that a drawn word comes from the node's class topic.
pub const CSBM_SIGNAL: f64 = 0.2;

/// The `csbm:N` graph of `num_nodes` nodes (module docs).
///
/// # Errors
/// [`Error::Config`] for fewer than 100 or more than 50,000,000 nodes.
pub fn csbm(num_nodes: usize) -> Result<NodeDataset> {
    if !(100..=50_000_000).contains(&num_nodes) {
        return Err(Error::config("dataset", format!("csbm:{num_nodes}"), "a CSBM graph has 100 to 50,000,000 nodes (for example csbm:100000)"));
    }
    let mut rng = derive(0, 0xc5b);
    let y: Vec<usize> = (0..num_nodes).map(|_| rng.gen_range(0..CSBM_CLASSES)).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); CSBM_CLASSES];
    for (i, &c) in y.iter().enumerate() {
        members[c].push(i);
    }
    let e = num_nodes * CSBM_DEGREE / 2;
    let (mut src, mut dst) = (Vec::with_capacity(2 * e), Vec::with_capacity(2 * e));
    for _ in 0..e {
        let a = rng.gen_range(0..num_nodes);
        let b = if rng.gen::<f64>() < CSBM_HOMOPHILY {
            let m = &members[y[a]];
            m[rng.gen_range(0..m.len())]
        } else {
            rng.gen_range(0..num_nodes)
        };
        if a != b {
            src.extend([a, b]);
            dst.extend([b, a]);
        }
    }
    let graph = Graph::builder(num_nodes).edge_lists(src, dst).dedup(true).build()?;
    let topics: Vec<Vec<usize>> = (0..CSBM_CLASSES).map(|_| rand::seq::index::sample(&mut rng, CSBM_DIM, CSBM_TOPIC).into_vec()).collect();
    let mut data = vec![0f32; num_nodes * CSBM_DIM];
    for (i, &c) in y.iter().enumerate() {
        for _ in 0..CSBM_WORDS {
            let w = if rng.gen::<f64>() < CSBM_SIGNAL { topics[c][rng.gen_range(0..CSBM_TOPIC)] } else { rng.gen_range(0..CSBM_DIM) };
            data[i * CSBM_DIM + w] = 1.0;
        }
    }
    let mut order: Vec<usize> = (0..num_nodes).collect();
    order.shuffle(&mut rng);
    let tenth = num_nodes / 10;
    let sorted = |s: &[usize]| {
        let mut v = s.to_vec();
        v.sort_unstable();
        v
    };
    let split = Split { train: sorted(&order[..tenth]), val: sorted(&order[tenth..2 * tenth]), test: sorted(&order[2 * tenth..]) };
    Ok(NodeDataset {
        name: format!("csbm:{num_nodes}"),
        graph,
        x: Features::Dense { num_rows: num_nodes, num_cols: CSBM_DIM, data },
        y,
        num_classes: CSBM_CLASSES,
        split: Some(split),
        source: "<built-in: contextual stochastic block model, seed 0>".into(),
        notes: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csbm_is_seeded_homophilous_and_split() {
        let a = csbm(2000).unwrap();
        let b = csbm(2000).unwrap();
        assert_eq!(a.graph.edges().collect::<Vec<_>>(), b.graph.edges().collect::<Vec<_>>());
        assert_eq!(a.y, b.y);
        assert!(a.graph.is_undirected());
        let same = a.graph.edges().filter(|&(s, d)| a.y[s] == a.y[d]).count() as f64 / a.graph.num_edges() as f64;
        assert!((0.42..0.51).contains(&same), "edge homophily {same}");
        let deg = a.graph.num_edges() as f64 / 2000.0;
        assert!((8.5..10.5).contains(&deg), "mean degree {deg}");
        let s = a.split.as_ref().unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (200, 200, 1600));
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..2000).collect::<Vec<_>>());
        assert!(csbm(10).is_err());
    }
}
