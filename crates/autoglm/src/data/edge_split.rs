//! Edge splits for link prediction: held-out positive edges with sampled
//! negatives, training-time negative sampling, and edge noise for robustness
//! studies.
//!
//! Protocol (the GAE paper's, and PyG's `RandomLinkSplit(is_undirected=True)`):
//!
//! * The graph is read as undirected: every `{u, v}` pair with `u != v` counts
//!   once, stored as `(min, max)`; self loops are dropped; duplicate and reverse
//!   edges merge.
//! * The pairs are shuffled with the seed; the first `num_val` are validation
//!   positives, the next `num_test` test positives, the rest training positives.
//!   Sizes are fractions of the number of undirected edges (rounded down, as
//!   PyG and the GAE code do) or absolute counts ([`SplitSize`]).
//! * Validation and test negatives: one per positive, distinct unordered pairs
//!   `{u, v}`, `u != v`, drawn uniformly from the non-edges of the **full**
//!   graph (so a held-out negative is never a true edge).
//! * Ranking negatives (for MRR): for every validation / test positive `(u, v)`,
//!   `ranking_negatives` distinct nodes `w != u` with `{u, w}` a non-edge of the
//!   full graph, drawn uniformly (the tail is corrupted, as OGB's citation2
//!   split does). A node with fewer non-neighbours gets all of them.
//! * The encoder's graph ([`EdgeSplit::train_graph`]) holds both directions of
//!   the training positives and nothing else: no validation or test edge is
//!   ever seen by message passing. It is unweighted (edge weights of the input
//!   graph, such as karate's interaction counts, are not carried over).
//!
//! Architecture invariant: like the rest of `data`, no tensors here.

use crate::graph::Graph;
use crate::rng::{derive, GlmRng, Rng};
use crate::{Error, Result};
use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

/// How many edges a held-out part gets: a fraction of the undirected edges, or a count.
///
/// Serialised untagged: `0.1` is a fraction, `500` a count.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum SplitSize {
    /// An absolute number of undirected edges.
    Count(usize),
    /// A fraction in `[0, 1]` of the undirected edges, rounded down.
    Fraction(f64),
}

impl SplitSize {
    fn check(&self, field: &str) -> Result<()> {
        if let SplitSize::Fraction(f) = *self {
            if !(0.0..=1.0).contains(&f) {
                return Err(Error::config(field, f, "a fraction of the edges must be in [0, 1]"));
            }
        }
        Ok(())
    }
    /// The number of edges out of `num_edges`.
    pub fn resolve(&self, num_edges: usize) -> usize {
        match *self {
            SplitSize::Count(c) => c,
            SplitSize::Fraction(f) => (f * num_edges as f64).floor() as usize,
        }
    }
}

impl std::fmt::Display for SplitSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitSize::Count(c) => write!(f, "{c} edges"),
            SplitSize::Fraction(x) => write!(f, "{x}"),
        }
    }
}

/// Configuration of [`split_edges`]. Defaults: 5 % validation, 10 % test (the GAE
/// paper's 85 / 5 / 10), 100 ranking negatives per held-out positive.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeSplitConfig {
    /// Validation positives (default 0.05).
    pub val: SplitSize,
    /// Test positives (default 0.10).
    pub test: SplitSize,
    /// Negatives per validation / test positive for MRR (default 100).
    pub ranking_negatives: usize,
}

impl Default for EdgeSplitConfig {
    fn default() -> Self {
        EdgeSplitConfig { val: SplitSize::Fraction(0.05), test: SplitSize::Fraction(0.10), ranking_negatives: 100 }
    }
}

impl EdgeSplitConfig {
    /// Validate the sizes that can be checked without a graph (fractions in
    /// `[0, 1]`, `val + test <= 1`).
    pub fn validate(&self) -> Result<()> {
        self.val.check("split.val")?;
        self.test.check("split.test")?;
        if let (SplitSize::Fraction(v), SplitSize::Fraction(t)) = (self.val, self.test) {
            if v + t > 1.0 {
                return Err(Error::config(
                    "split.val + split.test",
                    v + t,
                    "validation and test fractions together must not exceed 1 (the rest is the training set)",
                ));
            }
        }
        Ok(())
    }
}

/// A set of unordered node pairs `{u, v}` (hash of `(min, max)`).
#[derive(Debug, Clone, Default)]
pub struct PairSet {
    set: HashSet<u64>,
}

fn key(u: usize, v: usize) -> u64 {
    let (a, b) = if u <= v { (u, v) } else { (v, u) };
    ((a as u64) << 32) | b as u64
}

