//! Differentiable losses, as candle expressions (their gradients come from
//! candle's autograd; every loss has a finite-difference gradient check below).
//!
//! All losses use PyTorch's default `reduction = "mean"` and return a scalar
//! tensor (shape `[]`). Shapes are checked up front; a mismatch is
//! [`Error::Shape`], never a broadcast.
//!
//! | function | PyTorch equivalent |
//! |----------|--------------------|
//! | [`cross_entropy`] | `F.cross_entropy(logits, y, label_smoothing=ε)` |
//! | [`bce_with_logits`] | `F.binary_cross_entropy_with_logits(x, y)` |
//! | [`link_bce`] | `F.binary_cross_entropy_with_logits(cat([pos, neg]), cat([1, 0]))` |
//! | [`mse`] | `F.mse_loss(p, y)` |
//! | [`l1_penalty`] | `sum(p.abs().sum() for p in params)` |

use candle_core::{DType, Device, Tensor, Var, D};

use crate::{Error, Result};

/// Class targets for [`cross_entropy`]: host labels or an integer tensor of shape `[N]`.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// Host labels, one per row.
    Labels(&'a [usize]),
    /// An integer tensor (`u8`, `u32` or `i64`) of shape `[N]`.
    Tensor(&'a Tensor),
}

impl<'a> From<&'a [usize]> for Targets<'a> {
    fn from(v: &'a [usize]) -> Self {
        Targets::Labels(v)
    }
}

impl<'a> From<&'a Vec<usize>> for Targets<'a> {
    fn from(v: &'a Vec<usize>) -> Self {
        Targets::Labels(v.as_slice())
    }
}

impl<'a, const K: usize> From<&'a [usize; K]> for Targets<'a> {
    fn from(v: &'a [usize; K]) -> Self {
        Targets::Labels(v.as_slice())
    }
}

impl<'a> From<&'a Tensor> for Targets<'a> {
    fn from(t: &'a Tensor) -> Self {
        Targets::Tensor(t)
    }
}

/// Row-wise `log_softmax`: `x_ic − m_i − log Σ_c exp(x_ic − m_i)` with `m_i = max_c x_ic`.
///
/// Same forward values as `candle_nn::ops::log_softmax`; the shift `m` is detached
/// (the result does not depend on it), so no gradient is routed through `max`.
fn log_softmax_rows(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let diff = x.broadcast_sub(&m)?;
    let lse = diff.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(diff.broadcast_sub(&lse)?)
}

/// Check `targets` against `N` rows and `C` classes and return them as a `u32`
/// tensor of shape `[N, 1]` on `device`.
fn target_index(targets: Targets<'_>, n: usize, c: usize, device: &Device) -> Result<Tensor> {
    let labels: Vec<u32> = match targets {
        Targets::Labels(l) => {
            if l.len() != n {
                return Err(Error::inconsistent("cross_entropy: number of targets", format!("{n} (one per row of logits)"), l.len()));
            }
            l.iter().map(|&y| if y < c { Ok(y as u32) } else { Err(class_out_of_range(y, c)) }).collect::<Result<_>>()?
        }
        Targets::Tensor(t) => {
            if t.dims() != [n] {
                return Err(Error::Shape { op: "cross_entropy", expected: format!("targets of shape [{n}] (one per row of logits)"), got: t.dims().to_vec() });
            }
            let v: Vec<i64> = match t.dtype() {
                DType::U8 | DType::U32 | DType::I64 => t.to_dtype(DType::I64)?.to_vec1()?,
                other => {
                    return Err(Error::config("cross_entropy.targets.dtype", format!("{other:?}"), "class targets must be an integer tensor (u8, u32 or i64)"))
                }
            };
            v.into_iter()
                .map(|y| match usize::try_from(y) {
                    Ok(u) if u < c => Ok(u as u32),
                    _ => Err(class_out_of_range(y.max(0) as usize, c)),
                })
                .collect::<Result<_>>()?
        }
    };
    Ok(Tensor::from_vec(labels, (n, 1), device)?)
}

