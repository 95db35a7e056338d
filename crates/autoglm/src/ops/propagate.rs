//! Fused propagation: `out = act(Σ_{e: j→i} c_e h_j + r_i + b)` in one pass
//! (DGL's `copy_u` + `sum` + bias + activation), so a GCN or GraphSAGE layer
//! costs one kernel and one backward node instead of four.

use super::{dims2, f32_slice, prep, simd, spmm::spmm_const_t};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

struct Propagate {
    g: Graph,
    coef: Option<Arc<Vec<f32>>>,
    relu: bool,
    has_root: bool,
    has_bias: bool,
    /// Output rows: the first `dst_rows` nodes (see [`propagate_rows`]).
    dst_rows: usize,
}

impl CustomOp3 for Propagate {
    fn name(&self) -> &'static str {
        "propagate"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = self.dst_rows;
        let h = f32_slice(s1, l1, "propagate")?;
        let f = dims2(l1, self.g.num_nodes(), "propagate", "h")?;
        let root = if self.has_root {
            dims2(l2, n, "propagate", "root")?;
            if l2.dims()[1] != f {
                candle_core::bail!("propagate: root has {} columns, h has {f}", l2.dims()[1]);
            }
            Some(f32_slice(s2, l2, "propagate")?)
        } else {
            None
        };
        let bias = if self.has_bias {
            let b = f32_slice(s3, l3, "propagate")?;
            if b.len() != f {
                candle_core::bail!("propagate: bias has {} entries for {f} columns", b.len());
            }
            Some(b)
        } else {
            None
        };
        let coef = self.coef.as_deref().map(|v| v.as_slice());
        let out = autoglm_kernels::sparse::propagate(&self.g.row_ptr()[..=n], self.g.col_idx(), coef, h, f, root, bias, self.relu);
        Ok((CpuStorage::F32(out), Shape::from((n, f))))
    }
    fn bwd(&self, _h: &Tensor, _r: &Tensor, _b: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = prep(grad)?;
        let gp = if self.relu { Tensor::apply_op2_no_bwd(&grad, res, &ReluMask)? } else { grad };
        let gh = spmm_const_t(&self.g, self.dst_rows, self.coef.clone(), &gp)?;
        let gb = if self.has_bias { Some(gp.apply_op1_no_bwd(&ColSum)?) } else { None };
        let gr = if self.has_root { Some(gp) } else { None };
        Ok((Some(gh), gr, gb))
    }
}

/// `grad ⊙ [res > 0]`.
struct ReluMask;

impl candle_core::CustomOp2 for ReluMask {
    fn name(&self) -> &'static str {
        "relu-mask"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, "relu_mask")?;
        let r = f32_slice(s2, l2, "relu_mask")?;
        let out: Vec<f32> = g.par_iter().with_min_len(8192).zip(r.par_iter()).map(|(&g, &r)| if r > 0.0 { g } else { 0.0 }).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Column sums of a `[rows, cols]` matrix, in fixed row blocks (deterministic).
struct ColSum;

impl CustomOp1 for ColSum {
    fn name(&self) -> &'static str {
        "col-sum"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "col_sum")?;
        let d = l.dims();
        let (rows, cols) = (d[0], d.get(1).copied().unwrap_or(1));
        const BLOCK: usize = 1024;
        let partial: Vec<Vec<f32>> = (0..rows.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let mut acc = vec![0f32; cols];
                for r in b * BLOCK..((b + 1) * BLOCK).min(rows) {
                    simd::add_assign(&mut acc, &x[r * cols..(r + 1) * cols]);
                }
                acc
            })
            .collect();
        let mut out = vec![0f32; cols];
        for p in &partial {
            simd::add_assign(&mut out, p);
        }
        Ok((CpuStorage::F32(out), Shape::from(cols)))
    }
}

/// Fused message passing with constant coefficients:
/// `out_i = act(Σ_{e: j → i} c_e h_j + root_i + bias)`, `act` = ReLU or identity.
///
/// `h`: `[num_nodes, F]`; `coef`: one constant per edge (`None`: all ones);
/// `root`: optional `[num_nodes, F]` added per node; `bias`: optional `[F]`.
/// Gradients flow to `h`, `root` and `bias`.
pub fn propagate(g: &Graph, coef: Option<Arc<Vec<f32>>>, h: &Tensor, root: Option<&Tensor>, bias: Option<&Tensor>, relu: bool) -> Result<Tensor> {
    propagate_rows(g, g.num_nodes(), coef, h, root, bias, relu)
}

/// [`propagate`] into the first `dst_rows` nodes only: `h` is `[num_nodes, F]`,
/// `root` `[dst_rows, F]`, the output `[dst_rows, F]`. For a trimmed layer of
/// a sampled block, whose graph `g` has in-edges only into nodes `< dst_rows`;
/// the gradient of `h` covers all `num_nodes` rows.
///
/// # Errors
/// When `g` has an in-edge into a node at or above `dst_rows`; shapes as [`propagate`].
pub fn propagate_rows(
    g: &Graph,
    dst_rows: usize,
    coef: Option<Arc<Vec<f32>>>,
    h: &Tensor,
    root: Option<&Tensor>,
    bias: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    super::spmm::check_dst_rows(g, dst_rows, "propagate")?;
    if let Some(c) = &coef {
        if c.len() != g.num_edges() {
            candle_core::bail!("propagate: {} coefficients for {} edges", c.len(), g.num_edges());
        }
    }
    let dummy = || Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu);
    let r = match root {
        Some(r) => prep(r)?,
        None => dummy()?,
    };
    let b = match bias {
        Some(b) => prep(b)?,
        None => dummy()?,
    };
    let op = Propagate { g: g.clone(), coef, relu, has_root: root.is_some(), has_bias: bias.is_some(), dst_rows };
    prep(h)?.apply_op3(&r, &b, op)
}
