//! Sparse-dense matrix products over a graph (the fused message-passing path)
//! and their adjoint, SDDMM.

use super::{dims2, f32_slice, prep, simd};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Which way messages flow: along edges (`src -> dst`) or against them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// `out_i = Σ_{e: dst(e) = i} w_e x_{src(e)}`.
    Forward,
    /// `out_j = Σ_{e: src(e) = j} w_e x_{dst(e)}` (the transpose).
    Transpose,
}

impl Dir {
    fn flip(self) -> Dir {
        match self {
            Dir::Forward => Dir::Transpose,
            Dir::Transpose => Dir::Forward,
        }
    }
}

/// The kernel: `out[i, h*c..] = Σ_e w[e, h] * x[nbr(e), h*c..] + self_scale * x[i, h*c..]`
/// (the self term added after the neighbour sum, as PyG's `GINConv` does).
/// `w = None` means every weight is 1.
fn spmm_kernel(g: &Graph, dir: Dir, w: Option<&[f32]>, heads: usize, x: &[f32], f: usize, self_scale: f32) -> Vec<f32> {
    let (ptr, nbr, eid): (&[usize], &[usize], Option<&[usize]>) = match dir {
        Dir::Forward => (g.row_ptr(), g.col_idx(), None),
        Dir::Transpose => (g.t_ptr(), g.t_dst(), Some(g.t_eid())),
    };
    autoglm_kernels::sparse::spmm(ptr, nbr, eid, w, heads, x, f, self_scale)
}

simd::dispatch! {
    /// Per-head dot products for a block of edges starting at `e0`.
    fn sddmm_block(o: &mut [f32], e0: usize, src: &[usize], dst: &[usize], a: &[f32], b: &[f32], h: usize, f: usize) {
        let c = f / h;
        for (k, oe) in o.chunks_mut(h).enumerate() {
            let e = e0 + k;
            let ar = &a[dst[e] * f..(dst[e] + 1) * f];
            let br = &b[src[e] * f..(src[e] + 1) * f];
            for hh in 0..h {
                let mut acc = 0f32;
                for (x, y) in ar[hh * c..(hh + 1) * c].iter().zip(&br[hh * c..(hh + 1) * c]) {
                    acc += x * y;
                }
                oe[hh] = acc;
            }
        }
    }
}

/// SpMM with constant weights: a custom op of `x` only.
struct SpmmConst {
    g: Graph,
    dir: Dir,
    w: Option<Arc<Vec<f32>>>,
    heads: usize,
    /// Coefficient of the node's own row (0: plain SpMM; `1 + ε`: GIN).
    self_scale: f32,
    /// Destination rows: the first `dst_rows` nodes (every node, or a trimmed
    /// layer's destinations when `g` has in-edges only into nodes below it).
    /// Forward maps `[num_nodes, F]` to `[dst_rows, F]`, the transpose back.
    dst_rows: usize,
}

impl CustomOp1 for SpmmConst {
    fn name(&self) -> &'static str {
        "spmm-const"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "spmm")?;
        let (rows_in, rows_out) = match self.dir {
            Dir::Forward => (self.g.num_nodes(), self.dst_rows),
            Dir::Transpose => (self.dst_rows, self.g.num_nodes()),
        };
        let f = dims2(l, rows_in, "spmm", "x")?;
        if f % self.heads != 0 {
            candle_core::bail!("spmm: feature dim {f} is not a multiple of heads {}", self.heads);
        }
        let out = if rows_out == self.g.num_nodes() && rows_in == rows_out {
            spmm_kernel(&self.g, self.dir, self.w.as_deref().map(|v| v.as_slice()), self.heads, x, f, self.self_scale)
        } else {
            // A trimmed layer (no self term: `dst_rows` is checked at construction).
            let w = self.w.as_deref().map(|v| v.as_slice());
            match self.dir {
                Dir::Forward => autoglm_kernels::sparse::spmm(&self.g.row_ptr()[..=self.dst_rows], self.g.col_idx(), None, w, self.heads, x, f, 0.0),
                Dir::Transpose => spmm_kernel(&self.g, Dir::Transpose, w, self.heads, x, f, 0.0),
            }
        };
        Ok((CpuStorage::F32(out), Shape::from((rows_out, f))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op =
            SpmmConst { g: self.g.clone(), dir: self.dir.flip(), w: self.w.clone(), heads: self.heads, self_scale: self.self_scale, dst_rows: self.dst_rows };
        Ok(Some(prep(grad)?.apply_op1_no_bwd(&op)?))
    }
}

