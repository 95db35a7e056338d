//! Cross-validation protocols for graph classification and their summaries
//! over folds (see [`crate::tasks::graph`] for how each protocol trains).

use crate::{Error, Result};

/// The evaluation protocol of a cross-validation (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// GIN paper: best epoch of the fold-averaged test-accuracy curve.
    Gin,
    /// Errica et al.: epoch selected on an inner validation split, test accuracy of that model.
    Errica,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Gin => "gin",
            Protocol::Errica => "errica",
        })
    }
}

impl std::str::FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "gin" => Ok(Protocol::Gin),
            "errica" => Ok(Protocol::Errica),
            _ => Err(Error::unknown("protocol", s, &["gin", "errica"])),
        }
    }
}

impl Protocol {
    /// A one-line description for reports.
    pub fn describe(&self) -> &'static str {
        match self {
            Protocol::Gin => "GIN-paper protocol: max over epochs of the test accuracy averaged over folds (optimistic; as published)",
            Protocol::Errica => "Errica et al. protocol: epoch selected on the inner validation split, test accuracy of the selected model",
        }
    }
}

/// The protocol's summary over folds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CvSummary {
    pub protocol: Protocol,
    pub num_folds: usize,
    /// Mean accuracy (fraction in `[0, 1]`).
    pub mean: f64,
    /// Population standard deviation over folds.
    pub std: f64,
    /// The accuracy of every fold that the mean is taken over.
    pub fold_acc: Vec<f64>,
    /// GIN protocol: the epoch maximising the mean test curve.
    pub best_epoch: Option<usize>,
    /// GIN protocol: the mean test curve (over the epochs every fold ran).
    pub mean_curve: Vec<f64>,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    super::stats::mean_std(v).unwrap_or((f64::NAN, f64::NAN))
}

/// GIN-paper summary of per-fold test curves: average the curves epoch by epoch
/// (over the first `min length` epochs), take the epoch with the highest mean
/// (the earliest among ties), report that mean and the standard deviation of
/// the folds' accuracies at that epoch.
///
/// ```
/// use autoglm::eval::cv::gin_protocol_summary;
/// let s = gin_protocol_summary(&[vec![0.5, 0.8, 0.7], vec![0.7, 0.6, 0.9]]).unwrap();
/// assert_eq!(s.best_epoch, Some(2));
/// assert!((s.mean - 0.8).abs() < 1e-12 && (s.std - 0.1).abs() < 1e-12);
/// ```
///
/// # Errors
/// [`Error::Config`] when there is no fold or a fold has an empty curve.
pub fn gin_protocol_summary(curves: &[Vec<f64>]) -> Result<CvSummary> {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    if len == 0 {
        return Err(Error::config("folds", curves.len(), "the GIN protocol needs at least one fold with at least one epoch"));
    }
    let mean_curve: Vec<f64> = (0..len).map(|e| curves.iter().map(|c| c[e]).sum::<f64>() / curves.len() as f64).collect();
    let mut best = 0;
    for (e, &m) in mean_curve.iter().enumerate() {
        if m > mean_curve[best] {
            best = e;
        }
    }
    let fold_acc: Vec<f64> = curves.iter().map(|c| c[best]).collect();
    let (mean, std) = mean_std(&fold_acc);
    Ok(CvSummary { protocol: Protocol::Gin, num_folds: curves.len(), mean, std, fold_acc, best_epoch: Some(best), mean_curve })
}

/// Errica summary: mean ± population std of the selected models' test accuracies.
///
/// # Errors
/// [`Error::Config`] when there is no fold.
pub fn errica_summary(test_acc: &[f64]) -> Result<CvSummary> {
    if test_acc.is_empty() {
        return Err(Error::config("folds", 0, "no fold to summarise"));
    }
    let (mean, std) = mean_std(test_acc);
    Ok(CvSummary { protocol: Protocol::Errica, num_folds: test_acc.len(), mean, std, fold_acc: test_acc.to_vec(), best_epoch: None, mean_curve: Vec::new() })
}
