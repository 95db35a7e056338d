//! What an exported model computes ([`NetSpec`], stored in the file's
//! header) and the forward pass ([`Model`]), float or int8.
//!
//! Batch norms are folded into the linear map before them at export
//! (`γ (x Wᵀ + b − μ) / sqrt(σ² + ε) + β = x (a ⊙ W)ᵀ + a (b − μ) + β`, `a`
//! per channel), so inference has linear maps, message passing, activations
//! and pooling only. Int8 models quantise every linear map's weights per
//! output channel and its input with the scale calibrated at export
//! (`act_scale`), or per row where the input is the raw node features.

use crate::format::{self, Data, Tensors};
use crate::graph::{Features, Graph, GraphBatch};
use crate::{Error, Result};
use autoglm_kernels::{dense, quant, segment, sparse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A linear map `y = x Wᵀ + b`: tensor names and sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    /// `[out_dim, in_dim]`: f32, or i8 with `{weight}.scale` `[out_dim]`.
    pub weight: String,
    pub bias: Option<String>,
    pub in_dim: usize,
    pub out_dim: usize,
    /// Int8 only: the input's quantisation scale (calibrated); `None`: per row.
    #[serde(default)]
    pub act_scale: Option<f32>,
}

/// One message-passing layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum LayerSpec {
    /// `Â (x Wᵀ) + b` with GCN's normalisation (`lin.bias` is added after propagation).
    Gcn { lin: DenseSpec },
    /// GAT: heads of `channels`, concatenated or averaged, then `bias`.
    Gat { lin: DenseSpec, att_src: String, att_dst: String, bias: Option<String>, heads: usize, channels: usize, concat: bool, negative_slope: f32 },
    /// GIN: `mlp((1 + eps) x_i + Σ_j x_j)`, ReLU between the MLP's maps.
    Gin { mlp: Vec<DenseSpec>, eps: f32 },
}

/// Non-linearity between the layers of a node model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    Relu,
    Elu,
}

/// Graph pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    Sum,
    Mean,
    Max,
}

/// How a graph model turns per-layer readouts into class scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HeadSpec {
    /// One linear map per readout (input included), scores summed (the GIN paper).
    PerLayer { heads: Vec<DenseSpec> },
    /// `l2(ReLU(l1(r)))` on the concatenated (`concat`) or the last readout.
    Mlp { l1: DenseSpec, l2: DenseSpec, concat: bool },
}

/// The computation an `.agx` file describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase", deny_unknown_fields)]
pub enum NetSpec {
    /// Node classification: layers with `act` between them (not after the last).
    Node { in_dim: usize, classes: usize, layers: Vec<LayerSpec>, act: Act },
    /// Graph classification: optional input map (+ReLU), layers each followed
    /// by ReLU, pooling of every layer's output (input included), the head.
    Graph { in_dim: usize, classes: usize, input: Option<Box<DenseSpec>>, convs: Vec<LayerSpec>, pooling: Pool, head: HeadSpec },
}

impl NetSpec {
    /// Input width.
    pub fn in_dim(&self) -> usize {
        match self {
            NetSpec::Node { in_dim, .. } | NetSpec::Graph { in_dim, .. } => *in_dim,
        }
    }
    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            NetSpec::Node { classes, .. } | NetSpec::Graph { classes, .. } => *classes,
        }
    }
    /// `"node"` or `"graph"`.
    pub fn task(&self) -> &'static str {
        match self {
            NetSpec::Node { .. } => "node",
            NetSpec::Graph { .. } => "graph",
        }
    }

    /// Visit every linear map in forward order, with what its input is.
    fn for_each_dense(&mut self, f: &mut dyn FnMut(&mut DenseSpec, Role)) {
        fn layer(l: &mut LayerSpec, first: bool, f: &mut dyn FnMut(&mut DenseSpec, Role)) {
            let role = |raw: bool| if raw { Role::Input } else { Role::Hidden };
            match l {
                LayerSpec::Gcn { lin } | LayerSpec::Gat { lin, .. } => f(lin, role(first)),
                LayerSpec::Gin { mlp, .. } => mlp.iter_mut().enumerate().for_each(|(i, d)| f(d, role(first && i == 0))),
            }
        }
        match self {
            NetSpec::Node { layers, .. } => layers.iter_mut().enumerate().for_each(|(i, l)| layer(l, i == 0, f)),
            NetSpec::Graph { input, convs, head, .. } => {
                let raw = input.is_none();
                if let Some(d) = input {
                    f(d, Role::Input);
                }
                convs.iter_mut().enumerate().for_each(|(i, l)| layer(l, raw && i == 0, f));
                match head {
                    HeadSpec::PerLayer { heads } => heads.iter_mut().for_each(|d| f(d, Role::Readout)),
                    HeadSpec::Mlp { l1, l2, .. } => {
                        f(l1, Role::Readout);
                        f(l2, Role::Hidden);
                    }
                }
            }
        }
    }
}

