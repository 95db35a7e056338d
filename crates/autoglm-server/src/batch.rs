//! Dynamic batching: concurrent posted-graph requests are joined into one
//! block-diagonal graph and answered by one forward pass.
//!
//! One task takes requests from a bounded queue. When the first arrives it
//! takes whatever else is already waiting, and waits up to `batch_wait` for
//! more, until `max_batch_graphs` graphs are in hand; the joined batch runs on
//! a blocking thread while the next requests queue up behind it. If a joined
//! pass fails (it should not: every request was validated on its own), each
//! request is rerun alone so one bad request cannot fail the others.

use crate::metrics::Metrics;
use autoglm::run::serve::{PostedAnswer, PostedBatch, Served};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

type Reply = Result<Vec<PostedAnswer>, String>;

struct Item {
    batch: PostedBatch,
    reply: oneshot::Sender<Reply>,
}

/// The handle requests use.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Item>,
    metrics: Arc<Metrics>,
}

/// Why a request did not get an answer from the batcher.
#[derive(Debug)]
pub enum BatchError {
    /// The queue is full (503, retry later).
    Busy,
    /// The model refused the input (422).
    Model(String),
    /// The batcher stopped (shutting down).
    Stopped,
    /// The forward pass panicked (a bug; the server keeps serving).
    Internal,
}

impl Batcher {
    /// Start the batching task on the current runtime.
    pub fn start(served: Arc<Served>, metrics: Arc<Metrics>, capacity: usize, max_graphs: usize, wait: Duration) -> Batcher {
        let (tx, rx) = mpsc::channel(capacity);
        tokio::spawn(run(rx, served, metrics.clone(), max_graphs, wait));
        Batcher { tx, metrics }
    }

    /// Answer one request's graphs.
    ///
    /// # Errors
    /// [`BatchError`].
    pub async fn submit(&self, batch: PostedBatch) -> Result<Vec<PostedAnswer>, BatchError> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Item { batch, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => BatchError::Busy,
            mpsc::error::TrySendError::Closed(_) => BatchError::Stopped,
        })?;
        self.metrics.queue_depth.inc();
        match rx.await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(m)) => Err(BatchError::Model(m)),
            Err(_) => Err(BatchError::Internal),
        }
    }
}

async fn run(mut rx: mpsc::Receiver<Item>, served: Arc<Served>, metrics: Arc<Metrics>, max_graphs: usize, wait: Duration) {
    while let Some(first) = rx.recv().await {
        let mut graphs = first.batch.graphs();
        let mut items = vec![first];
        let deadline = tokio::time::Instant::now() + wait;
        while graphs < max_graphs {
            let next = match rx.try_recv() {
                Ok(i) => Some(i),
                Err(mpsc::error::TryRecvError::Empty) => tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten(),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
            let Some(i) = next else { break };
            graphs += i.batch.graphs();
            items.push(i);
        }
        metrics.queue_depth.dec_by(items.len() as i64);
        metrics.batch_graphs.observe(graphs as f64);
        metrics.batch_requests.observe(items.len() as f64);
        let served = served.clone();
        // a panic in the forward pass drops its requests' senders: they get an error
        let _ = tokio::task::spawn_blocking(move || {
            let parts: Vec<&PostedBatch> = items.iter().map(|i| &i.batch).collect();
            let answers: Vec<Reply> = match served.run_posted(&parts) {
                Ok(a) => a.into_iter().map(Ok).collect(),
                Err(_) => parts.iter().map(|p| served.run_posted(&[p]).map(|mut a| a.remove(0)).map_err(|e| e.to_string())).collect(),
            };
            for (item, answer) in items.into_iter().zip(answers) {
                let _ = item.reply.send(answer); // the client may have gone
            }
        })
        .await;
    }
}
