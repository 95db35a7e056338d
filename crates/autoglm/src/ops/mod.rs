//! Graph kernels as candle custom ops, each with a backward pass.
//!
//! Every op here has: a CPU forward (rayon-parallel over output rows, with a fixed
//! summation order so results are deterministic), a backward written with other
//! differentiable ops, a hand-computed test, a finite-difference gradient check
//! and a comparison with the dense formula (see `tests.rs`). The `cuda_fwd` slots
//! are left to candle's default ("no cuda implementation") for now.
//!
//! | op | math | shapes |
//! |---|---|---|
//! | [`spmm`] | `out_i = Σ_{e: j→i} w_e x_j` (per head) | `w [E, H]`, `x [N, H·C]` → `[N, H·C]` |
//! | [`spmm_const`] | same, `w` a constant (no gradient) | |
//! | [`gin_aggregate`] | `out_i = Σ_{j→i} x_j + s x_i`, fused (GIN) | `[N, F]` → `[N, F]` |
//! | [`sddmm`] | `out_{e,h} = <a_{dst(e),h}, b_{src(e),h}>` | `a, b [N, H·C]` → `[E, H]` |
//! | [`gather_src`] / [`gather_dst`] | `out_e = x_{src(e)}` / `x_{dst(e)}` | `[N, F]` → `[E, F]` |
//! | [`scatter_dst`] / [`scatter_src`] | `out_i = Σ_{e: dst(e)=i} x_e` | `[E, F]` → `[N, F]` |
//! | [`head_dot`] | `out[n,h] = <x[n,h,:], a[h,:]>` | `[N, H·C]`, `[H·C]` → `[N, H]` |
//! | [`gat_attention`] | `softmax_in(LeakyReLU(s_src[j] + s_dst[i]))`, fused | `[N, H]` ×2 → `[E, H]` |
//! | [`segment_softmax`] | softmax over each node's incoming edges | `[E, H]` → `[E, H]` |
//! | [`neighbor_max`] | `out_i = max_{j→i} x_j` (0 without in-edges) | `[N, F]` → `[N, F]` |
//! | [`segment_reduce`] | sum / mean / max over contiguous row segments | `[M, F]` → `[S, F]` |
//! | [`segment_rows_softmax`] | softmax over the rows of each segment (attention pooling) | `[M, H]` → `[M, H]` |
//! | [`segment_broadcast`] | `out_r = x_{seg(r)}` | `[S, F]` → `[M, F]` |
//! | [`propagate`] | `act(Σ_{e: j→i} c_e h_j + r_i + b)`, fused | `h, r [N, F]`, `b [F]` → `[N, F]` |
//! | [`batch_norm_train`] | `γ (x − μ) / sqrt(σ² + ε) + β` with column statistics, fused | `[N, F]` → `[N, F]` |
//! | [`linear`] | `x Wᵀ + b` in one `gemm`, closed-form backward | `[N, in]`, `[out, in]`, `[out]` → `[N, out]` |
//! | [`mlp2_bn_relu_train`] | `ReLU(BN(ReLU(BN(z W₁ᵀ + b₁)) W₂ᵀ + b₂))`, fused, training mode | `[N, d]` → `[N, o]` |
//! | [`bias_add`] | `x + b` per row, one-pass bias gradient | `[N, F]`, `[F]` → `[N, F]` |
//! | [`pattern_attention`] | `Σ_{e: j→i} softmax_e(s·<q_i, k_j + a_e>) (v_j + a_e)` per head, fused | `q [N, H·C]`, `kv [N, 2H·C]`, `a [P, H·C]` → `[N, H·C]` |
//! | [`dropout`] | `x ⊙ m / (1-p)` with a seeded mask | any |
//! | [`const_matmul`] / [`sparse_matmul`] | `X W` for a constant dense / CSR `X` | `W [in, out]` → `[N, out]` |
//!
//! Architecture invariant: constant inputs (features, normalisation
//! coefficients, masks) live inside the op, not as tensor arguments, so
//! candle's backward never builds a gradient for them.

mod attention;
mod dropout;
mod gather;
mod linear;
mod matmul;
mod mlp;
mod norm;
mod pattern_attention;
mod pool;
mod propagate;
mod segment;
pub(crate) mod simd;
mod softmax;
mod spmm;

