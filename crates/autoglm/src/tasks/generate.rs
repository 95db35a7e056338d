//! Graph generation: data (synthetic families and molecules), training of the
//! autoregressive [`GraphGenerator`] by maximum likelihood, and evaluation of
//! its samples.
//!
//! **Data and splits.**
//! - `grid`, `community-small`, `ego`: generated in code
//!   ([`crate::data::synthetic`]); a seeded 80 / 20 train / test split
//!   (`split_seed`), and a seeded `val_fraction` of the training part held out
//!   for model selection by validation likelihood.
//! - `qm9`: `qm9/qm9.csv`; the test set is `valid_idx_qm9.json`, read with
//!   MoFlow's convention: an id is a 1-based QM9 molecule number, so id `i` is
//!   data row `i − 1` (0-based, after the header); train = the other 120,803
//!   molecules, of which `max_val` are held out for validation.
//! - `moses`: a seeded sample of `moses_sample` molecules of
//!   `moses/train.csv.gz` for training (and validation), the first
//!   `moses_test` molecules of `moses/test.csv.gz` as the test set.
//!
//! Molecules are stored kekulised with hydrogens implicit, in the atom order
//! of their canonical SMILES (so the `smiles` ordering is that order), with
//! node type = [`AtomVocab`] type (element and formal charge) and edge type =
//! bond type (single, double, triple).
//!
//! **Evaluation.** Molecules: validity (valence rules with no correction; a
//! disconnected sample is invalid) over all samples, uniqueness (canonical
//! SMILES) over valid ones, novelty (not among the training molecules'
//! canonical SMILES) over unique valid ones, as MOSES defines them. Other
//! graphs: MMDs of degree, clustering and 4-node orbit statistics between the
//! samples and the test graphs ([`crate::eval::graphgen`]), next to the same
//! MMDs for an Erdős–Rényi baseline and for the training graphs. The
//! likelihood is reported as `nll_per_graph` under the ordering it was computed
//! with (a bound on `-log P(G)`).

use crate::chem::{canonical_smiles, max_valence, read_smiles_file, AtomVocab, Molecule};
use crate::data::synthetic::{self, Family};
use crate::eval::graphgen::{fraction_isomorphic_to, mmd_report, MmdReport, Protocol};
use crate::graph::SmallGraph;
use crate::models::generator::{bandwidth, GeneratorConfig, GraphGenerator, NodeOrdering, SeqBatch, ValenceMask};
use crate::nn::{Ctx, Params};
use crate::rng::{derive, seeded, Rng};
use crate::train::{Batches, EpochStats, Evaluation, Hooks, LrSchedule, OptimizerConfig, Score, Trainer, TrainerConfig};
use crate::{Error, Result};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// The datasets the generate task knows.
pub const DATASETS: [&str; 5] = ["qm9", "moses", "grid", "community-small", "ego"];

/// Whether `name` is a generation dataset.
pub fn is_generation_dataset(name: &str) -> bool {
    DATASETS.contains(&name.trim().to_ascii_lowercase().as_str())
}

/// Training and data settings of the generate task (the run file's `[train]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateTrainConfig {
    pub epochs: usize,
    /// Graphs per optimisation step.
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
    pub clip_grad_norm: Option<f64>,
    /// Stop after this many epochs without a better validation likelihood.
    pub patience: Option<usize>,
    pub seed: u64,
    /// Seed of the synthetic families and of their train / test split.
    pub split_seed: u64,
    /// Synthetic families: share of the training part held out for validation.
    pub val_fraction: f64,
    /// Molecules: validation molecules held out of the training set.
    pub max_val: usize,
    /// Molecules: use at most this many training molecules (all when unset).
    pub max_train: Option<usize>,
    /// MOSES: training molecules sampled from `train.csv.gz`.
    pub moses_sample: usize,
    /// MOSES: test molecules (the first of `test.csv.gz`).
    pub moses_test: usize,
    /// Graphs of `community-small` and of `ego`.
    pub num_graphs: Option<usize>,
    /// Samples evaluated after training (default: as many as test graphs for
    /// the synthetic families, 1,000 for molecules).
    pub eval_samples: Option<usize>,
    /// Sampling cap (default: the largest training graph).
    pub max_nodes: Option<usize>,
    /// Warm start: begin from the weights of this generator checkpoint (same
    /// model configuration), e.g. to continue a run with more epochs.
    pub init_from: Option<std::path::PathBuf>,
}

