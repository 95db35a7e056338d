//! Training: optimisers, learning-rate schedules and losses.
//!
//! * [`optim`]: SGD, Adam, AdamW, RMSProp with PyTorch's update rules, parameter
//!   groups, gradient clipping.
//! * [`schedule`]: linear warm-up, then constant / cosine / linear / step decay.
//! * [`loss`]: cross-entropy with label smoothing, binary cross-entropy with logits,
//!   MSE, the L1 penalty; all differentiable candle expressions.

pub mod loss;
pub mod optim;
pub mod schedule;

pub use optim::{
    build as build_optimizer, clip_grad_norm, clip_grad_value, Optimizer, OptimizerConfig,
    ParamGroup,
};
pub use schedule::{Decay, LrSchedule};

/// One optimisation step: backpropagate `loss`, clip the global gradient norm of
/// `vars` to `clip` when given, update with `opt`, and return the loss value.
pub fn optimize(loss: &candle_core::Tensor, opt: &mut dyn Optimizer, vars: &[candle_core::Var], clip: Option<f64>) -> crate::Result<f64> {
    let mut grads = loss.backward()?;
    if let Some(max) = clip {
        clip_grad_norm(&mut grads, vars, max)?;
    }
    opt.step(&grads)?;
    Ok(loss.to_scalar::<f32>()? as f64)
}
