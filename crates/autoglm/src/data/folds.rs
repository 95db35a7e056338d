//! Cross-validation folds for graph classification: the shipped 10-fold splits
//! of Errica et al. ("A Fair Comparison of Graph Neural Networks for Graph
//! Classification", ICLR 2020), and seeded stratified k-fold for datasets
//! without one.
//!
//! All indices are 0-based graph indices into a [`GraphDataset`](super::GraphDataset)
//! (index `g` is TU graph id `g + 1`).

use super::Split;
use crate::rng::{seeded, GlmRng};
use crate::{Error, Result};
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// Default fraction of each training part held out for validation by
/// [`stratified_kfold`] (Errica et al. hold out 10%).
pub const DEFAULT_VAL_FRACTION: f64 = 0.1;

/// One cross-validation fold: disjoint train, validation and test graph indices.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fold {
    /// Graphs to fit on.
    pub train: Vec<usize>,
    /// Graphs for model selection (early stopping).
    pub val: Vec<usize>,
    /// Held-out graphs of this fold.
    pub test: Vec<usize>,
}

impl From<Fold> for Split {
    fn from(f: Fold) -> Split {
        Split { train: f.train, val: f.val, test: f.test }
    }
}

impl From<Split> for Fold {
    fn from(s: Split) -> Fold {
        Fold { train: s.train, val: s.val, test: s.test }
    }
}

/// The JSON layout of an Errica et al. split file.
#[derive(serde::Deserialize)]
struct ErricaFold {
    test: Vec<usize>,
    model_selection: Vec<ErricaSelection>,
}

#[derive(serde::Deserialize)]
struct ErricaSelection {
    train: Vec<usize>,
    validation: Vec<usize>,
}

