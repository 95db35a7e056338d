//! Dropout with a seeded mask held inside the op (so no gradient is built for it).

use super::{f32_slice, prep};
use crate::rng::{GlmRng, Rng};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

struct MaskMul {
    mask: Arc<Vec<f32>>,
}

impl CustomOp1 for MaskMul {
    fn name(&self) -> &'static str {
        "mask-mul"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "mask_mul")?;
        if x.len() != self.mask.len() {
            candle_core::bail!("mask_mul: {} values for a mask of {}", x.len(), self.mask.len());
        }
        let out: Vec<f32> = x.par_iter().with_min_len(4096).zip(self.mask.par_iter()).map(|(a, b)| a * b).collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(prep(grad)?.apply_op1_no_bwd(&MaskMul { mask: self.mask.clone() })?))
    }
}

/// Elementwise product with a constant mask (no gradient for the mask).
pub fn mask_mul(x: &Tensor, mask: Arc<Vec<f32>>) -> Result<Tensor> {
    prep(x)?.apply_op1(MaskMul { mask })
}

/// Draw a dropout mask: each entry is `0` with probability `p`, else `1/(1-p)`.
pub fn dropout_mask(len: usize, p: f64, rng: &mut GlmRng) -> Vec<f32> {
    let scale = (1.0 / (1.0 - p)) as f32;
    (0..len).map(|_| if rng.gen::<f64>() < p { 0.0 } else { scale }).collect()
}

/// Inverted dropout with a seeded mask: zero each entry with probability `p`
/// and scale the rest by `1/(1-p)`. `p = 0` returns `x` unchanged; `p` must be in `[0, 1)`.
pub fn dropout(x: &Tensor, p: f64, rng: &mut GlmRng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    if p >= 1.0 {
        candle_core::bail!("dropout probability must be in [0, 1), got {p}");
    }
    let mask = dropout_mask(x.elem_count(), p, rng);
    mask_mul(x, Arc::new(mask))
}
