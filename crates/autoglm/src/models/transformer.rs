//! [`GraphTransformer`] (`--model gt`): an input map plus positional /
//! structural encodings, a stack of GPS-style blocks (message passing and
//! multi-granularity attention), jumping knowledge over the blocks, and an
//! output map. An encoder for every task: node classification (output =
//! classes), link prediction and graph classification (output = hidden width,
//! under the task's decoder or readout).
//!
//! Its options come from the run file's `[model]` table:
//!
//! ```toml
//! [model]
//! jk = "last"                     # last | cat | max | attention
//! input_dropout = 0.0
//! [model.pe]
//! kind = "rwse"                   # none | rwse | lap
//! dim = 16                        # random-walk steps, or eigenvectors
//! [model.layer]
//! mpnn = "gcn"                    # none | gcn | gin | sage | gat
//! mode = "parallel"               # parallel | sequential
//! norm = "layer"                  # layer | batch | none
//! pre_norm = false
//! ffn_mult = 2
//! [model.layer.attention]
//! heads = { local = 4, khop = 0, global = 4 }
//! k = 2
//! global = "auto"                 # auto | exact | linear
//! linear_form = "sgformer"        # sgformer | performer
//! attn_dropout = 0.0
//! ```

use crate::graph::Graph;
use crate::models::flow::{Jk, JumpingKnowledge};
use crate::nn::attention::{GpsConfig, GpsLayer, GroupForm};
use crate::nn::{Ctx, Linear, LinearConfig, Module, NodeInput, Params};
use crate::rng::Rng;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which encoding is added to the input embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeKind {
    #[default]
    None,
    /// Random-walk structural encodings (`dim` steps).
    Rwse,
    /// Laplacian eigenvectors (`dim` of them), with random sign flips in training.
    Lap,
}

/// Positional / structural encoding settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeConfig {
    pub kind: PeKind,
    pub dim: usize,
    /// Largest graph LapPE is computed for (dense eigensolver).
    pub lap_max_nodes: usize,
}

impl Default for PeConfig {
    fn default() -> Self {
        PeConfig { kind: PeKind::None, dim: 16, lap_max_nodes: 3000 }
    }
}

/// Configuration of a [`GraphTransformer`]; widths and depth come from the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GtConfig {
    pub in_dim: usize,
    pub out_dim: usize,
    pub hidden_dim: usize,
    pub num_layers: usize,
    /// Dropout on the input features.
    pub input_dropout: f64,
    /// Dropout before the output map.
    pub dropout: f64,
    pub pe: PeConfig,
    pub jk: Jk,
    /// The block template (its `dim` is set to `hidden_dim`).
    pub layer: GpsConfig,
}

impl Default for GtConfig {
    fn default() -> Self {
        GtConfig {
            in_dim: 0,
            out_dim: 0,
            hidden_dim: 64,
            num_layers: 2,
            input_dropout: 0.0,
            dropout: 0.0,
            pe: PeConfig::default(),
            jk: Jk::Last,
            layer: GpsConfig::default(),
        }
    }
}