/// SpMM with differentiable weights: a custom op of `(w, x)`.
struct Spmm {
    g: Graph,
    dir: Dir,
    heads: usize,
}

impl CustomOp2 for Spmm {
    fn name(&self) -> &'static str {
        "spmm"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let w = f32_slice(s1, l1, "spmm")?;
        let x = f32_slice(s2, l2, "spmm")?;
        let hw = dims2(l1, self.g.num_edges(), "spmm", "edge weights")?;
        if hw != self.heads {
            candle_core::bail!("spmm: edge weights have {hw} heads, expected {}", self.heads);
        }
        let f = dims2(l2, self.g.num_nodes(), "spmm", "x")?;
        if f % self.heads != 0 {
            candle_core::bail!("spmm: feature dim {f} is not a multiple of heads {}", self.heads);
        }
        let out = spmm_kernel(&self.g, self.dir, Some(w), self.heads, x, f, 0.0);
        Ok((CpuStorage::F32(out), Shape::from((self.g.num_nodes(), f))))
    }
    fn bwd(&self, w: &Tensor, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = prep(grad)?;
        // d/dw[e,h] = <grad[to(e), h], x[from(e), h]>, an SDDMM along the same direction.
        let gw = match self.dir {
            Dir::Forward => sddmm_inner(&self.g, &grad, x, self.heads, false)?,
            Dir::Transpose => sddmm_inner(&self.g, x, &grad, self.heads, false)?,
        };
        let gx = Tensor::apply_op2_no_bwd(w, &grad, &Spmm { g: self.g.clone(), dir: self.dir.flip(), heads: self.heads })?;
        Ok((Some(gw), Some(gx)))
    }
}

/// `out[e, h] = Σ_c a[dst(e), h, c] * b[src(e), h, c]`.
struct Sddmm {
    g: Graph,
    heads: usize,
}

impl CustomOp2 for Sddmm {
    fn name(&self) -> &'static str {
        "sddmm"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let a = f32_slice(s1, l1, "sddmm")?;
        let b = f32_slice(s2, l2, "sddmm")?;
        let n = self.g.num_nodes();
        let f = dims2(l1, n, "sddmm", "a")?;
        let fb = dims2(l2, n, "sddmm", "b")?;
        if f != fb || f % self.heads != 0 {
            candle_core::bail!("sddmm: a has {f} columns and b {fb}; both must equal heads ({}) x channels", self.heads);
        }
        let h = self.heads;
        let (src, dst) = (self.g.src(), self.g.dst());
        let mut out = vec![0f32; self.g.num_edges() * h];
        const BLOCK: usize = 512;
        out.par_chunks_mut(BLOCK * h).enumerate().for_each(|(blk, o)| sddmm_block(o, blk * BLOCK, src, dst, a, b, h, f));
        Ok((CpuStorage::F32(out), Shape::from((self.g.num_edges(), h))))
    }
    fn bwd(&self, a: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = prep(grad)?;
        let ga = Tensor::apply_op2_no_bwd(&grad, b, &Spmm { g: self.g.clone(), dir: Dir::Forward, heads: self.heads })?;
        let gb = Tensor::apply_op2_no_bwd(&grad, a, &Spmm { g: self.g.clone(), dir: Dir::Transpose, heads: self.heads })?;
        Ok((Some(ga), Some(gb)))
    }
}

fn sddmm_inner(g: &Graph, a: &Tensor, b: &Tensor, heads: usize, track: bool) -> Result<Tensor> {
    let (a, b) = (prep(a)?, prep(b)?);
    let op = Sddmm { g: g.clone(), heads };
    if track {
        a.apply_op2(&b, op)
    } else {
        a.apply_op2_no_bwd(&b, &op)
    }
}

/// Weighted message passing, `out_i = Σ_{e: j→i} w_e ⊙ x_j`, differentiable in
/// both the per-edge weights and the features.
///
/// `w`: `[num_edges, heads]` in edge-id order; `x`: `[num_nodes, heads * channels]`
/// (head-major columns). With `heads > 1`, head `h`'s weight scales columns
/// `h*channels..(h+1)*channels`. Nodes without in-edges get zeros.
pub fn spmm(g: &Graph, w: &Tensor, x: &Tensor) -> Result<Tensor> {
    let heads = w.dims().get(1).copied().unwrap_or(1);
    let w = prep(&w.reshape((g.num_edges(), heads))?)?;
    w.apply_op2(&prep(x)?, Spmm { g: g.clone(), dir: Dir::Forward, heads })
}

