//! The library's one error type.
//!
//! Every variant carries the operation (or file) and the offending values, and
//! its message says what to do about it, in the style of DGL's
//! "3 nodes have in-degree 0; add self-loops or set allow_zero_in_degree".

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by the `autoglm` library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data file is malformed: wrong field count, unparsable number, truncated content.
    #[error("{path}{}: {msg}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        /// 1-based line number where there is one.
        line: Option<usize>,
        msg: String,
    },

    /// An index (node id, edge id, class id) is outside its valid range.
    #[error("{what}: index {index} is out of range for {bound} ({hint})")]
    IndexOutOfRange { what: String, index: usize, bound: usize, hint: String },

    /// Two pieces of data disagree about a size.
    #[error("{what}: expected {expected}, got {got}")]
    Inconsistent { what: String, expected: String, got: String },

    /// A tensor has the wrong shape for an operation.
    #[error("{op}: shape mismatch, expected {expected}, got {got:?}")]
    Shape { op: &'static str, expected: String, got: Vec<usize> },

    /// A name (dataset, model, optimiser, metric, ...) is not known.
    #[error("unknown {kind} '{name}'; known: {}", known.join(", "))]
    UnknownName { kind: &'static str, name: String, known: Vec<String> },

    /// A configuration value is invalid.
    #[error("invalid configuration: {field} = {value}: {reason}")]
    Config { field: String, value: String, reason: String },

    /// A dataset folder or file is missing.
    #[error("dataset '{name}' not found: {msg}")]
    DatasetNotFound { name: String, msg: String },

    /// A download failed or its checksum did not match.
    #[error("download {url}: {msg}")]
    Download { url: String, msg: String },

    /// A checkpoint is malformed or does not fit the model.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },

    /// An error from the tensor engine.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A JSON (de)serialisation error.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),

    /// A collective of distributed training failed on this rank (a rank died,
    /// ranks ran different steps, the transport failed).
    #[error("distributed training, rank {rank}: {msg}")]
    Distributed { rank: usize, msg: String },

    /// Training was stopped (Ctrl-C / SIGTERM) after `epoch` epochs.
    #[error("interrupted after epoch {epoch}; {}", match state { Some(p) => format!("the run can continue with --resume {}", p.display()), None => "pass --save-state FILE to be able to resume".to_string() })]
    Interrupted { epoch: usize, state: Option<PathBuf> },
}

impl Error {
    /// Helper for [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    /// Helper for [`Error::Parse`].
    pub fn parse(path: impl Into<PathBuf>, line: Option<usize>, msg: impl Into<String>) -> Self {
        Error::Parse { path: path.into(), line, msg: msg.into() }
    }

    /// Helper for [`Error::Config`].
    pub fn config(field: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::Config { field: field.into(), value: value.to_string(), reason: reason.into() }
    }

    /// Helper for [`Error::Inconsistent`].
    pub fn inconsistent(what: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        Error::Inconsistent { what: what.into(), expected: expected.to_string(), got: got.to_string() }
    }

    /// Helper for [`Error::UnknownName`].
    pub fn unknown(kind: &'static str, name: impl Into<String>, known: &[&str]) -> Self {
        Error::UnknownName { kind, name: name.into(), known: known.iter().map(|s| s.to_string()).collect() }
    }
}
