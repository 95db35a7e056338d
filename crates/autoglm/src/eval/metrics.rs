//! Evaluation metrics for node/graph classification and link prediction.
//!
//! Each function follows a named reference implementation, stated in its docs
//! (scikit-learn for accuracy, macro-F1, AUC-ROC and average precision; the OGB
//! `linkproppred` evaluator for Hits@K and MRR), including how ties are counted.
//! Inputs are host slices; scores are `f32` and accumulation is `f64`.
//!
//! Errors, never panics: mismatched lengths and empty inputs where the metric is
//! undefined give [`Error::Inconsistent`], NaN scores give [`Error::Inconsistent`],
//! class ids out of range give [`Error::IndexOutOfRange`].
//!
//! [`Metric`] and [`MetricKind`] put the metrics behind one interface, chosen by
//! name with [`metric_by_name`] (`"accuracy"`, `"macro_f1"`, `"auc"`, `"ap"`,
//! `"hits@K"`, `"mrr"`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

fn check_len(op: &str, what: &str, expected: usize, got: usize) -> Result<()> {
    if expected != got {
        return Err(Error::inconsistent(format!("{op}: {what}"), expected, got));
    }
    Ok(())
}

fn non_empty(op: &str, what: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::inconsistent(format!("{op}: number of {what}"), "at least 1 (the metric is undefined without them)", 0));
    }
    Ok(())
}

fn no_nan(op: &str, what: &str, xs: &[f32]) -> Result<()> {
    match xs.iter().position(|x| x.is_nan()) {
        Some(i) => Err(Error::inconsistent(format!("{op}: {what}[{i}]"), "a number", "NaN")),
        None => Ok(()),
    }
}

fn check_classes(op: &str, what: &str, labels: &[usize], num_classes: usize) -> Result<()> {
    match labels.iter().position(|&y| y >= num_classes) {
        Some(i) => Err(Error::IndexOutOfRange {
            what: format!("{op}: {what}[{i}]"),
            index: labels[i],
            bound: num_classes,
            hint: "class ids must lie in 0..num_classes".into(),
        }),
        None => Ok(()),
    }
}

/// Fraction of correct predictions, `(1/N) Σ_i [pred_i = target_i]`
/// (scikit-learn `accuracy_score`).
///
/// ```
/// use autoglm::eval::metrics::accuracy;
/// assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2]).unwrap(), 0.75);
/// ```
///
/// Errors: [`Error::Inconsistent`] if the lengths differ or are 0.
pub fn accuracy(pred: &[usize], target: &[usize]) -> Result<f64> {
    check_len("accuracy", "number of predictions", target.len(), pred.len())?;
    non_empty("accuracy", "samples", target.len())?;
    let correct = pred.iter().zip(target).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / target.len() as f64)
}

/// Macro-averaged F1 with scikit-learn's `f1_score(average="macro")` semantics.
///
/// For each class `c`, `F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)`; the result is the
/// mean of `F1_c` over the classes that occur in `target` or in `pred`
/// (scikit-learn's `unique_labels(y_true, y_pred)`). Classes that occur in neither
/// are left out of the mean (they are not counted as 0); a class that is predicted
/// but never true, or true but never predicted, counts with `F1_c = 0`.
///
/// ```
/// use autoglm::eval::metrics::macro_f1;
/// // class 0: TP 1, FP 0, FN 1 -> 2/3; class 1: TP 1, FP 1, FN 0 -> 2/3; class 2 absent.
/// let f = macro_f1(&[0, 1, 1], &[0, 0, 1], 3).unwrap();
/// assert!((f - 2.0 / 3.0).abs() < 1e-12);
/// ```
///
/// Errors: [`Error::Inconsistent`] if the lengths differ or are 0;
/// [`Error::IndexOutOfRange`] for a class id `≥ num_classes`.
pub fn macro_f1(pred: &[usize], target: &[usize], num_classes: usize) -> Result<f64> {
    check_len("macro_f1", "number of predictions", target.len(), pred.len())?;
    non_empty("macro_f1", "samples", target.len())?;
    check_classes("macro_f1", "pred", pred, num_classes)?;
    check_classes("macro_f1", "target", target, num_classes)?;
    let mut tp = vec![0u64; num_classes];
    let mut fp = vec![0u64; num_classes];
    let mut fneg = vec![0u64; num_classes];
    for (&p, &t) in pred.iter().zip(target) {
        if p == t {
            tp[t] += 1;
        } else {
            fp[p] += 1;
            fneg[t] += 1;
        }
    }
    let mut sum = 0.0;
    let mut present = 0usize;
    for c in 0..num_classes {
        let denom = 2 * tp[c] + fp[c] + fneg[c];
        if denom > 0 {
            sum += (2 * tp[c]) as f64 / denom as f64;
            present += 1;
        }
    }
    // `present ≥ 1` because there is at least one sample.
    Ok(sum / present as f64)
}

