//! What a layer consumes: a hidden activation (tracked by autodiff), or the
//! model's constant input features, dense or sparse. Constant inputs take the
//! fast paths in [`crate::ops`] that build no gradient for them.

use crate::ops::{self, SparseInput};
use crate::rng::GlmRng;
use candle_core::{Result, Tensor};

/// Node features entering a layer.
#[derive(Debug, Clone)]
pub enum NodeInput {
    /// An activation computed from parameters (gradients flow through it).
    Hidden(Tensor),
    /// Constant dense input features `[num_nodes, in_dim]`.
    Dense(Tensor),
    /// Constant sparse input features.
    Sparse(SparseInput),
    /// Constant features with some rows replaced by a learnable token (the
    /// `[MASK]` of masked-feature pretraining): gradients reach the token.
    Masked(MaskedInput),
}

/// Constant features `base` whose rows where `rows` is 1 are the learnable
/// `token` instead (`base` holds zeros there). A layer's input projection
/// stays on the constant fast path: `x · W = base · W + rows ⊗ (token · W)`.
#[derive(Debug, Clone)]
pub struct MaskedInput {
    /// The constant part (dense or sparse), zero on the token rows.
    pub base: Box<NodeInput>,
    /// `[num_nodes, 1]`: 1.0 on the rows that take the token, else 0.
    pub rows: Tensor,
    /// `[1, dim]`: the token (a parameter).
    pub token: Tensor,
}

impl MaskedInput {
    /// `x` (dense or sparse constant features) with the rows `masked` replaced
    /// by `token` and, for every `(dst, src)` in `copied`, row `dst` replaced by
    /// row `src` of `x` (GraphMAE's random-replacement share of the mask).
    ///
    /// # Errors
    /// A shape error when `x` is a hidden activation, `token` is not
    /// `[1, x.dim()]`, or a row id is out of range.
    pub fn new(x: &NodeInput, masked: &[usize], copied: &[(usize, usize)], token: &Tensor) -> Result<MaskedInput> {
        let (n, f) = (x.num_rows(), x.dim());
        if token.dims() != [1, f] {
            candle_core::bail!("mask token must be [1, {f}], got {:?}", token.dims());
        }
        if masked.iter().chain(copied.iter().flat_map(|(a, b)| [a, b])).any(|&i| i >= n) {
            candle_core::bail!("masked row id out of range (the input has {n} rows)");
        }
        // Which source row each output row takes (None: the token).
        let mut src: Vec<Option<usize>> = (0..n).map(Some).collect();
        for &(d, s) in copied {
            src[d] = Some(s);
        }
        for &m in masked {
            src[m] = None;
        }
        let base = match x {
            NodeInput::Dense(t) => {
                let v = t.flatten_all()?.to_vec1::<f32>()?;
                let mut out = vec![0f32; n * f];
                for (r, s) in src.iter().enumerate() {
                    if let Some(s) = *s {
                        out[r * f..(r + 1) * f].copy_from_slice(&v[s * f..(s + 1) * f]);
                    }
                }
                NodeInput::Dense(Tensor::from_vec(out, (n, f), t.device())?)
            }
            NodeInput::Sparse(sp) => {
                let m = sp.matrix();
                let (mut row_ptr, mut col_idx, mut values) = (Vec::with_capacity(n + 1), Vec::with_capacity(m.nnz()), Vec::with_capacity(m.nnz()));
                row_ptr.push(0);
                for s in &src {
                    if let Some(s) = *s {
                        col_idx.extend_from_slice(&m.col_idx[m.row_ptr[s]..m.row_ptr[s + 1]]);
                        values.extend_from_slice(&m.values[m.row_ptr[s]..m.row_ptr[s + 1]]);
                    }
                    row_ptr.push(col_idx.len());
                }
                let csr = crate::graph::CsrMatrix::new(n, f, row_ptr, col_idx, values).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                NodeInput::Sparse(SparseInput::new(csr))
            }
            NodeInput::Hidden(_) | NodeInput::Masked(_) => candle_core::bail!("only constant input features can be masked"),
        };
        let mut flags = vec![0f32; n];
        for &m in masked {
            flags[m] = 1.0;
        }
        let rows = Tensor::from_vec(flags, (n, 1), token.device())?;
        Ok(MaskedInput { base: Box::new(base), rows, token: token.clone() })
    }
}

impl From<Tensor> for NodeInput {
    fn from(t: Tensor) -> Self {
        NodeInput::Hidden(t)
    }
}

