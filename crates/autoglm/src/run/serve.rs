//! Model files held in memory to answer many small requests: what `autoglm
//! serve` loads once at start and calls per request (or per batch of
//! concurrent requests). Synchronous, like the rest of the library; the
//! server crate puts HTTP, batching and threads around it.
//!
//! What each task serves:
//! - **node** (a checkpoint or an `.agx` export): labels of nodes of the
//!   graph given at start (its logits are computed once at load: the graph is
//!   fixed), or of posted graphs (a forward pass per batch).
//! - **graph**: labels of posted graphs, batched into one block-diagonal graph.
//! - **link** (a checkpoint): scores of node pairs of the start graph; the
//!   encoder runs once at load over the training graph of the checkpoint's
//!   own split, the decoder per request.
//! - **generate** (a generator checkpoint): sampled graphs.
//!
//! Node and graph models run through the inference crate (`autoglm-infer`):
//! an export as written, a checkpoint as its float export built in memory.

use super::export::{infer_graph, inference_model, OwnedFeatures};
use super::{CheckpointMeta, GenerateSpec, LoadedGenerator, RunEnv};
use crate::data::registry::load_node_dataset;
use crate::tasks::link::LinkModel;
use crate::tasks::node::NodeData;
use crate::{Error, Result};
use autoglm_infer::{Features, GraphBatch, Model, PostedGraph};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What to load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSpec {
    /// A checkpoint (`.safetensors`) or an export (`.agx`).
    pub checkpoint: PathBuf,
    /// Node and link models: the graph to answer over (default: the one the model was trained on).
    pub dataset: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// A predicted label with the class probabilities (softmax of the logits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<usize>,
    pub label: usize,
    pub probabilities: Vec<f32>,
}

/// The score of a node pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkScore {
    pub src: usize,
    pub dst: usize,
    pub logit: f32,
    pub probability: f64,
    /// Whether the pair is an edge of the graph the encoder saw.
    pub training_edge: bool,
}

/// What one posted graph gets back: its label (graph task) or its nodes' labels (node task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PostedAnswer {
    Graph(Label),
    Nodes(Vec<Label>),
}

/// A request's posted graphs, validated and joined: ready to be batched
/// with other requests' by [`Served::run_posted`].
#[derive(Debug, Clone)]
pub struct PostedBatch {
    batch: GraphBatch,
    x: Vec<f32>,
}

impl PostedBatch {
    /// Number of graphs.
    pub fn graphs(&self) -> usize {
        self.batch.node_ptr.len() - 1
    }
    /// Number of nodes over all graphs.
    pub fn nodes(&self) -> usize {
        self.batch.graph.num_nodes()
    }
}

/// A sampling request (the server's `/v1/generate` body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateRequest {
    /// Graphs to sample (default 1).
    pub num: Option<usize>,
    pub seed: u64,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_nodes: Option<usize>,
    pub valence_mask: bool,
}

struct NodeServed {
    model: Model,
    logits: Vec<f32>,
    classes: usize,
}

struct LinkServed {
    model: LinkModel,
    z: candle_core::Tensor,
    graph: crate::graph::Graph,
}

enum Kind {
    Node(NodeServed),
    Graph(Model),
    Link(Mutex<LinkServed>),
    Generator(Box<Mutex<LoadedGenerator>>),
}

