//! The edge-noise robustness study.

use super::{summarize, train, LinkData, LinkRunResult, LinkTrainConfig};
use crate::data::edge_split::{apply_noise, EdgeNoise};
use crate::data::NodeDataset;
use crate::{Error, Result};

/// One noise level of a [`robustness`] study.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RobustnessLevel {
    /// Fraction of the training edges added or dropped.
    pub level: f64,
    /// Mean number of training edges after the noise.
    pub num_train_edges: f64,
    /// `(metric, mean, std)` of the test metrics over runs.
    pub test: Vec<(String, f64, f64)>,
    /// `(metric, relative drop)`: `(mean at level 0 − mean here) / mean at level 0`
    /// (positive when the metric got worse).
    pub relative_drop: Vec<(String, f64)>,
    /// Every run at this level (histories dropped).
    pub runs: Vec<LinkRunResult>,
}

/// The outcome of [`robustness`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct RobustnessReport {
    pub dataset: String,
    pub model: String,
    pub noise: EdgeNoise,
    pub levels: Vec<RobustnessLevel>,
}

/// Edge-noise robustness: for each run `r` (split seed and model seed `seed + r`,
/// the same at every level, so levels are compared on the same split and
/// initialisation) and each level, apply `noise` to the training edges
/// ([`apply_noise`], noise seed `seed + r` at every level, so the noisy edge sets
/// are nested), retrain and score the untouched test edges. Level 0 is added
/// when missing; levels are sorted. `on_run(level, run, result)` sees each run.
///
/// Errors: [`Error::Config`] for a level outside `[0, 1]` or no runs, and the
/// training errors.
pub fn robustness(
    ds: &NodeDataset,
    cfg: &LinkTrainConfig,
    noise: EdgeNoise,
    levels: &[f64],
    runs: u64,
    on_run: &mut dyn FnMut(f64, u64, &LinkRunResult),
) -> Result<RobustnessReport> {
    cfg.validate()?;
    if runs == 0 {
        return Err(Error::config("runs", 0, "need at least one run"));
    }
    if let Some(&bad) = levels.iter().find(|l| !(0.0..=1.0).contains(*l)) {
        return Err(Error::config("levels", bad, "noise levels are fractions of the training edges, in [0, 1]"));
    }
    let mut lv: Vec<f64> = levels.to_vec();
    if !lv.contains(&0.0) {
        lv.push(0.0);
    }
    lv.sort_by(|a, b| a.total_cmp(b));
    lv.dedup();
    let mut per_level: Vec<Vec<LinkRunResult>> = vec![vec![]; lv.len()];
    for r in 0..runs {
        let run_cfg = LinkTrainConfig { seed: cfg.seed + r, split_seed: Some(cfg.split_seed() + r), ..cfg.clone() };
        let base = LinkData::prepare(ds, &run_cfg)?;
        for (i, &level) in lv.iter().enumerate() {
            let noisy = apply_noise(&base.split, noise, level, run_cfg.split_seed())?;
            let data = base.with_split(noisy)?;
            let (mut res, _) = train(&data, &run_cfg, &mut |_| {})?;
            on_run(level, r, &res);
            res.history.clear();
            per_level[i].push(res);
        }
    }
    let base_means = summarize(&per_level[0].iter().map(|r| &r.test).collect::<Vec<_>>());
    let levels = lv
        .iter()
        .zip(per_level)
        .map(|(&level, runs)| {
            let test = summarize(&runs.iter().map(|r| &r.test).collect::<Vec<_>>());
            let relative_drop =
                test.iter().zip(&base_means).map(|((name, m, _), (_, b, _))| (name.clone(), if *b != 0.0 { (b - m) / b } else { 0.0 })).collect();
            let num_train_edges = runs.iter().map(|r| r.num_train_edges as f64).sum::<f64>() / runs.len() as f64;
            RobustnessLevel { level, num_train_edges, test, relative_drop, runs }
        })
        .collect();
    Ok(RobustnessReport { dataset: ds.name.clone(), model: cfg.model_name(), noise, levels })
}
