//! The HTTP endpoints. Bodies are read as bytes and parsed here, so every
//! refusal (malformed JSON, an unknown field, an oversized body, an unknown
//! path) is a JSON error `{"error": {"status", "code", "message"}}` with a
//! 4xx status that names the problem; see `openapi.json` for the schemas.

use crate::auth::{Denied, Tokens};
use crate::batch::{BatchError, Batcher};
use crate::jobs::{self, Broker, Inserted, JobRequest, Store, Work};
use crate::metrics::{EndpointLabels, Metrics, RequestLabels};
use crate::ServerConfig;
use autoglm::run::serve::{GenerateRequest, ServeSpec, Served};
use autoglm_infer::PostedGraph;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The OpenAPI 3.0 description served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
    }
    fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// A library error from a request: the request's fault unless the server's own files or threads failed.
fn library(e: autoglm::Error) -> ApiError {
    match e {
        autoglm::Error::Io { .. } | autoglm::Error::Candle(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        _ => ApiError::invalid(e.to_string()),
    }
}

/// The body as JSON of type `T`, or a 400 / 413 naming the problem.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<T, ApiError> {
    let body = body.map_err(|r| match r {
        BytesRejection::FailedToBufferBody(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than the server's limit of {limit} bytes (--max-body)"),
        ),
        other => ApiError::bad(format!("could not read the request body: {}", other.body_text())),
    })?;
    if body.is_empty() {
        return Err(ApiError::bad("the request has no body: send a JSON object (Content-Type: application/json)"));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("malformed JSON body: {e}")))
}

/// Everything the handlers share.
pub struct AppState {
    pub served: Arc<Served>,
    pub config: ServerConfig,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    pub batcher: Batcher,
    pub jobs: Option<JobsState>,
    pub ready: AtomicBool,
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

/// The job queue's side of the server.
pub struct JobsState {
    pub store: Arc<Store>,
    pub broker: Broker,
}

type Shared = Arc<AppState>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeRequest {
    /// Node ids of the start graph.
    #[serde(default)]
    nodes: Option<Vec<usize>>,
    /// Or graphs to label the nodes of.
    #[serde(default)]
    graphs: Option<Vec<PostedGraph>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphRequest {
    graphs: Vec<PostedGraph>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    /// `[src, dst]` node pairs of the start graph.
    pairs: Vec<[usize; 2]>,
}

const MAX_ITEMS: usize = 100_000;

async fn posted(s: &AppState, graphs: Vec<PostedGraph>) -> Result<serde_json::Value, ApiError> {
    if graphs.len() > s.config.max_batch_graphs {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_graphs",
            format!("{} graphs in one request; the server takes at most {} (--max-batch): split the request", graphs.len(), s.config.max_batch_graphs),
        ));
    }
    let batch = s.served.prepare_posted(&graphs).map_err(library)?;
    let answers = s.batcher.submit(batch).await.map_err(|e| match e {
        BatchError::Busy => ApiError::unavailable("the prediction queue is full; retry shortly"),
        BatchError::Model(m) => ApiError::invalid(m),
        BatchError::Stopped => ApiError::unavailable("the server is shutting down"),
        BatchError::Internal => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the forward pass failed inside the server; please report it with the request")
        }
    })?;
    Ok(json!({"model": s.served.model, "graphs": answers}))
}

async fn predict_node(State(s): State<Shared>, body: Result<Bytes, BytesRejection>) -> Result<Json<serde_json::Value>, ApiError> {
    let req: NodeRequest = parse(body, s.config.max_body_bytes)?;
    if s.served.task != "node" {
        return Err(wrong_endpoint(&s.served, "/v1/predict/node"));
    }
    match (req.nodes, req.graphs) {
        (Some(nodes), None) => {
            if nodes.len() > MAX_ITEMS {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_many_nodes",
                    format!("{} node ids; at most {MAX_ITEMS} per request", nodes.len()),
                ));
            }
            let labels = s.served.node_labels(&nodes).map_err(library)?;
            Ok(Json(json!({"model": s.served.model, "dataset": s.served.dataset, "nodes": labels})))
        }
        (None, Some(graphs)) => posted(&s, graphs).await.map(Json),
        _ => Err(ApiError::bad("give either \"nodes\" (ids of the server's graph) or \"graphs\" (posted graphs), not both or neither")),
    }
}

