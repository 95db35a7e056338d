//! The `autoglm` binary end to end: commands, files it writes, and its errors.

use std::path::PathBuf;
use std::process::Command;

fn autoglm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autoglm"))
}

fn data_dir() -> Option<PathBuf> {
    autoglm::testing::shared_datasets("cora")
}

#[test]
fn train_predict_round_trip_on_builtin_karate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let ck = dir.path().join("m.safetensors");
    let st = autoglm()
        .args(["train", "--dataset", "karate", "--model", "gcn", "--runs", "2", "--epochs", "50", "--quiet", "--data-dir", "/nonexistent"])
        .arg("--out")
        .arg(&out)
        .arg("--checkpoint")
        .arg(&ck)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let stdout = String::from_utf8_lossy(&st.stdout);
    assert!(stdout.contains("test acc"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    assert!(json["summary"]["test_acc_mean"].as_f64().unwrap() > 0.5);
    let p = autoglm().args(["predict", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck).output().unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let preds: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert_eq!(preds["predictions"].as_array().unwrap().len(), 34);
}

#[test]
fn errors_name_the_problem() {
    let st = autoglm().args(["train", "--dataset", "no-such-set", "--data-dir", "/nonexistent"]).output().unwrap();
    assert!(!st.status.success());
    let e = String::from_utf8_lossy(&st.stderr);
    assert!(e.contains("no-such-set") && e.starts_with("error:"), "{e}");

    let st = autoglm().args(["train", "--dataset", "karate", "--model", "transformerish"]).output().unwrap();
    assert!(!st.status.success());
    let e = String::from_utf8_lossy(&st.stderr);
    assert!(e.contains("unknown model 'transformerish'") && e.contains("gcn"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a checkpoint").unwrap();
    let st = autoglm().args(["predict", "--checkpoint"]).arg(&bad).output().unwrap();
    assert!(!st.status.success());
    assert!(String::from_utf8_lossy(&st.stderr).contains("bad.safetensors"));

    // a malformed edge file names the file and line
    let folder = dir.path().join("g");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("edges.csv"), "src,dst\n0,1\n1,x\n").unwrap();
    let st = autoglm().args(["train", "--dataset"]).arg(format!("csv:{}", folder.display())).output().unwrap();
    assert!(!st.status.success());
    let e = String::from_utf8_lossy(&st.stderr);
    assert!(e.contains("edges.csv") && e.contains(":3"), "{e}");
}

#[test]
fn datasets_lists_the_shared_folder() {
    let Some(dir) = data_dir() else { return };
    let st = autoglm().args(["datasets", "--data-dir"]).arg(&dir).output().unwrap();
    assert!(st.status.success());
    let s = String::from_utf8_lossy(&st.stdout);
    for name in ["cora", "pubmed", "MUTAG", "karate"] {
        assert!(s.contains(name), "{name} missing from:\n{s}");
    }
}

#[test]
fn cora_gcn_from_a_run_file() {
    let Some(dir) = data_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("run.toml");
    std::fs::write(&cfg, "[run]\ntask = \"node\"\n[train]\nepochs = 60\n[train.optimizer]\nkind = \"adamw\"\nlr = 0.01\nweight_decay = 0.01\n").unwrap();
    let out = tmp.path().join("r.json");
    let st =
        autoglm().args(["train", "--dataset", "cora", "--quiet", "--config"]).arg(&cfg).arg("--data-dir").arg(&dir).arg("--out").arg(&out).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["config"]["optimizer"]["kind"], "adamw");
    assert_eq!(json["config"]["epochs"], 60);
    assert!(json["summary"]["test_acc_mean"].as_f64().unwrap() > 0.7);
}

/// Graph classification: train on MUTAG with a checkpoint, then classify new,
/// unlabelled graphs (the first five MUTAG graphs, written without
/// `_graph_labels.txt`) encoded with the training run's vocabulary.
#[test]
fn graph_checkpoint_classifies_unlabelled_graphs() {
    let Some(dir) = data_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ck = tmp.path().join("gin.safetensors");
    let st = autoglm()
        .args(["train", "--task", "graph", "--dataset", "MUTAG", "--model", "gin", "--folds", "2", "--epochs", "3", "--quiet", "--data-dir"])
        .arg(&dir)
        .arg("--checkpoint")
        .arg(&ck)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    // the first five graphs, no graph labels
    let src = dir.join("MUTAG");
    let read = |f: &str| std::fs::read_to_string(src.join(format!("MUTAG_{f}.txt"))).unwrap();
    let ind: Vec<usize> = read("graph_indicator").lines().map(|l| l.trim().parse().unwrap()).collect();
    let n = ind.iter().take_while(|&&g| g <= 5).count();
    let new = tmp.path().join("NEW");
    std::fs::create_dir(&new).unwrap();
    let keep = |text: String, pred: &dyn Fn(&str) -> bool| text.lines().filter(|l| pred(l)).map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(new.join("NEW_graph_indicator.txt"), keep(read("graph_indicator"), &|l| l.trim().parse::<usize>().unwrap() <= 5)).unwrap();
    std::fs::write(new.join("NEW_node_labels.txt"), read("node_labels").lines().take(n).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    std::fs::write(new.join("NEW_A.txt"), keep(read("A"), &|l| l.split(',').next().unwrap().trim().parse::<usize>().unwrap() <= n)).unwrap();
    let p = autoglm().args(["predict", "--task", "graph", "--graphs", "NEW", "--data-dir"]).arg(tmp.path()).arg("--checkpoint").arg(&ck).output().unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let preds: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert_eq!(preds["predictions"].as_array().unwrap().len(), 5);
    assert!(preds["accuracy"].is_null(), "unlabelled graphs have no accuracy: {preds}");
    assert!(preds["predicted_labels"].as_array().unwrap().iter().all(|v| [-1, 1].contains(&v.as_i64().unwrap())));
    // a node label the model never saw: a clear error naming the file and line
    std::fs::write(new.join("NEW_node_labels.txt"), read("node_labels").lines().take(n - 1).map(|l| format!("{l}\n")).collect::<String>() + "42\n").unwrap();
    let p = autoglm().args(["predict", "--task", "graph", "--graphs", "NEW", "--data-dir"]).arg(tmp.path()).arg("--checkpoint").arg(&ck).output().unwrap();
    assert!(!p.status.success());
    let e = String::from_utf8_lossy(&p.stderr);
    assert!(e.contains(&format!("NEW_node_labels.txt:{n}")) && e.contains("node label 42"), "{e}");
    // the labelled training set: accuracy against its labels
    let p = autoglm().args(["predict", "--task", "graph", "--graphs", "MUTAG", "--data-dir"]).arg(&dir).arg("--checkpoint").arg(&ck).output().unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let preds: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert!(preds["accuracy"].as_f64().unwrap() > 0.3);
}
