//! Learning-rate schedules: linear warm-up, then a decay.
//!
//! A schedule gives a factor `f(e, E)` for epoch `e` (0-based) of `E` epochs;
//! the optimiser applies `lr · f` to every group ([`Optimizer::set_lr_scale`]).
//! With `W` warm-up epochs:
//!
//! * warm-up, `e < W`: `f = (e + 1) / W` (the first epoch trains at `lr / W`, epoch `W − 1` at `lr`);
//! * decay, `e ≥ W`: with `d = e − W` epochs into the decay and `D = E − W` decay epochs,
//!   `r = min(d / D, 1)` (`r = 0` when `D = 0`):
//!   * `constant`: `f = 1`;
//!   * `cosine { min_factor }`: `f = min_factor + (1 − min_factor)·(1 + cos(π·r)) / 2`
//!     (PyTorch's `CosineAnnealingLR` with `T_max = D`, `eta_min = min_factor·lr`);
//!   * `linear { end_factor }`: `f = 1 + (end_factor − 1)·r`
//!     (PyTorch's `LinearLR(start_factor = 1, end_factor, total_iters = D)`);
//!   * `step { step_size, gamma }`: `f = gamma^⌊d / step_size⌋` (PyTorch's `StepLR`).
//!
//! Deviation from chaining PyTorch schedulers: none in the decay part (each decay
//! starts counting at the end of warm-up, as `SequentialLR` does); the warm-up is
//! `LinearLR(start_factor = 1/W, total_iters = W − 1)`.
//!
//! [`Optimizer::set_lr_scale`]: super::optim::Optimizer::set_lr_scale

use serde::{Deserialize, Serialize};

use super::optim::Optimizer;
use crate::{Error, Result};

/// A learning-rate schedule: `warmup_epochs` of linear warm-up, then `decay`.
///
/// ```
/// use autoglm::train::schedule::{Decay, LrSchedule};
/// let s: LrSchedule = serde_json::from_str(
///     r#"{"warmup_epochs": 2, "decay": {"kind": "cosine", "min_factor": 0.0}}"#,
/// ).unwrap();
/// assert_eq!(s.factor(0, 10), 0.5);
/// assert_eq!(s.factor(2, 10), 1.0);
/// assert!((s.factor(6, 10) - 0.5).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LrSchedule {
    /// Number of linear warm-up epochs `W`. Default 0 (no warm-up).
    pub warmup_epochs: usize,
    /// The decay after warm-up. Default `constant`.
    pub decay: Decay,
}

/// The decay applied after warm-up (`"kind"` selects the variant in serialised form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Decay {
    /// `f = 1`.
    #[default]
    Constant,
    /// Half-cosine from 1 down to `min_factor` over the decay epochs.
    Cosine {
        /// Final factor, in `[0, 1]`. Default 0.
        #[serde(default)]
        min_factor: f64,
    },
    /// Straight line from 1 to `end_factor` over the decay epochs.
    Linear {
        /// Final factor, `>= 0`. Default 0.
        #[serde(default)]
        end_factor: f64,
    },
    /// Multiply by `gamma` every `step_size` epochs.
    Step {
        /// Epochs between decays, `>= 1` (required).
        step_size: usize,
        /// Multiplicative factor, `> 0`. Default 0.1 (PyTorch's `StepLR`).
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
}

fn default_gamma() -> f64 {
    0.1
}

impl LrSchedule {
    /// A schedule with no warm-up and the given decay.
    pub fn new(decay: Decay) -> Self {
        Self { warmup_epochs: 0, decay }
    }

    /// Set the number of warm-up epochs.
    pub fn with_warmup(mut self, warmup_epochs: usize) -> Self {
        self.warmup_epochs = warmup_epochs;
        self
    }

    /// Check the decay's parameters: `min_factor ∈ [0, 1]`, `end_factor ≥ 0`,
    /// `step_size ≥ 1`, `gamma > 0`, all finite. Errors: [`Error::Config`].
    pub fn validate(&self) -> Result<()> {
        match self.decay {
            Decay::Constant => Ok(()),
            Decay::Cosine { min_factor } => {
                if (0.0..=1.0).contains(&min_factor) {
                    Ok(())
                } else {
                    Err(Error::config("schedule.decay.min_factor", min_factor, "must lie in [0, 1]"))
                }
            }
            Decay::Linear { end_factor } => {
                if end_factor.is_finite() && end_factor >= 0.0 {
                    Ok(())
                } else {
                    Err(Error::config("schedule.decay.end_factor", end_factor, "must be a finite number >= 0"))
                }
            }
            Decay::Step { step_size, gamma } => {
                if step_size == 0 {
                    return Err(Error::config("schedule.decay.step_size", step_size, "must be >= 1 epoch"));
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return Err(Error::config("schedule.decay.gamma", gamma, "must be a finite number > 0"));
                }
                Ok(())
            }
        }
    }

