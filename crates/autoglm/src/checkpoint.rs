//! Checkpoint files: safetensors holding tensors under their hierarchical
//! names plus JSON metadata, written to a temporary sibling, fsynced, renamed,
//! and the directory fsynced, so a crash never leaves a partial file.
//!
//! # Format (version 2)
//! The safetensors header's `__metadata__` holds:
//! * `autoglm.format` = `autoglm-checkpoint-2`;
//! * `autoglm.kind`: `model` (a trained model, [`crate::run::CheckpointMeta`]) or
//!   `train-state` (a resumable training state, [`crate::train::TrainState`]);
//! * `autoglm.meta`: the kind's metadata as JSON;
//! * `autoglm.buffers`: the names of non-trainable tensors (batch-norm statistics);
//! * `autoglm.sha256`: SHA-256 over every tensor (name, shape, little-endian
//!   f32 bytes, in name order), checked on load: flipped weight bytes are an
//!   error, never a silently different model.
//!
//! Version 1 files (written before the run boundary existed: `autoglm.config`
//! holds the run configuration, no checksum) still load as model checkpoints.

use crate::nn::Params;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The current format tag.
pub const FORMAT: &str = "autoglm-checkpoint-2";
/// The format written before version 2.
pub const FORMAT_V1: &str = "autoglm-checkpoint-1";
/// `autoglm.kind` of a trained model.
pub const KIND_MODEL: &str = "model";

fn f32_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(v.iter().flat_map(|f| f.to_le_bytes()).collect())
}

fn digest<'a>(items: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>) -> String {
    let mut h = Sha256::new();
    for (name, shape, bytes) in items {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((shape.len() as u64).to_le_bytes());
        for d in shape {
            h.update((*d as u64).to_le_bytes());
        }
        h.update(bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Write `tensors` (any order; stored by name) with metadata `meta` of `kind`,
/// atomically. `buffers` lists the names that are not trainable.
pub fn save_tensors_with_buffers(path: &Path, tensors: &[(String, Tensor)], buffers: &[String], kind: &str, meta: &serde_json::Value) -> Result<()> {
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        data.push((name.clone(), t.dims().to_vec(), f32_bytes(t)?));
    }
    data.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = data.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Checkpoint { path: path.into(), msg: format!("two tensors named '{}'", w[0].0) });
    }
    let sum = digest(data.iter().map(|(n, s, b)| (n.as_str(), s.as_slice(), b.as_slice())));
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Checkpoint { path: path.into(), msg: e.to_string() })?;
    let mut m = HashMap::new();
    m.insert("autoglm.format".to_string(), FORMAT.to_string());
    m.insert("autoglm.kind".to_string(), kind.to_string());
    m.insert("autoglm.meta".to_string(), meta.to_string());
    m.insert("autoglm.buffers".to_string(), serde_json::to_string(buffers)?);
    m.insert("autoglm.sha256".to_string(), sum);
    let bytes = safetensors::serialize(views, Some(m)).map_err(|e| Error::Checkpoint { path: path.into(), msg: e.to_string() })?;
    write_atomic(path, &bytes)
}

/// [`save_tensors_with_buffers`] with no buffers.
pub fn save_tensors(path: &Path, tensors: &[(String, Tensor)], kind: &str, meta: &serde_json::Value) -> Result<()> {
    save_tensors_with_buffers(path, tensors, &[], kind, meta)
}

/// Save every tensor of `params` as a model checkpoint with metadata `meta`.
pub fn save(path: &Path, params: &Params, meta: &serde_json::Value) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = params.all().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    save_tensors_with_buffers(path, &tensors, &params.buffer_names(), KIND_MODEL, meta)
}

