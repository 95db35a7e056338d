//! [`Trainer`]: the one epoch loop. Every task (node, link, graph), the
//! benchmarks and a user's own model train through it and get the same
//! learning-rate schedule, gradient clipping, model selection, early
//! stopping, snapshots of the selected parameters, timing, progress callback,
//! resumable state and interruption handling.
//!
//! A task supplies three things:
//! * a [`Batches`] source: what one epoch iterates over ([`FullGraph`]: one step
//!   on the whole graph; [`crate::train::batches`] has mini-batches of small
//!   graphs and sampled neighbourhood blocks);
//! * a loss closure: the differentiable loss of one batch and its weight in the
//!   epoch's mean loss;
//! * an evaluation closure: after each epoch, the task's own log row and the
//!   [`Score`] model selection maximises (or none, when the protocol keeps
//!   the last epoch).
//!
//! Hooks for what comes next: [`Trainer::with_grad_hook`] runs between backward
//! and the optimiser step (gradient all-reduce and compression go there);
//! parameter groups with their own learning rates come from the optimiser
//! ([`crate::train::OptimizerConfig::group`]); [`Hooks::state_file`] writes a
//! resumable [`TrainState`] after every epoch and [`Hooks::resume`] continues
//! from one bit for bit; [`Hooks::stop`] ends the run cleanly between epochs
//! (Ctrl-C).

use crate::nn::{Ctx, Params};
use crate::train::{clip_grad_norm, LrSchedule, Optimizer, OptimizerState};
use crate::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The loop's own settings (the tasks' configurations carry them).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerConfig {
    /// Epochs to run (at least 1).
    pub epochs: usize,
    /// Stop when the selection score has not improved for this many epochs.
    pub patience: Option<usize>,
    /// Clip the global gradient norm to this value before each step.
    pub clip_grad_norm: Option<f64>,
    /// Learning-rate schedule, applied at the start of every epoch.
    pub schedule: LrSchedule,
    /// Which of two equal scores wins.
    pub ties: Ties,
}

impl TrainerConfig {
    /// `epochs` epochs, constant learning rate, no patience, no clipping, the
    /// latest of equal scores selected.
    pub fn new(epochs: usize) -> TrainerConfig {
        TrainerConfig { epochs, patience: None, clip_grad_norm: None, schedule: LrSchedule::default(), ties: Ties::Latest }
    }
    /// Set early-stopping patience.
    pub fn with_patience(mut self, p: Option<usize>) -> Self {
        self.patience = p;
        self
    }
    /// Set gradient clipping.
    pub fn with_clip_grad_norm(mut self, c: Option<f64>) -> Self {
        self.clip_grad_norm = c;
        self
    }
    /// Set the schedule.
    pub fn with_schedule(mut self, s: LrSchedule) -> Self {
        self.schedule = s;
        self
    }
    /// Set the tie rule.
    pub fn with_ties(mut self, t: Ties) -> Self {
        self.ties = t;
        self
    }
}

/// Which epoch wins among equal scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ties {
    /// The latest (node and link tasks: "the latest epoch among ties").
    Latest,
    /// The earliest (the Errica protocol: strictly better only).
    Earliest,
}

/// What model selection maximises: compared by `primary`, then `secondary`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub primary: f64,
    pub secondary: f64,
}

impl Score {
    /// A single number to maximise.
    pub fn max(v: f64) -> Score {
        Score { primary: v, secondary: 0.0 }
    }
    /// Maximise `primary`, break ties by the larger `secondary`.
    pub fn lexicographic(primary: f64, secondary: f64) -> Score {
        Score { primary, secondary }
    }
    fn gt(&self, o: &Score) -> bool {
        self.primary > o.primary || (self.primary == o.primary && self.secondary > o.secondary)
    }
    fn ge(&self, o: &Score) -> bool {
        self.gt(o) || (self.primary == o.primary && self.secondary == o.secondary)
    }
}