/// The transpose of [`spmm`]: `out_j = Σ_{e: j→i} w_e ⊙ x_i` (messages against the edges).
pub fn spmm_t(g: &Graph, w: &Tensor, x: &Tensor) -> Result<Tensor> {
    let heads = w.dims().get(1).copied().unwrap_or(1);
    let w = prep(&w.reshape((g.num_edges(), heads))?)?;
    w.apply_op2(&prep(x)?, Spmm { g: g.clone(), dir: Dir::Transpose, heads })
}

/// Message passing with constant per-edge coefficients (`None`: all ones), the
/// fused path for GCN normalisation, sum and mean aggregation. Only `x` gets a gradient.
pub fn spmm_const(g: &Graph, w: Option<Arc<Vec<f32>>>, x: &Tensor) -> Result<Tensor> {
    if let Some(w) = &w {
        if w.len() != g.num_edges() {
            candle_core::bail!("spmm_const: {} coefficients for {} edges", w.len(), g.num_edges());
        }
    }
    prep(x)?.apply_op1(SpmmConst { g: g.clone(), dir: Dir::Forward, w, heads: 1, self_scale: 0.0, dst_rows: g.num_nodes() })
}

/// [`spmm_const`] into the first `dst_rows` nodes only, `[num_nodes, F] ->
/// [dst_rows, F]`: a trimmed layer of a sampled block, where `g` has in-edges
/// only into nodes `< dst_rows` (the gradient flows back to all `num_nodes` rows).
///
/// # Errors
/// When `g` has an in-edge into a node at or above `dst_rows`, or a
/// coefficient count other than the edge count.
pub fn spmm_const_rows(g: &Graph, dst_rows: usize, w: Option<Arc<Vec<f32>>>, x: &Tensor) -> Result<Tensor> {
    check_dst_rows(g, dst_rows, "spmm_const_rows")?;
    if let Some(w) = &w {
        if w.len() != g.num_edges() {
            candle_core::bail!("spmm_const_rows: {} coefficients for {} edges", w.len(), g.num_edges());
        }
    }
    prep(x)?.apply_op1(SpmmConst { g: g.clone(), dir: Dir::Forward, w, heads: 1, self_scale: 0.0, dst_rows })
}

/// `g` has in-edges only into its first `dst_rows` nodes.
pub(crate) fn check_dst_rows(g: &Graph, dst_rows: usize, op: &str) -> Result<()> {
    if dst_rows > g.num_nodes() || g.row_ptr()[dst_rows] != g.num_edges() {
        candle_core::bail!(
            "{op}: {dst_rows} destination rows, but the graph of {} nodes has in-edges into later nodes (a trimmed layer's graph holds only the edges into its destinations)",
            g.num_nodes()
        );
    }
    Ok(())
}

/// GIN aggregation in one pass: `out_i = Σ_{j→i} x_j + self_scale · x_i`
/// (`self_scale = 1 + ε` for a fixed ε; GIN-0: 1). Equals
/// `spmm_const(g, None, x) + self_scale * x` with one kernel and one backward
/// node instead of three; the backward is the same op on the transposed graph.
pub fn gin_aggregate(g: &Graph, x: &Tensor, self_scale: f32) -> Result<Tensor> {
    prep(x)?.apply_op1(SpmmConst { g: g.clone(), dir: Dir::Forward, w: None, heads: 1, self_scale, dst_rows: g.num_nodes() })
}

/// Per-edge, per-head dot products `out[e, h] = <a_{dst(e), h}, b_{src(e), h}>`
/// (SDDMM: the adjoint of [`spmm`] in its weights). `a, b`: `[num_nodes, heads * channels]`.
pub fn sddmm(g: &Graph, a: &Tensor, b: &Tensor, heads: usize) -> Result<Tensor> {
    sddmm_inner(g, a, b, heads, true)
}

/// The transpose of [`spmm_const`] (`out_j = Σ_{e: j→i} c_e x_i`); differentiable in `x`.
/// `x` has `dst_rows` rows (all nodes, or a trimmed layer's destinations).
pub(crate) fn spmm_const_t(g: &Graph, dst_rows: usize, w: Option<Arc<Vec<f32>>>, x: &Tensor) -> Result<Tensor> {
    prep(x)?.apply_op1(SpmmConst { g: g.clone(), dir: Dir::Transpose, w, heads: 1, self_scale: 0.0, dst_rows })
}