/// A loaded model file.
pub struct Served {
    /// `node`, `graph`, `link` or `generate`.
    pub task: String,
    /// The architecture.
    pub model: String,
    /// The dataset answered over (node, link) or trained on.
    pub dataset: String,
    /// `f32` or `int8` (the inference path), `f32-library` (link, generate).
    pub precision: String,
    /// Nodes of the start graph (node, link; 0 otherwise).
    pub num_nodes: usize,
    /// Feature width posted graphs need (node, graph; 0 otherwise).
    pub in_dim: usize,
    kind: Kind,
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

fn label(row: &[f32], node: Option<usize>) -> Label {
    let p = softmax(row);
    let best = autoglm_infer::argmax_rows(row, row.len())[0];
    Label { node, label: best, probabilities: p }
}

fn input_err(e: autoglm_infer::Error) -> Error {
    Error::config("request", "graphs", e.to_string())
}

fn wrong_task(served: &str, asked: &str, hint: &str) -> Error {
    Error::config("endpoint", asked, format!("this server holds a {served} model; {hint}"))
}

impl Served {
    /// Load `spec.checkpoint` (and, for node and link models, its graph).
    ///
    /// # Errors
    /// The file's errors ([`Error::Checkpoint`]: damaged, another version,
    /// another task), an architecture without an inference path, data errors.
    pub fn load(spec: &ServeSpec, env: &mut RunEnv) -> Result<Served> {
        let path = spec.checkpoint.as_path();
        // the file is read (and its checksum verified) once
        let model = if super::export::is_export(path) {
            inference_model(path, env)?
        } else {
            let ck = crate::checkpoint::load(path)?;
            let meta = CheckpointMeta::from_checkpoint(path, &ck)?;
            match meta.task.as_str() {
                "link" => return Self::load_link(spec, &ck, &meta, env),
                "generate" => {
                    let (model, dataset) = (meta.model.clone(), meta.dataset.clone());
                    let g = super::generate::generator_of(path, &ck, meta)?;
                    return Ok(Served {
                        task: "generate".into(),
                        model,
                        dataset,
                        precision: "f32-library".into(),
                        num_nodes: 0,
                        in_dim: 0,
                        kind: Kind::Generator(Box::new(Mutex::new(g))),
                    });
                }
                _ => super::export::float_model(path, &ck, &meta, env)?,
            }
        };
        let meta = model.meta().clone();
        let text = |k: &str| meta[k].as_str().unwrap_or_default().to_string();
        let (task, in_dim) = (model.spec().task().to_string(), model.spec().in_dim());
        let (mut dataset, mut num_nodes) = (text("dataset"), 0);
        let kind = if task == "node" {
            if let Some(d) = &spec.dataset {
                dataset = d.clone();
            }
            let normalize = meta["train"]["normalize_features"].as_bool().unwrap_or(false);
            let dir = crate::data::data_dir(spec.data_dir.as_deref());
            env.progress.note(&format!("loading {dataset} ..."));
            let ds = load_node_dataset(&dir, &dataset)?;
            let (graph, x) = NodeData::inputs(&ds, normalize)?;
            let classes = model.spec().classes();
            let logits =
                model.predict_nodes(&infer_graph(&graph)?, OwnedFeatures::of(&x)?.view()).map_err(|e| Error::config("dataset", &dataset, e.to_string()))?;
            num_nodes = graph.num_nodes();
            Kind::Node(NodeServed { model, logits, classes })
        } else {
            Kind::Graph(model)
        };
        let precision = meta["precision"].as_str().unwrap_or("f32").to_string();
        Ok(Served { task, model: text("model"), dataset, precision, num_nodes, in_dim, kind })
    }

    fn load_link(spec: &ServeSpec, ck: &crate::checkpoint::Checkpoint, meta: &CheckpointMeta, env: &mut RunEnv) -> Result<Served> {
        env.progress.note("loading the link model's graph ...");
        let (model, data, dataset) = super::link::load_link_model(&spec.checkpoint, ck, meta, spec.dataset.as_deref(), spec.data_dir.as_deref(), env)?;
        let graph = data.split.train_graph.clone();
        let z = model.embed(&graph, &data.x)?;
        Ok(Served {
            task: "link".into(),
            model: meta.model.clone(),
            dataset,
            precision: "f32-library".into(),
            num_nodes: graph.num_nodes(),
            in_dim: 0,
            kind: Kind::Link(Mutex::new(LinkServed { model, z, graph })),
        })
    }

