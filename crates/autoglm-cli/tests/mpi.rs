//! `mpirun -np 2 autoglm train --distributed` against one process (needs the
//! `mpi` feature and `mpirun` on the PATH; `.ci/run` installs OpenMPI and runs
//! these with `cargo test --release -p autoglm-cli --features mpi --test mpi`).
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_autoglm");

fn mpirun() -> Option<Command> {
    let ok = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "mpirun is missing: install openmpi-bin (CI installs it)");
        eprintln!("skipped: no mpirun (apt-get install openmpi-bin libopenmpi-dev)");
        return None;
    }
    let mut c = Command::new("mpirun");
    // root in containers; two ranks on a machine that may have fewer cores
    c.args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]);
    Some(c)
}

fn run(mut c: Command) -> Output {
    let o = c.output().unwrap();
    if !o.status.success() {
        eprintln!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
    o
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn losses(v: &serde_json::Value) -> Vec<f64> {
    v["runs"][0]["history"].as_array().unwrap().iter().map(|e| e["loss"].as_f64().unwrap()).collect()
}

const TRAIN: [&str; 8] = ["train", "--dataset", "karate", "--model", "gcn", "--epochs", "40", "--quiet"];

#[test]
fn two_mpi_ranks_give_the_one_process_loss_curve() {
    let Some(mut mpi) = mpirun() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one.json"), dir.path().join("two.json"));
    let o = run({
        let mut c = Command::new(BIN);
        c.args(TRAIN).arg("--out").arg(&one);
        c
    });
    assert!(o.status.success());
    mpi.args(["-np", "2", BIN]).args(TRAIN).arg("--distributed").arg("--out").arg(&two).arg("--checkpoint").arg(dir.path().join("m.safetensors"));
    assert!(run(mpi).status.success());
    let (a, b) = (json(&one), json(&two));
    for (e, (x, y)) in losses(&a).iter().zip(&losses(&b)).enumerate() {
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "epoch {e}: one process {x}, two ranks {y}");
    }
    assert_eq!(b["distributed"]["ranks"], 2);
    assert_eq!(b["comm"]["steps"], 40);
    assert!(dir.path().join("m.safetensors").exists(), "rank 0 writes the checkpoint");

    // top-k with error feedback: fewer bytes, counted
    let Some(mut mpi) = mpirun() else { return };
    let topk = dir.path().join("topk.json");
    mpi.args(["-np", "2", BIN]).args(TRAIN).args(["--distributed", "--compress", "topk:0.05", "--out"]).arg(&topk);
    assert!(run(mpi).status.success());
    let t = json(&topk);
    assert!(t["comm"]["ratio"].as_f64().unwrap() > 5.0, "{}", t["comm"]);
}

#[test]
fn ranks_launched_with_different_settings_stop_with_an_error_on_every_rank() {
    let Some(mut mpi) = mpirun() else { return };
    // MPMD: the two ranks get different epoch counts
    let rank = |epochs: &'static str| ["-np", "1", BIN, "train", "--dataset", "karate", "--epochs", epochs, "--distributed"];
    mpi.args(rank("20")).arg(":").args(rank("21"));
    let o = run(mpi);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("differ from rank 0"), "{err}");
}

#[test]
fn distributed_without_a_launcher_says_how_to_launch() {
    let o = Command::new(BIN).args(TRAIN).arg("--distributed").env_remove("OMPI_COMM_WORLD_SIZE").output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("mpirun -np 2"), "{err}");
}

#[test]
fn two_mpi_ranks_split_the_graph_tasks_global_batches() {
    let Some(data) = autoglm::testing::shared_datasets("MUTAG") else { return };
    let Some(mut mpi) = mpirun() else { return };
    let dir = tempfile::tempdir().unwrap();
    // no batch norm, no dropout: the same global batch gives the same curve
    let cfg = dir.path().join("mutag.toml");
    std::fs::write(&cfg, "[train]\nfold_index = 0\n[train.model]\nbatch_norm = false\ndropout = 0.0\n").unwrap();
    let train = |batch: &str, out: &Path| -> Vec<String> {
        let mut a: Vec<String> =
            ["train", "--task", "graph", "--dataset", "MUTAG", "--model", "gin", "--epochs", "6", "--quiet", "--batch-size", batch].map(String::from).to_vec();
        a.extend(["--data-dir".into(), data.display().to_string(), "--config".into(), cfg.display().to_string(), "--out".into(), out.display().to_string()]);
        a
    };
    let (one, two) = (dir.path().join("one.json"), dir.path().join("two.json"));
    assert!(run({
        let mut c = Command::new(BIN);
        c.args(train("32", &one));
        c
    })
    .status
    .success());
    mpi.args(["-np", "2", BIN]).args(train("16", &two)).arg("--distributed");
    assert!(run(mpi).status.success());
    let curve = |v: &serde_json::Value| -> Vec<f64> { v["folds"][0]["history"].as_array().unwrap().iter().map(|e| e["loss"].as_f64().unwrap()).collect() };
    let (a, b) = (json(&one), json(&two));
    assert_eq!(curve(&a).len(), 6);
    for (e, (x, y)) in curve(&a).iter().zip(&curve(&b)).enumerate() {
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "epoch {e}: one process {x}, two ranks {y}");
    }
    assert_eq!(b["distributed"]["global_batch"], 32);
}
