//! A model defined outside the library crate, registered once, trained by the
//! node and the graph task through the run boundary (as the CLI and a server
//! would), and reloaded from its checkpoint by `run::predict_with`.

use autoglm::models::registry::{ModelArgs, ModelEntry, ModelRegistry, SearchSpace};
use autoglm::prelude::*;
use autoglm::run::{self, PredictSpec, RunEnv, Silent};
use std::io::Write;
use std::path::Path;

/// Two GCN layers with a ReLU between them: the user's own model.
struct TwoHop(GcnConv, GcnConv);

impl Module for TwoHop {
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let h = self.0.forward_relu(g, x, ctx)?;
        self.1.forward(g, &h.into(), ctx)
    }
}

fn registry() -> ModelRegistry {
    let entry = ModelEntry::new("twohop", &["node", "graph", "link"], SearchSpace::common(), |a: &ModelArgs, p: &Params| {
        let first = GcnConvConfig::new(a.in_dim, a.hidden_dim).init(&p.pp("first"))?;
        Ok(Box::new(TwoHop(first, GcnConvConfig::new(a.hidden_dim, a.out_dim).init(&p.pp("second"))?)) as Box<dyn Module>)
    });
    ModelRegistry::builtin().with(entry).unwrap()
}

/// A TU-format folder of `n` graphs: paths (class 0) and stars (class 1), one node label.
fn write_tu(dir: &Path, name: &str, n: usize) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let file = |suffix: &str| std::io::BufWriter::new(std::fs::File::create(d.join(format!("{name}_{suffix}.txt"))).unwrap());
    let (mut a, mut ind, mut gl, mut nl) = (file("A"), file("graph_indicator"), file("graph_labels"), file("node_labels"));
    let mut base = 1;
    for i in 0..n {
        let size = 4 + i % 5;
        let star = i % 2 == 1;
        for j in 1..size {
            let u = if star { 0 } else { j - 1 };
            writeln!(a, "{}, {}", base + u, base + j).unwrap();
            writeln!(a, "{}, {}", base + j, base + u).unwrap();
        }
        for _ in 0..size {
            writeln!(ind, "{}", i + 1).unwrap();
            writeln!(nl, "0").unwrap();
        }
        writeln!(gl, "{}", usize::from(star)).unwrap();
        base += size;
    }
}

#[test]
fn an_outside_model_trains_on_the_node_task_and_reloads() {
    let models = registry();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("twohop.safetensors");
    let mut job = JobSpec::new("karate", "twohop").with_task("node").with_runs(2).with_overrides(Overrides { epochs: Some(60), ..Overrides::default() });
    job.checkpoint = Some(ck.clone());
    let mut progress = Silent;
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(report.json["model"], "twohop");
    let runs = report.json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let first_loss = runs[0]["history"][0]["loss"].as_f64().unwrap();
    let last_loss = runs[0]["history"][59]["loss"].as_f64().unwrap();
    assert!(last_loss < first_loss, "loss did not fall: {first_loss} -> {last_loss}");
    assert!(report.json["summary"]["test_acc_mean"].as_f64().unwrap() > 0.6, "{}", report.headline);
    // the checkpoint names the registered model and reloads through the registry
    let spec = PredictSpec { checkpoint: ck.clone(), ..PredictSpec::default() };
    let out = run::predict_with(&spec, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(out["model"], "twohop");
    assert_eq!(out["predictions"].as_array().unwrap().len(), 34);
    // without the registration the model is unknown, and the message lists the known ones
    let e = run::predict(&spec, &mut progress).unwrap_err().to_string();
    assert!(e.contains("twohop") && e.contains("gcn"), "{e}");
}

#[test]
fn an_outside_model_is_a_link_encoder() {
    let models = registry();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("link.safetensors");
    let mut job = JobSpec::new("karate", "twohop").with_task("link").with_overrides(Overrides { epochs: Some(40), ..Overrides::default() });
    job.checkpoint = Some(ck.clone());
    let mut progress = Silent;
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(report.json["model"], "twohop");
    assert!(report.json["summary"]["test"]["auc"]["mean"].as_f64().unwrap() > 0.5, "{}", report.headline);
    let pairs = dir.path().join("pairs.csv");
    std::fs::write(&pairs, "src,dst\n0,1\n0,33\n").unwrap();
    let spec = PredictSpec { checkpoint: ck, pairs: Some(pairs), ..PredictSpec::default() };
    let out = run::predict_with(&spec, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(out["pairs"].as_array().unwrap().len(), 2);
}

#[test]
fn an_outside_model_trains_on_the_graph_task() {
    let models = registry();
    let dir = tempfile::tempdir().unwrap();
    write_tu(dir.path(), "SHAPES", 40);
    let mut job = JobSpec::new("SHAPES", "twohop").with_overrides(Overrides { epochs: Some(30), folds: Some(2), ..Overrides::default() });
    job.data_dir = Some(dir.path().to_path_buf());
    let mut progress = Silent;
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    // recognised as graph classification from the TU files
    assert_eq!(report.json["task"], "graph");
    assert_eq!(report.json["folds"].as_array().unwrap().len(), 2);
    // the registered encoder's parameters live under convs.0
    assert!(report.json["summary"]["accuracy_mean"].as_f64().unwrap() > 0.5, "{}", report.headline);
    // a model that does not serve the task is refused with the ones that do
    let job = JobSpec { model: Some("vgae".into()), ..job };
    let e = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap_err().to_string();
    assert!(e.contains("does not serve the graph task") && e.contains("twohop"), "{e}");
}
