//! The segmented softmax: one kernel for every softmax over contiguous
//! segments of rows, whether the segments are the incoming edges of each node
//! (GAT attention normalisation, [`segment_softmax`]) or the nodes of each
//! graph in a batch (attention pooling, [`super::segment_rows_softmax`]). The
//! per-segment routines [`softmax_block`] and [`softmax_block_bwd`] are also
//! what the fused GAT attention kernel (`attention.rs`) runs on each node's
//! block of scores, so all three share one summation order.

use super::segment::for_each_segment;
use super::{dims2, f32_slice, prep, Segments};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

pub(crate) use autoglm_kernels::softmax::{softmax_block, softmax_block_bwd};

/// The segments of a [`SegmentSoftmax`].
enum Segs {
    /// Segment `i` is the in-edges of node `i` (`row_ptr`).
    InEdges(Graph),
    /// Contiguous row segments.
    Rows(Segments),
}

impl Segs {
    fn ptr(&self) -> &[usize] {
        match self {
            Segs::InEdges(g) => g.row_ptr(),
            Segs::Rows(s) => s.ptr(),
        }
    }
    fn num_rows(&self) -> usize {
        *self.ptr().last().unwrap_or(&0)
    }
    fn clone_segs(&self) -> Segs {
        match self {
            Segs::InEdges(g) => Segs::InEdges(g.clone()),
            Segs::Rows(s) => Segs::Rows(s.clone()),
        }
    }
}

/// Softmax over the rows of every segment, per column, with a hand-written
/// backward ([`SoftmaxGrad`]).
pub(crate) struct SegmentSoftmax {
    segs: Segs,
    /// Segments per rayon task.
    grain: usize,
    op: &'static str,
}

impl SegmentSoftmax {
    /// Over the incoming edges of every node of `g` (rows in edge-id order).
    pub(crate) fn in_edges(g: &Graph) -> SegmentSoftmax {
        SegmentSoftmax { segs: Segs::InEdges(g.clone()), grain: 64, op: "segment_softmax" }
    }
    /// Over contiguous row segments (one graph of a batch each).
    pub(crate) fn rows(seg: &Segments) -> SegmentSoftmax {
        SegmentSoftmax { segs: Segs::Rows(seg.clone()), grain: 16, op: "segment_rows_softmax" }
    }
}

impl CustomOp1 for SegmentSoftmax {
    fn name(&self) -> &'static str {
        "segment-softmax"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.op)?;
        let rows = self.segs.num_rows();
        let h = dims2(l, rows, self.op, "scores")?;
        let ptr = self.segs.ptr();
        let mut out = vec![0f32; x.len()];
        for_each_segment(&mut out, ptr, h, self.grain, |sg, o| {
            let xs = &x[ptr[sg] * h..ptr[sg + 1] * h];
            softmax_block(o, h, |r, k| xs[r * h + k]);
        });
        Ok((CpuStorage::F32(out), Shape::from((rows, h))))
    }
    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = SoftmaxGrad { segs: self.segs.clone_segs(), grain: self.grain, op: self.op };
        Ok(Some(prep(res)?.apply_op2_no_bwd(&prep(grad)?, &op)?))
    }
}

/// `∂x = y ⊙ (∂y − Σ_seg y ⊙ ∂y)` from the softmax output `y` and its gradient `∂y`.
struct SoftmaxGrad {
    segs: Segs,
    grain: usize,
    op: &'static str,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "segment-softmax-backward"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, self.op)?;
        let g = f32_slice(s2, l2, self.op)?;
        let rows = self.segs.num_rows();
        let h = dims2(l1, rows, self.op, "softmax output")?;
        if dims2(l2, rows, self.op, "gradient")? != h {
            candle_core::bail!("{}: the gradient's shape {:?} is not the output's {:?}", self.op, l2.dims(), l1.dims());
        }
        let ptr = self.segs.ptr();
        let mut out = vec![0f32; y.len()];
        for_each_segment(&mut out, ptr, h, self.grain, |sg, o| {
            let (a, b) = (ptr[sg] * h, ptr[sg + 1] * h);
            softmax_block_bwd(o, &y[a..b], &g[a..b], h, |_, _, d| d);
        });
        Ok((CpuStorage::F32(out), Shape::from((rows, h))))
    }
}

