//! Charts of results JSON with plotters' SVG backend (text is left to the SVG
//! renderer, so no font library is needed), rasterised to PNG by resvg:
//! - a run (`autoglm train --out`): loss and the validation metric (the test
//!   curve, labelled, where the protocol has no validation split) per epoch,
//!   one line per run or fold;
//! - a comparison (`compare.json`): the first test metric per dataset as bars,
//!   one per model, with ± one standard deviation as error bars;
//! - searches (`summary.json` of `autoglm auto`, one or more): the best
//!   full-fidelity validation score after each configuration.

use anyhow::{bail, Context, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const W: u32 = 1000;
const H: u32 = 460;
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn read(p: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))
}

/// Draw `files` (module docs) to `out` (.svg and .png; default next to the first file).
pub fn plot_json(files: &[PathBuf], out: Option<&Path>) -> Result<()> {
    let docs: Vec<Value> = files.iter().map(|f| read(f)).collect::<Result<_>>()?;
    let base = out.map(Path::to_path_buf).unwrap_or_else(|| files[0].with_extension(""));
    let svg = if docs.iter().all(|d| d.get("curves").is_some()) {
        let labels: Vec<String> = docs
            .iter()
            .zip(files)
            .map(|(d, f)| {
                // warm when the search started from stored configurations (its
                // warm.json, or warm_fold{k}.json per outer fold, lists them)
                let lists: Vec<Vec<Value>> = std::fs::read_dir(f.parent().unwrap_or(Path::new(".")))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("warm") && n.ends_with(".json")))
                    .filter_map(|e| serde_json::from_str::<Vec<Value>>(&std::fs::read_to_string(e.path()).ok()?).ok())
                    .collect();
                let fallback = d["warm_start"].as_u64().unwrap_or(0) > 0 && d["store"].is_string();
                let warm = if lists.is_empty() { fallback } else { lists.iter().any(|w| !w.is_empty()) };
                format!("{} seed {}{} ({})", d["strategy"].as_str().unwrap_or("?"), d["seed"], if warm { " warm" } else { "" }, f.display())
            })
            .collect();
        search_chart(&docs, &labels)?
    } else if docs.len() == 1 && docs[0]["kind"] == "compare" {
        compare_chart(&docs[0])?
    } else if docs.len() == 1 && (docs[0]["runs"].is_array() || docs[0]["folds"].is_array()) {
        run_chart(&docs[0])?
    } else {
        bail!("cannot draw these files: pass one run JSON (autoglm train --out), one compare.json, or one or more summary.json of autoglm auto")
    };
    let (s, p) = crate::plot::write_svg_png(&svg, &base)?;
    eprintln!("drew {} and {}", s.display(), p.display());
    Ok(())
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing: {e:?}")
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A line in colour `c`, with its legend entry.
fn line(chart: &mut Chart<'_, '_>, pts: Vec<(f64, f64)>, c: RGBColor, name: &str) -> Result<()> {
    chart
        .draw_series(LineSeries::new(pts, c.stroke_width(2)))
        .map_err(err)?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    Ok(())
}

/// The legend box at `pos`.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, pos: SeriesLabelPosition) -> Result<()> {
    chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK.mix(0.3)).position(pos).draw().map_err(err)
}

/// One run's `(name, loss per epoch, validation metric per epoch)`.
type Series = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);

/// The series of every run or fold, and the metric's name: the validation
/// metric, or the test curve where the run has no validation split (the
/// GIN-paper protocol), labelled so.
fn histories(doc: &Value) -> (Vec<Series>, String) {
    let (items, what) = match doc["runs"].as_array() {
        Some(a) => (a.clone(), "seed"),
        None => (doc["folds"].as_array().cloned().unwrap_or_default(), "fold"),
    };
    let has = |key: &str| items.iter().filter_map(|r| r["history"].as_array()).flatten().any(|e| e[key].is_number());
    let metric = ["val_acc", "val_auc", "test_acc", "test_auc"].into_iter().find(|k| has(k)).unwrap_or("val_acc").to_string();
    let series = items
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, r)| {
            let h = r["history"].as_array().cloned().unwrap_or_default();
            let loss = h.iter().filter_map(|e| Some((e["epoch"].as_f64()?, e["loss"].as_f64()?))).collect();
            let val = h.iter().filter_map(|e| Some((e["epoch"].as_f64()?, e[metric.as_str()].as_f64()?))).collect();
            let id = r.get("seed").or(r.get("fold")).map_or(i.to_string(), |v| v.to_string());
            (format!("{what} {id}"), loss, val)
        })
        .collect();
    (series, metric)
}

fn metric_label(metric: &str) -> String {
    let l = metric.replace('_', " ");
    if metric.starts_with("test") {
        format!("{l} (no validation split)")
    } else {
        l
    }
}

