//! A two-layer MLP block with batch norm in training mode as one op:
//! `y = ReLU(BN₂(ReLU(BN₁(z W₁ᵀ + b₁)) W₂ᵀ + b₂))` — a GIN layer's update MLP
//! (`Linear → BatchNorm → ReLU → Linear`) followed by the batch norm and ReLU
//! that the GIN paper's classifier applies after every layer.
//!
//! Why one op: written as separate ops the block is five autograd nodes of
//! `[N, 64]` per GIN layer, and candle's backward zero-fills and adds a gradient
//! buffer for every one of them; on mini-batches of small graphs that
//! bookkeeping costs as much as the arithmetic. Here the forward keeps its
//! intermediates, the backward is written out (two strided `gemm` per linear
//! map, the batch-norm backward of `ops::norm`), and the eight parameters travel
//! as one packed vector (`Tensor::cat` of their flattened values), so candle sees
//! two small nodes and one large one.
//!
//! | op | math | shapes |
//! |---|---|---|
//! | [`mlp2_bn_relu_train`] | as above (`W₁` optional: then `z + b₁`) | `z [N, d]` → `[N, o]` |

use super::linear::{bias_rows, gemm_f32, with_f32};
use super::norm::{bn_backward, bn_forward, column_sums, Stats};
use super::{dims2, f32_slice, prep};
use candle_core::{CpuStorage, CustomOp2, Device, Layout, Result, Shape, Tensor};
use std::sync::{Arc, Mutex};

/// The parameters of [`mlp2_bn_relu_train`] (PyTorch layouts: `weight [out, in]`).
#[derive(Debug, Clone, Copy)]
pub struct Mlp2Params<'a> {
    /// First linear map `[h, d]`; `None` when `z` is already projected (then `d = h`).
    pub w1: Option<&'a Tensor>,
    pub b1: &'a Tensor,
    /// First batch norm's weight and bias `[h]`.
    pub bn1_weight: &'a Tensor,
    pub bn1_bias: &'a Tensor,
    /// Second linear map `[o, h]` and bias `[o]`.
    pub w2: &'a Tensor,
    pub b2: &'a Tensor,
    /// Second batch norm's weight and bias `[o]`.
    pub bn2_weight: &'a Tensor,
    pub bn2_bias: &'a Tensor,
    /// The two batch norms' `ε`.
    pub eps1: f64,
    pub eps2: f64,
}

/// Output of [`mlp2_bn_relu_train`]: the activation and each batch norm's batch
/// statistics (mean, biased variance) for the caller's running averages.
#[derive(Debug, Clone)]
pub struct Mlp2Output {
    pub y: Tensor,
    pub bn1: (Vec<f32>, Vec<f32>),
    pub bn2: (Vec<f32>, Vec<f32>),
}

/// Widths: input `d`, hidden `h`, output `o`.
#[derive(Debug, Clone, Copy)]
struct Dims {
    d: usize,
    h: usize,
    o: usize,
    has_w1: bool,
}

impl Dims {
    /// Offsets of the parameters in the packed vector, in packing order:
    /// w1, b1, g1, be1, w2, b2, g2, be2 (and the total length last).
    fn offsets(&self) -> [usize; 9] {
        let w1 = if self.has_w1 { self.h * self.d } else { 0 };
        let sizes = [w1, self.h, self.h, self.h, self.o * self.h, self.o, self.o, self.o];
        let mut off = [0usize; 9];
        for (k, s) in sizes.iter().enumerate() {
            off[k + 1] = off[k] + s;
        }
        off
    }
}

/// What the forward pass keeps for the backward pass.
struct Saved {
    a1: Vec<f32>,
    r1: Vec<f32>,
    a2: Vec<f32>,
    st1: Stats,
    st2: Stats,
}

struct Mlp2 {
    dims: Dims,
    eps1: f64,
    eps2: f64,
    saved: Arc<Mutex<Option<Saved>>>,
}

fn poisoned<T>(_: T) -> candle_core::Error {
    candle_core::Error::Msg("mlp2_bn_relu_train: poisoned lock".into())
}

