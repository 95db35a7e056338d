//! Evaluation of generated graphs: MMD between graph statistics (the GraphRNN
//! and GRAN protocols), and novelty by exact isomorphism.
//!
//! # Statistics
//! Each graph is summarised by three vectors:
//! * [`degree_histogram`]: how many nodes have degree 0, 1, 2, ... (networkx's
//!   `degree_histogram`);
//! * [`clustering_histogram`]: the local clustering coefficients binned into
//!   100 equal bins over `[0, 1]`, the last bin closed (numpy's `histogram` with
//!   `range=(0, 1)`);
//! * [`orbit_profile`]: for each of the 15 node orbits of the connected
//!   graphlets with 2 to 4 nodes (ORCA's numbering, see [`orbit_counts`]), the
//!   count summed over nodes, divided by the number of nodes.
//!
//! # MMD
//! [`mmd`] is the squared maximum mean discrepancy with every pair counted,
//! `i == j` included (a biased V-statistic, as both reference codes compute it):
//! `mean k(a_i, a_j) + mean k(b_i, b_j) - 2 mean k(a_i, b_j)`. Vectors are
//! zero-padded to a common length; histograms are first scaled to sum 1.
//! The kernels ([`Kernel`]) are `exp(-d^2 / (2 sigma^2))` with `d` the earth
//! mover's distance between histograms, half their L1 distance (total
//! variation), or their L2 distance.
//!
//! The earth mover's distance between two histograms of equal mass with
//! ground distance `|i - j| / s` is computed in closed form: on a line the
//! optimal transport moves, across each gap between bin `k` and `k + 1`,
//! exactly the difference of the two cumulative sums up to `k`, so the cost is
//! `sum_k |F_a(k) - F_b(k)| / s`, the L1 distance of the cumulative sums times
//! the bin width `1 / s`. GraphRNN computes the same number with `pyemd`'s
//! network-flow solver (which divides by the total flow, 1 for normalised
//! histograms). For histograms of unequal mass (only when `normalise_hist` is
//! false) the closed form is still what we use; it is not `pyemd`'s value.
//!
//! # Protocols ([`Protocol`], [`mmd_report`])
//! | statistic  | GraphRNN (`eval/stats.py`)                 | GRAN (`utils/eval_helper.py`)   |
//! |------------|--------------------------------------------|---------------------------------|
//! | degree     | Gaussian-EMD, sigma 1, scaling 1           | Gaussian-TV, sigma 1            |
//! | clustering | 100 bins, Gaussian-EMD, sigma 0.1, scaling 100 | 100 bins, Gaussian-TV, sigma 0.1 |
//! | orbit      | Gaussian (L2), sigma 30, not normalised    | Gaussian-TV, sigma 30, not normalised |
//!
//! GRAN's code uses the TV kernel for orbits too (its Gaussian call is
//! commented out), so that is what [`Protocol::Gran`] does. Generated graphs
//! with no nodes are left out of every statistic, as both codes do for degree
//! and clustering (an empty graph has no orbit profile). How many graphs are
//! compared is the caller's choice (GraphRNN: the test set against as many
//! samples; GRAN: the test set against generated graphs of the same number);
//! [`MmdReport`] records the numbers, since the biased estimator depends on
//! them.
//!
//! # Isomorphism
//! [`is_isomorphic`] is exact: cheap invariants, then colour refinement (1-WL)
//! on both graphs with shared colour names, then individualisation and
//! refinement with backtracking, and an edge-by-edge check of the final
//! bijection. [`fraction_isomorphic_to`] buckets the training graphs by a
//! Weisfeiler-Lehman hash before testing.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::graph::SmallGraph;

/// Counts of nodes with degree 0, 1, ..., max degree (empty for no nodes).
pub fn degree_histogram(g: &SmallGraph) -> Vec<f64> {
    let deg = g.degrees();
    let mut h = vec![0.0; deg.iter().max().map_or(0, |&d| d + 1)];
    for d in deg {
        h[d] += 1.0;
    }
    h
}

/// Number of triangles through every node.
fn triangles(adj: &[Vec<usize>]) -> Vec<u64> {
    let n = adj.len();
    let mut mark = vec![false; n];
    let mut t = vec![0u64; n];
    for x in 0..n {
        adj[x].iter().for_each(|&a| mark[a] = true);
        let twice: usize = adj[x].iter().map(|&a| adj[a].iter().filter(|&&b| mark[b]).count()).sum();
        t[x] = (twice / 2) as u64;
        adj[x].iter().for_each(|&a| mark[a] = false);
    }
    t
}

/// Local clustering coefficient of every node (0 below degree 2), as networkx
/// computes it: `2 T / (d (d - 1))`.
pub fn clustering_coefficients(g: &SmallGraph) -> Vec<f64> {
    let adj = g.adjacency();
    let t = triangles(&adj);
    adj.iter()
        .zip(&t)
        .map(|(a, &t)| {
            let d = a.len();
            if t == 0 {
                0.0
            } else {
                (2 * t) as f64 / (d * (d - 1)) as f64
            }
        })
        .collect()
}

