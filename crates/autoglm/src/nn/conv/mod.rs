//! Message-passing layers, one per file.
//!
//! Each layer is the PyG split made explicit: the message `φ` is a (weighted)
//! copy of the source row, the aggregation is a permutation-invariant reduction
//! over incoming edges, and the update `γ` is the layer's transform. Where the
//! message is linear the three are fused into one SpMM ([`crate::ops::spmm`]).

mod gat;
mod gcn;
mod gin;
mod sage;

pub use gat::{GatConv, GatConvConfig};
pub use gcn::{GcnConv, GcnConvConfig};
pub use gin::{GinConv, GinConvConfig};
pub use sage::{SageAggr, SageConv, SageConvConfig};