/// The training half of an epoch, given to the evaluation closure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 0-based.
    pub epoch: usize,
    /// Weighted mean training loss over the epoch's batches.
    pub loss: f64,
    /// Learning-rate multiplier's applied rate of the first group.
    pub lr: f64,
    /// Wall time of the epoch's batches: sampling, forward, backward, hook, step; ms.
    pub step_ms: f64,
}

/// The evaluation of one epoch: the task's log row and its selection score.
pub struct Evaluation<L> {
    pub log: L,
    /// `None`: this epoch is not a candidate (protocols that keep the last model).
    pub score: Option<Score>,
}

/// What one epoch iterates over.
pub trait Batches {
    /// One step's input.
    type Batch;
    /// Call `step` on every batch of epoch `epoch`, in order.
    fn for_each(&mut self, epoch: usize, step: &mut dyn FnMut(&Self::Batch) -> Result<()>) -> Result<()>;
    /// The source's random state, for [`TrainState`] (default: none).
    fn rng_state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Restore [`Batches::rng_state`].
    fn set_rng_state(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// Full-batch training: one step per epoch on the whole graph.
pub struct FullGraph;

impl Batches for FullGraph {
    type Batch = ();
    fn for_each(&mut self, _epoch: usize, step: &mut dyn FnMut(&()) -> Result<()>) -> Result<()> {
        step(&())
    }
}

/// Full-batch training whose step is told its epoch (for curricula, whose
/// active samples depend on it; correct after a resume too).
pub struct FullGraphEpoch;

impl Batches for FullGraphEpoch {
    type Batch = usize;
    fn for_each(&mut self, epoch: usize, step: &mut dyn FnMut(&usize) -> Result<()>) -> Result<()> {
        step(&epoch)
    }
}

/// The selected epoch.
#[derive(Debug, Clone)]
pub struct Selected {
    pub epoch: usize,
    pub score: Score,
    /// Every parameter and buffer at that epoch.
    pub params: Vec<(String, Tensor)>,
}

/// The outcome of [`Trainer::fit`]. The parameters are left at the selected
/// epoch (or the last, when no epoch had a score).
#[derive(Debug, Clone)]
pub struct Fit<L> {
    /// One row per epoch run (including epochs before a resume).
    pub history: Vec<L>,
    pub stats: Vec<EpochStats>,
    /// The epoch whose parameters were kept (`None`: the last one).
    pub selected: Option<(usize, Score)>,
    /// Whether patience ended the run.
    pub stopped_early: bool,
}

impl<L> Fit<L> {
    /// Epochs run.
    pub fn epochs_run(&self) -> usize {
        self.stats.len()
    }
    /// The selected epoch, or the last.
    pub fn selected_epoch(&self) -> usize {
        self.selected.map_or(self.stats.len().saturating_sub(1), |s| s.0)
    }
    /// Median step time, skipping the first `skip` epochs when enough remain.
    pub fn median_step_ms(&self, skip: usize) -> f64 {
        let mut t: Vec<f64> = self.stats.iter().skip(skip).map(|s| s.step_ms).collect();
        if t.is_empty() {
            t = self.stats.iter().map(|s| s.step_ms).collect();
        }
        crate::eval::stats::median(&t)
    }
}

/// Everything needed to continue a run where it stopped: parameters,
/// optimiser moments, the random states, the epoch, the selection so far and
/// the history. Written after every epoch to [`Hooks::state_file`] as one safetensors file.
pub struct TrainState<L> {
    /// The next epoch to run.
    pub next_epoch: usize,
    pub params: Vec<(String, Tensor)>,
    pub optimizer: OptimizerState,
    pub ctx_rng: crate::rng::GlmRng,
    pub batches_rng: serde_json::Value,
    pub selected: Option<Selected>,
    pub since_best: usize,
    pub history: Vec<L>,
    pub stats: Vec<EpochStats>,
}

/// The metadata half of a [`TrainState`] file, as read back (written by [`StateRef::save`]).
#[derive(Deserialize)]
struct StateMeta {
    next_epoch: usize,
    optimizer: OptimizerState,
    ctx_rng: crate::rng::GlmRng,
    batches_rng: serde_json::Value,
    selected: Option<(usize, Score)>,
    since_best: usize,
    history: serde_json::Value,
    stats: Vec<EpochStats>,
}

const STATE_KIND: &str = "train-state";

impl<L: Serialize + DeserializeOwned> TrainState<L> {
    /// Write atomically: current parameters as `param/NAME`, the selected
    /// epoch's as `best/NAME`, the rest as JSON metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let view = StateRef {
            next_epoch: self.next_epoch,
            params: &self.params,
            optimizer: &self.optimizer,
            ctx_rng: &self.ctx_rng,
            batches_rng: &self.batches_rng,
            selected: self.selected.as_ref(),
            since_best: self.since_best,
            history: &self.history,
            stats: &self.stats,
        };
        view.save(path)
    }

