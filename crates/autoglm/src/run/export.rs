//! `autoglm export`: a trained checkpoint to a compact `.agx` model for
//! `autoglm-infer` (float, or int8 with activations calibrated on the
//! training data), with the exported model's predictions compared with the
//! checkpoint's on the test data and the three forward passes timed.
//!
//! What is exported: the node task's built-in GCN, GAT and GIN stacks (plain
//! stacks: no jumping knowledge, residuals, hidden batch norms or PReLU) and
//! the graph task's classifier with GIN or GCN layers and sum / mean / max
//! pooling. Batch norms are folded into the linear map before them. Other
//! architectures are an error that names what is supported.

use super::{pct, CheckpointMeta, RunEnv};
use crate::checkpoint::Checkpoint;
use crate::data::registry::load_node_dataset;
use crate::models::flow::Jk;
use crate::models::graph_classifier::{GraphClassifierConfig, LayerReadout, Pooling};
use crate::models::{Activation, GnnConfig, ModelKind};
use crate::nn::{Ctx, Module, NodeInput, Params};
use crate::tasks::node::NodeData;
use crate::{Error, Result};
use autoglm_infer::format::{Data, Tensors};
use autoglm_infer::model::{Act, DenseSpec, HeadSpec, LayerSpec, Pool};
use autoglm_infer::{Calibration, Features, Model, NetSpec};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Weight precision of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float" | "none" => Ok(Precision::F32),
            "int8" | "i8" => Ok(Precision::Int8),
            _ => Err(Error::unknown("quantize", s, &["int8", "f32"])),
        }
    }
}

/// An export job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportSpec {
    /// A training checkpoint (`.safetensors`).
    pub checkpoint: PathBuf,
    /// The `.agx` file to write.
    pub out: PathBuf,
    pub quantize: Precision,
    /// Data folder for calibration and the comparison (default as everywhere).
    pub data_dir: Option<PathBuf>,
    /// Timed forward passes of each path (default 0: no timing).
    pub time_repeats: usize,
    /// One-shot global magnitude pruning before quantisation: this share of
    /// the weight matrices' entries set to 0 (default: none). Without
    /// fine-tuning; `autoglm prune` fine-tunes between rounds.
    pub prune: Option<f64>,
}

/// Float tensors of a checkpoint by name.
struct Source<'a> {
    path: &'a Path,
    tensors: BTreeMap<&'a str, &'a candle_core::Tensor>,
}

impl<'a> Source<'a> {
    fn new(path: &'a Path, ck: &'a Checkpoint) -> Source<'a> {
        Source { path, tensors: ck.tensors.iter().map(|(n, t)| (n.as_str(), t)).collect() }
    }
    fn get(&self, name: &str) -> Result<Vec<f32>> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::Checkpoint { path: self.path.into(), msg: format!("has no tensor {name}; was it trained with this architecture?") })?;
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    }
    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// The tensors being written and the spec's linear maps.
#[derive(Default)]
struct Builder {
    tensors: Tensors,
}

impl Builder {
    fn put(&mut self, name: &str, shape: Vec<usize>, v: Vec<f32>) -> String {
        self.tensors.insert(name.to_string(), (shape, Data::F32(v)));
        name.to_string()
    }
    /// A linear map `prefix.weight [o, k]`, `prefix.bias`, with the batch norm `bn` folded in.
    fn dense(&mut self, src: &Source, prefix: &str, bias: Option<&str>, bn: Option<&str>) -> Result<DenseSpec> {
        let wname = format!("{prefix}.weight");
        let mut w = src.get(&wname)?;
        let shape = src.tensors[wname.as_str()].dims().to_vec();
        let (o, k) = (shape[0], shape.get(1).copied().unwrap_or(1));
        let mut b = match bias {
            Some(b) if src.has(b) => Some(src.get(b)?),
            _ => None,
        };
        if let Some(bn) = bn {
            let (g, beta) = (src.get(&format!("{bn}.weight"))?, src.get(&format!("{bn}.bias"))?);
            let (mu, var) = (src.get(&format!("{bn}.running_mean"))?, src.get(&format!("{bn}.running_var"))?);
            let mut nb = vec![0f32; o];
            for r in 0..o {
                let a = g[r] / (var[r] + 1e-5).sqrt();
                w[r * k..(r + 1) * k].iter_mut().for_each(|v| *v *= a);
                nb[r] = a * (b.as_ref().map_or(0.0, |b| b[r]) - mu[r]) + beta[r];
            }
            b = Some(nb);
        }
        let weight = self.put(&wname, vec![o, k], w);
        let bias = b.map(|b| self.put(&format!("{prefix}.bias"), vec![o], b));
        Ok(DenseSpec { weight, bias, in_dim: k, out_dim: o, act_scale: None })
    }
}

