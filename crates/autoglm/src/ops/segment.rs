//! Reductions over contiguous row segments (graph pooling over a block-diagonal
//! batch), their adjoint the segment broadcast, and the max over each node's
//! in-neighbours (GraphSAGE max). `for_each_segment` is the parallel loop over
//! per-segment output blocks that the segment kernels here and in `softmax.rs`
//! and `attention.rs` share.

use super::{dims2, f32_slice, min_rows, prep};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// Contiguous segments of rows: segment `s` is rows `ptr[s]..ptr[s+1]`
/// (for a [`crate::graph::Batch`], `ptr = node_ptr`).
#[derive(Debug, Clone)]
pub struct Segments {
    ptr: Arc<Vec<usize>>,
}

impl Segments {
    /// From a non-decreasing pointer array starting at 0.
    pub fn new(ptr: Vec<usize>) -> crate::Result<Segments> {
        if ptr.first() != Some(&0) || ptr.windows(2).any(|w| w[0] > w[1]) {
            return Err(crate::Error::config("segments", format!("{:?}", &ptr[..ptr.len().min(8)]), "segment pointers must start at 0 and be non-decreasing"));
        }
        Ok(Segments { ptr: Arc::new(ptr) })
    }
    /// Number of segments.
    pub fn len(&self) -> usize {
        self.ptr.len() - 1
    }
    /// Whether there are no segments.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Total number of rows covered.
    pub fn num_rows(&self) -> usize {
        *self.ptr.last().unwrap_or(&0)
    }
    /// The pointer array.
    pub fn ptr(&self) -> &[usize] {
        &self.ptr
    }
}

/// The reduction used by [`segment_reduce`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    Sum,
    Mean,
    Max,
}

struct SegmentReduce {
    seg: Segments,
    kind: Reduce,
    /// Row chosen by the max for each output element (filled by the forward pass).
    argmax: Mutex<Option<Arc<Vec<usize>>>>,
}

impl CustomOp1 for SegmentReduce {
    fn name(&self) -> &'static str {
        "segment-reduce"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "segment_reduce")?;
        let f = dims2(l, self.seg.num_rows(), "segment_reduce", "x")?;
        let kind = match self.kind {
            Reduce::Sum => autoglm_kernels::segment::Reduce::Sum,
            Reduce::Mean => autoglm_kernels::segment::Reduce::Mean,
            Reduce::Max => autoglm_kernels::segment::Reduce::Max,
        };
        let ns = self.seg.len();
        let (out, arg) = autoglm_kernels::segment::segment_reduce(self.seg.ptr(), x, f, kind);
        if self.kind == Reduce::Max {
            *self.argmax.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))? = Some(Arc::new(arg));
        }
        Ok((CpuStorage::F32(out), Shape::from((ns, f))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = prep(grad)?;
        match self.kind {
            Reduce::Sum | Reduce::Mean => Ok(Some(grad.apply_op1_no_bwd(&SegmentBroadcast { seg: self.seg.clone(), mean: self.kind == Reduce::Mean })?)),
            Reduce::Max => {
                let arg = self.argmax.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))?.clone();
                let arg = arg.ok_or_else(|| candle_core::Error::Msg("segment max: backward before forward".into()))?;
                Ok(Some(grad.apply_op1_no_bwd(&ArgScatter { argmax: arg, rows: self.seg.num_rows() })?))
            }
        }
    }
}

pub(crate) use autoglm_kernels::par::for_each_segment;

/// `out[r] = x[seg(r)]`, divided by the segment size for `mean` (the backward
/// of the segment sum and mean; its own backward is that sum or mean).
struct SegmentBroadcast {
    seg: Segments,
    mean: bool,
}

