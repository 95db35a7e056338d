//! Message passing over a graph in CSR form by destination: `ptr[i]..ptr[i+1]`
//! index the in-edges of node `i` and `nbr[p]` is the source of edge `p`.
//! Every kernel writes one output row per node in a fixed order, so the same
//! input gives the same bits for any number of threads.

use crate::par::{for_each_block, for_each_row, for_each_segment, min_rows};
use crate::simd;
use crate::softmax::softmax_block;

/// Fused propagation `out_i = act(r_i + Σ_{p ∈ in(i)} c_p h_{nbr(p)} + b)`:
/// `coef = None` weighs every edge 1, `root` (`[n, f]`) and `bias` (`[f]`)
/// are optional, `relu` applies ReLU last. `h` is `[*, f]` indexed by
/// `nbr`; the output has `ptr.len() - 1` rows.
#[allow(clippy::too_many_arguments)]
pub fn propagate(ptr: &[usize], nbr: &[usize], coef: Option<&[f32]>, h: &[f32], f: usize, root: Option<&[f32]>, bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let n = ptr.len().saturating_sub(1);
    let mut out = vec![0f32; n * f];
    for_each_row(&mut out, f, min_rows(f), |i, row| {
        if let Some(r) = root {
            row.copy_from_slice(&r[i * f..(i + 1) * f]);
        }
        let (lo, hi) = (ptr[i], ptr[i + 1]);
        for p in lo..hi {
            if p + 2 < hi {
                let nx = nbr[p + 2];
                simd::prefetch(&h[nx * f..(nx + 1) * f]);
            }
            let src = &h[nbr[p] * f..(nbr[p] + 1) * f];
            match coef {
                Some(c) => simd::axpy(row, c[p], src),
                None => simd::add_assign(row, src),
            }
        }
        if let Some(b) = bias {
            simd::add_assign(row, b);
        }
        if relu {
            row.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    });
    out
}

simd::dispatch! {
    /// One output row: `row[h*c..] += Σ_p w[e(p), h] * x[nbr[p], h*c..]` over `p` in `lo..hi`.
    fn spmm_row(row: &mut [f32], lo: usize, hi: usize, nbr: &[usize], eid: Option<&[usize]>, w: Option<&[f32]>, heads: usize, x: &[f32], f: usize) {
        let c = f / heads;
        for p in lo..hi {
            if p + 2 < hi {
                let nx = nbr[p + 2];
                simd::prefetch(&x[nx * f..(nx + 1) * f]);
            }
            let e = match eid {
                Some(t) => t[p],
                None => p,
            };
            let src = &x[nbr[p] * f..(nbr[p] + 1) * f];
            match w {
                None => {
                    for (o, &v) in row.iter_mut().zip(src) {
                        *o += v;
                    }
                }
                Some(w) if heads == 1 => {
                    let we = w[e];
                    for (o, &v) in row.iter_mut().zip(src) {
                        *o += we * v;
                    }
                }
                Some(w) => {
                    for h in 0..heads {
                        let we = w[e * heads + h];
                        for (o, &v) in row[h * c..(h + 1) * c].iter_mut().zip(&src[h * c..(h + 1) * c]) {
                            *o += we * v;
                        }
                    }
                }
            }
        }
    }
}

/// Multi-head SpMM `out[i, h*c..] = Σ_p w[e(p), h] x[nbr(p), h*c..] + s x[i, h*c..]`
/// (the self term added after the neighbour sum, as PyG's `GINConv` does;
/// `self_scale = 0` for plain SpMM). `eid` maps a CSR position to the edge id
/// that indexes `w` (`None`: the position itself); `w = None` weighs every
/// edge 1; `w` is `[E, heads]`, `x` is `[n, f]` with `f = heads * c`.
#[allow(clippy::too_many_arguments)]
pub fn spmm(ptr: &[usize], nbr: &[usize], eid: Option<&[usize]>, w: Option<&[f32]>, heads: usize, x: &[f32], f: usize, self_scale: f32) -> Vec<f32> {
    let n = ptr.len().saturating_sub(1);
    let mut out = vec![0f32; n * f];
    for_each_row(&mut out, f, min_rows(f), |i, row| {
        spmm_row(row, ptr[i], ptr[i + 1], nbr, eid, w, heads, x, f);
        if self_scale == 1.0 {
            simd::add_assign(row, &x[i * f..(i + 1) * f]);
        } else if self_scale != 0.0 {
            simd::axpy(row, self_scale, &x[i * f..(i + 1) * f]);
        }
    });
    out
}

/// GAT attention coefficients: `α[p, k] = softmax over in(i) of
/// LeakyReLU(s_src[nbr(p), k] + s_dst[i, k])` for every head `k`; `s_src`,
/// `s_dst` are `[n, h]`, the output `[E, h]` in CSR order.
pub fn gat_attention(ptr: &[usize], nbr: &[usize], s_src: &[f32], s_dst: &[f32], h: usize, slope: f32) -> Vec<f32> {
    let leaky = |v: f32| if v > 0.0 { v } else { v * slope };
    let mut out = vec![0f32; ptr.last().copied().unwrap_or(0) * h];
    for_each_segment(&mut out, ptr, h, 64, |i, o| {
        let src = &nbr[ptr[i]..ptr[i + 1]];
        softmax_block(o, h, |q, k| leaky(s_src[src[q] * h + k] + s_dst[i * h + k]));
    });
    out
}

simd::dispatch! {
    /// `o[r, k] = <x[r, k*c..(k+1)*c], a[k*c..(k+1)*c]>` for the rows of `o`.
    fn head_dot_block(o: &mut [f32], x: &[f32], a: &[f32], h: usize, c: usize) {
        let f = h * c;
        for (r, orow) in o.chunks_mut(h).enumerate() {
            let xr = &x[r * f..(r + 1) * f];
            for k in 0..h {
                let mut acc = 0f32;
                for (u, v) in xr[k * c..(k + 1) * c].iter().zip(&a[k * c..(k + 1) * c]) {
                    acc += u * v;
                }
                orow[k] = acc;
            }
        }
    }
}

/// Per-head dot products `out[r, k] = <x[r, k*c..(k+1)*c], a[k*c..(k+1)*c]>`
/// of `n` rows of `x [n, h*c]` (GAT's attention scores).
pub fn head_dot(x: &[f32], n: usize, a: &[f32], h: usize, c: usize) -> Vec<f32> {
    const BLOCK: usize = 256;
    let f = h * c;
    let mut out = vec![0f32; n * h];
    for_each_block(&mut out, BLOCK * h, |b, o| head_dot_block(o, &x[b * BLOCK * f..], a, h, c));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0 -> 1, 2 -> 1, 1 -> 0: in-edges of node 1 are from 0 and 2.
    fn tiny() -> (Vec<usize>, Vec<usize>) {
        (vec![0, 1, 3, 3], vec![1, 0, 2])
    }

    #[test]
    fn propagate_by_hand() {
        let (ptr, nbr) = tiny();
        let h = [1.0, 2.0, 3.0];
        let out = propagate(&ptr, &nbr, Some(&[0.5, 1.0, -2.0]), &h, 1, Some(&[10.0, 20.0, 30.0]), Some(&[0.25]), false);
        assert_eq!(out, vec![10.0 + 0.5 * 2.0 + 0.25, 20.0 + 1.0 - 6.0 + 0.25, 30.25]);
        let relu = propagate(&ptr, &nbr, Some(&[0.5, 1.0, -2.0]), &h, 1, None, None, true);
        assert_eq!(relu, vec![1.0, 0.0, 0.0]);
    }

    #[test]
    fn spmm_heads_and_self_term() {
        let (ptr, nbr) = tiny();
        // two heads of one channel each
        let x = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
        let w = [1.0, 0.0, 0.5, 2.0, 1.0, 1.0];
        let out = spmm(&ptr, &nbr, None, Some(&w), 2, &x, 2, 1.0);
        assert_eq!(out, vec![2.0 + 1.0, 0.0 + 10.0, 0.5 + 3.0 + 2.0, 20.0 + 30.0 + 20.0, 3.0, 30.0]);
    }

    #[test]
    fn gat_attention_sums_to_one_per_node() {
        let (ptr, nbr) = tiny();
        let a = gat_attention(&ptr, &nbr, &[0.1, -0.4, 2.0], &[0.0, 0.3, 0.0], 1, 0.2);
        assert_eq!(a[0], 1.0);
        assert!((a[1] + a[2] - 1.0).abs() < 1e-6);
        // scores: 0.1 + 0.3 = 0.4 and 2.0 + 0.3 = 2.3
        let want = 1.0 / (1.0 + (2.3f32 - 0.4).exp());
        assert!((a[1] - want).abs() < 1e-6);
    }

    #[test]
    fn head_dot_by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        assert_eq!(head_dot(&x, 2, &[1.0, 1.0, 0.0, 2.0], 2, 2), vec![3.0, 8.0, 11.0, 16.0]);
    }
}
