//! Fused multi-head scaled dot-product attention over a sparse pattern: the
//! kernel of every softmax attention group of the graph transformer (local
//! edges, k-hop neighbourhoods, exact global attention, causal masks: each is a
//! pattern, see `graph::pattern`).
//!
//! For a pattern edge `e = j -> i` (key `j`, query `i`) and head `h` with
//! channels `C`:
//!
//! ```text
//! s[e,h]   = scale * <q[i,h], k[j,h] + a[e,h]>
//! α[e,h]   = softmax over the pattern in-edges of i of s[., h]
//! out[i,h] = Σ_e m[e,h] α[e,h] (v[j,h] + a[e,h])
//! ```
//!
//! with `a` the optional per-edge term (projected edge attributes, added to keys
//! and values as PyG's `TransformerConv` does) and `m` an optional constant
//! attention-dropout mask (`0` or `1/(1-p)`). A query with no pattern edges gets
//! zeros. Keys and values come packed as one `[N, 2·H·C]` tensor (`[k | v]`).
//!
//! The forward never stores `α`: the backward recomputes the scores row by
//! row, as flash attention does, so memory is `O(pattern × heads)` only in the
//! backward pass. Every sum runs in a fixed order, so the bits do not depend on
//! the number of threads.

use super::linear::with_f32;
use super::{dims2, f32_slice, prep};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

#[derive(Clone)]
struct PatternAttention {
    p: Graph,
    heads: usize,
    scale: f32,
    mask: Option<Arc<Vec<f32>>>,
}

/// `<a, b + e>` with 8 independent partial sums (so the compiler can keep them
/// in one vector register), added in a fixed order: the same bits on every thread.
#[inline]
fn dot(a: &[f32], b: &[f32], e: Option<&[f32]>) -> f32 {
    let mut acc = [0f32; 8];
    let n8 = a.len() / 8 * 8;
    match e {
        None => {
            for (ca, cb) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)) {
                for l in 0..8 {
                    acc[l] += ca[l] * cb[l];
                }
            }
        }
        Some(e) => {
            for ((ca, cb), ce) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)).zip(e[..n8].chunks_exact(8)) {
                for l in 0..8 {
                    acc[l] += ca[l] * (cb[l] + ce[l]);
                }
            }
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for t in n8..a.len() {
        s += a[t] * (b[t] + e.map_or(0.0, |e| e[t]));
    }
    s
}

impl PatternAttention {
    fn check(&self, n: usize, d: usize, dkv: usize, e: Option<usize>) -> Result<usize> {
        if self.p.num_nodes() != n {
            candle_core::bail!("pattern_attention: the pattern has {} nodes, the queries {n}", self.p.num_nodes());
        }
        if self.heads == 0 || !d.is_multiple_of(self.heads) || dkv != 2 * d {
            candle_core::bail!("pattern_attention: q [N, {d}] must split into {} heads and kv be [N, {}], got [N, {dkv}]", self.heads, 2 * d);
        }
        if let Some(ed) = e {
            if ed != d {
                candle_core::bail!("pattern_attention: the edge term must be [pattern edges, {d}], got width {ed}");
            }
        }
        if let Some(m) = &self.mask {
            if m.len() != self.p.num_edges() * self.heads {
                candle_core::bail!("pattern_attention: dropout mask of {} values for {} edges x {} heads", m.len(), self.p.num_edges(), self.heads);
            }
        }
        Ok(d / self.heads)
    }

