//! Long work through a message broker: `POST /jobs` records a job in SQLite
//! and publishes it to RabbitMQ; `autoglm worker` processes consume jobs, run
//! them through the library's run boundary and publish their results; the
//! server consumes the results into SQLite, where `GET /jobs/{id}` reads them.
//!
//! Queues (names under a configurable prefix, default `autoglm`):
//! - `PREFIX.jobs`: a quorum queue (replicated, durable) with
//!   `x-delivery-limit = max_attempts - 1` and a dead-letter route to
//!   `PREFIX.jobs.dead`: a job delivered more often than that (its worker died,
//!   or it failed with an error worth retrying) is dead-lettered;
//! - `PREFIX.jobs.dead`: dead-lettered jobs; the server marks them `dead`;
//! - `PREFIX.results`: workers' events (`started`, `done`, `failed`,
//!   `attempt_failed`).
//!
//! Delivery is at least once: a worker acknowledges a job only after the
//! broker confirmed its result; a worker killed mid-job leaves the job
//! unacknowledged, and the broker hands it to another worker. Job ids make
//! the redelivery idempotent: the store takes a job's first `done` and counts
//! any later ones as duplicates, never as a second completion.
//!
//! RabbitMQ closes a channel whose delivery stays unacknowledged longer than
//! its `consumer_timeout` (30 minutes by default since 3.8.15). A worker
//! stops a job at `max_job_seconds` (default 25 minutes, under the broker's
//! default) and reports it failed; for longer training raise both together,
//! `consumer_timeout` in `rabbitmq.conf` first (see the README's serving
//! section). A training job that names a `save_state` file and is delivered
//! again after its worker died continues from that state (the worker sets
//! `resume`; the result says `resumed_from`).
//!
//! Paths in posted jobs are relative: data paths to the data folder, model
//! and output paths to the models folder, each configured on the server and
//! on every worker; absolute paths and `..` are refused, so a job cannot read
//! or write elsewhere.

use autoglm::run::auto::AutoSpec;
use autoglm::run::{GenerateSpec, JobSpec, PredictSpec};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The job kinds, each a door into the run boundary.
pub const KINDS: &[&str] = &["train", "pretrain", "score", "generate", "auto"];

/// The broker and queue settings shared by the server and the workers.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `amqp://user:password@host:5672/vhost` (`%2f` for the default vhost).
    pub amqp_url: String,
    /// Queue name prefix (default `autoglm`).
    pub prefix: String,
    /// Deliveries of a job before it is dead-lettered (default 3).
    pub max_attempts: u32,
    /// The server's job store (SQLite file; unused by workers).
    pub db: PathBuf,
    /// Folder posted data paths are relative to.
    pub data_dir: PathBuf,
    /// Folder posted model and output paths are relative to.
    pub models_dir: PathBuf,
}

impl QueueConfig {
    pub fn jobs_queue(&self) -> String {
        format!("{}.jobs", self.prefix)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}.jobs.dead", self.prefix)
    }
    pub fn results_queue(&self) -> String {
        format!("{}.results", self.prefix)
    }

    /// Refuse RabbitMQ's `guest` account beyond loopback (the broker refuses it too) and bad settings.
    ///
    /// # Errors
    /// A message naming the setting.
    pub fn validate(&self, beyond_loopback: bool) -> Result<(), String> {
        let uri: lapin::uri::AMQPUri = self.amqp_url.parse().map_err(|e| format!("--amqp {}: not an AMQP URL ({e})", redact(&self.amqp_url)))?;
        let host = uri.authority.host.as_str();
        let loopback_broker = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback());
        if uri.authority.userinfo.username == "guest" && (!loopback_broker || beyond_loopback) {
            return Err(
                "--amqp uses RabbitMQ's default `guest` account beyond loopback: create a user for Open-AutoGLM (`rabbitmqctl add_user`) and pass its credentials in the URL, from AUTOGLM_AMQP_URL".into(),
            );
        }
        if self.max_attempts == 0 {
            return Err("--max-attempts must be at least 1".into());
        }
        Ok(())
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            let user = cred.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// A job as posted (`POST /jobs`) and as it travels on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Client-chosen id (letters, digits, `-`, `_`; at most 64): posting the
    /// same id again returns the existing job instead of running it twice.
    #[serde(default)]
    pub id: Option<String>,
    /// One of [`KINDS`].
    pub kind: String,
    /// The run boundary's spec for the kind: `JobSpec` (train, pretrain),
    /// `PredictSpec` (score), `GenerateSpec` (generate), `AutoSpec` (auto).
    #[serde(default)]
    pub spec: Value,
}