/// What a linear map reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The raw node features.
    Input,
    /// A node-level (or head-internal) activation.
    Hidden,
    /// A pooled graph readout (its magnitude grows with the graph under sum pooling).
    Readout,
}

/// Which activations get a static (calibrated) scale and which are
/// quantised per row at inference. Raw input features are always per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActScheme {
    /// Every activation with its calibrated scale.
    Static,
    /// Calibrated scales, except per row for pooled graph readouts.
    ReadoutPerRow,
    /// Every activation per row (dynamic quantisation).
    PerRow,
}

impl ActScheme {
    /// The schemes in order of preference (most static first).
    pub const ALL: [ActScheme; 3] = [ActScheme::Static, ActScheme::ReadoutPerRow, ActScheme::PerRow];
    fn per_row(self, role: Role) -> bool {
        matches!((self, role), (_, Role::Input) | (ActScheme::PerRow, _) | (ActScheme::ReadoutPerRow, Role::Readout))
    }
}

enum Weights {
    F32 { w: Vec<f32>, wt: Vec<f32> },
    I8(quant::QWeights),
}

struct Dense {
    w: Weights,
    bias: Option<Vec<f32>>,
    in_dim: usize,
    out_dim: usize,
    act: quant::ActScale,
    name: String,
}

/// The input of a linear map: node features or an activation.
enum Rows<'a> {
    Features(Features<'a>),
    Dense(&'a [f32]),
}

/// Largest input magnitudes seen by every linear map (by weight name),
/// over the rows chosen for calibration.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// Rows that count for node-level inputs (`None`: all).
    pub rows: Option<Vec<usize>>,
    pub max_abs: BTreeMap<String, f32>,
}

impl Calibration {
    fn see(&mut self, name: &str, x: &[f32], width: usize, node_rows: bool) {
        let m = match (&self.rows, node_rows) {
            (Some(rows), true) => rows.iter().filter_map(|&r| x.get(r * width..(r + 1) * width)).flatten().fold(0f32, |m, v| m.max(v.abs())),
            _ => x.iter().fold(0f32, |m, v| m.max(v.abs())),
        };
        let e = self.max_abs.entry(name.to_string()).or_insert(0.0);
        *e = e.max(m);
    }
}

impl Dense {
    fn apply(&self, x: Rows, bias: bool, calib: &mut Option<&mut Calibration>, node_rows: bool) -> Vec<f32> {
        let b = if bias { self.bias.as_deref() } else { None };
        if let (Some(c), Rows::Dense(v)) = (calib.as_deref_mut(), &x) {
            c.see(&self.name, v, self.in_dim, node_rows);
        }
        match (&self.w, x) {
            (Weights::F32 { w, .. }, Rows::Dense(v)) => dense::linear(v, v.len() / self.in_dim.max(1), self.in_dim, w, self.out_dim, b),
            (Weights::F32 { w, .. }, Rows::Features(Features::Dense { values, .. })) => {
                dense::linear(values, values.len() / self.in_dim.max(1), self.in_dim, w, self.out_dim, b)
            }
            (Weights::F32 { wt, .. }, Rows::Features(Features::Csr { ptr, col, val, .. })) => {
                let mut y = dense::csr_times_dense(ptr, col, val, wt, self.out_dim);
                if let Some(b) = b {
                    y.chunks_mut(self.out_dim).for_each(|r| r.iter_mut().zip(b).for_each(|(a, c)| *a += c));
                }
                y
            }
            (Weights::I8(q), Rows::Dense(v)) => quant::qlinear(v, v.len() / self.in_dim.max(1), self.act, q, b),
            (Weights::I8(q), Rows::Features(Features::Dense { values, .. })) => quant::qlinear(values, values.len() / self.in_dim.max(1), self.act, q, b),
            (Weights::I8(q), Rows::Features(Features::Csr { ptr, col, val, .. })) => quant::qlinear_csr(ptr, col, val, q, b),
        }
    }
}