impl Default for GenerateTrainConfig {
    fn default() -> Self {
        GenerateTrainConfig {
            epochs: 100,
            batch_size: 32,
            optimizer: OptimizerConfig::adam(1e-3),
            schedule: LrSchedule::default(),
            clip_grad_norm: Some(1.0),
            patience: None,
            seed: 0,
            split_seed: 0,
            val_fraction: 0.1,
            max_val: 1000,
            max_train: None,
            moses_sample: 50_000,
            moses_test: 10_000,
            num_graphs: None,
            eval_samples: None,
            max_nodes: None,
            init_from: None,
        }
    }
}

impl GenerateTrainConfig {
    /// The recipe for a dataset (before the run file and the flags).
    pub fn recipe(dataset: &str) -> GenerateTrainConfig {
        let d = GenerateTrainConfig::default();
        match dataset {
            "qm9" => GenerateTrainConfig { epochs: 30, batch_size: 128, ..d },
            "moses" => GenerateTrainConfig { epochs: 10, batch_size: 64, ..d },
            "grid" => GenerateTrainConfig { epochs: 300, batch_size: 8, ..d },
            _ => GenerateTrainConfig { epochs: 300, batch_size: 32, ..d },
        }
    }

    /// Check the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be positive"));
        }
        if !(0.0..0.9).contains(&self.val_fraction) {
            return Err(Error::config("val_fraction", self.val_fraction, "must be in [0, 0.9)"));
        }
        if self.moses_sample == 0 || self.moses_test == 0 {
            return Err(Error::config("moses_sample / moses_test", 0, "must be positive"));
        }
        self.optimizer.validate()
    }
}

/// A generation dataset with its splits.
#[derive(Debug, Clone)]
pub struct GenData {
    pub name: String,
    /// Molecules (node types are [`AtomVocab`] types, edge types bond types).
    pub molecular: bool,
    pub num_node_types: usize,
    pub num_edge_types: usize,
    pub train: Vec<SmallGraph>,
    pub val: Vec<SmallGraph>,
    pub test: Vec<SmallGraph>,
    /// Canonical SMILES of the training molecules (novelty); empty otherwise.
    pub train_smiles: HashSet<String>,
    /// How the data was built (counts, skipped lines, split conventions).
    pub notes: Vec<String>,
}

impl GenData {
    /// The largest graph of the training part.
    pub fn max_train_nodes(&self) -> usize {
        self.train.iter().map(|g| g.num_nodes()).max().unwrap_or(1)
    }
}

fn seeded_split(mut graphs: Vec<SmallGraph>, fraction: f64, seed: u64) -> (Vec<SmallGraph>, Vec<SmallGraph>) {
    graphs.shuffle(&mut seeded(seed));
    let k = ((graphs.len() as f64) * fraction).round() as usize;
    let rest = graphs.split_off(k);
    (rest, graphs)
}

fn molecules_to_graphs(mols: &[Molecule], vocab: &AtomVocab) -> Vec<SmallGraph> {
    use rayon::prelude::*;
    mols.par_iter()
        .map(|m| {
            let order = crate::chem::canonical_order(m);
            m.to_small_graph(vocab).permuted(&order)
        })
        .collect()
}

fn read_molecules(path: &Path, limit: Option<usize>, notes: &mut Vec<String>) -> Result<(Vec<Molecule>, Vec<String>)> {
    let set = read_smiles_file(path, limit)?;
    if !set.failures.is_empty() {
        let shown: Vec<String> = set.failures.iter().take(5).map(|f| format!("line {}: {} ({})", f.line, f.smiles, f.reason)).collect();
        notes.push(format!(
            "{}: {} SMILES lines could not be read and were skipped: {}{}",
            path.display(),
            set.failures.len(),
            shown.join("; "),
            if set.failures.len() > 5 { "; ..." } else { "" }
        ));
    }
    Ok((set.molecules, set.smiles))
}