impl PairSet {
    /// The set of the given pairs (order inside a pair does not matter).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = &'a (usize, usize)>) -> PairSet {
        PairSet { set: pairs.into_iter().map(|&(u, v)| key(u, v)).collect() }
    }
    /// Whether `{u, v}` is in the set.
    pub fn contains(&self, u: usize, v: usize) -> bool {
        self.set.contains(&key(u, v))
    }
    /// Add `{u, v}`; false if it was there.
    pub fn insert(&mut self, u: usize, v: usize) -> bool {
        self.set.insert(key(u, v))
    }
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.set.len()
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// The distinct undirected edges of `graph` as `(u, v)` with `u < v`, sorted;
/// self loops dropped, reverse and duplicate edges merged.
pub fn undirected_pairs(graph: &Graph) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = graph.edges().filter(|(s, d)| s != d).map(|(s, d)| if s < d { (s, d) } else { (d, s) }).collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Number of unordered pairs `{u, v}`, `u != v`, on `n` nodes.
fn num_pairs(n: usize) -> u128 {
    let n = n as u128;
    n * n.saturating_sub(1) / 2
}

/// The graph holding both directions of every pair.
pub fn symmetric_graph(num_nodes: usize, pairs: &[(usize, usize)]) -> Result<Graph> {
    let mut src = Vec::with_capacity(2 * pairs.len());
    let mut dst = Vec::with_capacity(2 * pairs.len());
    for &(u, v) in pairs {
        src.push(u);
        dst.push(v);
        src.push(v);
        dst.push(u);
    }
    Graph::builder(num_nodes).context("link-prediction training graph").edge_lists(src, dst).build()
}

/// A link-prediction split of one graph (see the module docs for the protocol).
#[derive(Debug, Clone)]
pub struct EdgeSplit {
    /// Number of nodes (every node stays in the graph, also when it loses all its edges).
    pub num_nodes: usize,
    /// Training positives, `(u, v)` with `u < v`.
    pub train_pos: Vec<(usize, usize)>,
    /// Validation positives and their negatives (one per positive).
    pub val_pos: Vec<(usize, usize)>,
    pub val_neg: Vec<(usize, usize)>,
    /// Test positives and their negatives (one per positive).
    pub test_pos: Vec<(usize, usize)>,
    pub test_neg: Vec<(usize, usize)>,
    /// For each validation positive `(u, v)`: the nodes `w` of its ranking negatives `(u, w)`.
    pub val_rank_neg: Vec<Vec<usize>>,
    /// For each test positive `(u, v)`: the nodes `w` of its ranking negatives `(u, w)`.
    pub test_rank_neg: Vec<Vec<usize>>,
    /// Both directions of the training positives: the only edges the encoder sees.
    pub train_graph: Graph,
    /// Every undirected edge of the full graph.
    full: PairSet,
}

impl EdgeSplit {
    /// Whether `{u, v}` is an edge of the full graph (any part of the split).
    pub fn is_edge(&self, u: usize, v: usize) -> bool {
        self.full.contains(u, v)
    }
    /// Number of undirected edges in the full graph.
    pub fn num_edges(&self) -> usize {
        self.full.len()
    }
    /// The same split with other training positives (edge noise); validation and
    /// test parts are kept as they are. Pairs are stored as `(min, max)`, sorted,
    /// duplicates merged.
    ///
    /// Errors: [`Error::IndexOutOfRange`] for a node id `>= num_nodes`;
    /// [`Error::Config`] for a self loop or a pair that is a validation / test positive.
    pub fn with_train_pos(&self, pairs: Vec<(usize, usize)>) -> Result<EdgeSplit> {
        let held_out = PairSet::from_pairs(self.val_pos.iter().chain(&self.test_pos));
        let mut train = Vec::with_capacity(pairs.len());
        for (i, (u, v)) in pairs.into_iter().enumerate() {
            check_pair(i, u, v, self.num_nodes, "training pair")?;
            if u == v {
                return Err(Error::config("training pair", format!("({u}, {v})"), "self loops are not link-prediction targets"));
            }
            if held_out.contains(u, v) {
                return Err(Error::config(
                    "training pair",
                    format!("({u}, {v})"),
                    "this pair is a validation or test positive; training on it would leak the held-out edges",
                ));
            }
            train.push((u.min(v), u.max(v)));
        }
        train.sort_unstable();
        train.dedup();
        let train_graph = symmetric_graph(self.num_nodes, &train)?;
        Ok(EdgeSplit { train_pos: train, train_graph, ..self.clone() })
    }
}

fn check_pair(i: usize, u: usize, v: usize, n: usize, what: &str) -> Result<()> {
    if u >= n || v >= n {
        return Err(Error::IndexOutOfRange {
            what: format!("{what} {i} ({u}, {v})"),
            index: u.max(v),
            bound: n,
            hint: format!("node ids must be 0-based and below num_nodes = {n}"),
        });
    }
    Ok(())
}