enum Layer {
    Gcn { lin: Dense },
    Gat { lin: Dense, att_src: Vec<f32>, att_dst: Vec<f32>, bias: Option<Vec<f32>>, heads: usize, channels: usize, concat: bool, slope: f32 },
    Gin { mlp: Vec<Dense>, eps: f32 },
}

enum Head {
    PerLayer(Vec<Dense>),
    Mlp(Box<(Dense, Dense)>, bool),
}

enum Net {
    Node { layers: Vec<Layer>, act: Act },
    Graph { input: Option<Box<Dense>>, convs: Vec<Layer>, pooling: Pool, head: Head },
}

/// A loaded model, ready to predict.
pub struct Model {
    spec: NetSpec,
    meta: serde_json::Value,
    net: Net,
    int8: bool,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Model({} task, {} -> {} classes, {})", self.spec.task(), self.spec.in_dim(), self.spec.classes(), if self.int8 { "int8" } else { "f32" })
    }
}

fn take_f32(t: &Tensors, name: &str, len: usize) -> Result<Vec<f32>> {
    match t.get(name) {
        Some((_, Data::F32(v))) if v.len() == len => Ok(v.clone()),
        Some((shape, _)) => Err(Error::Format(format!("tensor {name} has shape {shape:?}; the model needs {len} f32 values"))),
        None => Err(Error::Format(format!("tensor {name} is missing"))),
    }
}

fn build_dense(t: &Tensors, d: &DenseSpec) -> Result<Dense> {
    let (o, k) = (d.out_dim, d.in_dim);
    let w = match t.get(&d.weight) {
        Some((_, Data::F32(v))) if v.len() == o * k => {
            let mut wt = vec![0f32; v.len()];
            for r in 0..o {
                for c in 0..k {
                    wt[c * o + r] = v[r * k + c];
                }
            }
            Weights::F32 { w: v.clone(), wt }
        }
        Some((_, Data::I8(q))) if q.len() == o * k => {
            let scale = take_f32(t, &format!("{}.scale", d.weight), o)?;
            Weights::I8(quant::QWeights::from_parts(q.clone(), scale, o, k).map_err(|m| Error::Format(format!("{}: {m}", d.weight)))?)
        }
        Some((shape, _)) => return Err(Error::Format(format!("tensor {} has shape {shape:?}; the model needs [{o}, {k}]", d.weight))),
        None => return Err(Error::Format(format!("tensor {} is missing", d.weight))),
    };
    let bias = d.bias.as_ref().map(|b| take_f32(t, b, o)).transpose()?;
    let act = match d.act_scale {
        Some(s) if s.is_finite() && s > 0.0 => quant::ActScale::Static(s),
        Some(s) => return Err(Error::Format(format!("{}: activation scale {s} is not a positive finite number", d.weight))),
        None => quant::ActScale::PerRow,
    };
    Ok(Dense { w, bias, in_dim: k, out_dim: o, act, name: d.weight.clone() })
}

fn build_layer(t: &Tensors, l: &LayerSpec, in_dim: usize) -> Result<(Layer, usize)> {
    let check = |d: &DenseSpec, want: usize| {
        if d.in_dim != want {
            Err(Error::Format(format!("{} takes {} inputs after a layer of width {want}", d.weight, d.in_dim)))
        } else {
            Ok(())
        }
    };
    Ok(match l {
        LayerSpec::Gcn { lin } => {
            check(lin, in_dim)?;
            (Layer::Gcn { lin: build_dense(t, lin)? }, lin.out_dim)
        }
        LayerSpec::Gat { lin, att_src, att_dst, bias, heads, channels, concat, negative_slope } => {
            check(lin, in_dim)?;
            if heads * channels != lin.out_dim || *heads == 0 {
                return Err(Error::Format(format!("GAT layer {}: {heads} heads of {channels} for a projection of {}", lin.weight, lin.out_dim)));
            }
            let out = if *concat { heads * channels } else { *channels };
            let layer = Layer::Gat {
                lin: build_dense(t, lin)?,
                att_src: take_f32(t, att_src, heads * channels)?,
                att_dst: take_f32(t, att_dst, heads * channels)?,
                bias: bias.as_ref().map(|b| take_f32(t, b, out)).transpose()?,
                heads: *heads,
                channels: *channels,
                concat: *concat,
                slope: *negative_slope,
            };
            (layer, out)
        }
        LayerSpec::Gin { mlp, eps } => {
            let mut d = in_dim;
            let mut maps = vec![];
            for m in mlp {
                check(m, d)?;
                maps.push(build_dense(t, m)?);
                d = m.out_dim;
            }
            if maps.is_empty() {
                return Err(Error::Format("a GIN layer without linear maps".into()));
            }
            (Layer::Gin { mlp: maps, eps: *eps }, d)
        }
    })
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

fn elu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| {
        if *x < 0.0 {
            *x = x.exp_m1()
        }
    });
}

