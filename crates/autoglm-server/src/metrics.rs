//! Prometheus metrics (`GET /metrics`, text exposition format): requests by
//! endpoint and status, latency histograms by endpoint, the batcher's queue
//! depth and batch sizes, and jobs submitted and finished.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    pub state: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<EndpointLabels, Histogram>,
    /// Requests waiting for the batcher.
    pub queue_depth: Gauge,
    /// Graphs per forward pass.
    pub batch_graphs: Histogram,
    /// Requests per forward pass.
    pub batch_requests: Histogram,
    pub jobs: Family<JobLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("autoglm");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 18)));
        let queue_depth = Gauge::default();
        let batch_graphs = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        let batch_requests = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by endpoint and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time from request to response, by endpoint", latency.clone());
        registry.register("batch_queue_depth", "Posted-graph requests waiting for the batcher", queue_depth.clone());
        registry.register("batch_graphs", "Graphs per batched forward pass", batch_graphs.clone());
        registry.register("batch_requests", "Requests per batched forward pass", batch_requests.clone());
        registry.register("jobs", "Jobs by kind and state change seen by this server", jobs.clone());
        Metrics { registry, requests, latency, queue_depth, batch_graphs, batch_requests, jobs }
    }
}

impl Metrics {
    /// The text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &self.registry).expect("writing to a String does not fail");
        s
    }

    pub fn job(&self, kind: &str, state: &str) {
        self.jobs.get_or_create(&JobLabels { kind: kind.into(), state: state.into() }).inc();
    }
}