    /// What the server reports about the model (`GET /v1/model`).
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "task": self.task, "model": self.model, "dataset": self.dataset, "precision": self.precision,
            "num_nodes": (self.num_nodes > 0).then_some(self.num_nodes), "in_dim": (self.in_dim > 0).then_some(self.in_dim),
        })
    }

    /// Labels of nodes of the start graph.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] for an id that is not a node; [`Error::Config`] when this is not a node model.
    pub fn node_labels(&self, nodes: &[usize]) -> Result<Vec<Label>> {
        let Kind::Node(n) = &self.kind else {
            return Err(wrong_task(&self.task, "predict/node", "it answers its own endpoint (see GET /v1/model)"));
        };
        check_nodes(nodes, self.num_nodes, "nodes")?;
        Ok(nodes.iter().map(|&i| label(&n.logits[i * n.classes..(i + 1) * n.classes], Some(i))).collect())
    }

    /// Validate and join one request's posted graphs (node or graph model).
    ///
    /// # Errors
    /// [`Error::Config`] naming the graph and the problem: no graphs, an edge
    /// to a missing node, a feature row count other than `num_nodes`, a width
    /// other than the model's, a value that is not finite.
    pub fn prepare_posted(&self, graphs: &[PostedGraph]) -> Result<PostedBatch> {
        if !matches!(self.kind, Kind::Node(_) | Kind::Graph(_)) {
            return Err(wrong_task(&self.task, "posted graphs", "posted graphs are for node and graph models"));
        }
        if graphs.is_empty() {
            return Err(Error::config("graphs", "[]", "post at least one graph"));
        }
        for (k, g) in graphs.iter().enumerate() {
            if let Some((r, row)) = g.features.iter().enumerate().find(|(_, r)| r.len() != self.in_dim) {
                return Err(Error::config(
                    "graphs",
                    format!("graph {k}, feature row {r}"),
                    format!("has {} values; this model takes {} features per node", row.len(), self.in_dim),
                ));
            }
            if g.features.iter().flatten().any(|v| !v.is_finite()) {
                return Err(Error::config("graphs", format!("graph {k}"), "has a feature value that is not a finite number"));
            }
        }
        let (batch, x, _) = GraphBatch::from_posted(graphs).map_err(input_err)?;
        Ok(PostedBatch { batch, x })
    }

    /// One forward pass over several requests' posted graphs; the answers per request, in order.
    ///
    /// # Errors
    /// [`Error::Config`] when this is not a node or graph model.
    pub fn run_posted(&self, parts: &[&PostedBatch]) -> Result<Vec<Vec<PostedAnswer>>> {
        let joined = GraphBatch::concat(&parts.iter().map(|p| &p.batch).collect::<Vec<_>>());
        let x: Vec<f32> = parts.iter().flat_map(|p| p.x.iter().copied()).collect();
        let feats = Features::Dense { values: &x, cols: self.in_dim };
        let fail = |e: autoglm_infer::Error| Error::config("request", "graphs", e.to_string());
        let mut out = Vec::with_capacity(parts.len());
        match &self.kind {
            Kind::Graph(m) => {
                let c = m.spec().classes();
                let scores = m.predict_graphs(&joined, feats).map_err(fail)?;
                let mut rows = scores.chunks(c);
                for p in parts {
                    out.push((0..p.graphs()).map(|_| PostedAnswer::Graph(label(rows.next().expect("one row per graph"), None))).collect());
                }
            }
            Kind::Node(n) => {
                let scores = n.model.predict_nodes(&joined.graph, feats).map_err(fail)?;
                let mut base = 0;
                for p in parts {
                    let mut answers = Vec::with_capacity(p.graphs());
                    for w in p.batch.node_ptr.windows(2) {
                        let rows = (w[0]..w[1]).map(|i| label(&scores[(base + i) * n.classes..(base + i + 1) * n.classes], Some(i - w[0]))).collect();
                        answers.push(PostedAnswer::Nodes(rows));
                    }
                    base += p.nodes();
                    out.push(answers);
                }
            }
            _ => return Err(wrong_task(&self.task, "posted graphs", "posted graphs are for node and graph models")),
        }
        Ok(out)
    }

    /// Scores of node pairs of the start graph (link model).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] for an id that is not a node; [`Error::Config`] when this is not a link model.
    pub fn score_links(&self, pairs: &[(usize, usize)]) -> Result<Vec<LinkScore>> {
        let Kind::Link(l) = &self.kind else {
            return Err(wrong_task(&self.task, "predict/link", "link scores need a link-prediction checkpoint"));
        };
        for (k, &(u, v)) in pairs.iter().enumerate() {
            check_nodes(&[u, v], self.num_nodes, &format!("pairs[{k}]"))?;
        }
        let l = l.lock().unwrap_or_else(|p| p.into_inner());
        let logits = l.model.score_with(&l.z, pairs)?;
        Ok(pairs
            .iter()
            .zip(logits)
            .map(|(&(src, dst), logit)| LinkScore {
                src,
                dst,
                logit,
                probability: 1.0 / (1.0 + (-(logit as f64)).exp()),
                training_edge: l.graph.has_edge(src, dst),
            })
            .collect())
    }

    /// Sample graphs (generator checkpoint); one JSON object per graph, as `autoglm generate` writes them.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad request (see `SampleConfig::validate`) or when this is not a generator.
    pub fn generate(&self, req: &GenerateRequest, max_num: usize) -> Result<Vec<serde_json::Value>> {
        let Kind::Generator(g) = &self.kind else {
            return Err(wrong_task(&self.task, "generate", "sampling needs a generator checkpoint"));
        };
        let num = req.num.unwrap_or(1);
        if num == 0 || num > max_num {
            return Err(Error::config("num", num, format!("ask for 1 to {max_num} graphs per request; submit a generate job for more")));
        }
        let spec = GenerateSpec {
            num,
            seed: req.seed,
            temperature: req.temperature,
            top_p: req.top_p,
            max_nodes: req.max_nodes,
            valence_mask: req.valence_mask,
            ..Default::default()
        };
        let g = g.lock().unwrap_or_else(|p| p.into_inner());
        let mut progress = super::Silent;
        let models = crate::models::registry::ModelRegistry::builtin();
        let mut env = RunEnv::new(&mut progress, &models);
        g.sample_lines(&spec, &mut env)
    }
}

fn check_nodes(nodes: &[usize], n: usize, what: &str) -> Result<()> {
    match nodes.iter().enumerate().find(|(_, &i)| i >= n) {
        Some((k, &i)) => {
            Err(Error::IndexOutOfRange { what: format!("{what}[{k}]"), index: i, bound: n, hint: format!("node ids are 0-based, below num_nodes = {n}") })
        }
        None => Ok(()),
    }
}

/// Whether `path` names a file a server can load (for a clear error before binding).
pub fn check_servable(path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(Error::Checkpoint {
            path: path.into(),
            msg: "does not exist: pass --checkpoint FILE (a .safetensors checkpoint or an .agx export)".into(),
        });
    }
    Ok(())
}
