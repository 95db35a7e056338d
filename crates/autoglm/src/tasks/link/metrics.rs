//! Link-prediction metrics of a split part, and their summary over runs.

use super::LinkModel;
use crate::data::edge_split::EdgeSplit;
use crate::eval::metrics::{auc_roc, average_precision, hits_at_k, mrr, ranked_hits_at_k};
use crate::Result;
use candle_core::Tensor;
use serde::ser::SerializeMap;

/// Link-prediction metrics of one split part.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkMetrics {
    /// AUC-ROC of positives against the part's negatives.
    pub auc: f64,
    /// Average precision.
    pub ap: f64,
    /// `(K, Hits@K)`: positives above the K-th highest negative (OGB, shared negatives).
    pub hits: Vec<(usize, f64)>,
    /// Mean reciprocal rank of each positive among its own ranking negatives.
    pub mrr: f64,
    /// `(K, ranked Hits@K)`: rank among its own ranking negatives `<= K`.
    pub ranked_hits: Vec<(usize, f64)>,
}

impl LinkMetrics {
    /// Every metric by name, in a fixed order: `auc`, `ap`, `hits@K`..., `mrr`, `rank_hits@K`...
    pub fn named(&self) -> Vec<(String, f64)> {
        let mut v = vec![("auc".to_string(), self.auc), ("ap".to_string(), self.ap)];
        v.extend(self.hits.iter().map(|(k, h)| (format!("hits@{k}"), *h)));
        v.push(("mrr".to_string(), self.mrr));
        v.extend(self.ranked_hits.iter().map(|(k, h)| (format!("rank_hits@{k}"), *h)));
        v
    }

    /// Compute every metric from scores.
    ///
    /// `rank_neg[i]`: the scores of positive `i`'s own negatives.
    pub fn compute(pos: &[f32], neg: &[f32], rank_neg: &[Vec<f32>], hits_k: &[usize]) -> Result<LinkMetrics> {
        Ok(LinkMetrics {
            auc: auc_roc(pos, neg)?,
            ap: average_precision(pos, neg)?,
            hits: hits_k.iter().map(|&k| hits_at_k(pos, neg, k).map(|h| (k, h))).collect::<Result<_>>()?,
            mrr: mrr(pos, rank_neg)?,
            ranked_hits: hits_k.iter().map(|&k| ranked_hits_at_k(pos, rank_neg, k).map(|h| (k, h))).collect::<Result<_>>()?,
        })
    }
}

impl serde::Serialize for LinkMetrics {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let named = self.named();
        let mut m = s.serialize_map(Some(named.len()))?;
        for (k, v) in &named {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Which held-out part to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Val,
    Test,
}

/// Score one part of the split with embeddings `z` (evaluation mode).
pub fn evaluate(model: &LinkModel, z: &Tensor, split: &EdgeSplit, part: Part, hits_k: &[usize]) -> Result<LinkMetrics> {
    let (pos, neg, rank) = match part {
        Part::Val => (&split.val_pos, &split.val_neg, &split.val_rank_neg),
        Part::Test => (&split.test_pos, &split.test_neg, &split.test_rank_neg),
    };
    let ps = model.score_with(z, pos)?;
    let ns = model.score_with(z, neg)?;
    let rank_pairs: Vec<(usize, usize)> = pos.iter().zip(rank).flat_map(|(&(u, _), ws)| ws.iter().map(move |&w| (u, w))).collect();
    let rs = model.score_with(z, &rank_pairs)?;
    let mut rank_scores = Vec::with_capacity(pos.len());
    let mut at = 0;
    for ws in rank {
        rank_scores.push(rs[at..at + ws.len()].to_vec());
        at += ws.len();
    }
    LinkMetrics::compute(&ps, &ns, &rank_scores, hits_k)
}

/// AUC and AP of one part (the cheap per-epoch check).
pub(super) fn auc_ap(model: &LinkModel, z: &Tensor, pos: &[(usize, usize)], neg: &[(usize, usize)]) -> Result<(f64, f64)> {
    let ps = model.score_with(z, pos)?;
    let ns = model.score_with(z, neg)?;
    Ok((auc_roc(&ps, &ns)?, average_precision(&ps, &ns)?))
}

/// The positive entries the loss reconstructs: both directions of every training
/// edge, plus `(i, i)` for every node when `self_loops` (the GAE paper's target
/// `A + I`), sorted.
pub fn training_positives(split: &EdgeSplit, self_loops: bool) -> Vec<(usize, usize)> {
    let mut p = Vec::with_capacity(2 * split.train_pos.len() + if self_loops { split.num_nodes } else { 0 });
    p.extend(split.train_pos.iter().flat_map(|&(u, v)| [(u, v), (v, u)]));
    if self_loops {
        p.extend((0..split.num_nodes).map(|i| (i, i)));
    }
    p.sort_unstable();
    p
}

/// Mean and population standard deviation of each named metric over runs.
pub fn summarize(runs: &[&LinkMetrics]) -> Vec<(String, f64, f64)> {
    let Some(first) = runs.first() else { return vec![] };
    first
        .named()
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let v: Vec<f64> = runs.iter().map(|m| m.named()[i].1).collect();
            let (mean, std) = crate::eval::stats::mean_std(&v).unwrap_or((f64::NAN, f64::NAN));
            (name.clone(), mean, std)
        })
        .collect()
}
