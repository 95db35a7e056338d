//! Search spaces and configurations. A [`Space`] is the models a search may
//! choose and the run-file keys it may set, each with a [`SearchDim`]; a
//! [`Config`] is one choice, which becomes a [`RunFile`] that
//! `autoglm train --config` runs as it is.
//!
//! The task builds the space from the data's meta-features (its GraphGym-style
//! design dimensions: depth, width, skip connections, aggregation,
//! normalisation, activation, dropout, learning rate, weight decay) and adds
//! every registered model's own dimensions (the registry's
//! [`SearchSpace`](crate::models::registry::SearchSpace)), active only when
//! that model is chosen.

use crate::models::registry::SearchDim;
use crate::run::RunFile;
use crate::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One searchable setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// Where the value goes in the run file, dotted: `train.model.hidden_dim`,
    /// `train.optimizer.lr`, `model.pe.kind` (a registered model's own option).
    pub key: String,
    pub dim: SearchDim,
    /// `Some(name)`: active only when the search chose this model.
    pub model: Option<String>,
}

impl Param {
    /// A setting every model shares.
    pub fn common(key: &str, dim: SearchDim) -> Param {
        Param { key: key.into(), dim, model: None }
    }
    /// Whether it applies to `model`.
    pub fn active_for(&self, model: &str) -> bool {
        self.model.as_deref().is_none_or(|m| m == model)
    }
}

/// The models and settings a search chooses from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub models: Vec<String>,
    pub params: Vec<Param>,
}

/// A value of a dimension, as it will be written to the run file.
pub type Value = serde_json::Value;

/// One configuration: a model and a value for each of its active settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model: String,
    pub values: BTreeMap<String, Value>,
}

/// The number of choices of a discrete dimension (`None` for floats).
pub fn choices(d: &SearchDim) -> Option<usize> {
    match d {
        SearchDim::Int { values, .. } => Some(values.len()),
        SearchDim::Choice { values, .. } => Some(values.len()),
        SearchDim::Float { .. } => None,
    }
}

/// The value of choice `i` of a discrete dimension; choices spelled `true`,
/// `false` or as numbers become booleans and numbers.
pub fn choice_value(d: &SearchDim, i: usize) -> Value {
    match d {
        SearchDim::Int { values, .. } => Value::from(values[i]),
        SearchDim::Choice { values, .. } => {
            let s = values[i].as_str();
            match s {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => s.parse::<i64>().map(Value::from).or_else(|_| s.parse::<f64>().map(Value::from)).unwrap_or_else(|_| Value::from(s)),
            }
        }
        SearchDim::Float { .. } => Value::Null,
    }
}

/// The index of `v` among a discrete dimension's choices.
pub fn choice_index(d: &SearchDim, v: &Value) -> Option<usize> {
    (0..choices(d)?).find(|&i| &choice_value(d, i) == v)
}

/// `[low, high]` of a float dimension in the coordinates it is searched in (logs when `log`).
pub fn float_range(d: &SearchDim) -> Option<(f64, f64, bool)> {
    match d {
        SearchDim::Float { low, high, log, .. } => Some(if *log { (low.ln(), high.ln(), true) } else { (*low, *high, false) }),
        _ => None,
    }
}

impl Space {
    /// Check the space: at least one model, every dimension non-empty and ordered.
    ///
    /// # Errors
    /// [`Error::Config`] naming the empty or malformed dimension.
    pub fn validate(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::config(
                "search space",
                "no model",
                "no registered model serves this task after the constraints; widen --models (autoglm models lists them)",
            ));
        }
        for p in &self.params {
            let bad = match &p.dim {
                SearchDim::Int { values, .. } => values.is_empty(),
                SearchDim::Choice { values, .. } => values.is_empty(),
                SearchDim::Float { low, high, log, .. } => !(low.is_finite() && high.is_finite() && low <= high) || (*log && *low <= 0.0),
            };
            if bad {
                return Err(Error::config("search space", &p.key, "is empty or has a bad range (floats need low <= high, and low > 0 on a log scale)"));
            }
        }
        Ok(())
    }

    /// The settings active for `model`.
    pub fn active<'a>(&'a self, model: &'a str) -> impl Iterator<Item = &'a Param> + 'a {
        self.params.iter().filter(move |p| p.active_for(model))
    }

    /// A configuration drawn uniformly (log-uniformly for log floats).
    pub fn sample(&self, rng: &mut impl Rng) -> Config {
        let model = self.models[rng.gen_range(0..self.models.len())].clone();
        let values = self.active(&model).map(|p| (p.key.clone(), sample_dim(&p.dim, rng))).collect();
        Config { model, values }
    }

    /// `c` made to fit this space (a configuration from the store, found on
    /// another dataset): `None` when its model is not in the space; settings the
    /// space lacks are dropped, floats clipped into range, unknown choices and
    /// missing settings drawn from `rng`.
    pub fn fit(&self, c: &Config, rng: &mut impl Rng) -> Option<Config> {
        if !self.models.contains(&c.model) {
            return None;
        }
        let mut values = BTreeMap::new();
        for p in self.active(&c.model) {
            let v = match (c.values.get(&p.key), &p.dim) {
                (Some(v), SearchDim::Float { low, high, .. }) if v.as_f64().is_some() => Value::from(v.as_f64().unwrap_or(*low).clamp(*low, *high)),
                (Some(v), d) if choice_index(d, v).is_some() => v.clone(),
                _ => sample_dim(&p.dim, rng),
            };
            values.insert(p.key.clone(), v);
        }
        Some(Config { model: c.model.clone(), values })
    }
}

