//! `autoglm prune`: iterative magnitude pruning of a node classifier
//! (Frankle & Carbin's lottery-ticket loop without rewinding, the schedule of
//! UGS, Chen et al. 2021): train the dense model, then for each round remove
//! `rate` of the remaining weights with the smallest magnitude (over all
//! weight matrices, or per matrix) and fine-tune the rest with the task's
//! recipe, the pruned entries held at zero. Every round is trained and
//! selected on validation as the node task does; the sparsity reported is
//! counted from the trained weights (entries exactly 0 of the weight
//! matrices: biases, attention vectors and norms are not pruned).

use super::node::{build, checkpoint_meta, node_config};
use super::{pct, JobSpec, Report, RunEnv, Table};
use crate::data::registry::load_node_dataset;
use crate::nn::Params;
use crate::tasks::node::{train_module, NodeData};
use crate::train::Hooks;
use crate::{Error, Result};
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Which weights compete for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One threshold over every weight matrix (the default).
    #[default]
    Global,
    /// Each matrix loses the same share.
    PerLayer,
    /// Structured: whole hidden channels (a row of a layer's weight, its
    /// bias, and the matching column of the next layer) with the smallest
    /// L2 norm of their incoming weights; the model gets genuinely narrower
    /// (GCN stacks).
    Channels,
}

impl std::str::FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "global" => Ok(Scope::Global),
            "per_layer" | "layer" => Ok(Scope::PerLayer),
            "channels" | "channel" | "structured" => Ok(Scope::Channels),
            _ => Err(Error::unknown("scope", s, &["global", "per-layer", "channels"])),
        }
    }
}

/// A pruning job: the node task's job (dataset, model, recipe, runs, seed,
/// checkpoint) and the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneSpec {
    pub job: JobSpec,
    /// Pruning rounds after the dense model (default 10).
    pub rounds: usize,
    /// Share of the remaining weights removed per round (default 0.2).
    pub rate: f64,
    pub scope: Scope,
    /// Restart every round from the dense model's initial weights (the
    /// lottery-ticket rewinding of UGS) instead of fine-tuning the previous
    /// round's weights (default false).
    #[serde(default)]
    pub rewind: bool,
}

/// Masks by parameter name: 1 kept, 0 pruned.
pub(super) type Masks = BTreeMap<String, Vec<f32>>;

/// Named parameter values (a snapshot).
type Snapshot = Vec<(String, Tensor)>;

/// Whether a parameter is a prunable weight matrix.
fn prunable(name: &str, t: &Tensor) -> bool {
    name.ends_with("weight") && t.dims().len() == 2
}

/// The masks after removing `rate` of the weights still kept (smallest `|w|`
/// first; ties in parameter and position order, so exactly the share goes).
pub(super) fn next_masks(weights: &[(String, Vec<f32>)], masks: &Masks, rate: f64, scope: Scope) -> Masks {
    let mut out: Masks = weights.iter().map(|(n, w)| (n.clone(), masks.get(n).cloned().unwrap_or_else(|| vec![1.0; w.len()]))).collect();
    let groups: Vec<Vec<usize>> = match scope {
        Scope::Global => vec![(0..weights.len()).collect()],
        Scope::PerLayer | Scope::Channels => (0..weights.len()).map(|i| vec![i]).collect(),
    };
    for group in groups {
        let mut kept: Vec<(f32, usize, usize)> = vec![];
        for &t in &group {
            let m = &out[&weights[t].0];
            kept.extend(weights[t].1.iter().enumerate().filter(|(i, _)| m[*i] != 0.0).map(|(i, v)| (v.abs(), t, i)));
        }
        let k = (kept.len() as f64 * rate).round() as usize;
        kept.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for &(_, t, i) in &kept[..k] {
            out.get_mut(&weights[t].0).expect("every weight has a mask")[i] = 0.0;
        }
    }
    out
}

