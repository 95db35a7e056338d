//! The run boundary: the library's API for a whole job. A [`JobSpec`] (plain
//! serde data: dataset, task, model, seeds, setting overrides, the run file's
//! sections, output files) goes in; a [`Report`] (effective configuration,
//! summary, per-run results, a printable table, notes) comes out.
//! [`predict`] does the same for a checkpoint. The `autoglm` CLI is argument
//! parsing and printing over these two functions; a server or a queue worker
//! calls the same code, so a job behaves the same whichever door it came
//! through.
//!
//! Settings are resolved in one order everywhere: the flags the user typed
//! ([`Overrides`], [`JobSpec`] fields), then the run file ([`RunFile`]), then
//! the model's recipe. Every fallback the run takes (a missing validation set,
//! stand-in features) is announced through [`Progress::note`] and recorded in
//! [`Report::notes`].
//!
//! Tasks plug in through the [`Task`] trait and the task registry
//! ([`tasks()`], [`task_by_name`], [`recognise`]); models through
//! [`crate::models::registry`].

pub mod auto;
pub mod compare;
pub mod export;
mod finetune;
mod generate;
mod graph;
mod link;
mod meta;
mod node;
mod pretrain;
pub mod prune;
mod runfile;
pub mod serve;
mod threads;

pub use finetune::{FinetuneMode, MODES as FINETUNE_MODES};
pub use generate::{evaluate_generator, generate, load_generator, GenerateSpec, Generated, LoadedGenerator, GENERATOR_MODEL};
pub use link::{run_robustness, RobustnessSpec};
pub use meta::{CheckpointMeta, META_VERSION};
pub use runfile::{RunFile, RunSection};
pub use threads::ThreadPolicy;

use crate::models::registry::ModelRegistry;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Settings the user typed that override the run file and the recipe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overrides {
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    pub hidden: Option<usize>,
    pub dropout: Option<f64>,
    pub patience: Option<usize>,
    /// Cross-validation folds (graph task only).
    pub folds: Option<usize>,
    /// Neighbour-sampling fanouts, one per layer (-1: all neighbours).
    pub fanouts: Option<Vec<i64>>,
    /// Batch size: seed nodes per step with sampling, graphs per step in the graph task.
    pub batch_size: Option<usize>,
}

/// Where [`Overrides::apply`] writes: the matching fields of a task's configuration.
pub struct Targets<'a> {
    pub epochs: &'a mut usize,
    pub lr: &'a mut Option<f64>,
    pub hidden: &'a mut usize,
    pub dropout: &'a mut f64,
    pub patience: &'a mut Option<usize>,
    /// The task's neighbour sampling (`None`: the task does not sample).
    pub sampling: Option<&'a mut Option<crate::train::SamplingConfig>>,
    /// The task's own batch size (`None`: it has none besides sampling's).
    pub batch_size: Option<&'a mut usize>,
}