/// Index of the largest entry of each row of a row-major `[N, num_cols]` matrix.
///
/// Ties go to the first maximal column and a NaN counts as larger than any number
/// (the first NaN wins), as `torch.argmax` does.
///
/// Errors: [`Error::Config`] if `num_cols` is 0; [`Error::Inconsistent`] if
/// `logits.len()` is not a multiple of `num_cols`.
pub fn argmax_rows(logits: &[f32], num_cols: usize) -> Result<Vec<usize>> {
    if num_cols == 0 {
        return Err(Error::config("num_cols", 0, "must be at least 1"));
    }
    if !logits.len().is_multiple_of(num_cols) {
        return Err(Error::inconsistent(
            format!("argmax_rows: number of values for rows of {num_cols} columns"),
            format!("a multiple of {num_cols}"),
            logits.len(),
        ));
    }
    Ok(logits
        .chunks_exact(num_cols)
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v.is_nan() {
                    if !row[best].is_nan() {
                        best = j;
                    }
                    break;
                }
                if v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect())
}

/// Scores with `-0.0` mapped to `0.0`, so the two compare equal under `total_cmp`.
fn labelled(pos: &[f32], neg: &[f32]) -> Vec<(f32, bool)> {
    pos.iter().map(|&s| (s + 0.0, true)).chain(neg.iter().map(|&s| (s + 0.0, false))).collect()
}

/// Area under the ROC curve of positive scores `pos` against negative scores `neg`,
/// as the Mann–Whitney statistic with average ranks for ties:
///
/// `AUC = (R₊ − P(P + 1)/2) / (P·Q)`, where `R₊` is the sum of the (1-based, tie-averaged)
/// ranks of the positives among all `P + Q` scores in increasing order.
///
/// Equivalently, the probability that a random positive scores above a random
/// negative, a tie counting 1/2; equal to scikit-learn's `roc_auc_score` (trapezoidal
/// rule over distinct thresholds). `O((P + Q) log(P + Q))`.
///
/// ```
/// use autoglm::eval::metrics::auc_roc;
/// // pairs: (0.9>0.5) 1, (0.9>0.1) 1, (0.5=0.5) ½, (0.5>0.1) 1 -> 3.5 / 4
/// assert_eq!(auc_roc(&[0.9, 0.5], &[0.5, 0.1]).unwrap(), 0.875);
/// ```
///
/// Errors: [`Error::Inconsistent`] if either side is empty (AUC is undefined with
/// one class, scikit-learn raises too) or a score is NaN.
pub fn auc_roc(pos: &[f32], neg: &[f32]) -> Result<f64> {
    non_empty("auc_roc", "positive scores", pos.len())?;
    non_empty("auc_roc", "negative scores", neg.len())?;
    no_nan("auc_roc", "pos", pos)?;
    no_nan("auc_roc", "neg", neg)?;
    let mut all = labelled(pos, neg);
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_pos = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean (i + 1 + j) / 2.
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let n_pos = all[i..j].iter().filter(|x| x.1).count();
        rank_sum_pos += avg_rank * n_pos as f64;
        i = j;
    }
    let p = pos.len() as f64;
    let q = neg.len() as f64;
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * q))
}

