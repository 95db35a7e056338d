//! Training: optimisers, learning-rate schedules and losses.
//!
//! * [`optim`]: SGD, Adam, AdamW, RMSProp with PyTorch's update rules, parameter
//!   groups, gradient clipping.
//! * [`schedule`]: linear warm-up, then constant / cosine / linear / step decay.
//! * [`loss`]: cross-entropy with label smoothing, binary cross-entropy with logits,
//!   MSE, the L1 penalty; all differentiable candle expressions.
//! * [`curriculum`]: curriculum learning (easiest samples first): difficulty measures
//!   for graphs and nodes (CLNode's among them) and linear / root / geometric pacing.

pub mod batches;
pub mod curriculum;
pub mod loss;
pub mod optim;
pub mod schedule;
pub mod trainer;

pub use batches::{NeighborBlocks, SampledBlock, SamplingConfig};
pub use curriculum::{graph_difficulty, node_difficulty, Curriculum, CurriculumConfig, Difficulty, NodeSignals, Pacing};
pub use optim::{build as build_optimizer, clip_grad_norm, clip_grad_value, Optimizer, OptimizerConfig, OptimizerKind, OptimizerState, ParamGroup};
pub use schedule::{Decay, LrSchedule};
pub use trainer::{
    Batches, EpochStats, Evaluation, Fit, FullGraph, FullGraphEpoch, GradHook, Hooks, Score, Selected, Ties, TrainState, Trainer, TrainerConfig,
};