/// Check that `path` can be written later (its folder exists or can be made,
/// and a file can be created there), so that a typo is reported before a long
/// run rather than after it.
pub fn check_writable(path: &Path, what: &str) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if path.is_dir() {
        return Err(Error::config(what, path.display(), "is a directory; give a file name"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let probe = dir.join(format!(".autoglm-write-test-{}", std::process::id()));
    std::fs::File::create(&probe).map_err(|e| Error::io("write into", dir, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Temporary files of [`write_atomic`] still open in this process, removed by
/// [`remove_temporary_files`] when the process is interrupted.
static PENDING: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Remove the temporary files of writes in progress (called on Ctrl-C / SIGTERM).
pub fn remove_temporary_files() {
    let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    for p in pending.iter() {
        let _ = std::fs::remove_file(p);
    }
}

/// Remove `DIR/BASE<pid>` files left by writers that were killed (their
/// process no longer exists), so repeated kills never pile up temporaries.
fn remove_stale_temporaries(dir: &Path, base: &str) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(base)).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Write `bytes` to `path` via a temporary file in the same directory, fsync,
/// rename, and fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let base = format!(".{}.tmp-", path.file_name().and_then(|s| s.to_str()).unwrap_or("checkpoint"));
    remove_stale_temporaries(dir, &base);
    let tmp = dir.join(format!("{base}{}", std::process::id()));
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).push(tmp.clone());
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &tmp);
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

/// A loaded file: tensors by name, buffer names, kind, metadata and version.
pub struct Checkpoint {
    pub tensors: Vec<(String, Tensor)>,
    pub buffers: Vec<String>,
    /// `autoglm.kind` (`model` for version 1 files).
    pub kind: String,
    /// `autoglm.meta` (version 1: the `autoglm.config` JSON).
    pub meta: serde_json::Value,
    /// 1 or 2.
    pub version: u32,
}

/// Read a file of `kind` written by [`save_tensors`] and return its tensors and metadata.
pub fn load_tensors(path: &Path, kind: &str) -> Result<(Vec<(String, Tensor)>, serde_json::Value)> {
    let ck = load(path)?;
    if ck.kind != kind {
        return Err(Error::Checkpoint { path: path.into(), msg: format!("is a '{}' file, expected '{kind}'", ck.kind) });
    }
    Ok((ck.tensors, ck.meta))
}

/// Read any checkpoint file, verifying its format and checksum.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read checkpoint", path, e))?;
    let bad = |msg: String| Error::Checkpoint { path: path.into(), msg };
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e}); was it written by `autoglm train --checkpoint`?")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |k: &str| meta.get(k).map(String::as_str);
    let version = match get("autoglm.format") {
        Some(FORMAT) => 2,
        Some(FORMAT_V1) => 1,
        Some(other) => {
            return Err(bad(format!(
                "format '{}' is not one this version reads ({FORMAT}, {FORMAT_V1}); it was written by a newer autoglm, or is not an autoglm file",
                other.escape_debug()
            )))
        }
        None => return Err(bad("has no autoglm.format entry; it was not written by autoglm (train with `autoglm train --checkpoint FILE`)".into())),
    };
    let json = |k: &str, default: &str| -> Result<serde_json::Value> {
        serde_json::from_str(get(k).unwrap_or(default)).map_err(|e| bad(format!("metadata {k} is not valid JSON ({e})")))
    };
    let (kind, meta_json) = if version == 1 {
        (KIND_MODEL.to_string(), json("autoglm.config", "null")?)
    } else {
        (get("autoglm.kind").unwrap_or("").to_string(), json("autoglm.meta", "null")?)
    };
    let buffers: Vec<String> =
        serde_json::from_value(json("autoglm.buffers", "[]")?).map_err(|e| bad(format!("metadata autoglm.buffers is not a list of names ({e})")))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("{e}; the file is truncated or corrupted")))?;
    let mut raw: Vec<(String, Vec<usize>, &[u8])> = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor {name} has dtype {:?}, expected F32", view.dtype())));
        }
        raw.push((name.clone(), view.shape().to_vec(), view.data()));
    }
    raw.sort_by(|a, b| a.0.cmp(&b.0));
    if version == 2 {
        let want = get("autoglm.sha256").ok_or_else(|| bad("has no autoglm.sha256 checksum; the file was edited or truncated".into()))?;
        let got = digest(raw.iter().map(|(n, s, b)| (n.as_str(), s.as_slice(), *b)));
        if got != want {
            return Err(bad("tensor data does not match the checksum in its metadata: the file is corrupted; restore it from a copy or retrain".into()));
        }
    }
    let mut tensors = Vec::with_capacity(raw.len());
    for (name, shape, data) in raw {
        let v: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!("tensor {name} holds a non-finite value at element {i}; the model diverged or the file is corrupted")));
        }
        tensors.push((name, Tensor::from_vec(v, shape, &Device::Cpu)?));
    }
    Ok(Checkpoint { tensors, buffers, kind, meta: meta_json, version })
}

