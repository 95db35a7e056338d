//! The model registry: every architecture a task can train, by name, with the
//! tasks it serves, its search space (for the router and AutoML) and a
//! constructor. A new model is one file with a [`Module`] and one
//! [`ModelRegistry::register`] call; no task or router code changes.
//!
//! ```
//! use autoglm::prelude::*;
//! use autoglm::models::registry::{ModelArgs, ModelEntry, ModelRegistry, SearchSpace};
//! let mut reg = ModelRegistry::builtin();
//! reg.register(ModelEntry::new("gcn1", &["node", "graph"], SearchSpace::default(), |a: &ModelArgs, p: &Params| {
//!     Ok(Box::new(GcnConvConfig::new(a.in_dim, a.out_dim).init(p)?) as Box<dyn Module>)
//! }))?;
//! assert!(reg.get("gcn1")?.serves("node"));
//! assert!(reg.get("nope").is_err());
//! # Ok::<(), autoglm::Error>(())
//! ```

use crate::models::{GnnConfig, ModelKind};
use crate::nn::{Module, Params, SageAggr};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a model constructor gets: the widths the task needs and the common
/// hyper-parameters (from the task's configuration), plus model-specific
/// options (the run file's `[train.model]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArgs {
    pub in_dim: usize,
    pub out_dim: usize,
    pub hidden_dim: usize,
    pub num_layers: usize,
    pub dropout: f64,
    #[serde(default)]
    pub options: serde_json::Value,
}

/// One dimension of a search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SearchDim {
    /// One of these integers.
    Int { name: String, values: Vec<i64> },
    /// A float in `[low, high]`, sampled on a log scale when `log`.
    Float { name: String, low: f64, high: f64, log: bool },
    /// One of these names.
    Choice { name: String, values: Vec<String> },
}

/// The hyper-parameters a search may vary for a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    pub dims: Vec<SearchDim>,
}

impl SearchSpace {
    /// GraphGym's common design dimensions: width, depth, dropout, learning rate.
    pub fn common() -> SearchSpace {
        SearchSpace {
            dims: vec![
                SearchDim::Int { name: "hidden_dim".into(), values: vec![16, 32, 64, 128, 256] },
                SearchDim::Int { name: "num_layers".into(), values: vec![1, 2, 3, 4] },
                SearchDim::Float { name: "dropout".into(), low: 0.0, high: 0.8, log: false },
                SearchDim::Float { name: "lr".into(), low: 1e-4, high: 1e-1, log: true },
                SearchDim::Float { name: "weight_decay".into(), low: 1e-6, high: 1e-2, log: true },
            ],
        }
    }
    /// Add a dimension.
    pub fn with(mut self, d: SearchDim) -> SearchSpace {
        self.dims.push(d);
        self
    }
    /// A dimension by name.
    pub fn get(&self, name: &str) -> Option<&SearchDim> {
        self.dims.iter().find(|d| match d {
            SearchDim::Int { name: n, .. } | SearchDim::Float { name: n, .. } | SearchDim::Choice { name: n, .. } => n == name,
        })
    }
}

/// The graph transformer's own dimensions beside the common ones.
fn transformer_space() -> SearchSpace {
    let choice = |name: &str, v: &[&str]| SearchDim::Choice { name: name.into(), values: v.iter().map(|s| s.to_string()).collect() };
    SearchSpace::common()
        .with(SearchDim::Int { name: "layer.attention.heads.local".into(), values: vec![0, 2, 4] })
        .with(SearchDim::Int { name: "layer.attention.heads.khop".into(), values: vec![0, 2] })
        .with(SearchDim::Int { name: "layer.attention.heads.global".into(), values: vec![0, 2, 4] })
        .with(choice("layer.mpnn", &["none", "gcn", "gin", "sage"]))
        .with(choice("layer.norm", &["layer", "batch", "none"]))
        .with(choice("pe.kind", &["none", "rwse", "lap"]))
        .with(choice("jk", &["last", "cat", "max", "attention"]))
}

