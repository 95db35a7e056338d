//! The comparison runner: every model on every dataset through the run
//! boundary, one table of the task's test metrics (mean ± std over the seeds,
//! or over the folds for graph classification), training time per epoch,
//! prediction latency, parameter count and peak memory.
//!
//! Peak memory needs the process's allocator: the caller lends a
//! [`MemoryProbe`] (the CLI counts every allocation); without one it is `n/a`.

use super::{predict_with, task_by_name, JobSpec, PredictSpec, Report, RunEnv, Table};
use crate::eval::stats::median;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// Peak heap use, as the process's allocator sees it.
pub trait MemoryProbe: Sync {
    /// Start a new measurement (the peak becomes the bytes in use now).
    fn reset(&self);
    /// The highest bytes in use since the last reset.
    fn peak_bytes(&self) -> u64;
}

/// A comparison job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompareSpec {
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    /// Seeds 0..seeds (node and link tasks; the graph task runs its folds).
    pub seeds: u64,
    /// Task for every dataset (default: recognised per dataset).
    pub task: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Output folder: `compare.json`, `compare.csv`, `compare.txt`, checkpoints.
    pub out: PathBuf,
    /// Epochs for every run (default: each recipe's).
    pub epochs: Option<usize>,
    /// Prediction calls timed per cell (the median is reported; default 3).
    pub predict_repeats: usize,
}

impl Default for CompareSpec {
    fn default() -> Self {
        CompareSpec { models: vec![], datasets: vec![], seeds: 10, task: None, data_dir: None, out: PathBuf::from("compare"), epochs: None, predict_repeats: 3 }
    }
}

/// One model on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub model: String,
    pub dataset: String,
    pub task: String,
    /// `(metric, mean, std)` of the test metrics.
    pub metrics: Vec<(String, f64, f64)>,
    /// Runs (seeds) or folds the means are over.
    pub repeats: usize,
    /// Median training time of an epoch, ms.
    pub epoch_ms: Option<f64>,
    /// Median wall time of `predict` on the first run's checkpoint (loading the
    /// dataset and predicting every node, pair or graph), ms.
    pub predict_ms: Option<f64>,
    /// Scalars in the checkpoint's parameters (buffers such as batch-norm statistics excluded).
    pub parameters: Option<usize>,
    /// Peak heap bytes during the training job.
    pub peak_bytes: Option<u64>,
    pub train_s: f64,
    /// Why the cell is empty (the model does not serve the task, or the run failed).
    pub error: Option<String>,
}

/// The metric keys a task's cells report.
fn metrics_of(task: &str, r: &Report) -> Vec<(String, f64, f64)> {
    match task_by_name(task).ok().and_then(|t| t.searchable()) {
        Some(s) => s.test_metrics(r),
        None => vec![],
    }
}

fn parameter_count(path: &std::path::Path) -> Option<usize> {
    let ck = crate::checkpoint::load(path).ok()?;
    Some(ck.tensors.iter().filter(|(n, _)| !ck.buffers.contains(n)).map(|(_, t)| t.elem_count()).sum())
}

