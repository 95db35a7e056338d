//! The softmax over one segment of rows, column by column: what GAT
//! attention, the segmented softmax and attention pooling all run on each
//! segment, so they share one summation order.

/// Softmax down every column of one segment's block `o` (`rows × h`,
/// row-major), of the scores `score(r, k)` of row `r`, column `k`:
/// `o[r, k] = exp(score(r, k) − m_k) / Σ_r' exp(score(r', k) − m_k)` with `m_k`
/// the column's maximum. Per column: one pass writing the scores and taking
/// their maximum, one writing the exponentials and summing them in row order,
/// one dividing by the sum.
#[inline]
pub fn softmax_block(o: &mut [f32], h: usize, score: impl Fn(usize, usize) -> f32) {
    let rows = o.len().checked_div(h).unwrap_or(0);
    for k in 0..h {
        let mut m = f32::NEG_INFINITY;
        for r in 0..rows {
            let v = score(r, k);
            o[r * h + k] = v;
            m = m.max(v);
        }
        let mut sum = 0f32;
        for r in 0..rows {
            let v = (o[r * h + k] - m).exp();
            o[r * h + k] = v;
            sum += v;
        }
        for r in 0..rows {
            o[r * h + k] /= sum;
        }
    }
}

/// The backward of [`softmax_block`] on one segment: from its output `y` and
/// the gradient `g` of that output (both `rows × h`), writes
/// `post(r, k, y[r, k] (g[r, k] − Σ_r' y[r', k] g[r', k]))` into `o`, the sum
/// taken in row order. `post` lets a fused caller apply the derivative of what
/// produced the scores (the identity for a plain softmax).
#[inline]
pub fn softmax_block_bwd(o: &mut [f32], y: &[f32], g: &[f32], h: usize, post: impl Fn(usize, usize, f32) -> f32) {
    let rows = o.len().checked_div(h).unwrap_or(0);
    for k in 0..h {
        let mut dot = 0f32;
        for r in 0..rows {
            dot += y[r * h + k] * g[r * h + k];
        }
        for r in 0..rows {
            let e = r * h + k;
            o[e] = post(r, k, y[e] * (g[e] - dot));
        }
    }
}
