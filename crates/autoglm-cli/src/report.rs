//! Shared CLI pieces: run files, progress bars, tables, JSON output.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::Path;

/// A TOML run configuration: `[run]` (dataset, task, runs, seed) and `[train]`
/// (the task's training configuration, e.g. `autoglm::tasks::node::NodeTrainConfig`).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    #[serde(default)]
    pub run: RunSection,
    /// Kept as a TOML value; each task deserialises it into its own config type.
    #[serde(default)]
    pub train: Option<toml::Value>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub task: Option<String>,
}

impl RunFile {
    pub fn load(path: Option<&Path>) -> Result<RunFile> {
        let Some(p) = path else { return Ok(RunFile::default()) };
        let text = std::fs::read_to_string(p).with_context(|| format!("reading run configuration {}", p.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: not a valid run configuration (sections [run] and [train])", p.display()))
    }
    pub fn task(&self) -> Result<Option<crate::Task>> {
        Ok(match self.run.task.as_deref() {
            None => None,
            Some("node") => Some(crate::Task::Node),
            Some("link") => Some(crate::Task::Link),
            Some("graph") => Some(crate::Task::Graph),
            Some(t) => anyhow::bail!("unknown task '{t}' in the run configuration; known: node, link, graph"),
        })
    }
    /// The `[train]` section laid over `default` (keys it sets win; nested tables merge).
    pub fn train_config<T: serde::de::DeserializeOwned + Serialize>(&self, default: T) -> Result<T> {
        match &self.train {
            None => Ok(default),
            Some(v) => {
                let mut base = toml::Value::try_from(&default).context("serialising the default configuration")?;
                merge(&mut base, v);
                Ok(base.try_into().context("the [train] section of the run configuration")?)
            }
        }
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

/// A progress bar over `len` steps (hidden with `quiet` or when not on a terminal).
pub fn progress(len: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    pb
}

/// Mean and population standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// Print an aligned text table.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{:<width$}", c, width = w[i])).collect();
        println!("| {} |", s.join(" | "));
    };
    line(headers.iter().map(|s| s.to_string()).collect());
    println!("|{}|", w.iter().map(|n| "-".repeat(n + 2)).collect::<Vec<_>>().join("|"));
    for r in rows {
        line(r.clone());
    }
}

/// Write JSON atomically (pretty-printed).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    autoglm::checkpoint::write_atomic(path, &bytes)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// `autoglm datasets`.
pub fn list_datasets(dir: &Path) -> Result<()> {
    let list = autoglm::data::registry::list_datasets(dir);
    println!("data directory: {}{}", dir.display(), if dir.is_dir() { "" } else { " (not found)" });
    let rows: Vec<Vec<String>> = list.iter().map(|d| vec![d.name.clone(), d.kind.clone(), d.summary.clone(), d.path.display().to_string()]).collect();
    print_table(&["name", "kind", "summary", "path"], &rows);
    Ok(())
}
