//! Neural-network building blocks: parameters, linear and normalisation layers,
//! MLPs and the message-passing convolutions.
//!
//! Architecture invariant: `nn` does no IO; hyper-parameters live in serialisable
//! `*Config` structs, weights in [`Params`] under stable hierarchical names.

pub mod attention;
pub mod conv;
mod input;
mod linear;
mod mlp;
mod module;
mod norm;
mod params;

pub use conv::*;
pub use input::{Ctx, MaskedInput, NodeInput};
pub use linear::{int8_linears, with_int8_linears, Linear, LinearConfig, LinearInit};
pub use mlp::{Mlp, MlpConfig};
pub use module::{Module, Sequential};
pub use norm::{BatchNorm, BatchNormConfig};
pub use params::{Init, Params};

#[cfg(test)]
mod tests;