/// Read an Errica et al. split file (`DS/splits/*_splits.json`): a JSON list of
/// folds `{"test": [..], "model_selection": [{"train": [..], "validation": [..]}]}`.
/// The first model-selection entry of each fold is used (the files hold one).
///
/// The folds are not checked against a dataset here; call [`validate_folds`].
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Parse`] (with the JSON
/// line) when it is not in this layout or a fold has no model-selection entry.
pub fn load_errica_folds(path: &Path) -> Result<Vec<Fold>> {
    let text = super::text::read_text(path)?;
    let raw: Vec<ErricaFold> = serde_json::from_str(&text).map_err(|e| {
        Error::parse(
            path,
            Some(e.line()),
            format!(
                "{e}; expected a list of folds {{\"test\": [..], \"model_selection\": [{{\"train\": [..], \"validation\": [..]}}]}} with 0-based graph indices"
            ),
        )
    })?;
    if raw.is_empty() {
        return Err(Error::parse(path, None, "no folds: the JSON list is empty"));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, f)| {
            let sel = f.model_selection.into_iter().next().ok_or_else(|| {
                Error::parse(path, None, format!("fold {i} has an empty \"model_selection\" list; it needs one {{\"train\", \"validation\"}} entry"))
            })?;
            Ok(Fold { train: sel.train, val: sel.validation, test: f.test })
        })
        .collect()
}

/// The split file shipped for dataset `name`: `<data_dir>/<name>/splits/<name>_splits.json`
/// if present, else the first `*.json` (by file name) in that folder
/// (PROTEINS ships `PROTEINS_full_splits.json`).
pub fn find_folds(data_dir: &Path, name: &str) -> Option<PathBuf> {
    find_folds_in(&data_dir.join(name), name)
}

/// [`find_folds`] for the dataset folder `folder` itself.
pub fn find_folds_in(folder: &Path, name: &str) -> Option<PathBuf> {
    let dir = folder.join("splits");
    let preferred = dir.join(format!("{name}_splits.json"));
    if preferred.is_file() {
        return Some(preferred);
    }
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(&dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json")).collect();
    found.sort();
    found.into_iter().next()
}

/// Check folds against a dataset of `num_graphs` graphs: every index is
/// `< num_graphs`; in each fold train, validation and test are disjoint and
/// together cover `0..num_graphs`; the test parts of all folds partition
/// `0..num_graphs`.
///
/// # Errors
/// [`Error::IndexOutOfRange`] for an index `>= num_graphs`;
/// [`Error::Inconsistent`] naming the fold, the part and the index otherwise.
pub fn validate_folds(folds: &[Fold], num_graphs: usize) -> Result<()> {
    const UNSEEN: u8 = 0;
    let mut test_fold = vec![usize::MAX; num_graphs];
    for (k, fold) in folds.iter().enumerate() {
        let mut part = vec![UNSEEN; num_graphs];
        for (tag, name, ids) in [(1u8, "train", &fold.train), (2, "val", &fold.val), (3, "test", &fold.test)] {
            for &i in ids {
                if i >= num_graphs {
                    return Err(Error::IndexOutOfRange {
                        what: format!("fold {k} {name}"),
                        index: i,
                        bound: num_graphs,
                        hint: "graph indices are 0-based; do the folds belong to this dataset?".into(),
                    });
                }
                if part[i] != UNSEEN {
                    let prev = ["", "train", "val", "test"][part[i] as usize];
                    return Err(Error::inconsistent(
                        format!("fold {k}: graph {i} in {name}"),
                        "each graph in exactly one of train / val / test",
                        format!("also in {prev}"),
                    ));
                }
                part[i] = tag;
            }
        }
        if let Some(i) = part.iter().position(|&p| p == UNSEEN) {
            return Err(Error::inconsistent(format!("fold {k}: graph {i}"), "every graph in train, val or test", "in none of them"));
        }
        for &i in &fold.test {
            if test_fold[i] != usize::MAX {
                return Err(Error::inconsistent(
                    format!("graph {i} in the test part of fold {k}"),
                    "each graph in exactly one test fold",
                    format!("also in the test part of fold {}", test_fold[i]),
                ));
            }
            test_fold[i] = k;
        }
    }
    if let Some(i) = test_fold.iter().position(|&f| f == usize::MAX) {
        return Err(Error::inconsistent(format!("graph {i}"), format!("in the test part of one of the {} folds", folds.len()), "in none"));
    }
    Ok(())
}

/// Stratified k-fold with a validation part carved from each training part,
/// holding out [`DEFAULT_VAL_FRACTION`] of it. See [`stratified_kfold_with_val`].
///
/// ```
/// use autoglm::data::folds::stratified_kfold;
/// let labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
/// let folds = stratified_kfold(&labels, 2, 0).unwrap();
/// assert_eq!(folds.len(), 2);
/// assert_eq!(folds[0].test.len(), 5);
/// ```
///
/// # Errors
/// As [`stratified_kfold_with_val`].
pub fn stratified_kfold(labels: &[usize], k: usize, seed: u64) -> Result<Vec<Fold>> {
    stratified_kfold_with_val(labels, k, DEFAULT_VAL_FRACTION, seed)
}

