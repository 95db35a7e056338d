//! Fused graph-attention kernels (GAT): per-head scores of every node, and the
//! attention coefficients `α = softmax_in-edges(LeakyReLU(s_src[j] + s_dst[i]))`
//! computed in one pass per destination row, with hand-written backward passes.
//! The softmax of each row's block is the shared per-segment routine of
//! `softmax.rs`, fed the scores as it goes.

use super::segment::for_each_segment;
use super::softmax::softmax_block_bwd;
use super::{dims2, f32_slice, prep, simd};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp2, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Run `f` on the contiguous f32 data of `t`.
fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = prep(t)?;
    let (s, l) = t.storage_and_layout();
    match &*s {
        candle_core::Storage::Cpu(c) => f(f32_slice(c, l, "attention")?),
        _ => candle_core::bail!("attention kernels run on the CPU"),
    }
}

/// `out[n, h] = Σ_c x[n, h*C + c] · a[h, c]`.
struct HeadDot {
    heads: usize,
}

impl CustomOp2 for HeadDot {
    fn name(&self) -> &'static str {
        "head-dot"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "head_dot")?;
        let a = f32_slice(s2, l2, "head_dot")?;
        let n = l1.dims()[0];
        let f = dims2(l1, n, "head_dot", "x")?;
        if a.len() != f || f % self.heads != 0 {
            candle_core::bail!("head_dot: attention vector of {} entries for {f} columns and {} heads", a.len(), self.heads);
        }
        let (h, c) = (self.heads, f / self.heads);
        let out = autoglm_kernels::sparse::head_dot(x, n, a, h, c);
        Ok((CpuStorage::F32(out), Shape::from((n, h))))
    }
    fn bwd(&self, x: &Tensor, a: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, f) = x.dims2()?;
        let (h, c) = (self.heads, f / self.heads);
        let (gx, ga) = with_data(grad, |g| {
            with_data(a, |av| {
                with_data(x, |xv| {
                    let mut gx = vec![0f32; n * f];
                    gx.par_chunks_mut(f).with_min_len(64).enumerate().for_each(|(i, row)| {
                        for k in 0..h {
                            simd::axpy(&mut row[k * c..(k + 1) * c], g[i * h + k], &av[k * c..(k + 1) * c]);
                        }
                    });
                    const BLOCK: usize = 1024;
                    let parts: Vec<Vec<f32>> = (0..n.div_ceil(BLOCK))
                        .into_par_iter()
                        .map(|b| {
                            let mut acc = vec![0f32; f];
                            for i in b * BLOCK..((b + 1) * BLOCK).min(n) {
                                for k in 0..h {
                                    simd::axpy(&mut acc[k * c..(k + 1) * c], g[i * h + k], &xv[i * f + k * c..i * f + (k + 1) * c]);
                                }
                            }
                            acc
                        })
                        .collect();
                    let mut ga = vec![0f32; f];
                    for p in &parts {
                        simd::add_assign(&mut ga, p);
                    }
                    Ok((gx, ga))
                })
            })
        })?;
        Ok((Some(Tensor::from_vec(gx, (n, f), &Device::Cpu)?), Some(Tensor::from_vec(ga, a.shape(), &Device::Cpu)?)))
    }
}

/// Per-head attention scores `out[n, h] = <x[n, h, :], a[h, :]>`.
///
/// `x`: `[num_nodes, heads * C]` (head-major columns); `a`: any shape with
/// `heads * C` entries (PyG's `att_src` is `[1, heads, C]`). Output `[num_nodes, heads]`.
pub fn head_dot(x: &Tensor, a: &Tensor, heads: usize) -> Result<Tensor> {
    prep(x)?.apply_op2(&prep(a)?, HeadDot { heads })
}

struct GatAttention {
    g: Graph,
    slope: f32,
}

impl CustomOp2 for GatAttention {
    fn name(&self) -> &'static str {
        "gat-attention"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = self.g.num_nodes();
        let ss = f32_slice(s1, l1, "gat_attention")?;
        let sd = f32_slice(s2, l2, "gat_attention")?;
        let h = dims2(l1, n, "gat_attention", "s_src")?;
        if dims2(l2, n, "gat_attention", "s_dst")? != h {
            candle_core::bail!("gat_attention: s_src and s_dst have different head counts");
        }
        let out = autoglm_kernels::sparse::gat_attention(self.g.row_ptr(), self.g.col_idx(), ss, sd, h, self.slope);
        Ok((CpuStorage::F32(out), Shape::from((self.g.num_edges(), h))))
    }
    fn bwd(&self, s_src: &Tensor, s_dst: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = self.g.num_nodes();
        let h = s_src.dims()[1];
        let (ptr, col) = (self.g.row_ptr(), self.g.col_idx());
        // Gradient w.r.t. the pre-activation score of every edge, then its two scatters.
        let (gsrc, gdst) = with_data(grad, |g| {
            with_data(res, |alpha| {
                with_data(s_src, |ss| {
                    with_data(s_dst, |sd| {
                        let mut ge = vec![0f32; self.g.num_edges() * h];
                        for_each_segment(&mut ge, ptr, h, 64, |i, o| {
                            let (lo, hi) = (ptr[i], ptr[i + 1]);
                            softmax_block_bwd(o, &alpha[lo * h..hi * h], &g[lo * h..hi * h], h, |q, k, d| {
                                let pre = ss[col[lo + q] * h + k] + sd[i * h + k];
                                if pre > 0.0 {
                                    d
                                } else {
                                    d * self.slope
                                }
                            });
                        });
                        let mut gdst = vec![0f32; n * h];
                        gdst.par_chunks_mut(h).with_min_len(256).enumerate().for_each(|(i, o)| {
                            for e in ptr[i]..ptr[i + 1] {
                                simd::add_assign(o, &ge[e * h..(e + 1) * h]);
                            }
                        });
                        let (tp, te) = (self.g.t_ptr(), self.g.t_eid());
                        let mut gsrc = vec![0f32; n * h];
                        gsrc.par_chunks_mut(h).with_min_len(256).enumerate().for_each(|(j, o)| {
                            for &e in &te[tp[j]..tp[j + 1]] {
                                simd::add_assign(o, &ge[e * h..(e + 1) * h]);
                            }
                        });
                        Ok((gsrc, gdst))
                    })
                })
            })
        })?;
        Ok((Some(Tensor::from_vec(gsrc, (n, h), &Device::Cpu)?), Some(Tensor::from_vec(gdst, (n, h), &Device::Cpu)?)))
    }
}

/// GAT attention coefficients over each node's incoming edges:
/// `α[e, h] = softmax_{e': dst(e') = dst(e)} LeakyReLU(s_src[src(e), h] + s_dst[dst(e), h])`.
///
/// `s_src`, `s_dst`: `[num_nodes, heads]`; output `[num_edges, heads]` in edge-id
/// order. Equivalent to `segment_softmax(leaky_relu(gather_src(s_src) + gather_dst(s_dst)))`.
pub fn gat_attention(g: &Graph, s_src: &Tensor, s_dst: &Tensor, negative_slope: f64) -> Result<Tensor> {
    prep(s_src)?.apply_op2(&prep(s_dst)?, GatAttention { g: g.clone(), slope: negative_slope as f32 })
}