    /// `α` of query `i` into `o` (`deg × H`): every key row is read once (all
    /// heads' scores of a key together), then a softmax per head down the block.
    fn alpha(&self, i: usize, o: &mut [f32], q: &[f32], kv: &[f32], a: Option<&[f32]>, c: usize) {
        let (ptr, col) = (self.p.row_ptr(), self.p.col_idx());
        let (lo, h) = (ptr[i], self.heads);
        let d = h * c;
        let qi = &q[i * d..(i + 1) * d];
        for (r, orow) in o.chunks_exact_mut(h).enumerate() {
            let j = col[lo + r];
            let kj = &kv[j * 2 * d..j * 2 * d + d];
            match a {
                None => {
                    for (k, v) in orow.iter_mut().enumerate() {
                        *v = self.scale * dot(&qi[k * c..(k + 1) * c], &kj[k * c..(k + 1) * c], None);
                    }
                }
                Some(a) => {
                    let ae = &a[(lo + r) * d..(lo + r + 1) * d];
                    for (k, v) in orow.iter_mut().enumerate() {
                        *v = self.scale * dot(&qi[k * c..(k + 1) * c], &kj[k * c..(k + 1) * c], Some(&ae[k * c..(k + 1) * c]));
                    }
                }
            }
        }
        let rows = o.len() / h;
        for k in 0..h {
            let mut m = f32::NEG_INFINITY;
            for r in 0..rows {
                m = m.max(o[r * h + k]);
            }
            let mut sum = 0f32;
            for r in 0..rows {
                let v = (o[r * h + k] - m).exp();
                o[r * h + k] = v;
                sum += v;
            }
            let inv = 1.0 / sum;
            for r in 0..rows {
                o[r * h + k] *= inv;
            }
        }
    }

    fn forward(&self, q: &[f32], kv: &[f32], a: Option<&[f32]>, n: usize, c: usize) -> Vec<f32> {
        let (ptr, col) = (self.p.row_ptr(), self.p.col_idx());
        let (h, d) = (self.heads, self.heads * c);
        let mut out = vec![0f32; n * d];
        out.par_chunks_mut(d).with_min_len(16).enumerate().for_each(|(i, o)| {
            let lo = ptr[i];
            let deg = ptr[i + 1] - lo;
            if deg == 0 {
                return;
            }
            let mut al = vec![0f32; deg * h];
            self.alpha(i, &mut al, q, kv, a, c);
            for r in 0..deg {
                let (e, j) = (lo + r, col[lo + r]);
                for k in 0..h {
                    let w = al[r * h + k] * self.mask.as_ref().map_or(1.0, |m| m[e * h + k]);
                    let vj = &kv[j * 2 * d + d + k * c..j * 2 * d + d + (k + 1) * c];
                    let ok = &mut o[k * c..(k + 1) * c];
                    match a {
                        None => ok.iter_mut().zip(vj).for_each(|(y, v)| *y += w * v),
                        Some(a) => ok.iter_mut().zip(vj).zip(&a[e * d + k * c..e * d + (k + 1) * c]).for_each(|((y, v), z)| *y += w * (v + z)),
                    }
                }
            }
        });
        out
    }

