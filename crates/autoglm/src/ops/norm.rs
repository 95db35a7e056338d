//! Column-wise kernels over the rows of a `[rows, F]` activation: batch
//! normalisation with batch statistics (training mode) and a bias add, each one
//! fused op with a closed-form backward.
//!
//! Why: written with candle's broadcasting ops, batch norm costs about a dozen
//! kernels and its backward reduces over the leading dimension, which candle's
//! CPU backend does element by element with two integer divisions each (about
//! 0.5 ms for `[1250, 64]` on the 2-core development machine, against 0.02 ms
//! for these loops); mini-batch graph classification runs a few dozen of them
//! per step.
//!
//! | op | math | shapes |
//! |---|---|---|
//! | [`batch_norm_train`] | `y = γ (x − μ) / sqrt(σ² + ε) + β`, `μ`, `σ²` the column mean and biased variance | `x [N, F]`, `γ, β [F]` → `[N, F]` |
//! | [`batch_norm_relu_train`] | `max(0, batch_norm_train(x))` | as above |
//! | [`bias_add`] | `y = x + b` (row broadcast) | `x [N, F]`, `b [F]` → `[N, F]` |

use super::{dims2, f32_slice, prep, simd};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

simd::dispatch! {
    /// `var[c] += (row[c] − mean[c])²`.
    fn sq_dev_accum(var: &mut [f32], row: &[f32], mean: &[f32]) {
        let f = var.len();
        let (row, mean) = (&row[..f], &mean[..f]);
        for c in 0..f {
            let d = row[c] - mean[c];
            var[c] += d * d;
        }
    }
}