/// Histogram of the local clustering coefficients over `[0, 1]` in `bins`
/// equal bins, the last one closed; the same bin choice as numpy's
/// `histogram(values, bins, range=(0, 1))`.
pub fn clustering_histogram(g: &SmallGraph, bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins];
    if bins == 0 {
        return h;
    }
    let width = 1.0 / bins as f64;
    let edge = |k: usize| if k == bins { 1.0 } else { k as f64 * width };
    for c in clustering_coefficients(g) {
        let mut k = ((c * bins as f64) as usize).min(bins - 1);
        // Nudge to agree with the bin edges themselves where the product rounds.
        if c < edge(k) {
            k -= 1;
        } else if k + 1 < bins && c >= edge(k + 1) {
            k += 1;
        }
        h[k] += 1.0;
    }
    h
}

fn choose2(k: u64) -> u64 {
    k * k.saturating_sub(1) / 2
}

fn choose3(k: u64) -> u64 {
    k * k.saturating_sub(1) * k.saturating_sub(2) / 6
}

/// Per node, how often it sits in each of the 15 orbits of the connected
/// graphlets with 2 to 4 nodes, counted as induced subgraphs (ORCA's `node 4`
/// output):
///
/// | orbit | graphlet | the node is |
/// |---|---|---|
/// | 0 | edge | an end (the degree) |
/// | 1, 2 | path on 3 nodes | an end, the middle |
/// | 3 | triangle | any node |
/// | 4, 5 | path on 4 nodes | an end, an inner node |
/// | 6, 7 | star with 3 leaves | a leaf, the centre |
/// | 8 | 4-cycle | any node |
/// | 9, 10, 11 | paw (triangle with a tail) | the tail's end, a triangle node of degree 2, the degree-3 node |
/// | 12, 13 | diamond (4-cycle with one chord) | a degree-2 node, a degree-3 node |
/// | 14 | complete graph on 4 nodes | any node |
///
/// Computed without enumerating 4-node sets: per node, eleven counts of
/// (not necessarily induced) patterns are taken from degrees, triangle counts
/// per edge, common neighbours and 4-cliques, and the induced counts follow
/// by subtracting, from the densest graphlet down, how often each pattern
/// sits inside each denser graphlet. The cost is about `sum_v deg(v)^2`,
/// plus, for the 4-cliques, the degrees summed over the common neighbours of
/// every edge.
pub fn orbit_counts(g: &SmallGraph) -> Vec<[u64; 15]> {
    let adj = g.adjacency();
    let n = adj.len();
    // Triangles on every arc: etri[u][k] = |N(u) ∩ N(adj[u][k])|.
    let mut mark = vec![false; n];
    let mut etri: Vec<Vec<u64>> = Vec::with_capacity(n);
    for u in 0..n {
        adj[u].iter().for_each(|&a| mark[a] = true);
        etri.push(adj[u].iter().map(|&a| adj[a].iter().filter(|&&b| mark[b]).count() as u64).collect());
        adj[u].iter().for_each(|&a| mark[a] = false);
    }
    let tri: Vec<u64> = etri.iter().map(|e| e.iter().sum::<u64>() / 2).collect();
    let deg: Vec<u64> = adj.iter().map(|a| a.len() as u64).collect();

    // 4-cliques, each found once from its two smallest nodes (a, b) and credited to all four.
    let mut k4 = vec![0u64; n];
    let (mut near_a, mut in_cand) = (vec![usize::MAX; n], vec![usize::MAX; n]);
    let mut cand: Vec<usize> = Vec::new();
    let mut stamp = 0usize;
    for a in 0..n {
        adj[a].iter().for_each(|&v| near_a[v] = a);
        for &b in adj[a].iter().filter(|&&b| b > a) {
            cand.clear();
            cand.extend(adj[b].iter().copied().filter(|&c| c > b && near_a[c] == a));
            stamp += 1;
            cand.iter().for_each(|&c| in_cand[c] = stamp);
            for &c in &cand {
                for &d in adj[c].iter().filter(|&&d| d > c && in_cand[d] == stamp) {
                    for v in [a, b, c, d] {
                        k4[v] += 1;
                    }
                }
            }
        }
    }

    let mut out = vec![[0u64; 15]; n];
    let mut common = vec![0u64; n];
    let mut touched: Vec<usize> = Vec::new();
    for x in 0..n {
        let dx = deg[x];
        adj[x].iter().for_each(|&a| mark[a] = true);
        // Pattern counts, named by the orbit whose induced count they start from.
        let (mut p4_end, mut p4_mid, mut star_leaf) = (0u64, 0u64, 0u64);
        let (mut cycle, mut paw_tail, mut paw_side) = (0u64, 0u64, 0u64);
        let (mut diamond_side, mut diamond_hub) = (0u64, 0u64);
        let mut paths3 = 0u64;
        for (ka, &a) in adj[x].iter().enumerate() {
            let xa = etri[x][ka];
            paths3 += deg[a] - 1;
            // x-a-b-c with all distinct: c in N(b) minus a, minus x when adjacent.
            for &b in &adj[a] {
                if b != x {
                    p4_end += deg[b] - 1 - u64::from(mark[b]);
                    if common[b] == 0 {
                        touched.push(b);
                    }
                    common[b] += 1;
                }
            }
            p4_mid += (dx - 1) * (deg[a] - 1) - xa;
            star_leaf += choose2(deg[a] - 1);
            paw_tail += tri[a] - xa;
            if xa > 0 {
                paw_side += xa * (deg[a] - 2);
            }
            diamond_hub += choose2(xa);
            // Triangles {x, a, b} with a < b, and the diamonds on them.
            for (kb, &b) in adj[a].iter().enumerate() {
                if b > a && mark[b] {
                    diamond_side += etri[a][kb] - 1;
                }
            }
        }
        for &c in &touched {
            cycle += choose2(common[c]);
            common[c] = 0;
        }
        touched.clear();
        adj[x].iter().for_each(|&a| mark[a] = false);

        let t = tri[x];
        let star_hub = choose3(dx);
        let paw_hub = t * dx.saturating_sub(2);
        let o = &mut out[x];
        o[0] = dx;
        o[1] = paths3 - 2 * t;
        o[2] = choose2(dx) - t;
        o[3] = t;
        o[14] = k4[x];
        o[13] = diamond_hub - 3 * o[14];
        o[12] = diamond_side - 3 * o[14];
        o[11] = paw_hub - 2 * o[13] - 3 * o[14];
        o[10] = paw_side - 2 * o[12] - 2 * o[13] - 6 * o[14];
        o[9] = paw_tail - 2 * o[12] - 3 * o[14];
        o[8] = cycle - o[12] - o[13] - 3 * o[14];
        o[7] = star_hub - o[11] - o[13] - o[14];
        o[6] = star_leaf - o[9] - o[10] - 2 * o[12] - o[13] - 3 * o[14];
        o[5] = p4_mid - 2 * o[8] - o[10] - 2 * o[11] - 2 * o[12] - 4 * o[13] - 6 * o[14];
        o[4] = p4_end - 2 * o[8] - 2 * o[9] - o[10] - 4 * o[12] - 2 * o[13] - 6 * o[14];
    }
    out
}

