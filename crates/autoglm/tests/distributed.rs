//! Data-parallel node training through the run boundary, ranks as threads of
//! one process (`LocalGroup`); the same code runs under `mpirun` with the MPI
//! communicator (`crates/autoglm-cli/tests/mpi.rs`).

use autoglm::dist::{Compression, LocalGroup, SyncMode};
use autoglm::models::registry::ModelRegistry;
use autoglm::run::{self, Distributed, JobSpec, Overrides, RunEnv, Silent};
use serde_json::Value;

fn job(model: &str, epochs: usize) -> JobSpec {
    JobSpec::new("karate", model).with_task("node").with_overrides(Overrides { epochs: Some(epochs), ..Overrides::default() })
}

fn single(job: &JobSpec) -> Value {
    run::execute(job, &mut Silent).unwrap().json
}

/// Each rank's report, or its error.
fn ranks(n: usize, compression: Compression, mode: SyncMode, job_of: impl Fn(usize) -> JobSpec + Sync) -> Vec<Result<Value, String>> {
    // ranks that share the cores do not spin worker threads (as the CLI's
    // thread policy does under mpirun): a spinning helper of one rank would
    // hold the core the other rank's step waits for
    autoglm::ops::set_active_wait(false);
    let comms = LocalGroup::ranks(n);
    std::thread::scope(|s| {
        let hs: Vec<_> = comms
            .iter()
            .enumerate()
            .map(|(r, c)| {
                let job = job_of(r);
                s.spawn(move || {
                    let models = ModelRegistry::builtin();
                    let mut progress = Silent;
                    let mut env = RunEnv { dist: Some(Distributed { comm: c, compression, mode }), ..RunEnv::new(&mut progress, &models) };
                    run::execute_with(&job, &mut env).map(|r| r.json).map_err(|e| e.to_string())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Two loss curves of the same length, equal to 1e-4 (relative above 1).
fn same_curve(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (e, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{what}, epoch {e}: {x} against {y}");
    }
}

fn curve(report: &Value, key: &str) -> Vec<f64> {
    report["runs"][0]["history"].as_array().unwrap().iter().map(|e| e[key].as_f64().unwrap()).collect()
}

#[test]
fn two_ranks_give_the_one_process_loss_curve() {
    for model in ["gcn", "gat"] {
        let one = single(&job(model, 40));
        let two: Vec<Value> = ranks(2, Compression::None, SyncMode::EveryStep, |_| job(model, 40)).into_iter().map(Result::unwrap).collect();
        same_curve(&curve(&one, "loss"), &curve(&two[0], "loss"), &format!("{model}: one process against two ranks"));
        // the replicas evaluate the same parameters, and as one process does
        // (karate has no validation nodes: the last epoch is kept)
        assert_eq!(curve(&two[0], "test_acc"), curve(&two[1], "test_acc"), "{model}");
        assert_eq!(curve(&two[0], "test_acc"), curve(&one, "test_acc"), "{model}");
        assert_eq!(two[0]["distributed"]["ranks"], 2);
        let shares: u64 = two.iter().map(|r| r["distributed"]["rank_batch"].as_u64().unwrap()).sum();
        assert_eq!(two[0]["distributed"]["global_batch"].as_u64(), Some(shares), "the shares cover the global batch");
        let comm = &two[0]["comm"];
        assert_eq!(comm["steps"], 40);
        assert!((comm["ratio"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{comm}");
    }
}

#[test]
fn compressed_ranks_count_their_bytes_and_still_learn() {
    // karate's GCN has 594 parameters: 5 % is 30 index-value pairs, 1 bit each plus 10 scales
    for (c, min_ratio) in [(Compression::TopK { ratio: 0.05 }, 8.0), (Compression::OneBit { block: 64 }, 15.0)] {
        let out: Vec<Value> = ranks(2, c, SyncMode::EveryStep, |_| job("gcn", 100)).into_iter().map(Result::unwrap).collect();
        let comm = &out[0]["comm"];
        let (sent, dense) = (comm["bytes_sent"].as_f64().unwrap(), comm["bytes_dense"].as_f64().unwrap());
        assert!(sent > 0.0 && (comm["ratio"].as_f64().unwrap() - dense / sent).abs() < 1e-9);
        assert!(dense / sent >= min_ratio, "{c}: {comm}");
        let acc = out[0]["summary"]["test_acc_mean"].as_f64().unwrap();
        assert!(acc > 0.6, "{c}: karate test accuracy {acc}");
        assert_eq!(curve(&out[0], "test_acc"), curve(&out[1], "test_acc"), "{c}: replicas stay in step");
    }
    // local SGD: replicas meet every 5 steps
    let out: Vec<Value> = ranks(2, Compression::None, SyncMode::Periodic { period: 5 }, |_| job("gcn", 100)).into_iter().map(Result::unwrap).collect();
    // averaged before steps 6, 11, ..., 96
    assert_eq!(out[0]["comm"]["steps"], 19);
    let l = curve(&out[0], "loss");
    assert!(l[99] < 0.5 * l[0], "local SGD learns: loss {} -> {}", l[0], l[99]);
}

#[test]
fn ranks_that_disagree_on_the_configuration_fail_on_every_rank() {
    let out = ranks(2, Compression::None, SyncMode::EveryStep, |r| job("gcn", 20 + r));
    for (r, o) in out.iter().enumerate() {
        let e = o.as_ref().unwrap_err();
        assert!(e.contains("ranks [1] differ from rank 0"), "rank {r}: {e}");
    }
}

fn sampled(model: &str, epochs: usize, fanouts: Vec<i64>, batch: usize) -> JobSpec {
    JobSpec::new("karate", model).with_task("node").with_overrides(Overrides {
        epochs: Some(epochs),
        dropout: Some(0.0),
        fanouts: Some(fanouts),
        batch_size: Some(batch),
        ..Overrides::default()
    })
}

#[test]
fn sampling_every_neighbour_in_one_batch_is_full_batch_training() {
    // SAGE's mean reads only destination degrees, and nodes within L-1 hops
    // are expanded whole: the seeds' logits are the full-graph ones
    let full =
        single(&JobSpec::new("karate", "sage").with_task("node").with_overrides(Overrides { epochs: Some(30), dropout: Some(0.0), ..Overrides::default() }));
    let blocks = single(&sampled("sage", 30, vec![-1, -1], 1024));
    same_curve(&curve(&full, "loss"), &curve(&blocks, "loss"), "full batch against sampled");
    assert_eq!(blocks["config"]["sampling"]["fanouts"], serde_json::json!([-1, -1]));
    // sampled runs are repeatable
    let once = single(&sampled("gcn", 20, vec![3, 2], 4));
    assert_eq!(curve(&once, "loss"), curve(&single(&sampled("gcn", 20, vec![3, 2], 4)), "loss"));
}

#[test]
fn sampled_ranks_split_the_global_batch_and_stay_in_step() {
    let two: Vec<Value> = ranks(2, Compression::None, SyncMode::EveryStep, |_| sampled("sage", 60, vec![5, 5], 2)).into_iter().map(Result::unwrap).collect();
    assert_eq!(two[0]["distributed"]["global_batch"], 4);
    assert_eq!(two[0]["distributed"]["rank_batch"], 2);
    assert_eq!(curve(&two[0], "test_acc"), curve(&two[1], "test_acc"), "replicas evaluate the same parameters");
    assert_eq!(two[0]["comm"]["steps"], two[1]["comm"]["steps"]);
    let l = curve(&two[0], "loss");
    assert!(l[59] < 0.5 * l[0], "sampled data-parallel training learns: loss {} -> {}", l[0], l[59]);
}

#[test]
fn tasks_that_do_not_shard_refuse_to_run_distributed() {
    let out = ranks(2, Compression::None, SyncMode::EveryStep, |_| JobSpec::new("karate", "gcn").with_task("pretrain"));
    for o in out {
        let e = o.unwrap_err();
        assert!(e.contains("shards node classification, link prediction and graph classification"), "{e}");
    }
}

/// GIN on MUTAG's first fold, `batch` graphs per step per process, with the
/// run file's `[train]` lines `extra`.
fn mutag(epochs: usize, batch: usize, extra: &str) -> Option<JobSpec> {
    let dir = autoglm::testing::shared_datasets("MUTAG")?;
    let mut j =
        JobSpec::new("MUTAG", "gin").with_task("graph").with_overrides(Overrides { epochs: Some(epochs), batch_size: Some(batch), ..Overrides::default() });
    j.data_dir = Some(dir);
    let text = format!("[train]\nfold_index = 0\n{extra}\n");
    j.run_file = autoglm::run::RunFile::parse(&text, std::path::Path::new("mutag.toml")).unwrap();
    Some(j)
}

fn fold_curve(report: &Value, key: &str) -> Vec<f64> {
    report["folds"][0]["history"].as_array().unwrap().iter().map(|e| e[key].as_f64().unwrap()).collect()
}

#[test]
fn graph_ranks_split_each_global_batch_of_graphs() {
    // No batch norm, no dropout: two ranks of 16 graphs give the one-process
    // loss curve of batches of 32 (GIN's protocol on MUTAG's first fold: 169
    // training graphs, so the last global batch of 9 splits 5 + 4).
    let exact = "patience = 1000\n[train.model]\nbatch_norm = false\ndropout = 0.0";
    let Some(one) = mutag(8, 32, exact) else { return };
    let one = single(&one);
    let two: Vec<Value> = ranks(2, Compression::None, SyncMode::EveryStep, |_| mutag(8, 16, exact).unwrap()).into_iter().map(Result::unwrap).collect();
    same_curve(&fold_curve(&one, "loss"), &fold_curve(&two[0], "loss"), "graph task: one process against two ranks");
    assert_eq!(fold_curve(&two[0], "test_acc"), fold_curve(&two[1], "test_acc"), "replicas evaluate the same parameters");
    assert_eq!(two[0]["distributed"]["global_batch"], 32);
    assert_eq!(two[0]["comm"]["steps"], two[1]["comm"]["steps"]);
    // With batch norm (the GIN recipe): each rank normalises with its own
    // batch, the running statistics are averaged, so every rank still
    // evaluates the same model, and it learns.
    let two: Vec<Value> =
        ranks(2, Compression::None, SyncMode::EveryStep, |_| mutag(20, 16, "patience = 1000").unwrap()).into_iter().map(Result::unwrap).collect();
    assert_eq!(fold_curve(&two[0], "test_acc"), fold_curve(&two[1], "test_acc"), "averaged running statistics");
    let l = fold_curve(&two[0], "loss");
    assert!(l[19] < l[0], "data-parallel GIN learns: loss {} -> {}", l[0], l[19]);
    assert!(two[0]["comm"]["bytes_sent"].as_u64().unwrap() > 0);
}

#[test]
fn two_ranks_give_the_one_process_link_loss_curve() {
    let link = |epochs: usize| JobSpec::new("karate", "gcn").with_task("link").with_overrides(Overrides { epochs: Some(epochs), ..Overrides::default() });
    let one = single(&link(30));
    let two: Vec<Value> = ranks(2, Compression::None, SyncMode::EveryStep, |_| link(30)).into_iter().map(Result::unwrap).collect();
    same_curve(&curve(&one, "loss"), &curve(&two[0], "loss"), "link: one process against two ranks");
    assert_eq!(curve(&two[0], "val_auc"), curve(&two[1], "val_auc"), "replicas evaluate the same parameters");
    assert_eq!(two[0]["comm"]["steps"], 30);
    // compressed: bytes counted, replicas in step
    let topk: Vec<Value> = ranks(2, Compression::TopK { ratio: 0.05 }, SyncMode::EveryStep, |_| link(30)).into_iter().map(Result::unwrap).collect();
    assert!(topk[0]["comm"]["ratio"].as_f64().unwrap() >= 8.0, "{}", topk[0]["comm"]);
    assert_eq!(curve(&topk[0], "val_auc"), curve(&topk[1], "val_auc"));
}