/// Average precision with scikit-learn's `average_precision_score` semantics:
///
/// `AP = Σ_k (R_k − R_{k−1})·P_k`, where the thresholds `k` are the distinct scores in
/// decreasing order, `P_k` and `R_k` are the precision and recall of predicting
/// "positive" for every score `≥` threshold `k`, and `R_0 = 0`. Tied scores enter
/// together at one threshold (no interpolation, no tie-breaking by order).
///
/// ```
/// use autoglm::eval::metrics::average_precision;
/// // thresholds 0.9: P=1, R=½; 0.5 (one pos, one neg): P=2/3, R=1 -> ½·1 + ½·2/3
/// let ap = average_precision(&[0.9, 0.5], &[0.5, 0.1]).unwrap();
/// assert!((ap - 5.0 / 6.0).abs() < 1e-12);
/// ```
///
/// Errors: [`Error::Inconsistent`] if `pos` is empty (recall is undefined) or a score is NaN.
/// With `neg` empty, AP is 1.
pub fn average_precision(pos: &[f32], neg: &[f32]) -> Result<f64> {
    non_empty("average_precision", "positive scores", pos.len())?;
    no_nan("average_precision", "pos", pos)?;
    no_nan("average_precision", "neg", neg)?;
    let mut all = labelled(pos, neg);
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let p = pos.len() as f64;
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut prev_recall = 0f64;
    let mut ap = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            if all[j].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        let recall = tp as f64 / p;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j;
    }
    Ok(ap)
}

/// Hits@K with the OGB `linkproppred` evaluator's semantics (shared negatives):
/// the fraction of positives that score strictly above the `K`-th highest negative,
///
/// `Hits@K = (1/P) Σ_i [pos_i > s_K]`, `s_K` = the `K`-th largest of `neg`;
///
/// if there are fewer than `K` negatives the result is 1 (as OGB returns). A positive
/// tied with `s_K` does not count.
///
/// ```
/// use autoglm::eval::metrics::hits_at_k;
/// // 2nd highest negative is 0.5; positives above it: 0.9 (0.5 is tied, not counted).
/// assert_eq!(hits_at_k(&[0.9, 0.5, 0.2], &[0.7, 0.5, 0.1], 2).unwrap(), 1.0 / 3.0);
/// ```
///
/// Errors: [`Error::Config`] for `k = 0`; [`Error::Inconsistent`] if `pos` is empty
/// or a score is NaN.
pub fn hits_at_k(pos: &[f32], neg: &[f32], k: usize) -> Result<f64> {
    if k == 0 {
        return Err(Error::config("k", 0, "Hits@K needs K >= 1"));
    }
    non_empty("hits_at_k", "positive scores", pos.len())?;
    no_nan("hits_at_k", "pos", pos)?;
    no_nan("hits_at_k", "neg", neg)?;
    if neg.len() < k {
        return Ok(1.0);
    }
    let mut n = neg.to_vec();
    let (_, kth, _) = n.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let kth = *kth;
    let hits = pos.iter().filter(|&&s| s > kth).count();
    Ok(hits as f64 / pos.len() as f64)
}

/// Rank of a positive score among its own negatives, OGB's tie-averaged rank:
/// `1 + #{neg > pos} + ½·#{neg = pos}`, i.e. `1 + ½(optimistic + pessimistic)` with
/// OGB's `optimistic_rank = #{neg > pos}` and `pessimistic_rank = #{neg ≥ pos}`.
fn ogb_rank(pos: f32, neg: &[f32]) -> f64 {
    let greater = neg.iter().filter(|&&s| s > pos).count();
    let greater_eq = neg.iter().filter(|&&s| s >= pos).count();
    1.0 + 0.5 * (greater + greater_eq) as f64
}

fn check_ranked(op: &str, pos: &[f32], neg_per_pos: &[Vec<f32>]) -> Result<()> {
    check_len(op, "number of negative lists (one per positive)", pos.len(), neg_per_pos.len())?;
    non_empty(op, "positive scores", pos.len())?;
    no_nan(op, "pos", pos)?;
    for (i, row) in neg_per_pos.iter().enumerate() {
        no_nan(op, &format!("neg_per_pos[{i}]"), row)?;
    }
    Ok(())
}

