//! The numeric kernels of Open-AutoGLM, as plain functions over slices: no
//! tensors, no autodiff, no allocation beyond the output. The training
//! library (`autoglm`) wraps them in candle custom ops with a backward pass;
//! the inference crate (`autoglm-infer`) calls them directly, so both run the
//! same arithmetic in the same order.
//!
//! | module | what |
//! |---|---|
//! | [`simd`] | row kernels compiled twice (portable, AVX2 + FMA), chosen at run time |
//! | [`par`] | rows or segments of an output split over rayon (sequential without the `parallel` feature) |
//! | [`sparse`] | message passing over CSR rows: fused propagation, multi-head SpMM, GAT attention, head dots |
//! | [`softmax`] | the per-segment softmax block and its backward |
//! | [`segment`] | sum / mean / max over contiguous row segments (graph pooling) |
//! | [`dense`] | `x Wᵀ + b` in f32 (`gemm` or a portable loop), sparse-times-dense |
//! | [`quant`] | int8: per-channel symmetric weights, activation quantisation, int8 × int8 → i32 products (AVX-512 VNNI or portable) |
//!
//! Conventions: matrices are row-major slices with their sizes passed
//! alongside; a graph is CSR by destination (`ptr[i]..ptr[i + 1]` are the
//! in-edges of node `i`, `idx[p]` the source of edge `p`). Sizes are the
//! caller's contract (checked by `debug_assert!`); the library and the
//! inference crate validate shapes before calling.

pub mod dense;
pub mod par;
pub mod quant;
pub mod segment;
pub mod simd;
pub mod softmax;
pub mod sparse;
