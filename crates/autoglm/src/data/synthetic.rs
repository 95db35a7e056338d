//! Graph families for graph generation, built in code from a seed.
//!
//! These are the benchmark sets of GraphRNN (You et al., 2018) and the papers
//! that compare with it. Everything here is untyped (every node and edge type
//! is 0) and deterministic given the seed ([`crate::rng::seeded`]).
//!
//! * [`grid_graphs`], family `grid`: every 2-D lattice with `rows` and `cols`
//!   in `10..20` (10 to 19 inclusive), rows-major over both, so 100 graphs of
//!   100 to 361 nodes. Like GraphRNN's list it holds both orientations of
//!   every non-square lattice (`10 x 11` and `11 x 10` are isomorphic).
//! * [`community_small`], family `community-small`: two communities, each an
//!   Erdős–Rényi graph `G(c, 0.7)` with its size `c` drawn uniformly from
//!   `6..=10` (so 12 to 20 nodes, GraphRNN's "12 <= |V| <= 20"), joined by
//!   inter-community edges kept independently with probability
//!   [`COMMUNITY_P_INTER`] (0.05) per cross pair, with one edge between the
//!   first node of each community added when none was drawn. Two departures
//!   from GraphRNN's `n_community` helper, chosen on purpose: it seeds the
//!   community graphs with their index (so two communities of the same size
//!   are always the same graph), and its default cross-pair probability is
//!   0.01; here every community is a fresh draw from the one seeded stream,
//!   and 0.05 is the value of the later community-small generators.
//! * [`ego_graphs`], family `ego`: the radius-1 ego network (the node, its
//!   neighbours, and every edge among them) of every node of the largest
//!   connected component, kept when its size is within bounds, shuffled with
//!   the seed and cut to the first `num`. GraphRNN's ego-small uses Citeseer
//!   with 4 to 20 nodes in its code (its paper says 4 to 18) and keeps 200;
//!   we use Cora ([`cora_small_graph`]) and leave the bounds to the caller.
//!
//! [`train_test_split`] is GraphRNN's split (seeded shuffle, the first
//! `floor(0.8 n)` graphs train, the rest test), and [`erdos_renyi_baseline`]
//! the trivial generator every model should beat.

use std::path::Path;

use rand::seq::SliceRandom;

use crate::graph::SmallGraph;
use crate::rng::{seeded, GlmRng, Rng};

/// Probability of each cross-community node pair being an edge in [`community_small`].
pub const COMMUNITY_P_INTER: f64 = 0.05;

/// Edge probability inside a community in [`community_small`].
pub const COMMUNITY_P_INTRA: f64 = 0.7;

/// Names of the families, as [`Family::name`] spells them.
pub const FAMILY_NAMES: [&str; 3] = ["grid", "community-small", "ego"];

/// A synthetic (or sampled) graph family for generation experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// [`grid_graphs`].
    Grid,
    /// [`community_small`].
    CommunitySmall,
    /// [`ego_graphs`] of Cora.
    Ego,
}

impl Family {
    /// The family's name: `grid`, `community-small` or `ego`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Grid => FAMILY_NAMES[0],
            Family::CommunitySmall => FAMILY_NAMES[1],
            Family::Ego => FAMILY_NAMES[2],
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Family {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grid" => Ok(Family::Grid),
            "community-small" => Ok(Family::CommunitySmall),
            "ego" => Ok(Family::Ego),
            _ => Err(crate::Error::unknown("graph family", s, &FAMILY_NAMES)),
        }
    }
}

/// The `rows x cols` lattice; node `r * cols + c` is cell `(r, c)`.
pub fn grid(rows: usize, cols: usize) -> SmallGraph {
    let id = |r: usize, c: usize| r * cols + c;
    let mut pairs = Vec::with_capacity(2 * rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            if c + 1 < cols {
                pairs.push((id(r, c), id(r, c + 1)));
            }
            if r + 1 < rows {
                pairs.push((id(r, c), id(r + 1, c)));
            }
        }
    }
    SmallGraph::from_pairs(rows * cols, pairs)
}