fn class_out_of_range(y: usize, c: usize) -> Error {
    Error::IndexOutOfRange {
        what: "cross_entropy target class".into(),
        index: y,
        bound: c,
        hint: "targets must lie in 0..num_classes (the number of logit columns)".into(),
    }
}

fn rank2(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match *t.dims() {
        [n, c] if n > 0 && c > 0 => Ok((n, c)),
        _ => Err(Error::Shape { op, expected: "logits of shape [num_rows > 0, num_classes > 0]".into(), got: t.dims().to_vec() }),
    }
}

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(Error::Shape { op, expected: format!("targets of the input's shape {:?}", a.dims()), got: b.dims().to_vec() });
    }
    if a.elem_count() == 0 {
        return Err(Error::Shape { op, expected: "at least one element (the mean of nothing is undefined)".into(), got: a.dims().to_vec() });
    }
    Ok(())
}

/// Mean cross-entropy of `logits` `[N, C]` against class `targets` `[N]`, with
/// PyTorch's label smoothing `ε`:
///
/// `loss = (1/N) Σ_i [ (1 − ε)·(−log p_i,y_i) + ε·(1/C) Σ_c (−log p_i,c) ]`,
/// `log p = log_softmax(logits)` along the class dimension.
///
/// The true-class term is a `gather` (its backward, a `scatter_add` into zeros,
/// is checked against finite differences in the tests).
///
/// ```
/// use autoglm::candle::{Device, Tensor};
/// use autoglm::train::loss::cross_entropy;
/// let logits = Tensor::new(&[[0f32, 0.0], [0.0, 0.0]], &Device::Cpu).unwrap();
/// let l = cross_entropy(&logits, &[0usize, 1], 0.0).unwrap();
/// assert!((l.to_scalar::<f32>().unwrap() - std::f32::consts::LN_2).abs() < 1e-6);
/// ```
///
/// Errors: [`Error::Shape`] if `logits` is not `[N > 0, C > 0]` or a target tensor
/// is not `[N]`; [`Error::Inconsistent`] for a label slice of the wrong length;
/// [`Error::IndexOutOfRange`] for a class `≥ C`; [`Error::Config`] for `ε ∉ [0, 1]`
/// or a non-integer target tensor.
pub fn cross_entropy<'a>(logits: &Tensor, targets: impl Into<Targets<'a>>, label_smoothing: f64) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(Error::config("label_smoothing", label_smoothing, "must lie in [0, 1]"));
    }
    let (n, c) = rank2("cross_entropy", logits)?;
    let idx = target_index(targets.into(), n, c, logits.device())?;
    let logp = log_softmax_rows(logits)?;
    let nll = logp.gather(&idx, 1)?.neg()?.mean_all()?;
    if label_smoothing == 0.0 {
        return Ok(nll);
    }
    let smooth = logp.neg()?.mean_all()?; // (1/N) Σ_i (1/C) Σ_c −log p_ic
    Ok(((nll * (1.0 - label_smoothing))? + (smooth * label_smoothing)?)?)
}

/// Mean binary cross-entropy of `logits` `x` against targets `y ∈ [0, 1]` of the same shape,
/// in the numerically stable form
///
/// `loss = mean( max(x, 0) − x·y + log(1 + exp(−|x|)) )`,
///
/// whose gradient is `(σ(x) − y) / numel`, also at `x = 0`.
///
/// Errors: [`Error::Shape`] if the shapes differ or are empty.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    same_shape("bce_with_logits", logits, targets)?;
    let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok((softplus - (logits * targets)?)?.mean_all()?)
}

/// Binary cross-entropy for link prediction with negative sampling: positive edge
/// logits `pos` `[P]` get target 1, negative ones `neg` `[Q]` target 0, and the mean
/// is over all `P + Q` scores:
///
/// `loss = ( Σ_i softplus(−pos_i) + Σ_j softplus(neg_j) ) / (P + Q)`.
///
/// Errors: [`Error::Shape`] if either input is not one-dimensional or both are empty.
pub fn link_bce(pos: &Tensor, neg: &Tensor) -> Result<Tensor> {
    for t in [pos, neg] {
        if t.rank() != 1 {
            return Err(Error::Shape { op: "link_bce", expected: "scores of shape [num_edges]".into(), got: t.dims().to_vec() });
        }
    }
    let logits = Tensor::cat(&[pos, neg], 0)?;
    let y = Tensor::cat(&[pos.ones_like()?.detach(), neg.zeros_like()?.detach()], 0)?;
    bce_with_logits(&logits, &y)
}