    /// Read a file written by [`TrainState::save`].
    pub fn load(path: &Path) -> Result<TrainState<L>> {
        let (tensors, meta) = crate::checkpoint::load_tensors(path, STATE_KIND)?;
        let meta: StateMeta = serde_json::from_value(meta).map_err(|e| Error::Checkpoint {
            path: path.into(),
            msg: format!("not a training state of this task ({e}); resume with the state file the same command wrote"),
        })?;
        let mut params = Vec::new();
        let mut best = Vec::new();
        for (n, t) in tensors {
            if let Some(p) = n.strip_prefix("param/") {
                params.push((p.to_string(), t));
            } else if let Some(b) = n.strip_prefix("best/") {
                best.push((b.to_string(), t));
            }
        }
        let selected = meta.selected.map(|(epoch, score)| Selected { epoch, score, params: best });
        let history: Vec<L> = serde_json::from_value(meta.history).map_err(|e| Error::Checkpoint {
            path: path.into(),
            msg: format!("its history is not this task's ({e}); resume with the state file the same command wrote"),
        })?;
        Ok(TrainState {
            next_epoch: meta.next_epoch,
            params,
            optimizer: meta.optimizer,
            ctx_rng: meta.ctx_rng,
            batches_rng: meta.batches_rng,
            selected,
            since_best: meta.since_best,
            history,
            stats: meta.stats,
        })
    }
}

/// A [`TrainState`] borrowed from a running loop, so that writing the state
/// after every epoch copies nothing but what it serialises.
struct StateRef<'s, L> {
    next_epoch: usize,
    params: &'s [(String, Tensor)],
    optimizer: &'s OptimizerState,
    ctx_rng: &'s crate::rng::GlmRng,
    batches_rng: &'s serde_json::Value,
    selected: Option<&'s Selected>,
    since_best: usize,
    history: &'s [L],
    stats: &'s [EpochStats],
}

impl<L: Serialize> StateRef<'_, L> {
    fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = self.params.iter().map(|(n, t)| (format!("param/{n}"), t.clone())).collect();
        if let Some(s) = self.selected {
            tensors.extend(s.params.iter().map(|(n, t)| (format!("best/{n}"), t.clone())));
        }
        let meta = serde_json::json!({
            "next_epoch": self.next_epoch,
            "optimizer": self.optimizer,
            "ctx_rng": self.ctx_rng,
            "batches_rng": self.batches_rng,
            "selected": self.selected.map(|s| (s.epoch, s.score)),
            "since_best": self.since_best,
            "history": self.history,
            "stats": self.stats,
        });
        crate::checkpoint::save_tensors(path, &tensors, STATE_KIND, &meta)
    }
}

/// The caller's side of a run, passed through a task to its [`Trainer`]:
/// progress callback, gradient hook, state file, resume file, stop flag.
pub struct Hooks<'a, L> {
    /// Sees every epoch's log row.
    pub on_epoch: Option<&'a mut dyn FnMut(&L)>,
    /// Runs between backward and the optimiser step.
    pub grad_hook: Option<&'a mut GradHook<'a>>,
    /// Turns this process's mean epoch loss into the one logged and checked
    /// (distributed training: the weighted sum over ranks).
    pub epoch_loss: Option<&'a mut EpochLossHook<'a>>,
    /// Write the resumable state here after every epoch.
    pub state_file: Option<PathBuf>,
    /// Continue from the state in this file.
    pub resume: Option<PathBuf>,
    /// Stop cleanly after the current epoch once set.
    pub stop: Option<&'a AtomicBool>,
}