/// GraphRNN's `grid` set: [`grid`]`(rows, cols)` for `rows` in `10..20`, then
/// `cols` in `10..20`: 100 graphs of 100 to 361 nodes.
pub fn grid_graphs() -> Vec<SmallGraph> {
    (10..20).flat_map(|r| (10..20).map(move |c| grid(r, c))).collect()
}

/// Erdős–Rényi `G(n, p)`: every pair an edge independently with probability `p`.
pub fn erdos_renyi(n: usize, p: f64, rng: &mut GlmRng) -> SmallGraph {
    let mut pairs = Vec::new();
    for u in 0..n {
        for v in u + 1..n {
            if rng.gen::<f64>() < p {
                pairs.push((u, v));
            }
        }
    }
    SmallGraph::from_pairs(n, pairs)
}

/// `num` two-community graphs (see the module docs); GraphRNN uses 100.
pub fn community_small(num: usize, seed: u64) -> Vec<SmallGraph> {
    let mut rng = seeded(seed);
    (0..num).map(|_| two_communities(&mut rng)).collect()
}

fn two_communities(rng: &mut GlmRng) -> SmallGraph {
    let a = rng.gen_range(6..=10usize);
    let b = rng.gen_range(6..=10usize);
    let ga = erdos_renyi(a, COMMUNITY_P_INTRA, rng);
    let gb = erdos_renyi(b, COMMUNITY_P_INTRA, rng);
    let mut pairs: Vec<(usize, usize)> = ga.edges.iter().map(|&(u, v, _)| (u as usize, v as usize)).collect();
    pairs.extend(gb.edges.iter().map(|&(u, v, _)| (a + u as usize, a + v as usize)));
    let mut any = false;
    for u in 0..a {
        for v in a..a + b {
            if rng.gen::<f64>() < COMMUNITY_P_INTER {
                pairs.push((u, v));
                any = true;
            }
        }
    }
    if !any {
        pairs.push((0, a));
    }
    SmallGraph::from_pairs(a + b, pairs)
}

/// The nodes of the largest connected component (the first found, scanning
/// from node 0, on ties), in increasing id order.
pub fn largest_component(g: &SmallGraph) -> Vec<usize> {
    let n = g.num_nodes();
    let adj = g.adjacency();
    let mut comp = vec![usize::MAX; n];
    let mut best: Vec<usize> = Vec::new();
    for s in 0..n {
        if comp[s] != usize::MAX {
            continue;
        }
        comp[s] = s;
        let mut members = vec![s];
        let mut head = 0;
        while head < members.len() {
            let u = members[head];
            head += 1;
            for &v in &adj[u] {
                if comp[v] == usize::MAX {
                    comp[v] = s;
                    members.push(v);
                }
            }
        }
        if members.len() > best.len() {
            best = members;
        }
    }
    best.sort_unstable();
    best
}

/// The subgraph induced by `nodes` (new node `i` is `nodes[i]`, types kept).
pub fn induced_subgraph(g: &SmallGraph, nodes: &[usize]) -> SmallGraph {
    let mut pos = vec![u32::MAX; g.num_nodes()];
    for (i, &v) in nodes.iter().enumerate() {
        pos[v] = i as u32;
    }
    let mut edges: Vec<(u32, u32, u32)> = g
        .edges
        .iter()
        .filter_map(|&(u, v, t)| {
            let (a, b) = (pos[u as usize], pos[v as usize]);
            (a != u32::MAX && b != u32::MAX).then(|| (a.min(b), a.max(b), t))
        })
        .collect();
    edges.sort_unstable();
    SmallGraph { node_types: nodes.iter().map(|&v| g.node_types[v]).collect(), edges }
}