impl NodeInput {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        match self {
            NodeInput::Hidden(t) | NodeInput::Dense(t) => t.dims().first().copied().unwrap_or(0),
            NodeInput::Sparse(s) => s.num_rows(),
            NodeInput::Masked(m) => m.base.num_rows(),
        }
    }
    /// Feature dimension.
    pub fn dim(&self) -> usize {
        match self {
            NodeInput::Hidden(t) | NodeInput::Dense(t) => t.dims().get(1).copied().unwrap_or(0),
            NodeInput::Sparse(s) => s.num_cols(),
            NodeInput::Masked(m) => m.base.dim(),
        }
    }
    /// A dense tensor (materialising sparse input).
    pub fn to_tensor(&self) -> Result<Tensor> {
        match self {
            NodeInput::Hidden(t) | NodeInput::Dense(t) => Ok(t.clone()),
            NodeInput::Sparse(s) => s.to_dense(),
            NodeInput::Masked(m) => m.base.to_tensor()? + m.rows.broadcast_mul(&m.token)?,
        }
    }
    /// The rows `ids` in that order, keeping the variant (a sampled block's
    /// input features; sparse stays sparse, a hidden activation keeps its gradient).
    ///
    /// # Errors
    /// A row id out of range; masked input (gather its base instead).
    pub fn select_rows(&self, ids: &[usize]) -> Result<NodeInput> {
        let n = self.num_rows();
        if let Some(&bad) = ids.iter().find(|&&i| i >= n) {
            candle_core::bail!("row {bad} selected from an input of {n} rows");
        }
        let idx = || Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), ids.len(), &candle_core::Device::Cpu);
        Ok(match self {
            NodeInput::Hidden(t) => NodeInput::Hidden(t.index_select(&idx()?, 0)?),
            NodeInput::Dense(t) => NodeInput::Dense(t.index_select(&idx()?, 0)?),
            NodeInput::Sparse(s) => NodeInput::Sparse(SparseInput::new(s.matrix().select_rows(ids))),
            NodeInput::Masked(_) => candle_core::bail!("rows of a masked input are not selected: sampled training takes constant features"),
        })
    }
    /// The first `n` rows, keeping the variant (a trimmed layer's destinations).
    ///
    /// # Errors
    /// `n` above the row count; masked input.
    pub fn head_rows(&self, n: usize) -> Result<NodeInput> {
        if n == self.num_rows() {
            return Ok(self.clone());
        }
        Ok(match self {
            NodeInput::Hidden(t) => NodeInput::Hidden(t.narrow(0, 0, n)?),
            NodeInput::Dense(t) => NodeInput::Dense(t.narrow(0, 0, n)?),
            NodeInput::Sparse(_) => self.select_rows(&(0..n).collect::<Vec<_>>())?,
            NodeInput::Masked(_) => candle_core::bail!("rows of a masked input are not selected: sampled training takes constant features"),
        })
    }
    /// Inverted dropout, keeping the variant (sparse stays sparse).
    pub fn dropout(&self, p: f64, rng: &mut GlmRng) -> Result<NodeInput> {
        if p <= 0.0 {
            return Ok(self.clone());
        }
        Ok(match self {
            NodeInput::Hidden(t) => NodeInput::Hidden(ops::dropout(t, p, rng)?),
            NodeInput::Dense(t) => NodeInput::Dense(ops::dropout(t, p, rng)?.detach()),
            NodeInput::Sparse(s) => NodeInput::Sparse(s.dropout(p, rng)),
            // The constant part is dropped; the token rows are kept whole.
            NodeInput::Masked(m) => NodeInput::Masked(MaskedInput { base: Box::new(m.base.dropout(p, rng)?), ..m.clone() }),
        })
    }
    /// `self · W` for `W` `[in_dim, out_dim]`, on the fast path for constant inputs.
    pub fn matmul(&self, w: &Tensor) -> Result<Tensor> {
        match self {
            NodeInput::Hidden(t) => t.matmul(w),
            NodeInput::Dense(t) => ops::const_matmul(t, w),
            NodeInput::Sparse(s) => ops::sparse_matmul(s, w),
            NodeInput::Masked(m) => m.base.matmul(w)? + m.rows.broadcast_mul(&m.token.matmul(w)?)?,
        }
    }
}

/// Per-forward state: training or evaluation mode, and the seeded generator
/// that dropout draws from.
pub struct Ctx {
    /// Training mode (dropout on, batch norm uses batch statistics).
    pub train: bool,
    /// Randomness for this pass.
    pub rng: GlmRng,
}

impl Ctx {
    /// Training mode with a generator.
    pub fn train(rng: GlmRng) -> Ctx {
        Ctx { train: true, rng }
    }
    /// Evaluation mode (deterministic; the generator is unused).
    pub fn eval() -> Ctx {
        Ctx { train: false, rng: crate::rng::seeded(0) }
    }
    /// Dropout that is active only in training mode.
    pub fn dropout(&mut self, x: &Tensor, p: f64) -> Result<Tensor> {
        if self.train {
            ops::dropout(x, p, &mut self.rng)
        } else {
            Ok(x.clone())
        }
    }
    /// [`NodeInput::dropout`] in training mode only.
    pub fn dropout_input(&mut self, x: &NodeInput, p: f64) -> Result<NodeInput> {
        if self.train {
            x.dropout(p, &mut self.rng)
        } else {
            Ok(x.clone())
        }
    }
}