/// Load a generation dataset and its splits.
///
/// # Errors
/// [`Error::UnknownName`] for an unknown dataset, [`Error::DatasetNotFound`]
/// for missing files, parse errors naming the file and line.
pub fn load_generation_data(data_dir: &Path, name: &str, cfg: &GenerateTrainConfig) -> Result<GenData> {
    let key = name.trim().to_ascii_lowercase();
    if !is_generation_dataset(&key) {
        return Err(Error::unknown("generation dataset", name, &DATASETS));
    }
    let mut notes = Vec::new();
    let vocab = AtomVocab::standard();
    match key.as_str() {
        "qm9" => {
            let dir = data_dir.join("qm9");
            let csv = dir.join("qm9.csv");
            let idx_file = dir.join("valid_idx_qm9.json");
            for f in [&csv, &idx_file] {
                if !f.is_file() {
                    return Err(Error::DatasetNotFound {
                        name: "qm9".into(),
                        msg: format!("{} is missing; pass --data-dir with a qm9/ folder (qm9.csv, valid_idx_qm9.json)", f.display()),
                    });
                }
            }
            let set = read_smiles_file(&csv, None)?;
            let text = std::fs::read_to_string(&idx_file).map_err(|e| Error::io("read", &idx_file, e))?;
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::parse(&idx_file, None, e.to_string()))?;
            let ids =
                v.get("valid_idxs").and_then(|a| a.as_array()).ok_or_else(|| Error::parse(&idx_file, None, "expected {\"valid_idxs\": [\"000001\", ...]}"))?;
            // data line of each parsed molecule: line 1 is the header, so molecule number i is line i + 1
            let mut by_number = std::collections::HashMap::with_capacity(set.molecules.len());
            for (k, &line) in set.lines.iter().enumerate() {
                by_number.insert(line - 1, k);
            }
            let mut test_ids = HashSet::new();
            for id in ids {
                let s = id.as_str().ok_or_else(|| Error::parse(&idx_file, None, format!("id {id} is not a string")))?;
                let n: usize = s.trim().parse().map_err(|_| Error::parse(&idx_file, None, format!("id '{s}' is not a number")))?;
                match by_number.get(&n) {
                    Some(&k) => {
                        test_ids.insert(k);
                    }
                    None => {
                        return Err(Error::parse(&idx_file, None, format!("id {s} names no molecule of {} (ids are 1-based molecule numbers)", csv.display())))
                    }
                }
            }
            let (mut train_m, mut test_m) = (Vec::new(), Vec::new());
            for (k, m) in set.molecules.into_iter().enumerate() {
                if test_ids.contains(&k) {
                    test_m.push(m);
                } else {
                    train_m.push(m);
                }
            }
            if !set.failures.is_empty() {
                notes.push(format!("{}: {} SMILES lines could not be read (first: line {})", csv.display(), set.failures.len(), set.failures[0].line));
            }
            notes.push(format!(
                "QM9: {} training and {} test molecules (test = valid_idx_qm9.json, ids read as 1-based molecule numbers, MoFlow's convention)",
                train_m.len(),
                test_m.len()
            ));
            molecular_data("qm9", train_m, test_m, &vocab, cfg, notes)
        }
        "moses" => {
            let dir = data_dir.join("moses");
            let (train_f, test_f) = (dir.join("train.csv.gz"), dir.join("test.csv.gz"));
            for f in [&train_f, &test_f] {
                if !f.is_file() {
                    return Err(Error::DatasetNotFound {
                        name: "moses".into(),
                        msg: format!("{} is missing; pass --data-dir with a moses/ folder", f.display()),
                    });
                }
            }
            // a seeded sample of the records, parsed alone
            let total = crate::chem::count_smiles_records(&train_f)?;
            let mut idx: Vec<usize> = (0..total).collect();
            idx.shuffle(&mut derive(cfg.split_seed, 11));
            idx.truncate(cfg.moses_sample.min(total));
            let mut keep = vec![false; total];
            for &i in &idx {
                keep[i] = true;
            }
            let set = crate::chem::read_smiles_records(&train_f, None, Some(&mut |r| keep.get(r).copied().unwrap_or(false)))?;
            if !set.failures.is_empty() {
                notes.push(format!(
                    "{}: {} sampled SMILES lines could not be read and were skipped (first: line {})",
                    train_f.display(),
                    set.failures.len(),
                    set.failures[0].line
                ));
            }
            let train_m = set.molecules;
            let (test_m, _) = read_molecules(&test_f, Some(cfg.moses_test), &mut notes)?;
            notes.push(format!(
                "MOSES: a sample of {} of the {total} training molecules (seed {}), the first {} test molecules",
                train_m.len(),
                cfg.split_seed,
                test_m.len()
            ));
            molecular_data("moses", train_m, test_m, &vocab, cfg, notes)
        }
        _ => {
            let family: Family = key.parse()?;
            let graphs = match family {
                Family::Grid => synthetic::grid_graphs(),
                Family::CommunitySmall => synthetic::community_small(cfg.num_graphs.unwrap_or(100), cfg.split_seed),
                Family::Ego => {
                    let cora = synthetic::cora_small_graph(data_dir)?;
                    synthetic::ego_graphs(&cora, cfg.num_graphs.unwrap_or(200), 4, 18, cfg.split_seed)
                }
            };
            let total = graphs.len();
            let (train_all, test) = synthetic::train_test_split(graphs, 0.2, cfg.split_seed);
            let (train, val) = seeded_split(train_all, cfg.val_fraction, derive(cfg.split_seed, 3).gen::<u64>());
            notes.push(format!(
                "{key}: {total} graphs ({}), split 80 / 20 with seed {} into {} test graphs and {} training graphs, of which {} held out for validation",
                describe_sizes(&train),
                cfg.split_seed,
                test.len(),
                train.len() + val.len(),
                val.len()
            ));
            Ok(GenData { name: key, molecular: false, num_node_types: 1, num_edge_types: 1, train, val, test, train_smiles: HashSet::new(), notes })
        }
    }
}

