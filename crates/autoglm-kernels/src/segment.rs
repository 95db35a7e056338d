//! Reductions over contiguous row segments: segment `s` is rows
//! `ptr[s]..ptr[s + 1]` (the nodes of graph `s` in a batch).

use crate::par::{for_each_row, for_each_row2};

/// How a segment's rows are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
    Max,
}

/// `out[s] = reduce(x[ptr[s]..ptr[s + 1]])` for `x [ptr.last(), f]`; an
/// empty segment gives zeros. For `Max` also the row that gave each output
/// element (`usize::MAX` for an empty segment), which the backward needs;
/// an empty vector otherwise.
pub fn segment_reduce(ptr: &[usize], x: &[f32], f: usize, kind: Reduce) -> (Vec<f32>, Vec<usize>) {
    let ns = ptr.len().saturating_sub(1);
    let mut out = vec![0f32; ns * f];
    let mut arg = vec![usize::MAX; if kind == Reduce::Max { ns * f } else { 0 }];
    match kind {
        Reduce::Sum | Reduce::Mean => for_each_row(&mut out, f, 1, |s, o| {
            for r in ptr[s]..ptr[s + 1] {
                o.iter_mut().zip(&x[r * f..(r + 1) * f]).for_each(|(a, &b)| *a += b);
            }
            if kind == Reduce::Mean && ptr[s + 1] > ptr[s] {
                let k = (ptr[s + 1] - ptr[s]) as f32;
                o.iter_mut().for_each(|a| *a /= k);
            }
        }),
        Reduce::Max => for_each_row2(&mut out, &mut arg, f, |s, o, a| {
            if ptr[s + 1] == ptr[s] {
                return;
            }
            o.copy_from_slice(&x[ptr[s] * f..(ptr[s] + 1) * f]);
            a.iter_mut().for_each(|v| *v = ptr[s]);
            for r in ptr[s] + 1..ptr[s + 1] {
                for c in 0..f {
                    let v = x[r * f + c];
                    if v > o[c] {
                        o[c] = v;
                        a[c] = r;
                    }
                }
            }
        }),
    }
    (out, arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_by_hand() {
        let ptr = [0, 2, 2, 3];
        let x = [1.0, -1.0, 3.0, 5.0, 7.0, 0.0];
        assert_eq!(segment_reduce(&ptr, &x, 2, Reduce::Sum).0, vec![4.0, 4.0, 0.0, 0.0, 7.0, 0.0]);
        assert_eq!(segment_reduce(&ptr, &x, 2, Reduce::Mean).0, vec![2.0, 2.0, 0.0, 0.0, 7.0, 0.0]);
        let (m, a) = segment_reduce(&ptr, &x, 2, Reduce::Max);
        assert_eq!(m, vec![3.0, 5.0, 0.0, 0.0, 7.0, 0.0]);
        assert_eq!(a, vec![1, 1, usize::MAX, usize::MAX, 2, 2]);
    }
}
