//! Curriculum learning: train on the easiest samples first and let harder ones
//! in as the epochs go by.
//!
//! A curriculum has two parts (Wang et al., "A Survey on Curriculum Learning",
//! TPAMI 2021): a *difficulty measurer*, which scores every sample (lower =
//! easier), and a *training scheduler* or pacing function `g(t)`, the fraction
//! of the samples, easiest first, that epoch `t` trains on.
//!
//! Samples are whatever the caller iterates over: the graphs of a collection
//! (graph-level pretraining or classification, [`graph_difficulty`]), the seed
//! nodes whose subgraphs are sampled (node-level pretraining), or the labelled
//! training nodes of supervised node classification ([`node_difficulty`], with
//! [`Difficulty::ClNode`] for CLNode, Wei et al., WSDM 2023, "CLNode:
//! Curriculum Learning for Node Classification").
//!
//! # Pacing
//!
//! With `λ0` the starting fraction ([`CurriculumConfig::start_fraction`]) and
//! `T` the epoch at which every sample is in (`T = full_at · total_epochs`,
//! [`CurriculumConfig::full_at`]), at epoch `t` (0-based):
//!
//! * linear: `g(t) = min(1, λ0 + (1 − λ0)·t/T)`;
//! * root: `g(t) = min(1, sqrt(λ0² + (1 − λ0²)·t/T))`;
//! * geometric: `g(t) = min(1, 2^(log2 λ0 − log2 λ0 · t/T))` (`= λ0^(1 − t/T)`).
//!
//! These are CLNode's (paper, Section 4.3, and `training_scheduler` in the
//! authors' code, github.com/wxwmd/CLNode, `util.py`, which has exactly these
//! three expressions), which in turn follow the survey's linear / root /
//! geometric schedulers. Epoch `t` trains on the easiest `⌈g(t)·n⌉` of the `n`
//! samples (CLNode's code truncates, `int(g·n)`; rounding up makes the first
//! epoch non-empty for every `λ0 > 0`).
//!
//! # Difficulty
//!
//! Every score is "lower = easier". Graph structure is read as undirected: the
//! neighbours of a node are the distinct nodes with an edge to or from it, the
//! node itself excluded. See [`Difficulty`] for each measure.
//!
//! Everything here is deterministic and independent of any seed: ties in the
//! scores are broken by sample index.

use std::borrow::Borrow;

use serde::{Deserialize, Serialize};

use crate::graph::Graph;
use crate::{Error, Result};

/// The pacing function `g(t)`: the fraction of samples (easiest first) in use at epoch `t`.
///
/// Serialised as `"linear"`, `"root"` or `"geometric"`; formulas in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// `g(t) = min(1, λ0 + (1 − λ0)·t/T)`.
    Linear,
    /// `g(t) = min(1, sqrt(λ0² + (1 − λ0²)·t/T))`: fast growth early, slow late.
    Root,
    /// `g(t) = min(1, 2^(log2 λ0 · (1 − t/T)))`: slow growth early, fast late.
    /// The default (the default `--scheduler geom` of CLNode's code).
    #[default]
    Geometric,
}

impl Pacing {
    /// `g(t)` for starting fraction `lambda0 ∈ (0, 1]` and full-data epoch `big_t > 0`
    /// (both as floats, so `T` need not be a whole epoch). Always in `[lambda0, 1]`,
    /// non-decreasing in `t`, and exactly 1 for `t ≥ T`.
    pub fn fraction(self, lambda0: f64, t: f64, big_t: f64) -> f64 {
        if t >= big_t {
            return 1.0;
        }
        let r = t / big_t;
        let g = match self {
            Pacing::Linear => lambda0 + (1.0 - lambda0) * r,
            Pacing::Root => (lambda0 * lambda0 + (1.0 - lambda0 * lambda0) * r).sqrt(),
            Pacing::Geometric => {
                let l = lambda0.log2();
                (l - l * r).exp2()
            }
        };
        // Guards rounding (and never panics on an out-of-range λ0).
        g.min(1.0).max(lambda0.min(1.0))
    }
}