/// A job's spec, parsed and confined.
#[derive(Debug, Clone)]
pub enum Work {
    Train(Box<JobSpec>),
    Score(PredictSpec),
    Generate(GenerateSpec),
    Auto(Box<AutoSpec>),
}

/// Check a job id.
///
/// # Errors
/// A message saying what ids may hold.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("job id {id:?}: use 1 to 64 letters, digits, '-' or '_'"));
    }
    Ok(())
}

/// A fresh job id (time, process and a counter, hashed).
pub fn new_id() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let d = Sha256::digest(format!("{t}-{}-{n}", std::process::id()));
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// `rel` joined to `root`, if it stays inside.
fn confined(root: &Path, rel: &Path, what: &str) -> Result<PathBuf, String> {
    if rel.as_os_str().is_empty() {
        return Err(format!("{what}: an empty path"));
    }
    for c in rel.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => {
                return Err(format!(
                    "{what} = {}: paths in jobs are relative to the configured {} folder, without `..` or a leading `/`",
                    rel.display(),
                    if what.contains("data") { "data" } else { "models" }
                ))
            }
        }
    }
    Ok(root.join(rel))
}

fn confine_opt(root: &Path, p: &mut Option<PathBuf>, what: &str) -> Result<(), String> {
    if let Some(v) = p {
        *v = confined(root, v, what)?;
    }
    Ok(())
}

impl Work {
    /// Parse a request's spec for its kind and confine every path in it:
    /// data paths under `data_dir` (the data folder is always the configured
    /// one), model and output paths under `models_dir`.
    ///
    /// # Errors
    /// An unknown kind, a spec that does not parse (serde's message names the
    /// field), a path outside the folders.
    pub fn parse(req: &JobRequest, data_dir: &Path, models_dir: &Path) -> Result<Work, String> {
        let spec = if req.spec.is_null() { json!({}) } else { req.spec.clone() };
        let bad = |e: serde_json::Error| format!("spec of a {} job: {e}", req.kind);
        let data = |p: &Option<PathBuf>| -> Result<Option<PathBuf>, String> {
            match p {
                Some(p) => confined(data_dir, p, "data_dir").map(Some),
                None => Ok(Some(data_dir.to_path_buf())),
            }
        };
        Ok(match req.kind.as_str() {
            "train" | "pretrain" => {
                let mut j: JobSpec = serde_json::from_value(spec).map_err(bad)?;
                if req.kind == "pretrain" {
                    j.task = Some("pretrain".into());
                }
                j.data_dir = data(&j.data_dir)?;
                confine_opt(models_dir, &mut j.checkpoint, "checkpoint")?;
                confine_opt(models_dir, &mut j.save_state, "save_state")?;
                confine_opt(models_dir, &mut j.resume, "resume")?;
                confine_opt(models_dir, &mut j.out, "out")?;
                if let Some(f) = &mut j.finetune {
                    f.pretrained = confined(models_dir, &f.pretrained, "finetune.pretrained")?;
                }
                Work::Train(Box::new(j))
            }
            "score" => {
                let mut p: PredictSpec = serde_json::from_value(spec).map_err(bad)?;
                p.checkpoint = confined(models_dir, &p.checkpoint, "checkpoint")?;
                p.data_dir = data(&p.data_dir)?;
                confine_opt(data_dir, &mut p.pairs, "pairs (data)")?;
                Work::Score(p)
            }
            "generate" => {
                let mut g: GenerateSpec = serde_json::from_value(spec).map_err(bad)?;
                g.checkpoint = confined(models_dir, &g.checkpoint, "checkpoint")?;
                Work::Generate(g)
            }
            "auto" => {
                let mut a: AutoSpec = serde_json::from_value(spec).map_err(bad)?;
                a.data_dir = data(&a.data_dir)?;
                a.out = confined(models_dir, &a.out, "out")?;
                confine_opt(models_dir, &mut a.store, "store")?;
                Work::Auto(Box::new(a))
            }
            other => return Err(format!("unknown job kind {other:?}; known: {}", KINDS.join(", "))),
        })
    }