async fn predict_graph(State(s): State<Shared>, body: Result<Bytes, BytesRejection>) -> Result<Json<serde_json::Value>, ApiError> {
    let req: GraphRequest = parse(body, s.config.max_body_bytes)?;
    if s.served.task != "graph" {
        return Err(wrong_endpoint(&s.served, "/v1/predict/graph"));
    }
    posted(&s, req.graphs).await.map(Json)
}

async fn predict_link(State(s): State<Shared>, body: Result<Bytes, BytesRejection>) -> Result<Json<serde_json::Value>, ApiError> {
    let req: LinkRequest = parse(body, s.config.max_body_bytes)?;
    if s.served.task != "link" {
        return Err(wrong_endpoint(&s.served, "/v1/predict/link"));
    }
    if req.pairs.len() > MAX_ITEMS {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_pairs", format!("{} pairs; at most {MAX_ITEMS} per request", req.pairs.len())));
    }
    let served = s.served.clone();
    let pairs: Vec<(usize, usize)> = req.pairs.iter().map(|p| (p[0], p[1])).collect();
    let scores = tokio::task::spawn_blocking(move || served.score_links(&pairs))
        .await
        .map_err(|_| ApiError::unavailable("the scoring thread stopped"))?
        .map_err(library)?;
    Ok(Json(json!({"model": s.served.model, "dataset": s.served.dataset, "pairs": scores})))
}

async fn generate(State(s): State<Shared>, body: Result<Bytes, BytesRejection>) -> Result<Json<serde_json::Value>, ApiError> {
    let req: GenerateRequest = parse(body, s.config.max_body_bytes)?;
    if s.served.task != "generate" {
        return Err(wrong_endpoint(&s.served, "/v1/generate"));
    }
    let (served, max) = (s.served.clone(), s.config.max_generate);
    let graphs = tokio::task::spawn_blocking(move || served.generate(&req, max))
        .await
        .map_err(|_| ApiError::unavailable("the sampling thread stopped"))?
        .map_err(library)?;
    Ok(Json(json!({"model": s.served.model, "dataset": s.served.dataset, "graphs": graphs})))
}

fn wrong_endpoint(served: &Served, endpoint: &str) -> ApiError {
    let right = match served.task.as_str() {
        "node" => "/v1/predict/node",
        "graph" => "/v1/predict/graph",
        "link" => "/v1/predict/link",
        _ => "/v1/generate",
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        "wrong_task",
        format!(
            "{endpoint} needs a {} model; this server holds a {} model ({}): use {right}",
            &endpoint[endpoint.rfind('/').map_or(0, |i| i + 1)..],
            served.task,
            served.model
        ),
    )
}

async fn model_info(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(s.served.describe())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(s): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    if !s.ready.load(Ordering::SeqCst) {
        return Err(ApiError::unavailable("shutting down"));
    }
    Ok(Json(json!({"status": "ready", "model": s.served.describe(), "jobs": s.jobs.is_some()})))
}

async fn metrics_text(State(s): State<Shared>) -> Response {
    let mut r = s.metrics.render().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    r
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn jobs_of(s: &AppState) -> Result<&JobsState, ApiError> {
    s.jobs.as_ref().ok_or_else(|| ApiError::unavailable("this server has no job queue: start it with --amqp URL --jobs-db FILE (and run `autoglm worker`)"))
}

async fn submit_job(State(s): State<Shared>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let mut req: JobRequest = parse(body, s.config.max_body_bytes)?;
    let j = jobs_of(&s)?;
    let q = s.config.jobs.as_ref().expect("jobs configured");
    let id = match &req.id {
        Some(id) => {
            jobs::check_id(id).map_err(ApiError::bad)?;
            id.clone()
        }
        None => jobs::new_id(),
    };
    req.id = Some(id.clone());
    // parse and confine here too, so a bad job is refused now rather than by a worker
    Work::parse(&req, &q.data_dir, &q.models_dir).map_err(ApiError::invalid)?;
    let body = serde_json::to_value(&req).expect("requests serialise");
    let store = j.store.clone();
    let (id2, kind, b2) = (id.clone(), req.kind.clone(), body.clone());
    let inserted = tokio::task::spawn_blocking(move || store.insert(&id2, &kind, &b2))
        .await
        .map_err(|_| ApiError::unavailable("the job store thread stopped"))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e))?;
    match inserted {
        Inserted::Existing(r) => return Ok((StatusCode::OK, Json(serde_json::to_value(*r).expect("records serialise"))).into_response()),
        Inserted::Conflict => {
            return Err(ApiError::new(StatusCode::CONFLICT, "id_taken", format!("job id {id} was used for another job; choose another id or leave it out")));
        }
        Inserted::New => {}
    }
    if let Err(e) = j.broker.publish(&q.jobs_queue(), &id, body.to_string().as_bytes()).await {
        j.store.remove(&id);
        return Err(ApiError::unavailable(format!("could not queue the job ({e}); nothing was recorded: post it again")));
    }
    s.metrics.job(&req.kind, "submitted");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, format!("/jobs/{id}"))], Json(json!({"id": id, "kind": req.kind, "state": "queued"}))).into_response())
}

