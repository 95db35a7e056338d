//! The router and AutoML end to end on the built-in karate club (no data folder needed).

use autoglm::models::registry::{ModelArgs, ModelEntry, ModelRegistry, SearchDim, SearchSpace};
use autoglm::nn::{GcnConvConfig, Module, Params};
use autoglm::run::auto::{auto_with, AutoSpec, Strategy};
use autoglm::run::{RunEnv, Silent};

fn spec(out: &std::path::Path, store: &std::path::Path) -> AutoSpec {
    AutoSpec { dataset: "karate".into(), trials: Some(3), out: out.into(), store: Some(store.into()), final_runs: 2, jobs: Some(2), ..AutoSpec::default() }
}

#[test]
fn three_trials_on_karate_are_seeded_resumable_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.jsonl");
    let models = ModelRegistry::builtin();
    let mut silent = Silent;
    let a = auto_with(&spec(&dir.path().join("a"), &store), &mut RunEnv::new(&mut silent, &models)).unwrap();
    assert_eq!(a.json["task"], "node");
    assert_eq!(a.json["configurations"], 3);
    assert!(a.json["test"]["accuracy"]["mean"].as_f64().unwrap() > 0.5);
    for f in ["summary.json", "trials.json", "trials.jsonl", "best.toml", "best.safetensors", "final.json"] {
        assert!(dir.path().join("a").join(f).is_file(), "{f}");
    }
    // the same seed and trial count give the same trials (with one job at a time too)
    let b = auto_with(&AutoSpec { jobs: Some(1), no_store: true, ..spec(&dir.path().join("b"), &store) }, &mut RunEnv::new(&mut silent, &models)).unwrap();
    let trials = |r: &autoglm::run::Report| r.json["best"].clone();
    assert_eq!(trials(&a), trials(&b));
    // best.toml reproduces the final retraining
    let rf = autoglm::run::RunFile::load(Some(&dir.path().join("a/best.toml"))).unwrap();
    let job = autoglm::run::JobSpec { run_file: rf, ..Default::default() };
    let again = autoglm::run::execute_with(&job, &mut RunEnv::new(&mut silent, &models)).unwrap();
    let fin: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/final.json")).unwrap()).unwrap();
    assert_eq!(again.json["summary"]["test_acc_mean"], fin["summary"]["test_acc_mean"]);
    // the store holds every scored trial; a rerun into the same folder needs --resume, which reuses them
    let lines = std::fs::read_to_string(&store).unwrap().lines().count();
    assert!(lines >= 3, "{lines}");
    let e = auto_with(&spec(&dir.path().join("a"), &store), &mut RunEnv::new(&mut silent, &models)).unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    let r = auto_with(&AutoSpec { resume: true, no_final: true, ..spec(&dir.path().join("a"), &store) }, &mut RunEnv::new(&mut silent, &models)).unwrap();
    assert_eq!(r.json["best"], a.json["best"]);
    assert_eq!(std::fs::read_to_string(&store).unwrap().lines().count(), lines, "resumed trials are not stored twice");
    // a warm start takes the store's best configurations first
    let w = auto_with(&AutoSpec { strategy: Strategy::Random, no_final: true, ..spec(&dir.path().join("w"), &store) }, &mut RunEnv::new(&mut silent, &models))
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("w/trials.jsonl")).unwrap();
    assert!(log.contains("warm:karate"), "{}", &log[..log.len().min(400)]);
    assert!(w.json["best"]["val"].as_f64().is_some());
}

#[test]
fn a_model_registered_outside_the_library_is_searched() {
    let dir = tempfile::tempdir().unwrap();
    let mut models = ModelRegistry::builtin();
    let space = SearchSpace::common().with(SearchDim::Int { name: "depth".into(), values: vec![1, 2] });
    models
        .register(ModelEntry::new("onelayer", &["node"], space, |a: &ModelArgs, p: &Params| {
            if a.options.get("depth").and_then(|d| d.as_i64()) == Some(2) {
                let cfg = autoglm::models::GnnConfig {
                    hidden_dim: a.hidden_dim,
                    num_layers: 2,
                    ..autoglm::models::GnnConfig::recipe(autoglm::models::ModelKind::Gcn)
                };
                return Ok(Box::new(cfg.init(a.in_dim, a.out_dim, p)?) as Box<dyn Module>);
            }
            Ok(Box::new(GcnConvConfig::new(a.in_dim, a.out_dim).init(p)?) as Box<dyn Module>)
        }))
        .unwrap();
    let mut silent = Silent;
    let s = AutoSpec { models: Some(vec!["onelayer".into()]), no_store: true, final_runs: 1, ..spec(&dir.path().join("o"), &dir.path().join("s")) };
    let r = auto_with(&s, &mut RunEnv::new(&mut silent, &models)).unwrap();
    assert_eq!(r.json["best"]["config"]["model"], "onelayer");
    assert!(r.json["best"]["config"]["values"].get("model.depth").is_some(), "{}", r.json["best"]);
}

#[test]
fn bad_requests_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let models = ModelRegistry::builtin();
    let mut silent = Silent;
    let base = AutoSpec { no_store: true, ..spec(&dir.path().join("x"), &dir.path().join("s")) };
    let msg = |s: AutoSpec| auto_with(&s, &mut RunEnv::new(&mut Silent, &models)).unwrap_err().to_string();
    assert!(msg(AutoSpec { trials: None, ..base.clone() }).contains("--budget"));
    assert!(msg(AutoSpec { models: Some(vec!["nope".into()]), ..base.clone() }).contains("gcn"));
    assert!(msg(AutoSpec { models: Some(vec!["gin".into()]), task: Some("generate".into()), ..base.clone() }).contains("search"));
    assert!(msg(AutoSpec { dataset: "no-such-dataset".into(), ..base.clone() }).contains("no-such-dataset"));
    // gae serves only the link task: nothing left for node classification
    assert!(msg(AutoSpec { models: Some(vec!["gae".into()]), ..base.clone() }).contains("--models"));
    let _ = &mut silent;
}
