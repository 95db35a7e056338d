//! Kernels for graph-level pooling over a block-diagonal batch, where each
//! graph's nodes are one contiguous row segment ([`Segments`]): a softmax over
//! the rows of each segment (the gate of attention pooling, PyG
//! `AttentionalAggregation` / `softmax(gate, batch)`), and the broadcast of one
//! row per segment back to its rows (PyG `x[batch]`), the adjoint of the
//! segment sum. The softmax runs the shared segmented-softmax kernel of
//! `softmax.rs`; the broadcast lives with the segment sum it is the adjoint of,
//! in `segment.rs`.
//!
//! | op | math | shapes |
//! |---|---|---|
//! | [`segment_rows_softmax`] | `out[r, h] = exp(s[r, h]) / Σ_{r' ∈ seg(r)} exp(s[r', h])` | `[M, H]` → `[M, H]` |
//! | [`segment_broadcast`](super::segment_broadcast) | `out[r] = x[seg(r)]` | `[S, F]` → `[M, F]` |

use super::softmax::SegmentSoftmax;
use super::{prep, Segments};
use candle_core::{Result, Tensor};

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
    prep(scores)?.apply_op1(SegmentSoftmax::rows(seg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::segment_broadcast;
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
