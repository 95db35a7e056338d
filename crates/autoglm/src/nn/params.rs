//! Parameter storage with stable hierarchical names (`layers.0.conv.lin.weight`),
//! seeded initialisation, and buffers (batch-norm running statistics) kept
//! beside the trainable parameters so checkpoints hold both.

use crate::rng::{seeded, GlmRng, Rng};
use crate::{Error, Result};
use candle_core::{Device, Tensor, Var};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// How a parameter is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All entries equal to the value.
    Const(f32),
    /// Uniform in `[lo, hi)`.
    Uniform(f32, f32),
    /// Glorot / Xavier uniform: `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))` (PyG `glorot`).
    Glorot { fan_in: usize, fan_out: usize },
    /// PyTorch's `nn.Linear` default: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    TorchLinear { fan_in: usize },
}

struct Store {
    vars: BTreeMap<String, Var>,
    buffers: BTreeSet<String>,
    rng: GlmRng,
}

/// A shared, named parameter store. `pp("layers.0")` gives a view with a longer
/// prefix; every view shares the same storage.
#[derive(Clone)]
pub struct Params {
    store: Arc<Mutex<Store>>,
    prefix: String,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Params(prefix = {:?}, {} tensors)", self.prefix, self.lock().vars.len())
    }
}

impl Params {
    /// An empty store whose initialisations draw from `seed`.
    pub fn new(seed: u64) -> Params {
        Params { store: Arc::new(Mutex::new(Store { vars: BTreeMap::new(), buffers: BTreeSet::new(), rng: seeded(seed) })), prefix: String::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A view one level down: `pp("conv")` under `layers.0` names `layers.0.conv.*`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Params {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) };
        Params { store: self.store.clone(), prefix }
    }

    /// The full name of `name` under this view.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Get or create a trainable parameter. An existing tensor (for example one
    /// loaded from a checkpoint) is reused when its shape matches.
    pub fn get(&self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        self.get_inner(name, shape, init, false)
    }

    /// Get or create a buffer: saved in checkpoints, never given to an optimiser.
    pub fn buffer(&self, name: &str, shape: &[usize], init: Init) -> Result<Var> {
        let path = self.path(name);
        self.get_inner(name, shape, init, true)?;
        let s = self.lock();
        Ok(s.vars[&path].clone())
    }

    fn get_inner(&self, name: &str, shape: &[usize], init: Init, buffer: bool) -> Result<Tensor> {
        let path = self.path(name);
        let mut s = self.lock();
        if let Some(v) = s.vars.get(&path) {
            if v.dims() != shape {
                return Err(Error::Shape { op: "parameter", expected: format!("{path} with shape {shape:?}"), got: v.dims().to_vec() });
            }
            return Ok(v.as_tensor().clone());
        }
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
        let budget = crate::data::limits::max_memory();
        if (n as u128) * 4 > budget as u128 {
            return Err(Error::config(
                format!("parameter {path}"),
                format!("shape {shape:?}"),
                format!(
                    "needs {:.1} GiB, more than the memory budget of {:.1} GiB (--max-memory); lower the hidden width or the layer sizes",
                    n as f64 * 4.0 / (1u64 << 30) as f64,
                    budget as f64 / (1u64 << 30) as f64
                ),
            ));
        }
        let data: Vec<f32> = match init {
            Init::Const(c) => vec![c; n],
            Init::Uniform(lo, hi) => (0..n).map(|_| s.rng.gen_range(lo..hi)).collect(),
            Init::Glorot { fan_in, fan_out } => {
                let a = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
                (0..n).map(|_| s.rng.gen_range(-a..a)).collect()
            }
            Init::TorchLinear { fan_in } => {
                let a = 1.0 / (fan_in.max(1) as f32).sqrt();
                (0..n).map(|_| s.rng.gen_range(-a..a)).collect()
            }
        };
        let var = Var::from_vec(data, shape, &Device::Cpu)?;
        let t = var.as_tensor().clone();
        s.vars.insert(path.clone(), var);
        if buffer {
            s.buffers.insert(path);
        }
        Ok(t)
    }

    /// Trainable parameters (buffers excluded) whose names start with this view's prefix, by name.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        let s = self.lock();
        s.vars.iter().filter(|(k, _)| !s.buffers.contains(*k) && self.owns(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Every tensor (parameters and buffers) under this view, by name.
    pub fn all(&self) -> Vec<(String, Var)> {
        let s = self.lock();
        s.vars.iter().filter(|(k, _)| self.owns(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Buffers (batch-norm running statistics and the like) under this view, by name.
    pub fn buffers(&self) -> Vec<(String, Var)> {
        let s = self.lock();
        s.vars.iter().filter(|(k, _)| s.buffers.contains(*k) && self.owns(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Names of buffers in the store.
    pub fn buffer_names(&self) -> Vec<String> {
        self.lock().buffers.iter().cloned().collect()
    }

    fn owns(&self, k: &str) -> bool {
        self.prefix.is_empty() || k == self.prefix || k.starts_with(&format!("{}.", self.prefix))
    }

    /// Insert or overwrite a tensor by full name (checkpoint loading).
    pub fn insert(&self, name: &str, t: &Tensor, buffer: bool) -> Result<()> {
        let mut s = self.lock();
        match s.vars.get(name) {
            Some(v) => {
                if v.dims() != t.dims() {
                    return Err(Error::Shape { op: "load parameter", expected: format!("{name} with shape {:?}", v.dims()), got: t.dims().to_vec() });
                }
                v.set(t)?;
            }
            None => {
                s.vars.insert(name.to_string(), Var::from_tensor(t)?);
            }
        }
        if buffer {
            s.buffers.insert(name.to_string());
        }
        Ok(())
    }

    /// A copy of every tensor (parameters and buffers), for keeping the best epoch.
    pub fn snapshot(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(self.all().into_iter().map(|(k, v)| v.as_tensor().copy().map(|t| (k, t))).collect::<candle_core::Result<Vec<_>>>()?)
    }

    /// Put back the values of a [`Params::snapshot`].
    pub fn restore(&self, snapshot: &[(String, Tensor)]) -> Result<()> {
        for (name, t) in snapshot {
            self.insert(name, t, false)?;
        }
        Ok(())
    }

    /// Total number of trainable scalars.
    pub fn num_parameters(&self) -> usize {
        self.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }
}