/// Index of linear map `j` inside an [`crate::nn::Mlp`] of `maps` maps (its parameter prefix `nn.{idx}`),
/// and of the batch norm after it.
fn mlp_index(j: usize, maps: usize, batch_norm: bool) -> (usize, Option<usize>) {
    let mut idx = 0;
    for k in 0..maps {
        let lin = idx;
        idx += 1;
        let mut bn = None;
        if k + 1 < maps {
            if batch_norm {
                bn = Some(idx);
                idx += 1;
            }
            idx += 1;
        }
        if k == j {
            return (lin, bn);
        }
    }
    unreachable!("j < maps")
}

fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::config(
        "export",
        what,
        "the inference path exports the node task's plain GCN / GAT / GIN stacks and the graph task's GIN / GCN classifier with sum, mean or max pooling; export another model as a float checkpoint and serve it with the library",
    )
}

fn node_net(src: &Source, cfg: &GnnConfig, in_dim: usize, classes: usize) -> Result<(NetSpec, Tensors)> {
    if cfg.jk != Jk::Last || cfg.residual || cfg.norm || cfg.headless || cfg.activation == Activation::Prelu {
        return Err(unsupported("a stack with jumping knowledge, residuals, norms or PReLU"));
    }
    let mut b = Builder::default();
    let mut layers = vec![];
    for i in 0..cfg.num_layers {
        let p = format!("layers.{i}");
        let last = i + 1 == cfg.num_layers;
        layers.push(match cfg.model {
            ModelKind::Gcn => LayerSpec::Gcn { lin: b.dense(src, &format!("{p}.lin"), Some(&format!("{p}.bias")), None)? },
            ModelKind::Gat => {
                let lin = b.dense(src, &format!("{p}.lin"), None, None)?;
                let heads = if last { cfg.out_heads } else { cfg.heads };
                let channels = lin.out_dim / heads.max(1);
                let att_src = b.put(&format!("{p}.att_src"), vec![heads * channels], src.get(&format!("{p}.att_src"))?);
                let att_dst = b.put(&format!("{p}.att_dst"), vec![heads * channels], src.get(&format!("{p}.att_dst"))?);
                let bias_name = format!("{p}.bias");
                let bias = if src.has(&bias_name) {
                    let v = src.get(&bias_name)?;
                    Some(b.put(&bias_name, vec![v.len()], v))
                } else {
                    None
                };
                LayerSpec::Gat { lin, att_src, att_dst, bias, heads, channels, concat: !last, negative_slope: 0.2 }
            }
            ModelKind::Gin => {
                let mut mlp = vec![];
                for j in 0..2 {
                    let (lin, bn) = mlp_index(j, 2, cfg.batch_norm);
                    let q = format!("{p}.nn.{lin}");
                    mlp.push(b.dense(src, &q, Some(&format!("{q}.bias")), bn.map(|k| format!("{p}.nn.{k}")).as_deref())?);
                }
                let eps = if cfg.train_eps { src.get(&format!("{p}.eps"))?[0] } else { 0.0 };
                LayerSpec::Gin { mlp, eps }
            }
            ModelKind::Sage => return Err(unsupported("sage")),
        });
    }
    let act = if cfg.activation == Activation::Elu { Act::Elu } else { Act::Relu };
    Ok((NetSpec::Node { in_dim, classes, layers, act }, b.tensors))
}

fn graph_net(src: &Source, cfg: &GraphClassifierConfig, in_dim: usize, classes: usize) -> Result<(NetSpec, Tensors)> {
    let pooling = match cfg.pooling {
        Pooling::Sum => Pool::Sum,
        Pooling::Mean => Pool::Mean,
        Pooling::Max => Pool::Max,
        Pooling::Attention => return Err(unsupported("attention pooling")),
    };
    let mut b = Builder::default();
    let input = if cfg.input_mlp { Some(Box::new(b.dense(src, "input.0", Some("input.0.bias"), Some("input.1"))?)) } else { None };
    let mut convs = vec![];
    for k in 0..cfg.num_conv_layers() {
        let p = format!("convs.{k}");
        let outer = cfg.batch_norm.then(|| format!("norms.{k}"));
        convs.push(match cfg.model {
            ModelKind::Gin => {
                let maps = cfg.mlp_layers;
                let mut mlp = vec![];
                for j in 0..maps {
                    let (lin, bn) = mlp_index(j, maps, cfg.batch_norm);
                    let q = format!("{p}.nn.{lin}");
                    let fold = if j + 1 == maps { outer.clone() } else { bn.map(|i| format!("{p}.nn.{i}")) };
                    mlp.push(b.dense(src, &q, Some(&format!("{q}.bias")), fold.as_deref())?);
                }
                let eps = if cfg.train_eps { src.get(&format!("{p}.eps"))?[0] } else { 0.0 };
                LayerSpec::Gin { mlp, eps }
            }
            ModelKind::Gcn => LayerSpec::Gcn { lin: b.dense(src, &format!("{p}.lin"), Some(&format!("{p}.bias")), outer.as_deref())? },
            other => return Err(unsupported(other)),
        });
    }
    let head = match cfg.layer_readout {
        LayerReadout::PerLayer => {
            let heads =
                (0..=cfg.num_conv_layers()).map(|k| b.dense(src, &format!("heads.{k}"), Some(&format!("heads.{k}.bias")), None)).collect::<Result<_>>()?;
            HeadSpec::PerLayer { heads }
        }
        r => HeadSpec::Mlp {
            l1: b.dense(src, "mlp.0", Some("mlp.0.bias"), None)?,
            l2: b.dense(src, "mlp.1", Some("mlp.1.bias"), None)?,
            concat: r == LayerReadout::Concat,
        },
    };
    Ok((NetSpec::Graph { in_dim, classes, input, convs, pooling, head }, b.tensors))
}

