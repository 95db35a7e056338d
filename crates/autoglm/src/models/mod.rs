//! Models assembled from `nn` layers: the message-passing stack [`Gnn`] used as a
//! node classifier, as a link-prediction encoder and (with a readout) as a
//! graph classifier, and a registry of model names.

pub mod flow;
pub mod generator;
mod gnn;
pub mod graph_classifier;
pub mod link;
pub mod readout;
pub mod registry;
pub mod transformer;

pub use gnn::{Activation, Gnn, GnnConfig, ModelKind, MODEL_KINDS};