impl GtConfig {
    /// Build the model with parameters `lin_in`, `pe_lin`, `layers.{i}.*`, `jk`, `lin_out`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting (head split, k, dropout, encodings).
    pub fn init(&self, p: &Params) -> Result<GraphTransformer> {
        if self.num_layers == 0 {
            return Err(Error::config("num_layers", 0, "the transformer needs at least one block"));
        }
        for (k, v) in [("input_dropout", self.input_dropout), ("dropout", self.dropout)] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::config(k, v, "must be in [0, 1)"));
            }
        }
        if self.pe.kind != PeKind::None && self.pe.dim == 0 {
            return Err(Error::config("pe.dim", 0, "an encoding needs a positive width (16 random-walk steps or 8 eigenvectors are usual)"));
        }
        let d = self.hidden_dim;
        let lin_in = LinearConfig::new(self.in_dim, d).init(&p.pp("lin_in"))?;
        let pe_lin = if self.pe.kind != PeKind::None { Some(LinearConfig::new(self.pe.dim, d).with_bias(false).init(&p.pp("pe_lin"))?) } else { None };
        let layers = (0..self.num_layers).map(|i| GpsConfig { dim: d, ..self.layer.clone() }.init(&p.pp(format!("layers.{i}")))).collect::<Result<Vec<_>>>()?;
        let jk = JumpingKnowledge::new(self.jk, self.num_layers, d, &p.pp("jk"))?;
        let lin_out = LinearConfig::new(jk.out_dim(), self.out_dim).init(&p.pp("lin_out"))?;
        Ok(GraphTransformer { cfg: self.clone(), lin_in, pe_lin, layers, jk, lin_out })
    }

    /// From a task's widths and the run file's `[model]` options.
    ///
    /// # Errors
    /// [`Error::Config`] when the options do not fit (unknown keys are named).
    pub fn from_args(a: &crate::models::registry::ModelArgs) -> Result<GtConfig> {
        let mut cfg: GtConfig = if a.options.is_null() {
            GtConfig::default()
        } else {
            serde_json::from_value(a.options.clone())
                .map_err(|e| Error::config("[model]", "run file", format!("{e}; see autoglm::models::transformer for the keys")))?
        };
        cfg.in_dim = a.in_dim;
        cfg.out_dim = a.out_dim;
        cfg.hidden_dim = a.hidden_dim;
        cfg.num_layers = a.num_layers;
        if a.options.get("dropout").is_none() {
            cfg.dropout = a.dropout;
        }
        Ok(cfg)
    }
}

/// The graph transformer (see the module docs). `[N, in_dim]` → `[N, out_dim]`.
pub struct GraphTransformer {
    cfg: GtConfig,
    lin_in: Linear,
    pe_lin: Option<Linear>,
    layers: Vec<GpsLayer>,
    jk: JumpingKnowledge,
    lin_out: Linear,
}

impl GraphTransformer {
    /// The configuration.
    pub fn config(&self) -> &GtConfig {
        &self.cfg
    }

    /// The encoding rows of `g`, `[N, pe.dim]`, with random sign flips of the
    /// Laplacian eigenvectors in training.
    fn encoding(&self, g: &Graph, ctx: &mut Ctx) -> Result<Option<Tensor>> {
        let pe = &self.cfg.pe;
        let enc = match pe.kind {
            PeKind::None => return Ok(None),
            PeKind::Rwse => g.rwse(pe.dim)?,
            PeKind::Lap => g.lap_pe(pe.dim, pe.lap_max_nodes)?,
        };
        let n = g.num_nodes();
        let mut data = enc.data.clone();
        if pe.kind == PeKind::Lap && ctx.train {
            // one sign per graph and eigenvector
            for w in g.node_segments().windows(2) {
                let signs: Vec<f32> = (0..pe.dim).map(|_| if ctx.rng.gen::<bool>() { 1.0 } else { -1.0 }).collect();
                for i in w[0]..w[1] {
                    for (c, s) in signs.iter().enumerate() {
                        data[i * pe.dim + c] *= s;
                    }
                }
            }
        }
        Ok(Some(Tensor::from_vec(data, (n, pe.dim), &Device::Cpu)?))
    }

    /// How every attention group of every block attends on `g`.
    ///
    /// # Errors
    /// As the patterns' construction.
    pub fn describe(&self, g: &Graph) -> Result<Vec<GroupForm>> {
        match self.layers.first().and_then(|l| l.attention()) {
            Some(a) => a.describe(g),
            None => Ok(vec![]),
        }
    }
}

impl Module for GraphTransformer {
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let x = ctx.dropout_input(x, self.cfg.input_dropout)?;
        let mut h = self.lin_in.forward_input(&x)?;
        if let (Some(lin), Some(pe)) = (&self.pe_lin, self.encoding(g, ctx)?) {
            h = (h + lin.forward(&pe)?)?;
        }
        let mut hs = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            h = l.forward(g, &NodeInput::Hidden(h), ctx)?;
            hs.push(h.clone());
        }
        let z = self.jk.forward(&hs)?;
        let z = ctx.dropout(&z, self.cfg.dropout)?;
        self.lin_out.forward(&z)
    }

    fn describe(&self, g: &Graph) -> Result<Vec<String>> {
        Ok(GraphTransformer::describe(self, g)?
            .iter()
            .map(|f| format!("attention group {} ({} heads): {}, {} pairs", f.group, f.heads, f.form, f.pairs))
            .collect())
    }
}
