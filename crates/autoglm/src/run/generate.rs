//! The generate task at the run boundary: `train --task generate` trains a
//! [`crate::models::generator::GraphGenerator`]; [`generate`] samples from a
//! checkpoint and [`evaluate_generator`] scores a checkpoint's samples.

use super::{pct, CheckpointMeta, JobSpec, PredictSpec, Report, Resolved, RunEnv, Table, Targets, Task, META_VERSION};
use crate::checkpoint::Checkpoint;
use crate::graph::SmallGraph;
use crate::models::generator::{GeneratorConfig, GraphGenerator, SampleConfig, SampleStats};
use crate::nn::Params;
use crate::tasks::generate::{
    erdos_renyi_mmd, evaluate_samples, generator_config, is_generation_dataset, load_generation_data, mean_nll, molecular_valence_mask, sample_json, set_means,
    train_generator, train_vs_test_mmd, GenData, GenEpochLog, GenerateTrainConfig,
};
use crate::train::Hooks;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

pub(super) struct GenerateTask;

/// The architecture name of the generator (`--model`).
pub const GENERATOR_MODEL: &str = "generator";

fn check_model(name: &str) -> Result<()> {
    if name != GENERATOR_MODEL {
        return Err(Error::unknown("generation model", name, &[GENERATOR_MODEL]));
    }
    Ok(())
}

