//! Proposal strategies: uniform random, and TPE (tree-structured Parzen
//! estimators, Bergstra et al. 2011) through the `tpe` crate.
//!
//! Why `tpe`: a small, focused implementation by the author of `kurobako`
//! (a black-box optimisation benchmark), univariate TPE with Parzen
//! estimators for numbers and histograms for choices, NaN for a setting a
//! trial did not use (conditional spaces), seeded through our `rand` 0.8.
//! One optimiser per dimension is refitted on the scores so far before each
//! batch of proposals; the model is one more categorical dimension.

use super::space::{choice_index, choice_value, choices, float_range, Config, Space, Value};
use crate::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a search proposes configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Tree-structured Parzen estimators after [`STARTUP`] random proposals.
    #[default]
    Tpe,
    /// Uniform random proposals (the baseline).
    Random,
}

impl std::str::FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Strategy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tpe" => Ok(Strategy::Tpe),
            "random" => Ok(Strategy::Random),
            _ => Err(Error::unknown("strategy", s, &["tpe", "random"])),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::Tpe => "tpe",
            Strategy::Random => "random",
        })
    }
}

/// Scored configurations TPE needs before it leaves random proposals.
pub const STARTUP: usize = 8;

/// A scored configuration (validation score, higher is better).
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub config: &'a Config,
    pub score: f64,
}

fn tpe_err(e: impl std::fmt::Display) -> Error {
    Error::config("tpe", "proposal", e.to_string())
}

/// `n` new configurations from `space` given the observations `obs` (all at one fidelity).
///
/// # Errors
/// When the TPE estimators cannot be built (a malformed space).
pub fn propose(space: &Space, strategy: Strategy, obs: &[Observation<'_>], n: usize, rng: &mut impl Rng) -> Result<Vec<Config>> {
    if strategy == Strategy::Random || obs.len() < STARTUP {
        return Ok((0..n).map(|_| space.sample(rng)).collect());
    }
    // tpe minimises
    let mut model_opt = tpe::TpeOptimizer::new(tpe::histogram_estimator(), tpe::categorical_range(space.models.len()).map_err(tpe_err)?);
    for o in obs {
        if let Some(i) = space.models.iter().position(|m| *m == o.config.model) {
            model_opt.tell(i as f64, -o.score).map_err(tpe_err)?;
        }
    }
    let mut opts = Vec::with_capacity(space.params.len());
    for p in &space.params {
        let (range, est, log) = match float_range(&p.dim) {
            Some((lo, hi, _)) if hi <= lo => {
                opts.push(None);
                continue;
            }
            Some((lo, hi, log)) => (tpe::range(lo, hi + (hi - lo) * 1e-9).map_err(tpe_err)?, tpe::parzen_estimator(), log),
            None => (tpe::categorical_range(choices(&p.dim).unwrap_or(1)).map_err(tpe_err)?, tpe::histogram_estimator(), false),
        };
        let mut opt = tpe::TpeOptimizer::new(est, range);
        for o in obs {
            let x = match o.config.values.get(&p.key) {
                None => f64::NAN,
                Some(v) => match float_range(&p.dim) {
                    Some(_) => v.as_f64().map_or(f64::NAN, |f| if log { f.ln() } else { f }),
                    None => choice_index(&p.dim, v).map_or(f64::NAN, |i| i as f64),
                },
            };
            // a value from the store may sit outside this space's range: leave it out
            if opt.tell(x, -o.score).is_err() {
                opt.tell(f64::NAN, -o.score).map_err(tpe_err)?;
            }
        }
        opts.push(Some((opt, log)));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mi = (model_opt.ask(rng).map_err(tpe_err)? as usize).min(space.models.len() - 1);
        let model = space.models[mi].clone();
        let mut values = BTreeMap::new();
        for (p, o) in space.params.iter().zip(opts.iter_mut()) {
            if !p.active_for(&model) {
                continue;
            }
            let v = match (o, float_range(&p.dim)) {
                (None, Some((lo, _, log))) => Value::from(if log { lo.exp() } else { lo }),
                (Some((opt, log)), Some((lo, hi, _))) => {
                    let x = opt.ask(rng).map_err(tpe_err)?.clamp(lo, hi);
                    Value::from(if *log { x.exp() } else { x })
                }
                (Some((opt, _)), None) => {
                    let k = choices(&p.dim).unwrap_or(1);
                    choice_value(&p.dim, (opt.ask(rng).map_err(tpe_err)? as usize).min(k - 1))
                }
                (None, None) => choice_value(&p.dim, 0),
            };
            values.insert(p.key.clone(), v);
        }
        out.push(Config { model, values });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::registry::SearchDim;
    use crate::run::auto::space::Param;
    use rand::SeedableRng;

    /// TPE concentrates on the good region of a toy objective; random does not.
    #[test]
    fn tpe_beats_random_on_a_toy_objective() {
        let space = Space {
            models: vec!["a".into(), "b".into()],
            params: vec![
                Param::common("train.x", SearchDim::Float { name: "x".into(), low: 1e-4, high: 1.0, log: true }),
                Param::common("train.c", SearchDim::Choice { name: "c".into(), values: vec!["p".into(), "q".into(), "r".into()] }),
            ],
        };
        let f = |c: &Config| {
            let x = c.values["train.x"].as_f64().unwrap().ln();
            -(x - (0.01f64).ln()).powi(2) - if c.values["train.c"] == "q" { 0.0 } else { 3.0 } - if c.model == "b" { 0.0 } else { 2.0 }
        };
        let run = |s: Strategy, seed: u64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut hist: Vec<(Config, f64)> = vec![];
            for _ in 0..12 {
                let obs: Vec<Observation> = hist.iter().map(|(c, v)| Observation { config: c, score: *v }).collect();
                let batch = propose(&space, s, &obs, 4, &mut rng).unwrap();
                for c in batch {
                    let v = f(&c);
                    hist.push((c, v));
                }
            }
            // the mean score of the last 16 proposals
            hist[hist.len() - 16..].iter().map(|h| h.1).sum::<f64>() / 16.0
        };
        let (mut tpe, mut rnd) = (0.0, 0.0);
        for seed in 0..3 {
            tpe += run(Strategy::Tpe, seed);
            rnd += run(Strategy::Random, seed);
        }
        assert!(tpe > rnd + 1.0, "tpe {tpe} random {rnd}");
        // seeded: the same seed gives the same proposals
        let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        assert_eq!(propose(&space, Strategy::Random, &[], 3, &mut r1).unwrap(), propose(&space, Strategy::Random, &[], 3, &mut r2).unwrap());
    }
}