simd::dispatch! {
    /// `o[c] = x[c]·a[c] + b[c]`, then `max(0, ·)` with `relu`.
    fn affine_row(o: &mut [f32], x: &[f32], a: &[f32], b: &[f32], relu: bool) {
        let f = o.len();
        let (x, a, b) = (&x[..f], &a[..f], &b[..f]);
        for c in 0..f {
            o[c] = x[c] * a[c] + b[c];
        }
        if relu {
            for v in o.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

simd::dispatch! {
    /// Backward pass 1 for one row: the (ReLU-masked) incoming gradient `gk`
    /// into `o`, `db += gk`, `dg += gk (x − μ)`.
    fn bwd_row_sums(o: &mut [f32], x: &[f32], y: &[f32], g: &[f32], db: &mut [f32], dg: &mut [f32], mean: &[f32], relu: bool) {
        let f = o.len();
        let (x, y, g, db, dg, mean) = (&x[..f], &y[..f], &g[..f], &mut db[..f], &mut dg[..f], &mean[..f]);
        for c in 0..f {
            let gk = if relu && y[c] <= 0.0 { 0.0 } else { g[c] };
            o[c] = gk;
            db[c] += gk;
            dg[c] += gk * (x[c] - mean[c]);
        }
    }
}

simd::dispatch! {
    /// Backward pass 2 for one row: `o = k1 (o − k2 − (x − μ) k3)`.
    fn bwd_row_dx(o: &mut [f32], x: &[f32], mean: &[f32], k1: &[f32], k2: &[f32], k3: &[f32]) {
        let f = o.len();
        let (x, mean, k1, k2, k3) = (&x[..f], &mean[..f], &k1[..f], &k2[..f], &k3[..f]);
        for c in 0..f {
            o[c] = k1[c] * (o[c] - k2[c] - (x[c] - mean[c]) * k3[c]);
        }
    }
}

/// The statistics of one forward pass, kept for the backward pass and for the
/// caller's running averages.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub(crate) mean: Vec<f32>,
    /// Biased variance.
    pub(crate) var: Vec<f32>,
    /// `1 / sqrt(var + eps)`.
    pub(crate) inv_std: Vec<f32>,
}

/// Rows per parallel block of the batch-norm kernels. Column sums are taken per
/// block and the block sums added in block order, so results do not depend on
/// the number of threads.
const BLOCK_ROWS: usize = 128;

/// Sums of the per-block `[f]` vectors that `block(b, acc)` accumulates for
/// each row block `b`, added in block order.
fn blocked_sums(rows: usize, f: usize, block: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let partial: Vec<Vec<f32>> = (0..rows.div_ceil(BLOCK_ROWS))
        .into_par_iter()
        .map(|b| {
            let mut acc = vec![0f32; f];
            block(b, &mut acc);
            acc
        })
        .collect();
    let mut total = vec![0f32; f];
    for p in &partial {
        simd::add_assign(&mut total, p);
    }
    total
}

/// Column sums of a row-major `[rows, f]` slice, parallel over row blocks,
/// deterministic (block sums added in block order).
pub(crate) fn column_sums(x: &[f32], f: usize) -> Vec<f32> {
    let bf = BLOCK_ROWS * f.max(1);
    blocked_sums(x.len() / f.max(1), f, |b, acc| {
        for row in x[b * bf..((b + 1) * bf).min(x.len())].chunks_exact(f.max(1)) {
            simd::add_assign(acc, row);
        }
    })
}

/// Batch norm in training mode over a row-major `x [n, f]` (`n ≥ 1`): writes
/// `out = γ (x − μ)/sqrt(σ² + ε) + β` (then ReLU with `relu`) and returns the
/// batch statistics. Parallel over row blocks, deterministic.
pub(crate) fn bn_forward(x: &[f32], f: usize, gamma: &[f32], beta: &[f32], eps: f64, relu: bool, out: &mut [f32]) -> Stats {
    let n = x.len() / f.max(1);
    let bf = BLOCK_ROWS * f.max(1);
    let mut mean = column_sums(x, f);
    mean.iter_mut().for_each(|m| *m /= n as f32);
    let mut var = blocked_sums(n, f, |b, acc| {
        for row in x[b * bf..((b + 1) * bf).min(x.len())].chunks_exact(f.max(1)) {
            sq_dev_accum(acc, row, &mean);
        }
    });
    var.iter_mut().for_each(|v| *v /= n as f32);
    let inv_std: Vec<f32> = var.iter().map(|&v| 1.0 / (v as f64 + eps).sqrt() as f32).collect();
    // y = x·a + b per column, a = γ/σ, b = β − μ·a
    let a: Vec<f32> = (0..f).map(|c| gamma[c] * inv_std[c]).collect();
    let b: Vec<f32> = (0..f).map(|c| beta[c] - mean[c] * a[c]).collect();
    out.par_chunks_mut(bf).zip(x.par_chunks(bf)).for_each(|(o, xb)| {
        for (o, row) in o.chunks_exact_mut(f.max(1)).zip(xb.chunks_exact(f.max(1))) {
            affine_row(o, row, &a, &b, relu);
        }
    });
    Stats { mean, var, inv_std }
}

/// The backward pass of [`bn_forward`]: from `x`, the output `y` (for the ReLU
/// mask) and `∂L/∂y` `g`, writes `∂x` into `dx` and returns `(∂γ, ∂β)`.
/// `∂β = Σ g'`, `∂γ = Σ g' x̂`, `∂x = γ/σ (g' − ∂β/N − x̂ ∂γ/N)` with `g'` the
/// masked gradient. Parallel over row blocks, deterministic.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bn_backward(x: &[f32], y: &[f32], g: &[f32], f: usize, st: &Stats, gamma: &[f32], relu: bool, dx: &mut [f32]) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / f.max(1);
    let bf = BLOCK_ROWS * f.max(1);
    let mean = &st.mean[..f];
    // pass 1: masked gradient into dx; per-block sums of g' and g' (x − μ)
    let blocks: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(bf)
        .zip(x.par_chunks(bf))
        .zip(y.par_chunks(bf).zip(g.par_chunks(bf)))
        .map(|((o, xb), (yb, gb))| {
            let (mut db, mut dg) = (vec![0f32; f], vec![0f32; f]);
            for ((o, xr), (yr, gr)) in o.chunks_exact_mut(f.max(1)).zip(xb.chunks_exact(f.max(1))).zip(yb.chunks_exact(f.max(1)).zip(gb.chunks_exact(f.max(1))))
            {
                bwd_row_sums(o, xr, yr, gr, &mut db, &mut dg, mean, relu);
            }
            (db, dg)
        })
        .collect();
    let (mut dbeta, mut dgamma) = (vec![0f32; f], vec![0f32; f]);
    for (db, dg) in &blocks {
        simd::add_assign(&mut dbeta, db);
        simd::add_assign(&mut dgamma, dg);
    }
    // ∂γ = s/σ; ∂x_i = k1 (g'_i − k2 − (x_i − μ) k3)
    let inv_std = &st.inv_std[..f];
    let inv_n = 1.0 / n as f32;
    dgamma.iter_mut().zip(inv_std).for_each(|(d, &is)| *d *= is);
    let k1: Vec<f32> = gamma.iter().zip(inv_std).map(|(&gm, &is)| gm * is).collect();
    let k2: Vec<f32> = dbeta.iter().map(|&d| d * inv_n).collect();
    let k3: Vec<f32> = dgamma.iter().zip(inv_std).map(|(&d, &is)| d * inv_n * is).collect();
    dx.par_chunks_mut(bf).zip(x.par_chunks(bf)).for_each(|(o, xb)| {
        for (o, xr) in o.chunks_exact_mut(f.max(1)).zip(xb.chunks_exact(f.max(1))) {
            bwd_row_dx(o, xr, mean, &k1, &k2, &k3);
        }
    });
    (dgamma, dbeta)
}

struct BatchNormTrain {
    eps: f64,
    /// Apply a ReLU to the output (fused).
    relu: bool,
    stats: Arc<Mutex<Option<Stats>>>,
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "batch-norm-train"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "batch_norm_train")?;
        let d = l1.dims();
        if d.len() != 2 || d[0] == 0 {
            candle_core::bail!("batch_norm_train: x must have shape [rows > 0, F], got {d:?}");
        }
        let (n, f) = (d[0], d[1]);
        let gamma = f32_slice(s2, l2, "batch_norm_train")?;
        let beta = f32_slice(s3, l3, "batch_norm_train")?;
        if gamma.len() != f || beta.len() != f {
            candle_core::bail!("batch_norm_train: weight and bias must have {f} entries, got {} and {}", gamma.len(), beta.len());
        }
        let mut out = vec![0f32; n * f];
        let Stats { mean, var, inv_std } = bn_forward(x, f, gamma, beta, self.eps, self.relu, &mut out);
        *self.stats.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))? = Some(Stats { mean, var, inv_std });
        Ok((CpuStorage::F32(out), Shape::from((n, f))))
    }
    fn bwd(&self, x: &Tensor, gamma: &Tensor, _beta: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let st = self.stats.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))?.clone();
        let st = st.ok_or_else(|| candle_core::Error::Msg("batch_norm_train: backward before forward".into()))?;
        let (n, f) = x.dims2()?;
        let op = BatchNormBwd { stats: st, gamma: gamma.flatten_all()?.to_vec1::<f32>()?, relu: self.relu };
        // rows 0..n: ∂x; row n: ∂γ; row n + 1: ∂β
        let all = prep(x)?.apply_op3_no_bwd(&prep(res)?, &prep(grad)?, &op)?;
        Ok((Some(all.narrow(0, 0, n)?), Some(all.narrow(0, n, 1)?.reshape(f)?), Some(all.narrow(0, n + 1, 1)?.reshape(f)?)))
    }
}