/// Mean reciprocal rank with the OGB `linkproppred` evaluator's semantics: each
/// positive `pos_i` is ranked among its own negatives `neg_per_pos[i]` with
///
/// `rank_i = 1 + #{neg > pos_i} + ½·#{neg = pos_i}`
///
/// (OGB: `0.5·(optimistic + pessimistic) + 1` with `optimistic = #{neg > pos}`,
/// `pessimistic = #{neg ≥ pos}`), and `MRR = (1/P) Σ_i 1 / rank_i`. A positive
/// with no negatives has rank 1. Lists may differ in length.
///
/// ```
/// use autoglm::eval::metrics::mrr;
/// // ranks: 1 + 0 = 1; 1 + 1 + ½ = 2.5 -> (1 + 0.4) / 2
/// let m = mrr(&[0.9, 0.5], &[vec![0.1, 0.2], vec![0.7, 0.5, 0.1]]).unwrap();
/// assert!((m - 0.7).abs() < 1e-12);
/// ```
///
/// Errors: [`Error::Inconsistent`] if the numbers of positives and negative lists
/// differ, there are no positives, or a score is NaN.
pub fn mrr(pos: &[f32], neg_per_pos: &[Vec<f32>]) -> Result<f64> {
    check_ranked("mrr", pos, neg_per_pos)?;
    let sum: f64 = pos.iter().zip(neg_per_pos).map(|(&p, n)| 1.0 / ogb_rank(p, n)).sum();
    Ok(sum / pos.len() as f64)
}

/// Hits@K against per-positive negatives, as the OGB evaluator reports next to MRR
/// (`hits@K_list = (rank ≤ K)` with the tie-averaged rank of [`mrr`]):
/// `(1/P) Σ_i [rank_i ≤ K]`.
///
/// Errors: [`Error::Config`] for `k = 0`; otherwise as [`mrr`].
pub fn ranked_hits_at_k(pos: &[f32], neg_per_pos: &[Vec<f32>], k: usize) -> Result<f64> {
    if k == 0 {
        return Err(Error::config("k", 0, "Hits@K needs K >= 1"));
    }
    check_ranked("ranked_hits_at_k", pos, neg_per_pos)?;
    let hits = pos.iter().zip(neg_per_pos).filter(|(&p, n)| ogb_rank(p, n) <= k as f64).count();
    Ok(hits as f64 / pos.len() as f64)
}

/// What a model produced, in the form a [`Metric`] consumes.
#[derive(Debug, Clone, Copy)]
pub enum Predictions<'a> {
    /// Predicted classes `pred` `[N]` and true classes `target` `[N]`.
    Classes { pred: &'a [usize], target: &'a [usize], num_classes: usize },
    /// Row-major class scores `logits` `[N, num_classes]` (prediction = row argmax)
    /// and true classes `target` `[N]`.
    Logits { logits: &'a [f32], num_classes: usize, target: &'a [usize] },
    /// Link scores of positive edges `pos` `[P]` and of shared negative edges `neg` `[Q]`.
    Links { pos: &'a [f32], neg: &'a [f32] },
    /// Link scores of positive edges `pos` `[P]`, each with its own negatives
    /// (`neg_per_pos[i]` for `pos[i]`), as in OGB's MRR datasets.
    RankedLinks { pos: &'a [f32], neg_per_pos: &'a [Vec<f32>] },
}

/// An evaluation metric.
pub trait Metric {
    /// The metric's name, as accepted by [`metric_by_name`] (`"hits@20"`).
    fn name(&self) -> String;

    /// Whether larger values are better (true for every metric in this module).
    fn higher_is_better(&self) -> bool;

    /// The metric's value on `preds`.
    ///
    /// Errors: [`Error::Config`] if the metric cannot be computed from this kind of
    /// predictions, plus the errors of the underlying function.
    fn compute(&self, preds: &Predictions<'_>) -> Result<f64>;

    /// Whether `candidate` beats `best` (strictly; NaN never does), for early stopping
    /// and model selection.
    fn is_improvement(&self, candidate: f64, best: f64) -> bool {
        if self.higher_is_better() {
            candidate > best || (best.is_nan() && !candidate.is_nan())
        } else {
            candidate < best || (best.is_nan() && !candidate.is_nan())
        }
    }
}

/// The metrics of this module, selectable by name (see [`metric_by_name`]); serialised
/// as its name string (`"macro_f1"`, `"hits@50"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MetricKind {
    /// [`accuracy`], name `"accuracy"`.
    Accuracy,
    /// [`macro_f1`], name `"macro_f1"`.
    MacroF1,
    /// [`auc_roc`], name `"auc"`.
    Auc,
    /// [`average_precision`], name `"ap"`.
    Ap,
    /// [`hits_at_k`] (or [`ranked_hits_at_k`] on [`Predictions::RankedLinks`]), name `"hits@K"`.
    HitsAt(usize),
    /// [`mrr`], name `"mrr"`.
    Mrr,
}

