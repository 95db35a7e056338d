//! Pretraining and fine-tuning end to end through the run boundary: every
//! objective on karate (built in), the node modes, the graph modes on MUTAG,
//! transfer from QM9 molecules to MUTAG, and the bad requests.

use autoglm::prelude::*;
use autoglm::run::{self, FinetuneFlags, PretrainFlags, RunEnv, RunFile, Silent};
use autoglm::testing::shared_datasets;
use std::path::{Path, PathBuf};

fn run_job(job: &JobSpec) -> autoglm::Result<autoglm::run::Report> {
    let models = ModelRegistry::builtin();
    let mut progress = Silent;
    run::execute_with(job, &mut RunEnv::new(&mut progress, &models))
}

fn pretrain_job(dataset: &str, objective: &str, epochs: usize, ck: &Path, train: &str) -> JobSpec {
    let mut job = JobSpec { dataset: Some(dataset.into()), task: Some("pretrain".into()), ..JobSpec::default() };
    job.pretrain = PretrainFlags { objective: Some(objective.into()), mask_rate: None };
    job.overrides.epochs = Some(epochs);
    job.checkpoint = Some(ck.to_path_buf());
    job.run_file = RunFile::parse(&format!("[train]\n{train}"), Path::new("pt.toml")).unwrap();
    job
}

fn finetune_job(dataset: &str, task: &str, ck: &Path, mode: &str) -> JobSpec {
    JobSpec {
        dataset: Some(dataset.into()),
        task: Some(task.into()),
        finetune: Some(FinetuneFlags { pretrained: PathBuf::from(ck), mode: Some(mode.into()), labels_per_class: None }),
        ..JobSpec::default()
    }
}

#[test]
fn every_objective_pretrains_on_karate_and_the_loss_falls() {
    let dir = tempfile::tempdir().unwrap();
    for obj in ["mask-feature", "mask-edge", "generative", "mask-feature+mask-edge"] {
        let ck = dir.path().join(format!("{obj}.safetensors"));
        let mut job = pretrain_job("karate", obj, 60, &ck, "mask_rate = 0.3\nedge_mask_rate = 0.3\n[train.encoder]\nhidden_dim = 8\nheads = 2");
        job.model = Some("gcn".into());
        let r = run_job(&job).unwrap();
        let h = r.json["history"].as_array().unwrap();
        let first: f64 = h[..5].iter().map(|x| x["loss"].as_f64().unwrap()).sum::<f64>() / 5.0;
        let last: f64 = h[h.len() - 5..].iter().map(|x| x["loss"].as_f64().unwrap()).sum::<f64>() / 5.0;
        assert!(last < first, "{obj}: loss {first} -> {last}");
        assert!(ck.is_file());
        assert_eq!(r.json["encoder"]["model"], "gcn");
    }
}

#[test]
fn node_modes_train_from_a_pretrained_encoder_and_scratch_is_paired() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("enc.safetensors");
    run_job(&pretrain_job("karate", "mask-feature", 30, &ck, "[train.encoder]\nhidden_dim = 8\nheads = 2")).unwrap();
    let mut first_loss = Vec::new();
    for mode in ["linear-probe", "frozen", "finetune", "scratch"] {
        let mut job = finetune_job("karate", "node", &ck, mode);
        job.runs = Some(2);
        job.overrides.epochs = Some(30);
        let r = run_job(&job).unwrap();
        assert_eq!(r.json["runs"].as_array().unwrap().len(), 2, "{mode}");
        let acc = r.json["summary"]["test_acc_mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{mode}: {acc}");
        first_loss.push(r.json["runs"][0]["history"][0]["loss"].as_f64().unwrap());
    }
    // finetune and scratch differ only in the loaded weights: their first losses differ
    assert!((first_loss[2] - first_loss[3]).abs() > 1e-6, "{first_loss:?}");
    // a mode that is not one
    let e = run_job(&finetune_job("karate", "node", &ck, "tune")).unwrap_err().to_string();
    assert!(e.contains("finetune mode") && e.contains("linear-probe"), "{e}");
    // svm is a graph mode
    let e = run_job(&finetune_job("karate", "node", &ck, "svm")).unwrap_err().to_string();
    assert!(e.contains("svm scores graph embeddings"), "{e}");
}

