//! Tasks: what is trained and how it is scored. Each task prepares its data,
//! runs the training loop with early stopping on a validation metric, and
//! returns per-run results that the CLI prints and saves.

pub mod generate;
pub mod graph;
pub mod link;
pub mod node;
pub mod pretrain;