/// How a sample's difficulty is measured (lower score = easier).
///
/// Serialised with a `"kind"` tag: `{"kind": "k_hop_size", "k": 2}`,
/// `{"kind": "cl_node", "alpha": 1.0}`.
///
/// Which level each applies to:
///
/// | measure | nodes ([`node_difficulty`]) | graphs ([`graph_difficulty`]) |
/// |---|---|---|
/// | `graph_size`, `radius` | – | yes |
/// | `degree`, `k_hop_size`, `cl_node` | yes | – |
/// | `loss` | yes | yes |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Difficulty {
    /// Graph level: the number of nodes of the graph; small graphs are easy.
    GraphSize,
    /// Node level: the number of distinct neighbours `d`, scored `1 / (1 + d)`,
    /// so *high*-degree nodes are easy: they aggregate the most evidence, and
    /// in homophilous graphs a well-connected node's neighbourhood agrees with
    /// its label (the observation behind CLNode's neighbourhood measure).
    /// Isolated nodes score 1, the hardest. For the opposite order (small
    /// neighbourhoods easy, the natural choice for unlabelled pretraining on
    /// sampled subgraphs) use `k_hop_size` with `k = 1`, which scores `1 + d`.
    Degree,
    /// Node level: the number of nodes within `k` hops of the node, the node
    /// itself included (the size of its `k`-hop ego subgraph); small is easy.
    KHopSize {
        /// Number of hops, `>= 1`.
        k: usize,
    },
    /// Graph level: the radius, the smallest eccentricity of a node (the fewest
    /// hops from a centre that reach its whole connected component), taken as
    /// the largest over the connected components; 0 for a graph without edges.
    /// Small is easy. Costs one breadth-first search per node.
    Radius,
    /// Either level: the current loss of each sample, supplied by the caller
    /// (and refreshed with [`Curriculum::update_scores`]); low loss is easy
    /// (self-paced learning).
    Loss,
    /// Node level, supervised: CLNode's multi-perspective difficulty
    /// `D(u) = D_local(u) + α·D_global(u)` (paper Eq. for the multi-perspective
    /// measurer; `difficulty_measurer` in the authors' code, which adds the raw
    /// values, not ranks, with α = 1):
    ///
    /// * `D_local(u)`, neighbourhood-based: the entropy (natural log) of the
    ///   label distribution over `N(u) ∪ {u}`, counting only labelled
    ///   neighbours ([`NodeSignals::labelled`]); 0 when all agree.
    /// * `D_global(u)`, feature-based: with `ẑ` the L2-normalised feature rows
    ///   and `p_c` the normalised mean of `ẑ` over labelled nodes of class `c`
    ///   (over the `C` classes that occur), the similarity
    ///   `s(u) = C·cos(ẑ_u, p_{y_u}) / Σ_c cos(ẑ_u, p_c)`, made relative to the
    ///   mean of `s` over the samples of the same class, `s'(u) = s(u) / mean`,
    ///   set to 1 when `s' > 0.95`, and `D_global = 1 / s'` (floored at
    ///   `s' = 1e-6`, so a zero feature row scores `10^6`). This is the
    ///   authors' `feature_difficulty_measurer`; they feed it
    ///   `exp(log_softmax)` of a pretrained GCN, and the features must be
    ///   non-negative (probabilities, ReLU embeddings, bag-of-words) so that
    ///   every cosine is `>= 0`.
    ///
    /// CLNode labels every node: the true label on training nodes and the
    /// pretrained model's prediction elsewhere, with no mask. Passing a mask of
    /// the training nodes instead restricts both terms to true labels.
    ClNode {
        /// Weight `α >= 0` of the feature term (CLNode's code: 1). With 0 no
        /// features are needed.
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
}

fn default_alpha() -> f64 {
    1.0
}