    /// A redelivered training job (its worker died) continues from its
    /// training state when the spec asks for one (`save_state`) and the
    /// file is there: `resume` is set to it. Returns the state file used.
    pub fn resume_from_saved_state(&mut self) -> Option<PathBuf> {
        let Work::Train(j) = self else { return None };
        match (&j.save_state, &j.resume) {
            (Some(state), None) if state.is_file() => {
                j.resume = Some(state.clone());
                Some(state.clone())
            }
            _ => None,
        }
    }

    /// Run the job (blocking). `stop` is raised to end it after the current epoch.
    ///
    /// # Errors
    /// The library's error, and whether retrying could help ([`Failure::retry`]).
    pub fn run(&self, stop: &AtomicBool) -> Result<Value, Failure> {
        let models = autoglm::models::registry::ModelRegistry::builtin();
        let mut progress = autoglm::run::Silent;
        let mut env = autoglm::run::RunEnv::new(&mut progress, &models);
        env.stop = Some(stop);
        let r = match self {
            Work::Train(j) => autoglm::run::execute_with(j, &mut env).map(|r| r.json),
            Work::Score(p) => autoglm::run::predict_with(p, &mut env),
            Work::Generate(g) => autoglm::run::generate(g, &mut env).map(|g| json!({"dataset": g.dataset, "graphs": g.lines})),
            Work::Auto(a) => autoglm::run::auto::auto_with(a, &mut env).map(|r| r.json),
        };
        r.map_err(|e| Failure { retry: matches!(e, autoglm::Error::Io { .. }), message: e.to_string() })
    }
}

/// A job that did not finish.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Worth another attempt (an IO error, a lost worker), rather than a bad job.
    pub retry: bool,
    pub message: String,
}

/// A worker's event on the results queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    /// `started`, `done`, `failed` (for good), `attempt_failed` (to be retried).
    pub event: String,
    pub worker: String,
    /// Deliveries of the job so far, this one included.
    pub attempt: u32,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A job's record (`GET /jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub kind: String,
    /// `queued`, `running`, `done`, `failed`, `dead`.
    pub state: String,
    /// Deliveries started by workers.
    pub attempts: u32,
    pub worker: Option<String>,
    pub result: Option<Value>,
    pub error: Option<String>,
    /// Times the job was recorded done (1 once done: later results of a redelivered job are not completions).
    pub completions: u32,
    /// Results that came after the first and were ignored.
    pub duplicate_results: u32,
    pub created: f64,
    pub updated: f64,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// The job store: one SQLite file written by the server only.
pub struct Store {
    conn: Mutex<rusqlite::Connection>,
}

/// What [`Store::insert`] found.
#[derive(Debug, PartialEq)]
pub enum Inserted {
    New,
    /// The same id was posted before with the same job: nothing to run.
    Existing(Box<JobRecord>),
    /// The same id with another job.
    Conflict,
}

