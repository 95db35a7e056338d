//! `autoglm serve` and `autoglm worker`: flags to the server crate's configurations.

use anyhow::{anyhow, Result};
use autoglm_server::jobs::{QueueConfig, WorkerConfig};
use autoglm_server::ServerConfig;
use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The broker flags `serve` and `worker` share.
#[derive(Args, Clone, Debug)]
pub struct QueueArgs {
    /// AMQP URL of the RabbitMQ broker, `amqp://USER:PASSWORD@HOST:5672/%2f` (default: $AUTOGLM_AMQP_URL).
    #[arg(long)]
    pub amqp: Option<String>,
    /// Queue name prefix.
    #[arg(long, default_value = "autoglm")]
    pub queue_prefix: String,
    /// Deliveries of a job before it goes to the dead-letter queue.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// Folder that model and output paths in jobs are relative to.
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
}

impl QueueArgs {
    fn url(&self) -> Option<String> {
        self.amqp.clone().or_else(|| std::env::var("AUTOGLM_AMQP_URL").ok())
    }
    fn config(&self, url: String, db: PathBuf, data_dir: PathBuf) -> QueueConfig {
        QueueConfig { amqp_url: url, prefix: self.queue_prefix.clone(), max_attempts: self.max_attempts, db, data_dir, models_dir: self.models_dir.clone() }
    }
}

/// Arguments of `autoglm serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// The model file: a checkpoint (`.safetensors`) or an export (`.agx`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Node and link models: the graph to answer over (default: the training one).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Address to bind; anything but loopback requires bearer tokens.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Bearer tokens, one per line (also: $AUTOGLM_TOKENS, comma-separated).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// HTTPS: certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// HTTPS: private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    pub max_body: usize,
    /// Longest a request may take, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Requests one client address may have in flight.
    #[arg(long, default_value_t = 256)]
    pub per_client: usize,
    /// Most graphs joined into one forward pass (also the most graphs per request).
    #[arg(long, default_value_t = 512)]
    pub max_batch: usize,
    /// How long the batcher waits for more requests, in milliseconds.
    #[arg(long, default_value_t = 2.0)]
    pub batch_wait_ms: f64,
    /// Graphs one /v1/generate request may ask for.
    #[arg(long, default_value_t = 64)]
    pub max_generate: usize,
    /// The job store (SQLite); with --amqp (or $AUTOGLM_AMQP_URL) it turns /jobs on.
    #[arg(long)]
    pub jobs_db: Option<PathBuf>,
    #[command(flatten)]
    pub queue: QueueArgs,
    #[command(flatten)]
    pub data: crate::DataArgs,
}

/// Arguments of `autoglm worker`.
#[derive(Args, Clone, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Name shown in job records (default HOST-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop a job after this many seconds and report it failed (keep it under RabbitMQ's consumer_timeout, 30 minutes by default).
    #[arg(long, default_value_t = 1500)]
    pub max_job_seconds: u64,
    /// Exit after this many jobs.
    #[arg(long)]
    pub max_jobs: Option<u64>,
    #[command(flatten)]
    pub data: crate::DataArgs,
}

fn secs(v: f64, flag: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(v).ok().filter(|d| !d.is_zero()).ok_or_else(|| anyhow!("{flag} {v}: give a positive number"))
}

pub fn serve(args: &ServeArgs) -> Result<()> {
    let data_dir = args.data.data_dir.clone();
    let mut c = ServerConfig::new(&args.checkpoint);
    c.dataset = args.dataset.clone();
    c.data_dir = data_dir.clone();
    c.bind = args.bind;
    c.port = args.port;
    c.tokens = autoglm_server::read_tokens(args.token_file.as_deref(), std::env::var("AUTOGLM_TOKENS").ok().as_deref()).map_err(|e| anyhow!(e))?;
    c.tls = args.tls_cert.clone().zip(args.tls_key.clone());
    c.max_body_bytes = args.max_body;
    c.timeout = secs(args.timeout, "--timeout")?;
    c.per_client_concurrency = args.per_client;
    c.max_batch_graphs = args.max_batch;
    c.batch_wait = Duration::try_from_secs_f64(args.batch_wait_ms / 1e3).map_err(|_| anyhow!("--batch-wait-ms {}: give a number >= 0", args.batch_wait_ms))?;
    c.max_generate = args.max_generate;
    c.jobs = match (args.queue.url(), &args.jobs_db) {
        (Some(url), Some(db)) => Some(args.queue.config(url, db.clone(), autoglm::data::data_dir(data_dir.as_deref()))),
        (None, None) => None,
        (Some(_), None) => return Err(anyhow!("the job queue needs a store: add --jobs-db FILE (SQLite)")),
        (None, Some(_)) => return Err(anyhow!("--jobs-db needs a broker: add --amqp URL (or set AUTOGLM_AMQP_URL)")),
    };
    autoglm_server::serve(c).map_err(|e| anyhow!(e))
}

pub fn worker(args: &WorkerArgs) -> Result<()> {
    let data_dir = args.data.data_dir.clone();
    let url = args.queue.url().ok_or_else(|| anyhow!("the worker needs a broker: pass --amqp URL (or set AUTOGLM_AMQP_URL)"))?;
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    let queue = args.queue.config(url, PathBuf::new(), autoglm::data::data_dir(data_dir.as_deref()));
    let cfg = WorkerConfig { queue, name, max_job_seconds: args.max_job_seconds, max_jobs: args.max_jobs };
    autoglm_server::jobs::run_worker(cfg).map_err(|e| anyhow!(e))
}