/// Split the undirected edges of `graph` into training, validation and test
/// positives with sampled negatives (see the module docs), seeded by `seed`.
///
/// ```
/// use autoglm::data::edge_split::{split_edges, EdgeSplitConfig};
/// let g = autoglm::data::load_karate_builtin().unwrap().graph;
/// let s = split_edges(&g, &EdgeSplitConfig::default(), 0).unwrap();
/// // 78 undirected edges: floor(3.9) = 3 validation, floor(7.8) = 7 test, 68 training.
/// assert_eq!((s.val_pos.len(), s.test_pos.len(), s.train_pos.len()), (3, 7, 68));
/// assert_eq!(s.train_graph.num_edges(), 2 * 68);
/// assert!(s.test_pos.iter().all(|&(u, v)| !s.train_graph.has_edge(u, v)));
/// ```
///
/// Errors: [`Error::Config`] when a fraction is outside `[0, 1]`, validation and
/// test together ask for more edges than the graph has, or the graph has too
/// few non-edges for one negative per held-out positive.
pub fn split_edges(graph: &Graph, cfg: &EdgeSplitConfig, seed: u64) -> Result<EdgeSplit> {
    cfg.validate()?;
    let n = graph.num_nodes();
    if n as u64 > u32::MAX as u64 {
        return Err(Error::config("num_nodes", n, "edge splits support at most 2^32 - 1 nodes"));
    }
    let mut pairs = undirected_pairs(graph);
    let m = pairs.len();
    let (nv, nt) = (cfg.val.resolve(m), cfg.test.resolve(m));
    for (field, size, k) in [("split.val", cfg.val, nv), ("split.test", cfg.test, nt)] {
        if k > m {
            return Err(Error::config(field, size, format!("{k} held-out edges requested but the graph has only {m} undirected edges")));
        }
    }
    if nv + nt > m {
        return Err(Error::config(
            "split.val + split.test",
            format!("{nv} + {nt} edges"),
            format!("more held-out edges requested than the graph's {m} undirected edges"),
        ));
    }
    let full = PairSet::from_pairs(&pairs);
    let non_edges = num_pairs(n) - m as u128;
    if ((nv + nt) as u128) > non_edges {
        return Err(Error::config(
            "split",
            format!("{} held-out positives", nv + nt),
            format!("the graph has only {non_edges} non-edges, too few for one negative per held-out positive; hold out fewer edges"),
        ));
    }
    let mut rng = derive(seed, 0x5eed_ed9e);
    shuffle(&mut pairs, &mut rng);
    let val_pos = pairs[..nv].to_vec();
    let test_pos = pairs[nv..nv + nt].to_vec();
    let mut train_pos = pairs[nv + nt..].to_vec();
    train_pos.sort_unstable();
    let mut negs = sample_non_edges(n, nv + nt, &full, &PairSet::default(), &mut rng)?;
    let test_neg = negs.split_off(nv);
    let val_neg = negs;
    let mut deg = vec![0usize; n];
    for &(u, v) in &pairs {
        deg[u] += 1;
        deg[v] += 1;
    }
    let val_rank_neg = ranking_negatives(&val_pos, cfg.ranking_negatives, n, &deg, &full, &mut rng);
    let test_rank_neg = ranking_negatives(&test_pos, cfg.ranking_negatives, n, &deg, &full, &mut rng);
    let train_graph = symmetric_graph(n, &train_pos)?;
    Ok(EdgeSplit { num_nodes: n, train_pos, val_pos, val_neg, test_pos, test_neg, val_rank_neg, test_rank_neg, train_graph, full })
}

fn shuffle<T>(v: &mut [T], rng: &mut GlmRng) {
    for i in (1..v.len()).rev() {
        let j = rng.gen_range(0..=i);
        v.swap(i, j);
    }
}

/// `count` distinct unordered pairs `(min, max)`, `u != v`, uniform over the pairs in
/// neither `edges` nor `exclude`. Rejection sampling while the free pairs are
/// plentiful, enumeration otherwise.
fn sample_non_edges(n: usize, count: usize, edges: &PairSet, exclude: &PairSet, rng: &mut GlmRng) -> Result<Vec<(usize, usize)>> {
    if count == 0 {
        return Ok(vec![]);
    }
    let total = num_pairs(n);
    // A lower bound on the free pairs (the two sets may overlap).
    let free_lb = total.saturating_sub((edges.len() + exclude.len()) as u128);
    let mut chosen = PairSet::default();
    let mut out = Vec::with_capacity(count);
    if 2 * free_lb >= total && free_lb >= 2 * count as u128 {
        // At least half the pairs are free and at most half of those get chosen,
        // so a draw (an ordered pair, u != v) succeeds with probability >= 1/4.
        while out.len() < count {
            let u = rng.gen_range(0..n);
            let v = rng.gen_range(0..n);
            if u == v || edges.contains(u, v) || exclude.contains(u, v) || !chosen.insert(u, v) {
                continue;
            }
            out.push((u.min(v), u.max(v)));
        }
        return Ok(out);
    }
    // Dense or nearly exhausted: list every free pair (the sets already hold at
    // least half as many pairs, so this costs no more memory than they do).
    let mut free: Vec<(usize, usize)> =
        (0..n).flat_map(|u| (u + 1..n).map(move |v| (u, v))).filter(|&(u, v)| !edges.contains(u, v) && !exclude.contains(u, v)).collect();
    if free.len() < count {
        return Err(Error::config(
            "negatives",
            count,
            format!("only {} node pairs are non-edges (and not excluded); hold out fewer edges or inject less noise", free.len()),
        ));
    }
    // Partial Fisher-Yates: the first `count` entries are a uniform sample.
    for i in 0..count {
        let j = rng.gen_range(i..free.len());
        free.swap(i, j);
    }
    free.truncate(count);
    Ok(free)
}