fn describe_sizes(gs: &[SmallGraph]) -> String {
    let n: Vec<usize> = gs.iter().map(|g| g.num_nodes()).collect();
    let (lo, hi) = (n.iter().min().copied().unwrap_or(0), n.iter().max().copied().unwrap_or(0));
    format!("{lo}..{hi} nodes")
}

fn molecular_data(
    name: &str,
    mut train_m: Vec<Molecule>,
    test_m: Vec<Molecule>,
    vocab: &AtomVocab,
    cfg: &GenerateTrainConfig,
    mut notes: Vec<String>,
) -> Result<GenData> {
    if let Some(k) = cfg.max_train {
        train_m.shuffle(&mut derive(cfg.seed, 12));
        train_m.truncate(k);
        notes.push(format!("training molecules limited to {k} (max_train)"));
    }
    if train_m.len() < 2 || test_m.is_empty() {
        return Err(Error::config("dataset", name, "too few molecules to train and test on"));
    }
    use rayon::prelude::*;
    // one canonical search per molecule gives both its SMILES (novelty) and its atom order (storage)
    let (smiles, graphs): (Vec<String>, Vec<SmallGraph>) = train_m
        .par_iter()
        .map(|m| {
            let (smiles, order) = crate::chem::canonical_smiles_and_order(m);
            (smiles, m.to_small_graph(vocab).permuted(&order))
        })
        .unzip();
    let train_smiles: HashSet<String> = smiles.into_iter().collect();
    let nv = cfg.max_val.min(graphs.len() / 10);
    let (train, val) = seeded_split(graphs, nv as f64 / train_m.len() as f64, derive(cfg.seed, 13).gen::<u64>());
    let test = molecules_to_graphs(&test_m, vocab);
    notes.push(format!("{} molecules held out of training for validation (model selection)", val.len()));
    Ok(GenData {
        name: name.into(),
        molecular: true,
        num_node_types: vocab.num_atom_types(),
        num_edge_types: crate::chem::NUM_BOND_TYPES,
        train,
        val,
        test,
        train_smiles,
        notes,
    })
}

/// Seeded mini-batches of ordered graphs: the ordering of graph `i` in epoch
/// `e` is drawn from a generator keyed by `(seed, e, i)`.
pub struct GenBatches<'a> {
    graphs: &'a [SmallGraph],
    cfg: &'a GeneratorConfig,
    batch_size: usize,
    seed: u64,
    /// Edges beyond the window over the epochs so far.
    pub dropped_edges: usize,
}