pub use attention::{gat_attention, head_dot};
pub use dropout::{dropout, dropout_mask, mask_mul};
pub use gather::{gather_dst, gather_src, scatter_dst, scatter_src};
pub use linear::linear;
pub use matmul::{const_matmul, sparse_matmul, SparseInput};
pub use mlp::{mlp2_bn_relu_train, Mlp2Output, Mlp2Params};
pub(crate) use norm::column_sums;
pub use norm::{batch_norm_relu_train, batch_norm_train, bias_add, BatchNormOutput};
pub use pattern_attention::pattern_attention;
pub use pool::segment_rows_softmax;
pub use propagate::{propagate, propagate_rows};
pub use segment::{neighbor_max, segment_broadcast, segment_reduce, Reduce, Segments};
pub use softmax::segment_softmax;
pub use spmm::{gin_aggregate, sddmm, spmm, spmm_const, spmm_const_rows, spmm_t};

use candle_core::{CpuStorage, Layout, Result, Tensor};

/// The contiguous `f32` data behind a storage and layout.
pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &'static str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: input must be contiguous (call .contiguous() first)"),
    }
}

/// Check a 2-D shape `[rows, cols]` with a given number of rows.
pub(crate) fn dims2(l: &Layout, rows: usize, op: &'static str, what: &str) -> Result<usize> {
    let d = l.dims();
    if d.len() != 2 || d[0] != rows {
        candle_core::bail!("{op}: {what} must have shape [{rows}, _], got {d:?}");
    }
    Ok(d[1])
}

/// Make a tensor contiguous f32 (all kernels run in f32).
pub(crate) fn prep(t: &Tensor) -> Result<Tensor> {
    if t.dtype() != candle_core::DType::F32 {
        candle_core::bail!("graph ops run in f32, got {:?}", t.dtype());
    }
    t.contiguous()
}

static ACTIVE_WAIT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turn the active wait of [`on_worker`] on (the default) or off, process-wide.
pub fn set_active_wait(on: bool) {
    ACTIVE_WAIT.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Run `f` on a worker thread of the current rayon pool (the global pool when
/// called from outside any pool) while the pool's other workers wait *actively*
/// for the small parallel kernels `f` launches, as OpenMP runtimes do under
/// `OMP_WAIT_POLICY=active`.
///
/// Why: a mini-batch step launches about a hundred kernels of 10-150 µs each.
/// Launched from outside the pool, each is injected and waited for; launched
/// from a worker, the idle workers have gone to sleep between two kernels and
/// must be woken by a futex, which on a virtual machine costs as much as a small
/// kernel (measured: a GIN epoch over PROTEINS was slower on 2 threads than on
/// 1). Here every other worker runs a loop that executes pending rayon jobs
/// ([`rayon::yield_now`]) and spins when there are none, until `f` returns. The
/// spinning lasts exactly as long as `f`, so use this around one step, not
/// around a whole program. With one thread it is a plain call.
///
/// Results do not depend on it: the kernels split their work the same way
/// whichever thread runs each piece. Off (a plain call) after
/// [`set_active_wait`]`(false)`, which [`crate::run::ThreadPolicy`] does when
/// several jobs share the cores.
pub fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    if !ACTIVE_WAIT.load(Ordering::Relaxed) {
        return f();
    }
    if rayon::current_thread_index().is_none() {
        return rayon::scope(|_| on_worker(f));
    }
    let helpers = rayon::current_num_threads() - 1;
    if helpers == 0 {
        return f();
    }
    let done = AtomicBool::new(false);
    let me = rayon::current_thread_index();
    let spin = || {
        // the caller's own thread may pick up a helper job while it waits inside
        // `f`: it must not spin there (it would wait for itself)
        if rayon::current_thread_index() == me {
            return;
        }
        let mut idle = 0u32;
        while !done.load(Ordering::Acquire) {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => idle = 0,
                _ => {
                    // spin briefly, then hand the core to the OS scheduler between
                    // polls, so an oversubscribed machine is not starved
                    idle = idle.saturating_add(1);
                    if idle < 256 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    };
    let spin = &spin;
    let mut out = None;
    rayon::in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(move |_| spin());
        }
        out = Some(f());
        done.store(true, Ordering::Release);
    });
    out.expect("the closure ran")
}

pub(crate) use autoglm_kernels::par::min_rows;

#[cfg(test)]
mod tests;