#[test]
fn bad_requests_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("enc.safetensors");
    // unknown objective, mask rate outside (0, 1)
    let e = run_job(&pretrain_job("karate", "mask-nodes", 1, &ck, "")).unwrap_err().to_string();
    assert!(e.contains("mask-nodes") && e.contains("mask-feature"), "{e}");
    let mut job = pretrain_job("karate", "mask-feature", 1, &ck, "");
    job.pretrain.mask_rate = Some(1.0);
    let e = run_job(&job).unwrap_err().to_string();
    assert!(e.contains("mask_rate") && e.contains("(0, 1)"), "{e}");
    // an architecture that is not an encoder
    let mut job = pretrain_job("karate", "mask-feature", 1, &ck, "");
    job.model = Some("vgae".into());
    let e = run_job(&job).unwrap_err().to_string();
    assert!(e.contains("vgae") && e.contains("pretrain"), "{e}");
    // an encoder pretrained on karate's 34 features cannot read cora's 1433, nor a fixture of another width
    run_job(&pretrain_job("karate", "mask-feature", 2, &ck, "")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/planetoid_tiny");
    let mut job = finetune_job("tiny", "node", &ck, "linear-probe");
    job.data_dir = Some(fixtures);
    let e = run_job(&job).unwrap_err().to_string();
    assert!(e.contains("encoder input width 34"), "{e}");
    // a checkpoint that is not an encoder
    let not_enc = dir.path().join("node.safetensors");
    let train = JobSpec {
        dataset: Some("karate".into()),
        checkpoint: Some(not_enc.clone()),
        overrides: autoglm::run::Overrides { epochs: Some(2), ..Default::default() },
        ..JobSpec::default()
    };
    run_job(&train).unwrap();
    let e = run_job(&finetune_job("karate", "node", &not_enc, "finetune")).unwrap_err().to_string();
    assert!(e.contains("not a pretrained encoder"), "{e}");
}

#[test]
fn mutag_pretrains_and_scores_by_svm_and_finetunes() {
    let Some(data) = shared_datasets("MUTAG") else { return };
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("mutag.safetensors");
    let mut job = pretrain_job("MUTAG", "mask-feature", 5, &ck, "mask_rate = 0.5\n[train.encoder]\nhidden_dim = 16\nnum_layers = 2");
    job.data_dir = Some(data.clone());
    let r = run_job(&job).unwrap();
    assert_eq!(r.json["encoder"]["level"], "graph");
    assert_eq!(r.json["encoder"]["model"], "gin", "collections default to GIN");
    let mut svm = finetune_job("MUTAG", "graph", &ck, "svm");
    svm.data_dir = Some(data.clone());
    let s = run_job(&svm).unwrap();
    let acc = s.json["summary"]["test_acc_mean"].as_f64().unwrap();
    assert!(acc > 0.6, "svm accuracy {acc}");
    let mut ft = finetune_job("MUTAG", "graph", &ck, "finetune");
    ft.data_dir = Some(data.clone());
    ft.overrides.epochs = Some(3);
    ft.overrides.folds = Some(3);
    let f = run_job(&ft).unwrap();
    assert_eq!(f.json["folds"].as_array().unwrap().len(), 3);
    // transfer needs a molecular encoder: this one reads MUTAG's 7 one-hot labels
    let mut wrong = finetune_job("PROTEINS", "graph", &ck, "svm");
    wrong.data_dir = Some(data);
    let e = run_job(&wrong).unwrap_err().to_string();
    assert!(e.contains("encoder input width 7"), "{e}");
}