fn train_config(job: &JobSpec, dataset: &str, seed: Option<u64>) -> Result<GenerateTrainConfig> {
    let mut cfg = job.run_file.train_config(GenerateTrainConfig::recipe(dataset))?;
    let (mut hidden, mut dropout) = (0usize, 0.0);
    job.overrides.apply(Targets {
        epochs: &mut cfg.epochs,
        lr: &mut cfg.optimizer.lr,
        hidden: &mut hidden,
        dropout: &mut dropout,
        patience: &mut cfg.patience,
        sampling: None,
        batch_size: None,
    })?;
    if let Some(s) = seed {
        cfg.seed = s;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// What a generator checkpoint records besides its tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GenEncoding {
    generator: GeneratorConfig,
    molecular: bool,
    /// The largest training graph (the default sampling cap).
    max_train_nodes: usize,
    vocab: Option<Vec<String>>,
}

fn split_json(d: &GenData) -> serde_json::Value {
    json!({"train": d.train.len(), "val": d.val.len(), "test": d.test.len()})
}

fn samples_table(name: &str, v: &serde_json::Value, molecular: bool) -> Vec<String> {
    let f = |k: &str| v.get(k).and_then(|x| x.as_f64());
    if molecular {
        vec![name.into(), pct(f("validity")), pct(f("uniqueness")), pct(f("novelty")), v["num_samples"].to_string()]
    } else {
        let g = |k: &str| f(k).map_or("n/a".into(), |x| format!("{x:.4}"));
        vec![name.into(), g("mmd_degree"), g("mmd_clustering"), g("mmd_orbit"), v["num_samples"].to_string()]
    }
}

fn table_for(molecular: bool) -> Table {
    if molecular {
        Table::new(&["samples", "validity %", "uniqueness %", "novelty %", "n"])
    } else {
        Table::new(&["graphs", "MMD degree", "MMD clustering", "MMD orbit", "n"])
    }
}

/// Sample `sc` from `model` with progress, evaluate, and (molecules) the valence-masked mode too.
fn sample_and_score(
    model: &GraphGenerator,
    data: &GenData,
    sc: &SampleConfig,
    env: &mut RunEnv,
    masked_too: bool,
) -> Result<(serde_json::Value, Table, Vec<SmallGraph>)> {
    let mut table = table_for(data.molecular);
    let (samples, stats) = sample_with_progress(model, sc, env, "sampling")?;
    let mut ev = evaluate_samples(data, &samples);
    ev["sampling"] = serde_json::to_value(&stats)?;
    ev["samples_per_second"] = (stats.num as f64 / stats.seconds.max(1e-9)).into();
    let label = if sc.valence.is_some() { "model, valence-masked sampling" } else { "model, no correction" };
    table.rows.push(samples_table(label, &ev, data.molecular));
    ev["mode"] = label.trim_start_matches("model, ").into();
    let mut out = json!({"samples": ev});
    if data.molecular && masked_too {
        let masked = SampleConfig { valence: Some(molecular_valence_mask()), ..sc.clone() };
        let (ms, mstats) = sample_with_progress(model, &masked, env, "sampling (valence-masked)")?;
        let mut mv = evaluate_samples(data, &ms);
        mv["sampling"] = serde_json::to_value(&mstats)?;
        table.rows.push(samples_table("model, valence-masked sampling", &mv, true));
        out["samples_valence_masked"] = mv;
    }
    if !data.molecular {
        let sets = (sc.num / data.test.len().max(1)).max(1);
        let er_sets: Vec<[f64; 3]> = (0..sets)
            .map(|r| {
                let er = erdos_renyi_mmd(data, sc.seed.wrapping_add(r as u64));
                [er.degree, er.clustering, er.orbit]
            })
            .collect();
        let erj = set_means(&er_sets, data.test.len());
        table.rows.push(samples_table("Erdos-Renyi baseline (training density)", &erj, false));
        out["baseline_erdos_renyi"] = erj;
        let tr = train_vs_test_mmd(data);
        let trj = json!({"mmd_degree": tr.degree, "mmd_clustering": tr.clustering, "mmd_orbit": tr.orbit, "num_samples": tr.num_generated});
        table.rows.push(samples_table("training graphs", &trj, false));
        out["baseline_train_graphs"] = trj;
    }
    Ok((out, table, samples))
}

fn sample_with_progress(model: &GraphGenerator, sc: &SampleConfig, env: &mut RunEnv, label: &str) -> Result<(Vec<SmallGraph>, SampleStats)> {
    env.progress.start(label, sc.num as u64);
    let progress = &mut *env.progress;
    let r = model.sample(sc, &mut |done| progress.step(done as u64, ""));
    env.progress.finish();
    r
}

impl Task for GenerateTask {
    fn name(&self) -> &'static str {
        "generate"
    }
    fn describe(&self) -> &'static str {
        "graph generation (autoregressive graph language model: qm9, moses, grid, community-small, ego)"
    }
    fn recognises(&self, _data_dir: &Path, dataset: &str) -> bool {
        is_generation_dataset(dataset)
    }
    fn own_models(&self) -> &'static [&'static str] {
        &[GENERATOR_MODEL]
    }

    fn train(&self, job: &JobSpec, r: &Resolved, env: &mut RunEnv) -> Result<Report> {
        let model_name = if job.model.is_none() && job.run_file.run.model.is_none() { GENERATOR_MODEL.to_string() } else { r.model.clone() };
        check_model(&model_name)?;
        if r.runs != 1 {
            return Err(Error::config("runs", r.runs, "the generate task trains one model; run again with another --seed for another"));
        }
        if job.save_state.is_some() || job.resume.is_some() {
            return Err(Error::config("save_state", "given", "resumable state covers the node and link tasks; a generator run restarts"));
        }
        let dataset = r.dataset.trim().to_ascii_lowercase();
        let cfg = train_config(job, &dataset, r.seed)?;
        env.progress.note(&format!("loading {dataset} ..."));
        let data = load_generation_data(&r.data_dir, &dataset, &cfg)?;
        for n in &data.notes {
            env.note(n.clone());
        }
        let opts = job.run_file.model_options()?;
        let (mcfg, window) = generator_config(&data, &opts, job.overrides.hidden, None)?;
        if let Some(w) = window {
            env.note(w);
        }
        env.progress.note(&format!(
            "{dataset}: {} training graphs; generator hidden {} x {} blocks, {} node types, {} edge types, ordering {}, mixture of {}; {} epochs, batch {}",
            data.train.len(),
            mcfg.hidden_dim,
            mcfg.num_layers,
            mcfg.num_node_types,
            mcfg.num_edge_types,
            mcfg.ordering.name(),
            mcfg.mixture,
            cfg.epochs,
            cfg.batch_size
        ));
        env.progress.start("training", cfg.epochs as u64);
        let progress = &mut *env.progress;
        let mut on_epoch = |log: &GenEpochLog| progress.step(log.epoch as u64 + 1, &format!("nll {:.3} val {:.3}", log.loss, log.val_nll));
        let hooks = Hooks { on_epoch: Some(&mut on_epoch), stop: env.stop, ..Hooks::default() };
        let trained = train_generator(&data, &cfg, &mcfg, hooks)?;
        env.progress.finish();
        if trained.dropped_edges > 0 {
            env.note(format!("{} training edges reached farther back than max_prev = {} and were not modelled", trained.dropped_edges, mcfg.max_prev));
        }
        let max_nodes = cfg.max_nodes.unwrap_or(data.max_train_nodes());
        let test_nll = mean_nll(&trained.model, &data.test, mcfg.ordering, cfg.seed.wrapping_add(29), 256)?;
        let num = cfg.eval_samples.unwrap_or(if data.molecular { 1000 } else { 5 * data.test.len() });
        let sc = SampleConfig { num, seed: cfg.seed, max_nodes, ..SampleConfig::default() };
        let (samples, table, _) = sample_and_score(&trained.model, &data, &sc, env, true)?;
        if let Some(path) = &job.checkpoint {
            let enc = GenEncoding {
                generator: mcfg.clone(),
                molecular: data.molecular,
                max_train_nodes: data.max_train_nodes(),
                vocab: data.molecular.then(|| {
                    let v = crate::chem::AtomVocab::standard();
                    (0..v.num_atom_types()).map(|t| v.type_name(t)).collect()
                }),
            };
            let meta = CheckpointMeta {
                version: META_VERSION,
                task: "generate".into(),
                model: GENERATOR_MODEL.into(),
                dataset: data.name.clone(),
                in_dim: mcfg.in_dim(),
                num_classes: None,
                train: serde_json::to_value(&cfg)?,
                encoding: serde_json::to_value(&enc)?,
                model_options: opts.clone(),
            };
            crate::checkpoint::save(path, &trained.params, &meta.to_json())?;
            env.progress.note(&format!("saved checkpoint {}", path.display()));
        }
        let sel = &trained.history[trained.selected_epoch];
        let headline = if data.molecular {
            let s = &samples["samples"];
            format!(
                "generator on {}: validity {} %, uniqueness {} %, novelty {} % over {num} samples (no correction); test nll {:.3} nats per graph ({} ordering); {:.0} training graphs/s",
                data.name,
                pct(s["validity"].as_f64()),
                pct(s["uniqueness"].as_f64()),
                pct(s["novelty"].as_f64()),
                test_nll,
                mcfg.ordering.name(),
                trained.graphs_per_second
            )
        } else {
            let s = &samples["samples"];
            format!(
                "generator on {}: MMD degree {:.4}, clustering {:.4}, orbit {:.4} over {num} samples vs {} test graphs; test nll {:.2} nats per graph ({} ordering)",
                data.name,
                s["mmd_degree"].as_f64().unwrap_or(f64::NAN),
                s["mmd_clustering"].as_f64().unwrap_or(f64::NAN),
                s["mmd_orbit"].as_f64().unwrap_or(f64::NAN),
                data.test.len(),
                test_nll,
                mcfg.ordering.name()
            )
        };
        let mut json = json!({
            "task": "generate", "dataset": data.name, "model": GENERATOR_MODEL,
            "config": cfg, "model_config": mcfg, "split": split_json(&data),
            "train": {"epochs_run": trained.epochs_run, "selected_epoch": trained.selected_epoch, "val_nll_per_graph": sel.val_nll,
                      "graphs_per_second": trained.graphs_per_second, "seconds": trained.train_seconds, "history": trained.history},
            "nll_per_graph": test_nll, "nll_ordering": mcfg.ordering.name(),
        });
        if let (Some(obj), Some(extra)) = (json.as_object_mut(), samples.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        Ok(Report { json, tables: vec![table], headline, notes: vec![] })
    }

    fn predict(&self, spec: &PredictSpec, _ck: &Checkpoint, _meta: &CheckpointMeta, _env: &mut RunEnv) -> Result<serde_json::Value> {
        Err(Error::Checkpoint {
            path: spec.checkpoint.clone(),
            msg: "is a generator checkpoint: sample from it with `autoglm generate --checkpoint FILE`, or score it with `autoglm eval --task generate`".into(),
        })
    }
}

