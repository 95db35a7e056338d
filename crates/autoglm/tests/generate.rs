//! The generate task end to end through the run boundary: training on a
//! synthetic family and on a QM9 subset (at most 2,000 molecules), sampling
//! from the checkpoint, scoring, and the bad requests.

use autoglm::prelude::*;
use autoglm::run::{self, GenerateSpec, RunEnv, RunFile, Silent};
use autoglm::testing::shared_datasets;
use std::path::Path;

fn small_model(train: &str) -> RunFile {
    let text = format!("[train]\n{train}\n{MODEL}");
    RunFile::parse(&text, Path::new("gen.toml")).unwrap()
}

const MODEL: &str = r#"
[model]
hidden_dim = 32
num_layers = 2
mixture = 2
[model.layer.attention]
heads = { local = 2, khop = 0, global = 2 }
"#;

#[test]
fn community_small_trains_samples_and_scores() {
    let models = ModelRegistry::builtin();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("gen.safetensors");
    let mut job = JobSpec { dataset: Some("community-small".into()), task: Some("generate".into()), ..JobSpec::default() };
    job.overrides.epochs = Some(15);
    job.run_file = small_model("");
    job.checkpoint = Some(ck.clone());
    let mut progress = Silent;
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    let j = &report.json;
    assert_eq!(j["task"], "generate");
    for k in ["mmd_degree", "mmd_clustering", "mmd_orbit"] {
        let v = j["samples"][k].as_f64().unwrap();
        assert!(v.is_finite() && v >= -1e-9, "{k} = {v}");
        assert!(j["baseline_erdos_renyi"][k].as_f64().is_some());
    }
    assert_eq!(j["split"]["test"], 20);
    assert!(j["nll_per_graph"].as_f64().unwrap() > 0.0);
    // the trained model beats the Erdos-Renyi baseline on degrees already
    let (model_deg, er_deg) = (j["samples"]["mmd_degree"].as_f64().unwrap(), j["baseline_erdos_renyi"]["mmd_degree"].as_f64().unwrap());
    assert!(model_deg < er_deg, "degree MMD {model_deg} vs ER {er_deg}");

    // a warm start continues from the checkpoint's weights; another configuration is refused, naming what differs
    let mut more = job.clone();
    more.checkpoint = None;
    more.overrides.epochs = Some(1);
    more.run_file = small_model(&format!("init_from = {:?}", ck.display().to_string()));
    let cont = run::execute_with(&more, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert!(cont.json["train"]["history"][0]["val_nll"].as_f64().unwrap() < 0.9 * j["train"]["history"][0]["val_nll"].as_f64().unwrap());
    more.overrides.hidden = Some(16);
    let e = run::execute_with(&more, &mut RunEnv::new(&mut progress, &models)).unwrap_err().to_string();
    assert!(e.contains("hidden_dim = 32 (here 16)"), "{e}");

    // sampling from the checkpoint is seeded and its lines have the documented fields
    let spec = GenerateSpec { checkpoint: ck.clone(), num: 7, seed: 3, ..GenerateSpec::default() };
    let a = run::generate(&spec, &mut RunEnv::new(&mut progress, &models)).unwrap();
    let b = run::generate(&GenerateSpec { batch_size: Some(2), ..spec.clone() }, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(a.lines, b.lines);
    assert_eq!(a.lines.len(), 7);
    for l in &a.lines {
        let n = l["num_nodes"].as_u64().unwrap() as usize;
        assert_eq!(l["node_types"].as_array().unwrap().len(), n);
        for e in l["edges"].as_array().unwrap() {
            let e = e.as_array().unwrap();
            assert!(e.len() == 3 && (e[0].as_u64().unwrap() as usize) < n && (e[1].as_u64().unwrap() as usize) < n);
        }
    }
    let ev = run::evaluate_generator(&GenerateSpec { num: 20, ..spec.clone() }, None, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert!(ev.json["mmd_degree"].as_f64().is_some());

    // bad requests
    for bad in [
        GenerateSpec { num: 0, ..spec.clone() },
        GenerateSpec { max_nodes: Some(10_000_000), ..spec.clone() },
        GenerateSpec { valence_mask: true, ..spec.clone() },
    ] {
        let e = run::generate(&bad, &mut RunEnv::new(&mut progress, &models)).unwrap_err().to_string();
        assert!(e.contains("num") || e.contains("max_nodes") || e.contains("valence"), "{e}");
    }
    // a checkpoint of another task
    let node_ck = dir.path().join("node.safetensors");
    let mut node_job = JobSpec::new("karate", "gcn").with_task("node");
    node_job.overrides.epochs = Some(2);
    node_job.checkpoint = Some(node_ck.clone());
    run::execute_with(&node_job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    let e = run::generate(&GenerateSpec { checkpoint: node_ck.clone(), num: 1, ..GenerateSpec::default() }, &mut RunEnv::new(&mut progress, &models))
        .unwrap_err()
        .to_string();
    assert!(e.contains("node checkpoint, not a generator"), "{e}");
    let e = run::predict_with(&autoglm::run::PredictSpec { checkpoint: ck, ..Default::default() }, &mut RunEnv::new(&mut progress, &models))
        .unwrap_err()
        .to_string();
    assert!(e.contains("autoglm generate"), "{e}");
}

#[test]
fn unknown_families_and_models_are_named() {
    let models = ModelRegistry::builtin();
    let mut progress = Silent;
    let job = JobSpec { dataset: Some("hexagons".into()), task: Some("generate".into()), ..JobSpec::default() };
    let e = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap_err().to_string();
    assert!(e.contains("hexagons") && e.contains("community-small"), "{e}");
    let job = JobSpec { dataset: Some("grid".into()), task: Some("generate".into()), model: Some("gcn".into()), ..JobSpec::default() };
    let e = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap_err().to_string();
    assert!(e.contains("generator"), "{e}");
}

/// QM9 with 2,000 training molecules and a few epochs: the pipeline runs,
/// every metric is a fraction, and the valence-masked mode is reported
/// separately and is at least as valid.
#[test]
fn qm9_subset_trains_and_reports_molecule_metrics() {
    let Some(data) = shared_datasets("qm9") else { return };
    let models = ModelRegistry::builtin();
    let mut job = JobSpec { dataset: Some("qm9".into()), task: Some("generate".into()), data_dir: Some(data), ..JobSpec::default() };
    job.run_file = small_model("max_train = 2000\nmax_val = 100\nbatch_size = 64\neval_samples = 300");
    job.overrides.epochs = Some(3);
    let mut progress = Silent;
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    let j = &report.json;
    for k in ["validity", "uniqueness", "novelty"] {
        let v = j["samples"][k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{k} = {v}");
    }
    assert_eq!(j["samples"]["num_samples"], 300);
    assert!(j["samples_valence_masked"]["validity"].as_f64().unwrap() >= j["samples"]["validity"].as_f64().unwrap() - 0.05);
    assert!(report.notes.iter().any(|n| n.contains("1-based molecule numbers")), "{:?}", report.notes);
}