#[test]
fn qm9_molecules_transfer_to_mutag() {
    let Some(data) = shared_datasets("qm9") else { return };
    if shared_datasets("MUTAG").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("qm9.safetensors");
    let mut job = pretrain_job("qm9", "mask-feature+mask-edge", 2, &ck, "max_graphs = 1000\n[train.encoder]\nhidden_dim = 16\nnum_layers = 2");
    job.data_dir = Some(data.clone());
    let r = run_job(&job).unwrap();
    assert_eq!(r.json["encoder"]["input"]["kind"], "categorical");
    assert_eq!(r.json["encoder"]["input"]["names"].as_array().unwrap().len(), autoglm::chem::AtomVocab::standard().num_atom_types());
    let mut ft = finetune_job("MUTAG", "graph", &ck, "finetune");
    ft.data_dir = Some(data.clone());
    ft.overrides.epochs = Some(2);
    ft.overrides.folds = Some(2);
    let f = run_job(&ft).unwrap();
    assert!(f.notes.iter().any(|n| n.contains("MUTAG read as molecules")), "{:?}", f.notes);
    // PROTEINS has no `Node labels:` table of elements: transfer says so
    let mut bad = finetune_job("PROTEINS", "graph", &ck, "finetune");
    bad.data_dir = Some(data);
    let e = run_job(&bad).unwrap_err().to_string();
    assert!(e.contains("Node labels"), "{e}");
}

#[test]
fn link_finetuning_only_takes_an_encoder_that_never_saw_its_test_edges() {
    let dir = tempfile::tempdir().unwrap();
    let (leaky, clean) = (dir.path().join("all.safetensors"), dir.path().join("train.safetensors"));
    run_job(&pretrain_job("karate", "mask-edge", 10, &leaky, "[train.encoder]\nhidden_dim = 8\nheads = 2")).unwrap();
    let r = run_job(&pretrain_job("karate", "mask-edge", 10, &clean, "link_split = true\n[train.encoder]\nhidden_dim = 8\nheads = 2")).unwrap();
    assert!(r.notes.iter().any(|n| n.contains("never seen")), "{:?}", r.notes);
    let mut job = finetune_job("karate", "link", &leaky, "finetune");
    job.overrides.epochs = Some(5);
    let e = run_job(&job).unwrap_err().to_string();
    assert!(e.contains("pretrained on every edge of karate") && e.contains("link_split = true"), "{e}");
    job.finetune.as_mut().unwrap().pretrained = clean;
    let f = run_job(&job).unwrap();
    let auc = f.json["summary"]["test_auc_mean"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc), "{auc}");
    assert_eq!(f.json["encoder"]["link_split_seed"], 0);
}

#[test]
fn a_curriculum_grows_the_active_share_in_pretraining_and_changes_supervised_training() {
    let Some(data) = shared_datasets("MUTAG") else { return };
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("c.safetensors");
    let cur = "[train.curriculum]\ndifficulty = { kind = \"graph_size\" }\npacing = \"linear\"\nstart_fraction = 0.25\nfull_at = 0.5";
    let mut job = pretrain_job("MUTAG", "mask-feature", 10, &ck, &format!("[train.encoder]\nhidden_dim = 8\nnum_layers = 2\n{cur}"));
    job.data_dir = Some(data);
    let r = run_job(&job).unwrap();
    let frac: Vec<f64> = r.json["history"].as_array().unwrap().iter().map(|h| h["active_fraction"].as_f64().unwrap()).collect();
    assert!((frac[0] - 0.25).abs() < 0.02, "{frac:?}");
    assert!(frac.windows(2).all(|w| w[1] >= w[0]) && frac[9] == 1.0, "{frac:?}");
    // CLNode's curriculum on karate's labelled nodes: deterministic, and not the plain run
    let text = |c: &str| RunFile::parse(&format!("[train]\nepochs = 20\n{c}"), Path::new("c.toml")).unwrap();
    let mut on = JobSpec { dataset: Some("karate".into()), ..JobSpec::default() };
    on.run_file = text("[train.curriculum]\ndifficulty = { kind = \"cl_node\" }\nstart_fraction = 0.5\nfull_at = 0.5");
    let (a, b) = (run_job(&on).unwrap(), run_job(&on).unwrap());
    let losses = |r: &autoglm::run::Report| r.json["runs"][0]["history"].as_array().unwrap().iter().map(|h| h["loss"].as_f64().unwrap()).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    let mut off = on.clone();
    off.run_file = text("");
    let c = run_job(&off).unwrap();
    assert_ne!(losses(&a)[0], losses(&c)[0], "the first epoch trains on the easier half of the labelled nodes only");
}
