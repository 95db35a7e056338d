//! The pretraining task at the run boundary (`autoglm pretrain`, or
//! `autoglm train --task pretrain`): self-supervised training of an encoder,
//! saved with its description for `autoglm finetune`.

use super::{CheckpointMeta, JobSpec, PredictSpec, Report, Resolved, RunEnv, Table, Task};
use crate::checkpoint::Checkpoint;
use crate::models::ModelKind;
use crate::tasks::pretrain::{load_data, pretrain, EncoderSpec, Level, Objective, PretrainConfig, PretrainData, PretrainLog};
use crate::train::Hooks;
use crate::{Error, Result};
use serde_json::json;
use std::path::Path;

pub(super) struct PretrainTask;

/// The level's recipe, then the run file's `[train]`, then the flags (`--objective`, `--mask-rate`, `--epochs`, ...).
pub(super) fn pretrain_config(job: &JobSpec, level: Level, model: &str, seed: Option<u64>) -> Result<PretrainConfig> {
    let mut cfg = job.run_file.train_config(PretrainConfig::recipe(level))?;
    if let Ok(kind) = model.parse::<ModelKind>() {
        cfg.encoder.model = kind;
    }
    let f = &job.pretrain;
    if let Some(o) = &f.objective {
        cfg.objectives = Objective::parse_list(o)?;
    }
    if let Some(m) = f.mask_rate {
        cfg.mask_rate = m;
    }
    let o = &job.overrides;
    if o.folds.is_some() {
        return Err(Error::config("folds", o.folds.unwrap_or(0), "pretraining uses every graph; folds are a setting of `autoglm finetune --task graph`"));
    }
    o.apply(super::Targets {
        epochs: &mut cfg.epochs,
        lr: &mut cfg.optimizer.lr,
        hidden: &mut cfg.encoder.hidden_dim,
        dropout: &mut cfg.encoder.dropout,
        patience: &mut None,
        sampling: None,
        batch_size: None,
    })?;
    if let Some(s) = seed {
        cfg.seed = s;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// The default encoder of a level (`--model` omitted): GAT for one graph, GIN for collections, as GraphMAE.
fn default_model(job: &JobSpec, level: Level) -> String {
    job.model.clone().or_else(|| job.run_file.run.model.clone()).unwrap_or_else(|| if level == Level::Node { "gat".into() } else { "gin".into() })
}

impl Task for PretrainTask {
    fn name(&self) -> &'static str {
        "pretrain"
    }
    fn describe(&self) -> &'static str {
        "self-supervised pretraining of an encoder (masked features, masked edges, generation)"
    }
    fn recognises(&self, _data_dir: &Path, _dataset: &str) -> bool {
        false
    }

    fn train(&self, job: &JobSpec, r: &Resolved, env: &mut RunEnv) -> Result<Report> {
        if r.runs != 1 {
            return Err(Error::config("runs", r.runs, "pretraining makes one encoder; pass --seed to choose it (fine-tuning repeats over seeds)"));
        }
        // The level (one graph or a collection) is known from the name, so the data is read once, with the level's settings.
        let level = crate::tasks::pretrain::data_level(&r.data_dir, &r.dataset);
        let model = default_model(job, level);
        // The encoder must be an architecture registered for pretraining (gae, vgae, generator are not encoders).
        let model = env.models.for_task(&model, "pretrain")?.name.clone();
        let cfg = pretrain_config(job, level, &model, r.seed)?;
        let (data, notes) = load_data(&r.data_dir, &r.dataset, &cfg)?;
        for n in notes {
            env.note(n);
        }
        let kind = data.kind().clone();
        env.progress.note(&format!(
            "{}: {} {} ({}); encoder {model}, objectives {}",
            data.name(),
            data.num_samples(),
            if level == Level::Node { "nodes" } else { "graphs" },
            match &kind {
                crate::tasks::pretrain::InputKind::Continuous { width } => format!("{width} features"),
                crate::tasks::pretrain::InputKind::Categorical { names } => format!("{} atom types", names.len()),
            },
            cfg.objectives.iter().map(|o| o.name()).collect::<Vec<_>>().join("+")
        ));
        if let PretrainData::Node { .. } = data {
            if cfg.objectives.contains(&Objective::MaskEdge) && !cfg.link_split {
                env.note("mask-edge saw every edge of the graph; for link prediction pretrain with link_split = true in [train] (`autoglm finetune --task link` refuses an encoder that saw its test edges)");
            }
        }
        env.progress.start("pretraining", cfg.epochs as u64);
        let progress = &mut *env.progress;
        let mut on_epoch = |l: &PretrainLog| progress.step(l.epoch as u64 + 1, &format!("loss {:.4}", l.loss));
        let hooks = Hooks { on_epoch: Some(&mut on_epoch), state_file: job.save_state.clone(), resume: job.resume.clone(), stop: env.stop, ..Hooks::default() };
        let p = pretrain(&data, &cfg, &model, env.models, hooks)?;
        env.progress.finish();
        let link_split_seed = (cfg.link_split && level == Level::Node).then_some(cfg.seed);
        let spec =
            EncoderSpec { model: model.clone(), encoder: cfg.encoder.clone(), input: kind, out_dim: p.out_dim, level, pooling: cfg.pooling, link_split_seed };
        if let Some(path) = &job.checkpoint {
            crate::tasks::pretrain::save_encoder(path, &p, &spec, data.name(), &cfg)?;
            env.progress.note(&format!("saved encoder {}", path.display()));
        } else {
            env.note("no --checkpoint given: the encoder is not saved");
        }
        let unit = if level == Level::Node { "nodes" } else { "graphs" };
        let last = p.history.last().map_or(f64::NAN, |h| h.loss);
        let mut table = Table::new(&["epochs", "final loss", "seconds", &format!("{unit}/s")]);
        table.rows.push(vec![p.history.len().to_string(), format!("{last:.4}"), format!("{:.1}", p.seconds), format!("{:.0}", p.throughput)]);
        let headline = format!(
            "pretrained {model} on {} ({}): final loss {last:.4} after {} epochs, {:.1} s, {:.0} {unit}/s",
            data.name(),
            cfg.objectives.iter().map(|o| o.name()).collect::<Vec<_>>().join("+"),
            p.history.len(),
            p.seconds,
            p.throughput
        );
        let json = json!({
            "task": "pretrain", "dataset": data.name(), "model": model, "config": cfg, "encoder": spec,
            "summary": {"final_loss": last, "epochs": p.history.len(), "seconds": p.seconds, "throughput": p.throughput, "throughput_unit": format!("{unit} per second of training steps"), "parameters": p.params.pp("encoder").num_parameters()},
            "history": p.history,
        });
        Ok(Report { json, tables: vec![table], headline, notes: vec![] })
    }

    fn predict(&self, spec: &PredictSpec, _ck: &Checkpoint, _meta: &CheckpointMeta, env: &mut RunEnv) -> Result<serde_json::Value> {
        // A pretrained encoder predicts embeddings.
        let enc = crate::tasks::pretrain::load_encoder(&spec.checkpoint)?;
        let dataset = spec.dataset.clone().unwrap_or_else(|| enc.dataset.clone());
        let dir = crate::data::data_dir(spec.data_dir.as_deref());
        let cfg = PretrainConfig {
            molecular: matches!(enc.spec.input, crate::tasks::pretrain::InputKind::Categorical { .. }),
            ..PretrainConfig::recipe(enc.spec.level)
        };
        let (data, _) = load_data(&dir, &dataset, &cfg)?;
        enc.spec.input.check_compatible(data.kind(), &dataset)?;
        let params = crate::nn::Params::new(0);
        let encoder = enc.build_into(&params.pp("encoder"), env.models)?;
        let (rows, dim) = match &data {
            PretrainData::Node { graph, x, .. } => {
                let z = crate::tasks::pretrain::embed_nodes(encoder.as_ref(), graph, x)?;
                (z.flatten_all()?.to_vec1::<f32>()?, z.dims2()?.1)
            }
            PretrainData::Graphs { ds, .. } => crate::tasks::pretrain::embed_graphs(encoder.as_ref(), ds, enc.spec.pooling)?,
        };
        env.progress.note(&format!("{dataset}: {} embeddings of width {dim}", rows.len() / dim.max(1)));
        Ok(json!({"task": "pretrain", "dataset": dataset, "model": enc.spec.model, "dim": dim, "embeddings": rows.chunks(dim.max(1)).collect::<Vec<_>>()}))
    }
}