impl Checkpoint {
    /// Put every tensor into `params` (creating or overwriting by name), so that a
    /// model initialised afterwards from the same config picks them up.
    pub fn load_into(&self, params: &Params) -> Result<()> {
        for (name, t) in &self.tensors {
            params.insert(name, t, self.buffers.contains(name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Init;

    fn sample(path: &Path) -> Params {
        let p = Params::new(3);
        p.pp("layers.0").get("weight", &[2, 3], Init::Uniform(-1.0, 1.0)).unwrap();
        p.buffer("running_mean", &[3], Init::Const(0.5)).unwrap();
        save(path, &p, &serde_json::json!({"model": "gcn"})).unwrap();
        p
    }

    #[test]
    fn round_trip_and_atomicity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let p = sample(&path);
        let ck = load(&path).unwrap();
        assert_eq!((ck.kind.as_str(), ck.version), (KIND_MODEL, 2));
        assert_eq!(ck.meta["model"], "gcn");
        assert_eq!(ck.buffers, vec!["running_mean".to_string()]);
        let q = Params::new(99);
        ck.load_into(&q).unwrap();
        let a = p.all();
        let b = q.all();
        assert_eq!(a.len(), b.len());
        for ((na, va), (nb, vb)) in a.iter().zip(&b) {
            assert_eq!(na, nb);
            assert_eq!(crate::testing::vec(va.as_tensor()), crate::testing::vec(vb.as_tensor()));
        }
        assert_eq!(q.trainable().len(), 1);
        // no temporary files left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // a truncated file is a clear error, not a panic
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(load(&path).is_err());
        // writing into a missing, uncreatable location fails cleanly
        assert!(save(Path::new("/proc/forbidden/x.safetensors"), &p, &serde_json::Value::Null).is_err());
        assert!(check_writable(Path::new("/proc/forbidden/x.safetensors"), "checkpoint").is_err());
        assert!(check_writable(&dir.path().join("sub/ok.safetensors"), "checkpoint").is_ok());
    }

    #[test]
    fn temporaries_of_killed_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        // pid 4194304 is above Linux's pid_max: no such process
        std::fs::write(dir.path().join(".m.safetensors.tmp-4194304"), b"partial").unwrap();
        std::fs::write(dir.path().join(".other.tmp-4194304"), b"not ours").unwrap();
        sample(&path);
        let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, vec![".other.tmp-4194304".to_string(), "m.safetensors".to_string()]);
    }

    #[test]
    fn flipped_weight_bytes_fail_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        sample(&path);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 5] ^= 0x01; // inside the last tensor's data
        std::fs::write(&path, &bytes).unwrap();
        let e = load(&path).err().expect("corruption must be detected").to_string();
        assert!(e.contains("checksum"), "{e}");
    }

    #[test]
    fn version_1_files_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.safetensors");
        let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|f| f.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![2], &data).unwrap();
        let mut m = HashMap::new();
        m.insert("autoglm.format".to_string(), FORMAT_V1.to_string());
        m.insert("autoglm.config".to_string(), r#"{"task":"node","in_dim":2}"#.to_string());
        std::fs::write(&path, safetensors::serialize(vec![("w".to_string(), view)], Some(m)).unwrap()).unwrap();
        let ck = load(&path).unwrap();
        assert_eq!((ck.version, ck.kind.as_str()), (1, KIND_MODEL));
        assert_eq!(ck.meta["in_dim"], 2);
        assert!(load_tensors(&path, "train-state").is_err());
    }
}
