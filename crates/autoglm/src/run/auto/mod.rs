//! The router and AutoML: recognise the task, describe the data, propose a
//! search space that fits it, search it with TPE (or random) proposals under
//! synchronous successive halving on epochs, score every trial on validation
//! data only, then retrain the winner over 10 seeds (or inside every outer
//! fold) and report its test metrics once.
//!
//! Everything goes through the run boundary: a trial is a [`JobSpec`] whose
//! run file is the configuration ([`space::Config::run_file`]), run by
//! [`super::execute_with`] in its own rayon pool sized by the
//! [`ThreadPolicy`]; the winner is written as a run file
//! (`best.toml`) and the final retraining runs exactly that file.
//!
//! Tasks take part through [`Searchable`] ([`super::Task::searchable`]); models
//! through their registry entry's search space. Neither needs router code.
//!
//! Halving: brackets of `bracket` configurations (default 9) start at
//! `max_epochs / eta²` epochs; the best `1/eta` of each rung (default eta 3)
//! are trained again from scratch at `eta` times the epochs, up to
//! `max_epochs`. Proposals for a bracket are made before it starts, from the
//! scores at the highest fidelity with at least [`sampler::STARTUP`] scores, so
//! with `--trials` the same seed gives the same trials whatever the number of
//! parallel jobs (each trial's result does not depend on its thread count). A
//! time budget stops launching trials once it is spent (started trials finish),
//! so which trials run depends on the machine's speed.

pub mod meta;
pub mod sampler;
pub mod space;
pub mod store;

pub use meta::MetaFeatures;
pub use sampler::Strategy;
pub use space::{Config, Param, Space, Value};
pub use store::{Store, StoredTrial};

use super::{JobSpec, Progress, Report, RunEnv, RunFile, Silent, Table, ThreadPolicy};
use crate::models::registry::{ModelEntry, ModelRegistry, SearchDim};
use crate::{Error, Result};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// How a task takes part in the search.
pub trait Searchable: Send + Sync {
    /// The data's meta-features.
    ///
    /// # Errors
    /// Data errors.
    fn meta_features(&self, data_dir: &Path, dataset: &str) -> Result<MetaFeatures>;
    /// The task's design space for data like `meta` over `models` (each model's
    /// own dimensions included through [`model_params`]).
    fn space(&self, meta: &MetaFeatures, models: &[&ModelEntry]) -> Space;
    /// Epochs at full fidelity.
    fn max_epochs(&self, meta: &MetaFeatures) -> usize;
    /// Settings every trial and the final retraining get (`train.fold_index`
    /// for the outer fold the search is nested in, a validation holdout where
    /// the split has none).
    fn fixed_settings(&self, meta: &MetaFeatures, fold: Option<usize>) -> Vec<(&'static str, Value)>;
    /// The outer folds a search is nested in (`None`: one search on the split).
    ///
    /// # Errors
    /// Data errors.
    fn outer_folds(&self, _data_dir: &Path, _dataset: &str) -> Result<Option<usize>> {
        Ok(None)
    }
    /// The validation metric the search maximises.
    fn score_name(&self) -> &'static str;
    /// The validation score of a trial's report (one run or one fold).
    fn val_score(&self, report: &Report) -> Option<f64>;
    /// The test metrics of a final report: `(name, mean, std)` over its runs.
    fn test_metrics(&self, report: &Report) -> Vec<(String, f64, f64)>;
}

/// The dimensions of `entry`'s own search space that the task's design space
/// does not already set (`common`: the names the task maps itself). A built-in
/// stack's option goes to `builtin_prefix.<name>` (after `rename`); a
/// registered model's to its `[model]` table.
pub fn model_params(entry: &ModelEntry, common: &[&str], builtin_prefix: &str, rename: &dyn Fn(&str) -> Option<String>) -> Vec<Param> {
    entry
        .space
        .dims
        .iter()
        .filter_map(|d| {
            let name = dim_name(d);
            if common.contains(&name) {
                return None;
            }
            let key = if entry.builtin.is_some() { format!("{builtin_prefix}.{}", rename(name)?) } else { format!("model.{name}") };
            Some(Param { key, dim: d.clone(), model: Some(entry.name.clone()) })
        })
        .collect()
}

/// A dimension's name.
pub fn dim_name(d: &SearchDim) -> &str {
    match d {
        SearchDim::Int { name, .. } | SearchDim::Float { name, .. } | SearchDim::Choice { name, .. } => name,
    }
}

/// An AutoML job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoSpec {
    pub dataset: String,
    pub data_dir: Option<PathBuf>,
    /// Default: recognised from the data.
    pub task: Option<String>,
    /// Wall-clock budget of the search in seconds (the final retraining is extra).
    pub budget_s: Option<f64>,
    /// Configurations to try (per outer fold).
    pub trials: Option<usize>,
    pub seed: u64,
    pub strategy: Strategy,
    /// Output folder.
    pub out: PathBuf,
    /// Trials run at once (default: the cores, one kernel thread each).
    pub jobs: Option<usize>,
    /// Models the search may choose (default: every registered model serving the task).
    pub models: Option<Vec<String>>,
    /// The trial store (default [`store::default_path`]); `None` with `no_store`.
    pub store: Option<PathBuf>,
    pub no_store: bool,
    /// Configurations taken from the store's nearest datasets to start with (default 3; 0: a cold start).
    pub warm_start: usize,
    /// Continue the search in `out` (its `trials.jsonl`).
    pub resume: bool,
    /// Seeded runs of the final retraining (default 10; the graph task retrains each outer fold once).
    pub final_runs: u64,
    /// Graph task: search only the first this many outer folds (default: all).
    pub outer_folds: Option<usize>,
    /// Full-fidelity epochs (default: the task's).
    pub max_epochs: Option<usize>,
    /// Configurations per halving bracket (default 9).
    pub bracket: usize,
    /// Halving rate (default 3).
    pub eta: usize,
    /// Skip the final retraining (searches measured only on validation, such as the warm-start study).
    pub no_final: bool,
}

