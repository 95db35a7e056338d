//! The trial store: every trial of every search, with its dataset's
//! meta-features, so that a new search starts from what worked on the nearest
//! past datasets.
//!
//! Format: JSON lines (one [`StoredTrial`] object per line, UTF-8, appended
//! as each trial finishes; `version` is [`STORE_VERSION`]). Default path:
//! `$AUTOGLM_STORE`, else `~/.autoglm/trials.jsonl`. A line that does not
//! parse is skipped with a warning naming the file and line; nothing else in
//! the file is lost. Delete the line (or the file) to silence it.

use super::meta::MetaFeatures;
use super::space::Config;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The format version of a store line.
pub const STORE_VERSION: u32 = 1;

/// One finished trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTrial {
    pub version: u32,
    pub task: String,
    pub dataset: String,
    pub meta: MetaFeatures,
    pub config: Config,
    /// Validation score (the task's search metric; higher is better).
    pub score: f64,
    /// Epochs it trained (the fidelity).
    pub epochs: usize,
    /// Whether it ran at the search's full fidelity (only these warm-start).
    pub full: bool,
    /// The search it belonged to (`dataset/task/strategy/seed/start time`).
    pub search: String,
}

/// The store file and its trials.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub path: PathBuf,
    pub trials: Vec<StoredTrial>,
    /// Lines skipped while reading, each with the fix.
    pub warnings: Vec<String>,
}

/// The default store path (module docs).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("AUTOGLM_STORE") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".autoglm").join("trials.jsonl")
}

impl Store {
    /// Read `path` (a missing file is an empty store).
    ///
    /// # Errors
    /// [`Error::Io`] when the file exists but cannot be read.
    pub fn open(path: &Path) -> Result<Store> {
        let mut s = Store { path: path.to_path_buf(), ..Store::default() };
        if !path.exists() {
            return Ok(s);
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io("read the trial store", path, e))?;
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<StoredTrial>(line) {
                Ok(t) if t.version == STORE_VERSION && t.score.is_finite() => s.trials.push(t),
                Ok(t) => s.warnings.push(format!(
                    "{}:{}: a version-{} trial with score {}; skipped (this build reads version {STORE_VERSION}); delete the line to silence this",
                    path.display(),
                    i + 1,
                    t.version,
                    t.score
                )),
                Err(e) => s.warnings.push(format!(
                    "{}:{}: not a trial record ({e}); skipped; delete the line (or the file, to start the store afresh) to silence this",
                    path.display(),
                    i + 1
                )),
            }
        }
        Ok(s)
    }

    /// Append `t` to the file (creating it and its folder) and to `self`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn append(&mut self, t: StoredTrial) -> Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create the trial store's folder", dir, e))?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| Error::io("open the trial store", &self.path, e))?;
        let mut line = serde_json::to_string(&t)?;
        line.push('\n');
        f.write_all(line.as_bytes()).map_err(|e| Error::io("append to the trial store", &self.path, e))?;
        self.trials.push(t);
        Ok(())
    }

    /// Up to `k` configurations for a new search on data like `meta`: the best
    /// full-fidelity configurations of the nearest past datasets of the same
    /// task, taken in turn (the nearest's best, the next's best, ..., then the
    /// second best of each), without repeats. Each comes with its dataset and
    /// the meta-feature distance.
    pub fn warm_start(&self, meta: &MetaFeatures, k: usize) -> Vec<(Config, String, f64)> {
        let mut by_ds: std::collections::BTreeMap<&str, Vec<&StoredTrial>> = Default::default();
        for t in self.trials.iter().filter(|t| t.full && t.task == meta.task) {
            by_ds.entry(t.dataset.as_str()).or_default().push(t);
        }
        let mut ds: Vec<(f64, &str, Vec<&StoredTrial>)> = by_ds
            .into_iter()
            .map(|(d, mut ts)| {
                ts.sort_by(|a, b| b.score.total_cmp(&a.score));
                (ts[0].meta.distance(meta), d, ts)
            })
            .collect();
        ds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        let mut out: Vec<(Config, String, f64)> = Vec::new();
        let depth = ds.iter().map(|d| d.2.len()).max().unwrap_or(0);
        for r in 0..depth {
            for (dist, name, ts) in &ds {
                if out.len() >= k {
                    return out;
                }
                if let Some(t) = ts.get(r) {
                    if !out.iter().any(|(c, _, _)| *c == t.config) {
                        out.push((t.config.clone(), name.to_string(), *dist));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(ds: &str, nodes: usize, model: &str, score: f64) -> StoredTrial {
        let base = MetaFeatures::of_nodes("node", &crate::data::karate::load_karate_builtin().unwrap());
        StoredTrial {
            version: STORE_VERSION,
            task: "node".into(),
            dataset: ds.into(),
            meta: MetaFeatures { dataset: ds.into(), nodes, ..base },
            config: Config { model: model.into(), values: Default::default() },
            score,
            epochs: 10,
            full: true,
            search: "s".into(),
        }
    }

    #[test]
    fn nearest_datasets_come_first_and_bad_lines_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/trials.jsonl");
        let mut s = Store::open(&p).unwrap();
        s.append(trial("far", 1_000_000, "gat", 0.9)).unwrap();
        s.append(trial("near", 40, "gcn", 0.7)).unwrap();
        s.append(trial("near", 40, "sage", 0.8)).unwrap();
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{not json\n");
        std::fs::write(&p, text).unwrap();
        let s = Store::open(&p).unwrap();
        assert_eq!(s.trials.len(), 3);
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("trials.jsonl:4") && s.warnings[0].contains("delete the line"), "{}", s.warnings[0]);
        let me = trial("me", 34, "gcn", 0.0).meta;
        let w: Vec<String> = s.warm_start(&me, 3).into_iter().map(|(c, d, _)| format!("{d}:{}", c.model)).collect();
        assert_eq!(w, vec!["near:sage", "far:gat", "near:gcn"]);
    }
}