impl CustomOp2 for Mlp2 {
    fn name(&self) -> &'static str {
        "mlp2-bn-relu-train"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let Dims { d, h, o, has_w1 } = self.dims;
        let zd = l1.dims();
        if zd.len() != 2 || zd[0] < 2 {
            candle_core::bail!("mlp2_bn_relu_train: z must have shape [rows >= 2, {d}] (batch statistics need two rows), got {zd:?}");
        }
        let n = zd[0];
        dims2(l1, n, "mlp2_bn_relu_train", "z")?;
        if zd[1] != d {
            candle_core::bail!("mlp2_bn_relu_train: z has {} columns, the first layer expects {d}", zd[1]);
        }
        let z = f32_slice(s1, l1, "mlp2_bn_relu_train")?;
        let p = f32_slice(s2, l2, "mlp2_bn_relu_train")?;
        let off = self.dims.offsets();
        if p.len() != off[8] {
            candle_core::bail!("mlp2_bn_relu_train: packed parameters have {} values, expected {}", p.len(), off[8]);
        }
        let part = |k: usize| &p[off[k]..off[k + 1]];
        // a1 = z W1ᵀ + b1 (or z + b1)
        let mut a1 = bias_rows(part(1), n);
        if has_w1 {
            gemm_f32(n, h, d, &mut a1, true, z, d, 1, part(0), 1, d);
        } else {
            super::simd::add_assign(&mut a1, z);
        }
        let mut r1 = vec![0f32; n * h];
        let st1 = bn_forward(&a1, h, part(2), part(3), self.eps1, true, &mut r1);
        let mut a2 = bias_rows(part(5), n);
        gemm_f32(n, o, h, &mut a2, true, &r1, h, 1, part(4), 1, h);
        let mut y = vec![0f32; n * o];
        let st2 = bn_forward(&a2, o, part(6), part(7), self.eps2, true, &mut y);
        *self.saved.lock().map_err(poisoned)? = Some(Saved { a1, r1, a2, st1, st2 });
        Ok((CpuStorage::F32(y), Shape::from((n, o))))
    }
    fn bwd(&self, z: &Tensor, packed: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let Dims { d, h, o, has_w1 } = self.dims;
        let guard = self.saved.lock().map_err(poisoned)?;
        let Saved { a1, r1, a2, st1, st2 } = guard.as_ref().ok_or_else(|| candle_core::Error::Msg("mlp2_bn_relu_train: backward before forward".into()))?;
        let n = z.dims2()?.0;
        let off = self.dims.offsets();
        let g = prep(grad)?;
        let (y, z) = (prep(res)?, prep(z)?);
        let want_gz = z.track_op();
        let mut gp = vec![0f32; off[8]];
        let mut gz_out = if want_gz { vec![0f32; n * d] } else { Vec::new() };
        with_f32(packed, "mlp2 backward", |p| {
            with_f32(&g, "mlp2 backward", |g| {
                with_f32(&y, "mlp2 backward", |y| {
                    with_f32(&z, "mlp2 backward", |z| {
                        let part = |k: usize| &p[off[k]..off[k + 1]];
                        // second batch norm (+ ReLU): ∂a2, ∂γ2, ∂β2
                        let mut ga2 = vec![0f32; n * o];
                        let (dg2, dbe2) = bn_backward(a2, y, g, o, st2, part(6), true, &mut ga2);
                        gp[off[6]..off[7]].copy_from_slice(&dg2);
                        gp[off[7]..off[8]].copy_from_slice(&dbe2);
                        // second linear: ∂W2 = ga2ᵀ r1, ∂b2 = Σ ga2, ∂r1 = ga2 W2
                        gemm_f32(o, h, n, &mut gp[off[4]..off[5]], false, &ga2, 1, o, r1, h, 1);
                        gp[off[5]..off[6]].copy_from_slice(&column_sums(&ga2, o));
                        let mut gr1 = vec![0f32; n * h];
                        gemm_f32(n, h, o, &mut gr1, false, &ga2, o, 1, part(4), h, 1);
                        // first batch norm (+ ReLU)
                        let mut ga1 = vec![0f32; n * h];
                        let (dg1, dbe1) = bn_backward(a1, r1, &gr1, h, st1, part(2), true, &mut ga1);
                        gp[off[2]..off[3]].copy_from_slice(&dg1);
                        gp[off[3]..off[4]].copy_from_slice(&dbe1);
                        gp[off[1]..off[2]].copy_from_slice(&column_sums(&ga1, h));
                        if has_w1 {
                            // ∂W1 = ga1ᵀ z, ∂z = ga1 W1
                            gemm_f32(h, d, n, &mut gp[off[0]..off[1]], false, &ga1, 1, h, z, d, 1);
                            if want_gz {
                                gemm_f32(n, d, h, &mut gz_out, false, &ga1, h, 1, part(0), d, 1);
                            }
                        } else if want_gz {
                            gz_out = ga1;
                        }
                    })
                })
            })
        })????;
        let dev = Device::Cpu;
        let gz = if want_gz { Some(Tensor::from_vec(gz_out, (n, d), &dev)?) } else { None };
        Ok((gz, Some(Tensor::from_vec(gp, off[8], &dev)?)))
    }
}