/// Radius-1 ego networks of the largest component of `g` with
/// `min_nodes..=max_nodes` nodes, shuffled with `seed`, the first `num`
/// (fewer when fewer qualify). In each, node 0 is the centre and the others
/// follow in increasing original id. GraphRNN's ego-small: `num = 200`, 4 to 20
/// nodes in its code (4 to 18 in its paper).
pub fn ego_graphs(g: &SmallGraph, num: usize, min_nodes: usize, max_nodes: usize, seed: u64) -> Vec<SmallGraph> {
    let adj = g.adjacency();
    let mut out: Vec<SmallGraph> = largest_component(g)
        .into_iter()
        .filter_map(|c| {
            let size = adj[c].len() + 1;
            if size < min_nodes || size > max_nodes {
                return None;
            }
            let mut nodes = Vec::with_capacity(size);
            nodes.push(c);
            nodes.extend(adj[c].iter().copied());
            let mut ego = induced_subgraph(g, &nodes);
            ego.node_types.iter_mut().for_each(|t| *t = 0);
            ego.edges.iter_mut().for_each(|e| e.2 = 0);
            Some(ego)
        })
        .collect();
    out.shuffle(&mut seeded(seed));
    out.truncate(num);
    out
}

/// Cora's citation graph as an untyped [`SmallGraph`]: one undirected edge
/// per cited pair, self loops and duplicates dropped (2708 nodes, 5278 edges).
///
/// # Errors
/// The Planetoid loader's errors ([`crate::data::load_planetoid`]), for a
/// missing `cora` folder under `data_dir` or malformed files.
pub fn cora_small_graph(data_dir: &Path) -> crate::Result<SmallGraph> {
    let ds = crate::data::load_planetoid(data_dir, "cora", crate::data::PlanetoidSource::Auto)?;
    let g = &ds.graph;
    Ok(SmallGraph::from_pairs(g.num_nodes(), g.src().iter().copied().zip(g.dst().iter().copied())))
}

/// Seeded shuffle, then the first `floor((1 - test_fraction) n)` graphs are
/// the training set and the rest the test set (GraphRNN's 80/20 with 0.2).
pub fn train_test_split(mut graphs: Vec<SmallGraph>, test_fraction: f64, seed: u64) -> (Vec<SmallGraph>, Vec<SmallGraph>) {
    graphs.shuffle(&mut seeded(seed));
    let keep = (1.0 - test_fraction.clamp(0.0, 1.0)) * graphs.len() as f64;
    // The small epsilon keeps 0.8 * 100 at 80 whatever the rounding of the product.
    let num_train = ((keep + 1e-9).floor() as usize).min(graphs.len());
    let test = graphs.split_off(num_train);
    (graphs, test)
}

