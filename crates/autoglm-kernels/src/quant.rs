//! Int8 products with i32 accumulation.
//!
//! Weights are quantised per output channel, symmetrically:
//! `q[o, k] = round(w[o, k] / s_o)` with `s_o = max_k |w[o, k]| / 127`.
//! Activations are quantised per tensor with a scale calibrated on training
//! data (`s_x = max |x| / 127` over the calibration set, values beyond it
//! clamped), or per row from the row itself ([`ActScale::PerRow`], for input
//! features). A product is then `y[r, o] = s_x s_o Σ_k q_x[r, k] q[o, k] + b_o`,
//! the sum taken exactly in i32.
//!
//! Two kernels compute the i32 sums: on x86-64 CPUs with AVX-512 VNNI
//! (checked at run time), `vpdpbusd` multiplies 64 unsigned by signed bytes
//! per instruction; it needs the activations unsigned, so they are offset by
//! 128 and `128 Σ_k q[o, k]` subtracted afterwards (exact). Elsewhere a
//! portable loop (vectorised for AVX2 through [`crate::simd::dispatch`]).
//! Both give the same i32 sums, hence the same bits.

use crate::par::{for_each_block, min_rows};

/// Largest magnitude of a quantised value (symmetric: −127..=127).
pub const QMAX: f32 = 127.0;

/// Int8 weights of a linear map `[out_dim, in_dim]`, per output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct QWeights {
    pub out_dim: usize,
    pub in_dim: usize,
    /// `[out_dim, in_dim]`, row-major (the stored form).
    pub q: Vec<i8>,
    /// Scale of each output channel.
    pub scale: Vec<f32>,
    /// `Σ_k q[o, k]` (the correction for offset activations).
    sums: Vec<i32>,
    /// `q` transposed, `[in_dim, out_dim]` (rows gathered by sparse inputs).
    qt: Vec<i8>,
    /// VNNI layout: `[kp / 4][op][4]`, `kp` = `in_dim` rounded up to 4, `op`
    /// = `out_dim` rounded up to 16, padding zero.
    packed: Vec<i8>,
    kp: usize,
    op: usize,
}

/// The scale of a quantised tensor whose largest magnitude is `max_abs`.
pub fn scale_for(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / QMAX
    } else {
        1.0
    }
}

/// `round(v / scale)` clamped to −127..=127.
#[inline]
pub fn quantize_value(v: f32, inv_scale: f32) -> i8 {
    // ties to even, as the vector kernels round; NaN maps to −127 as `max` does there
    let x = (v * inv_scale).round_ties_even();
    if x.is_nan() {
        return -127;
    }
    x.clamp(-QMAX, QMAX) as i8
}

impl QWeights {
    /// Quantise `w [out_dim, in_dim]`.
    pub fn quantize(w: &[f32], out_dim: usize, in_dim: usize) -> QWeights {
        assert_eq!(w.len(), out_dim * in_dim, "QWeights::quantize: weight size");
        let mut q = vec![0i8; w.len()];
        let mut scale = vec![1f32; out_dim];
        for o in 0..out_dim {
            let row = &w[o * in_dim..(o + 1) * in_dim];
            let s = scale_for(row.iter().fold(0f32, |m, v| m.max(v.abs())));
            scale[o] = s;
            for (d, &v) in q[o * in_dim..(o + 1) * in_dim].iter_mut().zip(row) {
                *d = quantize_value(v, 1.0 / s);
            }
        }
        QWeights::from_parts(q, scale, out_dim, in_dim).expect("sizes match by construction")
    }