impl Difficulty {
    /// Check the measure's parameters (`k >= 1`, `alpha` finite and `>= 0`).
    /// Errors: [`Error::Config`].
    pub fn validate(&self) -> Result<()> {
        match *self {
            Difficulty::KHopSize { k } if k == 0 => Err(Error::config("curriculum.difficulty.k", k, "must be >= 1 hop")),
            Difficulty::ClNode { alpha } if !(alpha.is_finite() && alpha >= 0.0) => {
                Err(Error::config("curriculum.difficulty.alpha", alpha, "must be a finite number >= 0"))
            }
            _ => Ok(()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Difficulty::GraphSize => "graph_size",
            Difficulty::Degree => "degree",
            Difficulty::KHopSize { .. } => "k_hop_size",
            Difficulty::Radius => "radius",
            Difficulty::Loss => "loss",
            Difficulty::ClNode { .. } => "cl_node",
        }
    }
}

/// Per-node inputs that some node-level measures need; the rest ignore them.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeSignals<'a> {
    /// Label of every node (`num_nodes` values), for [`Difficulty::ClNode`].
    pub labels: Option<&'a [usize]>,
    /// Which labels to trust (`num_nodes` flags); `None` trusts all of them.
    /// Unlabelled nodes are skipped as neighbours and as prototype members;
    /// every sample must be labelled.
    pub labelled: Option<&'a [bool]>,
    /// `(width, row-major [num_nodes, width] values)`: the features or
    /// embeddings of [`Difficulty::ClNode`]'s feature term; non-negative.
    pub features: Option<(usize, &'a [f32])>,
    /// The current loss of every sample (one per entry of `nodes`, in that
    /// order), for [`Difficulty::Loss`].
    pub loss: Option<&'a [f64]>,
}

/// Distinct neighbours of `u` (in- and out-edges, `u` itself excluded), into `out`.
fn neighbours(g: &Graph, u: usize, out: &mut Vec<usize>) {
    out.clear();
    let (rp, ci, tp, td) = (g.row_ptr(), g.col_idx(), g.t_ptr(), g.t_dst());
    out.extend(ci[rp[u]..rp[u + 1]].iter().chain(&td[tp[u]..tp[u + 1]]).copied().filter(|&v| v != u));
    out.sort_unstable();
    out.dedup();
}

/// Breadth-first search over the undirected view from `src`, up to `max_hops`
/// hops; returns `(nodes reached including src, largest distance reached)`.
/// `seen` must hold `num_nodes` entries; entries equal to `stamp` are visited.
fn bfs(g: &Graph, src: usize, max_hops: usize, seen: &mut [usize], stamp: usize, queue: &mut Vec<usize>, nbr: &mut Vec<usize>) -> (usize, usize) {
    queue.clear();
    queue.push(src);
    seen[src] = stamp;
    let (mut head, mut depth) = (0, 0);
    while head < queue.len() && depth < max_hops {
        let end = queue.len();
        for i in head..end {
            neighbours(g, queue[i], nbr);
            for &v in nbr.iter() {
                if seen[v] != stamp {
                    seen[v] = stamp;
                    queue.push(v);
                }
            }
        }
        head = end;
        if queue.len() > end {
            depth += 1;
        }
    }
    (queue.len(), depth)
}

fn check_nodes(g: &Graph, nodes: &[usize]) -> Result<()> {
    let n = g.num_nodes();
    match nodes.iter().find(|&&u| u >= n) {
        Some(&u) => {
            Err(Error::IndexOutOfRange { what: "curriculum sample node".into(), index: u, bound: n, hint: "samples must be node ids of the graph".into() })
        }
        None => Ok(()),
    }
}

fn loss_scores(loss: Option<&[f64]>, n: usize) -> Result<Vec<f64>> {
    let loss = loss.ok_or_else(|| {
        Error::config(
            "curriculum.difficulty",
            "loss",
            "needs the per-sample losses; pass them (or start from zeros and call Curriculum::update_scores each epoch)",
        )
    })?;
    if loss.len() != n {
        return Err(Error::inconsistent("curriculum loss scores (one per sample)", n, loss.len()));
    }
    if let Some(v) = loss.iter().find(|v| !v.is_finite()) {
        return Err(Error::config("curriculum loss score", v, "every loss must be finite"));
    }
    Ok(loss.to_vec())
}

/// Difficulty of each sample node in `nodes` (training nodes, or the seeds of
/// sampled subgraphs), in the order of `nodes`; lower is easier.
///
/// Applies to [`Difficulty::Degree`], [`Difficulty::KHopSize`],
/// [`Difficulty::Loss`] (`signals.loss`) and [`Difficulty::ClNode`]
/// (`signals.labels`, optionally `signals.labelled`, and `signals.features`
/// unless `alpha = 0`). Errors: [`Error::Config`] for a graph-level measure, a
/// missing signal, negative features or an unlabelled sample;
/// [`Error::IndexOutOfRange`] for a node id outside the graph;
/// [`Error::Inconsistent`] for signals of the wrong length.
pub fn node_difficulty(g: &Graph, kind: &Difficulty, nodes: &[usize], signals: &NodeSignals<'_>) -> Result<Vec<f64>> {
    kind.validate()?;
    check_nodes(g, nodes)?;
    let mut nbr = Vec::new();
    match *kind {
        Difficulty::Degree => Ok(nodes
            .iter()
            .map(|&u| {
                neighbours(g, u, &mut nbr);
                1.0 / (1.0 + nbr.len() as f64)
            })
            .collect()),
        Difficulty::KHopSize { k } => {
            let mut seen = vec![usize::MAX; g.num_nodes()];
            let mut queue = Vec::new();
            Ok(nodes.iter().enumerate().map(|(i, &u)| bfs(g, u, k, &mut seen, i, &mut queue, &mut nbr).0 as f64).collect())
        }
        Difficulty::Loss => loss_scores(signals.loss, nodes.len()),
        Difficulty::ClNode { alpha } => clnode(g, alpha, nodes, signals),
        Difficulty::GraphSize | Difficulty::Radius => Err(Error::config(
            "curriculum.difficulty",
            kind.name(),
            "is a graph-level measure; for nodes use degree, k_hop_size, loss or cl_node (or score each node's subgraph with graph_difficulty)",
        )),
    }
}

fn clnode(g: &Graph, alpha: f64, nodes: &[usize], signals: &NodeSignals<'_>) -> Result<Vec<f64>> {
    let n = g.num_nodes();
    let labels = signals.labels.ok_or_else(|| Error::config("curriculum.difficulty", "cl_node", "needs the node labels (NodeSignals::labels)"))?;
    if labels.len() != n {
        return Err(Error::inconsistent("cl_node labels (one per node)", n, labels.len()));
    }
    if let Some(m) = signals.labelled {
        if m.len() != n {
            return Err(Error::inconsistent("cl_node labelled mask (one per node)", n, m.len()));
        }
    }
    let known = |v: usize| signals.labelled.is_none_or(|m| m[v]);
    if let Some(&u) = nodes.iter().find(|&&u| !known(u)) {
        return Err(Error::config("cl_node sample node", u, "is not labelled; the samples of a supervised curriculum must be labelled nodes"));
    }
    let num_classes = labels.iter().enumerate().filter(|&(v, _)| known(v)).map(|(_, &c)| c + 1).max().unwrap_or(0);

    // Neighbourhood term: label entropy over N(u) ∪ {u}, labelled nodes only.
    let mut nbr = Vec::new();
    let mut counts = vec![0usize; num_classes];
    let local: Vec<f64> = nodes
        .iter()
        .map(|&u| {
            neighbours(g, u, &mut nbr);
            counts.iter_mut().for_each(|c| *c = 0);
            counts[labels[u]] += 1;
            for &v in nbr.iter().filter(|&&v| known(v)) {
                counts[labels[v]] += 1;
            }
            let total: usize = counts.iter().sum();
            counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / total as f64).map(|p| -p * p.ln()).sum::<f64>()
        })
        .collect();
    if alpha == 0.0 {
        return Ok(local);
    }

