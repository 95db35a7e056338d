//! Typed, versioned metadata of a model checkpoint.

use crate::checkpoint::Checkpoint;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The metadata version written now (checkpoint format 2).
pub const META_VERSION: u32 = 2;

/// What a model checkpoint says about itself, enough to rebuild the model and
/// encode new data the way training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`META_VERSION`].
    pub version: u32,
    /// The task ([`crate::run::task_by_name`]).
    pub task: String,
    /// The model architecture's registry name.
    pub model: String,
    /// The dataset it was trained on.
    pub dataset: String,
    /// Input features per node.
    pub in_dim: usize,
    /// Classes (node and graph tasks).
    pub num_classes: Option<usize>,
    /// The task's training configuration (for example `NodeTrainConfig`).
    pub train: serde_json::Value,
    /// Task-specific data encoding (graph task: the TU encoding and class
    /// labels; link task: the feature source and node count).
    #[serde(default)]
    pub encoding: serde_json::Value,
    /// The run file's `[model]` options the model was built with (registered models).
    #[serde(default)]
    pub model_options: serde_json::Value,
}

fn missing(path: &Path, field: &str, what: &str) -> Error {
    Error::Checkpoint {
        path: path.into(),
        msg: format!("metadata field '{field}' is missing or not {what}; the file was not written by `autoglm train --checkpoint` or was edited: retrain it"),
    }
}

impl CheckpointMeta {
    /// The metadata of a loaded checkpoint, checked against its tensors.
    /// Version-1 files (written before this type existed) are read through
    /// their untyped `autoglm.config`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the field that is missing, mistyped or
    /// implausible (a size that no tensor of the file has), or the kind of
    /// file when it is not a model checkpoint.
    pub fn from_checkpoint(path: &Path, ck: &Checkpoint) -> Result<CheckpointMeta> {
        if ck.kind != crate::checkpoint::KIND_MODEL {
            return Err(Error::Checkpoint {
                path: path.into(),
                msg: format!("is a '{}' file, not a model checkpoint; a training state continues a run with `autoglm train --resume`", ck.kind.escape_debug()),
            });
        }
        let meta = if ck.version == 1 { Self::from_v1(path, &ck.meta)? } else { Self::from_v2(path, &ck.meta)? };
        // Sizes must be sizes of the tensors actually in the file: a bad value never allocates.
        let dims: std::collections::BTreeSet<usize> = ck.tensors.iter().flat_map(|(_, t)| t.dims().to_vec()).collect();
        if meta.in_dim == 0 || !dims.contains(&meta.in_dim) {
            return Err(Error::Checkpoint {
                path: path.into(),
                msg: format!("metadata in_dim = {} matches no tensor of the file; it is corrupted or edited: retrain it", meta.in_dim),
            });
        }
        if let Some(c) = meta.num_classes {
            if c < 2 || !dims.contains(&c) {
                return Err(Error::Checkpoint {
                    path: path.into(),
                    msg: format!("metadata num_classes = {c} matches no tensor of the file; it is corrupted or edited: retrain it"),
                });
            }
        }
        Ok(meta)
    }

    fn from_v2(path: &Path, v: &serde_json::Value) -> Result<CheckpointMeta> {
        let meta: CheckpointMeta = serde_json::from_value(v.clone()).map_err(|e| Error::Checkpoint {
            path: path.into(),
            msg: format!("metadata does not describe a model ({e}); retrain it with `autoglm train --checkpoint`"),
        })?;
        if meta.version != META_VERSION {
            return Err(Error::Checkpoint {
                path: path.into(),
                msg: format!("metadata version {} is not {META_VERSION}; it was written by another autoglm version: retrain it", meta.version),
            });
        }
        Ok(meta)
    }

    /// Version 1: `{"task", "dataset", "in_dim", "num_classes", "train", ...}`.
    fn from_v1(path: &Path, v: &serde_json::Value) -> Result<CheckpointMeta> {
        let task = v["task"].as_str().ok_or_else(|| missing(path, "task", "a task name"))?.to_string();
        let in_dim = v["in_dim"].as_u64().ok_or_else(|| missing(path, "in_dim", "a number"))? as usize;
        let train = v.get("train").cloned().ok_or_else(|| missing(path, "train", "a training configuration"))?;
        let num_classes = match task.as_str() {
            "link" => None,
            _ => Some(v["num_classes"].as_u64().ok_or_else(|| missing(path, "num_classes", "a number"))? as usize),
        };
        let model = match task.as_str() {
            "link" => match (train["encoder"]["model"].as_str(), train["variational"].as_bool()) {
                (Some("gcn"), Some(true)) => "vgae".to_string(),
                (Some("gcn"), _) => "gae".to_string(),
                (Some(m), _) => m.to_string(),
                _ => return Err(missing(path, "train.encoder.model", "a model name")),
            },
            _ => train["model"]["model"].as_str().ok_or_else(|| missing(path, "train.model.model", "a model name"))?.to_string(),
        };
        let mut encoding = serde_json::Map::new();
        for k in ["tu_encoding", "class_labels", "num_nodes", "features"] {
            if let Some(x) = v.get(k) {
                encoding.insert(k.into(), x.clone());
            }
        }
        Ok(CheckpointMeta {
            version: 1,
            task,
            model,
            dataset: v["dataset"].as_str().unwrap_or("").to_string(),
            in_dim,
            num_classes,
            train,
            encoding: serde_json::Value::Object(encoding),
            model_options: serde_json::Value::Null,
        })
    }

    /// The training configuration as the task's type.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the field that does not fit.
    pub fn train_config<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T> {
        serde_json::from_value(self.train.clone()).map_err(|e| Error::Checkpoint {
            path: path.into(),
            msg: format!("its {} training configuration does not fit this version ({e}); retrain it", self.task),
        })
    }

    /// As JSON for [`crate::checkpoint::save`].
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