async fn job_status(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let j = jobs_of(&s)?;
    jobs::check_id(&id).map_err(ApiError::bad)?;
    let store = j.store.clone();
    let id2 = id.clone();
    let r = tokio::task::spawn_blocking(move || store.get(&id2))
        .await
        .map_err(|_| ApiError::unavailable("the job store thread stopped"))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e))?;
    match r {
        Some(r) => Ok(Json(serde_json::to_value(r).expect("records serialise"))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no_such_job", format!("no job with id {id}"))),
    }
}

async fn job_counts(State(s): State<Shared>) -> Result<Json<serde_json::Value>, ApiError> {
    let j = jobs_of(&s)?;
    let store = j.store.clone();
    let counts = tokio::task::spawn_blocking(move || store.counts())
        .await
        .map_err(|_| ApiError::unavailable("the job store thread stopped"))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e))?;
    Ok(Json(json!({"states": counts.into_iter().collect::<HashMap<_, _>>()})))
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no endpoint {} {}; see GET /openapi.json", req.method(), req.uri().path()))
}

/// Authentication, per-client concurrency, timeout and metrics around every request.
async fn guard(State(s): State<Shared>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let endpoint = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = guarded(&s, peer.ip(), &endpoint, req, next).await;
    let status = response.status().as_u16();
    s.metrics.requests.get_or_create(&RequestLabels { endpoint: endpoint.clone(), status }).inc();
    s.metrics.latency.get_or_create(&EndpointLabels { endpoint }).observe(start.elapsed().as_secs_f64());
    response
}

async fn guarded(s: &AppState, ip: IpAddr, endpoint: &str, req: Request, next: Next) -> Response {
    let needs_token = s.config.auth_everywhere() || endpoint.starts_with("/jobs");
    if needs_token {
        let h = req.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
        match s.tokens.check(h) {
            Ok(()) => {}
            Err(Denied::Missing) => {
                let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "this endpoint needs `Authorization: Bearer TOKEN`").into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
            Err(Denied::Wrong) => return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the bearer token is not accepted").into_response(),
        }
    }
    let Some(_slot) = InFlight::take(&s.per_client, ip, s.config.per_client_concurrency) else {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("{ip} already has {} requests in flight (--per-client); wait for answers before sending more", s.config.per_client_concurrency),
        )
        .into_response();
    };
    let r = tokio::time::timeout(s.config.timeout, next.run(req)).await;
    match r {
        Ok(r) => r,
        Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", format!("the request took longer than {:?} (--timeout)", s.config.timeout))
            .into_response(),
    }
}

/// A client's slot among its requests in flight, given back when dropped
/// (also when the request is cancelled or its handler panics).
struct InFlight<'a> {
    map: &'a Mutex<HashMap<IpAddr, usize>>,
    ip: IpAddr,
}