    /// `(dq, dkv, da)` from the inputs, the forward output and its gradient.
    #[allow(clippy::too_many_arguments)]
    fn backward(&self, q: &[f32], kv: &[f32], a: Option<&[f32]>, out: &[f32], g: &[f32], n: usize, c: usize) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
        let (ptr, col) = (self.p.row_ptr(), self.p.col_idx());
        let (h, d, m) = (self.heads, self.heads * c, self.p.num_edges());
        // per edge and head: w = m α (weight of the value gradient) and ds (score gradient)
        let mut w = vec![0f32; m * h];
        let mut ds = vec![0f32; m * h];
        let mut dq = vec![0f32; n * d];
        let mut da = a.map(|_| vec![0f32; m * d]);
        {
            // split the per-edge buffers into each query's block, so rows run in parallel
            let wb = split_rows(&mut w, ptr, h);
            let sb = split_rows(&mut ds, ptr, h);
            let ab: Vec<Option<&mut [f32]>> = match da.as_mut() {
                Some(buf) => split_rows(buf, ptr, d).into_iter().map(Some).collect(),
                None => (0..n).map(|_| None).collect(),
            };
            dq.par_chunks_mut(d).zip(wb).zip(sb).zip(ab).enumerate().with_min_len(16).for_each(|(i, (((dqi, wi), si), mut ai))| {
                let lo = ptr[i];
                let deg = ptr[i + 1] - lo;
                if deg == 0 {
                    return;
                }
                self.alpha(i, wi, q, kv, a, c);
                let (gi, oi, qi) = (&g[i * d..(i + 1) * d], &out[i * d..(i + 1) * d], &q[i * d..(i + 1) * d]);
                let go: Vec<f32> = (0..h).map(|k| dot(&gi[k * c..(k + 1) * c], &oi[k * c..(k + 1) * c], None)).collect();
                for r in 0..deg {
                    let (e, j) = (lo + r, col[lo + r]);
                    let kj = &kv[j * 2 * d..j * 2 * d + d];
                    let vj = &kv[j * 2 * d + d..(j + 1) * 2 * d];
                    let ae = a.map(|a| &a[e * d..(e + 1) * d]);
                    for k in 0..h {
                        let sl = k * c..(k + 1) * c;
                        let mk = self.mask.as_ref().map_or(1.0, |mm| mm[e * h + k]);
                        let gk = &gi[sl.clone()];
                        let aek = ae.map(|x| &x[sl.clone()]);
                        let alpha = wi[r * h + k];
                        let sv = alpha * (mk * dot(gk, &vj[sl.clone()], aek) - go[k]);
                        si[r * h + k] = sv;
                        wi[r * h + k] = alpha * mk;
                        let sc = sv * self.scale;
                        let dqk = &mut dqi[sl.clone()];
                        match aek {
                            None => dqk.iter_mut().zip(&kj[sl.clone()]).for_each(|(y, x)| *y += sc * x),
                            Some(z) => dqk.iter_mut().zip(&kj[sl.clone()]).zip(z).for_each(|((y, x), z)| *y += sc * (x + z)),
                        }
                        if let Some(ai) = ai.as_deref_mut() {
                            let wa = alpha * mk;
                            let row = &mut ai[r * d + k * c..r * d + (k + 1) * c];
                            for ((y, qv), gv) in row.iter_mut().zip(&qi[sl.clone()]).zip(gk) {
                                *y = sc * qv + wa * gv;
                            }
                        }
                    }
                }
            });
        }
        // keys and values: gather over each node's out-edges in the pattern (the transpose)
        let (tp, te, td) = (self.p.t_ptr(), self.p.t_eid(), self.p.t_dst());
        let mut dkv = vec![0f32; n * 2 * d];
        dkv.par_chunks_mut(2 * d).with_min_len(16).enumerate().for_each(|(j, o)| {
            let (dk, dv) = o.split_at_mut(d);
            for t in tp[j]..tp[j + 1] {
                let (e, i) = (te[t], td[t]);
                for k in 0..h {
                    let sc = ds[e * h + k] * self.scale;
                    let wk = w[e * h + k];
                    let (qi, gi) = (&q[i * d + k * c..i * d + (k + 1) * c], &g[i * d + k * c..i * d + (k + 1) * c]);
                    dk[k * c..(k + 1) * c].iter_mut().zip(qi).for_each(|(y, x)| *y += sc * x);
                    dv[k * c..(k + 1) * c].iter_mut().zip(gi).for_each(|(y, x)| *y += wk * x);
                }
            }
        });
        (dq, dkv, da)
    }
}

/// `buf` cut into one block per pattern row (`ptr[i+1] - ptr[i]` rows of `width`).
fn split_rows<'a>(buf: &'a mut [f32], ptr: &[usize], width: usize) -> Vec<&'a mut [f32]> {
    let mut blocks = Vec::with_capacity(ptr.len().saturating_sub(1));
    let mut rest = buf;
    for win in ptr.windows(2) {
        let (x, y) = rest.split_at_mut((win[1] - win[0]) * width);
        blocks.push(x);
        rest = y;
    }
    blocks
}