/// Logits of three paths on the evaluation input and the labels to score them against.
struct Eval {
    /// The checkpoint's logits (library, candle).
    reference: Vec<f32>,
    labels: Vec<usize>,
    /// Rows of the logits that are evaluated.
    rows: Vec<usize>,
    classes: usize,
}

fn accuracy(logits: &[f32], e: &Eval) -> Option<f64> {
    let pred = autoglm_infer::argmax_rows(logits, e.classes);
    (!e.rows.is_empty()).then(|| e.rows.iter().zip(&e.labels).filter(|(&r, &y)| pred[r] == y).count() as f64 / e.rows.len() as f64)
}

fn median_ms(repeats: usize, mut f: impl FnMut()) -> Option<f64> {
    if repeats == 0 {
        return None;
    }
    f(); // warm-up
    let mut t: Vec<f64> = (0..repeats)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    Some(t[t.len() / 2])
}

/// A model's forward pass on fixed inputs.
type Runner = Box<dyn Fn(&Model) -> Result<Vec<f32>>>;
/// The library's forward pass on fixed test inputs (flat logits).
type Forward = Box<dyn Fn() -> Result<Vec<f32>>>;
/// A model's calibration on the training rows.
type Calibrator = Box<dyn Fn(&Model) -> Result<Calibration>>;

/// Everything an export needs from its task: the float net, the
/// calibration, the test evaluation, and how to run each path.
struct Prepared {
    net: NetSpec,
    tensors: Tensors,
    /// `net` built over `tensors` (the float export).
    float: Model,
    calib: Calibration,
    /// Calibrate a model of this net on the training rows (again after pruning).
    calibrate: Calibrator,
    eval: Eval,
    /// The checkpoint's own forward pass (the library, candle).
    run_ref: Box<dyn Fn() -> Result<()>>,
    run_test: Runner,
    run_val: Runner,
    /// Rows of `run_val`'s scores that are validation data.
    val_rows: Vec<usize>,
}

/// Node features owned, in the inference crate's two forms.
pub(super) enum OwnedFeatures {
    Dense { values: Vec<f32>, cols: usize },
    Csr { ptr: Vec<usize>, col: Vec<usize>, val: Vec<f32>, cols: usize },
}

impl OwnedFeatures {
    pub(super) fn of(x: &NodeInput) -> Result<OwnedFeatures> {
        Ok(match x {
            NodeInput::Sparse(s) => {
                let m = s.matrix();
                OwnedFeatures::Csr { ptr: m.row_ptr.clone(), col: m.col_idx.clone(), val: m.values.clone(), cols: m.num_cols }
            }
            other => OwnedFeatures::Dense { values: other.to_tensor()?.flatten_all()?.to_vec1::<f32>()?, cols: other.dim() },
        })
    }
    pub(super) fn view(&self) -> Features<'_> {
        match self {
            OwnedFeatures::Dense { values, cols } => Features::Dense { values, cols: *cols },
            OwnedFeatures::Csr { ptr, col, val, cols } => Features::Csr { ptr, col, val, cols: *cols },
        }
    }
}

fn infer_err(what: &'static str) -> impl Fn(autoglm_infer::Error) -> Error {
    move |e| Error::config("export", what, e.to_string())
}

fn prepare_node(src: &Source, ck: &Checkpoint, meta: &CheckpointMeta, dir: &Path) -> Result<Prepared> {
    let classes = meta.num_classes.unwrap_or(0);
    let cfg: crate::tasks::node::NodeTrainConfig = meta.train_config(src.path)?;
    let (net, tensors) = node_net(src, &cfg.model, meta.in_dim, classes)?;
    let ds = load_node_dataset(dir, &meta.dataset)?;
    let (graph, x) = NodeData::inputs(&ds, cfg.normalize_features)?;
    let split = ds.split.clone().unwrap_or_default();
    let params = Params::new(cfg.seed);
    let model = cfg.model.init(meta.in_dim, classes, &params)?;
    ck.load_into(&params)?;
    let reference = model.forward(&graph, &x, &mut Ctx::eval())?.flatten_all()?.to_vec1::<f32>()?;
    let inputs = std::sync::Arc::new((infer_graph(&graph)?, OwnedFeatures::of(&x)?));
    // calibrate the float export on the training nodes' rows
    let (ci, train_rows) = (inputs.clone(), split.train.clone());
    let calibrate: Calibrator = Box::new(move |m: &Model| {
        let mut calib = Calibration { rows: Some(train_rows.clone()), ..Default::default() };
        m.node_scores(&ci.0, ci.1.view(), Some(&mut calib)).map_err(infer_err("calibration"))?;
        Ok(calib)
    });
    let float = Model::new(net.clone(), json!({}), &tensors).map_err(infer_err("model"))?;
    let calib = calibrate(&float)?;
    let runner = |i: std::sync::Arc<(autoglm_infer::Graph, OwnedFeatures)>| -> Runner {
        Box::new(move |m: &Model| m.predict_nodes(&i.0, i.1.view()).map_err(infer_err("predict")))
    };
    Ok(Prepared {
        net,
        tensors,
        float,
        calib,
        calibrate,
        eval: Eval { reference, labels: split.test.iter().map(|&i| ds.y[i]).collect(), rows: split.test.clone(), classes },
        run_ref: Box::new(move || {
            model.forward(&graph, &x, &mut Ctx::eval())?;
            Ok(())
        }),
        run_test: runner(inputs.clone()),
        run_val: runner(inputs),
        val_rows: split.val,
    })
}

