//! A plain CSR sparse matrix of `f32` values (node features such as Cora's
//! bag-of-words rows). No tensors here: `ops::sparse_input` turns it into a
//! differentiable projection.

use crate::{Error, Result};

/// A `num_rows x num_cols` sparse matrix in CSR form.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    pub num_rows: usize,
    pub num_cols: usize,
    /// Row `r` holds entries `row_ptr[r]..row_ptr[r+1]`.
    pub row_ptr: Vec<usize>,
    /// Column of each entry, ascending within a row.
    pub col_idx: Vec<usize>,
    /// Value of each entry.
    pub values: Vec<f32>,
}

impl CsrMatrix {
    /// Build and validate.
    pub fn new(num_rows: usize, num_cols: usize, row_ptr: Vec<usize>, col_idx: Vec<usize>, values: Vec<f32>) -> Result<CsrMatrix> {
        if row_ptr.len() != num_rows + 1 {
            return Err(Error::inconsistent("CSR row_ptr length (num_rows + 1)", num_rows + 1, row_ptr.len()));
        }
        if col_idx.len() != values.len() || row_ptr[num_rows] != col_idx.len() {
            return Err(Error::inconsistent("CSR number of entries", row_ptr[num_rows], format!("{} columns / {} values", col_idx.len(), values.len())));
        }
        if row_ptr.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::config("CSR row_ptr", "(not monotone)", "row pointers must be non-decreasing"));
        }
        if let Some((k, &c)) = col_idx.iter().enumerate().find(|(_, &c)| c >= num_cols) {
            return Err(Error::IndexOutOfRange { what: format!("CSR entry {k}"), index: c, bound: num_cols, hint: "column ids must be below num_cols".into() });
        }
        Ok(CsrMatrix { num_rows, num_cols, row_ptr, col_idx, values })
    }

    /// From a dense row-major matrix, keeping non-zeros.
    pub fn from_dense(num_rows: usize, num_cols: usize, data: &[f32]) -> CsrMatrix {
        let mut row_ptr = vec![0];
        let mut col_idx = vec![];
        let mut values = vec![];
        for r in 0..num_rows {
            for c in 0..num_cols {
                let v = data[r * num_cols + c];
                if v != 0.0 {
                    col_idx.push(c);
                    values.push(v);
                }
            }
            row_ptr.push(col_idx.len());
        }
        CsrMatrix { num_rows, num_cols, row_ptr, col_idx, values }
    }

    /// The rows `ids` in that order (every id below `num_rows`).
    pub fn select_rows(&self, ids: &[usize]) -> CsrMatrix {
        let mut row_ptr = Vec::with_capacity(ids.len() + 1);
        row_ptr.push(0);
        let (mut col_idx, mut values) = (Vec::new(), Vec::new());
        for &r in ids {
            let range = self.row_ptr[r]..self.row_ptr[r + 1];
            col_idx.extend_from_slice(&self.col_idx[range.clone()]);
            values.extend_from_slice(&self.values[range]);
            row_ptr.push(col_idx.len());
        }
        CsrMatrix { num_rows: ids.len(), num_cols: self.num_cols, row_ptr, col_idx, values }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Dense row-major copy.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.num_rows * self.num_cols];
        for r in 0..self.num_rows {
            for k in self.row_ptr[r]..self.row_ptr[r + 1] {
                out[r * self.num_cols + self.col_idx[k]] += self.values[k];
            }
        }
        out
    }

    /// Scale every row to sum 1 (rows summing to 0 are left alone), as PyG's
    /// `NormalizeFeatures` does.
    pub fn row_normalize(&mut self) {
        for r in 0..self.num_rows {
            let range = self.row_ptr[r]..self.row_ptr[r + 1];
            let s: f32 = self.values[range.clone()].iter().sum();
            if s != 0.0 {
                for v in &mut self.values[range] {
                    *v /= s;
                }
            }
        }
    }

    /// The transpose, in CSR form.
    pub fn transpose(&self) -> CsrMatrix {
        let mut cnt = vec![0usize; self.num_cols + 1];
        for &c in &self.col_idx {
            cnt[c + 1] += 1;
        }
        for c in 0..self.num_cols {
            cnt[c + 1] += cnt[c];
        }
        let mut fill = cnt.clone();
        let mut col_idx = vec![0; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.num_rows {
            for k in self.row_ptr[r]..self.row_ptr[r + 1] {
                let c = self.col_idx[k];
                col_idx[fill[c]] = r;
                values[fill[c]] = self.values[k];
                fill[c] += 1;
            }
        }
        CsrMatrix { num_rows: self.num_cols, num_cols: self.num_rows, row_ptr: cnt, col_idx, values }
    }
}