/// GraphRNN's orbit statistic: [`orbit_counts`] summed over nodes, divided by
/// the number of nodes (15 zeros for a graph with no nodes).
pub fn orbit_profile(g: &SmallGraph) -> Vec<f64> {
    let n = g.num_nodes();
    let mut s = vec![0.0; 15];
    if n == 0 {
        return s;
    }
    for row in orbit_counts(g) {
        for (acc, c) in s.iter_mut().zip(row) {
            *acc += c as f64;
        }
    }
    s.iter_mut().for_each(|v| *v /= n as f64);
    s
}

/// A kernel between two vectors (zero-padded to a common length), `exp(-d^2 / (2 sigma^2))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Kernel {
    /// `d` = earth mover's distance with ground distance `|i - j| / distance_scaling`.
    GaussianEmd { sigma: f64, distance_scaling: f64 },
    /// `d` = total variation, `sum |a_i - b_i| / 2`.
    GaussianTv { sigma: f64 },
    /// `d` = Euclidean distance.
    Gaussian { sigma: f64 },
}

impl Kernel {
    /// The kernel value between `a` and `b` (the shorter one read as zero-padded).
    pub fn eval(&self, a: &[f64], b: &[f64]) -> f64 {
        let len = a.len().max(b.len());
        let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        let (d, sigma) = match *self {
            Kernel::GaussianEmd { sigma, distance_scaling } => (emd_1d(a, b) / distance_scaling, sigma),
            Kernel::GaussianTv { sigma } => ((0..len).map(|i| (at(a, i) - at(b, i)).abs()).sum::<f64>() / 2.0, sigma),
            Kernel::Gaussian { sigma } => ((0..len).map(|i| (at(a, i) - at(b, i)).powi(2)).sum::<f64>().sqrt(), sigma),
        };
        (-d * d / (2.0 * sigma * sigma)).exp()
    }
}

/// Earth mover's distance with unit ground distance between neighbouring
/// bins, for histograms of equal mass: the L1 distance of the cumulative sums.
pub fn emd_1d(a: &[f64], b: &[f64]) -> f64 {
    let len = a.len().max(b.len());
    let (mut fa, mut fb, mut cost) = (0.0, 0.0, 0.0);
    // The last cumulative difference is the mass difference: no gap after it.
    for i in 0..len.saturating_sub(1) {
        fa += a.get(i).copied().unwrap_or(0.0);
        fb += b.get(i).copied().unwrap_or(0.0);
        cost += (fa - fb).abs();
    }
    cost
}

fn normalised(v: &[Vec<f64>]) -> Vec<Vec<f64>> {
    v.iter()
        .map(|s| {
            let t: f64 = s.iter().sum();
            s.iter().map(|x| x / t).collect()
        })
        .collect()
}

/// Mean kernel value over all pairs `(x, y)`, `x` from `a`, `y` from `b`.
fn mean_kernel(a: &[Vec<f64>], b: &[Vec<f64>], kernel: Kernel) -> f64 {
    let total: f64 = a.par_iter().map(|x| b.iter().map(|y| kernel.eval(x, y)).sum::<f64>()).sum();
    total / (a.len() * b.len()) as f64
}

/// Squared MMD between the samples `a` and `b` (see the module docs), every
/// pair counted including `i == j`; with `normalise_hist` every vector is
/// first divided by its sum. NaN when either sample is empty.
pub fn mmd(a: &[Vec<f64>], b: &[Vec<f64>], kernel: Kernel, normalise_hist: bool) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    let (a, b) = if normalise_hist { (normalised(a), normalised(b)) } else { (a.to_vec(), b.to_vec()) };
    mean_kernel(&a, &a, kernel) + mean_kernel(&b, &b, kernel) - 2.0 * mean_kernel(&a, &b, kernel)
}

/// Which paper's evaluation settings to use (table in the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// GraphRNN's `eval/stats.py`.
    GraphRnn,
    /// GRAN's `utils/eval_helper.py`.
    Gran,
}