impl Layer {
    /// The layer's output `[n, out]` for input `x`; ReLU fused where the kernel can (`relu`).
    fn forward(&self, g: &Graph, x: Rows, relu_out: bool, calib: &mut Option<&mut Calibration>, node_rows: bool) -> Vec<f32> {
        match self {
            Layer::Gcn { lin } => {
                let h = lin.apply(x, false, calib, node_rows);
                let (lg, coef) = g.gcn_norm_cached();
                sparse::propagate(lg.ptr(), lg.nbr(), Some(coef), &h, lin.out_dim, None, lin.bias.as_deref(), relu_out)
            }
            Layer::Gat { lin, att_src, att_dst, bias, heads, channels, concat, slope } => {
                let (h, c) = (*heads, *channels);
                let n = g.num_nodes();
                let xp = lin.apply(x, false, calib, node_rows);
                let s_src = sparse::head_dot(&xp, n, att_src, h, c);
                let s_dst = sparse::head_dot(&xp, n, att_dst, h, c);
                let lg = g.self_loops_cached();
                let alpha = sparse::gat_attention(lg.ptr(), lg.nbr(), &s_src, &s_dst, h, *slope);
                let out = sparse::spmm(lg.ptr(), lg.nbr(), None, Some(&alpha), h, &xp, h * c, 0.0);
                let mut out = if *concat {
                    out
                } else {
                    out.chunks(h * c).flat_map(|r| (0..c).map(move |j| (0..h).map(|k| r[k * c + j]).sum::<f32>() / h as f32)).collect()
                };
                let w = if *concat { h * c } else { c };
                if let Some(b) = bias {
                    out.chunks_mut(w).for_each(|r| r.iter_mut().zip(b).for_each(|(a, v)| *a += v));
                }
                if relu_out {
                    relu(&mut out);
                }
                out
            }
            Layer::Gin { mlp, eps } => {
                let first = &mlp[0];
                // raw features: project first (exact by linearity), then aggregate and add the bias
                let mut z = match x {
                    Rows::Features(f) => {
                        let h = first.apply(Rows::Features(f), false, calib, node_rows);
                        let mut z = sparse::spmm(g.ptr(), g.nbr(), None, None, 1, &h, first.out_dim, 1.0 + eps);
                        if let Some(b) = &first.bias {
                            z.chunks_mut(first.out_dim).for_each(|r| r.iter_mut().zip(b).for_each(|(a, v)| *a += v));
                        }
                        z
                    }
                    Rows::Dense(v) => {
                        let agg = sparse::spmm(g.ptr(), g.nbr(), None, None, 1, v, first.in_dim, 1.0 + eps);
                        first.apply(Rows::Dense(&agg), true, calib, node_rows)
                    }
                };
                for m in &mlp[1..] {
                    relu(&mut z);
                    z = m.apply(Rows::Dense(&z), true, calib, node_rows);
                }
                if relu_out {
                    relu(&mut z);
                }
                z
            }
        }
    }
}

fn pool(kind: Pool, node_ptr: &[usize], x: &[f32], width: usize) -> Vec<f32> {
    let k = match kind {
        Pool::Sum => segment::Reduce::Sum,
        Pool::Mean => segment::Reduce::Mean,
        Pool::Max => segment::Reduce::Max,
    };
    segment::segment_reduce(node_ptr, x, width, k).0
}

fn features_to_dense(x: Features) -> Vec<f32> {
    match x {
        Features::Dense { values, .. } => values.to_vec(),
        Features::Csr { ptr, col, val, cols } => {
            let mut d = vec![0f32; (ptr.len() - 1) * cols];
            for r in 0..ptr.len() - 1 {
                for p in ptr[r]..ptr[r + 1] {
                    d[r * cols + col[p]] += val[p];
                }
            }
            d
        }
    }
}

