//! `autoglm`: the command-line tool. Glue only: argument parsing, progress bars,
//! tables and JSON files over the `autoglm` library; no model logic lives here.

mod bench;
mod graph;
mod link;
mod node;
mod report;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// mimalloc keeps freed pages for reuse: training allocates and frees the same
/// large activation buffers every epoch, which glibc returns to the OS and
/// faults back in each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "autoglm", version, about = "Graph learning in Rust: train, evaluate and benchmark GNNs on real datasets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the datasets found in the data directory (and the built-in ones).
    Datasets {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Train a model on a dataset and report test metrics over one or more seeds.
    Train(TrainArgs),
    /// Predict with a saved checkpoint.
    Predict(PredictArgs),
    /// Link prediction under edge noise: inject or drop training edges, retrain, compare metrics.
    Robustness(link::RobustnessArgs),
    /// Time training epochs against the figures of PyTorch Geometric.
    Bench(bench::BenchArgs),
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

/// The learning task.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Node classification (one graph with node labels).
    Node,
    /// Link prediction (held-out edges).
    Link,
    /// Graph classification (many labelled graphs).
    Graph,
}

#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Dataset name (cora, pubmed, karate, MUTAG, PROTEINS, csv:<folder>, ...).
    #[arg(long, default_value = "karate")]
    pub dataset: String,
    /// Model: gcn, gat, sage, gin (link task also: gae, vgae).
    #[arg(long, default_value = "gcn")]
    pub model: String,
    /// Task (default: recognised from the dataset).
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Number of seeded runs (seeds seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training epochs (default: the recipe's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate (default: the recipe's).
    #[arg(long)]
    pub lr: Option<f64>,
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
    /// A TOML run configuration (sections [run] and [train]; flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write per-run and summary results here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Save the model of the first run here (safetensors, written atomically).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args, Clone, Debug)]
pub struct PredictArgs {
    /// A checkpoint written by `autoglm train --checkpoint`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Task of the checkpoint (default: read from it).
    #[arg(long, value_enum)]
    pub task: Option<Task>,
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

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

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
    let cli = Cli::parse();
    match cli.command {
        Command::Datasets { data } => report::list_datasets(&data.dir()),
        Command::Train(args) => {
            let cfg = report::RunFile::load(args.config.as_deref())?;
            let task = args.task.or(cfg.task()?).unwrap_or_else(|| guess_task(&args.dataset, &args.data.dir()));
            match task {
                Task::Node => node::train(&args, &cfg),
                Task::Link => link::train(&args, &cfg),
                Task::Graph => graph::train(&args, &cfg),
            }
        }
        Command::Predict(args) => {
            let ck = autoglm::checkpoint::load(&args.checkpoint)?;
            let task = match args.task {
                Some(t) => t,
                None => match ck.config["task"].as_str() {
                    Some("link") => Task::Link,
                    Some("graph") => Task::Graph,
                    Some("node") => Task::Node,
                    other => anyhow::bail!("checkpoint {} does not say its task ({other:?}); pass --task", args.checkpoint.display()),
                },
            };
            match task {
                Task::Node => node::predict(&args, &ck),
                Task::Link => link::predict(&args, &ck),
                Task::Graph => graph::predict(&args, &ck),
            }
        }
        Command::Robustness(args) => link::robustness(&args),
        Command::Bench(args) => bench::run(&args),
    }
}

/// The router's first rule: many graphs with graph labels → graph task; else node task.
fn guess_task(dataset: &str, dir: &std::path::Path) -> Task {
    let tu = dir.join(dataset).join(format!("{dataset}_A.txt"));
    if tu.exists() {
        Task::Graph
    } else {
        Task::Node
    }
}
