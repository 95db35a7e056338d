//! Printing: progress bars, tables, JSON files, listings.

use anyhow::Result;
use autoglm::run::{Progress, Report, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::Path;

/// Progress bars on stderr (hidden with `--quiet`); notes as lines on stderr.
pub struct Bars {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars { quiet, bar: None }
    }
}

impl Progress for Bars {
    fn start(&mut self, label: &str, total: u64) {
        if self.quiet {
            return;
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
        );
        pb.set_prefix(label.to_string());
        self.bar = Some(pb);
    }
    fn step(&mut self, pos: u64, msg: &str) {
        if let Some(pb) = &self.bar {
            pb.set_position(pos);
            pb.set_message(msg.to_string());
        }
    }
    fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
    }
    fn note(&mut self, msg: &str) {
        match &self.bar {
            Some(pb) => pb.suspend(|| eprintln!("{msg}")),
            None => eprintln!("{msg}"),
        }
    }
}

/// Tables on stdout, then the headline.
pub fn print_report(r: &Report) {
    for (i, t) in r.tables.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", t.render());
    }
    println!("{}", r.headline);
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
    let mut t = Table::new(&["name", "kind", "summary", "path"]);
    t.rows = list.iter().map(|d| vec![d.name.clone(), d.kind.clone(), d.summary.clone(), d.path.display().to_string()]).collect();
    print!("{}", t.render());
    Ok(())
}

/// `autoglm models`.
pub fn list_models(models: &autoglm::models::registry::ModelRegistry) -> Result<()> {
    let mut t = Table::new(&["task", "recognised from the data", "models"]);
    for task in autoglm::run::tasks() {
        let mut names: Vec<&str> = task.own_models().to_vec();
        names.extend(models.serving(task.name()).map(|e| e.name.as_str()));
        t.rows.push(vec![task.name().to_string(), task.describe().to_string(), names.join(", ")]);
    }
    print!("{}", t.render());
    Ok(())
}
