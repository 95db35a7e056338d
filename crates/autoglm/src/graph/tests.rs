use super::*;

fn path3() -> Graph {
    Graph::from_edges(3, &[(0, 1), (1, 2)]).unwrap()
}

#[test]
fn csr_and_transpose_agree() {
    let g = Graph::from_edges(4, &[(2, 0), (0, 1), (3, 1), (1, 2), (0, 2)]).unwrap();
    assert_eq!(g.row_ptr(), &[0, 1, 3, 5, 5]);
    assert_eq!(g.col_idx(), &[2, 0, 3, 0, 1]);
    assert_eq!(g.dst(), &[0, 1, 1, 2, 2]);
    for j in 0..g.num_nodes() {
        for p in g.t_ptr()[j]..g.t_ptr()[j + 1] {
            let e = g.t_eid()[p];
            assert_eq!(g.src()[e], j);
            assert_eq!(g.dst()[e], g.t_dst()[p]);
        }
    }
    assert_eq!(g.out_degree(), vec![2, 1, 1, 1]);
    assert!(g.has_edge(3, 1) && !g.has_edge(1, 3));
}

#[test]
fn out_of_range_is_an_error() {
    let e = Graph::from_edges(2, &[(0, 2)]).unwrap_err().to_string();
    assert!(e.contains("out of range"), "{e}");
    let e = Graph::builder(2).edge_lists(vec![0, 1], vec![1]).build().unwrap_err().to_string();
    assert!(e.contains("expected 2, got 1"), "{e}");
}

#[test]
fn self_loops_and_undirected() {
    let g = path3();
    let u = g.to_undirected();
    assert_eq!(u.num_edges(), 4);
    assert!(u.is_undirected());
    let s = u.with_self_loops();
    assert_eq!(s.num_edges(), 7);
    let w = Graph::builder(2).edges([(0, 1), (1, 1)]).edge_weight(vec![2.0, 5.0]).build().unwrap();
    let r = w.add_remaining_self_loops(1.0);
    let ws: Vec<(usize, usize, f32)> = r.edges().zip(r.edge_weight().unwrap()).map(|((s, d), &w)| (s, d, w)).collect();
    assert_eq!(ws, vec![(0, 0, 1.0), (0, 1, 2.0), (1, 1, 5.0)]);
}

#[test]
fn gcn_norm_matches_hand_computation() {
    // Path 0-1-2 undirected, plus loops: degrees 2, 3, 2.
    let g = path3().to_undirected();
    let n = g.gcn_norm(false);
    let (h, c) = (&n.0, &n.1);
    for e in 0..h.num_edges() {
        let deg = |i: usize| if i == 1 { 3.0f32 } else { 2.0 };
        let want = 1.0 / (deg(h.src()[e]) * deg(h.dst()[e])).sqrt();
        assert!((c[e] - want).abs() < 1e-6);
    }
}

#[test]
fn batch_is_block_diagonal() {
    let a = path3();
    let b = Graph::from_edges(2, &[(1, 0)]).unwrap();
    let bt = Batch::from_graphs(&[&a, &b]).unwrap();
    assert_eq!(bt.graph.num_nodes(), 5);
    assert_eq!(bt.node_graph, vec![0, 0, 0, 1, 1]);
    let edges: Vec<_> = bt.graph.edges().collect();
    assert_eq!(edges, vec![(0, 1), (1, 2), (4, 3)]);
}

#[test]
fn edge_attributes_follow_their_edges_and_batches() {
    // added out of (dst, src) order: the builder must permute types and features with the edges
    let g = Graph::builder(3)
        .edges([(2, 1), (0, 1), (1, 2), (0, 1)])
        .edge_types(vec![2, 0, 1, 3], 4)
        .edge_features(2, vec![2.0, 2.5, 0.0, 0.5, 1.0, 1.5, 9.0, 9.5])
        .dedup(true)
        .build()
        .unwrap();
    assert_eq!(g.edges().collect::<Vec<_>>(), vec![(0, 1), (2, 1), (1, 2)]);
    assert_eq!(g.edge_types(), Some(&[0u32, 2, 1][..]), "the duplicate (0, 1) keeps its first type");
    assert_eq!(g.edge_features(), Some((2, &[0.0f32, 0.5, 2.0, 2.5, 1.0, 1.5][..])));
    assert_eq!(g.num_edge_types(), 4);
    let h = Graph::builder(2).edges([(0, 1)]).edge_types(vec![1], 2).edge_features(2, vec![7.0, 7.5]).build().unwrap();
    let b = Batch::from_graphs(&[&g, &h]).unwrap();
    assert_eq!(b.graph.edge_types(), Some(&[0u32, 2, 1, 1][..]));
    assert_eq!(b.graph.num_edge_types(), 4);
    assert_eq!(b.graph.edge_features().unwrap().1.len(), 8);
    // a batch with a graph lacking types has none; mismatched feature widths are an error
    let plain = Graph::from_edges(2, &[(0, 1)]).unwrap();
    assert!(Batch::from_graphs(&[&g, &plain]).unwrap().graph.edge_types().is_none());
    let wide = Graph::builder(2).edges([(0, 1)]).edge_features(3, vec![1.0; 3]).build().unwrap();
    assert!(Batch::from_graphs(&[&g, &wide]).is_err());
    // bad attributes are errors naming the problem
    assert!(Graph::builder(2).edges([(0, 1)]).edge_types(vec![5], 2).build().is_err());
    assert!(Graph::builder(2).edges([(0, 1)]).edge_types(vec![0, 1], 2).build().is_err());
    assert!(Graph::builder(2).edges([(0, 1)]).edge_features(2, vec![f32::NAN, 0.0]).build().is_err());
    assert!(Graph::builder(2).edges([(0, 1)]).edge_features(2, vec![0.0]).build().is_err());
}