impl<L> Default for Hooks<'_, L> {
    fn default() -> Self {
        Hooks { on_epoch: None, grad_hook: None, epoch_loss: None, state_file: None, resume: None, stop: None }
    }
}

impl<'a, L> Hooks<'a, L> {
    /// Only a progress callback.
    pub fn progress(f: &'a mut dyn FnMut(&L)) -> Self {
        Hooks { on_epoch: Some(f), ..Hooks::default() }
    }
}

/// A gradient hook: sees the gradients of `vars` after backward (and
/// clipping), before the optimiser step, and may change them.
pub type GradHook<'a> = dyn FnMut(&mut GradStore, &[Var]) -> Result<()> + Send + 'a;

/// An epoch-loss hook: this process's mean epoch loss in, the run's out.
pub type EpochLossHook<'a> = dyn FnMut(f64) -> Result<f64> + 'a;

/// A batch's loss and its weight in the epoch mean.
pub type LossFn<'a, B> = dyn FnMut(&B, &mut Ctx) -> Result<(Tensor, f64)> + Send + 'a;

/// The epoch loop (see the [module docs](self)).
pub struct Trainer<'a, L> {
    cfg: TrainerConfig,
    hooks: Hooks<'a, L>,
    resume: Option<TrainState<L>>,
    on_worker: bool,
    what: String,
}

impl<'a, L: Clone + Serialize + DeserializeOwned> Trainer<'a, L> {
    /// A trainer with `cfg` and no hooks.
    pub fn new(cfg: TrainerConfig) -> Self {
        Trainer { cfg, hooks: Hooks::default(), resume: None, on_worker: false, what: String::new() }
    }
    /// Take every hook of `h`, loading its resume file.
    ///
    /// # Errors
    /// As [`TrainState::load`].
    pub fn with_hooks(mut self, h: Hooks<'a, L>) -> Result<Self> {
        self.resume = h.resume.as_deref().map(TrainState::load).transpose()?;
        self.hooks = h;
        Ok(self)
    }
    /// Run `hook` between backward and the optimiser step.
    pub fn with_grad_hook(mut self, hook: &'a mut GradHook<'a>) -> Self {
        self.hooks.grad_hook = Some(hook);
        self
    }
    /// Run every step on a rayon worker with the others waiting actively
    /// ([`crate::ops::on_worker`]): for mini-batches of small graphs, when the
    /// process has the cores to itself (see [`crate::run::ThreadPolicy`]).
    pub fn on_worker(mut self, yes: bool) -> Self {
        self.on_worker = yes;
        self
    }
    /// Words added to error messages ("of fold 3").
    pub fn describe(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }

