//! # autoglm
//!
//! Graph learning in Rust: graph storage and real datasets, sparse kernels with
//! gradients (as candle custom ops), message-passing layers that match PyTorch
//! Geometric number for number, a training loop, and evaluation.
//!
//! Dependency direction (see `ARCHITECTURE.md`):
//! `graph <- ops <- nn <- models <- tasks <- {train, eval}`; `data` feeds `graph`.

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod eval;
pub mod graph;
pub mod models;
pub mod nn;
pub mod ops;
pub mod rng;
pub mod tasks;
pub mod testing;
pub mod train;

pub use error::{Error, Result};
pub use graph::{Batch, Graph};

/// Re-export of the tensor engine, so users need not pin it themselves.
pub use candle_core as candle;