impl<'a> GenBatches<'a> {
    pub fn new(graphs: &'a [SmallGraph], cfg: &'a GeneratorConfig, batch_size: usize, seed: u64) -> GenBatches<'a> {
        GenBatches { graphs, cfg, batch_size, seed, dropped_edges: 0 }
    }
}

/// `g` written in an ordering drawn for `(seed, epoch, index)`.
pub fn ordered(g: &SmallGraph, ordering: NodeOrdering, seed: u64, epoch: u64, index: u64) -> SmallGraph {
    if !ordering.is_random() {
        return g.clone();
    }
    let mut rng = derive(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15), index);
    g.permuted(&ordering.order(g, &mut rng))
}

impl Batches for GenBatches<'_> {
    type Batch = SeqBatch;
    fn for_each(&mut self, epoch: usize, step: &mut dyn FnMut(&SeqBatch) -> Result<()>) -> Result<()> {
        let mut idx: Vec<usize> = (0..self.graphs.len()).collect();
        idx.shuffle(&mut derive(self.seed, 1_000_000 + epoch as u64));
        for chunk in idx.chunks(self.batch_size) {
            let gs: Vec<SmallGraph> = chunk.iter().map(|&i| ordered(&self.graphs[i], self.cfg.ordering, self.seed, epoch as u64, i as u64)).collect();
            let refs: Vec<&SmallGraph> = gs.iter().collect();
            let b = SeqBatch::new(&refs, self.cfg)?;
            self.dropped_edges += b.dropped_edges;
            step(&b)?;
        }
        Ok(())
    }
}

/// Mean negative log-likelihood per graph of `graphs` with each graph
/// written in `ordering` (drawn with `seed`, fixed across calls): a bound on
/// `−log P(G)` that holds for that ordering.
///
/// # Errors
/// A type outside the model's vocabulary.
pub fn mean_nll(model: &GraphGenerator, graphs: &[SmallGraph], ordering: NodeOrdering, seed: u64, batch_size: usize) -> Result<f64> {
    if graphs.is_empty() {
        return Ok(f64::NAN);
    }
    let cfg = model.config();
    let mut total = 0.0;
    let mut ctx = Ctx::eval();
    for (c, chunk) in graphs.chunks(batch_size.max(1)).enumerate() {
        let gs: Vec<SmallGraph> = chunk.iter().enumerate().map(|(i, g)| ordered(g, ordering, seed, u64::MAX, (c * batch_size + i) as u64)).collect();
        let refs: Vec<&SmallGraph> = gs.iter().collect();
        let nll = model.nll(&SeqBatch::new(&refs, cfg)?, &mut ctx)?;
        total += nll.node + nll.edge;
    }
    Ok(total / graphs.len() as f64)
}

/// One epoch's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenEpochLog {
    pub epoch: usize,
    /// Mean training NLL per graph.
    pub loss: f64,
    pub lr: f64,
    /// Validation NLL per graph (fixed orderings).
    pub val_nll: f64,
    pub train_ms: f64,
}

/// A trained generator and how training went.
pub struct TrainedGenerator {
    pub params: Params,
    pub model: GraphGenerator,
    pub history: Vec<GenEpochLog>,
    pub selected_epoch: usize,
    pub epochs_run: usize,
    /// Training graphs per second (median epoch).
    pub graphs_per_second: f64,
    pub train_seconds: f64,
    pub dropped_edges: usize,
}

/// The generator configuration for `data`: the `[model]` options over the
/// defaults, with the data's type counts and, for large graphs under a
/// breadth-first ordering without an explicit `max_prev`, GraphRNN's window:
/// the widest edge reach over 10 orderings of every training graph.
///
/// # Errors
/// [`Error::Config`] for options that do not fit.
pub fn generator_config(
    data: &GenData,
    options: &serde_json::Value,
    hidden: Option<usize>,
    layers: Option<usize>,
) -> Result<(GeneratorConfig, Option<String>)> {
    let mut base = serde_json::to_value(GeneratorConfig::default())?;
    merge_json(&mut base, options);
    let mut cfg: GeneratorConfig = serde_json::from_value(base)
        .map_err(|e| Error::config("[model]", "run file", format!("{e}; see autoglm::models::generator::GeneratorConfig for the keys")))?;
    cfg.num_node_types = data.num_node_types;
    cfg.num_edge_types = data.num_edge_types;
    if let Some(h) = hidden {
        cfg.hidden_dim = h;
    }
    if let Some(l) = layers {
        cfg.num_layers = l;
    }
    let mut note = None;
    if options.get("max_prev").is_none() && data.max_train_nodes() > 64 && matches!(cfg.ordering, NodeOrdering::Bfs) {
        let mut m = 0;
        for (i, g) in data.train.iter().enumerate() {
            for r in 0..10u64 {
                let mut rng = derive(i as u64, r);
                m = m.max(bandwidth(g, &NodeOrdering::Bfs.order(g, &mut rng)));
            }
        }
        cfg.max_prev = m;
        note = Some(format!("edge window max_prev = {m}: the widest reach of an edge over 10 BFS orderings of every training graph (GraphRNN's M)"));
    }
    cfg.validate()?;
    Ok((cfg, note))
}