    /// Train. `loss(batch, ctx)` gives a batch's loss and its weight in the
    /// epoch mean; `eval(stats)` evaluates the model after each epoch.
    ///
    /// # Errors
    /// [`Error::Config`] for zero epochs or a non-finite loss; whatever the
    /// closures return; [`Error::Interrupted`] when the stop flag was set.
    pub fn fit<B: Batches + ?Sized>(
        mut self,
        params: &Params,
        opt: &mut dyn Optimizer,
        ctx: &mut Ctx,
        batches: &mut B,
        loss: &mut LossFn<'_, B::Batch>,
        eval: &mut dyn FnMut(&EpochStats) -> Result<Evaluation<L>>,
    ) -> Result<Fit<L>>
    where
        B::Batch: Sync,
    {
        let epochs = self.cfg.epochs;
        if epochs == 0 {
            return Err(Error::config("epochs", 0, "train for at least one epoch"));
        }
        // The history keeps a row per epoch: without patience, an epoch count whose
        // history alone exceeds the memory budget is a typo, not a plan.
        let per_epoch = (std::mem::size_of::<L>() + std::mem::size_of::<EpochStats>()) as u128;
        let budget = crate::data::limits::max_memory();
        if self.cfg.patience.is_none() && epochs as u128 * per_epoch > budget as u128 {
            return Err(Error::config("epochs", epochs, format!("its per-epoch history alone would need more than the memory budget of {:.1} GiB (--max-memory); train for fewer epochs, with --patience to stop early", budget as f64 / (1u64 << 30) as f64)));
        }
        let vars = opt.vars();
        let mut history: Vec<L> = Vec::new();
        let mut stats: Vec<EpochStats> = Vec::new();
        let mut best: Option<Selected> = None;
        let mut since_best = 0usize;
        let mut start = 0;
        if let Some(st) = self.resume.take() {
            params.restore(&st.params)?;
            opt.load_state(&st.optimizer)?;
            ctx.rng = st.ctx_rng;
            batches.set_rng_state(&st.batches_rng)?;
            (start, best, since_best, history, stats) = (st.next_epoch, st.selected, st.since_best, st.history, st.stats);
        }
        // a run that patience had already ended resumes to its end
        let mut stopped_early = start > 0 && self.cfg.patience.is_some_and(|p| since_best >= p);
        let what = if self.what.is_empty() { String::new() } else { format!(" {}", self.what) };
        for epoch in start..epochs {
            if stopped_early {
                break;
            }
            let lr = self.cfg.schedule.apply(opt, epoch, epochs);
            ctx.train = true;
            let t0 = Instant::now();
            let (mut sum, mut weight) = (0.0, 0.0);
            let clip = self.cfg.clip_grad_norm;
            let hook = &mut self.hooks.grad_hook;
            let on_worker = self.on_worker;
            batches.for_each(epoch, &mut |b| {
                let mut run = || -> Result<(f64, f64)> {
                    let (l, w) = loss(b, ctx)?;
                    let mut grads = l.backward()?;
                    if let Some(max) = clip {
                        clip_grad_norm(&mut grads, &vars, max)?;
                    }
                    if let Some(h) = hook.as_mut() {
                        h(&mut grads, &vars)?;
                    }
                    opt.step(&grads)?;
                    Ok((l.to_scalar::<f32>()? as f64 * w, w))
                };
                let (v, w) = if on_worker { crate::ops::on_worker(run)? } else { run()? };
                sum += v;
                weight += w;
                Ok(())
            })?;
            let step_ms = t0.elapsed().as_secs_f64() * 1e3;
            let mut mean = if weight == 0.0 { f64::NAN } else { sum / weight };
            if let Some(f) = self.hooks.epoch_loss.as_mut() {
                mean = f(mean)?;
            }
            if !mean.is_finite() {
                return Err(Error::config(
                    "training",
                    format!("loss {mean} at epoch {}{what}", epoch + 1),
                    "the loss diverged; lower the learning rate or set clip_grad_norm",
                ));
            }
            let st = EpochStats { epoch, loss: mean, lr, step_ms };
            let ev = eval(&st)?;
            if let Some(score) = ev.score {
                let prev = best.as_ref().map(|b| b.score);
                let improved = prev.is_none_or(|b| score.gt(&b));
                since_best = if improved { 0 } else { since_best + 1 };
                let take = match self.cfg.ties {
                    Ties::Latest => prev.is_none_or(|b| score.ge(&b)),
                    Ties::Earliest => improved,
                };
                if take {
                    best = Some(Selected { epoch, score, params: params.snapshot()? });
                }
            }
            if let Some(f) = self.hooks.on_epoch.as_mut() {
                f(&ev.log);
            }
            history.push(ev.log);
            stats.push(st);
            let stop = self.hooks.stop.is_some_and(|f| f.load(Ordering::SeqCst));
            if let Some(path) = &self.hooks.state_file {
                let snapshot = params.snapshot()?;
                let state = StateRef {
                    next_epoch: epoch + 1,
                    params: &snapshot,
                    optimizer: &opt.state(),
                    ctx_rng: &ctx.rng,
                    batches_rng: &batches.rng_state(),
                    selected: best.as_ref(),
                    since_best,
                    history: &history,
                    stats: &stats,
                };
                state.save(path)?;
            }
            if stop {
                return Err(Error::Interrupted { epoch: epoch + 1, state: self.hooks.state_file.clone() });
            }
            stopped_early = self.cfg.patience.is_some_and(|p| since_best >= p);
        }
        let selected = match best {
            Some(b) => {
                params.restore(&b.params)?;
                Some((b.epoch, b.score))
            }
            None => None,
        };
        Ok(Fit { history, stats, selected, stopped_early })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::karate::load_karate_builtin;
    use crate::models::ModelKind;
    use crate::nn::Init;
    use crate::tasks::node::{train_module, EpochLog, NodeData, NodeTrainConfig};
    use crate::train::OptimizerConfig;

    /// `loss = Σ (w - 1)²` on two parameters, one per group.
    fn quadratic(lrs: [f64; 2]) -> (Params, Box<dyn Optimizer>) {
        let p = Params::new(0);
        p.get("a", &[3], Init::Const(0.0)).unwrap();
        p.get("b", &[3], Init::Const(0.0)).unwrap();
        let vars = p.trainable();
        let oc = OptimizerConfig::adam(0.1);
        let groups = vec![
            crate::train::ParamGroup::new("a", vec![vars[0].clone()], lrs[0], 0.0),
            crate::train::ParamGroup::new("b", vec![vars[1].clone()], lrs[1], 0.0),
        ];
        (p, oc.build(groups).unwrap())
    }

    fn quad_loss(p: &Params) -> impl FnMut(&(), &mut Ctx) -> Result<(Tensor, f64)> + Send + '_ {
        move |_, _| {
            let mut total: Option<Tensor> = None;
            for (_, v) in p.trainable() {
                let l = (v.as_tensor() - 1.0)?.sqr()?.sum_all()?;
                total = Some(match total {
                    None => l,
                    Some(t) => (t + l)?,
                });
            }
            Ok((total.expect("two parameters"), 1.0))
        }
    }

