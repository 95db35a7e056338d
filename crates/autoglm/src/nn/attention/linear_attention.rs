//! Linear-time global attention over the nodes of one graph, per head, from
//! candle's differentiable tensor ops (so the backward is candle's), checked
//! against their dense formulas in the tests.
//!
//! - [`normalized_linear_attention`]: SGFormer (Wu et al., NeurIPS 2023), per head
//!   `Q̃ = Q / ‖Q‖_F`, `K̃ = K / ‖K‖_F`,
//!   `out = (V + Q̃ (K̃ᵀ V) / N) / (1 + Q̃ (K̃ᵀ 1) / N)` (row-wise division).
//!   Deterministic (no random features), `O(N C²)`.
//! - [`performer_attention`]: kernelised attention with positive random ReLU
//!   features (Choromanski et al., ICLR 2021, generalised kernel; the form of
//!   PyG's `PerformerAttention`): `φ(x) = ReLU(x P) + ε` with a fixed random
//!   projection `P [C, F]`, `out = φ(Q) (φ(K)ᵀ V) / (φ(Q) (φ(K)ᵀ 1))`.

use crate::Result;
use candle_core::{Tensor, D};

/// `[N, H·C]` → `[H, N, C]`.
fn heads_first(x: &Tensor, h: usize) -> Result<Tensor> {
    let (n, w) = x.dims2()?;
    Ok(x.reshape((n, h, w / h))?.transpose(0, 1)?.contiguous()?)
}

/// `[H, N, C]` → `[N, H·C]`.
fn heads_last(x: &Tensor) -> Result<Tensor> {
    let (h, n, c) = x.dims3()?;
    Ok(x.transpose(0, 1)?.contiguous()?.reshape((n, h * c))?)
}

/// SGFormer's normalised linear attention of `q, k, v [N, H·C]` (one graph).
pub fn normalized_linear_attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize) -> Result<Tensor> {
    let n = q.dim(0)? as f64;
    let (q, k, v) = (heads_first(q, heads)?, heads_first(k, heads)?, heads_first(v, heads)?);
    let fro = |x: &Tensor| -> Result<Tensor> { Ok((x.sqr()?.sum_keepdim(D::Minus1)?.sum_keepdim(1)? + 1e-12)?.sqrt()?) };
    let qn = q.broadcast_div(&fro(&q)?)?;
    let kn = k.broadcast_div(&fro(&k)?)?;
    let kv = kn.transpose(1, 2)?.contiguous()?.matmul(&v)?; // [H, C, C]
    let num = (&v + (qn.matmul(&kv)? / n)?)?;
    let ksum = kn.sum_keepdim(1)?; // [H, 1, C]
    let den = ((qn.broadcast_mul(&ksum)?.sum_keepdim(D::Minus1)? / n)? + 1.0)?; // [H, N, 1]
    heads_last(&num.broadcast_div(&den)?)
}

/// Performer-style attention of `q, k, v [N, H·C]` with the random projection `proj [C, F]`;
/// `scale` (`1/sqrt(C)`) is split between queries and keys before the features.
pub fn performer_attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, proj: &Tensor, scale: f64) -> Result<Tensor> {
    let s = scale.sqrt();
    let (q, k, v) = (heads_first(q, heads)?, heads_first(k, heads)?, heads_first(v, heads)?);
    let phi = |x: &Tensor| -> Result<Tensor> { Ok(((x * s)?.broadcast_matmul(proj)?.relu()? + 1e-3)?) }; // [H, N, F]
    let (pq, pk) = (phi(&q)?, phi(&k)?);
    let kv = pk.transpose(1, 2)?.contiguous()?.matmul(&v)?; // [H, F, C]
    let num = pq.matmul(&kv)?; // [H, N, C]
    let den = pq.broadcast_mul(&pk.sum_keepdim(1)?)?.sum_keepdim(D::Minus1)?; // [H, N, 1]
    heads_last(&num.broadcast_div(&den)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, check_grad, rand_tensor, vec};

    /// Dense reference of both forms in f64 loops.
    fn dense(q: &[f32], k: &[f32], v: &[f32], n: usize, h: usize, c: usize, phi: Option<(&[f32], usize, f64)>) -> Vec<f32> {
        let w = h * c;
        let mut out = vec![0f32; n * w];
        for hh in 0..h {
            let get = |x: &[f32], i: usize, t: usize| x[i * w + hh * c + t] as f64;
            let (fq, fk): (Vec<Vec<f64>>, Vec<Vec<f64>>) = match phi {
                None => {
                    let fr = |x: &[f32]| (0..n).flat_map(|i| (0..c).map(move |t| (i, t))).map(|(i, t)| get(x, i, t).powi(2)).sum::<f64>().sqrt();
                    let (a, b) = (fr(q), fr(k));
                    ((0..n).map(|i| (0..c).map(|t| get(q, i, t) / a).collect()).collect(), (0..n).map(|i| (0..c).map(|t| get(k, i, t) / b).collect()).collect())
                }
                Some((p, f, sc)) => {
                    let s = sc.sqrt();
                    let feat = |x: &[f32], i: usize| -> Vec<f64> {
                        (0..f).map(|j| ((0..c).map(|t| get(x, i, t) * s * p[t * f + j] as f64).sum::<f64>()).max(0.0) + 1e-3).collect()
                    };
                    ((0..n).map(|i| feat(q, i)).collect(), (0..n).map(|i| feat(k, i)).collect())
                }
            };
            for i in 0..n {
                let wts: Vec<f64> = (0..n).map(|j| fq[i].iter().zip(&fk[j]).map(|(a, b)| a * b).sum()).collect();
                for t in 0..c {
                    let val = match phi {
                        None => (get(v, i, t) + (0..n).map(|j| wts[j] * get(v, j, t)).sum::<f64>() / n as f64) / (1.0 + wts.iter().sum::<f64>() / n as f64),
                        Some(_) => (0..n).map(|j| wts[j] * get(v, j, t)).sum::<f64>() / wts.iter().sum::<f64>(),
                    };
                    out[i * w + hh * c + t] = val as f32;
                }
            }
        }
        out
    }

    #[test]
    fn linear_forms_match_their_dense_formulas_and_gradients() {
        let (n, h, c) = (7, 2, 3);
        let (q, k, v) = (rand_tensor(&[n, h * c], 1), rand_tensor(&[n, h * c], 2), rand_tensor(&[n, h * c], 3));
        let got = normalized_linear_attention(&q, &k, &v, h).unwrap();
        assert_close(&vec(&got), &dense(&vec(&q), &vec(&k), &vec(&v), n, h, c, None), 1e-5, "sgformer");
        check_grad(
            &[q.clone(), k.clone(), v.clone()],
            |t| normalized_linear_attention(&t[0], &t[1], &t[2], h).map_err(|e| candle_core::Error::Msg(e.to_string())),
            1e-2,
            3e-3,
        );
        let proj = rand_tensor(&[c, 5], 4);
        let got = performer_attention(&q, &k, &v, h, &proj, 0.5).unwrap();
        assert_close(&vec(&got), &dense(&vec(&q), &vec(&k), &vec(&v), n, h, c, Some((&vec(&proj), 5, 0.5))), 1e-4, "performer");
        check_grad(&[q, k, v], |t| performer_attention(&t[0], &t[1], &t[2], h, &proj, 0.5).map_err(|e| candle_core::Error::Msg(e.to_string())), 1e-3, 5e-3);
    }
}