fn merge_json(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge_json(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) if !o.is_null() => *b = o.clone(),
        _ => {}
    }
}

/// Train a generator on `data.train`, selecting the epoch by validation NLL.
///
/// # Errors
/// Configuration and training errors; [`Error::Interrupted`] when stopped.
pub fn train_generator(data: &GenData, cfg: &GenerateTrainConfig, model_cfg: &GeneratorConfig, hooks: Hooks<'_, GenEpochLog>) -> Result<TrainedGenerator> {
    cfg.validate()?;
    let t0 = std::time::Instant::now();
    let params = Params::new(cfg.seed);
    let model = model_cfg.init(&params)?;
    if let Some(path) = &cfg.init_from {
        warm_start(path, model_cfg, &params)?;
    }
    let mut opt = cfg.optimizer.build(vec![cfg.optimizer.group("all", params.trainable())])?;
    let mut batches = GenBatches::new(&data.train, model_cfg, cfg.batch_size, cfg.seed);
    let mut ctx = Ctx::train(derive(cfg.seed, 1));
    let val_seed = cfg.seed.wrapping_add(17);
    let mut loss = |b: &SeqBatch, ctx: &mut Ctx| -> Result<(candle_core::Tensor, f64)> {
        let nll = model.nll(b, ctx)?;
        Ok(((nll.total / b.num_graphs as f64)?, b.num_graphs as f64))
    };
    let eval_set: &[SmallGraph] = if data.val.is_empty() { &data.train } else { &data.val };
    let mut eval = |st: &EpochStats| -> Result<Evaluation<GenEpochLog>> {
        let val_nll = mean_nll(&model, eval_set, model_cfg.ordering, val_seed, 256)?;
        Ok(Evaluation { log: GenEpochLog { epoch: st.epoch, loss: st.loss, lr: st.lr, val_nll, train_ms: st.step_ms }, score: Some(Score::max(-val_nll)) })
    };
    let tc = TrainerConfig::new(cfg.epochs).with_patience(cfg.patience).with_clip_grad_norm(cfg.clip_grad_norm).with_schedule(cfg.schedule.clone());
    let fit = Trainer::new(tc).with_hooks(hooks)?.describe(format!("of the {} generator", data.name)).fit(
        &params,
        opt.as_mut(),
        &mut ctx,
        &mut batches,
        &mut loss,
        &mut eval,
    )?;
    let ms = fit.median_step_ms(0);
    Ok(TrainedGenerator {
        selected_epoch: fit.selected_epoch(),
        epochs_run: fit.epochs_run(),
        history: fit.history,
        graphs_per_second: if ms > 0.0 { data.train.len() as f64 / (ms / 1e3) } else { 0.0 },
        train_seconds: t0.elapsed().as_secs_f64(),
        dropped_edges: batches.dropped_edges,
        params,
        model,
    })
}