impl Store {
    /// Open (or create) the store.
    ///
    /// # Errors
    /// SQLite's message with the path.
    pub fn open(path: &Path) -> Result<Store, String> {
        let conn = rusqlite::Connection::open(path).map_err(|e| format!("job store {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS jobs (
               id TEXT PRIMARY KEY, kind TEXT NOT NULL, request TEXT NOT NULL, state TEXT NOT NULL,
               attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, result TEXT, error TEXT,
               completions INTEGER NOT NULL DEFAULT 0, duplicate_results INTEGER NOT NULL DEFAULT 0,
               created REAL NOT NULL, updated REAL NOT NULL);",
        )
        .map_err(|e| format!("job store {}: {e}", path.display()))?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a new job as `queued`, unless its id is taken.
    ///
    /// # Errors
    /// SQLite's message.
    pub fn insert(&self, id: &str, kind: &str, request: &Value) -> Result<Inserted, String> {
        let text = request.to_string();
        let c = self.conn();
        let prior: Option<String> = c.query_row("SELECT request FROM jobs WHERE id = ?1", [id], |r| r.get(0)).optional().map_err(|e| e.to_string())?;
        if let Some(p) = prior {
            drop(c);
            return if p == text { Ok(Inserted::Existing(Box::new(self.get(id)?.expect("just read")))) } else { Ok(Inserted::Conflict) };
        }
        let t = now();
        c.execute("INSERT INTO jobs (id, kind, request, state, created, updated) VALUES (?1, ?2, ?3, 'queued', ?4, ?4)", params![id, kind, text, t])
            .map_err(|e| e.to_string())?;
        Ok(Inserted::New)
    }

    /// Forget a job whose publication failed (the client is told to retry).
    pub fn remove(&self, id: &str) {
        let _ = self.conn().execute("DELETE FROM jobs WHERE id = ?1 AND state = 'queued'", [id]);
    }

    /// A job's record.
    ///
    /// # Errors
    /// SQLite's message.
    pub fn get(&self, id: &str) -> Result<Option<JobRecord>, String> {
        self.conn()
            .query_row(
                "SELECT id, kind, state, attempts, worker, result, error, completions, duplicate_results, created, updated FROM jobs WHERE id = ?1",
                [id],
                |r| {
                    let result: Option<String> = r.get(5)?;
                    Ok(JobRecord {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        state: r.get(2)?,
                        attempts: r.get(3)?,
                        worker: r.get(4)?,
                        result: result.and_then(|s| serde_json::from_str(&s).ok()),
                        error: r.get(6)?,
                        completions: r.get(7)?,
                        duplicate_results: r.get(8)?,
                        created: r.get(9)?,
                        updated: r.get(10)?,
                    })
                },
            )
            .optional()
            .map_err(|e| e.to_string())
    }

    /// Counts of jobs by state.
    ///
    /// # Errors
    /// SQLite's message.
    pub fn counts(&self) -> Result<Vec<(String, u64)>, String> {
        let c = self.conn();
        let mut s = c.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state").map_err(|e| e.to_string())?;
        let rows = s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }

    /// Apply a worker's event. A job's first `done` is its completion; a
    /// later one (a redelivered job finished again) only counts as a duplicate.
    ///
    /// # Errors
    /// SQLite's message.
    pub fn apply(&self, e: &Event) -> Result<(), String> {
        let c = self.conn();
        let t = now();
        let r = match e.event.as_str() {
            "started" => c.execute(
                "UPDATE jobs SET state = 'running', attempts = MAX(attempts + 1, ?2), worker = ?3, updated = ?4 WHERE id = ?1 AND state IN ('queued', 'running')",
                params![e.id, e.attempt, e.worker, t],
            ),
            "done" => {
                let result = e.result.as_ref().map(Value::to_string);
                let n = c
                    .execute(
                        "UPDATE jobs SET state = 'done', result = ?2, worker = ?3, completions = completions + 1, error = NULL, updated = ?4 WHERE id = ?1 AND state != 'done'",
                        params![e.id, result, e.worker, t],
                    )
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    c.execute("UPDATE jobs SET duplicate_results = duplicate_results + 1, updated = ?2 WHERE id = ?1", params![e.id, t])
                } else {
                    Ok(n)
                }
            }
            "failed" => c.execute("UPDATE jobs SET state = 'failed', error = ?2, updated = ?3 WHERE id = ?1 AND state != 'done'", params![e.id, e.error, t]),
            "attempt_failed" => c.execute(
                "UPDATE jobs SET state = 'queued', error = ?2, updated = ?3 WHERE id = ?1 AND state IN ('queued', 'running')",
                params![e.id, e.error, t],
            ),
            _ => Ok(0),
        };
        r.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Mark a dead-lettered job.
    ///
    /// # Errors
    /// SQLite's message.
    pub fn dead(&self, id: &str, attempts: u32) -> Result<(), String> {
        let c = self.conn();
        c.execute(
            "UPDATE jobs SET state = 'dead', error = COALESCE(error, '') || ?2, updated = ?3 WHERE id = ?1 AND state NOT IN ('done', 'failed')",
            params![id, format!(" (dead-lettered after {attempts} deliveries)"), now()],
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

/// A connection with a confirming channel, the queues declared.
pub struct Broker {
    _conn: Connection,
    channel: Channel,
    pub config: QueueConfig,
}

fn amqp_err(what: &str, url: &str) -> impl Fn(lapin::Error) -> String {
    let (what, url) = (what.to_string(), redact(url));
    move |e| format!("{what} ({url}): {e}")
}

impl Broker {
    /// Connect and declare the queues.
    ///
    /// # Errors
    /// A message naming the broker (without its password) and how to start one.
    pub async fn connect(config: &QueueConfig) -> Result<Broker, String> {
        let url = config.amqp_url.as_str();
        let conn = Connection::connect(url, ConnectionProperties::default()).await.map_err(|e| {
            format!(
                "cannot reach the AMQP broker at {}: {e}; start RabbitMQ (`apt-get install rabbitmq-server && service rabbitmq-server start`) or pass --amqp URL",
                redact(url)
            )
        })?;
        let channel = conn.create_channel().await.map_err(amqp_err("open a channel", url))?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(amqp_err("publisher confirms", url))?;
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        args.insert("x-delivery-limit".into(), AMQPValue::LongInt(config.max_attempts.saturating_sub(1) as i32));
        args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
        args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(config.dead_queue().into()));
        channel.queue_declare(config.dead_queue().into(), durable, FieldTable::default()).await.map_err(amqp_err("declare the dead-letter queue", url))?;
        channel.queue_declare(config.results_queue().into(), durable, FieldTable::default()).await.map_err(amqp_err("declare the results queue", url))?;
        channel.queue_declare(config.jobs_queue().into(), durable, args).await.map_err(amqp_err(
            "declare the jobs queue (a quorum queue with a delivery limit; a queue of that name declared with other settings must be deleted first)",
            url,
        ))?;
        Ok(Broker { _conn: conn, channel, config: config.clone() })
    }

    /// Publish persistently to `queue` and wait for the broker's confirmation.
    ///
    /// # Errors
    /// The broker refused or went away.
    pub async fn publish(&self, queue: &str, id: &str, body: &[u8]) -> Result<(), String> {
        let props = BasicProperties::default().with_delivery_mode(2).with_message_id(ShortString::from(id)).with_content_type("application/json".into());
        let confirm = self
            .channel
            .basic_publish("".into(), queue.into(), BasicPublishOptions::default(), body, props)
            .await
            .map_err(|e| format!("publish to {queue}: {e}"))?
            .await
            .map_err(|e| format!("publish to {queue}: {e}"))?;
        if confirm.is_nack() {
            return Err(format!("the broker refused the message for {queue}"));
        }
        Ok(())
    }

    /// A consumer of `queue` on a new channel taking `prefetch` unacknowledged messages at a time.
    ///
    /// # Errors
    /// The broker refused.
    pub async fn consume(&self, queue: &str, tag: &str, prefetch: u16) -> Result<lapin::Consumer, String> {
        self.channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(|e| format!("qos on {queue}: {e}"))?;
        self.channel
            .basic_consume(queue.into(), tag.into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(|e| format!("consume {queue}: {e}"))
    }
}

/// Deliveries of a message so far, this one included (quorum queues count them in `x-delivery-count`).
fn delivery_attempt(d: &lapin::message::Delivery) -> u32 {
    let count = d.properties.headers().as_ref().and_then(|h| h.inner().get("x-delivery-count").cloned());
    let n = match count {
        Some(AMQPValue::LongLongInt(n)) => n as u32,
        Some(AMQPValue::LongInt(n)) => n as u32,
        Some(AMQPValue::ShortInt(n)) => n as u32,
        Some(AMQPValue::LongUInt(n)) => n,
        _ => 0,
    };
    n + 1
}

/// The server side: consume workers' events and dead-lettered jobs into the store.
pub async fn consume_results(config: QueueConfig, store: Arc<Store>, metrics: Arc<crate::metrics::Metrics>) -> Result<(), String> {
    let results = Broker::connect(&config).await?;
    let dead = Broker::connect(&config).await?;
    let mut res = results.consume(&config.results_queue(), "autoglm-server-results", 64).await?;
    let mut dl = dead.consume(&config.dead_queue(), "autoglm-server-dead", 16).await?;
    loop {
        tokio::select! {
            Some(d) = res.next() => {
                let d = d.map_err(|e| format!("results queue: {e}"))?;
                match serde_json::from_slice::<Event>(&d.data) {
                    Ok(ev) => {
                        let s = store.clone();
                        let id = ev.id.clone();
                        let event = ev.event.clone();
                        // the store is SQLite: off the async threads, and the job's kind (for the metric) in the same visit
                        let kind = tokio::task::spawn_blocking(move || s.apply(&ev).map(|()| s.get(&id).ok().flatten().map(|r| r.kind)))
                            .await
                            .map_err(|e| e.to_string())??;
                        metrics.job(&kind.unwrap_or_default(), &event);
                    }
                    Err(e) => eprintln!("autoglm serve: ignoring a malformed event on {}: {e}", config.results_queue()),
                }
                d.acker.ack(BasicAckOptions::default()).await.map_err(|e| format!("ack: {e}"))?;
            }
            Some(d) = dl.next() => {
                let d = d.map_err(|e| format!("dead-letter queue: {e}"))?;
                if let Ok(req) = serde_json::from_slice::<JobRequest>(&d.data) {
                    if let Some(id) = &req.id {
                        let s = store.clone();
                        let (id, n) = (id.clone(), delivery_attempt(&d).saturating_sub(1).max(config.max_attempts));
                        tokio::task::spawn_blocking(move || s.dead(&id, n)).await.map_err(|e| e.to_string())??;
                        metrics.job(&req.kind, "dead");
                    }
                }
                d.acker.ack(BasicAckOptions::default()).await.map_err(|e| format!("ack: {e}"))?;
            }
            else => return Err("the broker closed the result consumers".into()),
        }
    }
}

/// How `autoglm worker` runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub queue: QueueConfig,
    /// Name in events and `GET /jobs/{id}` (default `HOST-PID`).
    pub name: String,
    /// Stop a job after this long and report it failed (default 1500 s, under RabbitMQ's 30-minute consumer timeout).
    pub max_job_seconds: u64,
    /// Exit after this many jobs (default: run until stopped).
    pub max_jobs: Option<u64>,
}

async fn send_event(b: &Broker, ev: &Event) -> Result<(), String> {
    b.publish(&b.config.results_queue(), &ev.id, &serde_json::to_vec(ev).expect("events serialise")).await
}

/// The worker loop: one job at a time, acknowledged after its result is confirmed.
///
/// # Errors
/// The broker cannot be reached or went away.
pub async fn work(config: WorkerConfig) -> Result<(), String> {
    let broker = Broker::connect(&config.queue).await?;
    let mut jobs = broker.consume(&config.queue.jobs_queue(), &config.name, 1).await?;
    eprintln!("autoglm worker {}: waiting for jobs on {} at {}", config.name, config.queue.jobs_queue(), redact(&config.queue.amqp_url));
    let mut done = 0u64;
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let d = tokio::select! {
            d = jobs.next() => match d {
                Some(d) => d.map_err(|e| format!("jobs queue: {e}"))?,
                None => return Err("the broker cancelled the consumer".into()),
            },
            () = &mut shutdown => {
                eprintln!("autoglm worker {}: stopping (no job in progress)", config.name);
                return Ok(());
            }
        };
        let attempt = delivery_attempt(&d);
        let req: Result<JobRequest, String> = serde_json::from_slice(&d.data).map_err(|e| format!("not a job: {e}"));
        let id = req.as_ref().ok().and_then(|r| r.id.clone()).unwrap_or_else(|| {
            String::from_utf8_lossy(&d.properties.message_id().as_ref().map(|m| m.as_str().as_bytes().to_vec()).unwrap_or_default()).into_owned()
        });
        let ev = |event: &str, result: Option<Value>, error: Option<String>| Event {
            id: id.clone(),
            event: event.into(),
            worker: config.name.clone(),
            attempt,
            result,
            error,
        };
        let work = req.and_then(|r| Work::parse(&r, &config.queue.data_dir, &config.queue.models_dir));
        let outcome = match work {
            Err(msg) => Err(Failure { retry: false, message: msg }),
            Ok(mut w) => {
                // only a redelivery continues a state file; a first delivery starts afresh
                let resumed = if attempt > 1 { w.resume_from_saved_state() } else { None };
                send_event(&broker, &ev("started", None, None)).await?;
                let stop = Arc::new(AtomicBool::new(false));
                let s2 = stop.clone();
                let task = tokio::task::spawn_blocking(move || {
                    w.run(&s2).map(|mut r| {
                        if let (Some(p), Some(o)) = (&resumed, r.as_object_mut()) {
                            o.insert("resumed_from".into(), json!(p));
                        }
                        r
                    })
                });
                tokio::pin!(task);
                let limit = tokio::time::sleep(Duration::from_secs(config.max_job_seconds));
                tokio::pin!(limit);
                let mut timed_out = false;
                loop {
                    tokio::select! {
                        r = &mut task => break match r {
                            Ok(r) if timed_out => r.and_then(|_| Err(Failure { retry: false, message: format!("stopped after --max-job-seconds {}", config.max_job_seconds) })),
                            Ok(r) => r,
                            Err(e) => Err(Failure { retry: true, message: format!("the job panicked: {e}") }),
                        },
                        () = &mut limit, if !timed_out => {
                            timed_out = true;
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(result) => {
                send_event(&broker, &ev("done", Some(result), None)).await?;
                d.acker.ack(BasicAckOptions::default()).await.map_err(|e| format!("ack: {e}"))?;
            }
            Err(f) if f.retry => {
                send_event(&broker, &ev("attempt_failed", None, Some(f.message))).await?;
                d.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.map_err(|e| format!("nack: {e}"))?;
            }
            Err(f) => {
                send_event(&broker, &ev("failed", None, Some(f.message))).await?;
                d.acker.ack(BasicAckOptions::default()).await.map_err(|e| format!("ack: {e}"))?;
            }
        }
        done += 1;
        if config.max_jobs.is_some_and(|m| done >= m) {
            return Ok(());
        }
    }
}

/// Run a worker until SIGTERM / Ctrl-C (between jobs) or `max_jobs`.
///
/// # Errors
/// As [`work`].
pub fn run_worker(config: WorkerConfig) -> Result<(), String> {
    config.queue.validate(false)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(work(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: &str, spec: Value) -> JobRequest {
        JobRequest { id: Some("j1".into()), kind: kind.into(), spec }
    }

    #[test]
    fn paths_are_confined_to_the_folders() {
        let (d, m) = (Path::new("/data"), Path::new("/models"));
        let w = Work::parse(&req("train", json!({"dataset": "karate", "checkpoint": "a/b.safetensors"})), d, m).unwrap();
        let Work::Train(j) = w else { panic!() };
        assert_eq!(j.checkpoint.as_deref(), Some(Path::new("/models/a/b.safetensors")));
        assert_eq!(j.data_dir.as_deref(), Some(Path::new("/data")));
        for bad in [json!({"checkpoint": "/etc/passwd"}), json!({"checkpoint": "../x"}), json!({"data_dir": "a/../../x"}), json!({"out": "x/../../y"})] {
            let e = Work::parse(&req("train", bad.clone()), d, m).unwrap_err();
            assert!(e.contains("relative to the configured"), "{bad}: {e}");
        }
        let e = Work::parse(&req("score", json!({"checkpoint": "/tmp/m.agx"})), d, m).unwrap_err();
        assert!(e.contains("models folder"), "{e}");
        let e = Work::parse(&req("auto", json!({"dataset": "cora", "out": "r", "store": "/var/x"})), d, m).unwrap_err();
        assert!(e.contains("store"), "{e}");
    }

    #[test]
    fn kinds_and_specs_are_checked() {
        let (d, m) = (Path::new("/data"), Path::new("/models"));
        assert!(Work::parse(&req("mine", json!({})), d, m).unwrap_err().contains("unknown job kind"));
        assert!(Work::parse(&req("train", json!({"epochz": 3})), d, m).unwrap_err().contains("epochz"));
        let Work::Train(j) = Work::parse(&req("pretrain", json!({"dataset": "cora"})), d, m).unwrap() else { panic!() };
        assert_eq!(j.task.as_deref(), Some("pretrain"));
        assert!(check_id("ok-id_1").is_ok());
        for bad in ["", "a b", "../x", &"x".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn a_redelivered_training_job_resumes_from_its_state() {
        let dir = tempfile::tempdir().unwrap();
        let spec = json!({"dataset": "karate", "save_state": "run.state"});
        let mut w = Work::parse(&req("train", spec.clone()), dir.path(), dir.path()).unwrap();
        assert_eq!(w.resume_from_saved_state(), None, "no state yet: a fresh start");
        std::fs::write(dir.path().join("run.state"), "{}").unwrap();
        let mut w = Work::parse(&req("train", spec), dir.path(), dir.path()).unwrap();
        assert_eq!(w.resume_from_saved_state(), Some(dir.path().join("run.state")));
        let Work::Train(j) = w else { panic!() };
        assert_eq!(j.resume, Some(dir.path().join("run.state")));
    }

    #[test]
    fn guest_is_refused_beyond_loopback() {
        let q =
            |url: &str| QueueConfig { amqp_url: url.into(), prefix: "t".into(), max_attempts: 3, db: "x".into(), data_dir: "d".into(), models_dir: "m".into() };
        assert!(q("amqp://127.0.0.1:5672/%2f").validate(false).is_ok());
        assert!(q("amqp://guest:guest@10.0.0.5:5672/%2f").validate(false).is_err());
        assert!(q("amqp://10.0.0.5:5672/%2f").validate(false).is_err(), "no user means guest");
        assert!(q("amqp://127.0.0.1:5672/%2f").validate(true).is_err(), "a server beyond loopback must not use guest");
        assert!(q("amqp://autoglm:s3cret@10.0.0.5:5672/%2f").validate(true).is_ok());
        assert!(q("not a url").validate(false).is_err());
        assert_eq!(redact("amqp://u:pw@h:5672/%2f"), "amqp://u:***@h:5672/%2f");
    }

    #[test]
    fn the_store_records_a_job_done_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("jobs.sqlite")).unwrap();
        let body = json!({"kind": "train"});
        assert_eq!(s.insert("a", "train", &body).unwrap(), Inserted::New);
        assert!(matches!(s.insert("a", "train", &body).unwrap(), Inserted::Existing(_)));
        assert_eq!(s.insert("a", "train", &json!({"kind": "auto"})).unwrap(), Inserted::Conflict);
        let ev = |e: &str, w: &str, n| Event { id: "a".into(), event: e.into(), worker: w.into(), attempt: n, result: Some(json!({"acc": 1})), error: None };
        s.apply(&ev("started", "w1", 1)).unwrap();
        assert_eq!(s.get("a").unwrap().unwrap().state, "running");
        s.apply(&ev("started", "w2", 2)).unwrap();
        s.apply(&ev("done", "w2", 2)).unwrap();
        s.apply(&ev("done", "w1", 1)).unwrap();
        s.apply(&ev("started", "w3", 3)).unwrap();
        let r = s.get("a").unwrap().unwrap();
        assert_eq!((r.state.as_str(), r.completions, r.duplicate_results, r.attempts), ("done", 1, 1, 2));
        assert_eq!(r.worker.as_deref(), Some("w2"));
        assert_eq!(r.result, Some(json!({"acc": 1})));
        s.dead("a", 3).unwrap();
        assert_eq!(s.get("a").unwrap().unwrap().state, "done", "a done job is not dead-lettered");
        assert!(s.get("zz").unwrap().is_none());
    }
}