fn sample_dim(d: &SearchDim, rng: &mut impl Rng) -> Value {
    match float_range(d) {
        Some((lo, hi, log)) => {
            let x = if hi > lo { rng.gen_range(lo..=hi) } else { lo };
            Value::from(if log { x.exp() } else { x })
        }
        None => choice_value(d, rng.gen_range(0..choices(d).unwrap_or(1).max(1))),
    }
}

fn set_path(root: &mut toml::Table, path: &[&str], v: toml::Value) -> Result<()> {
    let (last, head) = path.split_last().ok_or_else(|| Error::config("search key", "", "is empty"))?;
    let mut t = root;
    for k in head {
        t = t
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| Error::config("search key", path.join("."), "crosses a key that is not a table"))?;
    }
    t.insert(last.to_string(), v);
    Ok(())
}

impl Config {
    /// The run file of this configuration on `dataset` for `task`, with
    /// `extra` dotted settings laid over it (the fidelity's `train.epochs`,
    /// a fold index).
    ///
    /// # Errors
    /// [`Error::Config`] when two keys collide (a key inside another key's value).
    pub fn run_file(&self, task: &str, dataset: &str, extra: &[(&str, Value)]) -> Result<RunFile> {
        let mut root = toml::Table::new();
        for (k, v) in self.values.iter().map(|(k, v)| (k.as_str(), v)).chain(extra.iter().map(|(k, v)| (*k, v))) {
            let tv = toml::Value::try_from(v).map_err(|e| Error::config("search value", k, e.to_string()))?;
            set_path(&mut root, &k.split('.').collect::<Vec<_>>(), tv)?;
        }
        let mut rf = RunFile::default();
        rf.run.task = Some(task.into());
        rf.run.dataset = Some(dataset.into());
        rf.run.model = Some(self.model.clone());
        rf.train = root.remove("train");
        rf.model = root.remove("model");
        if let Some((k, _)) = root.into_iter().next() {
            return Err(Error::config("search key", k, "must start with train. or model."));
        }
        Ok(rf)
    }

    /// A short description for leaderboards (`gat hidden_dim=64 lr=0.005 ...`).
    pub fn describe(&self) -> String {
        let mut s = self.model.clone();
        for (k, v) in &self.values {
            let short = k.rsplit('.').next().unwrap_or(k);
            let v = match v.as_f64() {
                Some(f) if v.is_f64() => format!("{f:.3e}").replace("e0", ""),
                _ => v.to_string().trim_matches('"').to_string(),
            };
            s.push_str(&format!(" {short}={v}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn space() -> Space {
        Space {
            models: vec!["gcn".into(), "gat".into()],
            params: vec![
                Param::common("train.optimizer.lr", SearchDim::Float { name: "lr".into(), low: 1e-3, high: 1e-1, log: true }),
                Param::common("train.model.residual", SearchDim::Choice { name: "residual".into(), values: vec!["false".into(), "true".into()] }),
                Param { key: "train.model.heads".into(), dim: SearchDim::Int { name: "heads".into(), values: vec![1, 8] }, model: Some("gat".into()) },
            ],
        }
    }

    #[test]
    fn samples_fit_the_space_and_become_run_files() {
        let s = space();
        s.validate().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        for _ in 0..50 {
            let c = s.sample(&mut rng);
            let lr = c.values["train.optimizer.lr"].as_f64().unwrap();
            assert!((1e-3..=1e-1).contains(&lr));
            assert!(c.values["train.model.residual"].is_boolean());
            assert_eq!(c.values.contains_key("train.model.heads"), c.model == "gat");
            let rf = c.run_file("node", "cora", &[("train.epochs", Value::from(7))]).unwrap();
            assert_eq!(rf.train_u64(&["epochs"]), Some(7));
            assert_eq!(rf.run.model.as_deref(), Some(c.model.as_str()));
            // the run file round-trips through TOML text
            let text = toml::to_string(&rf).unwrap();
            assert_eq!(RunFile::parse(&text, std::path::Path::new("x.toml")).unwrap(), rf);
        }
        let foreign = Config { model: "gat".into(), values: [("train.optimizer.lr".to_string(), Value::from(5.0))].into_iter().collect() };
        let f = s.fit(&foreign, &mut rng).unwrap();
        assert_eq!(f.values["train.optimizer.lr"], Value::from(0.1));
        assert!(f.values.contains_key("train.model.heads"));
        assert!(s.fit(&Config { model: "sage".into(), values: BTreeMap::new() }, &mut rng).is_none());
        let empty = Space { models: vec![], params: vec![] };
        assert!(empty.validate().unwrap_err().to_string().contains("--models"));
    }
}

/// Shorthands for the tasks' design spaces.
pub mod dims {
    use crate::models::registry::SearchDim;

    /// One of these integers.
    pub fn int(name: &str, v: &[i64]) -> SearchDim {
        SearchDim::Int { name: name.into(), values: v.to_vec() }
    }
    /// A float in `[low, high]`, log-uniform.
    pub fn log(name: &str, low: f64, high: f64) -> SearchDim {
        SearchDim::Float { name: name.into(), low, high, log: true }
    }
    /// A float in `[low, high]`, uniform.
    pub fn uniform(name: &str, low: f64, high: f64) -> SearchDim {
        SearchDim::Float { name: name.into(), low, high, log: false }
    }
    /// One of these names.
    pub fn choice(name: &str, v: &[&str]) -> SearchDim {
        SearchDim::Choice { name: name.into(), values: v.iter().map(|s| s.to_string()).collect() }
    }
    /// `false` or `true`.
    pub fn flag(name: &str) -> SearchDim {
        choice(name, &["false", "true"])
    }
}