/// The snapshot of a GCN stack narrowed to the hidden channels that keep
/// the largest L2 norm of their incoming weights: `rate` of the `hidden`
/// channels of every hidden layer go (at least one channel stays). Returns
/// the new width and the narrowed snapshot.
fn narrow_channels(snap: &[(String, Tensor)], layers: usize, hidden: usize, rate: f64) -> Result<(usize, Snapshot)> {
    let drop = ((hidden as f64 * rate).round() as usize).min(hidden - 1);
    let width = hidden - drop;
    let get = |n: &str| -> Result<&Tensor> {
        snap.iter().find(|(k, _)| k == n).map(|(_, t)| t).ok_or_else(|| Error::config("prune", n, "the GCN stack has no such parameter"))
    };
    let mut out: Snapshot = snap.to_vec();
    let set = |out: &mut Snapshot, n: &str, t: Tensor| {
        if let Some(e) = out.iter_mut().find(|(k, _)| k == n) {
            e.1 = t;
        }
    };
    for i in 0..layers.saturating_sub(1) {
        let w = get(&format!("layers.{i}.lin.weight"))?; // [hidden, in]
        let norms: Vec<f32> = w.sqr()?.sum(1)?.to_vec1::<f32>()?;
        let mut order: Vec<usize> = (0..hidden).collect();
        order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
        let mut keep: Vec<u32> = order[..width].iter().map(|&c| c as u32).collect();
        keep.sort_unstable();
        let idx = Tensor::new(keep.as_slice(), w.device())?;
        set(&mut out, &format!("layers.{i}.lin.weight"), w.index_select(&idx, 0)?);
        let b = format!("layers.{i}.bias");
        if let Ok(bt) = get(&b) {
            set(&mut out, &b, bt.index_select(&idx, 0)?);
        }
        let next = format!("layers.{}.lin.weight", i + 1);
        set(&mut out, &next, get(&next)?.index_select(&idx, 1)?);
    }
    Ok((width, out))
}

/// `(zeros, total)` over the weight matrices of `params`.
fn sparsity(params: &Params) -> Result<(usize, usize)> {
    let mut z = (0, 0);
    for (n, t) in params.snapshot()? {
        if prunable(&n, &t) {
            let v = t.flatten_all()?.to_vec1::<f32>()?;
            z.0 += v.iter().filter(|x| **x == 0.0).count();
            z.1 += v.len();
        }
    }
    Ok(z)
}