/// A sampling request for a generator checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateSpec {
    pub checkpoint: PathBuf,
    pub num: usize,
    pub seed: u64,
    /// Default 1.
    pub temperature: Option<f64>,
    /// Default 1 (off).
    pub top_p: Option<f64>,
    /// Default: the largest training graph.
    pub max_nodes: Option<usize>,
    /// Default 256.
    pub batch_size: Option<usize>,
    /// Molecules: the valence-masked mode.
    pub valence_mask: bool,
    /// Evaluation: the ordering the test likelihood is computed under
    /// (default: the training ordering).
    pub ordering: Option<crate::models::generator::NodeOrdering>,
}

/// A loaded generator checkpoint.
pub struct LoadedGenerator {
    pub model: GraphGenerator,
    pub meta: CheckpointMeta,
    pub molecular: bool,
    pub max_train_nodes: usize,
    pub train_config: GenerateTrainConfig,
}

/// Load a generator checkpoint.
///
/// # Errors
/// [`Error::Checkpoint`] for a file of another task, or metadata that does not fit.
pub fn load_generator(path: &Path) -> Result<LoadedGenerator> {
    let ck = crate::checkpoint::load(path)?;
    let meta = CheckpointMeta::from_checkpoint(path, &ck)?;
    generator_of(path, &ck, meta)
}