/// Seeded stratified k-fold (approximately scikit-learn's
/// `StratifiedKFold(n_splits=k, shuffle=True)` followed by a stratified
/// `train_test_split` of each training part, as Errica et al. do).
///
/// Test folds: the indices of each class (classes in increasing order) are
/// shuffled and dealt round-robin to the `k` folds, the dealing continuing
/// from class to class, so each class's count differs by at most one between
/// folds and fold sizes differ by at most one. Validation: from each fold's
/// remaining graphs, `val_fraction` of them are drawn per class (per-class
/// counts rounded down, then the leftover given to the classes with the
/// largest remainders, as scikit-learn's `_approximate_mode`). All lists are
/// sorted ascending. The same `(labels, k, val_fraction, seed)` give the same folds.
///
/// # Errors
/// [`Error::Config`] when `k < 2`, `k > labels.len()`, or `val_fraction` is
/// not in `[0, 1)`.
pub fn stratified_kfold_with_val(labels: &[usize], k: usize, val_fraction: f64, seed: u64) -> Result<Vec<Fold>> {
    let n = labels.len();
    if k < 2 || k > n {
        return Err(Error::config("k", k, format!("k-fold needs 2 <= k <= number of graphs ({n})")));
    }
    if !(0.0..1.0).contains(&val_fraction) {
        return Err(Error::config("val_fraction", val_fraction, "must be in [0, 1)"));
    }
    let mut rng = seeded(seed);
    let by_class = group_by_class(labels, &mut rng);

    let mut test_of = vec![0usize; n];
    let mut slot = 0usize;
    for members in &by_class {
        for &i in members {
            test_of[i] = slot % k;
            slot += 1;
        }
    }

    let mut folds = Vec::with_capacity(k);
    for f in 0..k {
        let test: Vec<usize> = (0..n).filter(|&i| test_of[i] == f).collect();
        let rest: Vec<usize> = (0..n).filter(|&i| test_of[i] != f).collect();
        let rest_labels: Vec<usize> = rest.iter().map(|&i| labels[i]).collect();
        let groups = group_by_class(&rest_labels, &mut rng);
        let take = approximate_mode(&groups, (val_fraction * rest.len() as f64).round() as usize);
        let mut is_val = vec![false; rest.len()];
        for (members, &t) in groups.iter().zip(&take) {
            for &p in &members[..t] {
                is_val[p] = true;
            }
        }
        let (mut val, mut train) = (Vec::new(), Vec::new());
        for (p, &i) in rest.iter().enumerate() {
            if is_val[p] {
                val.push(i);
            } else {
                train.push(i);
            }
        }
        folds.push(Fold { train, val, test });
    }
    Ok(folds)
}

/// Positions of each class (classes ascending, empty classes dropped), each list shuffled.
fn group_by_class(labels: &[usize], rng: &mut GlmRng) -> Vec<Vec<usize>> {
    let num_classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut groups = vec![Vec::new(); num_classes];
    for (i, &c) in labels.iter().enumerate() {
        groups[c].push(i);
    }
    groups.retain(|g| !g.is_empty());
    for g in &mut groups {
        g.shuffle(rng);
    }
    groups
}