    // Feature term.
    let (width, x) =
        signals.features.ok_or_else(|| Error::config("curriculum.difficulty", "cl_node", "needs node features (NodeSignals::features) unless alpha = 0"))?;
    if width == 0 || x.len() != n * width {
        return Err(Error::inconsistent("cl_node features (num_nodes x width values)", format!("{n} x {width}"), x.len()));
    }
    if let Some(v) = x.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        return Err(Error::config(
            "cl_node feature value",
            v,
            "CLNode's feature term needs finite non-negative features (probabilities such as exp(log_softmax), ReLU embeddings, bag-of-words)",
        ));
    }
    let unit = |v: usize| -> Vec<f64> {
        let row: Vec<f64> = x[v * width..(v + 1) * width].iter().map(|&a| a as f64).collect();
        let norm = row.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter().map(|a| a / norm).collect()
        } else {
            row
        }
    };
    let mut protos = vec![vec![0.0f64; width]; num_classes];
    let mut present = vec![false; num_classes];
    for v in (0..n).filter(|&v| known(v)) {
        present[labels[v]] = true;
        for (p, z) in protos[labels[v]].iter_mut().zip(unit(v)) {
            *p += z;
        }
    }
    for p in &mut protos {
        let norm = p.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 0.0 {
            p.iter_mut().for_each(|a| *a /= norm);
        }
    }
    let classes: Vec<usize> = (0..num_classes).filter(|&c| present[c]).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let sim: Vec<f64> = nodes
        .iter()
        .map(|&u| {
            let z = unit(u);
            let total: f64 = classes.iter().map(|&c| dot(&z, &protos[c])).sum();
            if total > 0.0 {
                classes.len() as f64 * dot(&z, &protos[labels[u]]) / total
            } else {
                0.0
            }
        })
        .collect();
    let mut class_sum = vec![0.0f64; num_classes];
    let mut class_count = vec![0usize; num_classes];
    for (&u, &s) in nodes.iter().zip(&sim) {
        class_sum[labels[u]] += s;
        class_count[labels[u]] += 1;
    }
    const FLOOR: f64 = 1e-6;
    Ok(nodes
        .iter()
        .zip(sim)
        .zip(local)
        .map(|((&u, s), l)| {
            let c = labels[u];
            let mean = class_sum[c] / class_count[c] as f64;
            let rel = if mean > 0.0 { s / mean } else { 0.0 };
            let rel = if rel > 0.95 { 1.0 } else { rel.max(FLOOR) };
            l + alpha / rel
        })
        .collect())
}

/// The radius of `g` over the undirected view: per connected component, the
/// smallest eccentricity of its nodes; the largest of those over components.
fn radius(g: &Graph) -> usize {
    let n = g.num_nodes();
    let mut seen = vec![usize::MAX; n];
    let mut comp = vec![usize::MAX; n];
    let mut best: Vec<usize> = Vec::new();
    let (mut queue, mut nbr) = (Vec::new(), Vec::new());
    for u in 0..n {
        let (_, ecc) = bfs(g, u, usize::MAX, &mut seen, u, &mut queue, &mut nbr);
        if comp[u] == usize::MAX {
            let id = best.len();
            for &v in &queue {
                comp[v] = id;
            }
            best.push(ecc);
        } else {
            best[comp[u]] = best[comp[u]].min(ecc);
        }
    }
    best.into_iter().max().unwrap_or(0)
}

/// Difficulty of each graph of a collection (TU datasets, molecules), in order;
/// lower is easier. Takes `&[Graph]` or `&[&Graph]`.
///
/// Applies to [`Difficulty::GraphSize`], [`Difficulty::Radius`] and
/// [`Difficulty::Loss`] (with `loss`, one value per graph). Errors:
/// [`Error::Config`] for a node-level measure or missing losses,
/// [`Error::Inconsistent`] for a wrong number of losses.
pub fn graph_difficulty<G: Borrow<Graph>>(graphs: &[G], kind: &Difficulty, loss: Option<&[f64]>) -> Result<Vec<f64>> {
    kind.validate()?;
    match kind {
        Difficulty::GraphSize => Ok(graphs.iter().map(|g| g.borrow().num_nodes() as f64).collect()),
        Difficulty::Radius => Ok(graphs.iter().map(|g| radius(g.borrow()) as f64).collect()),
        Difficulty::Loss => loss_scores(loss, graphs.len()),
        Difficulty::Degree | Difficulty::KHopSize { .. } | Difficulty::ClNode { .. } => {
            Err(Error::config("curriculum.difficulty", kind.name(), "is a node-level measure; for graphs use graph_size, radius or loss"))
        }
    }
}

/// A curriculum's settings.
///
/// ```
/// use autoglm::train::curriculum::{CurriculumConfig, Difficulty, Pacing};
/// let c: CurriculumConfig = serde_json::from_str(r#"{"difficulty": {"kind": "graph_size"}}"#).unwrap();
/// assert_eq!(c.pacing, Pacing::Geometric);
/// assert_eq!((c.start_fraction, c.full_at), (0.25, 0.5));
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurriculumConfig {
    /// How samples are scored (required).
    pub difficulty: Difficulty,
    /// The pacing function. Default `geometric` (CLNode's code default).
    #[serde(default)]
    pub pacing: Pacing,
    /// `λ0 ∈ (0, 1]`, the fraction of samples in use at epoch 0. Default 0.25,
    /// the smallest of CLNode's grid {0.25, 0.5, 0.75}; 1 turns the curriculum off.
    #[serde(default = "default_start_fraction")]
    pub start_fraction: f64,
    /// `T` as a fraction `(0, 1]` of the total epochs: from epoch
    /// `full_at · total_epochs` on, every sample is in. Default 0.5 (CLNode's
    /// grid, T ∈ {50, 100, 200} of at most 500 epochs, ends at 0.4).
    #[serde(default = "default_full_at")]
    pub full_at: f64,
}

fn default_start_fraction() -> f64 {
    0.25
}

fn default_full_at() -> f64 {
    0.5
}