/// A model constructor.
pub type Builder = Arc<dyn Fn(&ModelArgs, &Params) -> Result<Box<dyn Module>> + Send + Sync>;

/// One registered architecture.
#[derive(Clone)]
pub struct ModelEntry {
    /// The name users type (`--model NAME`), lower case.
    pub name: String,
    /// The tasks it serves (`node`, `graph`, `link`).
    pub tasks: Vec<String>,
    pub space: SearchSpace,
    /// `Some(kind)` for the built-in stacks, which the tasks build from their
    /// papers' recipes (and the graph task with its GIN-paper classifier).
    pub builtin: Option<ModelKind>,
    pub build: Builder,
}

impl std::fmt::Debug for ModelEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelEntry({}, tasks {:?})", self.name, self.tasks)
    }
}

impl ModelEntry {
    /// A model named `name` serving `tasks`, built by `build`.
    pub fn new(
        name: &str,
        tasks: &[&str],
        space: SearchSpace,
        build: impl Fn(&ModelArgs, &Params) -> Result<Box<dyn Module>> + Send + Sync + 'static,
    ) -> ModelEntry {
        ModelEntry { name: name.to_ascii_lowercase(), tasks: tasks.iter().map(|t| t.to_string()).collect(), space, builtin: None, build: Arc::new(build) }
    }
    /// Whether it serves `task`.
    pub fn serves(&self, task: &str) -> bool {
        self.tasks.iter().any(|t| t == task)
    }
    /// Build it.
    ///
    /// # Errors
    /// Whatever the constructor returns.
    pub fn build(&self, args: &ModelArgs, p: &Params) -> Result<Box<dyn Module>> {
        (self.build)(args, p)
    }
}

/// Models by name.
#[derive(Clone, Debug, Default)]
pub struct ModelRegistry {
    entries: Vec<ModelEntry>,
}

fn builtin_entry(kind: ModelKind, tasks: &[&str], space: SearchSpace) -> ModelEntry {
    let mut e = ModelEntry::new(&kind.to_string(), tasks, space, move |a: &ModelArgs, p: &Params| {
        let cfg = GnnConfig { hidden_dim: a.hidden_dim, num_layers: a.num_layers, dropout: a.dropout, ..GnnConfig::recipe(kind) };
        Ok(Box::new(cfg.init(a.in_dim, a.out_dim, p)?) as Box<dyn Module>)
    });
    e.builtin = Some(kind);
    e
}

impl ModelRegistry {
    /// An empty registry.
    pub fn empty() -> ModelRegistry {
        ModelRegistry::default()
    }

    /// The built-in models: `gcn`, `gat`, `sage`, `gin` (and the link task's
    /// `gae` / `vgae`, GCN encoders in the GAE recipe).
    pub fn builtin() -> ModelRegistry {
        let c = SearchSpace::common;
        let mut r = ModelRegistry::empty();
        r.entries.push(builtin_entry(ModelKind::Gcn, &["node", "link", "graph", "pretrain"], c()));
        r.entries.push(builtin_entry(
            ModelKind::Gat,
            &["node", "link", "pretrain"],
            c().with(SearchDim::Int { name: "heads".into(), values: vec![1, 2, 4, 8] }).with(SearchDim::Float {
                name: "attn_dropout".into(),
                low: 0.0,
                high: 0.8,
                log: false,
            }),
        ));
        let aggr: Vec<String> = [SageAggr::Mean, SageAggr::Max, SageAggr::Sum].iter().map(|a| format!("{a:?}").to_ascii_lowercase()).collect();
        r.entries.push(builtin_entry(
            ModelKind::Sage,
            &["node", "link", "graph", "pretrain"],
            c().with(SearchDim::Choice { name: "aggr".into(), values: aggr }),
        ));
        r.entries.push(builtin_entry(
            ModelKind::Gin,
            &["node", "link", "graph", "pretrain"],
            c().with(SearchDim::Choice { name: "train_eps".into(), values: vec!["false".into(), "true".into()] }),
        ));
        r.entries.push(ModelEntry::new("gt", &["node", "link", "graph", "pretrain"], transformer_space(), |a: &ModelArgs, p: &Params| {
            Ok(Box::new(crate::models::transformer::GtConfig::from_args(a)?.init(p)?) as Box<dyn Module>)
        }));
        for name in ["gae", "vgae"] {
            let mut e = builtin_entry(ModelKind::Gcn, &["link"], c());
            e.name = name.into();
            r.entries.push(e);
        }
        r
    }