impl Default for AutoSpec {
    fn default() -> Self {
        AutoSpec {
            dataset: "karate".into(),
            data_dir: None,
            task: None,
            budget_s: None,
            trials: None,
            seed: 0,
            strategy: Strategy::Tpe,
            out: PathBuf::from("auto"),
            jobs: None,
            models: None,
            store: None,
            no_store: false,
            warm_start: 3,
            resume: false,
            final_runs: 10,
            outer_folds: None,
            max_epochs: None,
            bracket: 9,
            eta: 3,
            no_final: false,
        }
    }
}

/// One evaluation of a configuration at one fidelity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The outer fold the search is nested in (graph task).
    pub fold: Option<usize>,
    /// The configuration's number within its search (0, 1, ...).
    pub id: usize,
    pub bracket: usize,
    pub rung: usize,
    pub epochs: usize,
    pub config: Config,
    /// Validation score (`None`: the trial failed, see `error`).
    pub score: Option<f64>,
    pub error: Option<String>,
    pub seconds: f64,
    /// Search time when it finished (seconds since the search began, across resumes).
    pub at_s: f64,
    /// Where the configuration came from (`tpe`, `random`, `warm:<dataset>`).
    pub origin: String,
}

/// Evaluations a search of `trials` configurations makes (brackets of
/// `bracket`, the best `1/eta` promoted at each of `rungs` rungs).
pub fn planned_evaluations(trials: usize, bracket: usize, eta: usize, rungs: usize) -> usize {
    let mut total = 0;
    let mut left = trials;
    while left > 0 {
        let mut n = bracket.min(left);
        left -= n;
        for r in 0..rungs {
            total += n;
            if r + 1 < rungs {
                n = n.div_ceil(eta);
            }
        }
    }
    total
}

fn rung_epochs(max: usize, eta: usize, rungs: usize) -> Vec<usize> {
    (0..rungs).map(|r| (max / eta.pow((rungs - 1 - r) as u32)).max(1)).collect()
}

struct Ctx<'a> {
    spec: &'a AutoSpec,
    task: &'static dyn super::Task,
    search: &'a dyn Searchable,
    meta: MetaFeatures,
    space: Space,
    models: &'a ModelRegistry,
    data_dir: PathBuf,
    max_epochs: usize,
    jobs: usize,
    policy: ThreadPolicy,
    cache: HashMap<(Option<usize>, usize, usize), Trial>,
    log: PathBuf,
    store: Option<Store>,
    search_id: String,
    start: Instant,
    offset_s: f64,
    stop: Option<&'a AtomicBool>,
}

