//! Splitting an output over threads: rows (or segments) own disjoint blocks of
//! the output, so results never depend on how the work is scheduled. With the
//! `parallel` feature the blocks go to the current rayon pool; without it
//! (small targets, wasm32) they run in order on the calling thread.

#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Rows per task, so tiny rows are not scheduled one by one.
pub fn min_rows(cols: usize) -> usize {
    (4096 / cols.max(1)).max(1)
}

/// Threads of the current pool (1 without the `parallel` feature).
pub fn threads() -> usize {
    #[cfg(feature = "parallel")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "parallel"))]
    {
        1
    }
}

/// Run `f(i, row)` for every `width`-wide row `i` of `out`, at least `grain`
/// rows per task.
pub fn for_each_row<T: Send>(out: &mut [T], width: usize, grain: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if width == 0 {
        return;
    }
    #[cfg(feature = "parallel")]
    out.par_chunks_mut(width).with_min_len(grain.max(1)).enumerate().for_each(|(i, r)| f(i, r));
    #[cfg(not(feature = "parallel"))]
    {
        let _ = grain;
        out.chunks_mut(width).enumerate().for_each(|(i, r)| f(i, r));
    }
}

/// Run `f(b, block)` for consecutive blocks of `rows * width` entries of
/// `out` (the last may be shorter).
pub fn for_each_block<T: Send>(out: &mut [T], block: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if block == 0 {
        return;
    }
    #[cfg(feature = "parallel")]
    out.par_chunks_mut(block).enumerate().for_each(|(i, r)| f(i, r));
    #[cfg(not(feature = "parallel"))]
    out.chunks_mut(block).enumerate().for_each(|(i, r)| f(i, r));
}

/// Split `out` (`ptr[last] × width` values, one segment after the other) into
/// one block per segment and run `f(segment, block)` on them, at least
/// `grain` segments per task.
pub fn for_each_segment<T: Send>(out: &mut [T], ptr: &[usize], width: usize, grain: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let mut blocks: Vec<&mut [T]> = Vec::with_capacity(ptr.len().saturating_sub(1));
    let mut rest = out;
    for w in ptr.windows(2) {
        let (a, b) = rest.split_at_mut((w[1] - w[0]) * width);
        blocks.push(a);
        rest = b;
    }
    #[cfg(feature = "parallel")]
    blocks.into_par_iter().with_min_len(grain.max(1)).enumerate().for_each(|(s, o)| f(s, o));
    #[cfg(not(feature = "parallel"))]
    {
        let _ = grain;
        blocks.into_iter().enumerate().for_each(|(s, o)| f(s, o));
    }
}

/// Run `f(s, out_row, arg_row)` over two outputs of the same row width in step.
pub fn for_each_row2<T: Send, U: Send>(a: &mut [T], b: &mut [U], width: usize, f: impl Fn(usize, &mut [T], &mut [U]) + Sync + Send) {
    if width == 0 {
        return;
    }
    #[cfg(feature = "parallel")]
    a.par_chunks_mut(width).zip(b.par_chunks_mut(width)).enumerate().for_each(|(i, (x, y))| f(i, x, y));
    #[cfg(not(feature = "parallel"))]
    a.chunks_mut(width).zip(b.chunks_mut(width)).enumerate().for_each(|(i, (x, y))| f(i, x, y));
}
