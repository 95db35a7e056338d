//! Graph classification end to end on real data: load MUTAG from the TU files,
//! stratified 2-fold cross-validation of GIN for a few epochs, accuracy well
//! above the majority class (66.5%). Skipped when the dataset folder is absent.
//!
//! Data: `$AUTOGLM_DATA`, else `../shared/datasets` next to the workspace.

use autoglm::data::folds::stratified_kfold;
use autoglm::data::tu::{load_tu, TuOptions};
use autoglm::models::ModelKind;
use autoglm::tasks::graph::{cross_validate, GraphTrainConfig, Protocol};
use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    autoglm::testing::shared_datasets("MUTAG")
}

#[test]
fn gin_learns_mutag_on_two_folds() {
    let Some(dir) = data_dir() else { return };
    let ds = load_tu(&dir, "MUTAG", &TuOptions::default()).expect("MUTAG loads");
    assert_eq!((ds.graphs.len(), ds.num_node_features, ds.num_classes), (188, 7, 2));
    let labels: Vec<usize> = ds.graphs.iter().map(|g| g.y).collect();
    let folds = stratified_kfold(&labels, 2, 0).unwrap();
    let mut cfg = GraphTrainConfig::recipe(ModelKind::Gin);
    cfg.epochs = 40;
    cfg.model.hidden_dim = 32;
    let mut epochs = 0;
    let cv = cross_validate(&ds, &folds, Protocol::Gin, &cfg, &mut |_| epochs += 1, &mut |_, _| Ok(())).unwrap();
    assert_eq!(epochs, 80);
    assert_eq!(cv.folds.len(), 2);
    assert_eq!(cv.folds.iter().map(|f| f.num_test).sum::<usize>(), 188);
    let s = &cv.summary;
    eprintln!("MUTAG 2-fold GIN, {} epochs: {:.2} ± {:.2} at epoch {:?}", cfg.epochs, s.mean * 100.0, s.std * 100.0, s.best_epoch);
    assert!(s.mean > 0.78, "best mean test accuracy {:.3} is not well above the majority class", s.mean);
    let last: f64 = cv.folds.iter().map(|f| f.test_acc).sum::<f64>() / 2.0;
    assert!(last > 0.7, "last-epoch accuracy {last:.3}");
}
