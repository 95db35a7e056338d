//! The dense affine map `y = x Wᵀ + b` as one op with a closed-form backward.
//!
//! Why not candle's `x.matmul(&w.t())` plus a bias: on a mini-batch of small
//! graphs (GIN over PROTEINS: about 1,250 rows × 64 columns per batch, a few
//! dozen linear maps per step) the per-op overhead dominates: candle's matmul
//! backward materialises transposes, its bias broadcast reduces over rows
//! element by element, and every intermediate node costs a zero-filled gradient
//! buffer plus an addition in candle's backward. Here the forward is one
//! `gemm` call that starts from the bias rows, and the backward computes
//! `∂x = g W`, `∂W = gᵀ x` (strided `gemm`, no transposed copies) and
//! `∂b = Σ_rows g` directly; `∂x` is skipped when `x` needs no gradient.
//!
//! | op | math | shapes |
//! |---|---|---|
//! | [`linear`] | `y = x Wᵀ + b` | `x [N, in]`, `W [out, in]`, `b [out]` → `[N, out]` |

use super::{column_sums, f32_slice, prep};
use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Storage, Tensor};

pub(crate) use autoglm_kernels::dense::{bias_rows, gemm_f32};

/// Run `f` on the contiguous `f32` data of a CPU tensor.
pub(crate) fn with_f32<R>(t: &Tensor, op: &'static str, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (s, l) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(c) => Ok(f(f32_slice(c, l, op)?)),
        _ => candle_core::bail!("{op}: only the CPU is supported"),
    }
}

struct Linear {
    has_bias: bool,
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "linear")?;
        let w = f32_slice(s2, l2, "linear")?;
        let (xd, wd) = (l1.dims(), l2.dims());
        if xd.len() != 2 || wd.len() != 2 || xd[1] != wd[1] {
            candle_core::bail!("linear: x must be [rows, in] and weight [out, in] with the same in; got {xd:?} and {wd:?}");
        }
        let (rows, inp, out) = (xd[0], xd[1], wd[0]);
        let mut y = if self.has_bias {
            let b = f32_slice(s3, l3, "linear")?;
            if b.len() != out {
                candle_core::bail!("linear: bias must have {out} entries, got {}", b.len());
            }
            bias_rows(b, rows)
        } else {
            vec![0f32; rows * out]
        };
        // y (+)= x · Wᵀ, Wᵀ read in place: element (k, j) of Wᵀ is w[j * in + k]
        gemm_f32(rows, out, inp, &mut y, self.has_bias, x, inp, 1, w, 1, inp);
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }
    fn bwd(&self, x: &Tensor, w: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = prep(grad)?;
        let (rows, inp) = x.dims2()?;
        let out = w.dims2()?.0;
        let dev = Device::Cpu;
        let (gx, gw, gb) = with_f32(&g, "linear backward", |g| -> Result<_> {
            // ∂x = g · W  ([rows, out] · [out, in])
            let gx = if x.track_op() {
                let mut gx = vec![0f32; rows * inp];
                with_f32(w, "linear backward", |w| gemm_f32(rows, inp, out, &mut gx, false, g, out, 1, w, inp, 1))?;
                Some(Tensor::from_vec(gx, (rows, inp), &dev)?)
            } else {
                None
            };
            // ∂W = gᵀ · x  ([out, rows] · [rows, in]); element (o, r) of gᵀ is g[r * out + o]
            let mut gw = vec![0f32; out * inp];
            with_f32(x, "linear backward", |x| gemm_f32(out, inp, rows, &mut gw, false, g, 1, out, x, inp, 1))?;
            let gw = Tensor::from_vec(gw, (out, inp), &dev)?;
            let gb = if self.has_bias { Some(Tensor::from_vec(column_sums(g, out), b.dims(), &dev)?) } else { None };
            Ok((gx, Some(gw), gb))
        })??;
        Ok((gx, gw, gb))
    }
}

/// `y = x Wᵀ + b` (PyTorch's `nn.Linear` layout: `weight [out, in]`, `bias
/// [out]`), differentiable in all three; `x [N, in]` → `[N, out]`. Deviations
/// from `x.matmul(&w.t()) + b`: none beyond float rounding (the bias is the
/// starting value of the accumulation instead of a separate addition).
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let bias = match b {
        Some(b) => prep(b)?,
        None => Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu)?,
    };
    prep(x)?.apply_op3(&prep(w)?, &bias, Linear { has_bias: b.is_some() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, check_grad, rand_tensor, vec};

    #[test]
    fn linear_hand_computed() {
        let x = Tensor::from_vec(vec![1f32, 2., 3., 4.], (2, 2), &Device::Cpu).unwrap();
        let w = Tensor::from_vec(vec![1f32, 0., 1., 1., 0., 2.], (3, 2), &Device::Cpu).unwrap();
        let b = Tensor::from_vec(vec![10f32, 20., 30.], 3, &Device::Cpu).unwrap();
        assert_eq!(vec(&linear(&x, &w, Some(&b)).unwrap()), vec![11., 23., 34., 13., 27., 38.]);
        assert_eq!(vec(&linear(&x, &w, None).unwrap()), vec![1., 3., 4., 3., 7., 8.]);
    }

    #[test]
    fn linear_matches_dense_and_gradients() {
        let x = rand_tensor(&[9, 5], 80);
        let w = rand_tensor(&[4, 5], 81);
        let b = rand_tensor(&[4], 82);
        let dense = x.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
        assert_close(&vec(&linear(&x, &w, Some(&b)).unwrap()), &vec(&dense), 1e-5, "dense");
        check_grad(&[x.clone(), w.clone(), b], |v| linear(&v[0], &v[1], Some(&v[2])), 1e-2, 2e-3);
        check_grad(&[x.clone(), w.clone()], |v| linear(&v[0], &v[1], None), 1e-2, 2e-3);
        // a constant input gets no gradient; the weight still does
        let wv = candle_core::Var::from_tensor(&w).unwrap();
        let grads = linear(&x, wv.as_tensor(), None).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none() && grads.get(wv.as_tensor()).is_some());
        // large enough for gemm's threaded path
        let (xl, wl) = (rand_tensor(&[700, 64], 83), rand_tensor(&[48, 64], 84));
        let dl = xl.matmul(&wl.t().unwrap()).unwrap();
        assert_close(&vec(&linear(&xl, &wl, None).unwrap()), &vec(&dl), 1e-4, "large");
        // shape errors
        assert!(linear(&x, &rand_tensor(&[4, 3], 85), None).is_err());
        assert!(linear(&x, &w, Some(&rand_tensor(&[3], 86))).is_err());
    }
}
