//! Regression tests for hostile input at the command line: every example of
//! the "no input may crash it, make it lie, or be silently ignored" issue
//! that the binary sees (loader-level cases live next to the loaders, and the
//! mutation harness in `crates/autoglm/tests/mutation.rs`).

use std::path::Path;
use std::process::{Command, Output};

fn autoglm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_autoglm")).args(args).output().unwrap()
}

fn err(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure; stdout: {}", String::from_utf8_lossy(&o.stdout));
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!e.contains("panicked"), "{e}");
    e
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn implausible_sizes_are_refused_before_allocating() {
    let e = err(&autoglm(&["train", "--dataset", "karate", "--hidden", "10000000000", "--quiet"]));
    assert!(e.contains("layers.0.lin.weight") && e.contains("memory budget"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--epochs", "18446744073709551615", "--quiet"]));
    assert!(e.contains("epochs") && e.contains("memory budget"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--hidden", "4096", "--max-memory", "64K", "--quiet"]));
    assert!(e.contains("--max-memory"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--max-memory", "lots"]));
    assert!(e.contains("--max-memory") && e.contains("lots"), "{e}");
}

#[test]
fn degenerate_counts_are_errors_not_nan() {
    let e = err(&autoglm(&["train", "--dataset", "karate", "--runs", "0"]));
    assert!(e.contains("runs = 0"), "{e}");
    let e = err(&autoglm(&["bench", "--epochs", "0", "--skip-cora", "--skip-graph", "--nodes", "100"]));
    assert!(e.contains("epochs = 0"), "{e}");
}

#[test]
fn metrics_over_empty_sets_are_absent_and_fallbacks_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.json");
    let o = autoglm(&["train", "--dataset", "karate", "--epochs", "20", "--quiet", "--out", s(&out)]);
    let stdout = ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stdout.contains("n/a"), "{stdout}");
    assert!(stderr.contains("no validation nodes"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(json["runs"][0]["val_acc"].is_null());
    assert_eq!(json["runs"][0]["selection"], "last");
    assert!(json["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("no validation nodes")));

    // a csv folder: empty test split, no labels, overlapping and duplicated ids
    let g = dir.path().join("g");
    std::fs::create_dir(&g).unwrap();
    std::fs::write(g.join("edges.csv"), "src,dst\n0,1\n1,2\n2,3\n3,0\n").unwrap();
    std::fs::write(g.join("labels.csv"), "node,label\n0,0\n1,1\n2,0\n3,1\n").unwrap();
    std::fs::write(g.join("train.txt"), "0\n1\n").unwrap();
    std::fs::write(g.join("val.txt"), "2\n").unwrap();
    std::fs::write(g.join("test.txt"), "").unwrap();
    let ds = format!("csv:{}", g.display());
    let o = autoglm(&["train", "--dataset", &ds, "--epochs", "5", "--quiet", "--out", s(&out)]);
    ok(&o);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(json["runs"][0]["test_acc"].is_null(), "{}", json["runs"][0]);
    assert!(json["summary"]["test_acc_mean"].is_null());
    std::fs::write(g.join("test.txt"), "0\n3\n").unwrap();
    let e = err(&autoglm(&["train", "--dataset", &ds, "--epochs", "5", "--quiet"]));
    assert!(e.contains("train") && e.contains("test"), "{e}");
    std::fs::write(g.join("test.txt"), "3\n3\n").unwrap();
    let e = err(&autoglm(&["train", "--dataset", &ds, "--epochs", "5", "--quiet"]));
    assert!(e.contains("test"), "{e}");
    std::fs::write(g.join("test.txt"), "3\n").unwrap();
    std::fs::remove_file(g.join("labels.csv")).unwrap();
    let e = err(&autoglm(&["train", "--dataset", &ds, "--epochs", "5", "--quiet"]));
    assert!(e.contains("no node labels"), "{e}");
}

#[test]
fn the_run_file_is_honoured_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    let out = dir.path().join("r.json");
    std::fs::write(&cfg, "[train]\nseed = 7\nepochs = 12\n[train.model]\nmodel = \"gat\"\n").unwrap();
    ok(&autoglm(&["train", "--dataset", "karate", "--config", s(&cfg), "--quiet", "--out", s(&out)]));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((json["model"].as_str(), json["first_seed"].as_u64()), (Some("gat"), Some(7)));
    assert_eq!(json["runs"][0]["history"].as_array().unwrap().len(), 12);
    // flags the user typed win over the run file
    ok(&autoglm(&["train", "--dataset", "karate", "--config", s(&cfg), "--model", "gcn", "--seed", "0", "--epochs", "3", "--quiet", "--out", s(&out)]));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((json["model"].as_str(), json["first_seed"].as_u64()), (Some("gcn"), Some(0)));
    assert_eq!(json["runs"][0]["history"].as_array().unwrap().len(), 3);
    // the documented [run] keys parse
    std::fs::write(&cfg, "[run]\ntask = \"node\"\ndataset = \"karate\"\nmodel = \"sage\"\nruns = 2\nseed = 3\n[train]\nepochs = 4\n").unwrap();
    ok(&autoglm(&["train", "--config", s(&cfg), "--quiet", "--out", s(&out)]));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((json["model"].as_str(), json["runs"].as_array().unwrap().len(), json["first_seed"].as_u64()), (Some("sage"), 2, Some(3)));
    // settings that do not apply are errors, never ignored
    let e = err(&autoglm(&["train", "--dataset", "karate", "--folds", "3"]));
    assert!(e.contains("folds") && e.contains("graph task"), "{e}");
    std::fs::write(&cfg, "[run]\nepochs = 5\n").unwrap();
    let e = err(&autoglm(&["train", "--config", s(&cfg)]));
    assert!(e.contains("run.toml:2") && e.contains("epochs"), "{e}");
}

#[test]
fn output_paths_are_checked_before_training() {
    let e = err(&autoglm(&["train", "--dataset", "karate", "--checkpoint", "/proc/no/such/dir/m.safetensors"]));
    assert!(e.contains("/proc/no/such/dir"), "{e}");
    assert!(!e.contains("karate: 34 nodes"), "the run started before the path was checked: {e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--out", "/proc/no/such/dir/r.json"]));
    assert!(e.contains("/proc/no/such/dir"), "{e}");
}

#[test]
fn checkpoints_of_another_task_or_with_bad_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("m.safetensors");
    ok(&autoglm(&["train", "--dataset", "karate", "--epochs", "5", "--quiet", "--checkpoint", s(&ck)]));
    let e = err(&autoglm(&["predict", "--checkpoint", s(&ck), "--task", "link"]));
    assert!(e.contains("is a node checkpoint"), "{e}");
    let e = err(&autoglm(&["predict", "--checkpoint", s(&ck), "--pairs", "x.csv"]));
    assert!(e.contains("node checkpoint"), "{e}");
    let mut bytes = std::fs::read(&ck).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&ck, &bytes).unwrap();
    let e = err(&autoglm(&["predict", "--checkpoint", s(&ck)]));
    assert!(e.contains("checksum"), "{e}");
    // errors print each cause once
    let lines: Vec<&str> = e.lines().collect();
    let mut uniq = lines.clone();
    uniq.dedup();
    assert_eq!(lines, uniq, "{e}");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_after_the_epoch_with_a_resumable_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("run.state");
    let child = Command::new(env!("CARGO_BIN_EXE_autoglm"))
        .args(["train", "--dataset", "karate", "--epochs", "2000000", "--patience", "1000000", "--quiet", "--save-state", s(&state)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // wait until the first state file exists, then ask it to stop
    let t0 = std::time::Instant::now();
    while !state.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(state.exists(), "no state file after 60 s");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", String::from_utf8_lossy(&o.stderr));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("interrupted after epoch") && e.contains("--resume"), "{e}");
    // no temporary files are left behind
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, vec!["run.state".to_string()], "{names:?}");
}

#[test]
fn distributed_flags_that_cannot_work_say_why() {
    #[cfg(not(feature = "mpi"))]
    {
        let e = err(&autoglm(&["train", "--dataset", "karate", "--distributed", "--quiet"]));
        assert!(e.contains("--features mpi") && e.contains("mpirun"), "{e}");
    }
    let e = err(&autoglm(&["train", "--dataset", "karate", "--compress", "topk:0.01", "--quiet"]));
    assert!(e.contains("need --distributed"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--distributed", "--compress", "gzip", "--quiet"]));
    assert!(e.contains("topk:R"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--distributed", "--sync-every", "0", "--quiet"]));
    assert!(e.contains("--sync-every 0"), "{e}");
}

#[test]
fn sampling_flags_that_cannot_work_say_why() {
    let e = err(&autoglm(&["train", "--dataset", "karate", "--fanouts", "15", "--quiet"]));
    assert!(e.contains("one fanout per layer") && e.contains("2 layers"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--fanouts", "5,0", "--quiet"]));
    assert!(e.contains("at least 1, or -1"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--fanouts", "5,5", "--batch-size", "0", "--quiet"]));
    assert!(e.contains("batch_size") && e.contains("at least 1"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--batch-size", "8", "--quiet"]));
    assert!(e.contains("add --fanouts"), "{e}");
    let e = err(&autoglm(&["train", "--dataset", "karate", "--task", "link", "--fanouts", "5,5", "--quiet"]));
    assert!(e.contains("node classification"), "{e}");
}
