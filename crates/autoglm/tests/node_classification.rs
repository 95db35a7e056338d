//! Node classification end to end on real data (skipped, with a message, when
//! the shared datasets folder is absent).

use autoglm::data::registry::load_node_dataset;
use autoglm::models::ModelKind;
use autoglm::tasks::node::{train, NodeData, NodeTrainConfig};
use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    autoglm::testing::shared_datasets("cora")
}

#[test]
fn gcn_reaches_published_accuracy_on_cora() {
    let Some(dir) = data_dir() else { return };
    let ds = load_node_dataset(&dir, "cora").unwrap();
    let data = NodeData::prepare(&ds, true).unwrap();
    let (r, _) = train(&data, &NodeTrainConfig::recipe(ModelKind::Gcn), &mut |_| {}).unwrap();
    // Published 81.5 (mean of many seeds); a single seed lands within about a point.
    assert!(r.test_acc.unwrap() > 0.79, "GCN test accuracy {:?}", r.test_acc);
    assert_eq!(r.epochs_run, 200);
}

#[test]
fn same_seed_same_result() {
    let Some(dir) = data_dir() else { return };
    let ds = load_node_dataset(&dir, "cora").unwrap();
    let data = NodeData::prepare(&ds, true).unwrap();
    let cfg = NodeTrainConfig { epochs: 30, ..NodeTrainConfig::recipe(ModelKind::Gat) };
    let (a, _) = train(&data, &cfg, &mut |_| {}).unwrap();
    let (b, _) = train(&data, &cfg, &mut |_| {}).unwrap();
    let la: Vec<f64> = a.history.iter().map(|h| h.loss).collect();
    let lb: Vec<f64> = b.history.iter().map(|h| h.loss).collect();
    assert_eq!(la, lb, "losses differ between two runs with the same seed");
    let (c, _) = train(&data, &NodeTrainConfig { seed: 1, ..cfg }, &mut |_| {}).unwrap();
    assert_ne!(la, c.history.iter().map(|h| h.loss).collect::<Vec<_>>());
}

#[test]
fn every_model_learns_the_builtin_karate_club() {
    let ds = autoglm::data::karate::load_karate_builtin().unwrap();
    let data = NodeData::prepare(&ds, true).unwrap();
    for kind in [ModelKind::Gcn, ModelKind::Gat, ModelKind::Sage, ModelKind::Gin] {
        let cfg = NodeTrainConfig { epochs: 100, ..NodeTrainConfig::recipe(kind) };
        let (r, model) = train(&data, &cfg, &mut |_| {}).unwrap();
        assert!(r.history.last().unwrap().loss < r.history[0].loss, "{kind}: loss did not decrease");
        let pred = model.predict(&data.graph, &data.x).unwrap();
        assert_eq!(pred.len(), 34);
        assert!(r.test_acc.unwrap() > 0.6, "{kind}: karate test accuracy {:?}", r.test_acc);
    }
}

#[test]
fn bad_split_is_a_clear_error() {
    let mut ds = autoglm::data::karate::load_karate_builtin().unwrap();
    ds.split.as_mut().unwrap().test.push(99);
    let e = NodeData::prepare(&ds, true).err().expect("an error").to_string();
    assert!(e.contains("99") && e.contains("out of range"), "{e}");
}
