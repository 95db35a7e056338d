//! Kernels for graph-level pooling over a block-diagonal batch, where each
//! graph's nodes are one contiguous row segment ([`Segments`]): a softmax over
//! the rows of each segment (the gate of attention pooling, PyG
//! `AttentionalAggregation` / `softmax(gate, batch)`), and the broadcast of one
//! row per segment back to its rows (PyG `x[batch]`), the adjoint of the
//! segment sum.
//!
//! | op | math | shapes |
//! |---|---|---|
//! | [`segment_rows_softmax`] | `out[r, h] = exp(s[r, h]) / Σ_{r' ∈ seg(r)} exp(s[r', h])` | `[M, H]` → `[M, H]` |
//! | [`segment_broadcast`] | `out[r] = x[seg(r)]` | `[S, F]` → `[M, F]` |

use super::{dims2, f32_slice, prep, segment_reduce, Reduce, Segments};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Split `out` (`rows x h` values) into one mutable chunk per segment.
fn chunks_per_segment<'a>(out: &'a mut [f32], ptr: &[usize], h: usize) -> Vec<&'a mut [f32]> {
    let mut chunks = Vec::with_capacity(ptr.len().saturating_sub(1));
    let mut rest: &mut [f32] = out;
    for w in ptr.windows(2) {
        let (a, b) = rest.split_at_mut((w[1] - w[0]) * h);
        chunks.push(a);
        rest = b;
    }
    chunks
}

struct RowsSoftmax {
    seg: Segments,
}

impl CustomOp1 for RowsSoftmax {
    fn name(&self) -> &'static str {
        "segment-rows-softmax"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "segment_rows_softmax")?;
        let h = dims2(l, self.seg.num_rows(), "segment_rows_softmax", "scores")?;
        let ptr = self.seg.ptr();
        let mut out = vec![0f32; x.len()];
        chunks_per_segment(&mut out, ptr, h).into_par_iter().with_min_len(16).enumerate().for_each(|(sg, o)| {
            let xs = &x[ptr[sg] * h..ptr[sg + 1] * h];
            let rows = ptr[sg + 1] - ptr[sg];
            for k in 0..h {
                let mut m = f32::NEG_INFINITY;
                for r in 0..rows {
                    m = m.max(xs[r * h + k]);
                }
                let mut sum = 0f32;
                for r in 0..rows {
                    let v = (xs[r * h + k] - m).exp();
                    o[r * h + k] = v;
                    sum += v;
                }
                for r in 0..rows {
                    o[r * h + k] /= sum;
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((self.seg.num_rows(), h))))
    }
    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // d softmax: y ⊙ (g − broadcast(Σ_seg y ⊙ g))
        let yg = (res * grad)?;
        let s = segment_broadcast(&self.seg, &segment_reduce(&self.seg, &yg, Reduce::Sum)?)?;
        Ok(Some((res * (grad - s)?)?))
    }
}

/// Softmax over the rows of every segment, per column:
/// `out[r, h] = exp(s[r, h]) / Σ_{r' in the segment of r} exp(s[r', h])`.
///
/// `scores`: `[num_rows, H]` (for attention pooling over a
/// [`crate::graph::Batch`], one row per node, `H` heads, segments
/// `Batch::node_ptr`). Numerically stable (each segment's maximum is
/// subtracted first); every column of a non-empty segment sums to 1, empty
/// segments own no rows.
///
/// ```
/// use autoglm::candle::{Device, Tensor};
/// use autoglm::ops::{segment_rows_softmax, Segments};
/// let seg = Segments::new(vec![0, 2, 3]).unwrap();
/// let s = Tensor::new(&[[0f32], [0.0], [5.0]], &Device::Cpu).unwrap();
/// let a = segment_rows_softmax(&seg, &s).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
/// assert_eq!(a, vec![0.5, 0.5, 1.0]);
/// ```
pub fn segment_rows_softmax(seg: &Segments, scores: &Tensor) -> Result<Tensor> {
    prep(scores)?.apply_op1(RowsSoftmax { seg: seg.clone() })
}

struct SegmentBroadcast {
    seg: Segments,
}

