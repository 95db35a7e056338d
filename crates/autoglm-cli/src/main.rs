//! `autoglm`: the command-line tool. Argument parsing and printing only: every
//! job goes through the library's run boundary (`autoglm::run`), so the CLI,
//! a server and a queue worker run the same code.

mod bench;
mod charts;
mod distributed;
mod memory;
mod output;
mod plot;
mod serve;

use anyhow::{Context, Result};
use autoglm::run::{JobSpec, Overrides, PredictSpec, RobustnessSpec, RunEnv, RunFile};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// mimalloc keeps freed pages for reuse: training allocates and frees the same
/// large activation buffers every epoch, which glibc returns to the OS and
/// faults back in each time.
/// Wrapped in a counter of the bytes in use, for the peak memory that
/// `autoglm compare` reports.
#[global_allocator]
static GLOBAL: memory::Counting<mimalloc::MiMalloc> = memory::Counting::new(mimalloc::MiMalloc);

#[derive(Parser)]
#[command(name = "autoglm", version, about = "Graph learning in Rust: train, evaluate and benchmark GNNs on real datasets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Largest memory a single input may imply (bytes, or with K/M/G suffix): a
    /// file header, id or setting implying more is rejected (default: the machine's memory).
    #[arg(long, global = true, value_parser = parse_bytes)]
    max_memory: Option<u64>,
}

/// `123`, `64K`, `512M`, `8G` (powers of 1024).
fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown unit '{c}' in '{s}'; use a byte count or K, M, G, T")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| format!("'{s}' is not a size; write for example 8G or 512M"))?;
    n.checked_mul(mult).filter(|&b| b > 0).ok_or_else(|| format!("'{s}' is zero or too large"))
}

