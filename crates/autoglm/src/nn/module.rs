//! [`Module`]: the one forward shape every message-passing layer and model has,
//! `forward(graph, input, ctx) -> output rows`. Layers, the [`crate::models::Gnn`]
//! stack, the graph classifiers' encoders and a user's own model all implement
//! it, so the trainer, the tasks and the model registry take any of them.
//!
//! ```
//! use autoglm::prelude::*;
//! /// A GCN layer, ReLU, then a GAT layer (two heads, averaged).
//! struct Net(GcnConv, GatConv);
//! impl Module for Net {
//!     fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
//!         let h = self.0.forward_relu(g, x, ctx)?;
//!         self.1.forward(g, &h.into(), ctx)
//!     }
//! }
//! let p = Params::new(0);
//! let net = Net(GcnConvConfig::new(4, 8).init(&p.pp("gcn"))?, GatConvConfig::new(8, 3, 2).with_concat(false).init(&p.pp("gat"))?);
//! let g = Graph::from_edges(3, &[(0, 1), (1, 2), (2, 0)])?;
//! let x = NodeInput::Dense(Tensor::ones((3, 4), autoglm::candle::DType::F32, &autoglm::candle::Device::Cpu)?);
//! assert_eq!(net.forward(&g, &x, &mut Ctx::eval())?.dims(), &[3, 3]);
//! # Ok::<(), autoglm::Error>(())
//! ```

use crate::graph::{Graph, Mfg};
use crate::nn::{BatchNorm, Ctx, NodeInput};
use crate::Result;
use candle_core::Tensor;

/// A layer or model over the nodes of a graph: `[num_nodes, in_dim]` input rows
/// to `[num_nodes, out_dim]` output rows.
///
/// Only [`Module::forward`] is required. The other two methods are fusion
/// points with a plain default: a layer that can apply its activation (or a
/// following batch norm and activation) inside its own kernel overrides them,
/// and callers that need `ReLU(layer(x))` call them instead of composing.
pub trait Module: Send + Sync {
    /// Output rows for input `x` on graph `g`. `ctx` says training or
    /// evaluation mode and holds the dropout generator.
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor>;

    /// `ReLU(forward(g, x))`.
    fn forward_relu(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        Ok(self.forward(g, x, ctx)?.relu()?)
    }

    /// `ReLU(norm(forward(g, x)))` for a batch norm `norm` that follows the layer.
    fn forward_norm_relu(&self, g: &Graph, x: &NodeInput, norm: &BatchNorm, ctx: &mut Ctx) -> Result<Tensor> {
        let y = self.forward(g, x, ctx)?;
        norm.forward_relu(&y, ctx)
    }

    /// Output rows of the first `num_dst` nodes only, `[num_dst, out_dim]`,
    /// ReLU applied when `relu`: one layer of a trimmed sampled block, whose
    /// graph `g` has in-edges only into those nodes ([`Mfg`]). The default
    /// computes every row and keeps the first `num_dst`; a layer whose cost
    /// is per output row overrides it.
    fn forward_dst(&self, g: &Graph, num_dst: usize, x: &NodeInput, relu: bool, ctx: &mut Ctx) -> Result<Tensor> {
        let y = if relu { self.forward_relu(g, x, ctx)? } else { self.forward(g, x, ctx)? };
        Ok(if num_dst == g.num_nodes() { y } else { y.narrow(0, 0, num_dst)? })
    }

    /// Output rows of a sampled block's seeds, `[layers.last().num_dst,
    /// out_dim]`, given the block's layer graphs (first layer first; see
    /// [`Mfg::layers`]). The default runs [`Module::forward`] on the first
    /// layer's graph, the whole block, and keeps the seed rows; a stack of
    /// layers overrides it to run each layer only where the next one reads.
    ///
    /// # Errors
    /// An empty `layers`; as [`Module::forward`].
    fn forward_block(&self, layers: &[Mfg], x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let (first, last) = match (layers.first(), layers.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(crate::Error::config("block.layers", 0, "a sampled block has one layer graph per hop")),
        };
        let y = self.forward(&first.graph, x, ctx)?;
        Ok(if last.num_dst == first.num_src() { y } else { y.narrow(0, 0, last.num_dst)? })
    }

    /// Notes on how the module runs on `g` (for example which attention form
    /// each head group uses there), for the run's output. None by default.
    ///
    /// # Errors
    /// When the module's structure cannot be built for `g`.
    fn describe(&self, _g: &Graph) -> Result<Vec<String>> {
        Ok(vec![])
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        (**self).forward(g, x, ctx)
    }
    fn forward_relu(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        (**self).forward_relu(g, x, ctx)
    }
    fn forward_norm_relu(&self, g: &Graph, x: &NodeInput, norm: &BatchNorm, ctx: &mut Ctx) -> Result<Tensor> {
        (**self).forward_norm_relu(g, x, norm, ctx)
    }
    fn forward_dst(&self, g: &Graph, num_dst: usize, x: &NodeInput, relu: bool, ctx: &mut Ctx) -> Result<Tensor> {
        (**self).forward_dst(g, num_dst, x, relu, ctx)
    }
    fn forward_block(&self, layers: &[Mfg], x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        (**self).forward_block(layers, x, ctx)
    }
    fn describe(&self, g: &Graph) -> Result<Vec<String>> {
        (**self).describe(g)
    }
}

/// A plain list of modules applied in order (no activations between them):
/// for stacking layers that carry their own, or model pieces.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty stack.
    pub fn new() -> Sequential {
        Sequential::default()
    }
    /// Append a module.
    pub fn push(mut self, m: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(m));
        self
    }
    /// Number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// Whether the stack is empty.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let mut h = x.clone();
        let mut out = None;
        for l in &self.layers {
            let y = l.forward(g, &h, ctx)?;
            h = NodeInput::Hidden(y.clone());
            out = Some(y);
        }
        match out {
            Some(y) => Ok(y),
            None => Ok(x.to_tensor()?),
        }
    }
}