impl CurriculumConfig {
    /// The given measure with the default pacing (`geometric`, `λ0 = 0.25`, `full_at = 0.5`).
    pub fn new(difficulty: Difficulty) -> Self {
        Self { difficulty, pacing: Pacing::default(), start_fraction: default_start_fraction(), full_at: default_full_at() }
    }

    /// Check `start_fraction ∈ (0, 1]`, `full_at ∈ (0, 1]` and the measure's
    /// parameters. Errors: [`Error::Config`].
    pub fn validate(&self) -> Result<()> {
        if !(self.start_fraction > 0.0 && self.start_fraction <= 1.0) {
            return Err(Error::config("curriculum.start_fraction", self.start_fraction, "must lie in (0, 1]; 1 trains on every sample from the start"));
        }
        if !(self.full_at > 0.0 && self.full_at <= 1.0) {
            return Err(Error::config("curriculum.full_at", self.full_at, "must lie in (0, 1] (a fraction of the total epochs)"));
        }
        self.difficulty.validate()
    }
}

/// A curriculum over `n` samples: their difficulty order and the pacing.
///
/// ```
/// use autoglm::train::curriculum::{Curriculum, CurriculumConfig, Difficulty, Pacing};
/// let mut cfg = CurriculumConfig::new(Difficulty::GraphSize);
/// cfg.pacing = Pacing::Linear;
/// let c = Curriculum::new(cfg, vec![5.0, 1.0, 3.0, 2.0], 10).unwrap();
/// assert_eq!(c.active(0), &[1]); // ⌈0.25 · 4⌉ = 1 sample, the smallest graph
/// assert_eq!(c.active(5), &[1, 3, 2, 0]); // T = 0.5 · 10 = 5: all in
/// ```
#[derive(Debug, Clone)]
pub struct Curriculum {
    config: CurriculumConfig,
    total_epochs: usize,
    scores: Vec<f64>,
    order: Vec<usize>,
}

fn check_scores(scores: &[f64]) -> Result<()> {
    match scores.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(Error::config("curriculum score", v, "every difficulty score must be finite")),
        None => Ok(()),
    }
}

fn rank(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order
}

impl Curriculum {
    /// A curriculum from a validated `config`, one difficulty score per sample
    /// (from [`node_difficulty`] / [`graph_difficulty`]; for
    /// [`Difficulty::Loss`] before any loss is known, zeros give index order)
    /// and the run's `total_epochs`. Errors: [`Error::Config`] for an invalid
    /// configuration, a non-finite score or `total_epochs = 0`.
    pub fn new(config: CurriculumConfig, scores: Vec<f64>, total_epochs: usize) -> Result<Self> {
        config.validate()?;
        if total_epochs == 0 {
            return Err(Error::config("curriculum total_epochs", total_epochs, "must be >= 1"));
        }
        check_scores(&scores)?;
        let order = rank(&scores);
        Ok(Self { config, total_epochs, scores, order })
    }

    /// The configuration.
    pub fn config(&self) -> &CurriculumConfig {
        &self.config
    }

    /// Number of samples `n`.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The current difficulty scores, by sample index.
    pub fn scores(&self) -> &[f64] {
        &self.scores
    }

    /// All sample indices, easiest first (ties by index).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// `T = full_at · total_epochs`, the (fractional) epoch from which every sample is in.
    pub fn full_epoch(&self) -> f64 {
        self.config.full_at * self.total_epochs as f64
    }

    /// `g(epoch)`, the fraction of samples in use at `epoch` (0-based).
    pub fn fraction(&self, epoch: usize) -> f64 {
        self.config.pacing.fraction(self.config.start_fraction, epoch as f64, self.full_epoch())
    }

    /// `⌈g(epoch) · n⌉`, the number of samples in use (at least 1 when `n > 0`).
    pub fn active_len(&self, epoch: usize) -> usize {
        let n = self.len();
        let g = self.fraction(epoch);
        if g >= 1.0 {
            return n;
        }
        // A little slack so that 0.5 · 4 computed as 2.0000000000000004 stays 2.
        (((g * n as f64) - 1e-9).ceil().max(1.0) as usize).min(n)
    }

    /// The sample indices in use at `epoch`: the easiest `⌈g(epoch) · n⌉`,
    /// easiest first, ties broken by index. With fixed scores these sets are
    /// nested and grow with the epoch.
    pub fn active(&self, epoch: usize) -> &[usize] {
        &self.order[..self.active_len(epoch)]
    }