impl<'a> InFlight<'a> {
    fn take(map: &'a Mutex<HashMap<IpAddr, usize>>, ip: IpAddr, limit: usize) -> Option<InFlight<'a>> {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(InFlight { map, ip })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// The router over a state (exposed for embedding and tests).
pub fn router(state: Shared) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/v1/predict/node", post(predict_node))
        .route("/v1/predict/graph", post(predict_graph))
        .route("/v1/predict/link", post(predict_link))
        .route("/v1/generate", post(generate))
        .route("/v1/model", get(model_info))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .route("/jobs", post(submit_job).get(job_counts))
        .route("/jobs/{id}", get(job_status))
        .fallback(not_found)
        .method_not_allowed_fallback(|req: Request| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not allowed on {}; see GET /openapi.json", req.method(), req.uri().path()),
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Load the model, connect the queue, bind, and serve until SIGTERM / Ctrl-C.
///
/// # Errors
/// A message for the user.
pub async fn run(config: ServerConfig) -> Result<(), String> {
    autoglm::run::serve::check_servable(&config.checkpoint).map_err(|e| e.to_string())?;
    let spec = ServeSpec { checkpoint: config.checkpoint.clone(), dataset: config.dataset.clone(), data_dir: config.data_dir.clone() };
    let served = tokio::task::spawn_blocking(move || {
        let models = autoglm::models::registry::ModelRegistry::builtin();
        let mut progress = autoglm::run::Silent;
        let mut env = autoglm::run::RunEnv::new(&mut progress, &models);
        Served::load(&spec, &mut env)
    })
    .await
    .map_err(|e| format!("loading the model: {e}"))?
    .map_err(|e| e.to_string())?;
    let served = Arc::new(served);
    let metrics = Arc::new(Metrics::default());
    let batcher = Batcher::start(served.clone(), metrics.clone(), config.queue_capacity, config.max_batch_graphs, config.batch_wait);
    let jobs = match &config.jobs {
        None => None,
        Some(q) => {
            let store = Arc::new(Store::open(&q.db)?);
            let broker = Broker::connect(q).await?;
            let (q2, s2, m2) = (q.clone(), store.clone(), metrics.clone());
            tokio::spawn(async move {
                if let Err(e) = jobs::consume_results(q2, s2, m2).await {
                    eprintln!("autoglm serve: the result consumer stopped: {e}");
                }
            });
            Some(JobsState { store, broker })
        }
    };
    let state = Arc::new(AppState {
        served: served.clone(),
        tokens: Tokens::new(&config.tokens),
        config: config.clone(),
        metrics,
        batcher,
        jobs,
        ready: AtomicBool::new(true),
        per_client: Mutex::new(HashMap::new()),
    });
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let addr = config.addr();
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let announce = |bound: SocketAddr| {
        eprintln!(
            "autoglm serve: {} {} model ({}) on {scheme}://{bound}{}{}",
            served.task,
            served.model,
            served.precision,
            if config.auth_everywhere() { ", bearer token required" } else { ", loopback only" },
            if state.jobs.is_some() { ", jobs on" } else { "" }
        );
    };
    let stopping = {
        let state = state.clone();
        async move {
            crate::shutdown_signal().await;
            state.ready.store(false, Ordering::SeqCst);
            eprintln!("autoglm serve: stopping: finishing requests in flight");
        }
    };
    match &config.tls {
        None => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("bind {addr}: {e} (is another server on this port? pass --port)"))?;
            announce(listener.local_addr().map_err(|e| e.to_string())?);
            axum::serve(listener, app).with_graceful_shutdown(stopping).await.map_err(|e| format!("server: {e}"))?;
        }
        #[cfg(feature = "tls")]
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| format!("TLS certificate {} / key {}: {e}", cert.display(), key.display()))?;
            let handle = axum_server::Handle::new();
            let h2 = handle.clone();
            tokio::spawn(async move {
                stopping.await;
                h2.graceful_shutdown(Some(Duration::from_secs(30)));
            });
            let std_listener = std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e} (is another server on this port? pass --port)"))?;
            std_listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            announce(std_listener.local_addr().map_err(|e| e.to_string())?);
            axum_server::from_tcp_rustls(std_listener, tls)
                .map_err(|e| format!("TLS listener: {e}"))?
                .handle(handle)
                .serve(app)
                .await
                .map_err(|e| format!("server: {e}"))?;
        }
        #[cfg(not(feature = "tls"))]
        Some(_) => return Err("this build has no TLS: rebuild with the `tls` feature, or terminate TLS in a reverse proxy".into()),
    }
    eprintln!("autoglm serve: stopped");
    Ok(())
}