/// The block `y = ReLU(BN₂(ReLU(BN₁(z W₁ᵀ + b₁)) W₂ᵀ + b₂))` in training mode
/// (batch statistics, as PyTorch `BatchNorm1d.train()`), differentiable in `z`
/// and all eight parameters; equal to the composition of [`super::linear`],
/// [`super::batch_norm_relu_train`], [`super::linear`] and
/// [`super::batch_norm_relu_train`] up to float rounding. With `w1 = None` the
/// first linear map is the identity plus `b1` (GIN's project-first path, where
/// `z` is the aggregate of already projected constant features).
///
/// Shapes: `z [N, d]` with `N ≥ 2`, `w1 [h, d]`, `b1`, `bn1_*` `[h]`, `w2 [o, h]`,
/// `b2`, `bn2_*` `[o]` → `[N, o]`.
///
/// # Errors
/// Shape mismatches, named.
pub fn mlp2_bn_relu_train(z: &Tensor, p: &Mlp2Params<'_>) -> Result<Mlp2Output> {
    let (o, h) = p.w2.dims2()?;
    let d = match p.w1 {
        Some(w1) => {
            let (h1, d) = w1.dims2()?;
            if h1 != h {
                candle_core::bail!("mlp2_bn_relu_train: w1 is [{h1}, {d}] but w2 is [{o}, {h}]; w1 needs {h} rows");
            }
            d
        }
        None => h,
    };
    for (name, t, want) in [
        ("b1", p.b1, h),
        ("bn1 weight", p.bn1_weight, h),
        ("bn1 bias", p.bn1_bias, h),
        ("b2", p.b2, o),
        ("bn2 weight", p.bn2_weight, o),
        ("bn2 bias", p.bn2_bias, o),
    ] {
        if t.elem_count() != want || t.rank() != 1 {
            candle_core::bail!("mlp2_bn_relu_train: {name} must have shape [{want}], got {:?}", t.dims());
        }
    }
    let mut parts = Vec::with_capacity(8);
    if let Some(w1) = p.w1 {
        parts.push(w1.flatten_all()?);
    }
    parts.extend([p.b1.clone(), p.bn1_weight.clone(), p.bn1_bias.clone(), p.w2.flatten_all()?, p.b2.clone(), p.bn2_weight.clone(), p.bn2_bias.clone()]);
    let packed = prep(&Tensor::cat(&parts, 0)?)?;
    let saved = Arc::new(Mutex::new(None));
    let op = Mlp2 { dims: Dims { d, h, o, has_w1: p.w1.is_some() }, eps1: p.eps1, eps2: p.eps2, saved: saved.clone() };
    let y = prep(z)?.apply_op2(&packed, op)?;
    let guard = saved.lock().map_err(poisoned)?;
    let s = guard.as_ref().ok_or_else(|| candle_core::Error::Msg("mlp2_bn_relu_train: forward kept no statistics".into()))?;
    Ok(Mlp2Output { y, bn1: (s.st1.mean.clone(), s.st1.var.clone()), bn2: (s.st2.mean.clone(), s.st2.var.clone()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{batch_norm_relu_train, linear};
    use crate::testing::{assert_close, check_grad, rand_tensor, vec};

    fn composed(z: &Tensor, v: &[Tensor], with_w1: bool) -> Result<Tensor> {
        let a1 = if with_w1 { linear(z, &v[0], Some(&v[1]))? } else { z.broadcast_add(&v[1])? };
        let r1 = batch_norm_relu_train(&a1, &v[2], &v[3], 1e-5)?.y;
        let a2 = linear(&r1, &v[4], Some(&v[5]))?;
        Ok(batch_norm_relu_train(&a2, &v[6], &v[7], 1e-5)?.y)
    }

    fn fused(z: &Tensor, v: &[Tensor], with_w1: bool) -> Result<Tensor> {
        let p = Mlp2Params {
            w1: with_w1.then_some(&v[0]),
            b1: &v[1],
            bn1_weight: &v[2],
            bn1_bias: &v[3],
            w2: &v[4],
            b2: &v[5],
            bn2_weight: &v[6],
            bn2_bias: &v[7],
            eps1: 1e-5,
            eps2: 1e-5,
        };
        Ok(mlp2_bn_relu_train(z, &p)?.y)
    }

    fn params(d: usize, h: usize, o: usize, seed: u64) -> Vec<Tensor> {
        let shapes: [&[usize]; 8] = [&[h, d], &[h], &[h], &[h], &[o, h], &[o], &[o], &[o]];
        shapes.iter().enumerate().map(|(k, s)| rand_tensor(s, seed + k as u64)).collect()
    }

    #[test]
    fn hand_computed_two_rows() {
        // d = h = o = 1, W = 1, b = 0, γ = 1, β = 0: BN of two rows (a, b) with a < b is (-1, 1)
        // up to ε; ReLU gives (0, 1); the second BN gives (-1, 1) again, ReLU (0, 1).
        let one = Tensor::ones(1, candle_core::DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::ones((1, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
        let zero = Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap();
        let z = Tensor::from_vec(vec![3f32, 5.], (2, 1), &Device::Cpu).unwrap();
        let p = Mlp2Params {
            w1: Some(&w),
            b1: &zero,
            bn1_weight: &one,
            bn1_bias: &zero,
            w2: &w,
            b2: &zero,
            bn2_weight: &one,
            bn2_bias: &zero,
            eps1: 0.0,
            eps2: 0.0,
        };
        let out = mlp2_bn_relu_train(&z, &p).unwrap();
        assert_close(&vec(&out.y), &[0., 1.], 1e-6, "y");
        assert_eq!(out.bn1, (vec![4.0], vec![1.0]));
        assert_eq!(out.bn2, (vec![0.5], vec![0.25]));
    }

    #[test]
    fn matches_the_composition_and_gradients() {
        for with_w1 in [true, false] {
            let (d, h, o) = if with_w1 { (3, 4, 5) } else { (4, 4, 5) };
            let z = rand_tensor(&[9, d], 90);
            let v = params(d, h, o, 91);
            assert_close(&vec(&fused(&z, &v, with_w1).unwrap()), &vec(&composed(&z, &v, with_w1).unwrap()), 1e-5, "forward");
            let mut inputs = vec![z.clone()];
            inputs.extend(v.iter().cloned());
            // and the analytic gradients against the composition's, parameter by parameter
            let vars: Vec<candle_core::Var> = inputs.iter().map(|t| candle_core::Var::from_tensor(t).unwrap()).collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let r = rand_tensor(&[9, o], 99);
            let ga = (fused(&ts[0], &ts[1..], with_w1).unwrap() * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gb = (composed(&ts[0], &ts[1..], with_w1).unwrap() * &r).unwrap().sum_all().unwrap().backward().unwrap();
            for (k, t) in ts.iter().enumerate() {
                if !with_w1 && k == 1 {
                    continue; // w1 unused
                }
                assert_close(&vec(ga.get(t).unwrap()), &vec(gb.get(t).unwrap()), 1e-4, &format!("grad {k}"));
            }
            // finite differences against the fused op
            check_grad(&inputs, |t| fused(&t[0], &t[1..], with_w1), 1e-3, 1e-2);
        }
    }

    #[test]
    fn constant_input_gets_no_gradient_and_bad_shapes_are_named() {
        let z = rand_tensor(&[6, 3], 92);
        let v = params(3, 4, 2, 93);
        let vars: Vec<candle_core::Var> = v.iter().map(|t| candle_core::Var::from_tensor(t).unwrap()).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let g = fused(&z, &ts, true).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(g.get(&z).is_none());
        assert!(ts.iter().all(|t| g.get(t).is_some()));
        let bad = params(3, 4, 2, 94);
        let err = fused(&rand_tensor(&[6, 2], 95), &bad, true).unwrap_err().to_string();
        assert!(err.contains("columns"), "{err}");
        let err = fused(&rand_tensor(&[1, 3], 96), &bad, true).unwrap_err().to_string();
        assert!(err.contains("two rows"), "{err}");
        let mut wrong = params(3, 4, 2, 97);
        wrong[5] = rand_tensor(&[3], 98);
        assert!(fused(&z, &wrong, true).unwrap_err().to_string().contains("b2"));
    }
}