fn prepare_graph(src: &Source, ck: &Checkpoint, meta: &CheckpointMeta, dir: &Path) -> Result<Prepared> {
    let classes = meta.num_classes.unwrap_or(0);
    let cfg: crate::tasks::graph::GraphTrainConfig = meta.train_config(src.path)?;
    let (net, tensors) = graph_net(src, &cfg.model, meta.in_dim, classes)?;
    let encoding: Option<crate::data::TuEncoding> = meta.encoding.get("tu_encoding").and_then(|v| serde_json::from_value(v.clone()).ok());
    let (ds, _) = crate::data::tu::load_tu_encoded(dir, &meta.dataset, &cfg.features, encoding.as_ref())?;
    let folds = crate::tasks::graph::prepare_folds(&ds, &cfg)?.1;
    let k = meta.encoding["fold"].as_u64().unwrap_or(0) as usize;
    let fold = folds.get(k).ok_or_else(|| Error::config("fold", k, "the checkpoint's fold is not among the dataset's folds"))?;
    let cols = meta.in_dim;
    let to_infer = |idx: &[usize]| -> Result<(autoglm_infer::GraphBatch, crate::data::GraphBatch)> {
        let b = crate::data::loader::collate(&ds, idx)?;
        Ok((autoglm_infer::GraphBatch { graph: infer_graph(&b.batch.graph)?, node_ptr: b.batch.node_ptr.clone() }, b))
    };
    let runner = |(ib, b): (autoglm_infer::GraphBatch, crate::data::GraphBatch)| -> Runner {
        Box::new(move |m: &Model| m.predict_graphs(&ib, Features::Dense { values: &b.x, cols }).map_err(infer_err("predict")))
    };
    // calibrate the float export on the fold's training graphs
    let (train_ib, train_b) = to_infer(&fold.train)?;
    let calibrate: Calibrator = Box::new(move |m: &Model| {
        let mut calib = Calibration::default();
        m.graph_scores(&train_ib, Features::Dense { values: &train_b.x, cols }, Some(&mut calib)).map_err(infer_err("calibration"))?;
        Ok(calib)
    });
    let float = Model::new(net.clone(), json!({}), &tensors).map_err(infer_err("model"))?;
    let calib = calibrate(&float)?;
    let test = to_infer(&fold.test)?;
    let params = Params::new(0);
    let model = cfg.model.init(meta.in_dim, classes, &params)?;
    ck.load_into(&params)?;
    let lib_b = test.1.clone();
    let lx = NodeInput::Dense(candle_core::Tensor::from_vec(lib_b.x.clone(), (lib_b.batch.graph.num_nodes(), cols), &candle_core::Device::Cpu)?);
    let reference = model.forward(&lib_b.batch, &lx, &mut Ctx::eval())?.flatten_all()?.to_vec1::<f32>()?;
    Ok(Prepared {
        net,
        tensors,
        float,
        calib,
        calibrate,
        eval: Eval { reference, labels: lib_b.y.clone(), rows: (0..fold.test.len()).collect(), classes },
        run_ref: Box::new(move || {
            model.forward(&lib_b.batch, &lx, &mut Ctx::eval())?;
            Ok(())
        }),
        run_test: runner(test),
        run_val: runner(to_infer(&fold.val)?),
        val_rows: (0..fold.val.len()).collect(),
    })
}

