//! Checkpoints: one safetensors file holding every parameter and buffer under
//! its hierarchical name, plus the run configuration as JSON metadata
//! (`autoglm.config`) and the format version (`autoglm.format`). Files are
//! written to a temporary sibling, flushed and renamed, so a crash never leaves
//! a partial checkpoint.

use crate::nn::Params;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

const FORMAT: &str = "autoglm-checkpoint-1";

/// Save every tensor of `params` and the JSON `config` to `path`, atomically.
pub fn save(path: &Path, params: &Params, config: &serde_json::Value) -> Result<()> {
    let tensors = params.all();
    let buffers = params.buffer_names();
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, var) in &tensors {
        let v = var.as_tensor().to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
        data.push((name.clone(), var.dims().to_vec(), bytes));
    }
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Checkpoint { path: path.into(), msg: e.to_string() })?;
    let mut meta = HashMap::new();
    meta.insert("autoglm.format".to_string(), FORMAT.to_string());
    meta.insert("autoglm.config".to_string(), config.to_string());
    meta.insert("autoglm.buffers".to_string(), serde_json::to_string(&buffers)?);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| Error::Checkpoint { path: path.into(), msg: e.to_string() })?;
    write_atomic(path, &bytes)
}

/// Write `bytes` to `path` via a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|s| s.to_str()).unwrap_or("checkpoint"), std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", path, e));
    }
    Ok(())
}

/// A loaded checkpoint: tensors by name and the stored configuration.
pub struct Checkpoint {
    pub tensors: Vec<(String, Tensor)>,
    pub buffers: Vec<String>,
    pub config: serde_json::Value,
}

/// Read a checkpoint written by [`save`].
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read checkpoint", path, e))?;
    let bad = |msg: String| Error::Checkpoint { path: path.into(), msg };
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("not a safetensors file ({e}); was it written by `autoglm train --checkpoint`?")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("autoglm.format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(format!("missing or unknown autoglm.format (expected {FORMAT})")));
    }
    let config: serde_json::Value = serde_json::from_str(meta.get("autoglm.config").map(String::as_str).unwrap_or("null"))?;
    let buffers: Vec<String> = serde_json::from_str(meta.get("autoglm.buffers").map(String::as_str).unwrap_or("[]"))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut tensors = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor {name} has dtype {:?}, expected F32", view.dtype())));
        }
        let v: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        tensors.push((name.clone(), Tensor::from_vec(v, view.shape(), &Device::Cpu)?));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Checkpoint { tensors, buffers, config })
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

    #[test]
    fn round_trip_and_atomicity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let p = Params::new(3);
        p.pp("layers.0").get("weight", &[2, 3], Init::Uniform(-1.0, 1.0)).unwrap();
        p.buffer("running_mean", &[3], Init::Const(0.5)).unwrap();
        save(&path, &p, &serde_json::json!({"model": "gcn"})).unwrap();
        let ck = load(&path).unwrap();
        assert_eq!(ck.config["model"], "gcn");
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
    }
}
