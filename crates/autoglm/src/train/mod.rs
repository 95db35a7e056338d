//! Training: optimisers, learning-rate schedules and losses.
//!
//! * [`optim`]: SGD, Adam, AdamW, RMSProp with PyTorch's update rules, parameter
//!   groups, gradient clipping.
//! * [`schedule`]: linear warm-up, then constant / cosine / linear / step decay.
//! * [`loss`]: cross-entropy with label smoothing, binary cross-entropy with logits,
//!   MSE, the L1 penalty; all differentiable candle expressions.

pub mod batches;
pub mod loss;
pub mod optim;
pub mod schedule;
pub mod trainer;

pub use optim::{build as build_optimizer, clip_grad_norm, clip_grad_value, Optimizer, OptimizerConfig, OptimizerKind, OptimizerState, ParamGroup};
pub use schedule::{Decay, LrSchedule};
pub use trainer::{Batches, EpochStats, Evaluation, Fit, FullGraph, GradHook, Hooks, Score, Selected, Ties, TrainState, Trainer, TrainerConfig};
