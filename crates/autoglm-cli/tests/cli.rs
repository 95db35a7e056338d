//! The `autoglm` binary end to end: commands, files it writes, and its errors.

use std::path::PathBuf;
use std::process::Command;

fn autoglm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autoglm"))
}

fn data_dir() -> Option<PathBuf> {
    let p = std::env::var_os("AUTOGLM_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/datasets")));
    if p.join("cora").is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: dataset folder not found ({})", p.display());
        None
    }
}

#[test]
fn train_predict_round_trip_on_builtin_karate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let ck = dir.path().join("m.safetensors");
    let st = autoglm()
        .args(["train", "--dataset", "karate", "--model", "gcn", "--runs", "2", "--epochs", "50", "--quiet", "--data-dir", "/nonexistent"])
        .arg("--out").arg(&out).arg("--checkpoint").arg(&ck)
        .output().unwrap();
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
    let st = autoglm().args(["train", "--dataset", "cora", "--quiet", "--config"]).arg(&cfg).arg("--data-dir").arg(&dir).arg("--out").arg(&out).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["config"]["optimizer"]["kind"], "adamw");
    assert_eq!(json["config"]["epochs"], 60);
    assert!(json["summary"]["test_acc_mean"].as_f64().unwrap() > 0.7);
}