    fn values(p: &Params, name: &str) -> Vec<f32> {
        p.all().into_iter().find(|(n, _)| n == name).unwrap().1.as_tensor().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn parameter_groups_keep_their_own_learning_rates() {
        let (p, mut opt) = quadratic([0.0, 0.1]);
        let mut loss = quad_loss(&p);
        let fit = Trainer::new(TrainerConfig::new(5))
            .fit(&p, opt.as_mut(), &mut Ctx::eval(), &mut FullGraph, &mut loss, &mut |st| Ok(Evaluation { log: st.loss, score: None }))
            .unwrap();
        assert_eq!(fit.epochs_run(), 5);
        assert_eq!(values(&p, "a"), vec![0.0; 3], "a group with lr 0 must not move");
        assert!(values(&p, "b").iter().all(|&x| x > 0.3), "{:?}", values(&p, "b"));
        assert!(fit.history[4] < fit.history[0]);
    }

    #[test]
    fn the_gradient_hook_runs_between_backward_and_step() {
        let (p, mut opt) = quadratic([0.1, 0.1]);
        let mut loss = quad_loss(&p);
        let mut calls = 0;
        let mut hook = |g: &mut GradStore, vars: &[Var]| -> Result<()> {
            calls += 1;
            for v in vars {
                if let Some(t) = g.get(v.as_tensor()) {
                    let z = t.zeros_like()?;
                    g.insert(v.as_tensor(), z);
                }
            }
            Ok(())
        };
        Trainer::new(TrainerConfig::new(4))
            .with_grad_hook(&mut hook)
            .fit(&p, opt.as_mut(), &mut Ctx::eval(), &mut FullGraph, &mut loss, &mut |st| Ok(Evaluation { log: st.loss, score: None }))
            .unwrap();
        assert_eq!(calls, 4);
        assert_eq!(values(&p, "a"), vec![0.0; 3], "zeroed gradients: Adam takes no step");
    }

    #[test]
    fn selection_ties_and_patience() {
        let scores = [0.5, 0.7, 0.7, 0.6, 0.6, 0.6, 0.9];
        for (ties, want) in [(Ties::Latest, 2), (Ties::Earliest, 1)] {
            let (p, mut opt) = quadratic([0.1, 0.1]);
            let mut loss = quad_loss(&p);
            let cfg = TrainerConfig::new(scores.len()).with_patience(Some(3)).with_ties(ties);
            let fit = Trainer::new(cfg)
                .fit(&p, opt.as_mut(), &mut Ctx::eval(), &mut FullGraph, &mut loss, &mut |st| {
                    Ok(Evaluation { log: st.epoch, score: Some(Score::max(scores[st.epoch])) })
                })
                .unwrap();
            // the best 0.7 was first reached at epoch 1; three epochs without improvement end the run at epoch 4
            assert!(fit.stopped_early);
            assert_eq!(fit.epochs_run(), 5);
            assert_eq!(fit.selected_epoch(), want, "{ties:?}");
        }
        let (p, mut opt) = quadratic([0.1, 0.1]);
        let mut loss = quad_loss(&p);
        let e = Trainer::new(TrainerConfig::new(0))
            .fit(&p, opt.as_mut(), &mut Ctx::eval(), &mut FullGraph, &mut loss, &mut |st| Ok(Evaluation { log: st.epoch, score: None }));
        assert!(e.is_err());
    }

    #[test]
    fn an_interrupted_run_resumes_bit_for_bit() {
        let ds = load_karate_builtin().unwrap();
        let data = NodeData::prepare(&ds, true).unwrap();
        let cfg = NodeTrainConfig { epochs: 24, ..NodeTrainConfig::recipe(ModelKind::Gat) };
        let build = |p: &Params, d, c| cfg.model.init(d, c, p);
        let (straight, m1) = train_module(&data, &cfg, build, Hooks::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("run.state");
        let stop = AtomicBool::new(false);
        let mut at_ten = |log: &EpochLog| {
            if log.epoch == 9 {
                stop.store(true, Ordering::SeqCst);
            }
        };
        let hooks = Hooks { on_epoch: Some(&mut at_ten), state_file: Some(state.clone()), stop: Some(&stop), ..Hooks::default() };
        let e = train_module(&data, &cfg, build, hooks).err().expect("the stop flag ends the run");
        assert!(matches!(e, Error::Interrupted { epoch: 10, .. }), "{e}");
        assert!(e.to_string().contains("--resume"), "{e}");
        let hooks = Hooks { resume: Some(state.clone()), ..Hooks::default() };
        let (resumed, m2) = train_module(&data, &cfg, build, hooks).unwrap();
        let losses = |r: &crate::tasks::node::RunResult| r.history.iter().map(|h| h.loss.to_bits()).collect::<Vec<_>>();
        assert_eq!(losses(&straight), losses(&resumed));
        assert_eq!((straight.best_epoch, straight.test_acc), (resumed.best_epoch, resumed.test_acc));
        for ((n1, a), (n2, b)) in m1.params.all().iter().zip(m2.params.all().iter()) {
            assert_eq!(n1, n2);
            assert_eq!(a.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(), b.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(), "{n1}");
        }
        // a state of another model is refused with a message, not a panic
        let other = NodeTrainConfig { epochs: 24, ..NodeTrainConfig::recipe(ModelKind::Gcn) };
        let hooks = Hooks { resume: Some(state), ..Hooks::default() };
        assert!(train_module(&data, &other, |p: &Params, d, c| other.model.init(d, c, p), hooks).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_bits_for_any_thread_count() {
        // large enough for the kernels to split their rows across threads
        let ds = crate::bench::synthetic_dataset(4000, 10, 32, 4, 0).unwrap();
        let data = NodeData::prepare(&ds, false).unwrap();
        let cfg = NodeTrainConfig { epochs: 6, ..NodeTrainConfig::recipe(ModelKind::Gat) };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let (r, m) = train_module(&data, &cfg, |p: &Params, d, c| cfg.model.init(d, c, p), Hooks::default()).unwrap();
                let w: Vec<u32> =
                    m.params.all().iter().flat_map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()).map(f32::to_bits).collect();
                (r.history.iter().map(|h| h.loss.to_bits()).collect::<Vec<_>>(), w)
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