/// Run the schedule on every seed of the job.
///
/// # Errors
/// [`Error::Config`] for a job that is not node classification or a rate
/// outside (0, 1); the node task's data and training errors.
pub fn prune(spec: &PruneSpec, env: &mut RunEnv) -> Result<Report> {
    if !(spec.rate > 0.0 && spec.rate < 1.0) {
        return Err(Error::config("rate", spec.rate, "the share removed per round must be in (0, 1), for example 0.2"));
    }
    let r = spec.job.resolve()?;
    if r.task != "node" {
        return Err(Error::config("task", &r.task, "pruning runs on node classification so far (--task node)"));
    }
    let entry = env.models.for_task(&r.model, "node")?;
    let base = node_config(&spec.job, entry)?;
    let ds = load_node_dataset(&r.data_dir, &r.dataset)?;
    let mut data = NodeData::prepare_checked(&ds, base.normalize_features, base.allow_split_overlap)?;
    base.hold_out_validation(&mut data.split, &data.y);
    let opts = spec.job.run_file.model_options()?;
    let first_seed = r.seed.unwrap_or(base.seed);
    let structured = spec.scope == Scope::Channels;
    if structured {
        let m = &base.model;
        if entry.builtin != Some(crate::models::ModelKind::Gcn) || m.jk != crate::models::flow::Jk::Last || m.residual || m.norm || m.headless {
            return Err(Error::config(
                "scope",
                "channels",
                "channel pruning narrows plain GCN stacks (--model gcn without jk, residual or norm); use --scope global or per-layer for other models",
            ));
        }
        if spec.rewind {
            return Err(Error::config(
                "rewind",
                true,
                "channel pruning changes the model's width, so it cannot restart from the dense initial weights; drop --rewind",
            ));
        }
    }
    let mut runs = vec![];
    let mut table = Table::new(&["seed", "round", "sparsity %", "hidden", "val acc", "test acc", "epoch"]);
    for run in 0..r.runs {
        let seed = first_seed + run;
        let mut cfg = crate::tasks::node::NodeTrainConfig { seed, ..base.clone() };
        let mut dense_weights = 0usize;
        let mut masks = Masks::new();
        let mut weights: Option<Snapshot> = None;
        let init: Arc<Mutex<Option<Snapshot>>> = Arc::default();
        let mut rounds = vec![];
        env.progress.start(&format!("seed {seed}: {} pruning rounds", spec.rounds), spec.rounds as u64 + 1);
        for round in 0..=spec.rounds {
            // Vars of the pruned matrices with their masks, filled in by `build`.
            let held: Arc<Mutex<Vec<(Var, Tensor)>>> = Arc::default();
            let h2 = held.clone();
            let (start, m2, init2) = (if spec.rewind { None } else { weights.clone() }, masks.clone(), init.clone());
            let builder = |p: &Params, i: usize, o: usize| {
                let model = build(entry, &cfg, &opts, p, i, o)?;
                let mut first = init2.lock().map_err(|_| Error::config("prune", "init", "poisoned lock"))?;
                match (&start, first.as_ref()) {
                    (Some(s), _) => p.restore(s)?,
                    (None, Some(s0)) => p.restore(s0)?,
                    (None, None) => *first = Some(p.snapshot()?),
                }
                let mut h = h2.lock().map_err(|_| Error::config("prune", "masks", "poisoned lock"))?;
                for (n, v) in p.trainable() {
                    if let Some(m) = m2.get(&n) {
                        let mask = Tensor::from_vec(m.clone(), v.as_tensor().shape(), v.device())?;
                        v.set(&(v.as_tensor() * &mask)?)?;
                        h.push((v, mask));
                    }
                }
                Ok(model)
            };
            let mut hook = |grads: &mut candle_core::backprop::GradStore, _: &[Var]| -> Result<()> {
                for (v, mask) in held.lock().map_err(|_| Error::config("prune", "masks", "poisoned lock"))?.iter() {
                    if let Some(g) = grads.get(v.as_tensor()) {
                        let g = (g * mask)?;
                        grads.insert(v.as_tensor(), g);
                    }
                }
                Ok(())
            };
            let hooks = Hooks { grad_hook: Some(&mut hook), stop: env.stop, ..Hooks::default() };
            let (res, model) = train_module(&data, &cfg, builder, hooks)?;
            let (zeros, total) = sparsity(&model.params)?;
            if round == 0 {
                dense_weights = total;
            }
            // structured: the share of the dense model's weights that is gone
            let s = if structured { 1.0 - total as f64 / dense_weights.max(1) as f64 } else { zeros as f64 / total.max(1) as f64 };
            table.rows.push(vec![
                seed.to_string(),
                round.to_string(),
                format!("{:.2}", s * 100.0),
                cfg.model.hidden_dim.to_string(),
                pct(res.best_val_acc),
                pct(res.test_acc),
                (res.best_epoch + 1).to_string(),
            ]);
            rounds.push(json!({"round": round, "sparsity": s, "zeros": zeros, "weights": total, "hidden_dim": cfg.model.hidden_dim, "val_acc": res.best_val_acc, "test_acc": res.test_acc, "best_epoch": res.best_epoch}));
            env.progress.step(round as u64 + 1, &format!("round {round}: sparsity {:.1} %, test {}", s * 100.0, pct(res.test_acc)));
            let snap = model.params.snapshot()?;
            if round == spec.rounds && run == 0 {
                if let Some(path) = &spec.job.checkpoint {
                    let pruning = json!({"pruning": {"rounds": spec.rounds, "rate": spec.rate, "scope": spec.scope, "rewind": spec.rewind, "sparsity": s}});
                    let meta = checkpoint_meta(entry, &r.dataset, &data, &cfg, pruning, opts.clone())?;
                    crate::checkpoint::save(path, &model.params, &meta.to_json())?;
                    env.progress.note(&format!("saved the pruned model of seed {seed} ({:.1} % sparse) to {}", s * 100.0, path.display()));
                }
            }
            if structured {
                let (width, narrowed) = narrow_channels(&snap, cfg.model.num_layers, cfg.model.hidden_dim, spec.rate)?;
                cfg.model.hidden_dim = width;
                weights = Some(narrowed);
                continue;
            }
            let flat: Vec<(String, Vec<f32>)> =
                snap.iter().filter(|(n, t)| prunable(n, t)).map(|(n, t)| Ok((n.clone(), t.flatten_all()?.to_vec1::<f32>()?))).collect::<Result<_>>()?;
            masks = next_masks(&flat, &masks, spec.rate, spec.scope);
            weights = Some(snap);
        }
        env.progress.finish();
        runs.push(json!({"seed": seed, "rounds": rounds}));
    }
    // Paired difference of the last round against the dense model, over seeds.
    let pairs: Vec<f64> = runs
        .iter()
        .filter_map(|run| {
            let rs = run["rounds"].as_array()?;
            Some(rs.last()?["test_acc"].as_f64()? - rs.first()?["test_acc"].as_f64()?)
        })
        .collect();
    let diff = crate::eval::stats::mean_std(&pairs).map(|(m, _)| {
        let h = crate::eval::stats::ci95_half_width(&pairs).unwrap_or(f64::NAN);
        (m, m - h, m + h)
    });
    let vals: Vec<f64> = runs.iter().filter_map(|run| run["rounds"].as_array()?.last()?["val_acc"].as_f64()).collect();
    let final_sparsity: Vec<f64> = runs.iter().filter_map(|run| run["rounds"].as_array()?.last()?["sparsity"].as_f64()).collect();
    let headline = format!(
        "{} on {}: {} rounds of {:.0} % ({:?}{}), final sparsity {:.2} %; test accuracy change against the dense model {}",
        entry.name,
        r.dataset,
        spec.rounds,
        spec.rate * 100.0,
        spec.scope,
        if spec.rewind { ", rewound to the initial weights" } else { ", fine-tuned" },
        final_sparsity.iter().sum::<f64>() / final_sparsity.len().max(1) as f64 * 100.0,
        diff.map_or("n/a".into(), |(m, lo, hi)| format!(
            "{:+.2} points (95 % CI {:+.2}, {:+.2}) over {} seeds",
            m * 100.0,
            lo * 100.0,
            hi * 100.0,
            pairs.len()
        ))
    );
    let json = json!({
        "task": "node", "dataset": r.dataset, "model": entry.name, "rounds": spec.rounds, "rate": spec.rate, "scope": spec.scope, "rewind": spec.rewind,
        "config": base, "runs": runs,
        "summary": {"final_sparsity_mean": final_sparsity.iter().sum::<f64>() / final_sparsity.len().max(1) as f64,
                    "test_acc_diff_mean": diff.map(|d| d.0), "final_val_acc_mean": crate::eval::stats::mean_std(&vals).map(|m| m.0), "test_acc_diff_ci95": diff.map(|d| [d.1, d.2]), "seeds": pairs.len()},
    });
    Ok(Report { json, tables: vec![table], headline, notes: std::mem::take(&mut env.notes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_keep_the_largest_rows_and_matching_columns() {
        let d = &candle_core::Device::Cpu;
        // 4 hidden channels; row norms 1, 3, 0.5, 2 -> keep channels 1 and 3 at rate 0.5
        let w0 = Tensor::new(&[[1f32, 0.0], [0.0, 3.0], [0.5, 0.0], [2.0, 0.0]], d).unwrap();
        let b0 = Tensor::new(&[10f32, 11.0, 12.0, 13.0], d).unwrap();
        let w1 = Tensor::new(&[[1f32, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], d).unwrap();
        let snap = vec![("layers.0.lin.weight".to_string(), w0), ("layers.0.bias".to_string(), b0), ("layers.1.lin.weight".to_string(), w1)];
        let (width, out) = narrow_channels(&snap, 2, 4, 0.5).unwrap();
        assert_eq!(width, 2);
        let get = |n: &str| out.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("layers.0.lin.weight").to_vec2::<f32>().unwrap(), vec![vec![0.0, 3.0], vec![2.0, 0.0]]);
        assert_eq!(get("layers.0.bias").to_vec1::<f32>().unwrap(), vec![11.0, 13.0]);
        assert_eq!(get("layers.1.lin.weight").to_vec2::<f32>().unwrap(), vec![vec![2.0, 4.0], vec![6.0, 8.0]]);
        // at least one channel stays
        assert_eq!(narrow_channels(&snap, 2, 4, 0.99).unwrap().0, 1);
    }

    #[test]
    fn masks_remove_the_smallest_remaining_share() {
        let w = vec![("a.weight".to_string(), vec![0.1, -0.5, 0.3, 2.0]), ("b.weight".to_string(), vec![-0.05, 1.0, 0.2, 0.4])];
        let m = next_masks(&w, &Masks::new(), 0.25, Scope::Global);
        // the two smallest of eight: -0.05 and 0.1
        assert_eq!(m["a.weight"], vec![0.0, 1.0, 1.0, 1.0]);
        assert_eq!(m["b.weight"], vec![0.0, 1.0, 1.0, 1.0]);
        // next round: 25 % of the six kept (two): 0.2 and 0.3; pruned entries stay pruned
        let m2 = next_masks(&w, &m, 0.25, Scope::Global);
        assert_eq!(m2["a.weight"], vec![0.0, 1.0, 0.0, 1.0]);
        assert_eq!(m2["b.weight"], vec![0.0, 1.0, 0.0, 1.0]);
        // per layer: one of four from each
        let p =
            next_masks(&[("a.weight".into(), vec![3.0, 1.0, 2.0, 4.0]), ("b.weight".into(), vec![0.5, 0.4, 0.3, 0.2])], &Masks::new(), 0.25, Scope::PerLayer);
        assert_eq!((p["a.weight"].clone(), p["b.weight"].clone()), (vec![1.0, 0.0, 1.0, 1.0], vec![1.0, 1.0, 1.0, 0.0]));
        // ties at the threshold remove exactly the share
        let t = next_masks(&[("c.weight".into(), vec![1.0; 10])], &Masks::new(), 0.2, Scope::Global);
        assert_eq!(t["c.weight"].iter().filter(|v| **v == 0.0).count(), 2);
    }
}