fn bounds(pts: impl Iterator<Item = (f64, f64)>) -> (f64, f64, f64, f64) {
    let mut b = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in pts {
        b = (b.0.min(x), b.1.max(x), b.2.min(y), b.3.max(y));
    }
    if !b.0.is_finite() {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((b.3 - b.2) * 0.05).max(1e-6);
    (b.0, b.1.max(b.0 + 1.0), b.2 - pad, b.3 + pad)
}

fn run_chart(doc: &Value) -> Result<String> {
    let (series, metric) = histories(doc);
    if series.iter().all(|s| s.1.is_empty()) {
        bail!("the run JSON has no per-epoch history to draw");
    }
    let title = format!("{} {} on {}", doc["task"].as_str().unwrap_or(""), doc["model"].as_str().unwrap_or(""), doc["dataset"].as_str().unwrap_or(""));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(&title, ("sans-serif", 20)).map_err(err)?;
        let (left, right) = root.split_horizontally(W / 2);
        for (area, which, label) in [(left, 1usize, "training loss".to_string()), (right, 2, metric_label(&metric))] {
            let pts = || series.iter().flat_map(|s| if which == 1 { s.1.clone() } else { s.2.clone() });
            let (x0, x1, y0, y1) = bounds(pts());
            let mut chart = ChartBuilder::on(&area)
                .margin(12)
                .caption(&label, ("sans-serif", 16))
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(err)?;
            chart.configure_mesh().x_desc("epoch").y_desc(&label).light_line_style(WHITE.mix(0.0)).draw().map_err(err)?;
            for (i, s) in series.iter().enumerate() {
                let c = PALETTE[i % PALETTE.len()];
                let data = if which == 1 { &s.1 } else { &s.2 };
                line(&mut chart, data.clone(), c, &s.0)?;
            }
            if which == 2 {
                legend(&mut chart, SeriesLabelPosition::LowerRight)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn compare_chart(doc: &Value) -> Result<String> {
    let cells = doc["cells"].as_array().cloned().unwrap_or_default();
    let metric = doc["metrics"].as_array().and_then(|m| m.first()).and_then(|m| m.as_str()).unwrap_or("accuracy").to_string();
    let mut datasets: Vec<String> = Vec::new();
    let mut models: Vec<String> = Vec::new();
    for c in &cells {
        let (d, m) = (c["dataset"].as_str().unwrap_or("").to_string(), c["model"].as_str().unwrap_or("").to_string());
        if !datasets.contains(&d) {
            datasets.push(d);
        }
        if !models.contains(&m) {
            models.push(m);
        }
    }
    // (dataset index, model index, mean, std) of the metric each dataset reports first
    let mut bars = Vec::new();
    for c in &cells {
        let ms = c["metrics"].as_array().cloned().unwrap_or_default();
        let first = ms.first().and_then(|m| Some((m[0].as_str()?.to_string(), m[1].as_f64()?, m[2].as_f64()?)));
        if let Some((_, mean, sd)) = first {
            let di = datasets.iter().position(|d| d == c["dataset"].as_str().unwrap_or("")).unwrap_or(0);
            let mi = models.iter().position(|m| m == c["model"].as_str().unwrap_or("")).unwrap_or(0);
            bars.push((di, mi, mean * 100.0, sd * 100.0));
        }
    }
    if bars.is_empty() {
        bail!("compare.json has no cell with a metric to draw");
    }
    let lo = bars.iter().map(|b| b.2 - b.3).fold(f64::INFINITY, f64::min);
    let hi = bars.iter().map(|b| b.2 + b.3).fold(f64::NEG_INFINITY, f64::max);
    let y0 = (lo - (hi - lo) * 0.3).max(0.0).floor();
    let y1 = (hi + (hi - lo) * 0.1).min(100.0).ceil().max(y0 + 1.0);
    let nm = models.len() as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = format!("test {} (mean ± std over {} seeds or the folds; each dataset's first metric)", metric, doc["seeds"]);
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .caption(&title, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..datasets.len() as f64, y0..y1)
            .map_err(err)?;
        let names = datasets.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(datasets.len() * 2 + 1)
            .x_label_formatter(&move |x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 1e-6 {
                    names.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("test metric (%)")
            .draw()
            .map_err(err)?;
        for (mi, m) in models.iter().enumerate() {
            let c = PALETTE[mi % PALETTE.len()];
            let mine: Vec<_> = bars.iter().filter(|b| b.1 == mi).copied().collect();
            let x = |di: usize| di as f64 + 0.1 + 0.8 * (mi as f64 + 0.5) / nm;
            let half = 0.8 / nm * 0.4;
            chart
                .draw_series(mine.iter().map(|b| Rectangle::new([(x(b.0) - half, y0), (x(b.0) + half, b.2)], c.filled())))
                .map_err(err)?
                .label(m)
                .legend(move |(px, py)| Rectangle::new([(px, py - 5), (px + 12, py + 5)], c.filled()));
            chart.draw_series(mine.iter().map(|b| ErrorBar::new_vertical(x(b.0), b.2 - b.3, b.2, b.2 + b.3, BLACK.stroke_width(1), 8))).map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn search_chart(docs: &[Value], labels: &[String]) -> Result<String> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (d, l) in docs.iter().zip(labels) {
        for c in d["curves"].as_array().cloned().unwrap_or_default() {
            let pts: Vec<(f64, f64)> =
                c["best_so_far"].as_array().cloned().unwrap_or_default().iter().filter_map(|p| Some((p["configs"].as_f64()?, p["best"].as_f64()?))).collect();
            let name = if c["fold"].is_null() { l.clone() } else { format!("{l}, fold {}", c["fold"]) };
            series.push((name, pts));
        }
    }
    if series.iter().all(|s| s.1.is_empty()) {
        bail!("no search reached full fidelity yet: nothing to draw");
    }
    let score = docs[0]["score"].as_str().unwrap_or("score");
    let (x0, x1, y0, y1) = bounds(series.iter().flat_map(|s| s.1.clone()));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = format!("{} {}: best validation {score} so far", docs[0]["task"].as_str().unwrap_or(""), docs[0]["dataset"].as_str().unwrap_or(""));
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .caption(&title, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0.min(1.0)..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("configurations tried")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(format!("best full-fidelity validation {score}"))
            .draw()
            .map_err(err)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            // a step curve: the best holds until the next improvement
            let mut steps = Vec::new();
            for (k, p) in pts.iter().enumerate() {
                if k > 0 {
                    steps.push((p.0, pts[k - 1].1));
                }
                steps.push(*p);
            }
            line(&mut chart, steps, c, name)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
