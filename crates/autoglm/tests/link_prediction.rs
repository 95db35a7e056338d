//! Link prediction end to end (issue 3): GAE on Cora and PubMed when the shared
//! datasets folder is present (skipped with a message otherwise), and fast runs
//! on the built-in karate club, including a checkpoint round trip.
//!
//! | test | what it guards |
//! |---|---|
//! | `issue_3_gae_on_cora_beats_chance` | a short GAE run on Cora ranks held-out edges far above chance |
//! | `issue_3_no_held_out_edge_reaches_the_encoder` | Cora's split: no validation / test edge in the encoder's graph |
//! | `issue_3_pubmed_structural_features` | PubMed (no features) runs on one-hot ids, never on the full graph's degrees |
//! | `issue_3_karate_checkpoint_round_trip` | karate: train, save, load, the same scores; bad pairs are errors |

use autoglm::checkpoint;
use autoglm::data::edge_split::{EdgeSplitConfig, SplitSize};
use autoglm::data::karate::load_karate_builtin;
use autoglm::data::registry::load_node_dataset;
use autoglm::tasks::link::{train, FeatureSource, LinkData, LinkModel, LinkTrainConfig};
use std::path::PathBuf;

fn data_dir(sub: &str) -> Option<PathBuf> {
    autoglm::testing::shared_datasets(sub)
}

#[test]
fn issue_3_gae_on_cora_beats_chance() {
    let Some(dir) = data_dir("cora") else { return };
    let ds = load_node_dataset(&dir, "cora").unwrap();
    let cfg = LinkTrainConfig { epochs: 40, ..LinkTrainConfig::recipe_by_name("gae").unwrap() };
    let data = LinkData::prepare(&ds, &cfg).unwrap();
    assert_eq!((data.split.train_pos.len(), data.split.val_pos.len(), data.split.test_pos.len()), (4488, 263, 527));
    let (r, _) = train(&data, &cfg, &mut |_| {}).unwrap();
    // 200 epochs reach about 0.91 (mean of 10 seeds); 40 are already far above chance.
    assert!(r.test.auc > 0.8, "GAE test AUC after 40 epochs: {}", r.test.auc);
    assert!(r.test.ap > 0.8, "GAE test AP after 40 epochs: {}", r.test.ap);
    assert!(r.test.mrr > 0.1, "MRR against 100 negatives: {}", r.test.mrr);
    for (name, v) in r.test.named() {
        assert!((0.0..=1.0).contains(&v), "{name} = {v}");
    }
}

#[test]
fn issue_3_no_held_out_edge_reaches_the_encoder() {
    let Some(dir) = data_dir("cora") else { return };
    let ds = load_node_dataset(&dir, "cora").unwrap();
    let cfg = LinkTrainConfig::default();
    let data = LinkData::prepare(&ds, &cfg).unwrap();
    let g = &data.split.train_graph;
    assert_eq!(g.num_edges(), 2 * data.split.train_pos.len());
    for &(u, v) in data.split.val_pos.iter().chain(&data.split.test_pos) {
        assert!(ds.graph.has_edge(u, v), "({u}, {v}) is no edge of the dataset");
        assert!(!g.has_edge(u, v) && !g.has_edge(v, u), "held-out edge ({u}, {v}) is in the encoder's graph");
    }
    for &(u, v) in data.split.val_neg.iter().chain(&data.split.test_neg) {
        assert!(!ds.graph.has_edge(u, v) && !ds.graph.has_edge(v, u), "negative ({u}, {v}) is an edge");
    }
}

#[test]
fn issue_3_pubmed_structural_features() {
    let Some(dir) = data_dir("pubmed") else { return };
    let ds = load_node_dataset(&dir, "pubmed").unwrap();
    let cfg = LinkTrainConfig {
        epochs: 3,
        split: EdgeSplitConfig { ranking_negatives: 20, ..Default::default() },
        ..LinkTrainConfig::recipe_by_name("gae").unwrap()
    };
    let data = LinkData::prepare(&ds, &cfg).unwrap();
    // PubMed ships without features: the loader's stand-in (one-hot degree of the
    // full graph) would leak the held-out edges; one-hot ids are used instead.
    assert_eq!(data.features, FeatureSource::Identity);
    assert_eq!(data.x.dim(), ds.graph.num_nodes());
    let (r, _) = train(&data, &cfg, &mut |_| {}).unwrap();
    for (name, v) in r.test.named() {
        assert!(v.is_finite(), "{name} = {v}");
    }
}

#[test]
fn issue_3_karate_checkpoint_round_trip() {
    let ds = load_karate_builtin().unwrap();
    for model in ["gae", "vgae"] {
        let cfg = LinkTrainConfig {
            epochs: 60,
            split: EdgeSplitConfig { val: SplitSize::Fraction(0.1), test: SplitSize::Fraction(0.2), ranking_negatives: 10 },
            ..LinkTrainConfig::recipe_by_name(model).unwrap()
        };
        let data = LinkData::prepare(&ds, &cfg).unwrap();
        let (r, m) = train(&data, &cfg, &mut |_| {}).unwrap();
        assert!(r.test.auc.is_finite() && r.val.auc > 0.5, "{model}: val AUC {}", r.val.auc);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("link.safetensors");
        let meta = serde_json::json!({"task": "link", "train": cfg});
        checkpoint::save(&path, &m.params, &meta).unwrap();
        let ck = checkpoint::load(&path).unwrap();
        let cfg2: LinkTrainConfig = serde_json::from_value(ck.meta["train"].clone()).unwrap();
        assert_eq!(cfg2, cfg);
        let data2 = LinkData::prepare(&ds, &cfg2).unwrap();
        assert_eq!(data2.split.test_pos, data.split.test_pos, "the split is rebuilt from its seed");
        let m2 = LinkModel::new(&cfg2.model_config(), data2.x.dim(), cfg2.seed).unwrap();
        ck.load_into(&m2.params).unwrap();
        let pairs = [(0, 1), (33, 32), (5, 16), (0, 33)];
        let a = m.score_pairs(&data.split.train_graph, &data.x, &pairs).unwrap();
        let b = m2.score_pairs(&data2.split.train_graph, &data2.x, &pairs).unwrap();
        assert_eq!(a, b);
        let e = m2.score_pairs(&data2.split.train_graph, &data2.x, &[(0, 1), (34, 0)]).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }
}
