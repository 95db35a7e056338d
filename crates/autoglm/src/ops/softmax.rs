//! Softmax over each node's incoming edges (GAT attention normalisation).

use super::{dims2, f32_slice, gather_dst, prep, scatter_dst};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

struct SegmentSoftmax {
    g: Graph,
}

impl CustomOp1 for SegmentSoftmax {
    fn name(&self) -> &'static str {
        "segment-softmax"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "segment_softmax")?;
        let h = dims2(l, self.g.num_edges(), "segment_softmax", "scores")?;
        let ptr = self.g.row_ptr();
        let mut out = vec![0f32; x.len()];
        // Each node owns the contiguous block of its in-edges.
        let mut chunks: Vec<&mut [f32]> = Vec::with_capacity(self.g.num_nodes());
        let mut rest: &mut [f32] = &mut out;
        for i in 0..self.g.num_nodes() {
            let (a, b) = rest.split_at_mut((ptr[i + 1] - ptr[i]) * h);
            chunks.push(a);
            rest = b;
        }
        chunks.into_par_iter().with_min_len(64).enumerate().for_each(|(i, o)| {
            let xs = &x[ptr[i] * h..ptr[i + 1] * h];
            let deg = ptr[i + 1] - ptr[i];
            for k in 0..h {
                let mut m = f32::NEG_INFINITY;
                for e in 0..deg {
                    m = m.max(xs[e * h + k]);
                }
                let mut sum = 0f32;
                for e in 0..deg {
                    let v = (xs[e * h + k] - m).exp();
                    o[e * h + k] = v;
                    sum += v;
                }
                for e in 0..deg {
                    o[e * h + k] /= sum;
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((self.g.num_edges(), h))))
    }
    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // d softmax: y ⊙ (g - Σ_seg y ⊙ g)
        let yg = (res * grad)?;
        let s = gather_dst(&self.g, &scatter_dst(&self.g, &yg)?)?;
        Ok(Some((res * (grad - s)?)?))
    }
}

/// Softmax over the incoming edges of every node, per column (head):
/// `out[e, h] = exp(s[e, h]) / Σ_{e': dst(e') = dst(e)} exp(s[e', h])`.
///
/// `scores`: `[num_edges, heads]` in edge-id order. Numerically stable (the
/// segment maximum is subtracted first).
pub fn segment_softmax(g: &Graph, scores: &Tensor) -> Result<Tensor> {
    let heads = scores.dims().get(1).copied().unwrap_or(1);
    prep(&scores.reshape((g.num_edges(), heads))?)?.apply_op1(SegmentSoftmax { g: g.clone() })
}