/// The names [`metric_by_name`] accepts (`K` is a positive integer).
pub const METRIC_NAMES: &[&str] = &["accuracy", "macro_f1", "auc", "ap", "hits@K", "mrr"];

/// The metric called `name`: `"accuracy"`, `"macro_f1"`, `"auc"`, `"ap"`, `"hits@K"`
/// for a positive integer `K` (`"hits@20"`), or `"mrr"`.
///
/// Errors: [`Error::UnknownName`] for any other name; [`Error::Config`] for `hits@`
/// with a `K` that is not a positive integer.
pub fn metric_by_name(name: &str) -> Result<MetricKind> {
    match name {
        "accuracy" => Ok(MetricKind::Accuracy),
        "macro_f1" => Ok(MetricKind::MacroF1),
        "auc" => Ok(MetricKind::Auc),
        "ap" => Ok(MetricKind::Ap),
        "mrr" => Ok(MetricKind::Mrr),
        _ => match name.strip_prefix("hits@") {
            Some(k) => match k.parse::<usize>() {
                Ok(k) if k > 0 => Ok(MetricKind::HitsAt(k)),
                _ => Err(Error::config("metric", name, "write hits@K with K a positive integer, e.g. hits@20")),
            },
            None => Err(Error::unknown("metric", name, METRIC_NAMES)),
        },
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricKind::Accuracy => f.write_str("accuracy"),
            MetricKind::MacroF1 => f.write_str("macro_f1"),
            MetricKind::Auc => f.write_str("auc"),
            MetricKind::Ap => f.write_str("ap"),
            MetricKind::HitsAt(k) => write!(f, "hits@{k}"),
            MetricKind::Mrr => f.write_str("mrr"),
        }
    }
}

impl FromStr for MetricKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        metric_by_name(s)
    }
}

impl TryFrom<String> for MetricKind {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        metric_by_name(&s)
    }
}

impl From<MetricKind> for String {
    fn from(m: MetricKind) -> String {
        m.to_string()
    }
}

impl MetricKind {
    fn wrong_input(&self, needs: &str) -> Error {
        Error::config("metric", self.to_string(), format!("this metric needs {needs}"))
    }
}

/// Predicted classes, true classes and the number of classes.
type ClassPair<'a> = (Vec<usize>, &'a [usize], usize);

/// Predicted and true classes from class predictions or logits; `None` for link scores.
fn classes<'a>(preds: &Predictions<'a>) -> Option<Result<ClassPair<'a>>> {
    match *preds {
        Predictions::Classes { pred, target, num_classes } => Some(Ok((pred.to_vec(), target, num_classes))),
        Predictions::Logits { logits, num_classes, target } => Some(argmax_rows(logits, num_classes).map(|p| (p, target, num_classes))),
        _ => None,
    }
}