impl Model {
    /// A model from its spec and tensors (what [`format::decode`] returns).
    ///
    /// # Errors
    /// [`Error::Format`] when a tensor is missing or of the wrong size, or
    /// the layer widths do not chain.
    pub fn new(spec: NetSpec, meta: serde_json::Value, tensors: &Tensors) -> Result<Model> {
        let int8 = tensors.values().any(|(_, d)| matches!(d, Data::I8(_)));
        let net = match &spec {
            NetSpec::Node { in_dim, classes, layers, act } => {
                let mut d = *in_dim;
                let mut built = vec![];
                for l in layers {
                    let (layer, o) = build_layer(tensors, l, d)?;
                    built.push(layer);
                    d = o;
                }
                if built.is_empty() || d != *classes {
                    return Err(Error::Format(format!("the layers end at width {d}, not at the {classes} classes")));
                }
                Net::Node { layers: built, act: *act }
            }
            NetSpec::Graph { in_dim, classes, input, convs, pooling, head } => {
                let input = input.as_ref().map(|d| build_dense(tensors, d).map(Box::new)).transpose()?;
                let mut widths = vec![input.as_ref().map_or(*in_dim, |d| d.out_dim)];
                let mut built = vec![];
                for l in convs {
                    let (layer, o) = build_layer(tensors, l, *widths.last().expect("one width"))?;
                    built.push(layer);
                    widths.push(o);
                }
                let head = match head {
                    HeadSpec::PerLayer { heads } => {
                        if heads.len() != widths.len() || heads.iter().zip(&widths).any(|(h, &w)| h.in_dim != w || h.out_dim != *classes) {
                            return Err(Error::Format("the per-layer heads do not match the layer widths and classes".into()));
                        }
                        Head::PerLayer(heads.iter().map(|h| build_dense(tensors, h)).collect::<Result<_>>()?)
                    }
                    HeadSpec::Mlp { l1, l2, concat } => {
                        let want = if *concat { widths.iter().sum() } else { *widths.last().expect("one width") };
                        if l1.in_dim != want || l2.in_dim != l1.out_dim || l2.out_dim != *classes {
                            return Err(Error::Format("the head MLP does not match the readout width and classes".into()));
                        }
                        Head::Mlp(Box::new((build_dense(tensors, l1)?, build_dense(tensors, l2)?)), *concat)
                    }
                };
                Net::Graph { input, convs: built, pooling: *pooling, head }
            }
        };
        Ok(Model { spec, meta, net, int8 })
    }