/// Export `spec.checkpoint` to `spec.out`.
///
/// # Errors
/// [`Error::Checkpoint`] for a checkpoint of another task or version;
/// [`Error::Config`] for an architecture the inference path does not have;
/// data errors for the calibration data; IO errors writing the file.
pub fn export(spec: &ExportSpec, env: &mut RunEnv) -> Result<serde_json::Value> {
    crate::checkpoint::check_writable(&spec.out, "export --out")?;
    let path = spec.checkpoint.as_path();
    let ck = crate::checkpoint::load(path)?;
    let meta = CheckpointMeta::from_checkpoint(path, &ck)?;
    let src = Source::new(path, &ck);
    let dir = crate::data::data_dir(spec.data_dir.as_deref());
    let classes = meta.num_classes.unwrap_or(0);
    let entry = env.models.for_task(&meta.model, &meta.task)?;
    if entry.builtin.is_none() {
        return Err(unsupported(&meta.model));
    }
    let repeats = spec.time_repeats;
    if let Some(r) = spec.prune {
        if !(0.0..1.0).contains(&r) {
            return Err(Error::config("prune", r, "give the share of weights to remove, in [0, 1), for example 0.9"));
        }
    }
    let Prepared { net, mut tensors, mut float, mut calib, calibrate, eval, run_ref, run_test, run_val, val_rows } = match meta.task.as_str() {
        "node" => prepare_node(&src, &ck, &meta, &dir)?,
        "graph" => prepare_graph(&src, &ck, &meta, &dir)?,
        other => return Err(unsupported(format!("a {other} checkpoint"))),
    };
    let pruned = match spec.prune {
        Some(rate) if rate > 0.0 => {
            let (removed, total) = prune_weights(&mut tensors, rate);
            float = Model::new(net.clone(), json!({}), &tensors).map_err(infer_err("model"))?;
            calib = calibrate(&float)?;
            env.progress.note(&format!(
                "pruned {removed} of {total} weight-matrix entries ({:.2} %) by global magnitude, without fine-tuning",
                100.0 * removed as f64 / total.max(1) as f64
            ));
            Some(json!({"rate": rate, "removed": removed, "weights": total, "sparsity": removed as f64 / total.max(1) as f64}))
        }
        _ => None,
    };
    // Int8: the activation scheme that best keeps the float model's
    // predictions on the validation rows (ties: the more static one).
    let mut schemes = vec![];
    let (out_net, out_tensors, scheme) = match spec.quantize {
        Precision::F32 => (net.clone(), tensors.clone(), None),
        Precision::Int8 => {
            let want = autoglm_infer::argmax_rows(&run_val(&float)?, classes);
            let mut best: Option<(f64, NetSpec, Tensors, autoglm_infer::ActScheme)> = None;
            for sch in autoglm_infer::ActScheme::ALL {
                let (n, t) = autoglm_infer::model::quantize(&net, &tensors, &calib, sch).map_err(|e| Error::config("export", "quantize", e.to_string()))?;
                let m = Model::new(n.clone(), json!({}), &t).map_err(|e| Error::config("export", "model", e.to_string()))?;
                let got = autoglm_infer::argmax_rows(&run_val(&m)?, classes);
                let agree = val_rows.iter().filter(|&&r| got[r] == want[r]).count() as f64 / val_rows.len().max(1) as f64;
                schemes.push(json!({"scheme": sch, "val_agreement_with_float": agree}));
                if best.as_ref().is_none_or(|b| agree > b.0) {
                    best = Some((agree, n, t, sch));
                }
            }
            let (_, n, t, sch) = best.expect("three schemes");
            env.progress.note(&format!("int8 activations: {sch:?} (chosen on {} validation rows by agreement with the float model)", val_rows.len()));
            (n, t, Some(sch))
        }
    };
    let file_meta = file_meta(&meta, path, spec.quantize, scheme);
    let bytes = autoglm_infer::format::encode(&out_net, &file_meta, &out_tensors);
    let exported = Model::from_bytes(&bytes).map_err(|e| Error::config("export", "the written model", e.to_string()))?;
    crate::checkpoint::write_atomic(&spec.out, &bytes)?;
    // what a weights-only float file of the same parameters would take
    let float_bytes: usize = ck.tensors.iter().filter(|(n, _)| !ck.buffers.contains(n)).map(|(_, t)| t.elem_count() * 4).sum();
    let ck_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let float_logits = run_test(&float)?;
    let out_logits = run_test(&exported)?;
    let diff = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) as f64;
    let agree = {
        let (a, b) = (autoglm_infer::argmax_rows(&out_logits, classes), autoglm_infer::argmax_rows(&eval.reference, classes));
        eval.rows.iter().filter(|&&r| a[r] == b[r]).count() as f64 / eval.rows.len().max(1) as f64
    };
    let t_ref = median_ms(repeats, || {
        let _ = run_ref();
    });
    let t_float = median_ms(repeats, || {
        let _ = run_test(&float);
    });
    let t_out = median_ms(repeats, || {
        let _ = run_test(&exported);
    });
    let (acc_ref, acc_float, acc_out) = (accuracy(&eval.reference, &eval), accuracy(&float_logits, &eval), accuracy(&out_logits, &eval));
    env.progress.note(&format!(
        "wrote {} ({} bytes, {:?}); test accuracy: checkpoint {}, float export {}, this export {}; predictions agreeing with the checkpoint {:.2} %",
        spec.out.display(),
        bytes.len(),
        spec.quantize,
        pct(acc_ref),
        pct(acc_float),
        pct(acc_out),
        agree * 100.0
    ));
    Ok(json!({
        "out": spec.out.display().to_string(), "task": meta.task, "model": meta.model, "dataset": meta.dataset, "precision": spec.quantize,
        "bytes": bytes.len(), "checkpoint_bytes": ck_bytes, "float_weights_bytes": float_bytes, "size_ratio_vs_float_weights": float_bytes as f64 / bytes.len() as f64,
        "test": {"rows": eval.rows.len(), "accuracy_checkpoint": acc_ref, "accuracy_float_export": acc_float, "accuracy_export": acc_out,
                  "agreement_with_checkpoint": agree, "max_abs_logit_diff_float_export": diff(&float_logits, &eval.reference), "max_abs_logit_diff_export": diff(&out_logits, &eval.reference)},
        "timing_ms": {"repeats": repeats, "checkpoint_library": t_ref, "float_export": t_float, "export": t_out,
                      "speedup_vs_fastest_float": match (t_ref, t_float, t_out) { (Some(a), Some(b), Some(c)) => Some(a.min(b) / c), _ => None }},
        "calibration_rows": calib.rows.as_ref().map(|r| r.len()),
        "activation_scheme": scheme, "schemes_on_validation": schemes, "validation_rows": val_rows.len(), "pruned": pruned,
    }))
}