    /// Weights from their stored form (as read from a file).
    ///
    /// # Errors
    /// A message when the sizes disagree or a scale is not positive and finite.
    pub fn from_parts(q: Vec<i8>, scale: Vec<f32>, out_dim: usize, in_dim: usize) -> Result<QWeights, String> {
        if q.len() != out_dim * in_dim || scale.len() != out_dim {
            return Err(format!("int8 weights of {} values and {} scales for a [{out_dim}, {in_dim}] map", q.len(), scale.len()));
        }
        if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("int8 weight scale {s} is not a positive finite number"));
        }
        let sums = (0..out_dim).map(|o| q[o * in_dim..(o + 1) * in_dim].iter().map(|&v| v as i32).sum()).collect();
        let mut qt = vec![0i8; q.len()];
        for o in 0..out_dim {
            for k in 0..in_dim {
                qt[k * out_dim + o] = q[o * in_dim + k];
            }
        }
        let (kp, op) = (in_dim.div_ceil(4) * 4, out_dim.div_ceil(16) * 16);
        let mut packed = vec![0i8; kp * op];
        for o in 0..out_dim {
            for k in 0..in_dim {
                packed[((k / 4) * op + o) * 4 + k % 4] = q[o * in_dim + k];
            }
        }
        Ok(QWeights { out_dim, in_dim, q, scale, sums, qt, packed, kp, op })
    }

    /// The float weights these stand for, `[out_dim, in_dim]`.
    pub fn dequantize(&self) -> Vec<f32> {
        let k = self.in_dim;
        self.q.iter().enumerate().map(|(i, &v)| v as f32 * self.scale[i / k.max(1)]).collect()
    }
}

/// How the activations entering a product are quantised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActScale {
    /// One scale for the whole tensor (calibrated).
    Static(f32),
    /// Each row from its own largest magnitude (input features).
    PerRow,
}

fn row_scale(row: &[f32], act: ActScale) -> f32 {
    match act {
        ActScale::Static(s) => s,
        ActScale::PerRow => scale_for(max_abs(row)),
    }
}

crate::simd::dispatch! {
    /// `max |x|` (0 for an empty slice).
    fn max_abs(x: &[f32]) -> f32 {
        x.iter().fold(0f32, |m, v| m.max(v.abs()))
    }
}

crate::simd::dispatch! {
    /// `dst = quantize(x)`, signed.
    fn quantize_i8(dst: &mut [i8], x: &[f32], inv: f32) {
        for (d, &v) in dst.iter_mut().zip(x) {
            *d = quantize_value(v, inv);
        }
    }
}

crate::simd::dispatch! {
    /// `y[j] = (acc[j] − off · sums[j]) · s · scale[j] + b[j]`.
    fn dequantize_row(y: &mut [f32], acc: &[i32], sums: &[i32], off: i32, s: f32, scale: &[f32], bias: Option<&[f32]>) {
        let n = y.len();
        let (acc, sums, scale) = (&acc[..n], &sums[..n], &scale[..n]);
        for (((v, &a), &m), &c) in y.iter_mut().zip(acc).zip(sums).zip(scale) {
            *v = (a - off * m) as f32 * (s * c);
        }
        if let Some(b) = bias {
            for (v, &c) in y.iter_mut().zip(&b[..n]) {
                *v += c;
            }
        }
    }
}

crate::simd::dispatch! {
    /// `acc = Σ_p quantize(val[p]) · qt[col[p], ..]` over one CSR row. A
    /// row whose entries are all equal (binary or row-normalised bag-of-words
    /// features) sums the selected weight rows in i16, 258 at a time (258 ·
    /// 127 fits), and multiplies once: the same integers, fewer operations.
    fn csr_row(acc: &mut [i32], acc16: &mut [i16], col: &[usize], val: &[f32], inv: f32, qt: &[i8]) {
        let o = acc.len();
        acc.fill(0);
        if let Some(&v0) = val.first() {
            if val.iter().all(|&v| v == v0) {
                let q = quantize_value(v0, inv) as i32;
                for chunk in col.chunks(258) {
                    acc16.fill(0);
                    for &c in chunk {
                        for (a, &w) in acc16.iter_mut().zip(&qt[c * o..(c + 1) * o]) {
                            *a += w as i16;
                        }
                    }
                    for (a, &s) in acc.iter_mut().zip(acc16.iter()) {
                        *a += q * s as i32;
                    }
                }
                return;
            }
        }
        for (&c, &v) in col.iter().zip(val) {
            let q = quantize_value(v, inv) as i16;
            for (a, &w) in acc.iter_mut().zip(&qt[c * o..(c + 1) * o]) {
                *a += (q * w as i16) as i32;
            }
        }
    }
}

