//! `autoglm export` and `autoglm predict` on `.agx` files, end to end: a float
//! export predicts what its checkpoint predicts, an int8 export keeps nearly
//! all predictions and is smaller, damaged files and unsupported models are
//! clear errors. Node models train on the built-in karate club, the graph
//! model on the TINY TU fixture, so nothing here needs the shared datasets.

use std::path::{Path, PathBuf};
use std::process::Command;

fn autoglm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autoglm"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../autoglm/tests/fixtures")
}

fn ok(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn export(ck: &Path, out: &Path, q: &str, data: &Path) -> serde_json::Value {
    let s = ok(autoglm().args(["export", "--quantize", q, "--time", "2", "--data-dir"]).arg(data).arg("--checkpoint").arg(ck).arg("--out").arg(out));
    serde_json::from_str(&s).unwrap()
}

fn predictions(model: &Path, data: &Path, extra: &[&str]) -> Vec<u64> {
    let s = ok(autoglm().args(["predict", "--data-dir"]).arg(data).args(extra).arg("--checkpoint").arg(model));
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    v["predictions"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect()
}

#[test]
fn node_models_export_float_exactly_and_int8_closely() {
    let tmp = tempfile::tempdir().unwrap();
    let none = Path::new("/nonexistent");
    for model in ["gcn", "gat", "gin"] {
        let ck = tmp.path().join(format!("{model}.safetensors"));
        ok(autoglm()
            .args(["train", "--dataset", "karate", "--model", model, "--epochs", "60", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"])
            .arg(&ck));
        let f32_path = tmp.path().join(format!("{model}.agx"));
        let r = export(&ck, &f32_path, "f32", none);
        assert_eq!(r["test"]["agreement_with_checkpoint"], 1.0, "{model}: {r}");
        assert!(r["test"]["max_abs_logit_diff_float_export"].as_f64().unwrap() < 1e-4, "{model}: {r}");
        let i8_path = tmp.path().join(format!("{model}_int8.agx"));
        let q = export(&ck, &i8_path, "int8", none);
        assert!(q["test"]["agreement_with_checkpoint"].as_f64().unwrap() >= 0.8, "{model}: {q}");
        assert!(q["bytes"].as_u64().unwrap() < r["bytes"].as_u64().unwrap(), "{model}: int8 is not smaller");
        assert!(q["timing_ms"]["export"].as_f64().is_some());
        // predict on the export: the float file predicts what the checkpoint predicts
        let from_ck = predictions(&ck, none, &[]);
        assert_eq!(from_ck.len(), 34);
        assert_eq!(predictions(&f32_path, none, &[]), from_ck, "{model}");
        let from_i8 = predictions(&i8_path, none, &[]);
        assert!(from_i8.iter().zip(&from_ck).filter(|(a, b)| a == b).count() >= 27, "{model}: int8 predictions {from_i8:?} vs {from_ck:?}");
    }
}

#[test]
fn graph_classifier_exports_and_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixtures().join("tu");
    let ck = tmp.path().join("gin.safetensors");
    ok(autoglm()
        .args(["train", "--task", "graph", "--dataset", "TINY", "--model", "gin", "--folds", "2", "--epochs", "5", "--quiet", "--data-dir"])
        .arg(&data)
        .arg("--checkpoint")
        .arg(&ck));
    let out = tmp.path().join("gin.agx");
    let r = export(&ck, &out, "f32", &data);
    assert_eq!(r["task"], "graph");
    assert!(r["test"]["max_abs_logit_diff_float_export"].as_f64().unwrap() < 1e-4, "{r}");
    let q = export(&ck, &tmp.path().join("gin8.agx"), "int8", &data);
    assert!(q["activation_scheme"].is_string(), "{q}");
    let from_ck = predictions(&ck, &data, &["--graphs", "TINY"]);
    assert_eq!(predictions(&out, &data, &["--graphs", "TINY"]), from_ck);
}

#[test]
fn damaged_and_unsupported_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let none = Path::new("/nonexistent");
    let ck = tmp.path().join("gcn.safetensors");
    ok(autoglm().args(["train", "--dataset", "karate", "--model", "gcn", "--epochs", "5", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck));
    let agx = tmp.path().join("m.agx");
    export(&ck, &agx, "int8", none);
    let bytes = std::fs::read(&agx).unwrap();
    let err = |path: &Path| {
        let o = autoglm().args(["predict", "--data-dir", "/nonexistent", "--checkpoint"]).arg(path).output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let cut = tmp.path().join("cut.agx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(err(&cut).contains("truncated or damaged"), "{}", err(&cut));
    let mut flipped = bytes.clone();
    let mid = flipped.len() - 100;
    flipped[mid] ^= 0x40;
    let flip = tmp.path().join("flip.agx");
    std::fs::write(&flip, &flipped).unwrap();
    assert!(err(&flip).contains("checksum"));
    let mut newer = bytes.clone();
    newer[4] = 9;
    let v9 = tmp.path().join("v9.agx");
    std::fs::write(&v9, &newer).unwrap();
    assert!(err(&v9).contains("version 9"), "{}", err(&v9));
    // an architecture the inference path does not have, and an unknown precision
    let sage = tmp.path().join("sage.safetensors");
    ok(autoglm()
        .args(["train", "--dataset", "karate", "--model", "sage", "--epochs", "2", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"])
        .arg(&sage));
    let o = autoglm().args(["export", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&sage).arg("--out").arg(tmp.path().join("s.agx")).output().unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("sage") && e.contains("GCN / GAT / GIN"), "{e}");
    let o = autoglm().args(["export", "--quantize", "int4", "--checkpoint"]).arg(&ck).arg("--out").arg(tmp.path().join("x.agx")).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("int4"));
}

/// Two rounds of 50 % on karate: the trained weights are 50 % then 75 % zeros
/// (counted from the weights, so pruned entries stayed 0 through fine-tuning),
/// and the pruned checkpoint exports and predicts.
#[test]
fn iterative_pruning_holds_the_pruned_weights_at_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p.json");
    let ck = tmp.path().join("pruned.safetensors");
    for rewind in [false, true] {
        let mut c = autoglm();
        c.args(["prune", "--dataset", "karate", "--model", "gcn", "--rounds", "2", "--rate", "0.5", "--epochs", "30", "--quiet", "--data-dir", "/nonexistent"])
            .arg("--out")
            .arg(&out)
            .arg("--checkpoint")
            .arg(&ck);
        if rewind {
            c.arg("--rewind");
        }
        ok(&mut c);
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let rounds = r["runs"][0]["rounds"].as_array().unwrap();
        let s: Vec<f64> = rounds.iter().map(|x| x["sparsity"].as_f64().unwrap()).collect();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0], 0.0);
        assert!((s[1] - 0.5).abs() < 0.01 && (s[2] - 0.75).abs() < 0.01, "rewind {rewind}: sparsity {s:?}");
    }
    let agx = tmp.path().join("pruned.agx");
    let e = export(&ck, &agx, "int8", Path::new("/nonexistent"));
    assert_eq!(e["test"]["agreement_with_checkpoint"].as_f64().map(|a| a >= 0.8), Some(true), "{e}");
    let o = autoglm().args(["prune", "--dataset", "karate", "--rate", "1.5", "--data-dir", "/nonexistent"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("(0, 1)"));
}

/// Channel pruning narrows the GCN (16 -> 8 -> 4 hidden channels at 50 %),
/// and the narrower model exports to a smaller file; GAT is refused.
#[test]
fn channel_pruning_gives_a_narrower_model() {
    let tmp = tempfile::tempdir().unwrap();
    let none = Path::new("/nonexistent");
    let out = tmp.path().join("c.json");
    let ck = tmp.path().join("narrow.safetensors");
    ok(autoglm()
        .args([
            "prune",
            "--dataset",
            "karate",
            "--model",
            "gcn",
            "--scope",
            "channels",
            "--rounds",
            "2",
            "--rate",
            "0.5",
            "--epochs",
            "30",
            "--quiet",
            "--data-dir",
            "/nonexistent",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--checkpoint")
        .arg(&ck));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let widths: Vec<u64> = r["runs"][0]["rounds"].as_array().unwrap().iter().map(|x| x["hidden_dim"].as_u64().unwrap()).collect();
    assert_eq!(widths, vec![16, 8, 4]);
    let dense = tmp.path().join("dense.safetensors");
    ok(autoglm()
        .args(["train", "--dataset", "karate", "--model", "gcn", "--epochs", "30", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"])
        .arg(&dense));
    let small = export(&ck, &tmp.path().join("n.agx"), "f32", none);
    let full = export(&dense, &tmp.path().join("d.agx"), "f32", none);
    assert!(small["bytes"].as_u64().unwrap() < full["bytes"].as_u64().unwrap() / 2, "{small} vs {full}");
    assert_eq!(small["test"]["agreement_with_checkpoint"], 1.0);
    let o = autoglm().args(["prune", "--dataset", "karate", "--model", "gat", "--scope", "channels", "--data-dir", "/nonexistent"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("channel pruning narrows plain GCN"));
}

#[test]
fn export_prunes_one_shot_and_stores_the_zeros_compactly() {
    let tmp = tempfile::tempdir().unwrap();
    let none = Path::new("/nonexistent");
    let ck = tmp.path().join("gcn.safetensors");
    ok(autoglm()
        .args(["train", "--dataset", "karate", "--model", "gcn", "--hidden", "64", "--epochs", "60", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"])
        .arg(&ck));
    let dense = export(&ck, &tmp.path().join("dense.agx"), "int8", none);
    let out = tmp.path().join("p.agx");
    let s =
        ok(autoglm().args(["export", "--quantize", "int8", "--prune", "0.9", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck).arg("--out").arg(&out));
    let r: serde_json::Value = serde_json::from_str(&s).unwrap();
    let p = &r["pruned"];
    assert_eq!(p["weights"], 34 * 64 + 64 * 2, "{r}");
    assert_eq!(p["removed"], ((34 * 64 + 64 * 2) as f64 * 0.9).round() as u64, "{r}");
    assert!(r["bytes"].as_u64().unwrap() * 2 < dense["bytes"].as_u64().unwrap(), "pruned {} vs dense {}", r["bytes"], dense["bytes"]);
    // the pruned export loads and predicts
    assert_eq!(predictions(&out, none, &[]).len(), 34);
    let o = autoglm()
        .args(["export", "--prune", "1.5", "--data-dir", "/nonexistent", "--checkpoint"])
        .arg(&ck)
        .arg("--out")
        .arg(tmp.path().join("x.agx"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("in [0, 1)"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn any_architecture_is_checked_in_int8_through_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = tmp.path().join("gt.safetensors");
    ok(autoglm().args(["train", "--dataset", "karate", "--model", "gt", "--epochs", "30", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck));
    // the transformer has no .agx path ...
    let o = autoglm().args(["export", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck).arg("--out").arg(tmp.path().join("gt.agx")).output().unwrap();
    assert!(!o.status.success());
    // ... but runs in int8 through the library
    let s =
        ok(autoglm().args(["eval", "--task", "node", "--quantize", "int8", "--time", "2", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck));
    let r: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(r["model"], "gt");
    assert!(r["test"]["agreement"].as_f64().unwrap() >= 0.8, "{r}");
    assert!(r["test"]["max_abs_logit_diff"].as_f64().unwrap() > 0.0, "{r}: the int8 path did not run");
    assert!(r["timing_ms"]["int8"].as_f64().is_some());
    let o = autoglm().args(["eval", "--task", "generate", "--quantize", "int8", "--checkpoint"]).arg(&ck).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("node and graph checkpoints"), "{}", String::from_utf8_lossy(&o.stderr));
}