/// Zero the `rate` share of the weight matrices' entries with the smallest
/// magnitude, over all matrices at once (biases and vectors kept): one round
/// of `autoglm prune`'s global masks. Returns (entries zeroed, entries considered).
fn prune_weights(tensors: &mut Tensors, rate: f64) -> (usize, usize) {
    let weights: Vec<(String, Vec<f32>)> = tensors
        .iter()
        .filter_map(|(n, (shape, d))| match d {
            Data::F32(v) if n.ends_with(".weight") && shape.len() == 2 => Some((n.clone(), v.clone())),
            _ => None,
        })
        .collect();
    let masks = super::prune::next_masks(&weights, &Default::default(), rate, super::prune::Scope::Global);
    let (mut removed, mut total) = (0, 0);
    for (name, mask) in masks {
        if let Some((_, Data::F32(v))) = tensors.get_mut(&name) {
            for (x, m) in v.iter_mut().zip(&mask) {
                total += 1;
                if *m == 0.0 {
                    *x = 0.0;
                    removed += 1;
                }
            }
        }
    }
    (removed, total)
}

/// The metadata an export carries (what `predict_export` and the server read back).
fn file_meta(meta: &CheckpointMeta, path: &Path, precision: Precision, scheme: Option<autoglm_infer::ActScheme>) -> serde_json::Value {
    json!({
        "task": meta.task, "model": meta.model, "dataset": meta.dataset, "classes": meta.num_classes.unwrap_or(0), "in_dim": meta.in_dim,
        "precision": precision, "activation_scheme": scheme, "source": path.display().to_string(), "train": meta.train, "encoding": meta.encoding,
    })
}

/// The inference model of a model file: an `.agx` export as written, or a
/// node / graph checkpoint's float export built in memory (what `autoglm
/// export --quantize f32` would write; no data needed).
///
/// # Errors
/// [`Error::Checkpoint`] for a damaged file, one of another version or of a
/// task without an inference path; [`Error::Config`] for an architecture
/// export does not support.
pub fn inference_model(path: &Path, env: &RunEnv) -> Result<Model> {
    if is_export(path) {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path.to_path_buf(), e))?;
        return Model::from_bytes(&bytes).map_err(|e| Error::Checkpoint { path: path.into(), msg: e.to_string() });
    }
    let ck = crate::checkpoint::load(path)?;
    let meta = CheckpointMeta::from_checkpoint(path, &ck)?;
    float_model(path, &ck, &meta, env)
}

/// A loaded node / graph checkpoint's float export, built in memory.
///
/// # Errors
/// As [`inference_model`].
pub(super) fn float_model(path: &Path, ck: &Checkpoint, meta: &CheckpointMeta, env: &RunEnv) -> Result<Model> {
    let entry = env.models.for_task(&meta.model, &meta.task)?;
    if entry.builtin.is_none() {
        return Err(unsupported(&meta.model));
    }
    let src = Source::new(path, ck);
    let classes = meta.num_classes.unwrap_or(0);
    let (net, tensors) = match meta.task.as_str() {
        "node" => node_net(&src, &meta.train_config::<crate::tasks::node::NodeTrainConfig>(path)?.model, meta.in_dim, classes)?,
        "graph" => graph_net(&src, &meta.train_config::<crate::tasks::graph::GraphTrainConfig>(path)?.model, meta.in_dim, classes)?,
        other => return Err(unsupported(format!("a {other} checkpoint"))),
    };
    Model::new(net, file_meta(meta, path, Precision::F32, None), &tensors).map_err(infer_err("model"))
}