/// The backward pass of [`BatchNormTrain`] over `(x, y, ∂y)`, stacking `∂x`, `∂γ`, `∂β`.
struct BatchNormBwd {
    stats: Stats,
    gamma: Vec<f32>,
    relu: bool,
}

impl CustomOp3 for BatchNormBwd {
    fn name(&self) -> &'static str {
        "batch-norm-train-backward"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = l1.dims()[0];
        let f = dims2(l1, n, "batch_norm_train backward", "x")?;
        let x = f32_slice(s1, l1, "batch_norm_train backward")?;
        let y = f32_slice(s2, l2, "batch_norm_train backward")?;
        let g = f32_slice(s3, l3, "batch_norm_train backward")?;
        dims2(l3, n, "batch_norm_train backward", "grad")?;
        let mut out = vec![0f32; (n + 2) * f];
        let (dx, rest) = out.split_at_mut(n * f);
        let (dgamma, dbeta) = bn_backward(x, y, g, f, &self.stats, &self.gamma[..f], self.relu, dx);
        rest[..f].copy_from_slice(&dgamma);
        rest[f..].copy_from_slice(&dbeta);
        Ok((CpuStorage::F32(out), Shape::from((n + 2, f))))
    }
}

/// Output of [`batch_norm_train`].
#[derive(Debug, Clone)]
pub struct BatchNormOutput {
    /// The normalised activation `[N, F]` (differentiable in `x`, `γ`, `β`).
    pub y: Tensor,
    /// Column means `μ` of `x` (constants, for running averages).
    pub mean: Vec<f32>,
    /// Column variances `σ²` of `x`, biased (divided by `N`).
    pub var: Vec<f32>,
}