/// Mean squared error `mean((pred − target)²)`, PyTorch's `mse_loss`.
///
/// Errors: [`Error::Shape`] if the shapes differ or are empty.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("mse", pred, target)?;
    Ok((pred - target)?.sqr()?.mean_all()?)
}

/// The L1 penalty `Σ_v Σ_i |w_vi|` over `vars` (multiply by `λ` yourself).
///
/// Its (sub)gradient is `sign(w)`, 0 at `w = 0`, as for PyTorch's `abs`.
/// With no `vars` the result is a `0.0` `f32` scalar on the CPU.
///
/// Errors: [`Error::Candle`] if the vars differ in dtype or device.
pub fn l1_penalty(vars: &[Var]) -> Result<Tensor> {
    match l1_sum(vars.iter().map(Var::as_tensor))? {
        Some(t) => Ok(t),
        None => Ok(Tensor::zeros((), DType::F32, &Device::Cpu)?),
    }
}

/// `Σ |w|` over tensors with subgradient `sign(w)`; `None` for no tensors.
fn l1_sum<'a>(ts: impl Iterator<Item = &'a Tensor>) -> Result<Option<Tensor>> {
    let mut total: Option<Tensor> = None;
    for w in ts {
        let s = (w * w.sign()?.detach())?.sum_all()?;
        total = Some(match total {
            None => s,
            Some(t) => (t + s)?,
        });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::Cpu
    }

    fn scalar(t: &Tensor) -> f64 {
        t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
    }

    /// Central finite differences of `f` at `x0` (in f64) against candle's gradient.
    fn grad_check(x0: &[f64], shape: &[usize], f: impl Fn(&Tensor) -> Result<Tensor>) {
        let x = Var::from_vec(x0.to_vec(), shape, &dev()).unwrap();
        let loss = f(x.as_tensor()).unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<f64> = grads.get(x.as_tensor()).expect("gradient").flatten_all().unwrap().to_vec1().unwrap();
        let h = 1e-6;
        for i in 0..x0.len() {
            let mut xp = x0.to_vec();
            xp[i] += h;
            let mut xm = x0.to_vec();
            xm[i] -= h;
            let fp = scalar(&f(&Tensor::from_vec(xp, shape, &dev()).unwrap()).unwrap());
            let fm = scalar(&f(&Tensor::from_vec(xm, shape, &dev()).unwrap()).unwrap());
            let fd = (fp - fm) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-6 * (1.0 + fd.abs()), "d/dx[{i}]: finite difference {fd} vs autograd {}", g[i]);
        }
    }

    #[test]
    fn cross_entropy_hand_value() {
        // Row 0: logits [1, 2, 3], y = 2; row 1: [1, 1, 1], y = 0.
        // lse0 = 3 + ln(e^-2 + e^-1 + 1) = 3.40760596444438; −log p = [2.40760596, 1.40760596, 0.40760596]
        // row 1: −log p = ln 3 = 1.09861228866811 for every class.
        // NLL mean = (0.40760596444438 + 1.09861228866811) / 2 = 0.753109126556245
        let logits = Tensor::new(&[[1f64, 2., 3.], [1., 1., 1.]], &dev()).unwrap();
        let l = cross_entropy(&logits, &[2usize, 0], 0.0).unwrap();
        assert!((scalar(&l) - 0.753_109_126_556_245).abs() < 1e-12);
        // ε = 0.1: smooth row0 = mean(2.4076, 1.4076, 0.4076) = 1.40760596444438; row1 = 1.09861228866811
        // smooth mean = 1.253109126556245; loss = 0.9·0.753109126556245 + 0.1·1.253109126556245
        //             = 0.8031091265562451
        let l = cross_entropy(&logits, &[2usize, 0], 0.1).unwrap();
        assert!((scalar(&l) - 0.803_109_126_556_245).abs() < 1e-12);
        // The same from a u32 target tensor.
        let t = Tensor::new(&[2u32, 0], &dev()).unwrap();
        let l2 = cross_entropy(&logits, &t, 0.1).unwrap();
        assert!((scalar(&l2) - 0.803_109_126_556_245).abs() < 1e-12);
    }

    #[test]
    fn cross_entropy_is_stable_for_large_logits() {
        let logits = Tensor::new(&[[1000f32, 0.0]], &dev()).unwrap();
        let l = cross_entropy(&logits, &[1usize], 0.0).unwrap();
        assert!((scalar(&l) - 1000.0).abs() < 1e-3);
    }

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let x0 = [0.3, -1.2, 2.0, 0.5, 0.5, 0.5, -0.7, 1.1, 0.0, 0.2, 0.9, -0.4];
        for eps in [0.0, 0.2] {
            grad_check(&x0, &[4, 3], |x| cross_entropy(x, &[2usize, 0, 1, 1], eps));
        }
        // Gather's backward also with repeated targets and a tensor of targets.
        let t = Tensor::new(&[1u32, 1, 1, 0], &dev()).unwrap();
        grad_check(&x0, &[4, 3], |x| cross_entropy(x, &t, 0.0));
    }

    #[test]
    fn cross_entropy_gradient_is_softmax_minus_one_hot() {
        // d/dx mean CE = (softmax(x) − onehot(y)) / N; row [0, 0], y = 1, N = 1: [0.5, −0.5].
        let x = Var::new(&[[0f32, 0.0]], &dev()).unwrap();
        let g = cross_entropy(x.as_tensor(), &[1usize], 0.0).unwrap().backward().unwrap();
        let g: Vec<Vec<f32>> = g.get(x.as_tensor()).unwrap().to_vec2().unwrap();
        assert_eq!(g, vec![vec![0.5, -0.5]]);
    }

    #[test]
    fn cross_entropy_rejects_bad_inputs() {
        let logits = Tensor::zeros((2, 3), DType::F32, &dev()).unwrap();
        let e = cross_entropy(&logits, &[0usize, 3], 0.0).unwrap_err();
        assert!(matches!(e, Error::IndexOutOfRange { index: 3, bound: 3, .. }), "{e}");
        let e = cross_entropy(&logits, &[0usize], 0.0).unwrap_err();
        assert!(matches!(e, Error::Inconsistent { .. }), "{e}");
        let e = cross_entropy(&logits, &[0usize, 1], 1.5).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
        let v = Tensor::zeros(3, DType::F32, &dev()).unwrap();
        let e = cross_entropy(&v, &[0usize], 0.0).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let t = Tensor::new(&[0i64, -1], &dev()).unwrap();
        let e = cross_entropy(&logits, &t, 0.0).unwrap_err();
        assert!(matches!(e, Error::IndexOutOfRange { .. }), "{e}");
        let t = Tensor::new(&[0f32, 1.0], &dev()).unwrap();
        let e = cross_entropy(&logits, &t, 0.0).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
        let t = Tensor::new(&[[0u32, 1]], &dev()).unwrap();
        let e = cross_entropy(&logits, &t, 0.0).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
    }

    #[test]
    fn bce_with_logits_hand_value() {
        // x = [0, 2, -3, 100], y = [1, 0, 0.25, 1]:
        // x=0,y=1:   ln 2                              = 0.693147180559945
        // x=2,y=0:   2 + ln(1 + e^-2)                  = 2.126928011042973
        // x=-3,y=.25: 0 + 0.75 + ln(1 + e^-3)          = 0.798587351573742
        // x=100,y=1: 100 − 100 + ln(1 + e^-100)        ≈ 3.7e-44
        // mean = 3.618662543176660 / 4 = 0.904665635794165
        let x = Tensor::new(&[0f64, 2.0, -3.0, 100.0], &dev()).unwrap();
        let y = Tensor::new(&[1f64, 0.0, 0.25, 1.0], &dev()).unwrap();
        let l = bce_with_logits(&x, &y).unwrap();
        assert!((scalar(&l) - 0.904_665_635_794_165).abs() < 1e-12, "{}", scalar(&l));
        // No overflow for huge negative logits with y = 1: loss = −x.
        let x = Tensor::new(&[-1000f32], &dev()).unwrap();
        let y = Tensor::new(&[1f32], &dev()).unwrap();
        assert!((scalar(&bce_with_logits(&x, &y).unwrap()) - 1000.0).abs() < 1e-3);
    }

    #[test]
    fn bce_with_logits_gradient() {
        let y = Tensor::new(&[1f64, 0.0, 0.25, 1.0, 0.0], &dev()).unwrap();
        grad_check(&[0.3, 2.0, -3.0, -0.1, 4.0], &[5], |x| bce_with_logits(x, &y));
        // At x = 0 exactly the gradient is (σ(0) − y)/n = (0.5 − y)/n.
        let x = Var::new(&[0f32, 0.0], &dev()).unwrap();
        let y = Tensor::new(&[1f32, 0.0], &dev()).unwrap();
        let g = bce_with_logits(x.as_tensor(), &y).unwrap().backward().unwrap();
        let g: Vec<f32> = g.get(x.as_tensor()).unwrap().to_vec1().unwrap();
        assert_eq!(g, vec![-0.25, 0.25]);
    }

    #[test]
    fn link_bce_equals_bce_on_concatenation() {
        // pos = [2], neg = [0, -1]: (softplus(−2) + softplus(0) + softplus(−1)) / 3
        // = (0.126928011042973 + 0.693147180559945 + 0.313261687518223) / 3 = 0.377778959707047
        let pos = Tensor::new(&[2f64], &dev()).unwrap();
        let neg = Tensor::new(&[0f64, -1.0], &dev()).unwrap();
        let l = link_bce(&pos, &neg).unwrap();
        assert!((scalar(&l) - 0.377_778_959_707_047).abs() < 1e-12, "{}", scalar(&l));
        let neg2 = neg.clone();
        grad_check(&[0.7, -0.2], &[2], |p| link_bce(p, &neg2));
        let e = link_bce(&Tensor::zeros((2, 1), DType::F64, &dev()).unwrap(), &neg).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }));
    }

    #[test]
    fn mse_hand_value_and_gradient() {
        // ((1−0)² + (2−4)² + (−1−(−1))²) / 3 = 5/3
        let p = Tensor::new(&[1f64, 2.0, -1.0], &dev()).unwrap();
        let t = Tensor::new(&[0f64, 4.0, -1.0], &dev()).unwrap();
        assert!((scalar(&mse(&p, &t).unwrap()) - 5.0 / 3.0).abs() < 1e-12);
        grad_check(&[1.0, 2.0, -0.5], &[3], |x| mse(x, &t));
        let e = mse(&p, &Tensor::zeros((3, 1), DType::F64, &dev()).unwrap()).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }));
        let empty = Tensor::zeros(0, DType::F64, &dev()).unwrap();
        assert!(matches!(mse(&empty, &empty).unwrap_err(), Error::Shape { .. }));
    }

    #[test]
    fn l1_penalty_hand_value_and_gradient() {
        // |1| + |−2| + |0| + |0.5| = 3.5; gradient sign(w) = [1, −1, 0, 1].
        let a = Var::new(&[1f32, -2.0], &dev()).unwrap();
        let b = Var::new(&[[0f32, 0.5]], &dev()).unwrap();
        let l = l1_penalty(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(l.to_scalar::<f32>().unwrap(), 3.5);
        let g = l.backward().unwrap();
        assert_eq!(g.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap(), vec![1.0, -1.0]);
        assert_eq!(g.get(b.as_tensor()).unwrap().to_vec2::<f32>().unwrap(), vec![vec![0.0, 1.0]]);
        grad_check(&[0.3, -1.5, 2.0], &[3], |x| Ok(l1_sum(std::iter::once(x))?.expect("one tensor")));
        assert_eq!(l1_penalty(&[]).unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }
}