    /// Replace the scores (one per sample; for [`Difficulty::Loss`], this
    /// epoch's per-sample losses) and re-rank. Errors: [`Error::Inconsistent`]
    /// for a wrong length, [`Error::Config`] for a non-finite score; the
    /// curriculum is unchanged on error.
    pub fn update_scores(&mut self, scores: &[f64]) -> Result<()> {
        if scores.len() != self.len() {
            return Err(Error::inconsistent("curriculum scores (one per sample)", self.len(), scores.len()));
        }
        check_scores(scores)?;
        self.scores.copy_from_slice(scores);
        self.order = rank(&self.scores);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    fn undirected(n: usize, edges: &[(usize, usize)]) -> Graph {
        let both: Vec<(usize, usize)> = edges.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
        Graph::from_edges(n, &both).unwrap()
    }

    /// Path 0 - 1 - 2 - 3 - 4.
    fn path5() -> Graph {
        undirected(5, &[(0, 1), (1, 2), (2, 3), (3, 4)])
    }

    /// Star with centre 0 and leaves 1..=4.
    fn star5() -> Graph {
        undirected(5, &[(0, 1), (0, 2), (0, 3), (0, 4)])
    }

    #[test]
    fn pacing_hand_values() {
        let (l, t) = (0.25, 10.0);
        // t = 0: λ0 for all three.
        for p in [Pacing::Linear, Pacing::Root, Pacing::Geometric] {
            close(p.fraction(l, 0.0, t), 0.25);
            close(p.fraction(l, 10.0, t), 1.0);
            close(p.fraction(l, 25.0, t), 1.0);
        }
        // t = T/2.
        close(Pacing::Linear.fraction(l, 5.0, t), 0.625); // 0.25 + 0.75 / 2
        close(Pacing::Root.fraction(l, 5.0, t), (0.0625f64 + 0.9375 / 2.0).sqrt()); // sqrt(0.53125)
        close(Pacing::Root.fraction(l, 5.0, t), 0.728_868_986_855_663_4);
        close(Pacing::Geometric.fraction(l, 5.0, t), 0.5); // 2^(-2 + 1)

        // λ0 = 1: always everything.
        for p in [Pacing::Linear, Pacing::Root, Pacing::Geometric] {
            close(p.fraction(1.0, 3.0, t), 1.0);
        }
    }

    #[test]
    fn pacing_is_monotonic() {
        for p in [Pacing::Linear, Pacing::Root, Pacing::Geometric] {
            for l in [0.05, 0.25, 0.5, 0.9] {
                let vals: Vec<f64> = (0..40).map(|e| p.fraction(l, e as f64, 17.5)).collect();
                assert!(vals.windows(2).all(|w| w[0] <= w[1]), "{p:?} {l}: {vals:?}");
                assert!(vals.iter().all(|&v| (l..=1.0).contains(&v)));
            }
        }
    }

    #[test]
    fn pacing_serde_names() {
        assert_eq!(serde_json::to_string(&Pacing::Geometric).unwrap(), r#""geometric""#);
        let p: Pacing = serde_json::from_str(r#""root""#).unwrap();
        assert_eq!(p, Pacing::Root);
        let d: Difficulty = serde_json::from_str(r#"{"kind": "k_hop_size", "k": 2}"#).unwrap();
        assert_eq!(d, Difficulty::KHopSize { k: 2 });
        let d: Difficulty = serde_json::from_str(r#"{"kind": "cl_node"}"#).unwrap();
        assert_eq!(d, Difficulty::ClNode { alpha: 1.0 });
    }

    #[test]
    fn active_sets_grow_and_are_nested() {
        let scores: Vec<f64> = (0..23).map(|i| ((i * 7) % 5) as f64).collect();
        for pacing in [Pacing::Linear, Pacing::Root, Pacing::Geometric] {
            let cfg = CurriculumConfig { difficulty: Difficulty::Loss, pacing, start_fraction: 0.2, full_at: 0.6 };
            let c = Curriculum::new(cfg, scores.clone(), 20).unwrap();
            let mut prev: &[usize] = &[];
            for e in 0..25 {
                let a = c.active(e);
                assert!(a.len() >= prev.len());
                assert_eq!(&a[..prev.len()], prev, "nested");
                prev = a;
            }
            assert_eq!(c.active(0).len(), 5); // ⌈0.2 · 23⌉ = ⌈4.6⌉
            assert_eq!(c.active(12).len(), 23); // T = 12
                                                // Easiest first, ties by index.
            let a = c.active(30);
            assert!(a.windows(2).all(|w| (scores[w[0]], w[0]) < (scores[w[1]], w[1])));
        }
    }

    #[test]
    fn active_exact_counts_and_ties() {
        let cfg = CurriculumConfig { difficulty: Difficulty::GraphSize, pacing: Pacing::Linear, start_fraction: 0.25, full_at: 1.0 };
        let c = Curriculum::new(cfg, vec![2.0, 1.0, 2.0, 1.0, 0.0, 2.0, 1.0, 2.0], 4).unwrap();
        // T = 4: g = 0.25, 0.4375, 0.625, 0.8125, 1 -> 2, 4 (3.5), 5, 7 (6.5), 8.
        let lens: Vec<usize> = (0..5).map(|e| c.active_len(e)).collect();
        assert_eq!(lens, vec![2, 4, 5, 7, 8]);
        assert_eq!(c.order(), &[4, 1, 3, 6, 0, 2, 5, 7]);
        assert_eq!(c.active(1), &[4, 1, 3, 6]);
    }

    #[test]
    fn update_scores_reranks() {
        let mut c = Curriculum::new(CurriculumConfig::new(Difficulty::Loss), vec![0.0; 4], 8).unwrap();
        assert_eq!(c.order(), &[0, 1, 2, 3]);
        c.update_scores(&[0.9, 0.1, 0.5, 0.1]).unwrap();
        assert_eq!(c.order(), &[1, 3, 2, 0]);
        assert_eq!(c.active(0), &[1]);
        assert!(c.update_scores(&[0.0; 3]).is_err());
        assert!(c.update_scores(&[0.0, f64::NAN, 0.0, 0.0]).is_err());
        assert_eq!(c.order(), &[1, 3, 2, 0]);
    }

    #[test]
    fn degree_and_k_hop_on_path_and_star() {
        let s = NodeSignals::default();
        let all: Vec<usize> = (0..5).collect();
        let p = path5();
        let deg = node_difficulty(&p, &Difficulty::Degree, &all, &s).unwrap();
        assert_eq!(deg, vec![0.5, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.5]);
        let k1 = node_difficulty(&p, &Difficulty::KHopSize { k: 1 }, &all, &s).unwrap();
        assert_eq!(k1, vec![2.0, 3.0, 3.0, 3.0, 2.0]);
        let k2 = node_difficulty(&p, &Difficulty::KHopSize { k: 2 }, &all, &s).unwrap();
        assert_eq!(k2, vec![3.0, 4.0, 5.0, 4.0, 3.0]);
        let st = star5();
        let deg = node_difficulty(&st, &Difficulty::Degree, &[0, 3], &s).unwrap();
        assert_eq!(deg, vec![0.2, 0.5]);
        let k1 = node_difficulty(&st, &Difficulty::KHopSize { k: 1 }, &all, &s).unwrap();
        assert_eq!(k1, vec![5.0, 2.0, 2.0, 2.0, 2.0]);
        let k2 = node_difficulty(&st, &Difficulty::KHopSize { k: 2 }, &[2, 0], &s).unwrap();
        assert_eq!(k2, vec![5.0, 5.0]);
        // Direction is ignored: a one-way edge 0 -> 1 is a neighbour of both.
        let d = Graph::from_edges(3, &[(0, 1)]).unwrap();
        assert_eq!(node_difficulty(&d, &Difficulty::KHopSize { k: 3 }, &[0, 1, 2], &s).unwrap(), vec![2.0, 2.0, 1.0]);
        assert_eq!(node_difficulty(&d, &Difficulty::Degree, &[2], &s).unwrap(), vec![1.0]);
    }

    #[test]
    fn graph_size_and_radius() {
        let (p, st) = (path5(), star5());
        let tri = undirected(3, &[(0, 1), (1, 2), (2, 0)]);
        let lone = Graph::from_edges(2, &[]).unwrap();
        // Path of 5 plus a separate path of 3 (radius 1): the larger radius, 2.
        let two = undirected(8, &[(0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (6, 7)]);
        let gs = [p.clone(), st.clone(), tri.clone(), lone.clone(), two];
        assert_eq!(graph_difficulty(&gs, &Difficulty::GraphSize, None).unwrap(), vec![5.0, 5.0, 3.0, 2.0, 8.0]);
        assert_eq!(graph_difficulty(&gs, &Difficulty::Radius, None).unwrap(), vec![2.0, 1.0, 1.0, 0.0, 2.0]);
        let refs: Vec<&Graph> = vec![&tri, &lone];
        assert_eq!(graph_difficulty(&refs, &Difficulty::Loss, Some(&[0.3, 0.1])).unwrap(), vec![0.3, 0.1]);
        assert!(graph_difficulty(&refs, &Difficulty::Loss, None).is_err());
        assert!(graph_difficulty(&refs, &Difficulty::Loss, Some(&[0.3])).is_err());
        assert!(graph_difficulty(&refs, &Difficulty::Degree, None).is_err());
    }

    #[test]
    fn level_and_input_errors() {
        let p = path5();
        let s = NodeSignals::default();
        assert!(matches!(node_difficulty(&p, &Difficulty::GraphSize, &[0], &s), Err(Error::Config { .. })));
        assert!(matches!(node_difficulty(&p, &Difficulty::Degree, &[5], &s), Err(Error::IndexOutOfRange { .. })));
        assert!(matches!(node_difficulty(&p, &Difficulty::KHopSize { k: 0 }, &[0], &s), Err(Error::Config { .. })));
        assert!(matches!(node_difficulty(&p, &Difficulty::Loss, &[0, 1], &s), Err(Error::Config { .. })));
        let loss = NodeSignals { loss: Some(&[0.5, 0.2]), ..Default::default() };
        assert_eq!(node_difficulty(&p, &Difficulty::Loss, &[3, 1], &loss).unwrap(), vec![0.5, 0.2]);
        assert!(matches!(node_difficulty(&p, &Difficulty::ClNode { alpha: 1.0 }, &[0], &s), Err(Error::Config { .. })));
    }

    /// Path 0 - 1 - 2 - 3 with labels [0, 0, 1, 1]; star-free, hand-computable.
    #[test]
    fn clnode_neighbourhood_term() {
        let g = undirected(4, &[(0, 1), (1, 2), (2, 3)]);
        let labels = [0, 0, 1, 1];
        let s = NodeSignals { labels: Some(&labels), ..Default::default() };
        let d = node_difficulty(&g, &Difficulty::ClNode { alpha: 0.0 }, &[0, 1, 2, 3], &s).unwrap();
        // Node 0: {0, 1} both class 0 -> 0. Node 1: {1, 0, 2} -> (2/3, 1/3).
        let h = -(2.0f64 / 3.0) * (2.0f64 / 3.0).ln() - (1.0f64 / 3.0) * (1.0f64 / 3.0).ln();
        close(d[0], 0.0);
        close(d[1], h);
        close(d[2], h);
        close(d[3], 0.0);
        // With node 2 unlabelled, node 1 sees {1, 0} only, node 3 sees {3}.
        let mask = [true, true, false, true];
        let s = NodeSignals { labels: Some(&labels), labelled: Some(&mask), ..Default::default() };
        let d = node_difficulty(&g, &Difficulty::ClNode { alpha: 0.0 }, &[0, 1, 3], &s).unwrap();
        assert_eq!(d, vec![0.0, 0.0, 0.0]);
        // An unlabelled sample is an error.
        assert!(node_difficulty(&g, &Difficulty::ClNode { alpha: 0.0 }, &[2], &s).is_err());
    }

    #[test]
    fn clnode_feature_term() {
        // Two classes, 2-d features. Class 0: nodes 0, 1; class 1: nodes 2, 3.
        // Graph: 0 - 1, 2 - 3 (every neighbourhood pure, so D_local = 0).
        let g = undirected(4, &[(0, 1), (2, 3)]);
        let labels = [0, 0, 1, 1];
        let x = [1.0f32, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let s = NodeSignals { labels: Some(&labels), features: Some((2, &x)), ..Default::default() };
        let d = node_difficulty(&g, &Difficulty::ClNode { alpha: 2.0 }, &[0, 1, 2, 3], &s).unwrap();
        // ẑ: (1,0), (1,1)/√2, (0,1), (0,1). p0 ∝ (1 + 1/√2, 1/√2), p1 = (0, 1).
        let r = 1.0 / 2f64.sqrt();
        let n0 = ((1.0 + r) * (1.0 + r) + r * r).sqrt();
        let p0 = [(1.0 + r) / n0, r / n0];
        let sim = |z: [f64; 2], own: usize| {
            let c0 = z[0] * p0[0] + z[1] * p0[1];
            let c1 = z[1];
            2.0 * [c0, c1][own] / (c0 + c1)
        };
        let s0 = sim([1.0, 0.0], 0); // 2 (cos to p1 is 0)
        let s1 = sim([r, r], 0);
        close(s0, 2.0);
        let mean = (s0 + s1) / 2.0;
        let rel1 = s1 / mean;
        assert!(rel1 < 0.95);
        // Node 0: s0 / mean > 0.95 -> 1 -> D = 2·1. Node 1: 2 / rel1.
        close(d[0], 2.0);
        close(d[1], 2.0 / rel1);
        // Class 1 nodes are identical: rel = 1.
        close(d[2], 2.0);
        close(d[3], 2.0);
        assert!(d[1] > d[0]);
        // Negative features, missing features, wrong width: errors.
        let neg = [-1.0f32, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let bad = NodeSignals { features: Some((2, &neg)), ..s };
        assert!(node_difficulty(&g, &Difficulty::ClNode { alpha: 1.0 }, &[0], &bad).is_err());
        let none = NodeSignals { features: None, ..s };
        assert!(node_difficulty(&g, &Difficulty::ClNode { alpha: 1.0 }, &[0], &none).is_err());
        let wide = NodeSignals { features: Some((3, &x)), ..s };
        assert!(node_difficulty(&g, &Difficulty::ClNode { alpha: 1.0 }, &[0], &wide).is_err());
    }

    #[test]
    fn clnode_combines_both_terms() {
        // Path 0 - 1 - 2 with labels [0, 0, 1]; identical features within class 0.
        let g = undirected(3, &[(0, 1), (1, 2)]);
        let labels = [0, 0, 1];
        let x = [1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0];
        let s = NodeSignals { labels: Some(&labels), features: Some((2, &x)), ..Default::default() };
        let d = node_difficulty(&g, &Difficulty::ClNode { alpha: 1.0 }, &[0, 1, 2], &s).unwrap();
        let h1 = -(2.0f64 / 3.0) * (2.0f64 / 3.0).ln() - (1.0f64 / 3.0) * (1.0f64 / 3.0).ln();
        let h2 = 2.0f64.ln(); // {2, 1}: (1/2, 1/2)
        close(d[0], 1.0);
        close(d[1], h1 + 1.0);
        close(d[2], h2 + 1.0);
    }

    #[test]
    fn config_validation() {
        let ok = CurriculumConfig::new(Difficulty::Degree);
        assert!(ok.validate().is_ok());
        let field = |c: CurriculumConfig| match c.validate() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(field(CurriculumConfig { start_fraction: 0.0, ..ok.clone() }), "curriculum.start_fraction");
        assert_eq!(field(CurriculumConfig { start_fraction: 1.5, ..ok.clone() }), "curriculum.start_fraction");
        assert_eq!(field(CurriculumConfig { start_fraction: f64::NAN, ..ok.clone() }), "curriculum.start_fraction");
        assert_eq!(field(CurriculumConfig { full_at: 0.0, ..ok.clone() }), "curriculum.full_at");
        assert_eq!(field(CurriculumConfig { full_at: 1.01, ..ok.clone() }), "curriculum.full_at");
        assert_eq!(field(CurriculumConfig { difficulty: Difficulty::KHopSize { k: 0 }, ..ok.clone() }), "curriculum.difficulty.k");
        assert_eq!(field(CurriculumConfig { difficulty: Difficulty::ClNode { alpha: -1.0 }, ..ok.clone() }), "curriculum.difficulty.alpha");
        assert!(CurriculumConfig { start_fraction: 1.0, full_at: 1.0, ..ok.clone() }.validate().is_ok());
        assert!(Curriculum::new(ok.clone(), vec![1.0], 0).is_err());
        assert!(Curriculum::new(ok.clone(), vec![f64::INFINITY], 3).is_err());
        assert!(Curriculum::new(CurriculumConfig { full_at: 2.0, ..ok }, vec![1.0], 3).is_err());
        assert!(serde_json::from_str::<CurriculumConfig>(r#"{"difficulty": {"kind": "degree"}, "typo": 1}"#).is_err());
        assert!(serde_json::from_str::<CurriculumConfig>(r#"{"pacing": "linear"}"#).is_err());
    }

    #[test]
    fn empty_curriculum() {
        let c = Curriculum::new(CurriculumConfig::new(Difficulty::GraphSize), vec![], 5).unwrap();
        assert!(c.is_empty());
        assert!(c.active(0).is_empty());
        assert!(c.active(10).is_empty());
    }
}
