//! The row kernels shared with `autoglm-kernels` (compiled portable and AVX2,
//! chosen at run time): re-exported so the ops here use the same code.

pub(crate) use autoglm_kernels::dispatch;
#[allow(unused_imports)]
pub(crate) use autoglm_kernels::simd::has_avx2;
pub(crate) use autoglm_kernels::simd::{add_assign, axpy};
