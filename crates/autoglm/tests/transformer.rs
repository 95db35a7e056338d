//! The graph transformer (`--model gt`) end to end through the run boundary on
//! every task, with its options from the run file's `[model]` table; its bad
//! settings as configuration errors; the encodings' independence from
//! held-out edges; jumping knowledge and residuals on the plain `Gnn`.

use autoglm::candle::{DType, Device};
use autoglm::models::transformer::{GtConfig, PeConfig, PeKind};
use autoglm::nn::attention::{GlobalForm, GpsConfig, HeadGroups, MgaConfig, Mpnn};
use autoglm::prelude::*;
use autoglm::run::{self, PredictSpec, RunEnv, RunFile, Silent};
use std::path::Path;

fn run_file(model: &str) -> RunFile {
    RunFile::parse(&format!("[run]\nmodel = \"gt\"\n[model]\n{model}"), Path::new("test.toml")).unwrap()
}

const OPTIONS: &str = r#"
[model.pe]
kind = "rwse"
dim = 4
[model.layer]
mpnn = "gcn"
norm = "layer"
[model.layer.attention]
heads = { local = 2, khop = 1, global = 1 }
"#;

#[test]
fn gt_trains_on_node_link_and_graph_tasks_and_reloads() {
    let models = ModelRegistry::builtin();
    let dir = tempfile::tempdir().unwrap();
    let mut progress = Silent;
    // node classification on the karate club, with a checkpoint that reloads with the same options
    let ck = dir.path().join("gt.safetensors");
    let mut job = JobSpec::new("karate", "gt").with_task("node").with_overrides(Overrides { epochs: Some(40), hidden: Some(8), ..Overrides::default() });
    job.run_file = run_file(OPTIONS);
    job.checkpoint = Some(ck.clone());
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(report.json["model"], "gt");
    let notes = report.notes.join("\n");
    assert!(notes.contains("attention group local (2 heads)") && notes.contains("exact softmax within each graph"), "{notes}");
    assert!(report.json["summary"]["test_acc_mean"].as_f64().unwrap() > 0.5, "{}", report.headline);
    let spec = PredictSpec { checkpoint: ck, ..PredictSpec::default() };
    let out = run::predict_with(&spec, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(out["predictions"].as_array().unwrap().len(), 34);
    // link prediction with the transformer as encoder
    let mut job = JobSpec::new("karate", "gt").with_task("link").with_overrides(Overrides { epochs: Some(30), hidden: Some(8), ..Overrides::default() });
    job.run_file = run_file(OPTIONS);
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert!(report.json["summary"]["test"]["auc"]["mean"].as_f64().unwrap() > 0.5, "{}", report.headline);
    // graph classification on the TINY TU fixture
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tu");
    let mut job =
        JobSpec::new("TINY", "gt").with_task("graph").with_overrides(Overrides { epochs: Some(5), folds: Some(2), hidden: Some(8), ..Overrides::default() });
    job.data_dir = Some(fixtures);
    job.run_file = run_file(OPTIONS);
    let report = run::execute_with(&job, &mut RunEnv::new(&mut progress, &models)).unwrap();
    assert_eq!(report.json["task"], "graph");
    assert!(report.notes.join("\n").contains("attention group global"), "{:?}", report.notes);
}

fn graph(n: usize) -> Graph {
    let e: Vec<(usize, usize)> = (0..n).flat_map(|i| [(i, (i + 1) % n), ((i + 1) % n, i)]).collect();
    Graph::from_edges(n, &e).unwrap()
}

fn input(n: usize, d: usize) -> NodeInput {
    NodeInput::Dense(Tensor::ones((n, d), DType::F32, &Device::Cpu).unwrap())
}

#[test]
fn bad_settings_are_configuration_errors_naming_the_fix() {
    let p = Params::new(0);
    let err = |r: autoglm::Result<autoglm::nn::attention::MultiGranularityAttention>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let e = err(MgaConfig::new(8, 10, HeadGroups { local: 4, khop: 0, global: 0 }).init(&p));
    assert!(e.contains("multiple of the total number of heads"), "{e}");
    let e = err(MgaConfig { k: 0, ..MgaConfig::new(8, 8, HeadGroups { local: 0, khop: 2, global: 0 }) }.init(&p));
    assert!(e.contains("k >= 1"), "{e}");
    let e = err(MgaConfig::new(8, 8, HeadGroups { local: 0, khop: 0, global: 0 }).init(&p));
    assert!(e.contains("at least one group a head"), "{e}");
    // exact global attention above its limit, at the first forward pass on that graph
    let layer = MgaConfig { global: GlobalForm::Exact, exact_max_nodes: 10, ..MgaConfig::new(4, 4, HeadGroups { local: 0, khop: 0, global: 2 }) }
        .init(&p.pp("g"))
        .unwrap();
    let e = layer.forward(&graph(20), &input(20, 4), &mut Ctx::eval()).unwrap_err().to_string();
    assert!(e.contains("exact_max_nodes") && e.contains("linear"), "{e}");
    // the automatic switch takes the linear form there instead
    let auto = MgaConfig { exact_max_nodes: 10, ..MgaConfig::new(4, 4, HeadGroups { local: 0, khop: 0, global: 2 }) }.init(&p.pp("a")).unwrap();
    assert_eq!(auto.forward(&graph(20), &input(20, 4), &mut Ctx::eval()).unwrap().dims(), &[20, 4]);
    assert!(auto.describe(&graph(20)).unwrap()[0].form.contains("linear"));
    // LapPE on a graph above its limit
    let gt = GtConfig { in_dim: 4, out_dim: 2, hidden_dim: 8, pe: PeConfig { kind: PeKind::Lap, dim: 4, lap_max_nodes: 10 }, ..GtConfig::default() };
    let m = gt.init(&p.pp("lap")).unwrap();
    let e = m.forward(&graph(20), &input(20, 4), &mut Ctx::eval()).unwrap_err().to_string();
    assert!(e.contains("lap_max_nodes") && e.contains("rwse"), "{e}");
    // a PE wider than a small graph is padded, not an error
    let gt = GtConfig { pe: PeConfig { kind: PeKind::Lap, dim: 8, lap_max_nodes: 100 }, ..gt };
    let m = gt.init(&p.pp("small")).unwrap();
    assert_eq!(m.forward(&graph(5), &input(5, 4), &mut Ctx::train(autoglm::rng::seeded(0))).unwrap().dims(), &[5, 2]);
    // an unknown option in [model] is named
    let job = JobSpec { run_file: run_file("headz = 3"), ..JobSpec::new("karate", "gt").with_task("node") };
    let mut progress = Silent;
    let e = run::execute_with(&job, &mut RunEnv::new(&mut progress, &ModelRegistry::builtin())).unwrap_err().to_string();
    assert!(e.contains("headz"), "{e}");
}

#[test]
fn encodings_and_patterns_of_the_training_graph_ignore_held_out_edges() {
    // the training graph is what the encoder sees; changing a held-out edge
    // changes no training input: the encodings and patterns are functions of
    // the graph they are computed on, and a graph with one edge more or less
    // elsewhere gives the same rows here
    let train = graph(12);
    let (a, b) = (train.rwse(6).unwrap(), train.khop_pattern(2, 64, 0).unwrap());
    let mut with_heldout: Vec<(usize, usize)> = train.edges().collect();
    with_heldout.push((0, 6));
    let full = Graph::from_edges(12, &with_heldout).unwrap();
    assert_ne!(full.rwse(6).unwrap().data, a.data, "the held-out edge would change the encoding");
    let again = graph(12);
    assert_eq!(again.rwse(6).unwrap().data, a.data);
    assert_eq!(again.khop_pattern(2, 64, 0).unwrap().graph.col_idx(), b.graph.col_idx());
}

#[test]
fn causal_layers_see_only_earlier_nodes() {
    let g = graph(6);
    let cfg = MgaConfig { causal: true, ..MgaConfig::new(3, 4, HeadGroups { local: 2, khop: 1, global: 1 }) };
    let layer = cfg.init(&Params::new(1)).unwrap();
    let x = autoglm::testing::rand_tensor(&[6, 3], 2);
    let y = layer.forward(&g, &NodeInput::Hidden(x.clone()), &mut Ctx::eval()).unwrap();
    // changing the last node's input leaves every earlier node's output unchanged
    let mut xv = autoglm::testing::vec(&x);
    xv[15..18].copy_from_slice(&[5.0, -5.0, 5.0]);
    let x2 = Tensor::from_vec(xv, (6, 3), &Device::Cpu).unwrap();
    let y2 = layer.forward(&g, &NodeInput::Hidden(x2), &mut Ctx::eval()).unwrap();
    let (a, b) = (autoglm::testing::vec(&y), autoglm::testing::vec(&y2));
    assert_eq!(&a[..20], &b[..20]);
    assert_ne!(&a[20..], &b[20..]);
    // a virtual node sees the whole graph, which a causal layer refuses
    let vn = MgaConfig { virtual_node: true, ..cfg }.init(&Params::new(1)).unwrap();
    assert!(vn.forward(&g, &NodeInput::Hidden(x), &mut Ctx::eval()).is_err());
}

#[test]
fn gps_modes_and_the_gnn_layer_flow_run() {
    let g = graph(7);
    let x = autoglm::testing::rand_tensor(&[7, 8], 3);
    for (mode, pre) in [("parallel", false), ("parallel", true), ("sequential", false), ("sequential", true)] {
        let cfg: GpsConfig = serde_json::from_value(serde_json::json!({"dim": 8, "mode": mode, "pre_norm": pre, "mpnn": "gin", "norm": "batch",
            "attention": {"heads": {"local": 1, "khop": 0, "global": 1}, "virtual_node": true, "khop_form": "hop_tokens"}}))
        .unwrap();
        let layer = cfg.init(&Params::new(0)).unwrap();
        let y = layer.forward(&g, &NodeInput::Hidden(x.clone()), &mut Ctx::train(autoglm::rng::seeded(0))).unwrap();
        assert_eq!(y.dims(), &[7, 8], "{mode} pre_norm={pre}");
    }
    assert!(GpsConfig { dim: 8, mpnn: Mpnn::None, attention: MgaConfig::new(8, 8, HeadGroups { local: 0, khop: 0, global: 0 }), ..GpsConfig::default() }
        .init(&Params::new(0))
        .is_err());
    for jk in ["cat", "max", "attention"] {
        let cfg: GnnConfig = serde_json::from_value(serde_json::json!({"model": "gcn", "num_layers": 3, "jk": jk, "residual": true})).unwrap();
        let m = cfg.init(8, 3, &Params::new(0)).unwrap();
        assert_eq!(m.forward(&g, &NodeInput::Hidden(x.clone()), &mut Ctx::eval()).unwrap().dims(), &[7, 3], "jk {jk}");
    }
}