impl Ctx<'_> {
    fn elapsed(&self) -> f64 {
        self.offset_s + self.start.elapsed().as_secs_f64()
    }
    fn out_of_time(&self, budget: Option<f64>) -> bool {
        budget.is_some_and(|b| self.elapsed() >= b)
    }
    fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// The job of `config` at `epochs` (fold: the outer fold).
    fn job(&self, config: &Config, epochs: usize, fold: Option<usize>, runs: u64, seed: u64) -> Result<JobSpec> {
        let mut extra = self.search.fixed_settings(&self.meta, fold);
        extra.push(("train.epochs", Value::from(epochs)));
        let mut rf = config.run_file(self.task.name(), &self.spec.dataset, &extra)?;
        rf.run.runs = Some(runs);
        rf.run.seed = Some(seed);
        Ok(JobSpec { data_dir: Some(self.data_dir.clone()), run_file: rf, ..JobSpec::default() })
    }

    /// Evaluate `todo` (index, config, epochs, ...) in parallel; results in order.
    fn evaluate(
        &mut self,
        todo: Vec<Trial>,
        budget: Option<f64>,
        progress: &mut dyn Progress,
        best: &mut Option<(f64, String)>,
        done: &mut u64,
    ) -> Result<Vec<Trial>> {
        let mut results: Vec<Option<Trial>> = vec![None; todo.len()];
        let mut pending = Vec::new();
        for (i, t) in todo.iter().enumerate() {
            match self.cache.get(&(t.fold, t.id, t.rung)) {
                Some(c) if c.config == t.config && c.epochs == t.epochs => results[i] = Some(c.clone()),
                _ => pending.push(i),
            }
        }
        let next = AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Trial)>();
        let this = &*self;
        let todo_ref = &todo;
        let pending_ref = &pending;
        std::thread::scope(|scope| -> Result<()> {
            for _ in 0..this.jobs.min(pending.len()) {
                let tx = tx.clone();
                let next = &next;
                scope.spawn(move || {
                    let Ok(pool) = this.policy.build_pool() else { return };
                    loop {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if k >= pending_ref.len() || this.stopped() || this.out_of_time(budget) {
                            return;
                        }
                        let i = pending_ref[k];
                        let mut t = todo_ref[i].clone();
                        let t0 = Instant::now();
                        let res = this.job(&t.config, t.epochs, t.fold, 1, this.spec.seed).and_then(|job| {
                            pool.install(|| {
                                let mut silent = Silent;
                                let mut env = RunEnv::new(&mut silent, this.models);
                                env.stop = this.stop;
                                super::execute_with(&job, &mut env)
                            })
                        });
                        t.seconds = t0.elapsed().as_secs_f64();
                        match res {
                            Ok(r) => t.score = this.search.val_score(&r).filter(|s| s.is_finite()),
                            Err(Error::Interrupted { .. }) => return,
                            Err(e) => t.error = Some(e.to_string()),
                        }
                        if t.score.is_none() && t.error.is_none() {
                            t.error = Some(format!("the report has no validation {}", this.search.score_name()));
                        }
                        if this.stopped() {
                            return;
                        }
                        t.at_s = this.elapsed();
                        if tx.send((i, t)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            for (i, t) in rx {
                self_record(this, &t)?;
                *done += 1;
                if let Some(s) = t.score {
                    if t.rung + 1 == this.rungs() && best.as_ref().is_none_or(|b| s > b.0) {
                        *best = Some((s, t.config.describe()));
                    }
                }
                let b = best.as_ref().map_or_else(|| "best: none at full fidelity yet".to_string(), |b| format!("best {:.4}: {}", b.0, b.1));
                progress.step(if budget.is_some() { this.elapsed() as u64 } else { *done }, &b);
                results[i] = Some(t);
            }
            Ok(())
        })?;
        // store lines are appended by the main thread only (self_record is read-only on ctx; the store is appended below)
        let out: Vec<Trial> = results.into_iter().flatten().collect();
        for t in &out {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.cache.entry((t.fold, t.id, t.rung)) {
                slot.insert(t.clone());
                if let (Some(store), Some(score)) = (self.store.as_mut(), t.score) {
                    store.append(StoredTrial {
                        version: store::STORE_VERSION,
                        task: self.task.name().into(),
                        dataset: self.spec.dataset.clone(),
                        meta: self.meta.clone(),
                        config: t.config.clone(),
                        score,
                        epochs: t.epochs,
                        full: t.epochs == self.max_epochs,
                        search: self.search_id.clone(),
                    })?;
                }
            }
        }
        Ok(out)
    }

    fn rungs(&self) -> usize {
        let mut r = 1;
        while r < 6 && self.max_epochs / self.spec.eta.pow(r as u32) >= 1 && self.spec.eta.pow(r as u32) <= self.spec.bracket {
            r += 1;
        }
        r
    }

    /// One search (inside outer fold `fold`).
    fn search(&mut self, fold: Option<usize>, budget: Option<f64>, progress: &mut dyn Progress) -> Result<Vec<Trial>> {
        let rungs = self.rungs();
        let epochs = rung_epochs(self.max_epochs, self.spec.eta, rungs);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.spec.seed ^ fold.map_or(0, |f| (f as u64 + 1) << 32));
        let mut all: Vec<Trial> = Vec::new();
        // the warm-start configurations are fixed when a search first starts (warm*.json), so a resumed search replays the same trials
        let warm_file = self.spec.out.join(fold.map_or_else(|| "warm.json".to_string(), |f| format!("warm_fold{f}.json")));
        let mut warm: Vec<(Config, String)> = match std::fs::read_to_string(&warm_file) {
            Ok(text) if self.spec.resume => {
                serde_json::from_str(&text).map_err(|e| Error::parse(&warm_file, None, format!("{e}; delete the file to warm-start afresh")))?
            }
            _ => {
                let w: Vec<(Config, String)> = match &self.store {
                    Some(s) if self.spec.warm_start > 0 => s
                        .warm_start(&self.meta, self.spec.warm_start)
                        .into_iter()
                        .filter_map(|(c, d, _)| Some((self.space.fit(&c, &mut rng)?, format!("warm:{d}"))))
                        .collect(),
                    _ => Vec::new(),
                };
                write_json(&warm_file, &w)?;
                w
            }
        };
        let mut next_id = 0usize;
        let mut best: Option<(f64, String)> = None;
        let mut done = 0u64;
        let mut bracket = 0usize;
        let budget_end = budget.map(|b| self.elapsed() + b);
        loop {
            let left = self.spec.trials.map_or(usize::MAX, |n| n.saturating_sub(next_id));
            if left == 0 || self.out_of_time(budget_end) || self.stopped() {
                break;
            }
            let n = self.spec.bracket.min(left);
            // the highest fidelity with enough scores
            let obs_rung = (0..rungs).rev().find(|&r| all.iter().filter(|t| t.rung == r && t.score.is_some()).count() >= sampler::STARTUP).unwrap_or(0);
            let mut obs: Vec<sampler::Observation> =
                all.iter().filter(|t| t.rung == obs_rung).filter_map(|t| Some(sampler::Observation { config: &t.config, score: t.score? })).collect();
            // A configuration that failed (a model refusing an option, a
            // diverged loss) counts as the worst score seen, so TPE learns to
            // avoid its region instead of proposing it again.
            let worst = obs.iter().map(|o| o.score).fold(f64::INFINITY, f64::min);
            if worst.is_finite() {
                obs.extend(all.iter().filter(|t| t.score.is_none()).map(|t| sampler::Observation { config: &t.config, score: worst }));
            }
            let n_warm = warm.len().min(n);
            let mut configs: Vec<(Config, String)> = warm.drain(..n_warm).collect();
            let model_based = self.spec.strategy == Strategy::Tpe && obs.len() >= sampler::STARTUP;
            let origin = if model_based { "tpe" } else { "random" };
            for c in sampler::propose(&self.space, self.spec.strategy, &obs, n - n_warm, &mut rng)? {
                configs.push((c, origin.to_string()));
            }
            let mut survivors: Vec<(usize, Config, String)> = configs
                .into_iter()
                .map(|(c, o)| {
                    next_id += 1;
                    (next_id - 1, c, o)
                })
                .collect();
            for (r, &e) in epochs.iter().enumerate() {
                let todo: Vec<Trial> = survivors
                    .iter()
                    .map(|(id, c, o)| Trial {
                        fold,
                        id: *id,
                        bracket,
                        rung: r,
                        epochs: e,
                        config: c.clone(),
                        score: None,
                        error: None,
                        seconds: 0.0,
                        at_s: 0.0,
                        origin: o.clone(),
                    })
                    .collect();
                let mut res = self.evaluate(todo, budget_end, progress, &mut best, &mut done)?;
                all.extend(res.iter().cloned());
                if r + 1 == rungs || res.is_empty() {
                    break;
                }
                res.sort_by(|a, b| b.score.unwrap_or(f64::NEG_INFINITY).total_cmp(&a.score.unwrap_or(f64::NEG_INFINITY)).then(a.id.cmp(&b.id)));
                let keep = res.len().div_ceil(self.spec.eta);
                survivors = res.into_iter().take(keep).filter(|t| t.score.is_some()).map(|t| (t.id, t.config, t.origin)).collect();
                if survivors.is_empty() {
                    break;
                }
            }
            bracket += 1;
        }
        // A time budget that ran out before any configuration reached full
        // fidelity: finish the most promising one anyway (over the budget; its
        // origin says so), so that every search has a winner.
        let full = *epochs.last().unwrap_or(&self.max_epochs);
        if let (Some(b), false) = (budget, self.stopped()) {
            if !all.iter().any(|t| t.rung + 1 == rungs && t.score.is_some()) {
                if let Some(pick) = promotion_candidate(&all, full, b) {
                    let t = Trial {
                        fold,
                        id: next_id,
                        bracket,
                        rung: rungs - 1,
                        epochs: full,
                        config: pick.config.clone(),
                        score: None,
                        error: None,
                        seconds: 0.0,
                        at_s: 0.0,
                        origin: format!("promoted from trial {} when the budget ran out", pick.id),
                    };
                    let res = self.evaluate(vec![t], None, progress, &mut best, &mut done)?;
                    all.extend(res);
                }
            }
        }
        Ok(all)
    }
}

/// The trial to finish at `full` epochs when the budget ran out first: the
/// best-scored at the highest fidelity reached among those whose projected
/// full-fidelity time fits in `budget_s`, else the one projected cheapest.
fn promotion_candidate(trials: &[Trial], full: usize, budget_s: f64) -> Option<&Trial> {
    let top = trials.iter().filter(|t| t.score.is_some()).map(|t| t.rung).max()?;
    let at_top: Vec<&Trial> = trials.iter().filter(|t| t.rung == top && t.score.is_some()).collect();
    let cost = |t: &Trial| t.seconds * full as f64 / t.epochs.max(1) as f64;
    let fits = at_top.iter().copied().filter(|t| cost(t) <= budget_s).fold(None, |b: Option<&Trial>, t| match b {
        Some(b) if b.score >= t.score => Some(b),
        _ => Some(t),
    });
    fits.or_else(|| at_top.iter().copied().min_by(|a, b| cost(a).total_cmp(&cost(b)).then(a.id.cmp(&b.id))))
}

/// Append `t` to the search's own log (`trials.jsonl` in the output folder), for `--resume`.
fn self_record(ctx: &Ctx<'_>, t: &Trial) -> Result<()> {
    let mut line = serde_json::to_string(t)?;
    line.push('\n');
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&ctx.log).map_err(|e| Error::io("append to the search log", &ctx.log, e))?;
    f.write_all(line.as_bytes()).map_err(|e| Error::io("append to the search log", &ctx.log, e))
}

/// The best scored trial at the highest fidelity reached (ties: the earlier).
pub fn best_trial(trials: &[Trial]) -> Option<&Trial> {
    let top = trials.iter().filter(|t| t.score.is_some()).map(|t| t.rung).max()?;
    trials.iter().filter(|t| t.rung == top && t.score.is_some()).fold(None, |b: Option<&Trial>, t| match b {
        Some(b) if b.score >= t.score => Some(b),
        _ => Some(t),
    })
}

/// Best full-fidelity validation score after each configuration (the search's curve).
pub fn best_so_far(trials: &[Trial], rungs: usize) -> Vec<(usize, f64, Option<f64>)> {
    let mut order: Vec<&Trial> = trials.iter().collect();
    order.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let mut best: Option<f64> = None;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for t in order {
        seen.insert(t.id);
        if t.rung + 1 == rungs {
            if let Some(s) = t.score {
                best = Some(best.map_or(s, |b: f64| b.max(s)));
            }
        }
        out.push((seen.len(), t.at_s, best));
    }
    out
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    crate::checkpoint::write_atomic(path, serde_json::to_string_pretty(v)?.as_bytes())
}

/// Run an AutoML search (module docs) with the built-in models.
///
/// # Errors
/// As [`auto_with`].
pub fn auto(spec: &AutoSpec, progress: &mut dyn Progress) -> Result<Report> {
    let models = ModelRegistry::builtin();
    auto_with(spec, &mut RunEnv::new(progress, &models))
}

/// Run an AutoML search in `env` (its model registry, progress and stop flag).
/// Writes `summary.json`, `trials.json` (every trial), `trials.jsonl` (the
/// log `--resume` reads), `best.toml`, `best.safetensors` and `final.json` to
/// `spec.out`.
///
/// # Errors
/// [`Error::Config`] for neither or both of a budget and a trial count, a
/// budget too small for one full-fidelity trial, an unknown task, dataset or
/// model, a task that cannot be searched, a search space that is empty after
/// the constraints, an output folder with a previous search and no `--resume`;
/// data and IO errors.
pub fn auto_with(spec: &AutoSpec, env: &mut RunEnv) -> Result<Report> {
    match (spec.budget_s, spec.trials) {
        (None, None) => return Err(Error::config("budget", "none", "pass --budget (such as 20m) or --trials N")),
        (Some(b), _) if !(b.is_finite() && b > 0.0) => return Err(Error::config("budget", b, "must be a positive duration, such as 90s, 20m or 1h")),
        (_, Some(0)) => return Err(Error::config("trials", 0, "try at least one configuration")),
        _ => {}
    }
    if spec.eta < 2 || spec.bracket == 0 {
        return Err(Error::config(
            "halving",
            format!("eta {} bracket {}", spec.eta, spec.bracket),
            "eta must be at least 2 and a bracket at least 1 configuration",
        ));
    }
    let data_dir = crate::data::data_dir(spec.data_dir.as_deref());
    let task = match &spec.task {
        Some(t) => super::task_by_name(t)?,
        None => super::recognise(&data_dir, &spec.dataset),
    };
    let search = task.searchable().ok_or_else(|| {
        let ok: Vec<&str> = super::tasks().iter().filter(|t| t.searchable().is_some()).map(|t| t.name()).collect();
        Error::config("task", task.name(), format!("has no search space yet; autoglm auto searches the tasks {}", ok.join(", ")))
    })?;
    let meta = search.meta_features(&data_dir, &spec.dataset)?;
    let mut entries: Vec<&ModelEntry> = env.models.serving(task.name()).filter(|e| !matches!(e.name.as_str(), "gae" | "vgae")).collect();
    if let Some(allow) = &spec.models {
        for m in allow {
            env.models.get(m)?;
        }
        let allow: Vec<String> = allow.iter().map(|m| env.models.get(m).map(|e| e.name.clone())).collect::<Result<_>>()?;
        entries.retain(|e| allow.contains(&e.name));
    }
    let space = search.space(&meta, &entries);
    space.validate()?;
    std::fs::create_dir_all(&spec.out).map_err(|e| Error::io("create the output folder", &spec.out, e))?;
    let log = spec.out.join("trials.jsonl");
    let mut cache = HashMap::new();
    let mut offset_s = 0.0f64;
    if log.exists() && !spec.resume {
        return Err(Error::config("out", spec.out.display(), "holds a previous search (trials.jsonl); pass --resume to continue it, or another --out"));
    }
    if spec.resume && log.exists() {
        let text = std::fs::read_to_string(&log).map_err(|e| Error::io("read the search log", &log, e))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match serde_json::from_str::<Trial>(line) {
                Ok(t) => {
                    offset_s = offset_s.max(t.at_s);
                    cache.insert((t.fold, t.id, t.rung), t);
                }
                Err(e) => env.note(format!("{}:{}: not a trial ({e}); it will be run again", log.display(), i + 1)),
            }
        }
        env.note(format!("resuming: {} trials finished before ({:.0} s of search)", cache.len(), offset_s));
    }
    let store = if spec.no_store {
        None
    } else {
        let p = spec.store.clone().unwrap_or_else(store::default_path);
        let s = Store::open(&p)?;
        for w in &s.warnings {
            env.note(format!("trial store: {w}"));
        }
        Some(s)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = spec.jobs.unwrap_or(cores).max(1);
    let max_epochs = spec.max_epochs.unwrap_or_else(|| search.max_epochs(&meta)).max(1);
    let folds = search.outer_folds(&data_dir, &spec.dataset)?;
    let fold_list: Vec<Option<usize>> = match folds {
        None => vec![None],
        Some(k) => (0..spec.outer_folds.map_or(k, |n| n.min(k))).map(Some).collect(),
    };
    let mut ctx = Ctx {
        spec,
        task,
        search,
        meta: meta.clone(),
        space,
        models: env.models,
        data_dir: data_dir.clone(),
        max_epochs,
        jobs,
        policy: ThreadPolicy::shared(cores, jobs),
        cache,
        log,
        store,
        search_id: format!("{}/{}/{}/seed{}/{}", spec.dataset, task.name(), spec.strategy, spec.seed, std::process::id()),
        start: Instant::now(),
        offset_s,
        stop: env.stop,
    };
    ctx.policy.apply();
    let rungs = ctx.rungs();
    env.note(format!(
        "auto: task {} ({}), {} nodes in {} graph(s), {} features ({}), {} classes, label rate {:.3}{}; models {}; {} settings; strategy {}, halving at epochs {:?}, {} trial(s) at once with {} kernel thread(s) each{}",
        task.name(),
        if spec.task.is_some() { "asked" } else { "recognised from the data" },
        meta.nodes,
        meta.graphs,
        meta.feature_width,
        meta.feature_kind,
        meta.classes,
        meta.label_rate,
        meta.homophily.map_or(String::new(), |h| format!(", training-label homophily {h:.3}")),
        ctx.space.models.join(", "),
        ctx.space.params.len(),
        spec.strategy,
        rung_epochs(max_epochs, spec.eta, rungs),
        jobs,
        ctx.policy.kernel_threads,
        if fold_list.len() > 1 { format!("; one search inside each of {} outer folds", fold_list.len()) } else { String::new() }
    ));
    if spec.budget_s.is_some() {
        env.note("a time budget stops launching trials when it is spent, so which trials run depends on the machine; --trials N gives the same trials for the same seed");
    }
    let per_fold_budget = spec.budget_s.map(|b| b / fold_list.len() as f64);
    let mut all: Vec<Trial> = Vec::new();
    let mut winners: Vec<(Option<usize>, Trial)> = Vec::new();
    for &fold in &fold_list {
        let label = fold.map_or_else(|| "search".to_string(), |f| format!("search, outer fold {}/{}", f + 1, fold_list.len()));
        env.progress.start(
            &label,
            per_fold_budget.map_or(planned_evaluations(spec.trials.unwrap_or(0), spec.bracket, spec.eta, rungs) as u64, |b| (ctx.elapsed() + b) as u64),
        );
        let trials = ctx.search(fold, per_fold_budget, env.progress)?;
        env.progress.finish();
        if ctx.stopped() {
            all.extend(trials);
            write_json(&spec.out.join("trials.json"), &all)?;
            return Err(Error::config("auto", "interrupted", format!("the finished trials are in {}; continue with --resume", ctx.log.display())));
        }
        let Some(best) = best_trial(&trials).cloned() else {
            let why = trials.iter().find_map(|t| t.error.clone()).unwrap_or_else(|| "no trial finished".into());
            return Err(Error::config(
                "budget",
                spec.budget_s.map_or_else(|| format!("{} trials", spec.trials.unwrap_or(0)), |b| format!("{b:.0} s")),
                format!("no trial gave a validation score ({why})"),
            ));
        };
        if best.rung + 1 < rungs {
            let t0 = trials.iter().filter(|t| t.rung == 0).map(|t| t.seconds).fold(0.0f64, f64::max);
            let need = t0 * spec.eta.pow((rungs - 1) as u32) as f64 * fold_list.len() as f64;
            return Err(Error::config(
                "budget",
                format!("{:.0} s", spec.budget_s.unwrap_or(0.0)),
                format!(
                    "is too small for one trial at full fidelity ({max_epochs} epochs): a trial at {} epochs took {t0:.1} s; pass --budget of at least {:.0}s with --resume to keep the {} trials done",
                    rung_epochs(max_epochs, spec.eta, rungs)[0],
                    need * 3.0,
                    trials.len()
                ),
            ));
        }
        winners.push((fold, best));
        all.extend(trials);
    }
    let search_s = ctx.elapsed();
    write_json(&spec.out.join("trials.json"), &all)?;

    // the winning run file: the first fold's winner (the only one without outer folds)
    let (_, top) = &winners[0];
    let best_job = ctx.job(&top.config, top.epochs, None, spec.final_runs, 0)?;
    let mut best_rf = best_job.run_file.clone();
    if folds.is_some() {
        best_rf.run.runs = None;
        if let Some(t) = best_rf.train.as_mut().and_then(|t| t.as_table_mut()) {
            t.remove("fold_index");
        }
    }
    let header = format!(
        "# The configuration autoglm auto chose on {} ({} task, strategy {}, seed {}): validation {} {:.4}.\n# Reproduce: autoglm train --config best.toml\n",
        spec.dataset,
        task.name(),
        spec.strategy,
        spec.seed,
        search.score_name(),
        top.score.unwrap_or(f64::NAN)
    );
    let toml_text = format!("{header}{}", toml::to_string(&best_rf).map_err(|e| Error::config("best.toml", "write", e.to_string()))?);
    crate::checkpoint::write_atomic(&spec.out.join("best.toml"), toml_text.as_bytes())?;

    // final retraining: the run file itself (and, nested, every fold's winner on its fold)
    let mut test: Vec<(String, f64, f64)> = Vec::new();
    let mut final_s = 0.0;
    if !spec.no_final {
        let t0 = Instant::now();
        env.note(format!(
            "final: retraining the chosen configuration ({}) {}",
            top.config.describe(),
            if folds.is_some() { "inside each outer fold, each fold's own winner".to_string() } else { format!("over seeds 0-{}", spec.final_runs - 1) }
        ));
        if folds.is_none() {
            let mut job =
                JobSpec { data_dir: Some(data_dir.clone()), run_file: RunFile::parse(&toml_text, &spec.out.join("best.toml"))?, ..JobSpec::default() };
            job.checkpoint = Some(spec.out.join("best.safetensors"));
            let r = super::execute_with(&job, env)?;
            test = search.test_metrics(&r);
            write_json(&spec.out.join("final.json"), &r.json)?;
        } else {
            let mut per_fold = Vec::new();
            let mut fold_reports = Vec::new();
            for (fold, w) in &winners {
                let mut job = ctx.job(&w.config, w.epochs, *fold, 1, 0)?;
                if *fold == Some(0) {
                    job.checkpoint = Some(spec.out.join("best.safetensors"));
                }
                let r = super::execute_with(&job, env)?;
                let m = search.test_metrics(&r);
                per_fold.push(m.first().map_or(f64::NAN, |x| x.1));
                fold_reports.push(r.json);
            }
            let (m, s) = crate::eval::stats::mean_std(&per_fold).unwrap_or((f64::NAN, f64::NAN));
            test.push(("accuracy".into(), m, s));
            write_json(&spec.out.join("final.json"), &serde_json::json!({"folds": fold_reports, "fold_accuracy": per_fold}))?;
        }
        final_s = t0.elapsed().as_secs_f64();
    }

    // leaderboard
    let mut full: Vec<&Trial> = all.iter().filter(|t| t.rung + 1 == rungs && t.score.is_some()).collect();
    full.sort_by(|a, b| b.score.unwrap_or(0.0).total_cmp(&a.score.unwrap_or(0.0)));
    let mut board = Table::new(&["rank", "fold", "trial", "origin", &format!("val {}", search.score_name()), "s", "configuration"]);
    for (i, t) in full.iter().take(10).enumerate() {
        board.rows.push(vec![
            (i + 1).to_string(),
            t.fold.map_or("-".into(), |f| f.to_string()),
            t.id.to_string(),
            t.origin.clone(),
            format!("{:.4}", t.score.unwrap_or(f64::NAN)),
            format!("{:.1}", t.seconds),
            t.config.describe(),
        ]);
    }
    let mut result = Table::new(&["test metric", "mean", "std"]);
    for (k, m, s) in &test {
        result.rows.push(vec![k.clone(), format!("{:.4}", m), format!("{:.4}", s)]);
    }
    let curves: Vec<serde_json::Value> = fold_list
        .iter()
        .map(|f| {
            let ts: Vec<Trial> = all.iter().filter(|t| t.fold == *f).cloned().collect();
            serde_json::json!({"fold": f, "best_so_far": best_so_far(&ts, rungs).into_iter().map(|(n, at, b)| serde_json::json!({"configs": n, "at_s": at, "best": b})).collect::<Vec<_>>()})
        })
        .collect();
    let configs = all.iter().map(|t| (t.fold, t.id)).collect::<std::collections::BTreeSet<_>>().len();
    let summary = serde_json::json!({
        "task": task.name(),
        "dataset": spec.dataset,
        "meta_features": meta,
        "space": ctx.space,
        "strategy": spec.strategy,
        "seed": spec.seed,
        "budget_s": spec.budget_s,
        "trials_asked": spec.trials,
        "configurations": configs,
        "evaluations": all.len(),
        "failed": all.iter().filter(|t| t.score.is_none()).count(),
        "rung_epochs": rung_epochs(max_epochs, spec.eta, rungs),
        "jobs": jobs,
        "kernel_threads": ctx.policy.kernel_threads,
        "search_s": search_s,
        "final_s": final_s,
        "score": search.score_name(),
        "best": {"config": top.config, "val": top.score, "epochs": top.epochs, "trial": top.id, "origin": top.origin},
        "winners": winners.iter().map(|(f, t)| serde_json::json!({"fold": f, "config": t.config, "val": t.score})).collect::<Vec<_>>(),
        "test": test.iter().map(|(k, m, s)| (k.clone(), serde_json::json!({"mean": m, "std": s}))).collect::<serde_json::Map<_, _>>(),
        "final_runs": if folds.is_some() { winners.len() as u64 } else { spec.final_runs },
        "curves": curves,
        "store": ctx.store.as_ref().map(|s| s.path.display().to_string()),
        "warm_start": spec.warm_start,
    });
    write_json(&spec.out.join("summary.json"), &summary)?;
    let headline = match test.first() {
        Some((k, m, s)) => format!(
            "auto {} on {}: test {k} {:.2} ± {:.2} ({} {}), chosen by validation {} {:.4} after {configs} configurations in {search_s:.0} s ({}); retraining {final_s:.0} s",
            task.name(),
            spec.dataset,
            m * 100.0,
            s * 100.0,
            if folds.is_some() { winners.len() } else { spec.final_runs as usize },
            if folds.is_some() { "outer folds" } else { "seeds" },
            search.score_name(),
            top.score.unwrap_or(f64::NAN),
            spec.strategy
        ),
        None => format!("auto {} on {}: best validation {} {:.4} after {configs} configurations in {search_s:.0} s ({})", task.name(), spec.dataset, search.score_name(), top.score.unwrap_or(f64::NAN), spec.strategy),
    };
    Ok(Report { json: summary, tables: vec![board, result], headline, notes: std::mem::take(&mut env.notes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(id: usize, rung: usize, epochs: usize, score: Option<f64>, seconds: f64) -> Trial {
        let config = Config { model: format!("m{id}"), values: Default::default() };
        Trial { fold: None, id, bracket: 0, rung, epochs, config, score, error: None, seconds, at_s: 0.0, origin: "random".into() }
    }

    #[test]
    fn the_budget_end_promotes_the_best_trial_that_fits_else_the_cheapest() {
        // at 16 of 150 epochs: id 1 scores best but would take 1288 s at full fidelity
        let ts = vec![trial(0, 0, 16, Some(0.75), 0.9), trial(1, 0, 16, Some(0.78), 137.4), trial(2, 0, 16, Some(0.74), 1.7), trial(3, 0, 16, None, 0.1)];
        assert_eq!(promotion_candidate(&ts, 150, 180.0).map(|t| t.id), Some(0));
        assert_eq!(promotion_candidate(&ts, 150, 2000.0).map(|t| t.id), Some(1));
        assert_eq!(promotion_candidate(&ts, 150, 1.0).map(|t| t.id), Some(0), "none fits: the cheapest");
        // the highest rung reached wins over better scores below it
        let mut up = ts.clone();
        up.push(trial(4, 1, 50, Some(0.70), 5.0));
        assert_eq!(promotion_candidate(&up, 150, 180.0).map(|t| t.id), Some(4));
        assert!(promotion_candidate(&[trial(0, 0, 16, None, 1.0)], 150, 180.0).is_none());
    }
}
