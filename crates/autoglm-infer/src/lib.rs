//! Inference for exported Open-AutoGLM models, without candle, autodiff or
//! the training code: [`Model::from_bytes`] reads an `.agx` file (float or
//! int8 weights; layout in [`mod@format`]), [`Model::predict_nodes`] and
//! [`Model::predict_graphs`] run it on a graph given as CSR arrays
//! ([`Graph`]) with dense or sparse node features ([`Features`]). The
//! kernels are those of `autoglm-kernels`, the same the training library
//! runs, so a float export predicts what the trained model predicts.
//!
//! The library does no IO and builds for `wasm32-unknown-unknown`
//! (`--no-default-features`); the `cli` feature adds the `autoglm-infer`
//! command, and [`ffi`] a C ABI for embedding (a `cdylib`).

pub mod ffi;
pub mod format;
pub mod graph;
pub mod model;

pub use graph::{Features, Graph, GraphBatch, PostedGraph};
pub use model::{ActScheme, Calibration, Model, NetSpec};

/// Why a model could not be loaded or run.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The bytes are not a readable model file (the message says what is wrong and what to do).
    Format(String),
    /// A file of another format version.
    Version { found: u32, supported: u32 },
    /// The input does not fit the model or is malformed (a message naming the problem).
    Input(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Format(m) => write!(f, "not a valid .agx model: {m}"),
            Error::Version { found, supported } => write!(
                f,
                "the model file is format version {found}; this build reads version {supported}: export the checkpoint again with this version of `autoglm export`"
            ),
            Error::Input(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The index of the largest entry of every `width`-wide row (the first on ties).
pub fn argmax_rows(scores: &[f32], width: usize) -> Vec<usize> {
    scores
        .chunks(width.max(1))
        .map(|r| r.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0)
        .collect()
}