/// The generator of a loaded checkpoint (`path` for messages).
///
/// # Errors
/// As [`load_generator`].
pub(super) fn generator_of(path: &Path, ck: &crate::checkpoint::Checkpoint, meta: CheckpointMeta) -> Result<LoadedGenerator> {
    if meta.task != "generate" {
        return Err(Error::Checkpoint {
            path: path.into(),
            msg: format!(
                "is a {} checkpoint, not a generator; train one with `autoglm train --task generate --dataset qm9 --checkpoint gen.safetensors`",
                meta.task
            ),
        });
    }
    let enc: GenEncoding = serde_json::from_value(meta.encoding.clone())
        .map_err(|e| Error::Checkpoint { path: path.into(), msg: format!("metadata encoding is not a generator's ({e}); retrain it") })?;
    let train_config: GenerateTrainConfig = meta.train_config(path)?;
    let params = Params::new(0);
    let model = enc.generator.init(&params)?;
    ck.load_into(&params)?;
    Ok(LoadedGenerator { model, meta, molecular: enc.molecular, max_train_nodes: enc.max_train_nodes, train_config })
}

fn sample_config(spec: &GenerateSpec, g: &LoadedGenerator) -> Result<SampleConfig> {
    if spec.valence_mask && !g.molecular {
        return Err(Error::config("valence_mask", true, "is for molecule generators; this checkpoint generates plain graphs"));
    }
    let d = SampleConfig::default();
    let sc = SampleConfig {
        num: spec.num,
        seed: spec.seed,
        temperature: spec.temperature.unwrap_or(d.temperature),
        top_p: spec.top_p.unwrap_or(d.top_p),
        max_nodes: spec.max_nodes.unwrap_or(g.max_train_nodes),
        batch_size: spec.batch_size.unwrap_or(d.batch_size),
        valence: spec.valence_mask.then(molecular_valence_mask),
    };
    sc.validate()?;
    Ok(sc)
}

impl LoadedGenerator {
    /// Sample as [`generate`] does from a generator already loaded (a server
    /// keeps one): one JSON object per graph.
    ///
    /// # Errors
    /// A bad request ([`SampleConfig::validate`]).
    pub fn sample_lines(&self, spec: &GenerateSpec, env: &mut RunEnv) -> Result<Vec<serde_json::Value>> {
        let sc = sample_config(spec, self)?;
        let (samples, _) = sample_with_progress(&self.model, &sc, env, "sampling")?;
        Ok(samples.iter().map(|s| sample_json(s, self.molecular)).collect())
    }
}

