//! Open-AutoGLM's server and job queue: `autoglm serve` and `autoglm worker`.
//!
//! The library (`autoglm`) stays synchronous and free of HTTP; this crate puts
//! axum on tokio around its run boundary:
//! - [`api`]: the HTTP endpoints (`/v1/predict/{node,link,graph}`,
//!   `/v1/generate`, `/v1/model`, `/healthz`, `/readyz`, `/metrics`,
//!   `/openapi.json`, `/jobs`), JSON errors, limits, timeouts;
//! - [`batch`]: dynamic batching of concurrent posted-graph requests into one
//!   forward pass;
//! - [`auth`]: bearer tokens, compared in constant time;
//! - [`metrics`]: Prometheus counters and histograms;
//! - [`jobs`]: long work through RabbitMQ (AMQP 0-9-1, `lapin`), job state
//!   and results in SQLite (`rusqlite`), and the worker loop.
//!
//! Every request either gets its answer or a JSON error with a 4xx status
//! naming the problem (5xx only for the server's own faults: a broker that
//! went away, a timeout); nothing a client sends stops the server.

pub mod api;
pub mod auth;
pub mod batch;
pub mod jobs;
pub mod metrics;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How `autoglm serve` runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The model file (`.safetensors` checkpoint or `.agx` export).
    pub checkpoint: PathBuf,
    /// Node / link models: the graph answered over (default: the training one).
    pub dataset: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Address to bind (default 127.0.0.1: loopback only).
    pub bind: IpAddr,
    pub port: u16,
    /// Accepted bearer tokens. Required for `/jobs`, and for every endpoint
    /// when `bind` is not a loopback address.
    pub tokens: Vec<String>,
    /// HTTPS: certificate chain and private key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest request body in bytes (default 4 MiB).
    pub max_body_bytes: usize,
    /// Longest a request may take (default 30 s).
    pub timeout: Duration,
    /// Requests one client address may have in flight (default 256).
    pub per_client_concurrency: usize,
    /// Graphs joined into one forward pass at most (default 512).
    pub max_batch_graphs: usize,
    /// How long the batcher waits for more requests once one arrived (default 2 ms).
    pub batch_wait: Duration,
    /// Requests waiting for the batcher at most before new ones get 503 (default 4096).
    pub queue_capacity: usize,
    /// Graphs one `/v1/generate` request may ask for (default 64).
    pub max_generate: usize,
    /// The job queue (`None`: `/jobs` answers 503 saying how to enable it).
    pub jobs: Option<jobs::QueueConfig>,
}

impl ServerConfig {
    /// Defaults for `checkpoint`.
    pub fn new(checkpoint: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            checkpoint: checkpoint.into(),
            dataset: None,
            data_dir: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            tokens: Vec::new(),
            tls: None,
            max_body_bytes: 4 << 20,
            timeout: Duration::from_secs(30),
            per_client_concurrency: 256,
            max_batch_graphs: 512,
            batch_wait: Duration::from_millis(2),
            queue_capacity: 4096,
            max_generate: 64,
            jobs: None,
        }
    }

    /// Whether every endpoint needs a token (bound beyond loopback).
    pub fn auth_everywhere(&self) -> bool {
        !self.bind.is_loopback()
    }

    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// Refuse settings that would be insecure or cannot work, with the fix.
    ///
    /// # Errors
    /// A message naming the setting and what to do.
    pub fn validate(&self) -> Result<(), String> {
        if self.auth_everywhere() && self.tokens.is_empty() {
            return Err(format!(
                "--bind {} exposes the server beyond this machine: give bearer tokens with --token-file FILE or AUTOGLM_TOKENS (or bind 127.0.0.1)",
                self.bind
            ));
        }
        if self.jobs.is_some() && self.tokens.is_empty() {
            return Err("the job queue (--amqp) accepts work only from token holders: give bearer tokens with --token-file FILE or AUTOGLM_TOKENS".into());
        }
        if let Some(q) = &self.jobs {
            q.validate(self.auth_everywhere())?;
        }
        if self.max_body_bytes == 0 || self.max_batch_graphs == 0 || self.per_client_concurrency == 0 || self.queue_capacity == 0 {
            return Err("--max-body, --max-batch, --per-client and the queue capacity must be at least 1".into());
        }
        Ok(())
    }
}

/// Tokens from a file (one per line; blank lines and `#` comments skipped)
/// and from a comma-separated environment variable.
///
/// # Errors
/// The file cannot be read, or it holds no token.
pub fn read_tokens(file: Option<&std::path::Path>, env_value: Option<&str>) -> Result<Vec<String>, String> {
    let mut tokens: Vec<String> = env_value.into_iter().flat_map(|v| v.split(',')).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("--token-file {}: {e}", f.display()))?;
        let from_file: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
        if from_file.is_empty() {
            return Err(format!("--token-file {} holds no token (one per line)", f.display()));
        }
        tokens.extend(from_file);
    }
    if let Some(short) = tokens.iter().find(|t| t.len() < 16) {
        return Err(format!("a bearer token of {} characters is too easy to guess: use at least 16 (for example `openssl rand -hex 32`)", short.len()));
    }
    Ok(tokens)
}

/// Run the server until SIGTERM or Ctrl-C (in-flight requests finish first).
///
/// # Errors
/// A message for the user: a bad setting, a model that does not load, an
/// address in use, a certificate that does not load, a broker not reachable.
pub fn serve(config: ServerConfig) -> Result<(), String> {
    config.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(api::run(config))
}

/// Resolves when the process receives SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