/// For each positive `(u, v)`: up to `k` distinct `w != u` with `{u, w}` not an edge.
fn ranking_negatives(pos: &[(usize, usize)], k: usize, n: usize, deg: &[usize], full: &PairSet, rng: &mut GlmRng) -> Vec<Vec<usize>> {
    pos.iter()
        .map(|&(u, _)| {
            if k == 0 {
                return vec![];
            }
            let available = n - 1 - deg[u];
            if available <= 2 * k {
                let mut all: Vec<usize> = (0..n).filter(|&w| w != u && !full.contains(u, w)).collect();
                let take = k.min(all.len());
                for i in 0..take {
                    let j = rng.gen_range(i..all.len());
                    all.swap(i, j);
                }
                all.truncate(take);
                return all;
            }
            let mut seen = HashSet::with_capacity(k);
            let mut out = Vec::with_capacity(k);
            while out.len() < k {
                let w = rng.gen_range(0..n);
                if w != u && !full.contains(u, w) && seen.insert(w) {
                    out.push(w);
                }
            }
            out
        })
        .collect()
}

/// How training negatives are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeStrategy {
    /// Both endpoints uniform over the nodes.
    #[default]
    Uniform,
    /// Both endpoints drawn independently with probability ∝ `degree^power` in
    /// the training graph (word2vec's unigram^0.75 trick); nodes without training
    /// edges are never drawn.
    Degree,
}

/// Training-time negative sampling, re-drawn every epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NegativeSamplingConfig {
    /// Negatives per training positive (default 1, as PyG's GAE example).
    pub ratio: f64,
    /// Uniform (default) or degree-biased endpoints.
    pub strategy: NegativeStrategy,
    /// Exponent of the degree bias (default 0.75).
    pub degree_power: f64,
}

impl Default for NegativeSamplingConfig {
    fn default() -> Self {
        NegativeSamplingConfig { ratio: 1.0, strategy: NegativeStrategy::Uniform, degree_power: 0.75 }
    }
}

impl NegativeSamplingConfig {
    /// Validate ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.ratio > 0.0 && self.ratio.is_finite()) {
            return Err(Error::config("negatives.ratio", self.ratio, "must be a positive number of negatives per positive"));
        }
        if !(self.degree_power >= 0.0 && self.degree_power.is_finite()) {
            return Err(Error::config("negatives.degree_power", self.degree_power, "must be a finite number >= 0"));
        }
        Ok(())
    }
}

/// Draws training negatives: pairs `(u, v)`, `u != v`, that are not training
/// edges, independently (with replacement across draws), as PyG's
/// `negative_sampling` does each epoch. Validation and test edges are unknown
/// at training time, so they can be drawn as negatives (as in PyG).
#[derive(Debug, Clone)]
pub struct NegativeSampler {
    num_nodes: usize,
    train: PairSet,
    /// Cumulative endpoint weights for the degree-biased strategy.
    cumulative: Option<Vec<f64>>,
    /// Every free pair, when the training graph is too dense for rejection sampling.
    free: Option<Vec<(usize, usize)>>,
}

impl NegativeSampler {
    /// A sampler avoiding the pairs of `train_pos` on `num_nodes` nodes.
    ///
    /// Errors: [`Error::Config`] when no pair is left to sample (a complete graph),
    /// or the degree-biased strategy has fewer than two nodes to draw from.
    pub fn new(num_nodes: usize, train_pos: &[(usize, usize)], cfg: &NegativeSamplingConfig) -> Result<NegativeSampler> {
        cfg.validate()?;
        let train = PairSet::from_pairs(train_pos);
        let free_pairs = num_pairs(num_nodes) - train.len() as u128;
        if free_pairs == 0 {
            return Err(Error::config("negatives", num_nodes, "every pair of nodes is a training edge: there is no negative to sample"));
        }
        let cumulative = match cfg.strategy {
            NegativeStrategy::Uniform => None,
            NegativeStrategy::Degree => {
                let mut deg = vec![0usize; num_nodes];
                for &(u, v) in train_pos {
                    deg[u] += 1;
                    deg[v] += 1;
                }
                if deg.iter().filter(|&&d| d > 0).count() < 2 {
                    return Err(Error::config("negatives.strategy", "degree", "fewer than two nodes have training edges; use the uniform strategy"));
                }
                let mut acc = 0.0;
                Some(
                    deg.iter()
                        .map(|&d| {
                            acc += if d > 0 { (d as f64).powf(cfg.degree_power) } else { 0.0 };
                            acc
                        })
                        .collect(),
                )
            }
        };
        // Dense graphs: keep the free pairs and draw from them directly.
        let free = (free_pairs * 4 < num_pairs(num_nodes))
            .then(|| (0..num_nodes).flat_map(|u| (u + 1..num_nodes).map(move |v| (u, v))).filter(|&(u, v)| !train.contains(u, v)).collect());
        Ok(NegativeSampler { num_nodes, train, cumulative, free })
    }