/// Run the comparison (module docs).
///
/// # Errors
/// [`Error::Config`] for no models or datasets, an unknown model, zero seeds;
/// IO errors writing the outputs. A failing cell is recorded, not fatal.
pub fn compare(spec: &CompareSpec, env: &mut RunEnv, probe: Option<&dyn MemoryProbe>) -> Result<Report> {
    if spec.models.is_empty() || spec.datasets.is_empty() {
        return Err(Error::config("compare", "empty", "pass --models a,b and --datasets x,y"));
    }
    if spec.seeds == 0 {
        return Err(Error::config("seeds", 0, "run at least one seed"));
    }
    for m in &spec.models {
        env.models.get(m)?;
    }
    std::fs::create_dir_all(spec.out.join("checkpoints")).map_err(|e| Error::io("create the output folder", &spec.out, e))?;
    let data_dir = crate::data::data_dir(spec.data_dir.as_deref());
    let mut cells = Vec::new();
    for ds in &spec.datasets {
        let task = match &spec.task {
            Some(t) => task_by_name(t)?,
            None => super::recognise(&data_dir, ds),
        };
        for m in &spec.models {
            let entry = env.models.get(m)?;
            let mut cell = Cell {
                model: entry.name.clone(),
                dataset: ds.clone(),
                task: task.name().into(),
                metrics: vec![],
                repeats: 0,
                epoch_ms: None,
                predict_ms: None,
                parameters: None,
                peak_bytes: None,
                train_s: 0.0,
                error: None,
            };
            if !entry.serves(task.name()) {
                cell.error = Some(format!("{} does not serve the {} task", entry.name, task.name()));
                cells.push(cell);
                continue;
            }
            let ck = spec.out.join("checkpoints").join(format!("{}_{}.safetensors", entry.name, ds.replace(['/', ':'], "_")));
            let mut job = JobSpec::new(ds.clone(), entry.name.clone()).with_task(task.name());
            job.data_dir = Some(data_dir.clone());
            if task.name() != "graph" {
                job.runs = Some(spec.seeds);
                job.seed = Some(0);
            }
            job.overrides.epochs = spec.epochs;
            job.checkpoint = Some(ck.clone());
            env.progress.note(&format!("compare: {} on {} ({})", entry.name, ds, task.name()));
            if let Some(p) = probe {
                p.reset();
            }
            let t0 = Instant::now();
            match super::execute_with(&job, env) {
                Ok(r) => {
                    cell.train_s = t0.elapsed().as_secs_f64();
                    cell.peak_bytes = probe.map(|p| p.peak_bytes());
                    cell.metrics = metrics_of(task.name(), &r);
                    cell.repeats = r.json["runs"].as_array().or(r.json["folds"].as_array()).map_or(0, |a| a.len());
                    cell.epoch_ms = r.json["summary"]["epoch_ms_mean"].as_f64();
                    cell.parameters = parameter_count(&ck);
                    let mut times = Vec::new();
                    for _ in 0..spec.predict_repeats.max(1) {
                        let ps = PredictSpec { checkpoint: ck.clone(), data_dir: Some(data_dir.clone()), ..PredictSpec::default() };
                        let t = Instant::now();
                        let mut silent = super::Silent;
                        if predict_with(&ps, &mut RunEnv::new(&mut silent, env.models)).is_err() {
                            break;
                        }
                        times.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    cell.predict_ms = (!times.is_empty()).then(|| median(&times));
                }
                Err(e) => cell.error = Some(e.to_string()),
            }
            env.notes.clear();
            cells.push(cell);
        }
    }
    let metric_names: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for c in &cells {
            for (k, _, _) in &c.metrics {
                if !v.contains(k) {
                    v.push(k.clone());
                }
            }
        }
        v
    };
    let mut headers: Vec<String> = vec!["dataset".into(), "task".into(), "model".into(), "n".into()];
    headers.extend(metric_names.iter().cloned());
    headers.extend(["ms/epoch", "predict ms", "parameters", "peak MiB"].map(String::from));
    let mut table = Table { headers: headers.clone(), rows: vec![] };
    let mut csv = String::from("dataset,task,model,repeats");
    for k in &metric_names {
        csv.push_str(&format!(",{k}_mean,{k}_std"));
    }
    csv.push_str(",epoch_ms,predict_ms,parameters,peak_bytes,train_s,error\n");
    let opt = |v: Option<f64>, d: usize| v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.d$}"));
    for c in &cells {
        let mut row = vec![c.dataset.clone(), c.task.clone(), c.model.clone(), c.repeats.to_string()];
        let mut line = format!("{},{},{},{}", c.dataset, c.task, c.model, c.repeats);
        for k in &metric_names {
            match c.metrics.iter().find(|m| &m.0 == k) {
                Some((_, m, s)) => {
                    row.push(format!("{:.2} ± {:.2}", m * 100.0, s * 100.0));
                    line.push_str(&format!(",{m},{s}"));
                }
                None => {
                    row.push(if c.error.is_some() { "-".into() } else { "n/a".into() });
                    line.push_str(",,");
                }
            }
        }
        row.push(opt(c.epoch_ms, 2));
        row.push(opt(c.predict_ms, 1));
        row.push(c.parameters.map_or("n/a".into(), |p| p.to_string()));
        row.push(c.peak_bytes.map_or("n/a".into(), |b| format!("{:.1}", b as f64 / (1u64 << 20) as f64)));
        line.push_str(&format!(
            ",{},{},{},{},{:.1},{}\n",
            c.epoch_ms.map_or(String::new(), |v| v.to_string()),
            c.predict_ms.map_or(String::new(), |v| v.to_string()),
            c.parameters.map_or(String::new(), |v| v.to_string()),
            c.peak_bytes.map_or(String::new(), |v| v.to_string()),
            c.train_s,
            c.error.as_deref().unwrap_or("").replace([',', '\n'], ";")
        ));
        table.rows.push(row);
        csv.push_str(&line);
    }
    let json = serde_json::json!({"kind": "compare", "seeds": spec.seeds, "cells": cells, "metrics": metric_names});
    crate::checkpoint::write_atomic(&spec.out.join("compare.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    crate::checkpoint::write_atomic(&spec.out.join("compare.csv"), csv.as_bytes())?;
    crate::checkpoint::write_atomic(&spec.out.join("compare.txt"), table.render().as_bytes())?;
    let failed = cells.iter().filter(|c| c.error.is_some()).count();
    let headline = format!(
        "compared {} models on {} datasets: {} cells, {failed} empty; {}",
        spec.models.len(),
        spec.datasets.len(),
        cells.len(),
        spec.out.join("compare.{txt,json,csv}").display()
    );
    Ok(Report { json, tables: vec![table], headline, notes: vec![] })
}