impl Overrides {
    /// Write every setting the user typed into `t` (the others stay as the run file and recipe left them).
    ///
    /// # Errors
    /// [`Error::Config`] for `--fanouts` or `--batch-size` given to a task without that setting.
    pub fn apply(&self, t: Targets<'_>) -> Result<()> {
        if let Some(e) = self.epochs {
            *t.epochs = e;
        }
        if let Some(lr) = self.lr {
            *t.lr = Some(lr);
        }
        if let Some(h) = self.hidden {
            *t.hidden = h;
        }
        if let Some(d) = self.dropout {
            *t.dropout = d;
        }
        if self.patience.is_some() {
            *t.patience = self.patience;
        }
        let Targets { sampling, batch_size, .. } = t;
        match (sampling, &self.fanouts) {
            (Some(s), fanouts) => {
                if let Some(f) = fanouts {
                    let batch = s.as_ref().map_or(crate::train::SamplingConfig::DEFAULT_BATCH, |c| c.batch_size);
                    *s = Some(crate::train::SamplingConfig::new(f.clone(), batch));
                }
                if let Some(b) = self.batch_size {
                    match s {
                        Some(c) => c.batch_size = b,
                        None => return Err(Error::config(
                            "batch_size",
                            b,
                            "node classification trains full-batch unless it samples neighbours: add --fanouts (one per layer, for example --fanouts 15,10)",
                        )),
                    }
                }
            }
            (None, Some(f)) => {
                return Err(Error::config(
                    "fanouts",
                    format!("{f:?}"),
                    "neighbour sampling is a setting of node classification (--task node); this task does not sample",
                ));
            }
            (None, None) => {
                if let Some(b) = self.batch_size {
                    match batch_size {
                        Some(target) => *target = b,
                        None => {
                            return Err(Error::config(
                                "batch_size",
                                b,
                                "this task has no batch size to set (node classification with --fanouts and the graph task have)",
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// One training job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSpec {
    /// Dataset name (`cora`, `karate`, `MUTAG`, `csv:<folder>`); default: the
    /// run file's, else `karate`.
    pub dataset: Option<String>,
    /// Dataset folder; default `$AUTOGLM_DATA`, else `../shared/datasets`.
    pub data_dir: Option<PathBuf>,
    /// Task name ([`tasks()`]); default: the run file's, else recognised from the data.
    pub task: Option<String>,
    /// Model architecture ([`ModelRegistry`]); default: the run file's, else `gcn`.
    pub model: Option<String>,
    /// Seeded runs (seeds `seed`, `seed + 1`, ...); default: the run file's, else 1.
    pub runs: Option<u64>,
    /// First seed; default: the run file's, else the `[train]` section's, else 0.
    pub seed: Option<u64>,
    pub overrides: Overrides,
    /// The run file (TOML text's parsed form).
    pub run_file: RunFile,
    /// Save the model of the first run (fold) here.
    pub checkpoint: Option<PathBuf>,
    /// Write the resumable training state here after every epoch.
    pub save_state: Option<PathBuf>,
    /// Continue the first run from this training state.
    pub resume: Option<PathBuf>,
    /// Where the result JSON will be written (checked before training).
    pub out: Option<PathBuf>,
    /// Pretraining flags (`autoglm pretrain`).
    pub pretrain: PretrainFlags,
    /// Fine-tuning from a pretrained encoder (`autoglm finetune`).
    pub finetune: Option<FinetuneFlags>,
}

/// The flags of `autoglm pretrain` beyond the common ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainFlags {
    /// Objectives joined with `+` (`mask-feature+mask-edge`).
    pub objective: Option<String>,
    /// Share of nodes masked every epoch, in (0, 1).
    pub mask_rate: Option<f64>,
}

/// The flags of `autoglm finetune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneFlags {
    /// The pretrained encoder (`autoglm pretrain --checkpoint`).
    pub pretrained: PathBuf,
    /// `finetune`, `frozen`, `linear-probe`, `svm` (graph task), or `scratch` (the same model without the weights).
    pub mode: Option<String>,
    /// Labelled nodes per class (node task: a seeded choice among the split's training nodes).
    pub labels_per_class: Option<usize>,
}

/// The values a job runs with once flags, run file and defaults are merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    pub dataset: String,
    pub data_dir: PathBuf,
    pub task: String,
    pub model: String,
    pub runs: u64,
    /// `None`: the task's configuration decides (its `[train] seed`, else 0).
    pub seed: Option<u64>,
}

impl JobSpec {
    /// A job on `dataset` with `model`.
    pub fn new(dataset: impl Into<String>, model: impl Into<String>) -> JobSpec {
        JobSpec { dataset: Some(dataset.into()), model: Some(model.into()), ..JobSpec::default() }
    }
    /// Set the task.
    pub fn with_task(mut self, task: impl Into<String>) -> Self {
        self.task = Some(task.into());
        self
    }
    /// Set the number of runs.
    pub fn with_runs(mut self, runs: u64) -> Self {
        self.runs = Some(runs);
        self
    }
    /// Set the first seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Set the overrides.
    pub fn with_overrides(mut self, o: Overrides) -> Self {
        self.overrides = o;
        self
    }

    /// Merge flags, run file and defaults, and check output paths before any work.
    ///
    /// # Errors
    /// [`Error::Config`] for zero runs, an unknown task, or an output path that cannot be written.
    pub fn resolve(&self) -> Result<Resolved> {
        let r = &self.run_file.run;
        let dataset = self.dataset.clone().or_else(|| r.dataset.clone()).unwrap_or_else(|| "karate".into());
        let data_dir = crate::data::data_dir(self.data_dir.as_deref());
        // The run file may also name the architecture inside [train] (`[train.model] model = "gat"`).
        let model = self
            .model
            .clone()
            .or_else(|| r.model.clone())
            .or_else(|| self.run_file.train_str(&["model", "model"]))
            .or_else(|| self.run_file.train_str(&["encoder", "model"]))
            .unwrap_or_else(|| "gcn".into());
        let runs = self.runs.or(r.runs).unwrap_or(1);
        if runs == 0 {
            return Err(Error::config("runs", 0, "run at least once"));
        }
        if runs > 100_000 {
            return Err(Error::config("runs", runs, "more than 100000 runs is not plausible; pass a smaller --runs"));
        }
        let seed = self.seed.or(r.seed);
        let task = match self.task.clone().or_else(|| r.task.clone()) {
            Some(t) => task_by_name(&t)?.name().to_string(),
            None => recognise(&data_dir, &dataset).name().to_string(),
        };
        for (what, p) in [("checkpoint", &self.checkpoint), ("out", &self.out), ("save_state", &self.save_state)] {
            if let Some(p) = p {
                crate::checkpoint::check_writable(p, what)?;
            }
        }
        if let Some(p) = &self.resume {
            if !p.is_file() {
                return Err(Error::config("resume", p.display(), "no such training-state file; pass the file written by --save-state"));
            }
        }
        Ok(Resolved { dataset, data_dir, task, model, runs, seed })
    }
}

/// A printable table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers.
    pub fn new(headers: &[&str]) -> Table {
        Table { headers: headers.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }
    /// Render as aligned text (`| a | b |`).
    pub fn render(&self) -> String {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let s: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{:<width$}", c, width = w.get(i).copied().unwrap_or(0))).collect();
            format!("| {} |\n", s.join(" | "))
        };
        let mut out = line(&self.headers);
        out.push_str(&format!("|{}|\n", w.iter().map(|n| "-".repeat(n + 2)).collect::<Vec<_>>().join("|")));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// The outcome of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The result JSON (`task`, `dataset`, `model`, `config`, `summary`, `runs`
    /// or `folds`, `notes`, and task-specific keys).
    pub json: serde_json::Value,
    /// Per-run (or per-fold) table, and further tables (summaries).
    pub tables: Vec<Table>,
    /// The one-line result.
    pub headline: String,
    /// Fallbacks and protocol statements, also in `json.notes`.
    pub notes: Vec<String>,
}

/// What a long job reports while it runs. The CLI draws progress bars; a
/// server streams events. All methods have empty defaults.
pub trait Progress {
    /// A phase of `total` steps begins (`label`: "run 2/10", "fold 3/10").
    fn start(&mut self, _label: &str, _total: u64) {}
    /// Step `pos` of the phase is done; `msg` is a short status.
    fn step(&mut self, _pos: u64, _msg: &str) {}
    /// The phase ended.
    fn finish(&mut self) {}
    /// A line for the user (dataset summary, fallbacks, saved files).
    fn note(&mut self, _msg: &str) {}
}

/// No output at all.
pub struct Silent;
impl Progress for Silent {}

/// What the caller lends a job besides the spec.
pub struct RunEnv<'a> {
    pub progress: &'a mut dyn Progress,
    /// The models the job may use (default: the built-in ones).
    pub models: &'a ModelRegistry,
    /// Set to stop cleanly after the current epoch (Ctrl-C).
    pub stop: Option<&'a AtomicBool>,
    /// Notes collected for the report.
    pub notes: Vec<String>,
    /// Set when this process is one rank of a data-parallel run.
    pub dist: Option<Distributed<'a>>,
}

/// A task's epoch-loss hook in a data-parallel run: the weighted sum of the
/// ranks' losses (`weight`: this rank's share), and an agreement on stopping:
/// when any rank was asked to stop (`asked`), `agreed` is set on every rank,
/// so all stop after the same epoch and none waits in a collective.
pub(super) fn agreed_epoch_loss(d: &Distributed<'_>, weight: f32, asked: Option<&AtomicBool>, agreed: &AtomicBool, loss: f64) -> Result<f64> {
    use std::sync::atomic::Ordering;
    let stop = asked.is_some_and(|s| s.load(Ordering::SeqCst));
    let mut v = [(loss * f64::from(weight)) as f32, f32::from(u8::from(stop))];
    d.comm.all_reduce_sum(&mut v)?;
    if v[1] > 0.0 {
        agreed.store(true, Ordering::SeqCst);
    }
    Ok(f64::from(v[0]))
}

/// The trainer hooks of one run of a task: its progress callback and, in a
/// data-parallel run (`dist`), the rank's gradient and epoch-loss hooks and
/// the stop flag the ranks agree on; only a rank that `writes` keeps the
/// state file.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_hooks<'a, L>(
    job: &JobSpec,
    dist: bool,
    writes: bool,
    stop: Option<&'a AtomicBool>,
    on_epoch: &'a mut dyn FnMut(&L),
    grad_hook: &'a mut crate::train::GradHook<'a>,
    epoch_loss: &'a mut crate::train::trainer::EpochLossHook<'a>,
    agreed: &'a AtomicBool,
) -> crate::train::Hooks<'a, L> {
    crate::train::Hooks {
        on_epoch: Some(on_epoch),
        grad_hook: if dist { Some(grad_hook) } else { None },
        epoch_loss: if dist { Some(epoch_loss) } else { None },
        state_file: if writes { job.save_state.clone() } else { None },
        resume: job.resume.clone(),
        stop: if dist { Some(agreed) } else { stop },
    }
}

/// A rank's gradient synchronisation for `d`, its gradients weighted by `weight`.
pub(super) fn rank_sync<'c>(d: &Distributed<'c>, weight: f32) -> crate::dist::GradSync<'c> {
    let mut s = crate::dist::GradSync::new(d.comm, d.compression).with_mode(d.mode);
    s.set_weight(weight);
    s
}

