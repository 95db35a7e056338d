//! Graph-level readouts over a block-diagonal batch: sum, mean, max pooling.

use crate::ops::{segment_reduce, Reduce, Segments};
use crate::Result;
use candle_core::Tensor;

/// Pool node rows `[num_nodes, F]` into one row per graph `[num_graphs, F]`.
pub fn pool(seg: &Segments, x: &Tensor, kind: Reduce) -> Result<Tensor> {
    Ok(segment_reduce(seg, x, kind)?)
}