fn cpu(t: Vec<f32>, shape: (usize, usize)) -> Result<Tensor> {
    Tensor::from_vec(t, shape, &Device::Cpu)
}

impl CustomOp2 for PatternAttention {
    fn name(&self) -> &'static str {
        "pattern-attention"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = self.p.num_nodes();
        let d = dims2(l1, n, "pattern_attention", "q")?;
        let c = self.check(n, d, dims2(l2, n, "pattern_attention", "kv")?, None)?;
        let out = self.forward(f32_slice(s1, l1, "pattern_attention")?, f32_slice(s2, l2, "pattern_attention")?, None, n, c);
        Ok((CpuStorage::F32(out), Shape::from((n, d))))
    }
    fn bwd(&self, q: &Tensor, kv: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, d) = q.dims2()?;
        let c = d / self.heads;
        let grad = prep(grad)?;
        let (dq, dkv, _) = with_f32(q, "pattern_attention", |q| {
            with_f32(kv, "pattern_attention", |kv| {
                with_f32(res, "pattern_attention", |o| with_f32(&grad, "pattern_attention", |g| self.backward(q, kv, None, o, g, n, c)))
            })
        })????;
        Ok((Some(cpu(dq, (n, d))?), Some(cpu(dkv, (n, 2 * d))?)))
    }
}

impl CustomOp3 for PatternAttention {
    fn name(&self) -> &'static str {
        "pattern-attention-edges"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = self.p.num_nodes();
        let d = dims2(l1, n, "pattern_attention", "q")?;
        let c = self.check(n, d, dims2(l2, n, "pattern_attention", "kv")?, Some(dims2(l3, self.p.num_edges(), "pattern_attention", "edge term")?))?;
        let a = f32_slice(s3, l3, "pattern_attention")?;
        let out = self.forward(f32_slice(s1, l1, "pattern_attention")?, f32_slice(s2, l2, "pattern_attention")?, Some(a), n, c);
        Ok((CpuStorage::F32(out), Shape::from((n, d))))
    }
    fn bwd(&self, q: &Tensor, kv: &Tensor, a: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, d) = q.dims2()?;
        let c = d / self.heads;
        let grad = prep(grad)?;
        let (dq, dkv, da) = with_f32(q, "pattern_attention", |q| {
            with_f32(kv, "pattern_attention", |kv| {
                with_f32(a, "pattern_attention", |a| {
                    with_f32(res, "pattern_attention", |o| with_f32(&grad, "pattern_attention", |g| self.backward(q, kv, Some(a), o, g, n, c)))
                })
            })
        })?????;
        Ok((Some(cpu(dq, (n, d))?), Some(cpu(dkv, (n, 2 * d))?), da.map(|v| cpu(v, (self.p.num_edges(), d))).transpose()?))
    }
}

/// Multi-head attention of every node over its in-edges in `pattern` (see the
/// module docs for the formula).
///
/// `q [N, H·C]`, `kv [N, 2·H·C]` (keys then values), `edge [P, H·C]` (optional,
/// per pattern edge in edge-id order), `mask [P·H]` (optional attention-dropout
/// mask) → `[N, H·C]`.
///
/// # Errors
/// Shape mismatches, named.
pub fn pattern_attention(
    pattern: &Graph,
    q: &Tensor,
    kv: &Tensor,
    edge: Option<&Tensor>,
    heads: usize,
    scale: f64,
    mask: Option<Arc<Vec<f32>>>,
) -> Result<Tensor> {
    let op = PatternAttention { p: pattern.clone(), heads, scale: scale as f32, mask };
    match edge {
        None => prep(q)?.apply_op2(&prep(kv)?, op),
        Some(e) => prep(q)?.apply_op3(&prep(kv)?, &prep(e)?, op),
    }
}