/// The run JSON's `comm` object: totals over runs, and each run's.
pub(super) fn comm_json(runs: &[crate::dist::CommStats]) -> serde_json::Value {
    let total = runs.iter().fold(crate::dist::CommStats::default(), |a, c| crate::dist::CommStats {
        steps: a.steps + c.steps,
        bytes_sent: a.bytes_sent + c.bytes_sent,
        bytes_dense: a.bytes_dense + c.bytes_dense,
    });
    let mut j = total.to_json();
    j["per_run"] = serde_json::Value::from(runs.iter().map(crate::dist::CommStats::to_json).collect::<Vec<_>>());
    j
}

/// How a data-parallel run is described in a note.
pub(super) fn sync_words(d: &Distributed<'_>) -> String {
    match d.mode {
        crate::dist::SyncMode::EveryStep => "gradients summed every step".to_string(),
        crate::dist::SyncMode::Periodic { period } => format!("parameters averaged every {period} steps"),
    }
}

/// A data-parallel run's settings (`autoglm train --distributed` under
/// `mpirun`): the ranks, how gradients travel, how often replicas meet.
#[derive(Clone, Copy)]
pub struct Distributed<'a> {
    pub comm: &'a dyn crate::dist::Communicator,
    pub compression: crate::dist::Compression,
    pub mode: crate::dist::SyncMode,
}