/// Batch normalisation with the batch's statistics (PyTorch `BatchNorm1d` in
/// training mode): `y_ic = γ_c (x_ic − μ_c) / sqrt(σ²_c + ε) + β_c` with `μ_c`
/// the mean and `σ²_c` the biased variance of column `c` over the `N` rows.
/// Backward (closed form): `∂β = Σ_i g_i`, `∂γ = Σ_i g_i x̂_i`,
/// `∂x_i = γ/sqrt(σ² + ε) · (g_i − ∂β/N − x̂_i ∂γ/N)`.
///
/// Shapes: `x [N, F]` (N ≥ 1), `weight` and `bias` `[F]`.
pub fn batch_norm_train(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<BatchNormOutput> {
    batch_norm_impl(x, weight, bias, eps, false)
}

/// [`batch_norm_train`] followed by a ReLU, fused: `max(0, BN(x))`; the
/// backward masks the incoming gradient where the output is 0.
pub fn batch_norm_relu_train(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<BatchNormOutput> {
    batch_norm_impl(x, weight, bias, eps, true)
}

fn batch_norm_impl(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64, relu: bool) -> Result<BatchNormOutput> {
    let stats = Arc::new(Mutex::new(None));
    let y = prep(x)?.apply_op3(&prep(weight)?, &prep(bias)?, BatchNormTrain { eps, relu, stats: stats.clone() })?;
    let st: Stats = stats.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))?.clone().unwrap_or_default();
    Ok(BatchNormOutput { y, mean: st.mean, var: st.var })
}

struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "bias-add"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "bias_add")?;
        let d = l1.dims();
        if d.len() != 2 {
            candle_core::bail!("bias_add: x must have shape [rows, F], got {d:?}");
        }
        let f = dims2(l1, d[0], "bias_add", "x")?;
        let b = f32_slice(s2, l2, "bias_add")?;
        if b.len() != f {
            candle_core::bail!("bias_add: bias must have {f} entries, got {}", b.len());
        }
        let mut out = x.to_vec();
        for row in out.chunks_exact_mut(f.max(1)) {
            row.iter_mut().zip(b).for_each(|(a, &c)| *a += c);
        }
        Ok((CpuStorage::F32(out), Shape::from((d[0], f))))
    }
    fn bwd(&self, _x: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = prep(grad)?;
        let f = g.dims2()?.1;
        let sums = column_sums(&g.flatten_all()?.to_vec1::<f32>()?, f);
        Ok((Some(g), Some(Tensor::from_vec(sums, b.dims(), b.device())?)))
    }
}

