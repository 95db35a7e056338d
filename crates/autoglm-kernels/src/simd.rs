//! Row kernels compiled twice: a portable version and, on x86-64 CPUs that
//! have them (checked once at run time), an AVX2 + FMA version of the same
//! code, so one binary runs everywhere and uses wide vectors where it can.
//! Both versions do the same arithmetic in the same order (no fused
//! multiply-add), so results do not depend on the CPU path.

use std::sync::OnceLock;

/// Whether the AVX2 path may be used.
#[inline]
pub fn has_avx2() -> bool {
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Prefetch the cache lines of `row` (a hint; no effect on results).
#[inline(always)]
pub fn prefetch<T>(row: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(row);
        let base = row.as_ptr() as *const i8;
        let mut k = 0;
        while k < bytes {
            // SAFETY: the pointer is inside `row`; prefetch never faults.
            unsafe { _mm_prefetch(base.add(k), _MM_HINT_T0) };
            k += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// Declare `$name(args)` running `$body` through the AVX2 copy when available.
#[macro_export]
macro_rules! dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn imp_avx2($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            if $crate::simd::has_avx2() {
                // SAFETY: the CPU supports AVX2 and FMA (checked above).
                return unsafe { imp_avx2($($arg),*) };
            }
            imp($($arg),*)
        }
    };
}
pub use dispatch;

dispatch! {
    /// `y += a * x`.
    pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o += a * v;
        }
    }
}

dispatch! {
    /// `y += x`.
    pub fn add_assign(y: &mut [f32], x: &[f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o += v;
        }
    }
}