impl Distributed<'_> {
    /// Rank 0 writes output files, checkpoints and state; the others do not.
    pub fn writes(&self) -> bool {
        self.comm.rank() == 0
    }
}

impl<'a> RunEnv<'a> {
    /// An environment with `progress` and `models`.
    pub fn new(progress: &'a mut dyn Progress, models: &'a ModelRegistry) -> RunEnv<'a> {
        RunEnv { progress, models, stop: None, notes: Vec::new(), dist: None }
    }
    /// Announce a fallback or protocol statement: shown now and recorded in the report.
    pub fn note(&mut self, msg: impl Into<String>) {
        let m = msg.into();
        self.progress.note(&m);
        self.notes.push(m);
    }
}

/// A prediction job: a checkpoint and what to predict on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictSpec {
    pub checkpoint: PathBuf,
    /// The task the caller expects (default: the checkpoint's).
    pub task: Option<String>,
    /// Dataset to predict on (default: the one it was trained on).
    pub dataset: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Link task: a CSV of `src,dst` pairs to score.
    pub pairs: Option<PathBuf>,
    /// Graph task: a TU-format folder of graphs to classify.
    pub graphs: Option<String>,
}

/// A learning task as the run boundary sees it.
pub trait Task: Send + Sync {
    /// The name users type (`--task NAME`).
    fn name(&self) -> &'static str;
    /// One line for help texts.
    fn describe(&self) -> &'static str;
    /// Whether the dataset named `dataset` in `data_dir` is this task's kind of
    /// data (the router asks the tasks in registry order; a task that must be
    /// asked for explicitly returns false).
    fn recognises(&self, data_dir: &Path, dataset: &str) -> bool;
    /// Train and evaluate.
    fn train(&self, job: &JobSpec, resolved: &Resolved, env: &mut RunEnv) -> Result<Report>;
    /// Architectures the task builds itself rather than from the model
    /// registry (the generate task's `generator`).
    /// How the router and `autoglm auto` search this task (`None`: not searchable).
    fn searchable(&self) -> Option<&'static dyn auto::Searchable> {
        None
    }
    fn own_models(&self) -> &'static [&'static str] {
        &[]
    }
    /// Predict with a checkpoint of this task.
    fn predict(&self, spec: &PredictSpec, ck: &crate::checkpoint::Checkpoint, meta: &CheckpointMeta, env: &mut RunEnv) -> Result<serde_json::Value>;
}