    fn endpoint(&self, rng: &mut GlmRng) -> usize {
        match &self.cumulative {
            None => rng.gen_range(0..self.num_nodes),
            Some(c) => {
                let x = rng.gen::<f64>() * c[c.len() - 1];
                c.partition_point(|&a| a <= x).min(c.len() - 1)
            }
        }
    }

    /// `count` negatives.
    ///
    /// Errors: [`Error::Config`] when the degree-biased strategy cannot find a free
    /// pair among its nodes (every pair of nodes with training edges is an edge).
    pub fn sample(&self, count: usize, rng: &mut GlmRng) -> Result<Vec<(usize, usize)>> {
        let mut out = Vec::with_capacity(count);
        if let (Some(free), None) = (&self.free, &self.cumulative) {
            out.extend((0..count).map(|_| free[rng.gen_range(0..free.len())]));
            return Ok(out);
        }
        let mut attempts = 0usize;
        let budget = 1000 + 1000 * count;
        while out.len() < count {
            attempts += 1;
            if attempts > budget {
                return Err(Error::config(
                    "negatives.strategy",
                    "degree",
                    "could not find non-edges among the nodes the degree-biased sampler draws; use the uniform strategy",
                ));
            }
            let u = self.endpoint(rng);
            let v = self.endpoint(rng);
            if u != v && !self.train.contains(u, v) {
                out.push((u, v));
            }
        }
        Ok(out)
    }

    /// Whether `{u, v}` is a training edge (never returned by [`NegativeSampler::sample`]).
    pub fn is_train_edge(&self, u: usize, v: usize) -> bool {
        self.train.contains(u, v)
    }
}

/// Edge noise applied to the training graph only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeNoise {
    /// Add random false edges.
    Add,
    /// Remove random true training edges.
    Drop,
}

impl std::str::FromStr for EdgeNoise {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "add" | "inject" => Ok(EdgeNoise::Add),
            "drop" | "remove" => Ok(EdgeNoise::Drop),
            _ => Err(Error::unknown("edge noise", s, &["add", "drop"])),
        }
    }
}

impl std::fmt::Display for EdgeNoise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EdgeNoise::Add => "add",
            EdgeNoise::Drop => "drop",
        })
    }
}

/// The split with noisy training edges; validation and test parts untouched.
///
/// * [`EdgeNoise::Add`]: `floor(level · |train|)` random pairs join the training
///   positives (and so the encoder's graph and the supervision, as spurious
///   edges in observed data would). They are drawn uniformly among the non-edges
///   of the full graph that are no validation, test or ranking negative, so the
///   noise never touches an evaluation pair.
/// * [`EdgeNoise::Drop`]: `floor(level · |train|)` random training positives are removed.
///
/// `level = 0` returns the split unchanged.
///
/// Errors: [`Error::Config`] for a level outside `[0, 1]`, or too few free pairs to add.
pub fn apply_noise(split: &EdgeSplit, noise: EdgeNoise, level: f64, seed: u64) -> Result<EdgeSplit> {
    if !(0.0..=1.0).contains(&level) {
        return Err(Error::config("noise level", level, "must be a fraction in [0, 1] of the training edges"));
    }
    let k = (level * split.train_pos.len() as f64).floor() as usize;
    if k == 0 {
        return Ok(split.clone());
    }
    let mut rng = derive(seed, 0x0015e);
    let mut train = split.train_pos.clone();
    match noise {
        EdgeNoise::Add => {
            let mut eval = PairSet::from_pairs(split.val_neg.iter().chain(&split.test_neg));
            for (pos, negs) in split.val_pos.iter().zip(&split.val_rank_neg).chain(split.test_pos.iter().zip(&split.test_rank_neg)) {
                for &w in negs {
                    eval.insert(pos.0, w);
                }
            }
            train.extend(sample_non_edges(split.num_nodes, k, &split.full, &eval, &mut rng)?);
            train.sort_unstable();
        }
        EdgeNoise::Drop => {
            shuffle(&mut train, &mut rng);
            train.truncate(train.len() - k);
            train.sort_unstable();
        }
    }
    let train_graph = symmetric_graph(split.num_nodes, &train)?;
    Ok(EdgeSplit { train_pos: train, train_graph, ..split.clone() })
}