impl Metric for MetricKind {
    fn name(&self) -> String {
        self.to_string()
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn compute(&self, preds: &Predictions<'_>) -> Result<f64> {
        const CLASSES: &str = "class predictions (Predictions::Classes or Predictions::Logits)";
        const LINKS: &str = "link scores (Predictions::Links or Predictions::RankedLinks)";
        match self {
            MetricKind::Accuracy | MetricKind::MacroF1 => {
                let (pred, target, num_classes) = classes(preds).ok_or_else(|| self.wrong_input(CLASSES))??;
                if *self == MetricKind::Accuracy {
                    accuracy(&pred, target)
                } else {
                    macro_f1(&pred, target, num_classes)
                }
            }
            MetricKind::Auc | MetricKind::Ap => {
                let flat;
                let (pos, neg): (&[f32], &[f32]) = match *preds {
                    Predictions::Links { pos, neg } => (pos, neg),
                    Predictions::RankedLinks { pos, neg_per_pos } => {
                        flat = neg_per_pos.concat();
                        (pos, &flat)
                    }
                    _ => return Err(self.wrong_input(LINKS)),
                };
                if *self == MetricKind::Auc {
                    auc_roc(pos, neg)
                } else {
                    average_precision(pos, neg)
                }
            }
            MetricKind::HitsAt(k) => match *preds {
                Predictions::Links { pos, neg } => hits_at_k(pos, neg, *k),
                Predictions::RankedLinks { pos, neg_per_pos } => ranked_hits_at_k(pos, neg_per_pos, *k),
                _ => Err(self.wrong_input(LINKS)),
            },
            MetricKind::Mrr => match *preds {
                Predictions::RankedLinks { pos, neg_per_pos } => mrr(pos, neg_per_pos),
                _ => Err(self.wrong_input("per-positive negatives (Predictions::RankedLinks)")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn accuracy_hand_values() {
        close(accuracy(&[1, 1, 0], &[1, 0, 0]).unwrap(), 2.0 / 3.0);
        close(accuracy(&[2], &[2]).unwrap(), 1.0);
        assert!(matches!(accuracy(&[1], &[1, 2]), Err(Error::Inconsistent { .. })));
        assert!(matches!(accuracy(&[], &[]), Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn macro_f1_hand_values() {
        // target [0,0,1,1,2,2], pred [0,1,1,1,0,0]:
        // class 0: TP 1, FP 2, FN 1 -> 2/5; class 1: TP 2, FP 1, FN 0 -> 4/5;
        // class 2: TP 0, FP 0, FN 2 -> 0. Mean = 0.4; class 3 (absent) is left out.
        close(macro_f1(&[0, 1, 1, 1, 0, 0], &[0, 0, 1, 1, 2, 2], 4).unwrap(), 0.4);
        // A class only predicted (never true) counts as 0: classes {0, 1}:
        // class 0: TP 1, FP 0, FN 1 -> 2/3; class 1: TP 0, FP 1, FN 0 -> 0. Mean 1/3.
        close(macro_f1(&[0, 1], &[0, 0], 2).unwrap(), 1.0 / 3.0);
        close(macro_f1(&[1, 1], &[1, 1], 5).unwrap(), 1.0);
        assert!(matches!(macro_f1(&[0, 3], &[0, 1], 3), Err(Error::IndexOutOfRange { index: 3, bound: 3, .. })));
        assert!(matches!(macro_f1(&[0], &[0, 1], 3), Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn argmax_rows_ties_and_nan() {
        let l = [0.1, 0.7, 0.7, 3.0, -1.0, 2.0, f32::NAN, 5.0, f32::NAN];
        assert_eq!(argmax_rows(&l, 3).unwrap(), vec![1, 0, 0]);
        let l = [1.0, f32::NAN, 5.0];
        assert_eq!(argmax_rows(&l, 3).unwrap(), vec![1]);
        assert!(argmax_rows(&[], 2).unwrap().is_empty());
        assert!(matches!(argmax_rows(&l, 2), Err(Error::Inconsistent { .. })));
        assert!(matches!(argmax_rows(&l, 0), Err(Error::Config { .. })));
    }

    #[test]
    fn auc_hand_values_with_ties() {
        close(auc_roc(&[3.0, 2.0], &[1.0, 0.0]).unwrap(), 1.0);
        close(auc_roc(&[0.0], &[1.0, 2.0]).unwrap(), 0.0);
        // All tied: every pair counts 1/2.
        close(auc_roc(&[0.5, 0.5], &[0.5, 0.5, 0.5]).unwrap(), 0.5);
        // pos [0.8, 0.4, 0.4], neg [0.4, 0.2]: pairs (0.8: 1, 1), (0.4: ½, 1), (0.4: ½, 1)
        // = 5 / 6. Rank check: sorted 0.2(n) 0.4 0.4 0.4 0.8 -> ranks 1, 3, 3, 3, 5;
        // R+ = 3 + 3 + 5 = 11; U = 11 − 6 = 5; AUC = 5/6.
        close(auc_roc(&[0.8, 0.4, 0.4], &[0.4, 0.2]).unwrap(), 5.0 / 6.0);
        // -0.0 and 0.0 tie.
        close(auc_roc(&[-0.0], &[0.0]).unwrap(), 0.5);
        assert!(matches!(auc_roc(&[], &[1.0]), Err(Error::Inconsistent { .. })));
        assert!(matches!(auc_roc(&[1.0], &[]), Err(Error::Inconsistent { .. })));
        assert!(matches!(auc_roc(&[f32::NAN], &[1.0]), Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn auc_matches_pair_count() {
        // Brute force over pairs on a deterministic sample with many ties.
        let pos: Vec<f32> = (0..37).map(|i| ((i * 7) % 11) as f32 / 4.0).collect();
        let neg: Vec<f32> = (0..53).map(|i| ((i * 5) % 9) as f32 / 4.0).collect();
        let mut s = 0.0;
        for p in &pos {
            for n in &neg {
                s += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let brute = s / (pos.len() * neg.len()) as f64;
        assert!((auc_roc(&pos, &neg).unwrap() - brute).abs() < 1e-12);
    }

    #[test]
    fn average_precision_hand_values_with_ties() {
        close(average_precision(&[2.0, 1.5], &[1.0]).unwrap(), 1.0);
        // sklearn: y = [1, 0, 1, 0], s = [0.9, 0.8, 0.7, 0.6]:
        // thresholds 0.9: P 1, R ½; 0.8: P ½, R ½; 0.7: P 2/3, R 1 -> ½ + ½·2/3 = 5/6
        close(average_precision(&[0.9, 0.7], &[0.8, 0.6]).unwrap(), 5.0 / 6.0);
        // Ties: pos [0.5, 0.5, 0.2], neg [0.5, 0.1]: thresholds 0.5: TP 2, FP 1 -> P 2/3, R 2/3;
        // 0.2: TP 3, FP 1 -> P 3/4, R 1; AP = 2/3·2/3 + 1/3·3/4 = 4/9 + 1/4 = 25/36.
        close(average_precision(&[0.5, 0.5, 0.2], &[0.5, 0.1]).unwrap(), 25.0 / 36.0);
        // All tied: AP = P/(P+Q) = 2/5.
        close(average_precision(&[1.0, 1.0], &[1.0, 1.0, 1.0]).unwrap(), 0.4);
        // No negatives: 1.
        close(average_precision(&[0.3], &[]).unwrap(), 1.0);
        assert!(matches!(average_precision(&[], &[1.0]), Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn hits_at_k_ogb_semantics() {
        let neg = [0.9, 0.1, 0.5, 0.7];
        // K=1: threshold 0.9; K=2: 0.7; K=3: 0.5; K=4: 0.1.
        let pos = [0.95, 0.7, 0.6, 0.5, 0.2];
        close(hits_at_k(&pos, &neg, 1).unwrap(), 1.0 / 5.0);
        close(hits_at_k(&pos, &neg, 2).unwrap(), 1.0 / 5.0); // 0.7 ties, not counted
        close(hits_at_k(&pos, &neg, 3).unwrap(), 3.0 / 5.0); // 0.5 ties, not counted
        close(hits_at_k(&pos, &neg, 4).unwrap(), 1.0);
        // Fewer negatives than K -> 1 (OGB).
        close(hits_at_k(&[0.0], &neg, 5).unwrap(), 1.0);
        // Duplicate negatives count separately: 2nd highest of [0.9, 0.9, 0.1] is 0.9.
        close(hits_at_k(&[0.8, 0.95], &[0.9, 0.9, 0.1], 2).unwrap(), 0.5);
        assert!(matches!(hits_at_k(&pos, &neg, 0), Err(Error::Config { .. })));
        assert!(matches!(hits_at_k(&[], &neg, 1), Err(Error::Inconsistent { .. })));
    }

    #[test]
    fn mrr_ogb_semantics_with_ties() {
        // pos 0.5 vs [0.9, 0.5, 0.5, 0.1]: 1 + 1 + ½·2 = 3 -> 1/3
        // pos 1.0 vs [0.0]: rank 1 -> 1
        // pos 0.0 vs [0.0]: rank 1.5 -> 2/3
        // pos 0.3 vs []: rank 1 -> 1
        let m = mrr(&[0.5, 1.0, 0.0, 0.3], &[vec![0.9, 0.5, 0.5, 0.1], vec![0.0], vec![0.0], vec![]]).unwrap();
        close(m, (1.0 / 3.0 + 1.0 + 2.0 / 3.0 + 1.0) / 4.0);
        assert!(matches!(mrr(&[0.5], &[]), Err(Error::Inconsistent { .. })));
        assert!(matches!(mrr(&[0.5], &[vec![f32::NAN]]), Err(Error::Inconsistent { .. })));
        // Per-positive Hits@K on the same ranks 3, 1, 1.5, 1: K=1 -> 2/4, K=2 -> 3/4, K=3 -> 1.
        let negs = [vec![0.9, 0.5, 0.5, 0.1], vec![0.0], vec![0.0], vec![]];
        let pos = [0.5, 1.0, 0.0, 0.3];
        close(ranked_hits_at_k(&pos, &negs, 1).unwrap(), 0.5);
        close(ranked_hits_at_k(&pos, &negs, 2).unwrap(), 0.75);
        close(ranked_hits_at_k(&pos, &negs, 3).unwrap(), 1.0);
    }

    #[test]
    fn registry_names_and_errors() {
        for (name, kind) in [
            ("accuracy", MetricKind::Accuracy),
            ("macro_f1", MetricKind::MacroF1),
            ("auc", MetricKind::Auc),
            ("ap", MetricKind::Ap),
            ("hits@20", MetricKind::HitsAt(20)),
            ("mrr", MetricKind::Mrr),
        ] {
            let m = metric_by_name(name).unwrap();
            assert_eq!(m, kind);
            assert_eq!(m.name(), name);
            assert!(m.higher_is_better());
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<MetricKind>(&json).unwrap(), m);
        }
        assert!(matches!(metric_by_name("f1"), Err(Error::UnknownName { .. })));
        assert!(matches!(metric_by_name("hits@0"), Err(Error::Config { .. })));
        assert!(matches!(metric_by_name("hits@x"), Err(Error::Config { .. })));
        assert!(serde_json::from_str::<MetricKind>("\"nope\"").is_err());
    }

    #[test]
    fn metric_trait_dispatch() {
        let logits = [0.1, 0.9, 0.8, 0.2, 0.3, 0.7];
        let target = [1, 0, 0];
        let p = Predictions::Logits { logits: &logits, num_classes: 2, target: &target };
        close(MetricKind::Accuracy.compute(&p).unwrap(), 2.0 / 3.0);
        // pred [1, 0, 1]: class 0: TP 1, FN 1 -> 2/3; class 1: TP 1, FP 1 -> 2/3.
        close(MetricKind::MacroF1.compute(&p).unwrap(), 2.0 / 3.0);
        assert!(matches!(MetricKind::Auc.compute(&p), Err(Error::Config { .. })));

        let links = Predictions::Links { pos: &[0.9, 0.5], neg: &[0.5, 0.1] };
        close(MetricKind::Auc.compute(&links).unwrap(), 0.875);
        close(MetricKind::Ap.compute(&links).unwrap(), 5.0 / 6.0);
        close(MetricKind::HitsAt(1).compute(&links).unwrap(), 0.5);
        assert!(matches!(MetricKind::Mrr.compute(&links), Err(Error::Config { .. })));

        let negs = [vec![0.5], vec![0.1]];
        let ranked = Predictions::RankedLinks { pos: &[0.9, 0.5], neg_per_pos: &negs };
        close(MetricKind::Mrr.compute(&ranked).unwrap(), 1.0);
        close(MetricKind::Auc.compute(&ranked).unwrap(), 0.875);
        close(MetricKind::HitsAt(1).compute(&ranked).unwrap(), 1.0);
        assert!(matches!(MetricKind::Accuracy.compute(&ranked), Err(Error::Config { .. })));

        let m = MetricKind::Auc;
        assert!(m.is_improvement(0.8, 0.7));
        assert!(!m.is_improvement(0.7, 0.7));
        assert!(!m.is_improvement(f64::NAN, 0.7));
        assert!(m.is_improvement(0.1, f64::NAN));
    }
}