    /// Read a model from the bytes of an `.agx` file.
    ///
    /// # Errors
    /// As [`format::decode`] and [`Model::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        let (spec, meta, tensors) = format::decode(bytes)?;
        Model::new(spec, meta, &tensors)
    }

    /// What the model computes.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }
    /// The exporter's metadata (task, architecture, dataset, preprocessing).
    pub fn meta(&self) -> &serde_json::Value {
        &self.meta
    }
    /// Whether the weights are int8.
    pub fn is_int8(&self) -> bool {
        self.int8
    }

    /// Class scores `[num_nodes, classes]` of a node model.
    ///
    /// # Errors
    /// [`Error::Input`] for a graph model, or features that do not fit.
    pub fn predict_nodes(&self, g: &Graph, x: Features) -> Result<Vec<f32>> {
        self.node_scores(g, x, None)
    }

    /// [`Model::predict_nodes`] while recording input ranges into `calib`.
    ///
    /// # Errors
    /// As [`Model::predict_nodes`].
    pub fn node_scores(&self, g: &Graph, x: Features, calib: Option<&mut Calibration>) -> Result<Vec<f32>> {
        let Net::Node { layers, act } = &self.net else {
            return Err(Error::Input("this is a graph classification model: post whole graphs (predict_graphs), not node ids".into()));
        };
        x.check(g.num_nodes(), self.spec.in_dim())?;
        let mut calib = calib;
        let mut h: Vec<f32> = vec![];
        for (i, layer) in layers.iter().enumerate() {
            let last = i + 1 == layers.len();
            let input = if i == 0 { Rows::Features(x) } else { Rows::Dense(&h) };
            let mut y = layer.forward(g, input, !last && *act == Act::Relu, &mut calib, true);
            if !last && *act == Act::Elu {
                elu(&mut y);
            }
            h = y;
        }
        Ok(h)
    }

    /// Class scores `[num_graphs, classes]` of a graph model for the graphs of `batch`.
    ///
    /// # Errors
    /// [`Error::Input`] for a node model, or features that do not fit.
    pub fn predict_graphs(&self, batch: &GraphBatch, x: Features) -> Result<Vec<f32>> {
        self.graph_scores(batch, x, None)
    }

    /// [`Model::predict_graphs`] while recording input ranges into `calib`.
    ///
    /// # Errors
    /// As [`Model::predict_graphs`].
    pub fn graph_scores(&self, batch: &GraphBatch, x: Features, calib: Option<&mut Calibration>) -> Result<Vec<f32>> {
        let Net::Graph { input, convs, pooling, head } = &self.net else {
            return Err(Error::Input("this is a node classification model: ask for node ids (predict_nodes), not posted graphs".into()));
        };
        let g = &batch.graph;
        if batch.node_ptr.first() != Some(&0) || batch.node_ptr.last() != Some(&g.num_nodes()) || batch.node_ptr.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::Input(format!("the batch's graph offsets must rise from 0 to its {} nodes", g.num_nodes())));
        }
        x.check(g.num_nodes(), self.spec.in_dim())?;
        let mut calib = calib;
        let mut pooled = vec![];
        let mut h = match input {
            Some(d) => {
                let mut y = d.apply(Rows::Features(x), true, &mut calib, false);
                relu(&mut y);
                y
            }
            None => features_to_dense(x),
        };
        let mut width = input.as_ref().map_or(x.cols(), |d| d.out_dim);
        pooled.push((pool(*pooling, &batch.node_ptr, &h, width), width));
        for (k, conv) in convs.iter().enumerate() {
            let rows = if k == 0 && input.is_none() { Rows::Features(x) } else { Rows::Dense(&h) };
            let y = conv.forward(g, rows, true, &mut calib, false);
            width = y.len() / g.num_nodes().max(1);
            pooled.push((pool(*pooling, &batch.node_ptr, &y, width), width));
            h = y;
        }
        let ng = batch.node_ptr.len() - 1;
        let classes = self.spec.classes();
        Ok(match head {
            Head::PerLayer(heads) => {
                let mut score = vec![0f32; ng * classes];
                for (lin, (r, _)) in heads.iter().zip(&pooled) {
                    let s = lin.apply(Rows::Dense(r), true, &mut calib, false);
                    score.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
                }
                score
            }
            Head::Mlp(maps, concat) => {
                let (l1, l2) = (&maps.0, &maps.1);
                let r = if *concat {
                    let total: usize = pooled.iter().map(|(_, w)| w).sum();
                    let mut r = vec![0f32; ng * total];
                    for gi in 0..ng {
                        let mut off = 0;
                        for (p, w) in &pooled {
                            r[gi * total + off..gi * total + off + w].copy_from_slice(&p[gi * w..(gi + 1) * w]);
                            off += w;
                        }
                    }
                    r
                } else {
                    pooled.pop().expect("one readout").0
                };
                let mut z = l1.apply(Rows::Dense(&r), true, &mut calib, false);
                relu(&mut z);
                l2.apply(Rows::Dense(&z), true, &mut calib, false)
            }
        })
    }
}

/// Quantise a float model's tensors to int8: every linear map's weight per
/// output channel, its input scale from `calib` or per row as `scheme` says
/// (always per row for the maps that read the raw node features).
/// Attention vectors, biases and scales stay f32.
///
/// # Errors
/// [`Error::Input`] when a weight is not f32 (already quantised) or `calib`
/// has not seen a map that needs a static scale.
pub fn quantize(spec: &NetSpec, tensors: &Tensors, calib: &Calibration, scheme: ActScheme) -> Result<(NetSpec, Tensors)> {
    let mut spec = spec.clone();
    let mut out = tensors.clone();
    let mut err = None;
    spec.for_each_dense(&mut |d, role| {
        if err.is_some() {
            return;
        }
        let Some((shape, Data::F32(w))) = tensors.get(&d.weight) else {
            err = Some(Error::Input(format!("{} is not a float weight (quantise a float export)", d.weight)));
            return;
        };
        let q = quant::QWeights::quantize(w, d.out_dim, d.in_dim);
        out.insert(format!("{}.scale", d.weight), (vec![d.out_dim], Data::F32(q.scale.clone())));
        out.insert(d.weight.clone(), (shape.clone(), Data::I8(q.q)));
        d.act_scale = if scheme.per_row(role) {
            None
        } else {
            match calib.max_abs.get(&d.weight) {
                Some(&m) => Some(quant::scale_for(m)),
                None => {
                    err = Some(Error::Input(format!("calibration did not reach {}", d.weight)));
                    None
                }
            }
        };
    });
    match err {
        Some(e) => Err(e),
        None => Ok((spec, out)),
    }
}