/// How many to draw from each group so the total is `total` and each share is
/// proportional to the group size (floor, then largest remainders first; ties to the earlier group).
fn approximate_mode(groups: &[Vec<usize>], total: usize) -> Vec<usize> {
    let n: usize = groups.iter().map(Vec::len).sum();
    if n == 0 {
        return vec![0; groups.len()];
    }
    let exact: Vec<f64> = groups.iter().map(|g| g.len() as f64 * total as f64 / n as f64).collect();
    let mut take: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = total.saturating_sub(take.iter().sum());
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &g in &order {
        if left == 0 {
            break;
        }
        if take[g] < groups[g].len() {
            take[g] += 1;
            left -= 1;
        }
    }
    take
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<usize> {
        // 3 classes of sizes 23, 11, 7
        let mut l = vec![0; 23];
        l.extend(vec![1; 11]);
        l.extend(vec![2; 7]);
        // interleave a bit so class blocks are not contiguous
        l.rotate_left(5);
        l
    }

    #[test]
    fn stratified_folds_partition_and_stratify() {
        let y = labels();
        for k in [2, 5, 10] {
            let folds = stratified_kfold(&y, k, 7).unwrap();
            assert_eq!(folds.len(), k);
            validate_folds(&folds, y.len()).unwrap();
            let sizes: Vec<usize> = folds.iter().map(|f| f.test.len()).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
            for c in 0..3 {
                let per: Vec<usize> = folds.iter().map(|f| f.test.iter().filter(|&&i| y[i] == c).count()).collect();
                assert!(per.iter().max().unwrap() - per.iter().min().unwrap() <= 1, "class {c}: {per:?}");
            }
            for f in &folds {
                let rest = f.train.len() + f.val.len();
                assert_eq!(f.val.len(), (0.1 * rest as f64).round() as usize);
                for part in [&f.train, &f.val, &f.test] {
                    assert!(part.windows(2).all(|w| w[0] < w[1]), "sorted");
                }
            }
        }
    }

    #[test]
    fn validation_is_stratified() {
        let y: Vec<usize> = (0..1000).map(|i| usize::from(i % 10 < 3)).collect(); // 70% / 30%
        let folds = stratified_kfold_with_val(&y, 10, 0.2, 1).unwrap();
        for f in &folds {
            assert_eq!(f.val.len(), 180);
            let ones = f.val.iter().filter(|&&i| y[i] == 1).count();
            assert_eq!(ones, 54);
        }
    }

    #[test]
    fn seeded_and_deterministic() {
        let y = labels();
        assert_eq!(stratified_kfold(&y, 5, 3).unwrap(), stratified_kfold(&y, 5, 3).unwrap());
        assert_ne!(stratified_kfold(&y, 5, 3).unwrap(), stratified_kfold(&y, 5, 4).unwrap());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let y = labels();
        assert!(stratified_kfold(&y, 1, 0).is_err());
        assert!(stratified_kfold(&y, y.len() + 1, 0).is_err());
        assert!(stratified_kfold_with_val(&y, 5, 1.0, 0).is_err());
        let folds = stratified_kfold_with_val(&y, 5, 0.0, 0).unwrap();
        assert!(folds.iter().all(|f| f.val.is_empty()));
    }

    #[test]
    fn validate_catches_problems() {
        let good = stratified_kfold(&[0, 1, 0, 1], 2, 0).unwrap();
        validate_folds(&good, 4).unwrap();
        let e = validate_folds(&good, 3).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let mut dup = good.clone();
        dup[1].test = dup[0].test.clone();
        dup[1].train = (0..4).filter(|i| !dup[1].test.contains(i)).collect();
        dup[1].val.clear();
        let e = validate_folds(&dup, 4).unwrap_err().to_string();
        assert!(e.contains("exactly one test fold"), "{e}");
        let mut overlap = good.clone();
        let t0 = overlap[0].test[0];
        overlap[0].val.push(t0);
        let e = validate_folds(&overlap, 4).unwrap_err().to_string();
        assert!(e.contains("also in"), "{e}");
        let mut missing = good;
        missing[0].train.clear();
        missing[0].val.clear();
        let e = validate_folds(&missing, 4).unwrap_err().to_string();
        assert!(e.contains("in none"), "{e}");
    }

    #[test]
    fn errica_json_parses_and_reports_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("X_splits.json");
        std::fs::write(
            &p,
            r#"[{"test": [0, 1], "model_selection": [{"train": [2], "validation": [3]}]},
                {"test": [2, 3], "model_selection": [{"train": [0], "validation": [1]}]}]"#,
        )
        .unwrap();
        let folds = load_errica_folds(&p).unwrap();
        assert_eq!(folds[1], Fold { train: vec![0], val: vec![1], test: vec![2, 3] });
        validate_folds(&folds, 4).unwrap();
        // A leading byte order mark and CRLF line ends change nothing.
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
        assert_eq!(load_errica_folds(&p).unwrap(), folds);

        std::fs::write(&p, "[{\"test\": [0],\n \"model_selection\": []}]").unwrap();
        let e = load_errica_folds(&p).unwrap_err().to_string();
        assert!(e.contains("X_splits.json") && e.contains("empty \"model_selection\""), "{e}");
        std::fs::write(&p, "[{\"test\": [0],\n \"model_selection\": [{\"train\": [-1]}]}]").unwrap();
        let e = load_errica_folds(&p).unwrap_err().to_string();
        assert!(e.contains("X_splits.json:2:"), "{e}");
    }

    #[test]
    fn real_errica_folds() {
        let Some(dir) = crate::testing::shared_datasets("PROTEINS") else {
            return;
        };
        for (name, n, sizes) in [("PROTEINS", 1113, (112, 900, 101)), ("ENZYMES", 600, (60, 486, 54)), ("IMDB-BINARY", 1000, (100, 810, 90))] {
            let path = find_folds(&dir, name).unwrap();
            let folds = load_errica_folds(&path).unwrap();
            assert_eq!(folds.len(), 10, "{name}");
            validate_folds(&folds, n).unwrap();
            let f = &folds[0];
            assert_eq!((f.test.len(), f.train.len(), f.val.len()), sizes, "{name}");
        }
        assert!(find_folds(&dir, "MUTAG").is_none());
    }
}