/// Number of clustering-coefficient bins in both protocols.
pub const CLUSTERING_BINS: usize = 100;

impl Protocol {
    /// The protocol's name, `graphrnn` or `gran`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::GraphRnn => "graphrnn",
            Protocol::Gran => "gran",
        }
    }

    /// Kernels for degree, clustering and orbit statistics.
    pub fn kernels(self) -> [Kernel; 3] {
        match self {
            Protocol::GraphRnn => [
                Kernel::GaussianEmd { sigma: 1.0, distance_scaling: 1.0 },
                Kernel::GaussianEmd { sigma: 0.1, distance_scaling: CLUSTERING_BINS as f64 },
                Kernel::Gaussian { sigma: 30.0 },
            ],
            Protocol::Gran => [Kernel::GaussianTv { sigma: 1.0 }, Kernel::GaussianTv { sigma: 0.1 }, Kernel::GaussianTv { sigma: 30.0 }],
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "graphrnn" => Ok(Protocol::GraphRnn),
            "gran" => Ok(Protocol::Gran),
            _ => Err(crate::Error::unknown("MMD protocol", s, &["graphrnn", "gran"])),
        }
    }
}

/// Squared MMDs of the three statistics, and what they were computed on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MmdReport {
    pub degree: f64,
    pub clustering: f64,
    pub orbit: f64,
    /// [`Protocol::name`].
    pub protocol: String,
    /// Reference graphs compared (those with at least one node).
    pub num_reference: usize,
    /// Generated graphs compared (those with at least one node).
    pub num_generated: usize,
    /// Generated graphs left out for having no nodes.
    pub num_generated_empty: usize,
}

/// Degree, clustering and orbit MMDs of `generated` against `reference` under
/// `protocol`; graphs with no nodes are left out (and counted in the report).
pub fn mmd_report(reference: &[SmallGraph], generated: &[SmallGraph], protocol: Protocol) -> MmdReport {
    let reference: Vec<&SmallGraph> = reference.iter().filter(|g| g.num_nodes() > 0).collect();
    let kept: Vec<&SmallGraph> = generated.iter().filter(|g| g.num_nodes() > 0).collect();
    let stats = |gs: &[&SmallGraph]| -> [Vec<Vec<f64>>; 3] {
        let rows: Vec<[Vec<f64>; 3]> = gs.par_iter().map(|g| [degree_histogram(g), clustering_histogram(g, CLUSTERING_BINS), orbit_profile(g)]).collect();
        let mut out: [Vec<Vec<f64>>; 3] = Default::default();
        for [d, c, o] in rows {
            out[0].push(d);
            out[1].push(c);
            out[2].push(o);
        }
        out
    };
    let (r, g) = (stats(&reference), stats(&kept));
    let [kd, kc, ko] = protocol.kernels();
    MmdReport {
        degree: mmd(&r[0], &g[0], kd, true),
        clustering: mmd(&r[1], &g[1], kc, true),
        orbit: mmd(&r[2], &g[2], ko, false),
        protocol: protocol.name().to_string(),
        num_reference: reference.len(),
        num_generated: kept.len(),
        num_generated_empty: generated.len() - kept.len(),
    }
}

// ---------------------------------------------------------------- isomorphism