/// Whether the VNNI kernel may run.
pub fn has_vnni() -> bool {
    use std::sync::OnceLock;
    static VNNI: OnceLock<bool> = OnceLock::new();
    *VNNI.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

static FORCE_PORTABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Use the portable kernel even where VNNI is available (tests compare the two).
pub fn force_portable(yes: bool) {
    FORCE_PORTABLE.store(yes, std::sync::atomic::Ordering::Relaxed);
}

fn use_vnni() -> bool {
    has_vnni() && !FORCE_PORTABLE.load(std::sync::atomic::Ordering::Relaxed)
}

crate::simd::dispatch! {
    /// `acc[o] = Σ_k x[k] q[o, k]` for one row.
    fn dot_rows_portable(acc: &mut [i32], x: &[i8], q: &[i8], k: usize) {
        for (o, a) in acc.iter_mut().enumerate() {
            let w = &q[o * k..(o + 1) * k];
            let mut s = 0i32;
            for (&u, &v) in x.iter().zip(w) {
                s += u as i32 * v as i32;
            }
            *a = s;
        }
    }
}

/// Quantise one row into `xu` (offset by 128, AVX-512: 16 values per step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn quantize_u8_offset_512(xu: &mut [u8], x: &[f32], inv: f32) {
    use std::arch::x86_64::*;
    let (vi, lo, hi, off) = (_mm512_set1_ps(inv), _mm512_set1_ps(-QMAX), _mm512_set1_ps(QMAX), _mm512_set1_epi32(128));
    let k = x.len();
    let mut i = 0;
    while i + 16 <= k {
        // SAFETY: i + 16 <= k <= xu.len().
        let v = unsafe { _mm512_loadu_ps(x.as_ptr().add(i)) };
        let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(v, vi));
        // max(NaN, lo) is lo: NaN maps to −127, as in `quantize_value`
        let c = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
        let q = _mm512_add_epi32(_mm512_cvtps_epi32(c), off);
        unsafe { _mm_storeu_si128(xu.as_mut_ptr().add(i) as *mut __m128i, _mm512_cvtepi32_epi8(q)) };
        i += 16;
    }
    for j in i..k {
        xu[j] = (quantize_value(x[j], inv) as i16 + 128) as u8;
    }
}

/// Rows `R` × `NB` blocks of 16 outputs starting at `ob`: `acc[r * op + o]
/// = Σ_k xu[r * kp + k] · q[o, k]`. Each weight block is loaded once for the
/// `R` rows, and the `R · NB` accumulators are independent, which hides
/// `vpdpbusd`'s latency.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni_tile<const R: usize, const NB: usize>(xu: &[u8], kp: usize, packed: &[i8], op: usize, ob: usize, acc: &mut [i32]) {
    use std::arch::x86_64::*;
    let mut a = [[_mm512_setzero_si512(); NB]; R];
    let xp = xu.as_ptr();
    for k4 in 0..kp / 4 {
        // SAFETY: the weight blocks (k4, ob + 16 j) lie inside `packed` ([kp / 4][op][4]).
        let base = unsafe { packed.as_ptr().add((k4 * op + ob) * 4) };
        let w: [__m512i; NB] = std::array::from_fn(|j| unsafe { _mm512_loadu_si512(base.add(64 * j) as *const _) });
        for (r, ar) in a.iter_mut().enumerate() {
            // SAFETY: r * kp + 4 k4 + 4 <= R * kp = xu.len().
            let xv = _mm512_set1_epi32(unsafe { (xp.add(r * kp + 4 * k4) as *const i32).read_unaligned() });
            for (aj, wj) in ar.iter_mut().zip(&w) {
                *aj = _mm512_dpbusd_epi32(*aj, xv, *wj);
            }
        }
    }
    for (r, ar) in a.iter().enumerate() {
        for (j, aj) in ar.iter().enumerate() {
            // SAFETY: acc holds R * op entries and ob + 16 NB <= op.
            unsafe { _mm512_storeu_si512(acc.as_mut_ptr().add(r * op + ob + 16 * j) as *mut _, *aj) };
        }
    }
}