/// Load the weights of the generator checkpoint `path` into `params`; its
/// model configuration must equal `model_cfg`.
fn warm_start(path: &Path, model_cfg: &GeneratorConfig, params: &Params) -> Result<()> {
    let ck = crate::checkpoint::load(path)?;
    let meta = crate::run::CheckpointMeta::from_checkpoint(path, &ck)?;
    if meta.task != "generate" {
        return Err(Error::Checkpoint { path: path.into(), msg: format!("init_from needs a generator checkpoint; this is a {} checkpoint", meta.task) });
    }
    let theirs: GeneratorConfig = meta
        .encoding
        .get("generator")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| Error::Checkpoint { path: path.into(), msg: "has no generator configuration in its metadata; retrain it".into() })?;
    if &theirs != model_cfg {
        let (a, b) = (serde_json::to_value(&theirs)?, serde_json::to_value(model_cfg)?);
        let differ: Vec<String> = a
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| b.get(k.as_str()) != Some(*v))
            .map(|(k, v)| format!("{k} = {v} (here {})", b[k.as_str()]))
            .collect();
        return Err(Error::Checkpoint { path: path.into(), msg: format!("was built with another generator configuration: {}", differ.join(", ")) });
    }
    ck.load_into(params)
}

/// The valence mask of the molecular vocabulary: every atom type's largest
/// valence, bond orders 1, 2, 3.
pub fn molecular_valence_mask() -> ValenceMask {
    let vocab = AtomVocab::standard();
    let capacity = (0..vocab.num_atom_types()).map(|t| vocab.atom_of_type(t).and_then(max_valence).unwrap_or(0)).collect();
    ValenceMask { capacity, edge_order: vec![1, 2, 3] }
}

/// Why a sampled molecule is invalid, or `None` when it is valid, judged as
/// RDKit's sanitisation does: the hypervalent nitro / azide / perhalate
/// notations are first rewritten to their charge-separated forms (the same
/// rewriting the SMILES reader applies to data; [`Molecule::cleanup_hypervalent`]),
/// which changes the notation, never the molecule; nothing else is changed.
/// Returns the (rewritten) molecule, the reason, and whether it was rewritten.
pub fn invalid_reason(g: &SmallGraph, vocab: &AtomVocab) -> (Option<Molecule>, Option<&'static str>, bool) {
    if g.num_nodes() == 0 {
        return (None, Some("empty"), false);
    }
    let mut m = match Molecule::from_small_graph(g, vocab) {
        Ok(m) => m,
        Err(_) => return (None, Some("other atom"), false),
    };
    let rewritten = m.cleanup_hypervalent() > 0;
    let reason = if !m.is_connected() {
        Some("disconnected")
    } else if m.check_valence().is_err() {
        Some("valence")
    } else {
        None
    };
    (Some(m), reason, rewritten)
}

/// One sample as a JSON line: `num_nodes`, `node_types`, `edges` as
/// `[src, dst, type]`, and for molecules `atoms`, `smiles` (written for every
/// sample that has only known atoms, valid or not) and `valid`.
pub fn sample_json(g: &SmallGraph, molecular: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "num_nodes": g.num_nodes(),
        "node_types": g.node_types,
        "edges": g.edges.iter().map(|&(a, b, t)| [a, b, t]).collect::<Vec<_>>(),
    });
    if molecular {
        let vocab = AtomVocab::standard();
        let (m, reason, _) = invalid_reason(g, &vocab);
        v["atoms"] = g.node_types.iter().map(|&t| vocab.type_name(t as usize)).collect::<Vec<_>>().into();
        v["smiles"] = m.as_ref().map(canonical_smiles).into();
        v["valid"] = reason.is_none().into();
        if let Some(r) = reason {
            v["invalid_reason"] = r.into();
        }
    }
    v
}

/// Validity, uniqueness and novelty of sampled molecules (MOSES denominators).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MoleculeMetrics {
    /// Valid samples / all samples.
    pub validity: f64,
    /// Unique canonical SMILES / valid samples.
    pub uniqueness: f64,
    /// Unique valid samples not in the training set / unique valid samples.
    pub novelty: f64,
    pub num_samples: usize,
    pub num_valid: usize,
    pub num_unique: usize,
    pub num_novel: usize,
    /// Invalid samples by reason (`valence`, `disconnected`, `empty`, `other atom`).
    pub invalid: std::collections::BTreeMap<String, usize>,
    /// Samples written in a hypervalent notation (`N(=O)=O`) judged in their
    /// charge-separated form, as RDKit's sanitisation does.
    pub rewritten_notation: usize,
}