impl CustomOp1 for SegmentBroadcast {
    fn name(&self) -> &'static str {
        "segment-broadcast-rows"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "segment_broadcast")?;
        let f = dims2(l, self.seg.len(), "segment_broadcast", "x")?;
        let ptr = self.seg.ptr();
        let mut out = vec![0f32; self.seg.num_rows() * f];
        chunks_per_segment(&mut out, ptr, f).into_par_iter().with_min_len(16).enumerate().for_each(|(sg, o)| {
            let row = &x[sg * f..(sg + 1) * f];
            o.chunks_mut(f.max(1)).for_each(|r| r.copy_from_slice(row));
        });
        Ok((CpuStorage::F32(out), Shape::from((self.seg.num_rows(), f))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(segment_reduce(&self.seg, grad, Reduce::Sum)?))
    }
}

/// Copy row `s` of `x` to every row of segment `s`: `[num_segments, F]` →
/// `[num_rows, F]` (PyG `x[batch]`). Its adjoint is the segment sum.
pub fn segment_broadcast(seg: &Segments, x: &Tensor) -> Result<Tensor> {
    prep(x)?.apply_op1(SegmentBroadcast { seg: seg.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, check_grad, rand_tensor, vec};
    use candle_core::{Device, Tensor};

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn rows_softmax_hand_computed() {
        // segments {0, 1, 2}, {} and {3}; two heads
        let seg = Segments::new(vec![0, 3, 3, 4]).unwrap();
        let s = t(&[1., 0., 2., 0., 3., 0., 7., -2.], &[4, 2]);
        let a = vec(&segment_rows_softmax(&seg, &s).unwrap());
        let z = 1f32.exp() + 2f32.exp() + 3f32.exp();
        let want = [1f32.exp() / z, 1. / 3., 2f32.exp() / z, 1. / 3., 3f32.exp() / z, 1. / 3., 1., 1.];
        assert_close(&a, &want, 1e-6, "rows softmax");
        // large scores do not overflow
        let big = vec(&segment_rows_softmax(&seg, &t(&[1000., 0., 1000., 0., 1000., 0., 1e4, 0.], &[4, 2])).unwrap());
        assert!(big.iter().all(|v| v.is_finite()));
        assert_close(&big[..2], &[1. / 3., 1. / 3.], 1e-6, "big");
    }

    #[test]
    fn rows_softmax_matches_dense_and_gradients() {
        let seg = Segments::new(vec![0, 2, 2, 5, 9]).unwrap();
        let s = rand_tensor(&[9, 3], 31);
        let sv = vec(&s);
        let out = vec(&segment_rows_softmax(&seg, &s).unwrap());
        // dense formula: a masked softmax over all rows, per segment and column
        let p = seg.ptr();
        for g in 0..seg.len() {
            for c in 0..3 {
                let z: f32 = (0..9).filter(|&r| r >= p[g] && r < p[g + 1]).map(|r| sv[r * 3 + c].exp()).sum();
                for r in p[g]..p[g + 1] {
                    assert!((out[r * 3 + c] - sv[r * 3 + c].exp() / z).abs() < 1e-6);
                }
            }
        }
        check_grad(&[s], |v| segment_rows_softmax(&seg, &v[0]), 1e-2, 2e-3);
    }

    #[test]
    fn broadcast_hand_dense_and_gradients() {
        let seg = Segments::new(vec![0, 2, 2, 3]).unwrap();
        let x = t(&[1., 2., 3., 4., 5., 6.], &[3, 2]);
        assert_eq!(vec(&segment_broadcast(&seg, &x).unwrap()), vec![1., 2., 1., 2., 5., 6.]);
        // dense: B X with B[r, s] = 1 when row r is in segment s
        let b = t(&[1., 0., 0., 1., 0., 0., 0., 0., 1.], &[3, 3]);
        assert_close(&vec(&segment_broadcast(&seg, &x).unwrap()), &vec(&b.matmul(&x).unwrap()), 1e-6, "dense");
        check_grad(&[rand_tensor(&[3, 4], 32)], |v| segment_broadcast(&seg, &v[0]), 1e-2, 2e-3);
    }
}
