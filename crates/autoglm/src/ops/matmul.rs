//! Products of a constant input with a weight matrix: only the weight gets a
//! gradient (candle's own matmul would also build `∂L/∂X`, a full
//! `[num_nodes, in_dim]` product thrown away every epoch).

use super::{dims2, f32_slice, prep};
use crate::graph::CsrMatrix;
use crate::rng::{GlmRng, Rng};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use std::sync::Arc;

/// A constant sparse input (CSR) with its cached transpose.
#[derive(Debug, Clone)]
pub struct SparseInput {
    x: Arc<CsrMatrix>,
    xt: Arc<CsrMatrix>,
}

impl SparseInput {
    /// Wrap a CSR matrix.
    pub fn new(x: CsrMatrix) -> SparseInput {
        let xt = x.transpose();
        SparseInput { x: Arc::new(x), xt: Arc::new(xt) }
    }
    /// The matrix.
    pub fn matrix(&self) -> &CsrMatrix {
        &self.x
    }
    /// Rows.
    pub fn num_rows(&self) -> usize {
        self.x.num_rows
    }
    /// Columns.
    pub fn num_cols(&self) -> usize {
        self.x.num_cols
    }
    /// Inverted dropout on the stored entries (zeros stay zero, so this equals
    /// dense dropout on the dense matrix, at the cost of `nnz` draws).
    pub fn dropout(&self, p: f64, rng: &mut GlmRng) -> SparseInput {
        if p <= 0.0 {
            return self.clone();
        }
        let scale = (1.0 / (1.0 - p)) as f32;
        let mut m = (*self.x).clone();
        for v in &mut m.values {
            *v = if rng.gen::<f64>() < p { 0.0 } else { *v * scale };
        }
        SparseInput::new(m)
    }
    /// Dense `[rows, cols]` tensor.
    pub fn to_dense(&self) -> Result<Tensor> {
        Tensor::from_vec(self.x.to_dense(), (self.x.num_rows, self.x.num_cols), &candle_core::Device::Cpu)
    }
}

fn csr_times_dense(x: &CsrMatrix, w: &[f32], n: usize) -> Vec<f32> {
    autoglm_kernels::dense::csr_times_dense(&x.row_ptr, &x.col_idx, &x.values, w, n)
}

struct SparseMatmul {
    x: Arc<CsrMatrix>,
    xt: Arc<CsrMatrix>,
}

impl CustomOp1 for SparseMatmul {
    fn name(&self) -> &'static str {
        "sparse-matmul"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let w = f32_slice(s, l, "sparse_matmul")?;
        let n = dims2(l, self.x.num_cols, "sparse_matmul", "weight [in_dim, out_dim]")?;
        Ok((CpuStorage::F32(csr_times_dense(&self.x, w, n)), Shape::from((self.x.num_rows, n))))
    }
    fn bwd(&self, _w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = SparseMatmul { x: self.xt.clone(), xt: self.x.clone() };
        Ok(Some(prep(grad)?.apply_op1_no_bwd(&op)?))
    }
}

/// `X W` for a constant sparse `X` `[N, in_dim]` and a weight `W` `[in_dim, out_dim]`;
/// only `W` gets a gradient (`Xᵀ ∂L/∂out`, via the cached transpose).
pub fn sparse_matmul(x: &SparseInput, w: &Tensor) -> Result<Tensor> {
    prep(w)?.apply_op1(SparseMatmul { x: x.x.clone(), xt: x.xt.clone() })
}

struct ConstMatmul {
    x: Tensor,
}

impl CustomOp1 for ConstMatmul {
    fn name(&self) -> &'static str {
        "const-matmul"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let w = f32_slice(s, l, "const_matmul")?;
        let (m, k) = self.x.dims2()?;
        let n = dims2(l, k, "const_matmul", "weight [in_dim, out_dim]")?;
        let (xs, xl) = self.x.storage_and_layout();
        let x = match &*xs {
            candle_core::Storage::Cpu(c) => f32_slice(c, xl, "const_matmul")?,
            _ => candle_core::bail!("const_matmul: only the CPU is supported"),
        };
        let mut out = vec![0f32; m * n];
        if m > 0 && n > 0 && k > 0 {
            // SAFETY: the pointers cover m*k, k*n and m*n contiguous row-major f32 values.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    w.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(rayon::current_num_threads()),
                );
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
    fn bwd(&self, _w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.x.t()?.matmul(grad)?))
    }
}

/// `X W` for a constant dense `X` `[N, in_dim]` (input features); only `W` gets a gradient.
pub fn const_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let x = prep(&x.detach())?;
    prep(w)?.apply_op1(ConstMatmul { x })
}