/// Read node pairs from a CSV file: one `src,dst` pair per line (commas, tabs or
/// spaces), an optional header line, blank lines and `#` comments skipped.
///
/// Errors: [`Error::Parse`] naming the file and line for a malformed line or a
/// node id `>= num_nodes`.
pub fn read_pairs_csv(path: &Path, num_nodes: usize) -> Result<Vec<(usize, usize)>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("open pairs file", path, e))?;
    let mut out = vec![];
    let mut seen_data = false;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io("read pairs file", path, e))?;
        let lineno = i + 1;
        // A leading UTF-8 byte order mark is not part of the first field.
        let line = if i == 0 { line.strip_prefix('\u{feff}').unwrap_or(&line) } else { &line };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = t.split([',', '\t', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).collect();
        let parsed: Vec<Option<usize>> = fields.iter().map(|s| s.parse::<usize>().ok()).collect();
        if !seen_data && parsed.iter().all(Option::is_none) {
            seen_data = true; // a header such as `src,dst`
            continue;
        }
        seen_data = true;
        if fields.len() != 2 {
            return Err(Error::parse(path, Some(lineno), format!("expected two node ids `src,dst`, got {} fields in {t:?}", fields.len())));
        }
        let mut ids = [0usize; 2];
        for (k, (s, p)) in fields.iter().zip(&parsed).enumerate() {
            ids[k] = p.ok_or_else(|| Error::parse(path, Some(lineno), format!("{s:?} is not a node id (a non-negative integer)")))?;
            if ids[k] >= num_nodes {
                return Err(Error::parse(
                    path,
                    Some(lineno),
                    format!("node id {} is out of range: the graph has {num_nodes} nodes (ids 0..={})", ids[k], num_nodes.saturating_sub(1)),
                ));
            }
        }
        out.push((ids[0], ids[1]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load_karate_builtin;
    use crate::testing::random_graph;

    fn karate() -> Graph {
        load_karate_builtin().unwrap().graph
    }

    #[test]
    fn split_sizes_and_disjointness() {
        let g = random_graph(200, 1500, 3).to_undirected();
        let s = split_edges(&g, &EdgeSplitConfig::default(), 7).unwrap();
        let all = undirected_pairs(&g);
        let m = all.len();
        assert_eq!(s.num_edges(), m);
        assert_eq!(s.val_pos.len(), m / 20);
        assert_eq!(s.test_pos.len(), m / 10);
        assert_eq!(s.train_pos.len() + s.val_pos.len() + s.test_pos.len(), m);
        let mut union: Vec<_> = s.train_pos.iter().chain(&s.val_pos).chain(&s.test_pos).copied().collect();
        union.sort_unstable();
        assert_eq!(union, all, "the parts partition the undirected edges");
        for &(u, v) in s.train_pos.iter().chain(&s.val_pos).chain(&s.test_pos) {
            assert!(u < v);
        }
        assert_eq!((s.val_neg.len(), s.test_neg.len()), (s.val_pos.len(), s.test_pos.len()));
        let negs: PairSet = PairSet::from_pairs(s.val_neg.iter().chain(&s.test_neg));
        assert_eq!(negs.len(), s.val_neg.len() + s.test_neg.len(), "negatives are distinct");
        for &(u, v) in s.val_neg.iter().chain(&s.test_neg) {
            assert!(u < v && !g.has_edge(u, v) && !g.has_edge(v, u), "negative ({u}, {v}) is an edge");
        }
        for (pos, negs) in s.test_pos.iter().zip(&s.test_rank_neg).chain(s.val_pos.iter().zip(&s.val_rank_neg)) {
            assert_eq!(negs.len(), 100);
            let uniq: HashSet<_> = negs.iter().collect();
            assert_eq!(uniq.len(), negs.len());
            for &w in negs {
                assert!(w != pos.0 && !s.is_edge(pos.0, w));
            }
        }
    }

    #[test]
    fn no_leakage_into_the_encoder_graph() {
        let g = karate();
        for seed in 0..5 {
            let s = split_edges(&g, &EdgeSplitConfig::default(), seed).unwrap();
            let tg = &s.train_graph;
            assert!(tg.is_undirected());
            assert_eq!(tg.num_edges(), 2 * s.train_pos.len());
            assert_eq!(tg.num_nodes(), g.num_nodes());
            for &(u, v) in s.val_pos.iter().chain(&s.test_pos) {
                assert!(!tg.has_edge(u, v) && !tg.has_edge(v, u), "held-out edge ({u}, {v}) is in the encoder's graph");
            }
            for &(u, v) in &s.train_pos {
                assert!(tg.has_edge(u, v) && tg.has_edge(v, u));
            }
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let g = karate();
        let a = split_edges(&g, &EdgeSplitConfig::default(), 11).unwrap();
        let b = split_edges(&g, &EdgeSplitConfig::default(), 11).unwrap();
        let c = split_edges(&g, &EdgeSplitConfig::default(), 12).unwrap();
        assert_eq!((&a.train_pos, &a.val_pos, &a.test_pos, &a.val_neg, &a.test_neg), (&b.train_pos, &b.val_pos, &b.test_pos, &b.val_neg, &b.test_neg));
        assert_eq!(a.test_rank_neg, b.test_rank_neg);
        assert_ne!((&a.test_pos, &a.test_neg), (&c.test_pos, &c.test_neg));
        let cfg = NegativeSamplingConfig::default();
        let ns = NegativeSampler::new(a.num_nodes, &a.train_pos, &cfg).unwrap();
        let x = ns.sample(50, &mut crate::rng::seeded(5)).unwrap();
        let y = ns.sample(50, &mut crate::rng::seeded(5)).unwrap();
        assert_eq!(x, y);
        let n1 = apply_noise(&a, EdgeNoise::Add, 0.2, 3).unwrap();
        let n2 = apply_noise(&a, EdgeNoise::Add, 0.2, 3).unwrap();
        assert_eq!(n1.train_pos, n2.train_pos);
    }

    #[test]
    fn self_loops_and_duplicates_are_dropped() {
        let g = Graph::from_edges(4, &[(0, 1), (1, 0), (0, 1), (2, 2), (2, 3), (3, 1)]).unwrap();
        assert_eq!(undirected_pairs(&g), vec![(0, 1), (1, 3), (2, 3)]);
        let s = split_edges(&g, &EdgeSplitConfig { val: SplitSize::Count(1), test: SplitSize::Count(1), ranking_negatives: 2 }, 0).unwrap();
        assert_eq!(s.train_pos.len(), 1);
        assert!(s.train_graph.edges().all(|(a, b)| a != b));
    }

    #[test]
    fn negative_sampling_never_returns_a_training_edge() {
        let g = karate();
        let s = split_edges(&g, &EdgeSplitConfig::default(), 1).unwrap();
        for strategy in [NegativeStrategy::Uniform, NegativeStrategy::Degree] {
            let cfg = NegativeSamplingConfig { strategy, ..Default::default() };
            let ns = NegativeSampler::new(s.num_nodes, &s.train_pos, &cfg).unwrap();
            let mut rng = crate::rng::seeded(0);
            for _ in 0..20 {
                for (u, v) in ns.sample(200, &mut rng).unwrap() {
                    assert!(u != v, "self loop sampled");
                    assert!(!s.train_graph.has_edge(u, v), "training edge ({u}, {v}) sampled as a negative");
                }
            }
        }
        // A dense graph (the enumeration path): K5 minus one edge has one free pair.
        let k5: Vec<(usize, usize)> = (0..5).flat_map(|u| (u + 1..5).map(move |v| (u, v))).filter(|&p| p != (1, 3)).collect();
        let ns = NegativeSampler::new(5, &k5, &NegativeSamplingConfig::default()).unwrap();
        assert!(ns.sample(10, &mut crate::rng::seeded(0)).unwrap().iter().all(|&p| p == (1, 3)));
        let full: Vec<(usize, usize)> = (0..4).flat_map(|u| (u + 1..4).map(move |v| (u, v))).collect();
        assert!(NegativeSampler::new(4, &full, &NegativeSamplingConfig::default()).is_err());
    }

    #[test]
    fn degree_biased_sampling_prefers_hubs() {
        // A star around 0 plus a pendant path: the hub is drawn far more often than a leaf.
        let mut pairs: Vec<(usize, usize)> = (1..30).map(|v| (0, v)).collect();
        pairs.push((30, 31));
        let cfg = NegativeSamplingConfig { strategy: NegativeStrategy::Degree, ..Default::default() };
        let ns = NegativeSampler::new(40, &pairs, &cfg).unwrap();
        let draws = ns.sample(3000, &mut crate::rng::seeded(1)).unwrap();
        // Nodes 32..40 have no training edges: never drawn.
        assert!(draws.iter().all(|&(u, v)| u < 32 && v < 32));
        assert!(draws.iter().any(|&(u, v)| u == 0 || v == 0));
        assert!(ns.sample(10, &mut crate::rng::seeded(1)).unwrap().iter().all(|&(u, v)| !ns.is_train_edge(u, v)));
    }

    #[test]
    fn error_cases() {
        let g = karate();
        let bad = |cfg: EdgeSplitConfig| split_edges(&g, &cfg, 0).unwrap_err().to_string();
        let e = bad(EdgeSplitConfig { val: SplitSize::Fraction(-0.1), ..Default::default() });
        assert!(e.contains("split.val") && e.contains("[0, 1]"), "{e}");
        let e = bad(EdgeSplitConfig { test: SplitSize::Fraction(1.5), ..Default::default() });
        assert!(e.contains("split.test"), "{e}");
        let e = bad(EdgeSplitConfig { val: SplitSize::Fraction(0.6), test: SplitSize::Fraction(0.6), ..Default::default() });
        assert!(e.contains("must not exceed 1"), "{e}");
        let e = bad(EdgeSplitConfig { test: SplitSize::Count(79), ..Default::default() });
        assert!(e.contains("only 78 undirected edges"), "{e}");
        let e = bad(EdgeSplitConfig { val: SplitSize::Count(40), test: SplitSize::Count(40), ..Default::default() });
        assert!(e.contains("more held-out edges"), "{e}");
        // K4 has no non-edges: held-out positives cannot get negatives.
        let k4 = symmetric_graph(4, &[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]).unwrap();
        let e = split_edges(&k4, &EdgeSplitConfig { val: SplitSize::Count(1), test: SplitSize::Count(1), ranking_negatives: 5 }, 0).unwrap_err().to_string();
        assert!(e.contains("non-edges"), "{e}");
        let s = split_edges(&g, &EdgeSplitConfig::default(), 0).unwrap();
        assert!(apply_noise(&s, EdgeNoise::Add, 1.5, 0).is_err());
        assert!(apply_noise(&s, EdgeNoise::Drop, -0.1, 0).is_err());
        assert!(s.with_train_pos(vec![(0, 99)]).unwrap_err().to_string().contains("out of range"));
        assert!(s.with_train_pos(vec![s.test_pos[0]]).unwrap_err().to_string().contains("leak"));
        let cfg = NegativeSamplingConfig { ratio: 0.0, ..Default::default() };
        assert!(NegativeSampler::new(34, &s.train_pos, &cfg).is_err());
        assert!("flip".parse::<EdgeNoise>().is_err());
        // Sizes parse as counts (integers) or fractions (floats).
        let c: EdgeSplitConfig = serde_json::from_str(r#"{"val": 10, "test": 0.2}"#).unwrap();
        assert_eq!((c.val, c.test), (SplitSize::Count(10), SplitSize::Fraction(0.2)));
        assert!(serde_json::from_str::<EdgeSplitConfig>(r#"{"vall": 0.1}"#).is_err());
    }

    #[test]
    fn noise_touches_only_training_edges() {
        let g = random_graph(300, 2000, 9).to_undirected();
        let s = split_edges(&g, &EdgeSplitConfig::default(), 2).unwrap();
        let p = s.train_pos.len();
        let add = apply_noise(&s, EdgeNoise::Add, 0.1, 4).unwrap();
        assert_eq!(add.train_pos.len(), p + p / 10);
        let orig = PairSet::from_pairs(&s.train_pos);
        let eval = PairSet::from_pairs(s.val_pos.iter().chain(&s.test_pos).chain(&s.val_neg).chain(&s.test_neg));
        let mut added = 0;
        for &(u, v) in &add.train_pos {
            assert!(!eval.contains(u, v), "noise touched an evaluation pair ({u}, {v})");
            if !orig.contains(u, v) {
                added += 1;
                assert!(!s.is_edge(u, v));
                for (pos, negs) in s.test_pos.iter().zip(&s.test_rank_neg) {
                    assert!(!(pos.0 == u && negs.contains(&v) || pos.0 == v && negs.contains(&u)));
                }
            }
        }
        assert_eq!(added, p / 10);
        assert_eq!((&add.test_pos, &add.test_neg, &add.val_pos), (&s.test_pos, &s.test_neg, &s.val_pos));
        let drop = apply_noise(&s, EdgeNoise::Drop, 0.2, 4).unwrap();
        assert_eq!(drop.train_pos.len(), p - p / 5);
        assert!(drop.train_pos.iter().all(|&(u, v)| orig.contains(u, v)));
        assert_eq!(drop.train_graph.num_edges(), 2 * drop.train_pos.len());
        assert_eq!(apply_noise(&s, EdgeNoise::Drop, 0.0, 4).unwrap().train_pos, s.train_pos);
    }

    #[test]
    fn pairs_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pairs.csv");
        std::fs::write(&p, "src,dst\n0,1\n\n# comment\n 2 , 3 \n").unwrap();
        assert_eq!(read_pairs_csv(&p, 4).unwrap(), vec![(0, 1), (2, 3)]);
        std::fs::write(&p, "0,1\n2,9\n").unwrap();
        let e = read_pairs_csv(&p, 4).unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("node id 9 is out of range"), "{e}");
        std::fs::write(&p, "0,1\n2,x\n").unwrap();
        assert!(read_pairs_csv(&p, 4).unwrap_err().to_string().contains(":2"));
        std::fs::write(&p, "0,1,2\n").unwrap();
        assert!(read_pairs_csv(&p, 4).unwrap_err().to_string().contains("two node ids"));
        assert!(read_pairs_csv(&dir.path().join("missing.csv"), 4).is_err());
        // A byte order mark and CRLF line ends: the first pair is kept.
        std::fs::write(&p, "\u{feff}0,1\r\n2,3\r\n").unwrap();
        assert_eq!(read_pairs_csv(&p, 4).unwrap(), vec![(0, 1), (2, 3)]);
    }
}
