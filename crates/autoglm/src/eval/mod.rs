//! Evaluation: metrics for classification and link prediction.
//!
//! * [`metrics`]: accuracy, macro-F1, AUC-ROC, average precision, Hits@K, MRR, with
//!   the tie conventions of scikit-learn and the OGB evaluators, and a
//!   [`Metric`] interface selectable by name ([`metric_by_name`]).
//! * [`svm`]: GraphMAE's protocol for unsupervised graph embeddings (an SVC
//!   with C chosen by inner cross-validation, under outer 10-fold CV).

pub mod cv;
pub mod graphgen;
pub mod metrics;
pub mod stats;
pub mod svm;

pub use metrics::{
    accuracy, argmax_rows, auc_roc, average_precision, hits_at_k, macro_f1, metric_by_name, mrr, ranked_hits_at_k, Metric, MetricKind, Predictions,
};