/// `y = x + b` with `b` `[F]` added to every row of `x` `[N, F]`; the bias
/// gradient is the column sum of the incoming gradient, computed in one pass.
pub fn bias_add(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    prep(x)?.apply_op2(&prep(b)?, BiasAdd)
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
    fn batch_norm_hand_computed() {
        // columns (1, 3) and (2, 6): means 2, 4; biased variances 1, 4
        let x = t(&[1., 2., 3., 6.], &[2, 2]);
        let out = batch_norm_train(&x, &t(&[1., 2.], &[2]), &t(&[0., 1.], &[2]), 0.0).unwrap();
        assert_close(&vec(&out.y), &[-1., -1., 1., 3.], 1e-6, "y");
        assert_eq!((out.mean, out.var), (vec![2., 4.], vec![1., 4.]));
    }

    #[test]
    fn batch_norm_matches_dense_formula_and_gradients() {
        let x = rand_tensor(&[7, 3], 70);
        let (w, b) = (rand_tensor(&[3], 71), rand_tensor(&[3], 72));
        let eps = 1e-5;
        let mean = x.mean_keepdim(0).unwrap();
        let xc = x.broadcast_sub(&mean).unwrap();
        let var = xc.sqr().unwrap().mean_keepdim(0).unwrap();
        let dense = xc.broadcast_div(&(var + eps).unwrap().sqrt().unwrap()).unwrap().broadcast_mul(&w).unwrap().broadcast_add(&b).unwrap();
        assert_close(&vec(&batch_norm_train(&x, &w, &b, eps).unwrap().y), &vec(&dense), 1e-5, "dense");
        check_grad(&[x, w, b], |v| batch_norm_train(&v[0], &v[1], &v[2], eps).map(|o| o.y), 1e-2, 3e-3);
        // one row: x̂ = 0, y = β
        let one = batch_norm_train(&t(&[5., -1.], &[1, 2]), &t(&[2., 2.], &[2]), &t(&[0.5, -0.5], &[2]), eps).unwrap();
        assert_close(&vec(&one.y), &[0.5, -0.5], 1e-6, "single row");
        assert!(batch_norm_train(&t(&[1., 2.], &[1, 2]), &t(&[1.], &[1]), &t(&[1., 1.], &[2]), eps).is_err());
    }

    #[test]
    fn batch_norm_relu_is_relu_of_batch_norm() {
        let x = rand_tensor(&[6, 4], 75);
        let (w, b) = (rand_tensor(&[4], 76), rand_tensor(&[4], 77));
        let plain = batch_norm_train(&x, &w, &b, 1e-5).unwrap().y.relu().unwrap();
        let fused = batch_norm_relu_train(&x, &w, &b, 1e-5).unwrap();
        assert_close(&vec(&fused.y), &vec(&plain), 1e-6, "fused");
        assert!(vec(&fused.y).contains(&0.0) && vec(&fused.y).iter().any(|&v| v > 0.0));
        check_grad(&[x, w, b], |v| batch_norm_relu_train(&v[0], &v[1], &v[2], 1e-5).map(|o| o.y), 1e-3, 3e-3);
    }

    #[test]
    fn bias_add_hand_dense_and_gradients() {
        let x = t(&[1., 2., 3., 4., 5., 6.], &[3, 2]);
        let b = t(&[10., 20.], &[2]);
        assert_eq!(vec(&bias_add(&x, &b).unwrap()), vec![11., 22., 13., 24., 15., 26.]);
        assert_eq!(vec(&bias_add(&x, &b).unwrap()), vec(&x.broadcast_add(&b).unwrap()));
        check_grad(&[rand_tensor(&[4, 3], 73), rand_tensor(&[3], 74)], |v| bias_add(&v[0], &v[1]), 1e-2, 2e-3);
        assert!(bias_add(&x, &t(&[1., 2., 3.], &[3])).is_err());
    }
}