fn mix(mut h: u64, v: u64) -> u64 {
    // splitmix64 finaliser over a running combination.
    h ^= v.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(h << 6).wrapping_add(h >> 2);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn num_colours(c: &[u64]) -> usize {
    let mut s = c.to_vec();
    s.sort_unstable();
    s.dedup();
    s.len()
}

/// One round of colour refinement: own colour and the sorted multiset of the
/// neighbours' colours, hashed. The same function on every graph, so
/// isomorphic graphs get equal colours on corresponding nodes.
fn refine_round(adj: &[Vec<usize>], c: &[u64], buf: &mut Vec<u64>) -> Vec<u64> {
    adj.iter()
        .enumerate()
        .map(|(v, nb)| {
            buf.clear();
            buf.extend(nb.iter().map(|&u| c[u]));
            buf.sort_unstable();
            buf.iter().fold(mix(0x5157_4c00, c[v]), |h, &x| mix(h, x))
        })
        .collect()
}

/// Refine until the partition is stable.
fn refine(adj: &[Vec<usize>], mut c: Vec<u64>) -> Vec<u64> {
    let mut buf = Vec::new();
    let mut k = num_colours(&c);
    loop {
        let next = refine_round(adj, &c, &mut buf);
        let k2 = num_colours(&next);
        c = next;
        if k2 == k {
            return c;
        }
        k = k2;
    }
}

/// Refine two graphs in step; `None` as soon as their colour histograms differ.
fn refine_pair(adj_a: &[Vec<usize>], adj_b: &[Vec<usize>], mut ca: Vec<u64>, mut cb: Vec<u64>) -> Option<(Vec<u64>, Vec<u64>)> {
    let mut buf = Vec::new();
    let mut k = num_colours(&ca);
    loop {
        if histogram(&ca) != histogram(&cb) {
            return None;
        }
        let na = refine_round(adj_a, &ca, &mut buf);
        let nb = refine_round(adj_b, &cb, &mut buf);
        let k2 = num_colours(&na);
        ca = na;
        cb = nb;
        if k2 == k {
            return (histogram(&ca) == histogram(&cb)).then_some((ca, cb));
        }
        k = k2;
    }
}

fn histogram(c: &[u64]) -> Vec<u64> {
    let mut s = c.to_vec();
    s.sort_unstable();
    s
}

/// A Weisfeiler-Lehman hash of the structure (node and edge types ignored):
/// equal for isomorphic graphs; different hashes prove non-isomorphism.
pub fn wl_hash(g: &SmallGraph) -> u64 {
    let adj = g.adjacency();
    let c = refine(&adj, vec![0; adj.len()]);
    histogram(&c).into_iter().fold(mix(g.num_nodes() as u64, g.num_edges() as u64), mix)
}

/// Whether `a` and `b` have the same structure (types ignored), decided exactly.
pub fn is_isomorphic(a: &SmallGraph, b: &SmallGraph) -> bool {
    if a.num_nodes() != b.num_nodes() || a.num_edges() != b.num_edges() {
        return false;
    }
    let (mut da, mut db) = (a.degrees(), b.degrees());
    da.sort_unstable();
    db.sort_unstable();
    if da != db {
        return false;
    }
    let (adj_a, adj_b) = (a.adjacency(), b.adjacency());
    let n = adj_a.len();
    let Some((ca, cb)) = refine_pair(&adj_a, &adj_b, vec![0; n], vec![0; n]) else { return false };
    search(&adj_a, &adj_b, ca, cb, 1)
}

/// Individualise-and-refine backtracking: every bijection it ends at is checked edge by edge.
fn search(adj_a: &[Vec<usize>], adj_b: &[Vec<usize>], ca: Vec<u64>, cb: Vec<u64>, depth: u64) -> bool {
    // Smallest colour class with more than one node in `a`.
    let mut sizes: HashMap<u64, usize> = HashMap::new();
    ca.iter().for_each(|&c| *sizes.entry(c).or_default() += 1);
    let target = sizes.iter().filter(|&(_, &s)| s > 1).min_by_key(|&(&c, &s)| (s, c)).map(|(&c, _)| c);
    let Some(colour) = target else {
        // Discrete: the colours define the only candidate bijection.
        let of_b: HashMap<u64, usize> = cb.iter().enumerate().map(|(w, &c)| (c, w)).collect();
        let map: Vec<usize> = ca.iter().map(|c| of_b[c]).collect();
        return adj_a.iter().enumerate().all(|(v, nb)| nb.iter().all(|&u| adj_b[map[v]].binary_search(&map[u]).is_ok()));
    };
    let Some(v) = ca.iter().position(|&c| c == colour) else { return false };
    let marker = mix(0x1d1d_1d1d, depth);
    for w in (0..cb.len()).filter(|&w| cb[w] == colour) {
        let (mut na, mut nb) = (ca.clone(), cb.clone());
        na[v] = mix(na[v], marker);
        nb[w] = mix(nb[w], marker);
        if let Some((ra, rb)) = refine_pair(adj_a, adj_b, na, nb) {
            if search(adj_a, adj_b, ra, rb, depth + 1) {
                return true;
            }
        }
    }
    false
}

/// Share of `samples` isomorphic to at least one graph of `train` (NaN for no samples).
pub fn fraction_isomorphic_to(samples: &[SmallGraph], train: &[SmallGraph]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut buckets: HashMap<u64, Vec<&SmallGraph>> = HashMap::new();
    for (h, g) in train.par_iter().map(wl_hash).collect::<Vec<_>>().into_iter().zip(train) {
        buckets.entry(h).or_default().push(g);
    }
    let hits = samples.par_iter().filter(|s| buckets.get(&wl_hash(s)).is_some_and(|b| b.iter().any(|t| is_isomorphic(s, t)))).count();
    hits as f64 / samples.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{community_small, erdos_renyi, erdos_renyi_baseline, grid, grid_graphs, train_test_split};
    use crate::rng::{seeded, Rng};
    use rand::seq::SliceRandom;

    fn g(n: usize, e: &[(usize, usize)]) -> SmallGraph {
        SmallGraph::from_pairs(n, e.iter().copied())
    }

    /// Orbit counts by brute force: every connected induced subgraph on 2, 3
    /// or 4 nodes, classified by its edges and each node's degree inside it.
    fn brute_orbits(gr: &SmallGraph) -> Vec<[u64; 15]> {
        let n = gr.num_nodes();
        let adj = gr.adjacency();
        let e = |a: usize, b: usize| adj[a].binary_search(&b).is_ok();
        let mut out = vec![[0u64; 15]; n];
        for (u, v, _) in &gr.edges {
            out[*u as usize][0] += 1;
            out[*v as usize][0] += 1;
        }
        for a in 0..n {
            for b in a + 1..n {
                for c in b + 1..n {
                    let s = [a, b, c];
                    let d: Vec<usize> = s.iter().map(|&x| s.iter().filter(|&&y| y != x && e(x, y)).count()).collect();
                    let m: usize = d.iter().sum::<usize>() / 2;
                    for (i, &x) in s.iter().enumerate() {
                        match (m, d[i]) {
                            (2, 1) => out[x][1] += 1,
                            (2, 2) => out[x][2] += 1,
                            (3, _) => out[x][3] += 1,
                            _ => {}
                        }
                    }
                    for dd in c + 1..n {
                        let s = [a, b, c, dd];
                        let d: Vec<usize> = s.iter().map(|&x| s.iter().filter(|&&y| y != x && e(x, y)).count()).collect();
                        let m: usize = d.iter().sum::<usize>() / 2;
                        let max = *d.iter().max().unwrap();
                        if m < 3 || d.contains(&0) {
                            continue; // not connected (two disjoint edges, or a triangle and an isolated node)
                        }
                        for (i, &x) in s.iter().enumerate() {
                            let o = match (m, max, d[i]) {
                                (3, 2, 1) => 4,
                                (3, 2, 2) => 5,
                                (3, 3, 1) => 6,
                                (3, 3, 3) => 7,
                                (4, 2, _) => 8,
                                (4, 3, 1) => 9,
                                (4, 3, 2) => 10,
                                (4, 3, 3) => 11,
                                (5, _, 2) => 12,
                                (5, _, 3) => 13,
                                (6, _, _) => 14,
                                _ => unreachable!("{m} {max} {}", d[i]),
                            };
                            out[x][o] += 1;
                        }
                    }
                }
            }
        }
        out
    }

    fn orbit(o: &[(usize, u64)]) -> [u64; 15] {
        let mut r = [0; 15];
        o.iter().for_each(|&(i, c)| r[i] = c);
        r
    }

    #[test]
    fn orbits_of_hand_graphs() {
        // Path 0-1-2-3.
        let p = orbit_counts(&g(4, &[(0, 1), (1, 2), (2, 3)]));
        assert_eq!(p[0], orbit(&[(0, 1), (1, 1), (4, 1)]));
        assert_eq!(p[1], orbit(&[(0, 2), (1, 1), (2, 1), (5, 1)]));
        // Star with centre 0.
        let s = orbit_counts(&g(4, &[(0, 1), (0, 2), (0, 3)]));
        assert_eq!(s[0], orbit(&[(0, 3), (2, 3), (7, 1)]));
        assert_eq!(s[1], orbit(&[(0, 1), (1, 2), (6, 1)]));
        // Triangle.
        let t = orbit_counts(&g(3, &[(0, 1), (1, 2), (0, 2)]));
        assert!(t.iter().all(|r| *r == orbit(&[(0, 2), (3, 1)])));
        // 4-cycle.
        let c = orbit_counts(&g(4, &[(0, 1), (1, 2), (2, 3), (0, 3)]));
        assert!(c.iter().all(|r| *r == orbit(&[(0, 2), (1, 2), (2, 1), (8, 1)])));
        // Paw: triangle 0-1-2, tail 2-3.
        let w = orbit_counts(&g(4, &[(0, 1), (1, 2), (0, 2), (2, 3)]));
        assert_eq!(w[3], orbit(&[(0, 1), (1, 2), (9, 1)]));
        assert_eq!(w[0], orbit(&[(0, 2), (1, 1), (3, 1), (10, 1)]));
        assert_eq!(w[2], orbit(&[(0, 3), (2, 2), (3, 1), (11, 1)]));
        // Diamond: 4-cycle 0-1-2-3 with chord 0-2.
        let d = orbit_counts(&g(4, &[(0, 1), (1, 2), (2, 3), (0, 3), (0, 2)]));
        assert_eq!(d[1], orbit(&[(0, 2), (1, 2), (3, 1), (12, 1)]));
        assert_eq!(d[0], orbit(&[(0, 3), (2, 1), (3, 2), (13, 1)]));
        // K4.
        let k = orbit_counts(&g(4, &[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]));
        assert!(k.iter().all(|r| *r == orbit(&[(0, 3), (3, 3), (14, 1)])));
    }

    #[test]
    fn orbits_match_brute_force_on_random_graphs() {
        let mut rng = seeded(5);
        for (n, p) in [(9, 0.3), (12, 0.5), (10, 0.8), (14, 0.2), (8, 1.0), (11, 0.0)] {
            let gr = erdos_renyi(n, p, &mut rng);
            assert_eq!(orbit_counts(&gr), brute_orbits(&gr), "n {n} p {p}");
        }
        let gr = grid(3, 4);
        assert_eq!(orbit_counts(&gr), brute_orbits(&gr));
        let prof = orbit_profile(&gr);
        assert_eq!(prof.len(), 15);
        assert!((prof[0] - 2.0 * 17.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn dense_graphs_stay_cheap() {
        // A generator gone wrong can emit dense graphs at grid sizes: the
        // statistics and the isomorphism test must still be quick there.
        let a = erdos_renyi(361, 0.5, &mut seeded(3));
        let t = std::time::Instant::now();
        let o = orbit_counts(&a);
        // Every 4-clique is seen by its 4 nodes, every triangle by its 3.
        assert_eq!(o.iter().map(|r| r[14]).sum::<u64>() % 4, 0);
        assert_eq!(o.iter().map(|r| r[3]).sum::<u64>() % 3, 0);
        assert!(is_isomorphic(&a, &shuffled(&a, 1)));
        eprintln!("dense 361-node graph: orbits and isomorphism in {:?}", t.elapsed());
    }

    #[test]
    fn histograms() {
        // Triangle 0-1-2 with tail 2-3-4.
        let gr = g(5, &[(0, 1), (1, 2), (0, 2), (2, 3), (3, 4)]);
        assert_eq!(degree_histogram(&gr), vec![0.0, 1.0, 3.0, 1.0]);
        let cc = clustering_coefficients(&gr);
        assert_eq!(cc, vec![1.0, 1.0, 1.0 / 3.0, 0.0, 0.0]);
        let h = clustering_histogram(&gr, 100);
        assert_eq!(h.len(), 100);
        assert_eq!((h[0], h[33], h[99]), (2.0, 1.0, 2.0));
        assert_eq!(h.iter().sum::<f64>(), 5.0);
        // A value on an inner bin edge goes to the upper bin, as numpy puts it:
        // in the diamond the degree-3 nodes have 2/3, on the edge of 3 bins ...
        let diamond = g(4, &[(0, 1), (1, 2), (2, 3), (0, 3), (0, 2)]);
        assert_eq!(clustering_histogram(&diamond, 3), vec![0.0, 0.0, 4.0]);
        // ... and the fan's hub (3 of its 6 neighbour pairs joined) has 1/2.
        let fan = g(5, &[(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (2, 3), (3, 4)]);
        assert_eq!(clustering_coefficients(&fan)[0], 0.5);
        assert_eq!(clustering_histogram(&fan, 2), vec![0.0, 5.0]);
        let bowtie = g(5, &[(0, 1), (0, 2), (1, 2), (0, 3), (3, 4), (0, 4)]);
        assert_eq!(clustering_histogram(&bowtie, 2), vec![1.0, 4.0]);
        assert!(degree_histogram(&SmallGraph::empty(0)).is_empty());
    }

    /// MMD by the textbook formula, written out pair by pair.
    fn brute_mmd(a: &[Vec<f64>], b: &[Vec<f64>], k: &dyn Fn(&[f64], &[f64]) -> f64) -> f64 {
        let mean = |x: &[Vec<f64>], y: &[Vec<f64>]| {
            let mut s = 0.0;
            for p in x {
                for q in y {
                    s += k(p, q);
                }
            }
            s / (x.len() * y.len()) as f64
        };
        mean(a, a) + mean(b, b) - 2.0 * mean(a, b)
    }

    /// EMD by the transport plan that moves mass left to right greedily
    /// (optimal on a line), for equal-mass histograms.
    fn greedy_emd(a: &[f64], b: &[f64]) -> f64 {
        let len = a.len().max(b.len());
        let mut supply: Vec<f64> = (0..len).map(|i| a.get(i).copied().unwrap_or(0.0)).collect();
        let mut demand: Vec<f64> = (0..len).map(|i| b.get(i).copied().unwrap_or(0.0)).collect();
        let (mut i, mut j, mut cost) = (0, 0, 0.0);
        while i < len && j < len {
            let m = supply[i].min(demand[j]);
            cost += m * (i as f64 - j as f64).abs();
            supply[i] -= m;
            demand[j] -= m;
            if supply[i] <= 1e-15 {
                i += 1;
            }
            if demand[j] <= 1e-15 {
                j += 1;
            }
        }
        cost
    }

    #[test]
    fn mmd_matches_brute_force() {
        let mut rng = seeded(11);
        let sample = |rng: &mut crate::rng::GlmRng, n: usize| -> Vec<Vec<f64>> {
            (0..n).map(|_| (0..rng.gen_range(1..8)).map(|_| rng.gen_range(0..5) as f64 + 0.5).collect()).collect()
        };
        let a = sample(&mut rng, 7);
        let b = sample(&mut rng, 5);
        let pad = |v: &[f64], len: usize| -> Vec<f64> { (0..len).map(|i| v.get(i).copied().unwrap_or(0.0)).collect() };
        let norm = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| x / v.iter().sum::<f64>()).collect() };
        // Gaussian-EMD on normalised histograms, scaling 2.
        let k_emd = |p: &[f64], q: &[f64]| {
            let d = greedy_emd(&norm(p), &norm(q)) / 2.0;
            (-d * d / (2.0 * 0.7 * 0.7)).exp()
        };
        let ours = mmd(&a, &b, Kernel::GaussianEmd { sigma: 0.7, distance_scaling: 2.0 }, true);
        assert!((ours - brute_mmd(&a, &b, &k_emd)).abs() < 1e-12, "{ours}");
        assert!(ours > 0.0);
        let k_tv = |p: &[f64], q: &[f64]| {
            let len = p.len().max(q.len());
            let (p, q) = (pad(&norm(p), len), pad(&norm(q), len));
            let d: f64 = p.iter().zip(&q).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0;
            (-d * d / 2.0).exp()
        };
        let ours = mmd(&a, &b, Kernel::GaussianTv { sigma: 1.0 }, true);
        assert!((ours - brute_mmd(&a, &b, &k_tv)).abs() < 1e-12);
        let k_l2 = |p: &[f64], q: &[f64]| {
            let len = p.len().max(q.len());
            let (p, q) = (pad(p, len), pad(q, len));
            let d2: f64 = p.iter().zip(&q).map(|(x, y)| (x - y).powi(2)).sum();
            (-d2 / (2.0 * 9.0)).exp()
        };
        let ours = mmd(&a, &b, Kernel::Gaussian { sigma: 3.0 }, false);
        assert!((ours - brute_mmd(&a, &b, &k_l2)).abs() < 1e-12);
        assert_eq!(mmd(&a, &a, Kernel::Gaussian { sigma: 3.0 }, false), 0.0);
        assert!(mmd(&a, &[], Kernel::Gaussian { sigma: 3.0 }, false).is_nan());
        // GraphRNN's own example in eval/mmd.py: close pmfs give a small MMD, swapped ones a larger one.
        let s1 = vec![vec![0.2, 0.8], vec![0.3, 0.7]];
        let s2 = vec![vec![0.25, 0.75], vec![0.35, 0.65]];
        let s3 = vec![vec![0.8, 0.2], vec![0.7, 0.3]];
        let k = Kernel::GaussianEmd { sigma: 1.0, distance_scaling: 1.0 };
        assert!(mmd(&s1, &s2, k, true) < mmd(&s1, &s3, k, true));
        assert!((emd_1d(&[0.2, 0.8], &[0.3, 0.7]) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn mmd_of_families() {
        let grids = grid_graphs();
        for protocol in [Protocol::GraphRnn, Protocol::Gran] {
            let same = mmd_report(&grids, &grids, protocol);
            assert!(same.degree.abs() < 1e-12 && same.clustering.abs() < 1e-12 && same.orbit.abs() < 1e-12, "{same:?}");
            assert_eq!((same.num_reference, same.num_generated), (100, 100));
        }
        let (train, test) = train_test_split(grids, 0.2, 123);
        let er = erdos_renyi_baseline(&train, test.len(), 1);
        let mut with_empty = er.clone();
        with_empty.push(SmallGraph::empty(0));
        for protocol in [Protocol::GraphRnn, Protocol::Gran] {
            let tt = mmd_report(&test, &train, protocol);
            let et = mmd_report(&test, &with_empty, protocol);
            eprintln!("grid {}: train vs test {tt:?}\n  ER baseline vs test {et:?}", protocol.name());
            assert_eq!((et.num_generated, et.num_generated_empty), (20, 1));
            assert!(et.degree > 10.0 * tt.degree.max(1e-3), "{et:?} {tt:?}");
            assert!(et.clustering > tt.clustering && et.orbit > tt.orbit);
        }
        let comm = community_small(40, 2);
        let r = mmd_report(&comm[..20], &comm[20..], Protocol::GraphRnn);
        assert!(r.degree < 0.2 && r.degree.is_finite(), "{r:?}");
        assert_eq!(serde_json::to_value(&r).unwrap()["protocol"], "graphrnn");
    }

    fn shuffled(gr: &SmallGraph, seed: u64) -> SmallGraph {
        let mut order: Vec<usize> = (0..gr.num_nodes()).collect();
        order.shuffle(&mut seeded(seed));
        gr.permuted(&order)
    }

    #[test]
    fn isomorphism_on_grids() {
        for (r, c) in [(10, 10), (19, 19), (12, 17), (20, 20)] {
            let a = grid(r, c);
            let b = shuffled(&a, r as u64 * 31 + c as u64);
            assert!(is_isomorphic(&a, &b), "{r}x{c}");
            assert_eq!(wl_hash(&a), wl_hash(&b));
        }
        assert!(is_isomorphic(&grid(11, 13), &shuffled(&grid(13, 11), 4)));
        assert!(!is_isomorphic(&grid(10, 12), &grid(12, 11)));
        // Move one edge: drop (0,1)-(0,2) and join (0,1)-(1,2) instead.
        let a = grid(10, 12);
        let mut moved = a.clone();
        moved.edges.retain(|&(u, v, _)| (u, v) != (1, 2));
        moved.edges.push((1, 14, 0));
        moved.edges.sort_unstable();
        assert_eq!(moved.num_edges(), a.num_edges());
        assert!(!is_isomorphic(&a, &moved));
        assert!(!is_isomorphic(&shuffled(&a, 9), &moved));
    }

    #[test]
    fn isomorphism_beyond_colour_refinement() {
        // Two triangles vs a 6-cycle: 2-regular, colour refinement cannot tell them apart.
        let two_triangles = g(6, &[(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]);
        let hexagon = g(6, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)]);
        assert_eq!(wl_hash(&two_triangles), wl_hash(&hexagon));
        assert!(!is_isomorphic(&two_triangles, &hexagon));
        assert!(is_isomorphic(&hexagon, &shuffled(&hexagon, 3)));
        // 3-regular on 8 nodes, both vertex-transitive: the cube and the Möbius ladder.
        let cube = g(8, &[(0, 1), (1, 2), (2, 3), (0, 3), (4, 5), (5, 6), (6, 7), (4, 7), (0, 4), (1, 5), (2, 6), (3, 7)]);
        let mobius = g(8, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (0, 7), (0, 4), (1, 5), (2, 6), (3, 7)]);
        assert!(!is_isomorphic(&cube, &mobius));
        assert!(is_isomorphic(&cube, &shuffled(&cube, 8)));
        assert!(is_isomorphic(&mobius, &shuffled(&mobius, 8)));
        // Random graphs against their permutations.
        let mut rng = seeded(2);
        for n in [15, 30, 60] {
            let a = erdos_renyi(n, 0.2, &mut rng);
            assert!(is_isomorphic(&a, &shuffled(&a, n as u64)));
        }
    }

    #[test]
    fn fraction_of_training_copies() {
        let train: Vec<SmallGraph> = (10..14).map(|n| grid(n, 10)).collect();
        let samples = vec![shuffled(&grid(10, 12), 1), shuffled(&grid(10, 13), 2), grid(9, 9), grid(10, 15)];
        assert_eq!(fraction_isomorphic_to(&samples, &train), 0.5);
        assert!(fraction_isomorphic_to(&[], &train).is_nan());
        assert_eq!(fraction_isomorphic_to(&samples, &[]), 0.0);
    }
}