/// `acc[r * op + o]` for the `R` rows of `xu` (`R * kp` offset bytes).
#[cfg(target_arch = "x86_64")]
fn dot_rows_vnni<const R: usize>(acc: &mut [i32], xu: &[u8], w: &QWeights) {
    let mut ob = 0;
    while ob < w.op {
        let left = ((w.op - ob) / 16).min(4);
        // SAFETY: `use_vnni` checked the CPU; sizes as documented on `vnni_tile`.
        unsafe {
            match left {
                1 => vnni_tile::<R, 1>(xu, w.kp, &w.packed, w.op, ob, acc),
                2 => vnni_tile::<R, 2>(xu, w.kp, &w.packed, w.op, ob, acc),
                3 => vnni_tile::<R, 3>(xu, w.kp, &w.packed, w.op, ob, acc),
                _ => vnni_tile::<R, 4>(xu, w.kp, &w.packed, w.op, ob, acc),
            }
        }
        ob += 16 * left;
    }
}

/// `y = dequant(quant(x) · W_qᵀ) + b` for `x [n, in_dim]`: the activations
/// quantised as `act` says, the products in i32, the result in f32.
pub fn qlinear(x: &[f32], n: usize, act: ActScale, w: &QWeights, bias: Option<&[f32]>) -> Vec<f32> {
    let (k, o) = (w.in_dim, w.out_dim);
    debug_assert_eq!(x.len(), n * k);
    let mut y = vec![0f32; n * o];
    if o == 0 {
        return y;
    }
    const BLOCK: usize = 64;
    let vnni = use_vnni();
    for_each_block(&mut y, BLOCK * o, |b, yb| {
        let r0 = b * BLOCK;
        #[cfg(target_arch = "x86_64")]
        if vnni {
            const TILE: usize = 4;
            let rows = yb.len() / o;
            let mut acc = vec![0i32; TILE * w.op];
            let mut xu = vec![128u8; TILE * w.kp];
            let mut scales = [1f32; TILE];
            for t0 in (0..rows).step_by(TILE) {
                let tr = TILE.min(rows - t0);
                for r in 0..tr {
                    let xr = &x[(r0 + t0 + r) * k..(r0 + t0 + r + 1) * k];
                    scales[r] = row_scale(xr, act);
                    // SAFETY: `use_vnni` checked the CPU.
                    unsafe { quantize_u8_offset_512(&mut xu[r * w.kp..r * w.kp + k], xr, 1.0 / scales[r]) };
                }
                match tr {
                    4 => dot_rows_vnni::<4>(&mut acc, &xu, w),
                    _ => (0..tr).for_each(|r| dot_rows_vnni::<1>(&mut acc[r * w.op..(r + 1) * w.op], &xu[r * w.kp..(r + 1) * w.kp], w)),
                }
                for r in 0..tr {
                    dequantize_row(&mut yb[(t0 + r) * o..(t0 + r + 1) * o], &acc[r * w.op..r * w.op + o], &w.sums, 128, scales[r], &w.scale, bias);
                }
            }
            return;
        }
        let _ = vnni;
        let mut acc = vec![0i32; o];
        let mut xq = vec![0i8; k];
        for (rr, yr) in yb.chunks_mut(o).enumerate() {
            let xr = &x[(r0 + rr) * k..(r0 + rr + 1) * k];
            let s = row_scale(xr, act);
            quantize_i8(&mut xq, xr, 1.0 / s);
            dot_rows_portable(&mut acc, &xq, &w.q, k);
            dequantize_row(yr, &acc, &w.sums, 0, s, &w.scale, bias);
        }
    });
    y
}

