//! [`GraphBuilder`]: the one place graphs are validated and indexed.

use super::{transform::Cache, EdgeAttrs, Graph, Inner};
use crate::{Error, Result};

/// Builds a [`Graph`], validating ids and counts once.
///
/// ```
/// use autoglm::graph::Graph;
/// let g = Graph::builder(3).edges([(0, 1), (1, 2)]).build().unwrap();
/// assert_eq!(g.num_edges(), 2);
/// assert_eq!(g.in_degree(), vec![0, 1, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct GraphBuilder {
    num_nodes: usize,
    src: Vec<usize>,
    dst: Vec<usize>,
    weight: Option<Vec<f32>>,
    types: Option<(Vec<u32>, usize)>,
    features: Option<(usize, Vec<f32>)>,
    dedup: bool,
    remove_self_loops: bool,
    what: String,
}

impl GraphBuilder {
    /// A builder for a graph with `num_nodes` nodes.
    pub fn new(num_nodes: usize) -> Self {
        GraphBuilder {
            num_nodes,
            src: Vec::new(),
            dst: Vec::new(),
            weight: None,
            types: None,
            features: None,
            dedup: false,
            remove_self_loops: false,
            what: "graph".into(),
        }
    }
    /// Name used in error messages (for example the file the edges came from).
    pub fn context(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }
    /// Add `(src, dst)` edges.
    pub fn edges(mut self, edges: impl IntoIterator<Item = (usize, usize)>) -> Self {
        for (s, d) in edges {
            self.src.push(s);
            self.dst.push(d);
        }
        self
    }
    /// Add edges from parallel source and destination lists.
    pub fn edge_lists(mut self, src: Vec<usize>, dst: Vec<usize>) -> Self {
        if self.src.is_empty() {
            self.src = src;
            self.dst = dst;
        } else {
            self.src.extend(src);
            self.dst.extend(dst);
        }
        self
    }
    /// One weight per edge, in the order the edges were added.
    pub fn edge_weight(mut self, w: Vec<f32>) -> Self {
        self.weight = Some(w);
        self
    }
    /// One categorical type per edge (in the order the edges were added), each `< num_types`.
    pub fn edge_types(mut self, types: Vec<u32>, num_types: usize) -> Self {
        self.types = Some((types, num_types));
        self
    }
    /// One float feature row of `width` values per edge (row-major, in the order the edges were added).
    pub fn edge_features(mut self, width: usize, values: Vec<f32>) -> Self {
        self.features = Some((width, values));
        self
    }
    /// Merge duplicate edges (keeping the first weight), as PyG's `coalesce` does for unweighted graphs.
    pub fn dedup(mut self, yes: bool) -> Self {
        self.dedup = yes;
        self
    }
    /// Drop `i -> i` edges.
    pub fn remove_self_loops(mut self, yes: bool) -> Self {
        self.remove_self_loops = yes;
        self
    }

    /// Validate and index.
    ///
    /// # Errors
    /// [`Error::Inconsistent`] when source, destination and weight counts differ;
    /// [`Error::IndexOutOfRange`] when a node id is `>= num_nodes`.
    pub fn build(self) -> Result<Graph> {
        let GraphBuilder { num_nodes, src, dst, weight, types, features, dedup, remove_self_loops, what } = self;
        if let Some((t, k)) = &types {
            if t.len() != src.len() {
                return Err(Error::inconsistent(format!("{what}: number of edge types (one per edge)"), src.len(), t.len()));
            }
            if let Some((e, &bad)) = t.iter().enumerate().find(|(_, &x)| x as usize >= *k) {
                return Err(Error::IndexOutOfRange {
                    what: format!("{what}: type of edge {e}"),
                    index: bad as usize,
                    bound: *k,
                    hint: "edge types must be below the number of types".into(),
                });
            }
        }
        if let Some((d, v)) = &features {
            if *d == 0 || v.len() != src.len() * d {
                return Err(Error::inconsistent(format!("{what}: edge feature values ({d} per edge)"), src.len() * d, v.len()));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::config(format!("{what}: feature {} of edge {}", i % d, i / d), v[i], "edge features must be finite numbers"));
            }
        }
        if src.len() != dst.len() {
            return Err(Error::inconsistent(format!("{what}: number of edge destinations"), src.len(), dst.len()));
        }
        if let Some(w) = &weight {
            if w.len() != src.len() {
                return Err(Error::inconsistent(format!("{what}: number of edge weights (one per edge)"), src.len(), w.len()));
            }
        }
        for (e, (&s, &d)) in src.iter().zip(&dst).enumerate() {
            let bad = if s >= num_nodes { s } else { d };
            if s >= num_nodes || d >= num_nodes {
                return Err(Error::IndexOutOfRange {
                    what: format!("{what}: edge {e} ({s} -> {d})"),
                    index: bad,
                    bound: num_nodes,
                    hint: format!("node ids must be 0-based and below num_nodes = {num_nodes}; check the id base and the node count"),
                });
            }
        }
        // Sort edge ids by (dst, src), stable so duplicates keep insertion order.
        let mut order: Vec<usize> = (0..src.len()).filter(|&e| !(remove_self_loops && src[e] == dst[e])).collect();
        order.sort_by_key(|&e| (dst[e], src[e]));
        if dedup {
            order.dedup_by_key(|e| (dst[*e], src[*e]));
        }
        let col_idx: Vec<usize> = order.iter().map(|&e| src[e]).collect();
        let dsts: Vec<usize> = order.iter().map(|&e| dst[e]).collect();
        let edge_weight = weight.map(|w| order.iter().map(|&e| w[e]).collect::<Vec<f32>>());
        let mut inner = index(num_nodes, col_idx, dsts, edge_weight);
        inner.edge_attrs = EdgeAttrs {
            types: types.map(|(t, k)| (order.iter().map(|&e| t[e]).collect(), k)),
            features: features.map(|(d, v)| (d, order.iter().flat_map(|&e| v[e * d..(e + 1) * d].iter().copied()).collect())),
        };
        Ok(Graph::from_inner(inner))
    }
}

/// Index edges already sorted by `(dst, src)`.
pub(crate) fn index(num_nodes: usize, col_idx: Vec<usize>, dst: Vec<usize>, edge_weight: Option<Vec<f32>>) -> Inner {
    let m = col_idx.len();
    let mut row_ptr = vec![0usize; num_nodes + 1];
    for &d in &dst {
        row_ptr[d + 1] += 1;
    }
    for i in 0..num_nodes {
        row_ptr[i + 1] += row_ptr[i];
    }
    let mut t_ptr = vec![0usize; num_nodes + 1];
    for &s in &col_idx {
        t_ptr[s + 1] += 1;
    }
    for i in 0..num_nodes {
        t_ptr[i + 1] += t_ptr[i];
    }
    let mut fill = t_ptr.clone();
    let mut t_dst = vec![0usize; m];
    let mut t_eid = vec![0usize; m];
    // Edge ids ascend with dst, so each source's out-edges come out sorted by dst.
    for e in 0..m {
        let s = col_idx[e];
        let p = fill[s];
        t_dst[p] = dst[e];
        t_eid[p] = e;
        fill[s] += 1;
    }
    Inner { num_nodes, row_ptr, col_idx, dst, edge_weight, t_ptr, t_dst, t_eid, edge_attrs: EdgeAttrs::default(), cache: Cache::default(), parts: None }
}
