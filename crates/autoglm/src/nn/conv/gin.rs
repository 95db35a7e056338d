//! Graph isomorphism network layer (Xu et al., ICLR 2019).

use crate::graph::Graph;
use crate::nn::{BatchNorm, Ctx, Init, Mlp, MlpConfig, Module, NodeInput, Params};
use crate::ops::{gin_aggregate, mlp2_bn_relu_train, spmm_const, Mlp2Params};
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
    /// `ReLU(outer(self.forward(g, x)))` for a batch norm `outer` applied after
    /// the layer (the GIN paper's classifier), fused into
    /// [`crate::ops::mlp2_bn_relu_train`] when that applies: training mode, at
    /// least two rows, fixed ε, an MLP of two linear layers with batch norm and
    /// no dropout (the GIN recipe). Returns `None` otherwise; the caller then
    /// runs the layers one by one. Same numbers either way up to float rounding;
    /// the running statistics of both batch norms are updated as the unfused
    /// path updates them.
    pub fn forward_bn_relu_fused(&self, g: &Graph, x: &NodeInput, outer: &BatchNorm, ctx: &Ctx) -> Result<Option<Tensor>> {
        let (lins, norms) = (self.mlp.linears(), self.mlp.norms());
        let fusable =
            ctx.train && x.num_rows() >= 2 && self.eps.is_none() && lins.len() == 2 && self.mlp.dropout() == 0.0 && lins.iter().all(|l| l.bias().is_some());
        let bn1 = match norms.first() {
            Some(Some(bn)) if fusable => bn,
            _ => return Ok(None),
        };
        let scale = (1.0 + self.cfg.eps) as f32;
        let (first, second) = (&lins[0], &lins[1]);
        // Hidden input: aggregate, then the whole MLP. Constant input: project
        // first (exact by linearity), aggregate, then the MLP without W1.
        let (z, w1) = match x {
            NodeInput::Hidden(t) => (gin_aggregate(g, t, scale)?, Some(first.weight())),
            _ => (gin_aggregate(g, &first.forward_no_bias(x)?, scale)?, None),
        };
        let p = Mlp2Params {
            w1,
            b1: first.bias().expect("checked"),
            bn1_weight: bn1.weight(),
            bn1_bias: bn1.bias(),
            w2: second.weight(),
            b2: second.bias().expect("checked"),
            bn2_weight: outer.weight(),
            bn2_bias: outer.bias(),
            eps1: bn1.eps(),
            eps2: outer.eps(),
        };
        let out = mlp2_bn_relu_train(&z, &p)?;
        let n = x.num_rows();
        bn1.update_running(out.bn1.0, out.bn1.1, n)?;
        outer.update_running(out.bn2.0, out.bn2.1, n)?;
        Ok(Some(out.y))
    }
}

impl Module for GinConv {
    /// The fused training path of [`GinConv::forward_bn_relu_fused`] where it applies.
    fn forward_norm_relu(&self, g: &Graph, x: &NodeInput, norm: &BatchNorm, ctx: &mut Ctx) -> Result<Tensor> {
        match self.forward_bn_relu_fused(g, x, norm, ctx)? {
            Some(y) => Ok(y),
            None => norm.forward_relu(&self.forward(g, x, ctx)?, ctx),
        }
    }

    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let combine = |h: &Tensor| -> Result<Tensor> {
            if self.eps.is_none() {
                // fixed ε: aggregation and self term in one kernel
                return Ok(gin_aggregate(g, h, (1.0 + self.cfg.eps) as f32)?);
            }
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
                    z = crate::ops::bias_add(&z, b)?; // one-pass bias gradient
                }
                self.mlp.forward_from_first(z, ctx)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::BatchNormConfig;
    use crate::rng::seeded;
    use crate::testing::{assert_close, rand_tensor, random_graph, vec};

    /// The fused layer equals `ReLU(outer(conv(x)))` run op by op: outputs,
    /// every parameter gradient, and both batch norms' running statistics.
    #[test]
    fn fused_bn_relu_matches_the_unfused_layers() {
        let g = random_graph(9, 30, 3);
        for hidden_input in [true, false] {
            let run = |fused: bool| {
                let p = Params::new(7);
                let conv = GinConvConfig::new(MlpConfig::new(vec![5, 8, 6]).with_batch_norm(true)).init(&p.pp("conv")).unwrap();
                let outer = BatchNormConfig::new(6).init(&p.pp("norm")).unwrap();
                let xt = rand_tensor(&[9, 5], 11);
                let xv = candle_core::Var::from_tensor(&xt).unwrap();
                let x = if hidden_input { NodeInput::Hidden(xv.as_tensor().clone()) } else { NodeInput::Dense(xt.clone()) };
                let mut ctx = Ctx::train(seeded(1));
                let y = if fused {
                    conv.forward_bn_relu_fused(&g, &x, &outer, &ctx).unwrap().expect("the GIN recipe is fusable")
                } else {
                    outer.forward_relu(&conv.forward(&g, &x, &mut ctx).unwrap(), &ctx).unwrap()
                };
                let r = rand_tensor(&[9, 6], 12);
                let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let mut gs: Vec<(String, Vec<f32>)> =
                    p.trainable().iter().map(|(n, v)| (n.clone(), grads.get(v.as_tensor()).map(vec).unwrap_or_default())).collect();
                gs.push(("x".into(), grads.get(xv.as_tensor()).map(vec).unwrap_or_default()));
                let stats: Vec<(String, Vec<f32>)> =
                    p.snapshot().unwrap().into_iter().filter(|(n, _)| n.contains("running")).map(|(n, t)| (n, vec(&t))).collect();
                (vec(&y), gs, stats)
            };
            let (y0, g0, s0) = run(false);
            let (y1, g1, s1) = run(true);
            assert_close(&y1, &y0, 1e-5, "output");
            assert_eq!(g0.len(), g1.len());
            for ((n0, a), (n1, b)) in g0.iter().zip(&g1) {
                assert_eq!(n0, n1);
                assert_eq!(a.is_empty(), b.is_empty(), "{n0}: gradient present in one path only");
                assert_close(b, a, 1e-4, n0);
            }
            assert_eq!(s0.len(), 4);
            for ((n0, a), (_, b)) in s0.iter().zip(&s1) {
                assert_close(b, a, 1e-5, n0);
            }
        }
        // not fusable: evaluation mode, one row, learnable ε
        let p = Params::new(0);
        let conv = GinConvConfig::new(MlpConfig::new(vec![5, 8, 6]).with_batch_norm(true)).init(&p).unwrap();
        let outer = BatchNormConfig::new(6).init(&p.pp("n")).unwrap();
        let x = NodeInput::Hidden(rand_tensor(&[9, 5], 1));
        assert!(conv.forward_bn_relu_fused(&g, &x, &outer, &Ctx::eval()).unwrap().is_none());
        let one = crate::graph::Graph::from_edges(1, &[]).unwrap();
        assert!(conv.forward_bn_relu_fused(&one, &NodeInput::Hidden(rand_tensor(&[1, 5], 1)), &outer, &Ctx::train(seeded(0))).unwrap().is_none());
        let learn = GinConvConfig { train_eps: true, ..GinConvConfig::new(MlpConfig::new(vec![5, 8, 6]).with_batch_norm(true)) }.init(&p.pp("l")).unwrap();
        assert!(learn.forward_bn_relu_fused(&g, &x, &outer, &Ctx::train(seeded(0))).unwrap().is_none());
    }
}
