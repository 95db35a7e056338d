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
pub mod chem;
pub mod data;
pub mod dist;
pub mod error;
pub mod eval;
pub mod graph;
pub mod models;
pub mod nn;
pub mod ops;
pub mod rng;
pub mod run;
pub mod tasks;
#[doc(hidden)]
pub mod testing;
pub mod train;

pub use error::{Error, Result};

/// The names most programs need: `use autoglm::prelude::*;`.
pub mod prelude {
    pub use crate::candle::{DType, Device, Tensor};
    pub use crate::checkpoint;
    pub use crate::data::registry::load_node_dataset;
    pub use crate::data::{data_dir, GraphDataset, NodeDataset};
    pub use crate::graph::{Batch, Graph};
    pub use crate::models::registry::{ModelArgs, ModelEntry, ModelRegistry, SearchSpace};
    pub use crate::models::{Gnn, GnnConfig, ModelKind};
    pub use crate::nn::{
        BatchNormConfig, Ctx, GatConv, GatConvConfig, GcnConv, GcnConvConfig, GinConv, GinConvConfig, LinearConfig, MlpConfig, Module, NodeInput, Params,
        SageConv, SageConvConfig,
    };
    pub use crate::run::{JobSpec, Overrides, Report};
    pub use crate::tasks::node::{NodeData, NodeTrainConfig};
    pub use crate::train::{Hooks, OptimizerConfig, Trainer, TrainerConfig};
    pub use crate::{Error, Result};
}
pub use graph::{Batch, Graph};

/// Re-export of the tensor engine, so users need not pin it themselves.
pub use candle_core as candle;