/// Softmax over the incoming edges of every node, per column (head):
/// `out[e, h] = exp(s[e, h]) / Σ_{e': dst(e') = dst(e)} exp(s[e', h])`.
///
/// `scores`: `[num_edges, heads]` in edge-id order. Numerically stable (the
/// segment maximum is subtracted first).
pub fn segment_softmax(g: &Graph, scores: &Tensor) -> Result<Tensor> {
    let heads = scores.dims().get(1).copied().unwrap_or(1);
    prep(&scores.reshape((g.num_edges(), heads))?)?.apply_op1(SegmentSoftmax::in_edges(g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{gather_dst, scatter_dst, segment_broadcast, segment_reduce, segment_rows_softmax, Reduce};
    use crate::testing::{rand_tensor, random_graph, vec};
    use candle_core::Var;

    /// `(output, ∂scores)` of `L = Σ f(scores) ⊙ up`.
    fn forward_and_grad(scores: &Tensor, up: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> (Tensor, Tensor) {
        let v = Var::from_tensor(scores).unwrap();
        let out = f(v.as_tensor()).unwrap();
        let g = (&out * up).unwrap().sum_all().unwrap().backward().unwrap();
        (out, g.get(v.as_tensor()).unwrap().clone())
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        vec(t).iter().map(|v| v.to_bits()).collect()
    }

    /// The hand-written backward gives the bits of the composition of
    /// differentiable ops the separate kernels used before,
    /// `y ⊙ (∂y − broadcast(Σ_seg y ⊙ ∂y))`, on inputs large enough to be split
    /// over rayon tasks.
    #[test]
    fn backward_has_the_bits_of_the_old_composition() {
        let g = random_graph(400, 5000, 70);
        let s = (rand_tensor(&[5000, 4], 71) * 6.0).unwrap();
        let up = rand_tensor(&[5000, 4], 72);
        let (y, grad) = forward_and_grad(&s, &up, |v| segment_softmax(&g, v));
        let old = (&y * (&up - gather_dst(&g, &scatter_dst(&g, &(&y * &up).unwrap()).unwrap()).unwrap()).unwrap()).unwrap();
        assert_eq!(bits(&grad), bits(&old), "segment_softmax");
        let seg = Segments::new((0..=100).map(|i| i * i / 4).collect()).unwrap();
        let rows = seg.num_rows();
        let s = (rand_tensor(&[rows, 3], 73) * 6.0).unwrap();
        let up = rand_tensor(&[rows, 3], 74);
        let (y, grad) = forward_and_grad(&s, &up, |v| segment_rows_softmax(&seg, v));
        let old = (&y * (&up - segment_broadcast(&seg, &segment_reduce(&seg, &(&y * &up).unwrap(), Reduce::Sum).unwrap()).unwrap()).unwrap()).unwrap();
        assert_eq!(bits(&grad), bits(&old), "segment_rows_softmax");
    }

    #[test]
    fn block_routines_by_hand() {
        // two rows, two columns: column 0 scores (0, ln 3), column 1 (5, 5)
        let mut o = [0f32; 4];
        let sc = [0f32, 5., 3f32.ln(), 5.];
        softmax_block(&mut o, 2, |r, k| sc[r * 2 + k]);
        assert!((o[0] - 0.25).abs() < 1e-7 && (o[2] - 0.75).abs() < 1e-7, "{o:?}");
        assert_eq!((o[1], o[3]), (0.5, 0.5));
        // backward: y (g − Σ y g), then `post` applied to every entry
        let (y, g) = ([0.25f32, 0.5, 0.75, 0.5], [1f32, 2., 3., 2.]);
        let mut d = [0f32; 4];
        softmax_block_bwd(&mut d, &y, &g, 2, |r, k, v| if r == 1 && k == 0 { 10.0 * v } else { v });
        // column 0: Σ y g = 2.5, so (0.25 · −1.5, 10 · 0.75 · 0.5); column 1: Σ y g = 2, so zeros
        assert_eq!(d, [-0.375, 0., 3.75, 0.]);
        // empty blocks and no columns do nothing
        softmax_block(&mut [], 3, |_, _| unreachable!());
        softmax_block_bwd(&mut [], &[], &[], 0, |_, _, v| v);
    }
}