/// [`MoleculeMetrics`] of `samples` against the training molecules.
pub fn molecule_metrics(samples: &[SmallGraph], train_smiles: &HashSet<String>) -> MoleculeMetrics {
    use rayon::prelude::*;
    let vocab = AtomVocab::standard();
    let judged: Vec<(Option<String>, Option<&'static str>, bool)> = samples
        .par_iter()
        .map(|g| {
            let (m, reason, rewritten) = invalid_reason(g, &vocab);
            (if reason.is_none() { m.as_ref().map(canonical_smiles) } else { None }, reason, rewritten)
        })
        .collect();
    let mut invalid = std::collections::BTreeMap::new();
    let mut unique = HashSet::new();
    let mut valid = 0;
    let rewritten = judged.iter().filter(|j| j.2).count();
    for (s, r, _) in judged {
        match (s, r) {
            (Some(s), None) => {
                valid += 1;
                unique.insert(s);
            }
            (_, Some(r)) => *invalid.entry(r.to_string()).or_insert(0) += 1,
            _ => {}
        }
    }
    let novel = unique.iter().filter(|s| !train_smiles.contains(*s)).count();
    let frac = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    MoleculeMetrics {
        validity: frac(valid, samples.len()),
        uniqueness: frac(unique.len(), valid),
        novelty: frac(novel, unique.len()),
        num_samples: samples.len(),
        num_valid: valid,
        num_unique: unique.len(),
        num_novel: novel,
        invalid,
        rewritten_notation: rewritten,
    }
}

/// The evaluation of a sample set: molecule metrics; or, for graphs, the
/// MMDs against the test graphs of consecutive sets of the test set's size
/// (GRAN's protocol: as many generated graphs as test graphs per set),
/// averaged over the sets, with the share of samples isomorphic to a
/// training graph.
pub fn evaluate_samples(data: &GenData, samples: &[SmallGraph]) -> serde_json::Value {
    if data.molecular {
        return serde_json::to_value(molecule_metrics(samples, &data.train_smiles)).unwrap_or_default();
    }
    let size = data.test.len().max(1);
    let sets: Vec<[f64; 3]> = samples
        .chunks(size)
        .filter(|c| c.len() == size || samples.len() < size)
        .map(|c| {
            let r = mmd_report(&data.test, c, Protocol::GraphRnn);
            [r.degree, r.clustering, r.orbit]
        })
        .collect();
    let mut v = set_means(&sets, size.min(samples.len()));
    v["isomorphic_to_train"] = fraction_isomorphic_to(samples, &seen_graphs(data)).into();
    v["mean_nodes"] = (samples.iter().map(|g| g.num_nodes()).sum::<usize>() as f64 / samples.len().max(1) as f64).into();
    v
}

/// Mean and standard deviation of the three MMDs over sample sets of `set_size` graphs.
pub fn set_means(sets: &[[f64; 3]], set_size: usize) -> serde_json::Value {
    let col = |k: usize| sets.iter().map(|s| s[k]).collect::<Vec<f64>>();
    let (d, c, o) = (col(0), col(1), col(2));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let std = |v: &[f64]| crate::eval::stats::mean_std(v).map_or(f64::NAN, |m| m.1);
    serde_json::json!({
        "mmd_degree": mean(&d), "mmd_clustering": mean(&c), "mmd_orbit": mean(&o),
        "mmd_degree_std": std(&d), "mmd_clustering_std": std(&c), "mmd_orbit_std": std(&o),
        "num_sets": sets.len(), "set_size": set_size, "num_samples": sets.len() * set_size, "per_set": sets,
    })
}

/// The training and validation graphs of a synthetic family (what a sample may memorise).
fn seen_graphs(data: &GenData) -> Vec<SmallGraph> {
    data.train.iter().chain(&data.val).cloned().collect()
}

/// The floor of the MMDs of a synthetic family: an Erdős–Rényi baseline with
/// the training graphs' sizes and density, against the test graphs.
pub fn erdos_renyi_mmd(data: &GenData, seed: u64) -> MmdReport {
    let er = synthetic::erdos_renyi_baseline(&seen_graphs(data), data.test.len(), seed);
    mmd_report(&data.test, &er, Protocol::GraphRnn)
}

/// The ceiling: the training graphs themselves against the test graphs.
pub fn train_vs_test_mmd(data: &GenData) -> MmdReport {
    mmd_report(&data.test, &seen_graphs(data), Protocol::GraphRnn)
}
