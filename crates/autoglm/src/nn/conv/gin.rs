//! Graph isomorphism network layer (Xu et al., ICLR 2019).

use crate::graph::Graph;
use crate::nn::{Ctx, Init, Mlp, MlpConfig, NodeInput, Params};
use crate::ops::spmm_const;
use crate::Result;
use candle_core::Tensor;

/// Configuration of a [`GinConv`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GinConvConfig {
    /// The update MLP `h_Θ`.
    pub mlp: MlpConfig,
    /// Initial ε (default 0).
    pub eps: f64,
    /// Learn ε (default false: GIN-0).
    pub train_eps: bool,
}

impl GinConvConfig {
    /// GIN-0 with the given MLP.
    pub fn new(mlp: MlpConfig) -> Self {
        GinConvConfig { mlp, eps: 0.0, train_eps: false }
    }
    /// Parameters (PyG names): `nn.*` for the MLP and, with `train_eps`, `eps [1]`.
    pub fn init(&self, p: &Params) -> Result<GinConv> {
        let mlp = self.mlp.init(&p.pp("nn"))?;
        let eps = if self.train_eps { Some(p.get("eps", &[1], Init::Const(self.eps as f32))?) } else { None };
        Ok(GinConv { cfg: self.clone(), mlp, eps })
    }
}

/// The GIN layer: `x'_i = h_Θ((1 + ε) x_i + Σ_{j → i} x_j)`.
///
/// Matrix form: `X' = h_Θ((A + (1 + ε) I) X)`. Shapes: `x [num_nodes, in_dim]` →
/// `[num_nodes, mlp.dims.last()]`. Deviations from the paper: none (as PyG `GINConv`).
/// For constant inputs wider than the first hidden layer, the first linear map is
/// applied before the aggregation, which is exact by linearity.
#[derive(Debug, Clone)]
pub struct GinConv {
    cfg: GinConvConfig,
    mlp: Mlp,
    eps: Option<Tensor>,
}

impl GinConv {
    /// Forward pass.
    pub fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let combine = |h: &Tensor| -> Result<Tensor> {
            let agg = spmm_const(g, None, h)?;
            let root = match &self.eps {
                Some(e) => h.broadcast_mul(&(e + 1.0)?)?,
                None => (h * (1.0 + self.cfg.eps))?,
            };
            Ok((agg + root)?)
        };
        match x {
            NodeInput::Hidden(t) => {
                let z = combine(t)?;
                self.mlp.forward(&z, ctx)
            }
            _ => {
                let first = self.mlp.first();
                let h = first.forward_no_bias(x)?;
                let mut z = combine(&h)?;
                if let Some(b) = first.bias() {
                    z = z.broadcast_add(b)?;
                }
                self.mlp.forward_from_first(z, ctx)
            }
        }
    }
}