#[derive(Subcommand)]
enum Command {
    /// List the datasets found in the data directory (and the built-in ones).
    Datasets {
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the tasks and the models that serve each.
    Models,
    /// Train a model on a dataset and report test metrics over one or more seeds.
    Train(TrainArgs),
    /// Predict with a saved checkpoint or an exported `.agx` model.
    Predict(PredictArgs),
    /// Export a checkpoint to a compact inference model (`.agx`, float or int8).
    Export(ExportArgs),
    /// Iterative magnitude pruning of a node classifier with fine-tuning between rounds.
    Prune(PruneArgs),
    /// Link prediction under edge noise: inject or drop training edges, retrain, compare metrics.
    Robustness(RobustnessArgs),
    /// Time training epochs against the figures of PyTorch Geometric.
    Bench(bench::BenchArgs),
    /// Sample graphs or molecules from a generator checkpoint (JSON lines).
    Generate(GenerateArgs),
    /// Self-supervised pretraining of an encoder (masked features, masked edges, generation).
    Pretrain(PretrainArgs),
    /// Fine-tune, probe or score a pretrained encoder on a node, link or graph task.
    Finetune(FinetuneArgs),
    /// Evaluate a checkpoint; for a generator: sample, then score the samples
    /// (validity, uniqueness, novelty for molecules; MMDs otherwise); for a
    /// node or graph model with `--quantize int8`: every linear map in int8
    /// against the float model on the test data.
    Eval(EvalArgs),
    /// Recognise the task, search a space that fits the data (TPE or random
    /// proposals, successive halving on epochs, validation only), retrain the
    /// winner over 10 seeds (or inside each outer fold) and report test metrics.
    Auto(AutoArgs),
    /// Every model on every dataset: test metrics (mean ± std), time per epoch,
    /// prediction latency, parameters and peak memory, as text, JSON and CSV.
    Compare(CompareArgs),
    /// Serve a model over HTTP (predictions, generation, metrics) and, with a
    /// broker, long jobs through RabbitMQ.
    Serve(serve::ServeArgs),
    /// Take jobs from the RabbitMQ queue, run them, publish their results.
    Worker(serve::WorkerArgs),
    /// Draw a results JSON: a run's training curves, a comparison's bars, a
    /// search's best-so-far curve (SVG and PNG).
    Plot(PlotArgs),
}

/// `autoglm auto`.
#[derive(Args, Clone, Debug)]
pub struct AutoArgs {
    /// Dataset name (cora, PROTEINS, karate, ...).
    #[arg(long)]
    pub dataset: String,
    /// Task (default: recognised from the data: node classification for one graph, graph classification for many).
    #[arg(long)]
    pub task: Option<String>,
    /// Search time (90s, 20m, 1h; the final retraining is extra).
    #[arg(long, value_parser = parse_duration)]
    pub budget: Option<f64>,
    /// Configurations to try instead of a time budget (per outer fold; the same seed gives the same trials).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Seed of the proposals and of every trial.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// tpe or random.
    #[arg(long, default_value = "tpe")]
    pub strategy: String,
    /// Output folder (summary.json, trials.json, best.toml, best.safetensors, final.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Trials at once (default: the cores, one kernel thread each).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Only these models (comma-separated; default every model serving the task).
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Trial store (JSON lines; default $AUTOGLM_STORE, else ~/.autoglm/trials.jsonl).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Neither read nor write the trial store.
    #[arg(long)]
    pub no_store: bool,
    /// Configurations taken from the store's nearest datasets first (0: a cold start).
    #[arg(long, default_value_t = 3)]
    pub warm_start: usize,
    /// Continue the search in --out.
    #[arg(long)]
    pub resume: bool,
    /// Seeds of the final retraining.
    #[arg(long, default_value_t = 10)]
    pub final_runs: u64,
    /// No final retraining (validation scores only).
    #[arg(long)]
    pub no_final: bool,
    /// Graph task: search only the first K outer folds.
    #[arg(long)]
    pub outer_folds: Option<usize>,
    /// Full-fidelity epochs (default: the task's).
    #[arg(long)]
    pub max_epochs: Option<usize>,
    /// Configurations per halving bracket.
    #[arg(long, default_value_t = 9)]
    pub bracket: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// `autoglm compare`.
#[derive(Args, Clone, Debug)]
pub struct CompareArgs {
    /// Models, comma-separated (gcn,gat,sage,gin,gt).
    #[arg(long, value_delimiter = ',', required = true)]
    pub models: Vec<String>,
    /// Datasets, comma-separated (cora,MUTAG,...).
    #[arg(long, value_delimiter = ',', required = true)]
    pub datasets: Vec<String>,
    /// Seeds per cell (node and link tasks; graph classification runs its folds).
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Task for every dataset (default: recognised per dataset).
    #[arg(long)]
    pub task: Option<String>,
    /// Epochs for every run (default: each recipe's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Output folder (compare.txt, compare.json, compare.csv, checkpoints/).
    #[arg(long)]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// `autoglm plot`.
#[derive(Args, Clone, Debug)]
pub struct PlotArgs {
    /// Results JSON files: `autoglm train --out`, `compare.json`, or searches'
    /// `summary.json` (several searches are drawn on one chart).
    #[arg(required = true)]
    pub json: Vec<PathBuf>,
    /// Output path without extension (default: next to the JSON); writes .svg and .png.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `90`, `90s`, `20m`, `1h`, `1h30m` as seconds.
fn parse_duration(s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let bad = || format!("'{s}' is not a duration; write for example 90s, 20m or 1h30m");
    if let Ok(v) = t.parse::<f64>() {
        return if v > 0.0 && v.is_finite() { Ok(v) } else { Err(format!("'{s}' must be positive")) };
    }
    let (mut total, mut num) = (0.0f64, String::new());
    for c in t.chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let v: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += v * match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() || total <= 0.0 {
        return Err(bad());
    }
    Ok(total)
}

/// Sampling settings shared by `generate` and `eval`.
#[derive(Args, Clone, Debug)]
pub struct SampleArgs {
    /// A generator written by `autoglm train --task generate --checkpoint FILE`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Seed of the samples (sample i draws from its own stream of this seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Softmax temperature (1: the model's distribution).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling: keep the most likely classes up to this mass (1: off).
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Largest graph (default: the largest training graph).
    #[arg(long)]
    pub max_nodes: Option<usize>,
    /// Graphs sampled together (default 256).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Molecules: mask bonds that would exceed an atom's valence (a separate, labelled mode).
    #[arg(long)]
    pub valence_mask: bool,
    /// Also draw sampled graphs next to training graphs: FILE.svg and FILE.png.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

impl SampleArgs {
    fn spec(&self, num: usize) -> autoglm::run::GenerateSpec {
        autoglm::run::GenerateSpec {
            checkpoint: self.checkpoint.clone(),
            num,
            seed: self.seed,
            temperature: self.temperature,
            top_p: self.top_p,
            max_nodes: self.max_nodes,
            batch_size: self.batch_size,
            valence_mask: self.valence_mask,
            ordering: None,
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub sample: SampleArgs,
    /// Number of samples.
    #[arg(long, default_value_t = 100)]
    pub num: usize,
    /// Write one JSON object per sample here (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
pub struct EvalArgs {
    /// The task of the checkpoint (generate).
    #[arg(long)]
    pub task: String,
    #[command(flatten)]
    pub sample: SampleArgs,
    /// Number of samples to score (default: 10,000 molecules, or 5 sets of the test set's size).
    #[arg(long)]
    pub num: Option<usize>,
    /// Write the scores here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The node ordering of the test likelihood (bfs, dfs, degree, random, smiles; default: the training ordering).
    #[arg(long)]
    pub ordering: Option<String>,
    /// Node and graph checkpoints: `int8` runs every linear map of the model
    /// in int8 and compares it with the float model on the test data (any
    /// architecture, the graph transformer included).
    #[arg(long)]
    pub quantize: Option<String>,
    /// With --quantize: time this many forward passes of each.
    #[arg(long, default_value_t = 0)]
    pub time: usize,
}

/// Where datasets live.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Dataset directory (default: $AUTOGLM_DATA, else ../shared/datasets).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    pub fn dir(&self) -> PathBuf {
        autoglm::data::data_dir(self.data_dir.as_deref())
    }
}

/// Settings every training command shares. No flag has a default here: an
/// absent flag leaves the run file's value, then the recipe's.
#[derive(Args, Clone, Debug)]
pub struct JobArgs {
    /// Dataset name (cora, pubmed, karate, MUTAG, PROTEINS, csv:<folder>, ...; default karate).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Model architecture (`autoglm models`; default gcn).
    #[arg(long)]
    pub model: Option<String>,
    /// Number of seeded runs (seeds seed, seed+1, ...; default 1).
    #[arg(long)]
    pub runs: Option<u64>,
    /// First seed (default: the run file's, else 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Training epochs (default: the recipe's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate (default: the recipe's).
    #[arg(long)]
    pub lr: Option<f64>,
    /// A TOML run configuration (sections [run] and [train]; flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the results here as JSON (checked before training).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Task: node, link, graph (default: the run file's, else recognised from the dataset).
    #[arg(long)]
    pub task: Option<String>,
    /// Hidden width (default: the recipe's).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Dropout (default: the recipe's).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Early-stopping patience in epochs (default: off).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Cross-validation folds (graph task).
    #[arg(long)]
    pub folds: Option<usize>,
    /// Neighbour-sampled mini-batches (node task): in-neighbours sampled per
    /// node at each hop, one fanout per layer, -1 for all (PyG's num_neighbors).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_name = "F1,F2")]
    pub fanouts: Option<Vec<i64>>,
    /// Seed nodes per step with --fanouts (default 1024; per rank when
    /// distributed); graphs per step in the graph task.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Data-parallel training, one rank per process of `mpirun -np N` (node
    /// and link tasks; a build with `--features mpi`).
    #[arg(long)]
    pub distributed: bool,
    /// Gradient compression with --distributed: none, topk:R (topk:0.01 sends
    /// 1 %), onebit[:B] (signs and one scale per B entries); error feedback keeps what is not sent.
    #[arg(long, default_value = "none")]
    pub compress: String,
    /// With --distributed: local SGD, parameters averaged every H steps instead of gradients summed every step.
    #[arg(long, value_name = "H")]
    pub sync_every: Option<usize>,
    #[command(flatten)]
    pub out: ModelOutArgs,
}

/// Where a training job writes its model and its resumable state.
#[derive(Args, Clone, Debug)]
pub struct ModelOutArgs {
    /// Save the model (train: of the first run or fold; pretrain: the encoder) here (safetensors, written atomically).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Write a resumable training state here after every epoch (one run).
    #[arg(long)]
    pub save_state: Option<PathBuf>,
    /// Continue the run from a state written by --save-state.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

impl ModelOutArgs {
    fn apply(&self, job: &mut JobSpec) {
        job.checkpoint = self.checkpoint.clone();
        job.save_state = self.save_state.clone();
        job.resume = self.resume.clone();
    }
}

#[derive(Args, Clone, Debug)]
pub struct PretrainArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Objectives joined with '+': mask-feature, mask-edge, generative (weights in the run file's [train.weights]).
    #[arg(long)]
    pub objective: Option<String>,
    /// Share of nodes masked afresh every epoch, in (0, 1) (default 0.15).
    #[arg(long)]
    pub mask_rate: Option<f64>,
    /// Hidden width of the encoder (GAT: per head).
    #[arg(long)]
    pub hidden: Option<usize>,
    #[command(flatten)]
    pub out: ModelOutArgs,
}

#[derive(Args, Clone, Debug)]
pub struct FinetuneArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// The encoder written by `autoglm pretrain --checkpoint`.
    #[arg(long)]
    pub pretrained: PathBuf,
    /// Task: node, link or graph.
    #[arg(long)]
    pub task: Option<String>,
    /// finetune (all weights, layer-wise learning rates), frozen (MLP head), linear-probe,
    /// svm (graph embeddings scored by an SVM), scratch (the same model without the weights).
    #[arg(long)]
    pub mode: Option<String>,
    /// Cross-validation folds (graph task).
    #[arg(long)]
    pub folds: Option<usize>,
    /// Labelled nodes per class (node task: a seeded choice among the split's training nodes).
    #[arg(long)]
    pub labels_per_class: Option<usize>,
}

#[derive(Args, Clone, Debug)]
pub struct PredictArgs {
    /// A model file written by `autoglm train --checkpoint`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The task you expect the checkpoint to be of (default: read from it).
    #[arg(long)]
    pub task: Option<String>,
    /// Dataset to predict on (default: the one it was trained on).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Link task: a CSV file of `src,dst` node pairs to score.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// Graph task: a TU-format dataset folder name of graphs to classify.
    #[arg(long)]
    pub graphs: Option<String>,
    /// Write predictions here as JSON (default: print them).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Arguments of `autoglm export`.
#[derive(Args, Clone, Debug)]
pub struct ExportArgs {
    /// A checkpoint written by `autoglm train --checkpoint` (node or graph task).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The `.agx` file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Weight precision: `int8` (activations calibrated on the training data) or `f32`.
    #[arg(long, default_value = "f32")]
    pub quantize: String,
    /// Time this many forward passes of the checkpoint, the float export and this export (0: none).
    #[arg(long, default_value_t = 0)]
    pub time: usize,
    /// One-shot global magnitude pruning first: this share of the weights set
    /// to 0, without fine-tuning (`autoglm prune` fine-tunes); the zeros are
    /// stored deflated.
    #[arg(long)]
    pub prune: Option<f64>,
    /// Also write the report (sizes, accuracies, timings) here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Arguments of `autoglm prune`.
#[derive(Args, Clone, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Pruning rounds after the dense model.
    #[arg(long, default_value_t = 10)]
    pub rounds: usize,
    /// Share of the remaining weights removed each round.
    #[arg(long, default_value_t = 0.2)]
    pub rate: f64,
    /// `global` (one magnitude threshold over all weight matrices), `per-layer`, or `channels` (whole hidden channels: a narrower GCN).
    #[arg(long, default_value = "global")]
    pub scope: String,
    /// Restart every round from the dense model's initial weights (lottery-ticket rewinding) instead of fine-tuning.
    #[arg(long)]
    pub rewind: bool,
    /// Save the last round's model of the first seed here (a node checkpoint, ready for `autoglm export`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
}

/// Arguments of `autoglm robustness`.
#[derive(Args, Clone, Debug)]
pub struct RobustnessArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Noise: `add` (inject random non-edges into the training graph) or `drop` (remove training edges).
    #[arg(long, default_value = "add")]
    pub noise: String,
    /// Noise levels, fractions of the training edges (0 is always included).
    #[arg(long, value_delimiter = ',', default_value = "0,0.05,0.1,0.2")]
    pub levels: Vec<f64>,
}

fn main() {
    if let Err(e) = run() {
        // Each cause once, in order (anyhow's chain repeats a cause that is also displayed inline).
        let mut shown: Vec<String> = vec![e.to_string()];
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            let c = cause.to_string();
            if shown.iter().any(|s| s.contains(&c)) {
                continue;
            }
            eprintln!("  caused by: {c}");
            shown.push(c);
        }
        autoglm::checkpoint::remove_temporary_files();
        std::process::exit(if e.downcast_ref::<autoglm::Error>().is_some_and(|e| matches!(e, autoglm::Error::Interrupted { .. })) { 130 } else { 1 });
    }
}

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Set by Ctrl-C / SIGTERM: training stops after the current epoch.
static STOP: AtomicBool = AtomicBool::new(false);

fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            // a second interrupt: give up at once, leaving no temporary files
            autoglm::checkpoint::remove_temporary_files();
            eprintln!("\ninterrupted again: stopping now");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing the current epoch (press Ctrl-C again to stop at once)");
    });
}

fn job_spec(j: &JobArgs) -> Result<JobSpec> {
    let run_file = RunFile::load(j.config.as_deref())?;
    Ok(JobSpec {
        dataset: j.dataset.clone(),
        data_dir: j.data.data_dir.clone(),
        model: j.model.clone(),
        runs: j.runs,
        seed: j.seed,
        overrides: Overrides { epochs: j.epochs, lr: j.lr, ..Overrides::default() },
        run_file,
        out: j.out.clone(),
        ..JobSpec::default()
    })
}

/// Run a job with progress bars and the interrupt handler; print the report, write its JSON.
fn run_job(job: &JobSpec, quiet: bool, models: &autoglm::models::registry::ModelRegistry) -> Result<()> {
    run_job_as(job, quiet, models, None)
}

/// [`run_job`] as one rank of a data-parallel job: only rank 0 prints and writes.
fn run_job_as(job: &JobSpec, quiet: bool, models: &autoglm::models::registry::ModelRegistry, dist: Option<autoglm::run::Distributed<'_>>) -> Result<()> {
    install_interrupt_handler();
    // ranks other than 0 stay silent: rank 0 speaks for the run (errors still surface on every rank)
    let (mut bars, mut silent) = (output::Bars::new(quiet), autoglm::run::Silent);
    let progress: &mut dyn autoglm::run::Progress = if dist.is_some_and(|d| !d.writes()) { &mut silent } else { &mut bars };
    let mut env = RunEnv { stop: Some(&STOP), dist, ..RunEnv::new(progress, models) };
    let report = autoglm::run::execute_with(job, &mut env).map_err(|e| interrupted_hint(e, job))?;
    if dist.is_some_and(|d| !d.writes()) {
        return Ok(());
    }
    output::print_report(&report);
    if let Some(out) = &job.out {
        output::write_json(out, &report.json)?;
    }
    Ok(())
}

fn run() -> Result<()> {
    // Keep freed pages instead of returning them to the OS after 10 ms: epochs
    // re-allocate the same buffers, and re-faulting zeroed pages cost a quarter
    // of a synthetic-graph epoch.
    // SAFETY: setting an option is thread-safe and has no preconditions.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // candle 0.11 runs element-wise ops on tensors of 64k+ elements in its own pool
    // of spinning threads, which fights our rayon kernels for the cores (a PROTEINS
    // GIN epoch: 5.8 s with it, 0.55 s without). Keep candle's element-wise ops on
    // the calling thread unless the user says otherwise; graph kernels and matrix
    // products still use rayon.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    // The CLI runs one job on every core.
    autoglm::run::ThreadPolicy::exclusive().apply();
    let cli = Cli::parse();
    if let Some(b) = cli.max_memory {
        autoglm::data::limits::set_max_memory(b);
    }
    let models = autoglm::models::registry::ModelRegistry::builtin();
    match cli.command {
        Command::Datasets { data } => output::list_datasets(&data.dir()),
        Command::Models => output::list_models(&models),
        Command::Train(args) => {
            let mut job = job_spec(&args.job)?;
            job.task = args.task.clone();
            job.overrides = Overrides {
                hidden: args.hidden,
                dropout: args.dropout,
                patience: args.patience,
                folds: args.folds,
                fanouts: args.fanouts.clone(),
                batch_size: args.batch_size,
                ..job.overrides
            };
            args.out.apply(&mut job);
            if args.distributed {
                let (c, mode) = distributed::settings(&args.compress, args.sync_every)?;
                return distributed::run(&job, args.job.quiet, &models, c, mode);
            }
            if args.compress != "none" || args.sync_every.is_some() {
                anyhow::bail!("--compress and --sync-every set how ranks exchange; they need --distributed");
            }
            run_job(&job, args.job.quiet, &models)
        }
        Command::Pretrain(args) => {
            let mut job = job_spec(&args.job)?;
            job.task = Some("pretrain".into());
            job.overrides.hidden = args.hidden;
            job.pretrain = autoglm::run::PretrainFlags { objective: args.objective.clone(), mask_rate: args.mask_rate };
            args.out.apply(&mut job);
            run_job(&job, args.job.quiet, &models)
        }
        Command::Finetune(args) => {
            let mut job = job_spec(&args.job)?;
            job.task = args.task.clone();
            job.overrides.folds = args.folds;
            job.finetune =
                Some(autoglm::run::FinetuneFlags { pretrained: args.pretrained.clone(), mode: args.mode.clone(), labels_per_class: args.labels_per_class });
            run_job(&job, args.job.quiet, &models)
        }
        Command::Predict(args) => {
            let spec = PredictSpec {
                checkpoint: args.checkpoint.clone(),
                task: args.task.clone(),
                dataset: args.dataset.clone(),
                data_dir: args.data.data_dir.clone(),
                pairs: args.pairs.clone(),
                graphs: args.graphs.clone(),
            };
            if let Some(out) = &args.out {
                autoglm::checkpoint::check_writable(out, "out")?;
            }
            let mut progress = output::Bars::new(true);
            let out = autoglm::run::predict_with(&spec, &mut RunEnv::new(&mut progress, &models))?;
            match &args.out {
                Some(p) => output::write_json(p, &out)?,
                None => println!("{}", serde_json::to_string(&out)?),
            }
            Ok(())
        }
        Command::Serve(args) => serve::serve(&args),
        Command::Worker(args) => serve::worker(&args),
        Command::Export(args) => {
            let spec = autoglm::run::export::ExportSpec {
                checkpoint: args.checkpoint.clone(),
                out: args.out.clone(),
                quantize: args.quantize.parse()?,
                data_dir: args.data.data_dir.clone(),
                time_repeats: args.time,
                prune: args.prune,
            };
            if let Some(p) = &args.json {
                autoglm::checkpoint::check_writable(p, "json")?;
            }
            let mut progress = output::Bars::new(true);
            let out = autoglm::run::export::export(&spec, &mut RunEnv::new(&mut progress, &models))?;
            if let Some(p) = &args.json {
                output::write_json(p, &out)?;
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Prune(args) => {
            install_interrupt_handler();
            let mut job = job_spec(&args.job)?;
            job.task = Some("node".into());
            job.checkpoint = args.checkpoint.clone();
            if let Some(p) = &job.checkpoint {
                autoglm::checkpoint::check_writable(p, "checkpoint")?;
            }
            let spec = autoglm::run::prune::PruneSpec { job, rounds: args.rounds, rate: args.rate, scope: args.scope.parse()?, rewind: args.rewind };
            let mut progress = output::Bars::new(args.job.quiet);
            let mut env = RunEnv { stop: Some(&STOP), ..RunEnv::new(&mut progress, &models) };
            let report = autoglm::run::prune::prune(&spec, &mut env)?;
            output::print_report(&report);
            if let Some(out) = &spec.job.out {
                output::write_json(out, &report.json)?;
            }
            Ok(())
        }
        Command::Robustness(args) => {
            let mut job = job_spec(&args.job)?;
            if job.dataset.is_none() && job.run_file.run.dataset.is_none() {
                job.dataset = Some("cora".into());
            }
            if job.model.is_none() && job.run_file.run.model.is_none() {
                job.model = Some("gae".into());
            }
            job.task = Some("link".into());
            let spec = RobustnessSpec { job, noise: args.noise.clone(), levels: args.levels.clone() };
            let mut progress = output::Bars::new(args.job.quiet);
            let report = autoglm::run::run_robustness(&spec, &mut RunEnv::new(&mut progress, &models))?;
            output::print_report(&report);
            if let Some(out) = &spec.job.out {
                output::write_json(out, &report.json)?;
            }
            Ok(())
        }
        Command::Bench(args) => bench::run(&args).context("autoglm bench"),
        Command::Auto(args) => {
            install_interrupt_handler();
            let spec = autoglm::run::auto::AutoSpec {
                dataset: args.dataset.clone(),
                data_dir: args.data.data_dir.clone(),
                task: args.task.clone(),
                budget_s: args.budget,
                trials: args.trials,
                seed: args.seed,
                strategy: args.strategy.parse()?,
                out: args.out.clone(),
                jobs: args.jobs,
                models: args.models.clone(),
                store: args.store.clone(),
                no_store: args.no_store,
                warm_start: args.warm_start,
                resume: args.resume,
                final_runs: args.final_runs,
                outer_folds: args.outer_folds,
                max_epochs: args.max_epochs,
                bracket: args.bracket,
                no_final: args.no_final,
                ..Default::default()
            };
            let mut progress = output::Bars::new(args.quiet);
            let mut env = RunEnv { stop: Some(&STOP), ..RunEnv::new(&mut progress, &models) };
            let report = autoglm::run::auto::auto_with(&spec, &mut env)?;
            output::print_report(&report);
            eprintln!("wrote {}/summary.json, trials.json, best.toml (autoglm train --config reproduces it)", args.out.display());
            Ok(())
        }
        Command::Compare(args) => {
            install_interrupt_handler();
            let spec = autoglm::run::compare::CompareSpec {
                models: args.models.clone(),
                datasets: args.datasets.clone(),
                seeds: args.seeds,
                task: args.task.clone(),
                data_dir: args.data.data_dir.clone(),
                out: args.out.clone(),
                epochs: args.epochs,
                ..Default::default()
            };
            let mut progress = output::Bars::new(args.quiet);
            let mut env = RunEnv { stop: Some(&STOP), ..RunEnv::new(&mut progress, &models) };
            let report = autoglm::run::compare::compare(&spec, &mut env, Some(&GLOBAL))?;
            output::print_report(&report);
            Ok(())
        }
        Command::Plot(args) => charts::plot_json(&args.json, args.out.as_deref()),
        Command::Generate(args) => {
            if let Some(out) = &args.out {
                autoglm::checkpoint::check_writable(out, "out")?;
            }
            let mut progress = output::Bars::new(args.sample.quiet);
            let g = autoglm::run::generate(&args.sample.spec(args.num), &mut RunEnv::new(&mut progress, &models))?;
            let mut text = String::new();
            for l in &g.lines {
                text.push_str(&serde_json::to_string(l)?);
                text.push('\n');
            }
            match &args.out {
                Some(p) => {
                    autoglm::checkpoint::write_atomic(p, text.as_bytes())?;
                    eprintln!(
                        "wrote {} samples to {} ({:.1} samples/s{})",
                        g.lines.len(),
                        p.display(),
                        g.stats.num as f64 / g.stats.seconds.max(1e-9),
                        if g.stats.truncated > 0 { format!(", {} stopped at --max-nodes", g.stats.truncated) } else { String::new() }
                    );
                }
                None => print!("{text}"),
            }
            if let Some(p) = &args.sample.plot {
                draw(p, &args.sample, &g)?;
            }
            Ok(())
        }
        Command::Eval(args) => {
            let task = autoglm::run::task_by_name(&args.task)?;
            if let Some(q) = &args.quantize {
                if q.parse::<autoglm::run::export::Precision>()? != autoglm::run::export::Precision::Int8 || !matches!(task.name(), "node" | "graph") {
                    anyhow::bail!("--quantize int8 checks node and graph checkpoints (--task node or --task graph)");
                }
                if let Some(out) = &args.out {
                    autoglm::checkpoint::check_writable(out, "out")?;
                }
                let spec = autoglm::run::export::Int8CheckSpec {
                    checkpoint: args.sample.checkpoint.clone(),
                    data_dir: args.sample.data.data_dir.clone(),
                    time_repeats: args.time,
                };
                let mut progress = output::Bars::new(args.sample.quiet);
                let out = autoglm::run::export::int8_check(&spec, &mut RunEnv::new(&mut progress, &models))?;
                if let Some(p) = &args.out {
                    output::write_json(p, &out)?;
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            if task.name() != "generate" {
                anyhow::bail!("`autoglm eval` scores generator checkpoints (--task generate), or checks a node or graph checkpoint in int8 (--quantize int8); a {} model is evaluated by `autoglm train` (test metrics) or `autoglm predict`", task.name());
            }
            if let Some(out) = &args.out {
                autoglm::checkpoint::check_writable(out, "out")?;
            }
            let mut progress = output::Bars::new(args.sample.quiet);
            let data_dir = args.sample.data.data_dir.clone();
            let mut spec = args.sample.spec(args.num.unwrap_or(0));
            spec.ordering = args.ordering.as_deref().map(str::parse).transpose()?;
            let report = autoglm::run::evaluate_generator(&spec, data_dir.as_deref(), &mut RunEnv::new(&mut progress, &models))?;
            output::print_report(&report);
            if let Some(out) = &args.out {
                output::write_json(out, &report.json)?;
            }
            if let Some(p) = &args.sample.plot {
                // the first samples of the scored set (sample i depends on the seed and i only)
                let g = autoglm::run::generate(&args.sample.spec(6), &mut RunEnv::new(&mut output::Bars::new(true), &models))?;
                draw(p, &args.sample, &g)?;
            }
            Ok(())
        }
    }
}

/// The interruption error, with the command that resumes.
fn interrupted_hint(e: autoglm::Error, job: &JobSpec) -> anyhow::Error {
    if let (autoglm::Error::Interrupted { state: Some(p), .. }, true) = (&e, job.save_state.is_some()) {
        let hint = format!("to continue: rerun the same command with --resume {} (keep --save-state to go on saving)", p.display());
        return anyhow::Error::new(e).context(hint);
    }
    e.into()
}

/// Six training graphs above six samples, as SVG and PNG.
fn draw(path: &std::path::Path, args: &SampleArgs, g: &autoglm::run::Generated) -> Result<()> {
    let data = autoglm::tasks::generate::load_generation_data(&args.data.dir(), &g.dataset, &g.train_config)?;
    let k = 6;
    let train: Vec<_> = data.train.iter().take(k).cloned().collect();
    let gen: Vec<_> = g.samples.iter().take(k).cloned().collect();
    let names: Option<Vec<String>> = g.molecular.then(|| {
        let v = autoglm::chem::AtomVocab::standard();
        (0..v.num_atom_types()).map(|t| v.type_name(t)).collect()
    });
    let title = format!("{}: generated (seed {}) vs training graphs", g.dataset, args.seed);
    let svg = plot::rows_svg(&[("training graphs", &train), ("generated", &gen)], names.as_deref(), &title);
    let (s, p) = plot::write_svg_png(&svg, path)?;
    eprintln!("drew {} and {}", s.display(), p.display());
    Ok(())
}
