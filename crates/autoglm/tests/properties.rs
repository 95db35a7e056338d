//! Property tests: the graph builder, the splitters and the metrics on random inputs.

use autoglm::data::edge_split::{split_edges, undirected_pairs, EdgeSplitConfig};
use autoglm::data::folds::stratified_kfold;
use autoglm::eval::metrics::{accuracy, auc_roc};
use autoglm::graph::{CsrMatrix, Graph};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn edge_list() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1usize..40).prop_flat_map(|n| (Just(n), prop::collection::vec((0..n, 0..n), 0..200)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn builder_csr_invariants((n, edges) in edge_list()) {
        let g = Graph::from_edges(n, &edges).unwrap();
        prop_assert_eq!(g.num_nodes(), n);
        prop_assert_eq!(g.num_edges(), edges.len());
        prop_assert_eq!(g.in_degree().iter().sum::<usize>(), edges.len());
        prop_assert_eq!(g.out_degree().iter().sum::<usize>(), edges.len());
        let rp = g.row_ptr();
        prop_assert_eq!(rp.len(), n + 1);
        prop_assert_eq!(rp[0], 0);
        prop_assert_eq!(rp[n], edges.len());
        prop_assert!(rp.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(g.dst().windows(2).all(|w| w[0] <= w[1]));
        for i in 0..n {
            prop_assert!(g.dst()[rp[i]..rp[i + 1]].iter().all(|&d| d == i));
        }
        // The same multiset of edges.
        let mut a: Vec<(usize, usize)> = g.edges().collect();
        let mut b = edges.clone();
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(&a, &b);
        // The transpose lists every edge once, by source.
        let (tp, td, te) = (g.t_ptr(), g.t_dst(), g.t_eid());
        prop_assert_eq!(tp.len(), n + 1);
        let mut seen = vec![false; edges.len()];
        for s in 0..n {
            for p in tp[s]..tp[s + 1] {
                let e = te[p];
                prop_assert!(!seen[e]);
                seen[e] = true;
                prop_assert_eq!(g.src()[e], s);
                prop_assert_eq!(g.dst()[e], td[p]);
            }
        }
        prop_assert!(seen.iter().all(|&s| s));
        for &(s, d) in &edges {
            prop_assert!(g.has_edge(s, d));
        }
    }

    #[test]
    fn sparse_transpose_of_transpose_is_identity((n, edges) in edge_list(), cols in 1usize..30) {
        let mut dense = vec![0f32; n * cols];
        for (k, &(r, c)) in edges.iter().enumerate() {
            dense[r * cols + c % cols] = k as f32 + 1.0;
        }
        let m = CsrMatrix::from_dense(n, cols, &dense);
        let t = m.transpose();
        prop_assert_eq!((t.num_rows, t.num_cols), (cols, n));
        let tt = t.transpose();
        prop_assert_eq!(tt.to_dense(), dense);
        prop_assert_eq!(&tt.row_ptr, &m.row_ptr);
        prop_assert_eq!(&tt.col_idx, &m.col_idx);
    }

    #[test]
    fn stratified_folds_partition_and_stratify(labels in prop::collection::vec(0usize..4, 2..120), k in 2usize..8, seed in any::<u64>()) {
        prop_assume!(k <= labels.len());
        let folds = stratified_kfold(&labels, k, seed).unwrap();
        prop_assert_eq!(folds.len(), k);
        let mut all: Vec<usize> = folds.iter().flat_map(|f| f.test.iter().copied()).collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
        let sizes: Vec<usize> = folds.iter().map(|f| f.test.len()).collect();
        prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        for c in 0..4 {
            let per: Vec<usize> = folds.iter().map(|f| f.test.iter().filter(|&&i| labels[i] == c).count()).collect();
            prop_assert!(per.iter().max().unwrap() - per.iter().min().unwrap() <= 1, "class {} per fold {:?}", c, per);
        }
        for f in &folds {
            let (tr, va, te): (BTreeSet<_>, BTreeSet<_>, BTreeSet<_>) =
                (f.train.iter().copied().collect(), f.val.iter().copied().collect(), f.test.iter().copied().collect());
            prop_assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
            prop_assert_eq!(tr.len() + va.len() + te.len(), labels.len());
        }
    }

    #[test]
    fn edge_split_parts_are_disjoint_and_cover_the_edges((n, edges) in edge_list(), seed in any::<u64>()) {
        prop_assume!(n >= 4);
        let mut sym: Vec<(usize, usize)> = edges.iter().filter(|(a, b)| a != b).flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
        sym.sort_unstable();
        sym.dedup();
        let g = Graph::from_edges(n, &sym).unwrap();
        let pairs = undirected_pairs(&g);
        let Ok(s) = split_edges(&g, &EdgeSplitConfig { ranking_negatives: 2, ..EdgeSplitConfig::default() }, seed) else {
            // Too few edges / non-edges for a split is an error, never a panic.
            return Ok(());
        };
        let tr: BTreeSet<_> = s.train_pos.iter().copied().collect();
        let va: BTreeSet<_> = s.val_pos.iter().copied().collect();
        let te: BTreeSet<_> = s.test_pos.iter().copied().collect();
        prop_assert_eq!(tr.len() + va.len() + te.len(), s.train_pos.len() + s.val_pos.len() + s.test_pos.len());
        prop_assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
        let union: BTreeSet<_> = tr.union(&va).chain(te.iter()).copied().collect();
        let want: BTreeSet<_> = pairs.iter().copied().collect();
        prop_assert_eq!(union, want);
        for &(u, v) in s.val_neg.iter().chain(&s.test_neg) {
            prop_assert!(!s.is_edge(u, v));
        }
    }

    #[test]
    fn accuracy_is_a_fraction(pairs in prop::collection::vec((0usize..5, 0usize..5), 1..100)) {
        let (p, t): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let a = accuracy(&p, &t).unwrap();
        prop_assert!((0.0..=1.0).contains(&a));
        prop_assert_eq!(accuracy(&t, &t).unwrap(), 1.0);
    }

    #[test]
    fn auc_of_separated_scores_is_one_and_monotone_invariant(
        pos in prop::collection::vec(0.0f32..1.0, 1..50),
        neg in prop::collection::vec(0.0f32..1.0, 1..50),
        mixed in prop::collection::vec(0.0f32..1.0, 2..50),
    ) {
        let shifted: Vec<f32> = pos.iter().map(|v| v + 2.0).collect();
        prop_assert_eq!(auc_roc(&shifted, &neg).unwrap(), 1.0);
        prop_assert_eq!(auc_roc(&neg, &shifted).unwrap(), 0.0);
        let half = mixed.len() / 2;
        let (p, q) = mixed.split_at(half.max(1));
        let a = auc_roc(p, q).unwrap();
        prop_assert!((0.0..=1.0).contains(&a));
        // Strictly increasing maps keep the ranking.
        let f = |v: &f32| v * 4.0; // exact in f32, so no ties are created
        let (fp, fq): (Vec<f32>, Vec<f32>) = (p.iter().map(f).collect(), q.iter().map(f).collect());
        prop_assert!((auc_roc(&fp, &fq).unwrap() - a).abs() < 1e-9);
    }
}