/// The inference crate's form of a graph (CSR arrays and edge weights).
pub(super) fn infer_graph(g: &crate::graph::Graph) -> Result<autoglm_infer::Graph> {
    let bad = |e: autoglm_infer::Error| Error::config("graph", "CSR", e.to_string());
    let ig = autoglm_infer::Graph::from_csr(g.row_ptr().to_vec(), g.col_idx().to_vec()).map_err(bad)?;
    match g.edge_weight() {
        Some(w) => ig.with_weights(w.to_vec()).map_err(bad),
        None => Ok(ig),
    }
}

/// Whether `path` is an `.agx` export (by its magic bytes).
pub fn is_export(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == autoglm_infer::format::MAGIC
}

/// `autoglm predict` on an `.agx` export: node labels on the dataset (its
/// test accuracy where it has a split), or graph labels of a TU dataset.
///
/// # Errors
/// [`Error::Checkpoint`] for a damaged file or one of another version; data errors.
pub fn predict_export(spec: &super::PredictSpec, env: &mut RunEnv) -> Result<serde_json::Value> {
    let path = &spec.checkpoint;
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path.clone(), e))?;
    let model = Model::from_bytes(&bytes).map_err(|e| Error::Checkpoint { path: path.clone(), msg: e.to_string() })?;
    let meta = model.meta().clone();
    let task = model.spec().task();
    if let Some(t) = &spec.task {
        if t.to_ascii_lowercase() != task {
            return Err(Error::Checkpoint { path: path.clone(), msg: format!("is a {task} model, not a {t} one; drop --task or pass --task {task}") });
        }
    }
    let dir = crate::data::data_dir(spec.data_dir.as_deref());
    let classes = model.spec().classes();
    let fail = |e: autoglm_infer::Error| Error::config("predict", "input", e.to_string());
    match task {
        "node" => {
            let dataset = spec.dataset.clone().or_else(|| meta["dataset"].as_str().map(String::from)).unwrap_or_default();
            let normalize = meta["train"]["normalize_features"].as_bool().unwrap_or(false);
            let ds = load_node_dataset(&dir, &dataset)?;
            let (graph, x) = NodeData::inputs(&ds, normalize)?;
            let g = infer_graph(&graph)?;
            let scores = model.predict_nodes(&g, OwnedFeatures::of(&x)?.view()).map_err(fail)?;
            let pred = autoglm_infer::argmax_rows(&scores, classes);
            let test = ds.split.as_ref().map(|s| s.test.clone()).unwrap_or_default();
            let acc = (!test.is_empty() && ds.has_labels()).then(|| test.iter().filter(|&&i| pred[i] == ds.y[i]).count() as f64 / test.len() as f64);
            env.progress.note(&format!("{dataset}: predicted {} nodes with {}; test accuracy {}", pred.len(), path.display(), pct(acc)));
            Ok(json!({"task": "node", "dataset": dataset, "model": meta["model"], "precision": meta["precision"], "predictions": pred, "test_acc": acc}))
        }
        _ => {
            let name = spec.graphs.clone().or_else(|| spec.dataset.clone()).or_else(|| meta["dataset"].as_str().map(String::from)).unwrap_or_default();
            let cfg: crate::tasks::graph::GraphTrainConfig = serde_json::from_value(meta["train"].clone())
                .map_err(|e| Error::Checkpoint { path: path.clone(), msg: format!("its training configuration does not fit this version ({e})") })?;
            let encoding: Option<crate::data::TuEncoding> = meta["encoding"].get("tu_encoding").and_then(|v| serde_json::from_value(v.clone()).ok());
            let (ds, _) = crate::data::tu::load_tu_encoded(&dir, &name, &cfg.features, encoding.as_ref())?;
            let all: Vec<usize> = (0..ds.graphs.len()).collect();
            let b = crate::data::loader::collate(&ds, &all)?;
            let g = infer_graph(&b.batch.graph)?;
            let batch = autoglm_infer::GraphBatch { graph: g, node_ptr: b.batch.node_ptr.clone() };
            let scores = model.predict_graphs(&batch, Features::Dense { values: &b.x, cols: ds.num_node_features }).map_err(fail)?;
            let pred = autoglm_infer::argmax_rows(&scores, classes);
            let acc = (ds.num_classes == classes).then(|| pred.iter().zip(&b.y).filter(|(p, y)| p == y).count() as f64 / pred.len().max(1) as f64);
            env.progress.note(&format!("{name}: classified {} graphs with {}; accuracy against its graph labels {}", pred.len(), path.display(), pct(acc)));
            Ok(json!({"task": "graph", "graphs": name, "model": meta["model"], "precision": meta["precision"], "predictions": pred, "accuracy": acc}))
        }
    }
}

/// An int8 check of a checkpoint of any architecture (`autoglm eval
/// --quantize int8`): the library's own forward pass with every `Linear`
/// in int8 ([`crate::nn::with_int8_linears`]) against the float forward, on
/// the test data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Int8CheckSpec {
    pub checkpoint: PathBuf,
    pub data_dir: Option<PathBuf>,
    /// Timed forward passes of each (default 0: no timing).
    pub time_repeats: usize,
}