    /// Add a model.
    ///
    /// # Errors
    /// [`Error::Config`] when the name is taken or empty.
    pub fn register(&mut self, entry: ModelEntry) -> Result<()> {
        if entry.name.is_empty() || self.entries.iter().any(|e| e.name == entry.name) {
            return Err(Error::config("model name", &entry.name, "is empty or already registered; choose another name"));
        }
        self.entries.push(entry);
        Ok(())
    }

    /// `self` with `entry` added.
    ///
    /// # Errors
    /// As [`ModelRegistry::register`].
    pub fn with(mut self, entry: ModelEntry) -> Result<ModelRegistry> {
        self.register(entry)?;
        Ok(self)
    }

    /// The model named `name` (case-insensitive; `graphsage` is `sage`).
    ///
    /// # Errors
    /// [`Error::UnknownName`] listing the registered names.
    pub fn get(&self, name: &str) -> Result<&ModelEntry> {
        let n = name.trim().to_ascii_lowercase();
        let n = if n == "graphsage" { "sage".to_string() } else { n };
        self.entries.iter().find(|e| e.name == n).ok_or_else(|| Error::unknown("model", name, &self.names()))
    }

    /// The model named `name`, which must serve `task`.
    ///
    /// # Errors
    /// As [`ModelRegistry::get`]; [`Error::Config`] when it does not serve `task`.
    pub fn for_task(&self, name: &str, task: &str) -> Result<&ModelEntry> {
        let e = self.get(name)?;
        if !e.serves(task) {
            let ok: Vec<&str> = self.serving(task).map(|e| e.name.as_str()).collect();
            return Err(Error::config("model", name, format!("does not serve the {task} task; models that do: {}", ok.join(", "))));
        }
        Ok(e)
    }

    /// Every registered name.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The models that serve `task`.
    pub fn serving<'a>(&'a self, task: &'a str) -> impl Iterator<Item = &'a ModelEntry> + 'a {
        self.entries.iter().filter(move |e| e.serves(task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_serve_their_tasks_and_names_are_unique() {
        let r = ModelRegistry::builtin();
        assert_eq!(r.names(), vec!["gcn", "gat", "sage", "gin", "gt", "gae", "vgae"]);
        assert!(r.for_task("gat", "graph").is_err());
        assert!(r.for_task("GraphSAGE", "graph").is_ok());
        assert!(r.for_task("vgae", "node").unwrap_err().to_string().contains("gcn, gat, sage, gin, gt"));
        let mut r2 = r.clone();
        assert!(r2.register(r.get("gcn").unwrap().clone()).is_err());
        assert!(r.get("gin").unwrap().space.get("train_eps").is_some());
        let m = r
            .get("gcn")
            .unwrap()
            .build(&ModelArgs { in_dim: 3, out_dim: 2, hidden_dim: 4, num_layers: 2, dropout: 0.0, options: serde_json::Value::Null }, &Params::new(0))
            .unwrap();
        let g = crate::graph::Graph::from_edges(2, &[(0, 1)]).unwrap();
        let x = crate::nn::NodeInput::Dense(candle_core::Tensor::ones((2, 3), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap());
        assert_eq!(m.forward(&g, &x, &mut crate::nn::Ctx::eval()).unwrap().dims(), &[2, 2]);
    }
}