/// `y = dequant(quant(X) · W_qᵀ) + b` for a CSR input `X` (`ptr`, `col`,
/// `val`), every row quantised with its own scale: the rows of `W_qᵀ` the
/// row's entries select are summed exactly (each product fits in i16, the
/// sums in i32).
pub fn qlinear_csr(ptr: &[usize], col: &[usize], val: &[f32], w: &QWeights, bias: Option<&[f32]>) -> Vec<f32> {
    let o = w.out_dim;
    let n = ptr.len().saturating_sub(1);
    let mut y = vec![0f32; n * o];
    if o == 0 {
        return y;
    }
    let rows = min_rows(o * 8);
    for_each_block(&mut y, rows * o, |b, yb| {
        let (mut acc, mut acc16) = (vec![0i32; o], vec![0i16; o]);
        for (rr, yr) in yb.chunks_mut(o).enumerate() {
            let r = b * rows + rr;
            let (lo, hi) = (ptr[r], ptr[r + 1]);
            let s = scale_for(max_abs(&val[lo..hi]));
            csr_row(&mut acc, &mut acc16, &col[lo..hi], &val[lo..hi], 1.0 / s, &w.qt);
            dequantize_row(yr, &acc, &w.sums, 0, s, &w.scale, bias);
        }
    });
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::linear;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn weights_round_trip_within_half_a_step() {
        let w = pseudo(5 * 7, 1);
        let q = QWeights::quantize(&w, 5, 7);
        let d = q.dequantize();
        for o in 0..5 {
            for k in 0..7 {
                assert!((d[o * 7 + k] - w[o * 7 + k]).abs() <= 0.5 * q.scale[o] + 1e-7);
            }
            // the largest weight of each channel maps to ±127 exactly
            assert_eq!(q.q[o * 7..(o + 1) * 7].iter().map(|v| v.unsigned_abs()).max(), Some(127));
        }
        assert!(QWeights::from_parts(vec![0; 3], vec![1.0], 1, 2).is_err());
        assert!(QWeights::from_parts(vec![0; 2], vec![0.0], 1, 2).is_err());
    }

    /// Exactly representable inputs give exactly the float product; other
    /// inputs stay within the quantisation error bound; VNNI and portable
    /// kernels give the same bits (odd sizes exercise the padding).
    #[test]
    fn qlinear_matches_the_float_product() {
        for (n, k, o) in [(3, 5, 2), (70, 37, 19), (5, 64, 64), (2, 130, 70)] {
            let w = pseudo(o * k, 2);
            let qw = QWeights::quantize(&w, o, k);
            let wd = qw.dequantize();
            let b = pseudo(o, 3);
            // integer multiples of 1/127: exact in int8 with scale 1/127
            let xi: Vec<f32> = pseudo(n * k, 4).iter().map(|v| (v * 127.0).round() / 127.0).collect();
            let exact = linear(&xi, n, k, &wd, o, Some(&b));
            let got = qlinear(&xi, n, ActScale::Static(1.0 / 127.0), &qw, Some(&b));
            for (g, e) in got.iter().zip(&exact) {
                assert!((g - e).abs() < 1e-4, "{n}x{k}x{o}: {g} vs {e}");
            }
            let x = pseudo(n * k, 5);
            let float = linear(&x, n, k, &w, o, Some(&b));
            for act in [ActScale::PerRow, ActScale::Static(1.0 / 127.0)] {
                let got = qlinear(&x, n, act, &qw, Some(&b));
                force_portable(true);
                let portable = qlinear(&x, n, act, &qw, Some(&b));
                force_portable(false);
                assert_eq!(got, portable, "VNNI and portable kernels differ");
                for (r, (g, f)) in got.chunks(o).zip(float.chunks(o)).enumerate() {
                    let sx = row_scale(&x[r * k..(r + 1) * k], act);
                    for j in 0..o {
                        // |Δ| <= Σ_k (|x| δw + |w| δx + δx δw), δ half a step
                        let bound: f32 = (0..k).map(|i| x[r * k + i].abs() * 0.5 * qw.scale[j] + w[j * k + i].abs() * 0.5 * sx + 0.25 * sx * qw.scale[j]).sum();
                        assert!((g[j] - f[j]).abs() <= bound + 1e-5, "{act:?}: {} vs {} (bound {bound})", g[j], f[j]);
                    }
                }
            }
            // CSR input: the same as the dense per-row product of its dense form
            let dense: Vec<f32> = x.iter().enumerate().map(|(i, &v)| if i % 3 == 0 { v } else { 0.0 }).collect();
            let (mut ptr, mut col, mut val) = (vec![0], vec![], vec![]);
            for r in 0..n {
                for c in 0..k {
                    if dense[r * k + c] != 0.0 {
                        col.push(c);
                        val.push(dense[r * k + c]);
                    }
                }
                ptr.push(col.len());
            }
            let a = qlinear_csr(&ptr, &col, &val, &qw, Some(&b));
            let d = qlinear(&dense, n, ActScale::PerRow, &qw, Some(&b));
            for (u, v) in a.iter().zip(&d) {
                assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "{u} vs {v}");
            }
        }
    }
}