static TASKS: [&dyn Task; 5] = [&graph::GraphTask, &generate::GenerateTask, &pretrain::PretrainTask, &node::NodeTask, &link::LinkTask];

/// Every task, in the order the router asks them.
pub fn tasks() -> &'static [&'static dyn Task] {
    &TASKS
}

/// The task named `name` (case-insensitive).
///
/// # Errors
/// [`Error::UnknownName`] listing the known tasks.
pub fn task_by_name(name: &str) -> Result<&'static dyn Task> {
    let n = name.trim().to_ascii_lowercase();
    tasks().iter().copied().find(|t| t.name() == n).ok_or_else(|| Error::unknown("task", name, &tasks().iter().map(|t| t.name()).collect::<Vec<_>>()))
}

/// The router's rule: the first task that recognises the data (many graphs
/// with graph labels: graph classification), else node classification.
pub fn recognise(data_dir: &Path, dataset: &str) -> &'static dyn Task {
    tasks().iter().copied().find(|t| t.recognises(data_dir, dataset)).unwrap_or(&node::NodeTask)
}

/// Run a training job with the built-in models.
///
/// # Errors
/// Configuration, data and training errors, each naming the setting or file.
pub fn execute(job: &JobSpec, progress: &mut dyn Progress) -> Result<Report> {
    let models = ModelRegistry::builtin();
    execute_with(job, &mut RunEnv::new(progress, &models))
}

/// Run a training job in `env` (its model registry, stop flag and progress).
///
/// # Errors
/// As [`execute`].
pub fn execute_with(job: &JobSpec, env: &mut RunEnv) -> Result<Report> {
    let resolved = job.resolve()?;
    let task = task_by_name(&resolved.task)?;
    if env.dist.is_some() && (!matches!(task.name(), "node" | "link" | "graph") || job.finetune.is_some()) {
        return Err(Error::config(
            "distributed",
            if job.finetune.is_some() { "finetune" } else { task.name() },
            "data-parallel training shards node classification, link prediction and graph classification (--task node, link or graph); run this one in one process (without mpirun and --distributed)",
        ));
    }
    let mut report = if job.finetune.is_some() { finetune::finetune(job, &resolved, env)? } else { task.train(job, &resolved, env)? };
    report.notes = std::mem::take(&mut env.notes);
    if let Some(obj) = report.json.as_object_mut() {
        obj.insert("notes".into(), serde_json::to_value(&report.notes)?);
    }
    Ok(report)
}

/// Predict with a checkpoint (built-in models).
///
/// # Errors
/// [`Error::Checkpoint`] for a file of another task, format or version, or
/// with missing metadata; data errors.
pub fn predict(spec: &PredictSpec, progress: &mut dyn Progress) -> Result<serde_json::Value> {
    let models = ModelRegistry::builtin();
    predict_with(spec, &mut RunEnv::new(progress, &models))
}

/// [`predict`] in `env`.
///
/// # Errors
/// As [`predict`].
pub fn predict_with(spec: &PredictSpec, env: &mut RunEnv) -> Result<serde_json::Value> {
    if export::is_export(&spec.checkpoint) {
        return export::predict_export(spec, env);
    }
    let ck = crate::checkpoint::load(&spec.checkpoint)?;
    let meta = CheckpointMeta::from_checkpoint(&spec.checkpoint, &ck)?;
    if let Some(t) = &spec.task {
        let want = task_by_name(t)?.name();
        if want != meta.task {
            return Err(Error::Checkpoint {
                path: spec.checkpoint.clone(),
                msg: format!("is a {} checkpoint, not a {want} one; drop --task or pass --task {}", meta.task, meta.task),
            });
        }
    }
    let task = task_by_name(&meta.task)
        .map_err(|_| Error::Checkpoint { path: spec.checkpoint.clone(), msg: format!("names the unknown task '{}'", meta.task.escape_debug()) })?;
    task.predict(spec, &ck, &meta, env)
}

/// `x` as a percentage with two decimals, or `n/a` for a metric over nothing.
pub(crate) fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{:.2}", v * 100.0))
}