/// What [`generate`] returns.
#[derive(Debug)]
pub struct Generated {
    pub samples: Vec<SmallGraph>,
    /// One JSON object per sample ([`sample_json`]).
    pub lines: Vec<serde_json::Value>,
    pub stats: SampleStats,
    pub molecular: bool,
    /// The dataset the generator was trained on.
    pub dataset: String,
    pub train_config: GenerateTrainConfig,
}

/// Sample from a checkpoint.
///
/// # Errors
/// A bad request ([`SampleConfig::validate`]), a checkpoint of another task.
pub fn generate(spec: &GenerateSpec, env: &mut RunEnv) -> Result<Generated> {
    let g = load_generator(&spec.checkpoint)?;
    let sc = sample_config(spec, &g)?;
    let (samples, stats) = sample_with_progress(&g.model, &sc, env, "sampling")?;
    let lines = samples.iter().map(|s| sample_json(s, g.molecular)).collect();
    Ok(Generated { samples, lines, stats, molecular: g.molecular, dataset: g.meta.dataset.clone(), train_config: g.train_config })
}

/// Sample `spec.num` graphs (0: 10,000 molecules, or 5 sets of the test
/// set's size) from a checkpoint and score them against its dataset (validity / uniqueness / novelty, or MMDs with baselines), with the
/// test likelihood.
///
/// # Errors
/// As [`generate`]; data errors.
pub fn evaluate_generator(spec: &GenerateSpec, data_dir: Option<&Path>, env: &mut RunEnv) -> Result<Report> {
    let g = load_generator(&spec.checkpoint)?;
    let dir = crate::data::data_dir(data_dir);
    env.progress.note(&format!("loading {} ...", g.meta.dataset));
    let data = load_generation_data(&dir, &g.meta.dataset, &g.train_config)?;
    let mut spec = spec.clone();
    if spec.num == 0 {
        // default: 10,000 molecules, or 5 sets of the test set's size
        spec.num = if g.molecular { 10_000 } else { 5 * data.test.len() };
    }
    let sc = sample_config(&spec, &g)?;
    let ordering = spec.ordering.unwrap_or(g.model.config().ordering);
    let test_nll = mean_nll(&g.model, &data.test, ordering, g.train_config.seed.wrapping_add(29), 256)?;
    let (out, table, _) = sample_and_score(&g.model, &data, &sc, env, !spec.valence_mask)?;
    let mut json = json!({
        "task": "generate", "dataset": data.name, "checkpoint": spec.checkpoint, "split": split_json(&data),
        "nll_per_graph": test_nll, "nll_ordering": ordering.name(), "trained_ordering": g.model.config().ordering.name(), "sampling_config": sc,
    });
    let s = &out["samples"];
    for k in ["validity", "uniqueness", "novelty", "mmd_degree", "mmd_clustering", "mmd_orbit"] {
        if let Some(v) = s.get(k) {
            json[k] = v.clone();
        }
    }
    if let (Some(obj), Some(extra)) = (json.as_object_mut(), out.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    let headline = if data.molecular {
        format!(
            "{} samples of {}: validity {} %, uniqueness {} %, novelty {} % ({}); test nll {test_nll:.3} nats per graph ({} ordering)",
            sc.num,
            data.name,
            pct(s["validity"].as_f64()),
            pct(s["uniqueness"].as_f64()),
            pct(s["novelty"].as_f64()),
            if sc.valence.is_some() { "valence-masked sampling" } else { "no correction" },
            ordering.name()
        )
    } else {
        format!(
            "{} samples of {}: MMD degree {:.4}, clustering {:.4}, orbit {:.4}; test nll {test_nll:.2} nats per graph ({} ordering)",
            sc.num,
            data.name,
            s["mmd_degree"].as_f64().unwrap_or(f64::NAN),
            s["mmd_clustering"].as_f64().unwrap_or(f64::NAN),
            s["mmd_orbit"].as_f64().unwrap_or(f64::NAN),
            ordering.name()
        )
    };
    Ok(Report { json, tables: vec![table], headline, notes: std::mem::take(&mut env.notes) })
}