/// Run [`Int8CheckSpec`]: test accuracy in float and in int8, their agreement
/// and largest logit difference, and both forward passes timed.
///
/// # Errors
/// [`Error::Checkpoint`] for a checkpoint of another task (node and graph
/// checkpoints are checked); data errors.
pub fn int8_check(spec: &Int8CheckSpec, env: &mut RunEnv) -> Result<serde_json::Value> {
    let path = spec.checkpoint.as_path();
    let ck = crate::checkpoint::load(path)?;
    let meta = CheckpointMeta::from_checkpoint(path, &ck)?;
    let dir = crate::data::data_dir(spec.data_dir.as_deref());
    let classes = meta.num_classes.unwrap_or(0);
    let entry = env.models.for_task(&meta.model, &meta.task)?;
    // the forward pass on the test data, and the test rows' labels
    let (forward, rows, labels): (Forward, Vec<usize>, Vec<usize>) = match meta.task.as_str() {
        "node" => {
            let cfg: crate::tasks::node::NodeTrainConfig = meta.train_config(path)?;
            let ds = load_node_dataset(&dir, &meta.dataset)?;
            let (graph, x) = NodeData::inputs(&ds, cfg.normalize_features)?;
            let params = Params::new(cfg.seed);
            let model = super::node::build(entry, &cfg, &meta.model_options, &params, meta.in_dim, classes)?;
            ck.load_into(&params)?;
            let test = ds.split.clone().unwrap_or_default().test;
            let labels = test.iter().map(|&i| ds.y[i]).collect();
            (Box::new(move || Ok(model.forward(&graph, &x, &mut Ctx::eval())?.flatten_all()?.to_vec1::<f32>()?)), test, labels)
        }
        "graph" => {
            let cfg: crate::tasks::graph::GraphTrainConfig = meta.train_config(path)?;
            let encoding: Option<crate::data::TuEncoding> = meta.encoding.get("tu_encoding").and_then(|v| serde_json::from_value(v.clone()).ok());
            let (ds, _) = crate::data::tu::load_tu_encoded(&dir, &meta.dataset, &cfg.features, encoding.as_ref())?;
            let folds = crate::tasks::graph::prepare_folds(&ds, &cfg)?.1;
            let k = meta.encoding["fold"].as_u64().unwrap_or(0) as usize;
            let fold = folds.get(k).ok_or_else(|| Error::config("fold", k, "the checkpoint's fold is not among the dataset's folds"))?;
            let b = crate::data::loader::collate(&ds, &fold.test)?;
            let x = NodeInput::Dense(candle_core::Tensor::from_vec(b.x.clone(), (b.batch.graph.num_nodes(), meta.in_dim), &candle_core::Device::Cpu)?);
            let params = Params::new(0);
            let model = super::graph::build(entry, &cfg, &meta.model_options, &params, meta.in_dim, classes)?;
            ck.load_into(&params)?;
            let (labels, rows) = (b.y.clone(), (0..fold.test.len()).collect());
            (Box::new(move || Ok(model.forward(&b.batch, &x, &mut Ctx::eval())?.flatten_all()?.to_vec1::<f32>()?)), rows, labels)
        }
        other => return Err(unsupported(format!("a {other} checkpoint"))),
    };
    let float = forward()?;
    let int8 = crate::nn::with_int8_linears(&forward)?;
    let eval = Eval { reference: float.clone(), labels, rows, classes };
    let (pf, pq) = (autoglm_infer::argmax_rows(&float, classes), autoglm_infer::argmax_rows(&int8, classes));
    let agree = eval.rows.iter().filter(|&&r| pf[r] == pq[r]).count() as f64 / eval.rows.len().max(1) as f64;
    let max_diff = float.iter().zip(&int8).fold(0f32, |m, (a, b)| m.max((a - b).abs())) as f64;
    let t_float = median_ms(spec.time_repeats, || {
        let _ = forward();
    });
    let t_int8 = median_ms(spec.time_repeats, || {
        let _ = crate::nn::with_int8_linears(&forward);
    });
    let (acc_f, acc_q) = (accuracy(&float, &eval), accuracy(&int8, &eval));
    env.progress.note(&format!(
        "{} {} on {}: test accuracy float {}, int8 linears {}; {:.2} % of test predictions agree",
        meta.task,
        meta.model,
        meta.dataset,
        pct(acc_f),
        pct(acc_q),
        agree * 100.0
    ));
    Ok(json!({
        "task": meta.task, "model": meta.model, "dataset": meta.dataset, "checkpoint": path.display().to_string(),
        "what": "every Linear of the model in int8 (weights per output channel, activations per row, i32 products); message passing, attention and norms in f32",
        "test": {"rows": eval.rows.len(), "accuracy_float": acc_f, "accuracy_int8": acc_q, "agreement": agree, "max_abs_logit_diff": max_diff},
        "timing_ms": {"repeats": spec.time_repeats, "float": t_float, "int8": t_int8, "speedup": t_float.zip(t_int8).map(|(a, b)| a / b)},
    }))
}