impl CustomOp1 for SegmentBroadcast {
    fn name(&self) -> &'static str {
        "segment-broadcast"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "segment_broadcast")?;
        let f = dims2(l, self.seg.len(), "segment_broadcast", "x")?;
        let ptr = self.seg.ptr();
        let mut out = vec![0f32; self.seg.num_rows() * f];
        for_each_segment(&mut out, ptr, f, 16, |sg, o| {
            let row = &x[sg * f..(sg + 1) * f];
            let k = (ptr[sg + 1] - ptr[sg]) as f32;
            for r in o.chunks_mut(f.max(1)) {
                r.copy_from_slice(row);
                if self.mean {
                    r.iter_mut().for_each(|v| *v /= k);
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((self.seg.num_rows(), f))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(segment_reduce(&self.seg, grad, if self.mean { Reduce::Mean } else { Reduce::Sum })?))
    }
}

/// Copy row `s` of `x` to every row of segment `s`: `[num_segments, F]` →
/// `[num_rows, F]` (PyG `x[batch]`). Its adjoint is the segment sum.
pub fn segment_broadcast(seg: &Segments, x: &Tensor) -> Result<Tensor> {
    prep(x)?.apply_op1(SegmentBroadcast { seg: seg.clone(), mean: false })
}

/// `out[argmax[k] , k % f] += grad[k]`: routes max-gradients back to the winning rows.
struct ArgScatter {
    argmax: Arc<Vec<usize>>,
    rows: usize,
}

impl CustomOp1 for ArgScatter {
    fn name(&self) -> &'static str {
        "argmax-scatter"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s, l, "argmax_scatter")?;
        let f = *l.dims().last().unwrap_or(&1);
        let mut out = vec![0f32; self.rows * f];
        for (k, &r) in self.argmax.iter().enumerate() {
            if r != usize::MAX {
                out[r * f + k % f] += g[k];
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((self.rows, f))))
    }
}

/// Sum, mean or max over contiguous row segments: `[num_rows, F]` → `[num_segments, F]`.
/// Empty segments give zeros. The max routes each output's gradient to the first
/// row attaining it.
pub fn segment_reduce(seg: &Segments, x: &Tensor, kind: Reduce) -> Result<Tensor> {
    prep(x)?.apply_op1(SegmentReduce { seg: seg.clone(), kind, argmax: Mutex::new(None) })
}

struct NeighborMax {
    g: Graph,
    argmax: Mutex<Option<Arc<Vec<usize>>>>,
}

impl CustomOp1 for NeighborMax {
    fn name(&self) -> &'static str {
        "neighbor-max"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "neighbor_max")?;
        let n = self.g.num_nodes();
        let f = dims2(l, n, "neighbor_max", "x")?;
        let (ptr, col) = (self.g.row_ptr(), self.g.col_idx());
        let mut out = vec![0f32; n * f];
        let mut arg = vec![usize::MAX; n * f];
        out.par_chunks_mut(f).zip(arg.par_chunks_mut(f)).with_min_len(min_rows(f)).enumerate().for_each(|(i, (o, a))| {
            if ptr[i + 1] == ptr[i] {
                return;
            }
            let j0 = col[ptr[i]];
            o.copy_from_slice(&x[j0 * f..(j0 + 1) * f]);
            a.iter_mut().for_each(|v| *v = j0);
            for &j in &col[ptr[i] + 1..ptr[i + 1]] {
                for c in 0..f {
                    let v = x[j * f + c];
                    if v > o[c] {
                        o[c] = v;
                        a[c] = j;
                    }
                }
            }
        });
        *self.argmax.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))? = Some(Arc::new(arg));
        Ok((CpuStorage::F32(out), Shape::from((n, f))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let arg = self.argmax.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))?.clone();
        let arg = arg.ok_or_else(|| candle_core::Error::Msg("neighbor max: backward before forward".into()))?;
        Ok(Some(prep(grad)?.apply_op1_no_bwd(&ArgScatter { argmax: arg, rows: self.g.num_nodes() })?))
    }
}

/// `out_i = max_{j → i} x_j` elementwise; nodes without in-edges get 0 (as PyG's
/// `aggr='max'`). The gradient goes to the first neighbour attaining the max.
pub fn neighbor_max(g: &Graph, x: &Tensor) -> Result<Tensor> {
    prep(x)?.apply_op1(NeighborMax { g: g.clone(), argmax: Mutex::new(None) })
}
