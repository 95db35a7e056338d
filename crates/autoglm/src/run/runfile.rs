//! Run files: TOML with a `[run]` section (what to run) and a `[train]`
//! section (the task's training configuration, laid over the recipe).
//!
//! ```toml
//! [run]
//! task = "node"        # node | link | graph (default: recognised from the data)
//! dataset = "cora"
//! model = "gat"
//! runs = 10
//! seed = 0
//! [train]              # e.g. autoglm::tasks::node::NodeTrainConfig
//! epochs = 300
//! [train.optimizer]
//! kind = "adamw"
//! ```
//!
//! Flags the user typed win over the run file, which wins over the recipe.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A parsed run file.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    #[serde(default)]
    pub run: RunSection,
    /// Kept as a TOML value; each task deserialises it into its own config type.
    #[serde(default)]
    pub train: Option<toml::Value>,
    /// The model's own options (a registered model's, such as the graph
    /// transformer's head groups and encodings), passed as `ModelArgs::options`.
    #[serde(default)]
    pub model: Option<toml::Value>,
}

/// The `[run]` section.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub task: Option<String>,
    pub dataset: Option<String>,
    pub model: Option<String>,
    pub runs: Option<u64>,
    pub seed: Option<u64>,
}

impl RunFile {
    /// Read `path` (an absent path gives the empty run file).
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Parse`] naming the file,
    /// line and key when it is not a valid run file.
    pub fn load(path: Option<&Path>) -> Result<RunFile> {
        let Some(p) = path else { return Ok(RunFile::default()) };
        let bytes = std::fs::read(p).map_err(|e| Error::io("read run configuration", p, e))?;
        let text = String::from_utf8(bytes).map_err(|e| Error::parse(p, None, format!("not UTF-8 text ({e})")))?;
        RunFile::parse(text.trim_start_matches('\u{feff}'), p)
    }

    /// Parse run-file text; `path` names it in errors.
    ///
    /// # Errors
    /// [`Error::Parse`] with the line of the problem.
    pub fn parse(text: &str, path: &Path) -> Result<RunFile> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::parse(path, line, format!("{}: a run file has sections [run] (task, dataset, model, runs, seed) and [train]", e.message().trim()))
        })
    }

    /// The `[train]` section laid over `default` (keys it sets win; nested tables merge).
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending key when the section does not fit the task's configuration.
    pub fn train_config<T: serde::de::DeserializeOwned + Serialize>(&self, default: T) -> Result<T> {
        match &self.train {
            None => Ok(default),
            Some(v) => {
                let mut base = toml::Value::try_from(&default).map_err(|e| Error::config("train", "recipe", e.to_string()))?;
                merge(&mut base, v);
                base.try_into().map_err(|e: toml::de::Error| {
                    Error::config("[train]", "run file", format!("{}; see the task's training configuration for the keys it accepts", e.message().trim()))
                })
            }
        }
    }

    /// The `[model]` section as JSON (`null` without one).
    ///
    /// # Errors
    /// [`Error::Config`] when it is not a table.
    pub fn model_options(&self) -> Result<serde_json::Value> {
        match &self.model {
            None => Ok(serde_json::Value::Null),
            Some(v) if v.is_table() => serde_json::to_value(v).map_err(|e| Error::config("[model]", "run file", e.to_string())),
            Some(_) => Err(Error::config("[model]", "run file", "must be a table of the model's options")),
        }
    }

    /// A string at `path` inside `[train]` (for example `["model", "model"]`).
    pub fn train_str(&self, path: &[&str]) -> Option<String> {
        let mut v = self.train.as_ref()?;
        for k in path {
            v = v.get(k)?;
        }
        v.as_str().map(String::from)
    }

    /// An integer at `path` inside `[train]`.
    pub fn train_u64(&self, path: &[&str]) -> Option<u64> {
        let mut v = self.train.as_ref()?;
        for k in path {
            v = v.get(k)?;
        }
        v.as_integer().and_then(|i| u64::try_from(i).ok())
    }
}

fn merge(base: &mut toml::Value, over: &toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) if bv.is_table() && v.is_table() => merge(bv, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_keys_parse_and_errors_name_the_line() {
        let f = RunFile::parse(
            "[run]\ntask = \"node\"\ndataset = \"cora\"\nmodel = \"gat\"\nruns = 3\nseed = 7\n[train]\nepochs = 5\n[train.model]\nmodel = \"gat\"\n",
            Path::new("r.toml"),
        )
        .unwrap();
        assert_eq!(f.run.runs, Some(3));
        assert_eq!(f.train_str(&["model", "model"]).as_deref(), Some("gat"));
        assert_eq!(f.train_u64(&["epochs"]), Some(5));
        let e = RunFile::parse("[run]\nfoo = 1\n", Path::new("r.toml")).unwrap_err().to_string();
        assert!(e.contains("r.toml:2") && e.contains("foo"), "{e}");
    }
}
