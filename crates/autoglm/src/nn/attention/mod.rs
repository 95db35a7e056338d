//! Attention layers of the graph transformer: [`MultiGranularityAttention`]
//! (head groups at local, k-hop and global granularity, `mga.rs`), the
//! linear-time global forms (`linear_attention.rs`), [`LayerNorm`] and the
//! GPS-style block (`gps.rs`).

mod gps;
mod linear_attention;
mod mga;
mod norm;

pub use gps::{GpsConfig, GpsLayer, GpsMode, Mpnn};
pub use linear_attention::{normalized_linear_attention, performer_attention};
pub use mga::{GlobalForm, GroupForm, HeadGroups, KhopForm, LinearForm, MgaConfig, MultiGranularityAttention};
pub use norm::{LayerNorm, Norm, NormKind};
