//! Summary statistics used across tasks and reports: one mean ± standard
//! deviation and one median for the whole library.

/// Mean and population standard deviation, or `None` for an empty slice (a
/// statistic over nothing is absent, never 0).
///
/// ```
/// let (m, s) = autoglm::eval::stats::mean_std(&[1.0, 3.0]).unwrap();
/// assert_eq!((m, s), (2.0, 1.0));
/// assert!(autoglm::eval::stats::mean_std(&[]).is_none());
/// ```
pub fn mean_std(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
    Some((m, var.sqrt()))
}

/// The upper median (`sorted[len / 2]`), NaN for an empty slice.
///
/// ```
/// assert_eq!(autoglm::eval::stats::median(&[3.0, 1.0, 2.0, 4.0]), 3.0);
/// ```
pub fn median(v: &[f64]) -> f64 {
    let mut t: Vec<f64> = v.to_vec();
    t.sort_by(|a, b| a.total_cmp(b));
    t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
}

/// 95 % confidence interval half-width of the mean of `v` (Student's t with
/// `len - 1` degrees of freedom; `None` below two values). For paired
/// differences, pass the per-seed differences.
pub fn ci95_half_width(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let s = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt();
    Some(t_975(v.len() - 1) * s / n.sqrt())
}

/// Two-sided 95 % quantile of Student's t distribution with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
        2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    T.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ci_of_known_sample() {
        // mean 2, sample sd 1, n 4: 3.182 * 1 / 2
        let h = ci95_half_width(&[1.0, 2.0, 3.0, 2.0]).unwrap();
        let sd = (2.0f64 / 3.0).sqrt();
        assert!((h - 3.182 * sd / 2.0).abs() < 1e-12);
        assert!(ci95_half_width(&[1.0]).is_none());
    }
}