    /// The learning-rate factor `f(epoch, total_epochs)` (formulas in the module docs).
    /// Epochs past `total_epochs` keep the final decay factor (`step` keeps decaying).
    pub fn factor(&self, epoch: usize, total_epochs: usize) -> f64 {
        let w = self.warmup_epochs;
        if epoch < w {
            return (epoch + 1) as f64 / w as f64;
        }
        let d = epoch - w;
        let big_d = total_epochs.saturating_sub(w);
        let r = if big_d == 0 { 0.0 } else { (d as f64 / big_d as f64).min(1.0) };
        match self.decay {
            Decay::Constant => 1.0,
            Decay::Cosine { min_factor } => min_factor + (1.0 - min_factor) * (1.0 + (std::f64::consts::PI * r).cos()) / 2.0,
            Decay::Linear { end_factor } => 1.0 + (end_factor - 1.0) * r,
            Decay::Step { step_size, gamma } => {
                let k = d / step_size.max(1);
                gamma.powi(k.min(i32::MAX as usize) as i32)
            }
        }
    }

    /// Set `opt`'s learning-rate scale to `factor(epoch, total_epochs)`; returns the factor.
    pub fn apply(&self, opt: &mut dyn Optimizer, epoch: usize, total_epochs: usize) -> f64 {
        let f = self.factor(epoch, total_epochs);
        opt.set_lr_scale(f);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn constant_without_warmup_is_one() {
        let s = LrSchedule::default();
        for e in 0..5 {
            close(s.factor(e, 5), 1.0);
        }
    }

    #[test]
    fn linear_warmup_then_constant() {
        let s = LrSchedule::new(Decay::Constant).with_warmup(4);
        let got: Vec<f64> = (0..6).map(|e| s.factor(e, 6)).collect();
        assert_eq!(got, vec![0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn cosine_hand_values() {
        // W = 2, E = 6 -> D = 4; r = d/4; f = 0.1 + 0.9 (1 + cos(pi r)) / 2.
        let s = LrSchedule::new(Decay::Cosine { min_factor: 0.1 }).with_warmup(2);
        close(s.factor(0, 6), 0.5);
        close(s.factor(1, 6), 1.0);
        close(s.factor(2, 6), 1.0); // d = 0
                                    // d = 1: cos(pi/4) = 0.70710678...; 0.1 + 0.9 * 1.70710678/2 = 0.868198051533946
        close(s.factor(3, 6), 0.868_198_051_533_946_4);
        close(s.factor(4, 6), 0.55); // d = 2: cos(pi/2) = 0
                                     // d = 3: cos(3pi/4) = -0.70710678; 0.1 + 0.9 * 0.29289322/2 = 0.231801948466054
        close(s.factor(5, 6), 0.231_801_948_466_053_6);
        close(s.factor(6, 6), 0.1); // d = D
        close(s.factor(100, 6), 0.1); // clamped
    }

    #[test]
    fn linear_decay_hand_values() {
        // No warm-up, E = 4: f = 1 + (0.2 - 1) e/4.
        let s = LrSchedule::new(Decay::Linear { end_factor: 0.2 });
        close(s.factor(0, 4), 1.0);
        close(s.factor(1, 4), 0.8);
        close(s.factor(2, 4), 0.6);
        close(s.factor(3, 4), 0.4);
        close(s.factor(4, 4), 0.2);
        close(s.factor(9, 4), 0.2);
    }

    #[test]
    fn step_decay_counts_from_end_of_warmup() {
        let s = LrSchedule::new(Decay::Step { step_size: 2, gamma: 0.5 }).with_warmup(1);
        let got: Vec<f64> = (0..7).map(|e| s.factor(e, 7)).collect();
        assert_eq!(got, vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn total_not_longer_than_warmup_gives_one_after_warmup() {
        let s = LrSchedule::new(Decay::Cosine { min_factor: 0.0 }).with_warmup(3);
        close(s.factor(2, 3), 1.0);
        close(s.factor(3, 3), 1.0);
        close(s.factor(5, 2), 1.0);
    }

    #[test]
    fn serde_defaults_and_round_trip() {
        let s: LrSchedule = serde_json::from_str("{}").unwrap();
        assert_eq!(s, LrSchedule::default());
        let s: LrSchedule = serde_json::from_str(r#"{"decay": {"kind": "step", "step_size": 3}}"#).unwrap();
        assert_eq!(s.decay, Decay::Step { step_size: 3, gamma: 0.1 });
        let s: LrSchedule = serde_json::from_str(r#"{"decay": {"kind": "cosine"}}"#).unwrap();
        assert_eq!(s.decay, Decay::Cosine { min_factor: 0.0 });
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<LrSchedule>(&text).unwrap(), s);
        assert!(serde_json::from_str::<LrSchedule>(r#"{"decay": {"kind": "exp"}}"#).is_err());
        assert!(serde_json::from_str::<LrSchedule>(r#"{"warmup": 3}"#).is_err());
        let c: LrSchedule = serde_json::from_str(r#"{"decay": {"kind": "constant"}}"#).unwrap();
        assert_eq!(c.decay, Decay::Constant);
        let typo = r#"{"decay": {"kind": "cosine", "min": 0.1}}"#;
        assert!(serde_json::from_str::<LrSchedule>(typo).is_err());
    }

    #[test]
    fn validate_rejects_bad_values() {
        let bad = [
            Decay::Cosine { min_factor: 1.5 },
            Decay::Cosine { min_factor: f64::NAN },
            Decay::Linear { end_factor: -0.1 },
            Decay::Step { step_size: 0, gamma: 0.5 },
            Decay::Step { step_size: 1, gamma: 0.0 },
        ];
        for d in bad {
            let err = LrSchedule::new(d.clone()).validate().unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{d:?}: {err}");
        }
        LrSchedule::new(Decay::Cosine { min_factor: 0.0 }).validate().unwrap();
    }
}
