//! Dense f32 products: `dst = lhs · rhs` for strided operands (the `gemm`
//! crate with the `gemm` feature, else a portable blocked loop), the affine
//! map `x Wᵀ + b`, and a CSR matrix times a dense one.

use crate::par::{for_each_row, min_rows};
use crate::simd;

/// Products with fewer multiply-adds than this run on one thread.
#[cfg(feature = "gemm")]
const PARALLEL_MIN_MNK: usize = 1 << 21;

/// `dst = lhs · rhs` (or `dst += lhs · rhs` with `accumulate`) for a row-major
/// contiguous `dst [m, n]` and strided `lhs [m, k]`, `rhs [k, n]` (element
/// `(i, j)` of a strided operand at `i * rs + j * cs`). Runs on the current rayon
/// pool; the split of the output among threads is fixed by the sizes and thread
/// count, so results are deterministic for a given thread count.
///
/// # Panics
/// When a slice is shorter than its sizes and strides address.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(dst.len() >= m * n, "gemm: destination too short");
    assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs, "gemm: lhs too short");
    assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs, "gemm: rhs too short");
    #[cfg(feature = "gemm")]
    {
        // Small products run on the calling thread: splitting them costs more than
        // it saves (a Cora GCN's [2708, 16] x [16, 7] output layer).
        let threads = crate::par::threads();
        let par = if threads > 1 && m * n * k >= PARALLEL_MIN_MNK { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
        // SAFETY: the asserts above bound every element the strides address.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                lhs.as_ptr(),
                lhs_cs as isize,
                lhs_rs as isize,
                rhs.as_ptr(),
                rhs_cs as isize,
                rhs_rs as isize,
                if accumulate { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                par,
            );
        }
    }
    #[cfg(not(feature = "gemm"))]
    for_each_row(&mut dst[..m * n], n, min_rows(n * k), |i, row| {
        if !accumulate {
            row.fill(0.0);
        }
        for p in 0..k {
            let a = lhs[i * lhs_rs + p * lhs_cs];
            if rhs_cs == 1 {
                simd::axpy(row, a, &rhs[p * rhs_rs..p * rhs_rs + n]);
            } else {
                for (j, o) in row.iter_mut().enumerate() {
                    *o += a * rhs[p * rhs_rs + j * rhs_cs];
                }
            }
        }
    });
}

/// `b` repeated `rows` times: the starting value of `x Wᵀ + b` accumulated by [`gemm_f32`].
pub fn bias_rows(b: &[f32], rows: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(rows * b.len());
    for _ in 0..rows {
        y.extend_from_slice(b);
    }
    y
}

/// The affine map `y = x Wᵀ + b` for `x [n, k]`, `w [o, k]` (PyTorch's
/// layout), `b [o]`.
pub fn linear(x: &[f32], n: usize, k: usize, w: &[f32], o: usize, b: Option<&[f32]>) -> Vec<f32> {
    let mut y = match b {
        Some(b) => bias_rows(b, n),
        None => vec![0f32; n * o],
    };
    gemm_f32(n, o, k, &mut y, b.is_some(), x, k, 1, w, 1, k);
    y
}

/// `X · W` for a CSR `X` (`rows` rows; `ptr`, `col`, `val`) and a dense
/// row-major `W [*, n]`.
pub fn csr_times_dense(ptr: &[usize], col: &[usize], val: &[f32], w: &[f32], n: usize) -> Vec<f32> {
    let rows = ptr.len().saturating_sub(1);
    let mut out = vec![0f32; rows * n];
    for_each_row(&mut out, n, min_rows(n), |r, o| {
        for k in ptr[r]..ptr[r + 1] {
            let c = col[k];
            simd::axpy(o, val[k], &w[c * n..(c + 1) * n]);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_sparse_by_hand() {
        // x [2, 3], w [2, 3]
        let x = [1.0, 2.0, 3.0, -1.0, 0.0, 1.0];
        let w = [1.0, 0.0, 0.0, 0.5, 0.5, 0.5];
        assert_eq!(linear(&x, 2, 3, &w, 2, Some(&[1.0, -1.0])), vec![2.0, 2.0, 0.0, -1.0]);
        assert_eq!(linear(&x, 2, 3, &w, 2, None), vec![1.0, 3.0, -1.0, 0.0]);
        // X = [[0, 2, 0], [1, 0, 1]] times W [3, 2]
        let wt = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(csr_times_dense(&[0, 1, 3], &[1, 0, 2], &[2.0, 1.0, 1.0], &wt, 2), vec![6.0, 8.0, 6.0, 8.0]);
    }
}