/// `num` Erdős–Rényi graphs whose node counts are drawn (uniformly, with
/// replacement) from the training graphs' sizes and whose edge probability is
/// the training graphs' mean [`SmallGraph::density`]. Empty when `train` is.
pub fn erdos_renyi_baseline(train: &[SmallGraph], num: usize, seed: u64) -> Vec<SmallGraph> {
    if train.is_empty() {
        return Vec::new();
    }
    let p = train.iter().map(SmallGraph::density).sum::<f64>() / train.len() as f64;
    let mut rng = seeded(seed);
    (0..num)
        .map(|_| {
            let n = train[rng.gen_range(0..train.len())].num_nodes();
            erdos_renyi(n, p, &mut rng)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_round_trip() {
        for f in [Family::Grid, Family::CommunitySmall, Family::Ego] {
            assert_eq!(f.name().parse::<Family>().unwrap(), f);
        }
        let err = "grids".parse::<Family>().unwrap_err().to_string();
        assert!(err.contains("graph family") && err.contains("community-small"), "{err}");
    }

    #[test]
    fn grids_match_graphrnn() {
        let g = grid_graphs();
        assert_eq!(g.len(), 100);
        assert_eq!(g[0].num_nodes(), 100);
        assert_eq!(g[99].num_nodes(), 361);
        assert_eq!(g[99].num_edges(), 2 * 19 * 18);
        assert!(g.iter().all(SmallGraph::is_connected));
        let sizes: std::collections::BTreeSet<usize> = g.iter().map(SmallGraph::num_nodes).collect();
        assert_eq!(*sizes.first().unwrap(), 100);
        // 3 x 2: 7 edges, corner degrees 2.
        let small = grid(3, 2);
        assert_eq!(small.num_edges(), 7);
        assert_eq!(small.degrees(), vec![2, 2, 3, 3, 2, 2]);
    }

    #[test]
    fn community_small_is_seeded_and_in_range() {
        let a = community_small(100, 7);
        assert_eq!(a, community_small(100, 7));
        assert_ne!(a, community_small(100, 8));
        assert_eq!(a.len(), 100);
        for g in &a {
            assert!((12..=20).contains(&g.num_nodes()), "{}", g.num_nodes());
        }
        // Each graph has at least one edge across the two communities: with
        // intra p = 0.7 nearly all are connected.
        let connected = a.iter().filter(|g| g.is_connected()).count();
        assert!(connected >= 95, "{connected}");
        let mean_density = a.iter().map(SmallGraph::density).sum::<f64>() / 100.0;
        assert!((0.3..0.45).contains(&mean_density), "{mean_density}");
    }

    #[test]
    fn ego_networks_are_induced_and_bounded() {
        // A path 0-1-2-3 plus a triangle 4-5-6 (smaller component).
        let g = SmallGraph::from_pairs(7, [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (4, 6)]);
        assert_eq!(largest_component(&g), vec![0, 1, 2, 3]);
        let egos = ego_graphs(&g, 10, 3, 3, 1);
        assert_eq!(egos.len(), 2);
        for e in &egos {
            assert_eq!(e.num_nodes(), 3);
            assert_eq!(e.num_edges(), 2);
        }
        // Induced: the ego of a triangle corner holds the triangle's third edge.
        let t = SmallGraph::from_pairs(4, [(0, 1), (1, 2), (0, 2), (2, 3)]);
        let egos = ego_graphs(&t, 10, 1, 10, 1);
        assert_eq!(egos.len(), 4);
        assert!(egos.iter().any(|e| e.num_nodes() == 3 && e.num_edges() == 3));
        assert!(egos.iter().any(|e| e.num_nodes() == 4 && e.num_edges() == 4));
        assert_eq!(ego_graphs(&t, 1, 1, 10, 1).len(), 1);
    }

    #[test]
    fn split_and_baseline() {
        let graphs = grid_graphs();
        let (train, test) = train_test_split(graphs.clone(), 0.2, 123);
        assert_eq!((train.len(), test.len()), (80, 20));
        assert_eq!(train_test_split(graphs, 0.2, 123).0, train);
        let er = erdos_renyi_baseline(&train, 50, 3);
        assert_eq!(er.len(), 50);
        let sizes: std::collections::HashSet<usize> = train.iter().map(SmallGraph::num_nodes).collect();
        assert!(er.iter().all(|g| sizes.contains(&g.num_nodes())));
        let p = train.iter().map(SmallGraph::density).sum::<f64>() / 80.0;
        let q = er.iter().map(|g| g.num_edges() as f64).sum::<f64>() / er.iter().map(|g| (g.num_nodes() * (g.num_nodes() - 1) / 2) as f64).sum::<f64>();
        assert!((q - p).abs() < 0.1 * p, "{q} vs {p}");
        assert!(erdos_renyi_baseline(&[], 3, 1).is_empty());
    }

    #[test]
    fn cora_ego_networks() {
        let Some(dir) = crate::testing::shared_datasets("cora") else { return };
        let cora = cora_small_graph(&dir).unwrap();
        assert_eq!(cora.num_nodes(), 2708);
        assert_eq!(cora.num_edges(), 5278);
        assert_eq!(largest_component(&cora).len(), 2485);
        let egos = ego_graphs(&cora, 200, 4, 18, 0);
        assert_eq!(egos.len(), 200);
        assert!(egos.iter().all(|e| (4..=18).contains(&e.num_nodes()) && e.is_connected()));
    }
}
