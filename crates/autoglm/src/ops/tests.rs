//! For every op: a hand-computed case, a finite-difference gradient check, and
//! equality with the dense formula.

use super::*;
use crate::graph::Graph;
use crate::rng::seeded;
use crate::testing::*;
use candle_core::{Device, Tensor};
use std::sync::Arc;

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
}

/// Dense `[N, N]` matrix with `A[dst, src] = w_e` (summing duplicates).
fn dense_adj(g: &Graph, w: &[f32]) -> Tensor {
    let n = g.num_nodes();
    let mut a = vec![0f32; n * n];
    for (e, (s, d)) in g.edges().enumerate() {
        a[d * n + s] += w[e];
    }
    t(&a, &[n, n])
}

#[test]
fn spmm_hand_computed() {
    // path 0 -> 1 -> 2, weights 2 and 3
    let g = path();
    let x = t(&[1., 10., 2., 20., 3., 30.], &[3, 2]);
    let out = spmm(&g, &t(&[2., 3.], &[2, 1]), &x).unwrap();
    assert_eq!(vec(&out), vec![0., 0., 2., 20., 6., 60.]);
    let out_t = spmm_t(&g, &t(&[2., 3.], &[2, 1]), &x).unwrap();
    assert_eq!(vec(&out_t), vec![4., 40., 9., 90., 0., 0.]);
    let c = spmm_const(&g, None, &x).unwrap();
    assert_eq!(vec(&c), vec![0., 0., 1., 10., 2., 20.]);
}

#[test]
fn spmm_matches_dense_and_gradients() {
    let g = random_graph(7, 20, 1);
    let x = rand_tensor(&[7, 3], 2);
    let w = rand_tensor(&[20, 1], 3);
    let dense = dense_adj(&g, &vec(&w)).matmul(&x).unwrap();
    assert_close(&vec(&spmm(&g, &w, &x).unwrap()), &vec(&dense), 1e-5, "spmm");
    let cw = Arc::new(vec(&w));
    assert_close(&vec(&spmm_const(&g, Some(cw.clone()), &x).unwrap()), &vec(&dense), 1e-5, "spmm_const");
    let dense_t = dense_adj(&g, &vec(&w)).t().unwrap().matmul(&x).unwrap();
    assert_close(&vec(&spmm_t(&g, &w, &x).unwrap()), &vec(&dense_t), 1e-5, "spmm_t");
    check_grad(&[w.clone(), x.clone()], |v| spmm(&g, &v[0], &v[1]), 1e-2, 2e-3);
    check_grad(&[w, x.clone()], |v| spmm_t(&g, &v[0], &v[1]), 1e-2, 2e-3);
    check_grad(&[x], |v| spmm_const(&g, Some(cw.clone()), &v[0]), 1e-2, 2e-3);
}

#[test]
fn multi_head_spmm_and_sddmm() {
    let g = random_graph(6, 15, 4);
    let heads = 2;
    let x = rand_tensor(&[6, 6], 5); // 2 heads x 3 channels
    let w = rand_tensor(&[15, heads], 6);
    // dense per head
    let out = vec(&spmm(&g, &w, &x).unwrap());
    for h in 0..heads {
        let wh: Vec<f32> = vec(&w).chunks(heads).map(|r| r[h]).collect();
        let xh = x.narrow(1, h * 3, 3).unwrap();
        let d = vec(&dense_adj(&g, &wh).matmul(&xh).unwrap());
        for i in 0..6 {
            for c in 0..3 {
                assert!((out[i * 6 + h * 3 + c] - d[i * 3 + c]).abs() < 1e-5);
            }
        }
    }
    check_grad(&[w, x.clone()], |v| spmm(&g, &v[0], &v[1]), 1e-2, 2e-3);
    let a = rand_tensor(&[6, 6], 7);
    let s = vec(&sddmm(&g, &a, &x, heads).unwrap());
    let (av, xv) = (vec(&a), vec(&x));
    for (e, (src, dst)) in g.edges().enumerate() {
        for h in 0..heads {
            let want: f32 = (0..3).map(|c| av[dst * 6 + h * 3 + c] * xv[src * 6 + h * 3 + c]).sum();
            assert!((s[e * heads + h] - want).abs() < 1e-5);
        }
    }
    check_grad(&[a, x], |v| sddmm(&g, &v[0], &v[1], heads), 1e-2, 2e-3);
}

#[test]
fn gather_scatter() {
    let g = path();
    let x = t(&[1., 2., 3.], &[3, 1]);
    assert_eq!(vec(&gather_src(&g, &x).unwrap()), vec![1., 2.]);
    assert_eq!(vec(&gather_dst(&g, &x).unwrap()), vec![2., 3.]);
    let e = t(&[5., 7.], &[2, 1]);
    assert_eq!(vec(&scatter_dst(&g, &e).unwrap()), vec![0., 5., 7.]);
    assert_eq!(vec(&scatter_src(&g, &e).unwrap()), vec![5., 7., 0.]);
    let g = random_graph(5, 12, 8);
    check_grad(&[rand_tensor(&[5, 2], 9)], |v| gather_src(&g, &v[0]), 1e-2, 2e-3);
    check_grad(&[rand_tensor(&[5, 2], 9)], |v| gather_dst(&g, &v[0]), 1e-2, 2e-3);
    check_grad(&[rand_tensor(&[12, 2], 9)], |v| scatter_dst(&g, &v[0]), 1e-2, 2e-3);
    check_grad(&[rand_tensor(&[12, 2], 9)], |v| scatter_src(&g, &v[0]), 1e-2, 2e-3);
}

#[test]
fn segment_softmax_hand_and_grad() {
    // star: node 0 has in-edges from 1, 2, 3; leaves have one in-edge each.
    let g = star();
    let s = t(&[1., 2., 3., 0., 0., 0.], &[6, 1]);
    let a = vec(&segment_softmax(&g, &s).unwrap());
    let z: f32 = (1f32).exp() + (2f32).exp() + (3f32).exp();
    // edges sorted by (dst, src): (1->0), (2->0), (3->0), (0->1), (0->2), (0->3)
    let order: Vec<_> = g.edges().collect();
    assert_eq!(order[0], (1, 0));
    let want = [1f32.exp() / z, 2f32.exp() / z, 3f32.exp() / z, 1., 1., 1.];
    assert_close(&a, &want, 1e-6, "softmax");
    let g = random_graph(6, 20, 10);
    check_grad(&[rand_tensor(&[20, 3], 11)], |v| segment_softmax(&g, &v[0]), 1e-2, 2e-3);
}

#[test]
fn segment_reductions() {
    let seg = Segments::new(vec![0, 2, 2, 5]).unwrap();
    let x = t(&[1., -1., 3., 4., 0., 2., 5., 9., -3., 1.], &[5, 2]);
    assert_eq!(vec(&segment_reduce(&seg, &x, Reduce::Sum).unwrap()), vec![4., 3., 0., 0., 2., 12.]);
    let m = vec(&segment_reduce(&seg, &x, Reduce::Mean).unwrap());
    assert_close(&m, &[2., 1.5, 0., 0., 2. / 3., 4.], 1e-6, "mean");
    assert_eq!(vec(&segment_reduce(&seg, &x, Reduce::Max).unwrap()), vec![3., 4., 0., 0., 5., 9.]);
    for kind in [Reduce::Sum, Reduce::Mean, Reduce::Max] {
        check_grad(&[rand_tensor(&[5, 3], 12)], |v| segment_reduce(&seg, &v[0], kind), 1e-3, 2e-3);
    }
    assert!(Segments::new(vec![1, 2]).is_err());
}

#[test]
fn neighbor_max_hand_dense_and_grad() {
    let g = with_isolated(); // 0 -> 1, 1 -> 1; node 0 and 2 have no in-edges except...
    let x = t(&[1., 5., 2., 3., 7., 7.], &[3, 2]);
    // node 1 gets max(x0, x1) = (2, 5); others 0
    assert_eq!(vec(&neighbor_max(&g, &x).unwrap()), vec![0., 0., 2., 5., 0., 0.]);
    let g = random_graph(6, 18, 13);
    let x = rand_tensor(&[6, 4], 14);
    let xv = vec(&x);
    let out = vec(&neighbor_max(&g, &x).unwrap());
    for i in 0..6 {
        for c in 0..4 {
            let m = g.edges().filter(|e| e.1 == i).map(|e| xv[e.0 * 4 + c]).fold(f32::NEG_INFINITY, f32::max);
            let want = if m.is_finite() { m } else { 0.0 };
            assert_eq!(out[i * 4 + c], want);
        }
    }
    check_grad(&[x], |v| neighbor_max(&g, &v[0]), 1e-3, 2e-3);
}

#[test]
fn dropout_is_seeded_and_scaled() {
    let x = Tensor::ones((100, 10), candle_core::DType::F32, &Device::Cpu).unwrap();
    let a = vec(&dropout(&x, 0.5, &mut seeded(1)).unwrap());
    let b = vec(&dropout(&x, 0.5, &mut seeded(1)).unwrap());
    assert_eq!(a, b);
    assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
    let kept = a.iter().filter(|&&v| v > 0.0).count();
    assert!((400..600).contains(&kept), "{kept}");
    let mask = Arc::new(vec![0., 2., 2., 0., 2., 0.]);
    check_grad(&[rand_tensor(&[3, 2], 1)], |v| mask_mul(&v[0], mask.clone()), 1e-2, 2e-3);
}

#[test]
fn const_and_sparse_matmul() {
    let xd = rand_tensor(&[5, 4], 20);
    let w = rand_tensor(&[4, 3], 21);
    let want = vec(&xd.matmul(&w).unwrap());
    assert_close(&vec(&const_matmul(&xd, &w).unwrap()), &want, 1e-5, "const_matmul");
    check_grad(std::slice::from_ref(&w), |v| const_matmul(&xd, &v[0]), 1e-2, 2e-3);
    let csr = crate::graph::CsrMatrix::from_dense(2, 4, &[1., 0., 2., 0., 0., 0., 0., 3.]);
    let sp = SparseInput::new(csr);
    let dense = sp.to_dense().unwrap();
    assert_close(&vec(&sparse_matmul(&sp, &w).unwrap()), &vec(&dense.matmul(&w).unwrap()), 1e-5, "sparse_matmul");
    check_grad(&[w], |v| sparse_matmul(&sp, &v[0]), 1e-2, 2e-3);
    // sparse dropout only touches stored entries
    let d = sp.dropout(0.5, &mut seeded(3));
    assert_eq!(d.matrix().col_idx, sp.matrix().col_idx);
}

#[test]
fn propagate_matches_unfused_and_gradients() {
    let g = random_graph(7, 20, 30);
    let h = rand_tensor(&[7, 3], 31);
    let r = rand_tensor(&[7, 3], 32);
    let b = rand_tensor(&[3], 33);
    let c = Arc::new(vec(&rand_tensor(&[20], 34)));
    let want = (spmm_const(&g, Some(c.clone()), &h).unwrap() + &r).unwrap().broadcast_add(&b).unwrap().relu().unwrap();
    let got = propagate(&g, Some(c.clone()), &h, Some(&r), Some(&b), true).unwrap();
    assert_close(&vec(&got), &vec(&want), 1e-6, "propagate");
    // hand case: path 0 -> 1 -> 2, no coefficients, bias 1, no relu
    let x = t(&[1., 2., 3.], &[3, 1]);
    let out = propagate(&path(), None, &x, None, Some(&t(&[1.], &[1])), false).unwrap();
    assert_eq!(vec(&out), vec![1., 2., 3.]);
    check_grad(&[h.clone(), r.clone(), b.clone()], |v| propagate(&g, Some(c.clone()), &v[0], Some(&v[1]), Some(&v[2]), true), 1e-3, 5e-3);
    check_grad(&[h], |v| propagate(&g, None, &v[0], None, None, false), 1e-2, 2e-3);
}

/// A trimmed layer's graph: the edges of a random graph on 7 nodes into its first 4.
fn layer_graph(seed: u64) -> Graph {
    let g = random_graph(7, 24, seed);
    Graph::from_edges(7, &g.edges().filter(|&(_, d)| d < 4).collect::<Vec<_>>()).unwrap()
}

#[test]
fn trimmed_rows_match_dense_and_gradients() {
    let g = layer_graph(40);
    assert!(g.num_edges() > 4, "the fixture has edges into the destinations");
    let x = rand_tensor(&[7, 3], 41);
    let c = Arc::new(vec(&rand_tensor(&[g.num_edges()], 42)));
    let dense = dense_adj(&g, &c).matmul(&x).unwrap().narrow(0, 0, 4).unwrap();
    let got = spmm_const_rows(&g, 4, Some(c.clone()), &x).unwrap();
    assert_eq!(got.dims(), &[4, 3]);
    assert_close(&vec(&got), &vec(&dense), 1e-5, "spmm_const_rows");
    check_grad(std::slice::from_ref(&x), |v| spmm_const_rows(&g, 4, Some(c.clone()), &v[0]), 1e-2, 2e-3);
    check_grad(std::slice::from_ref(&x), |v| spmm_const_rows(&g, 4, None, &v[0]), 1e-2, 2e-3);
    let r = rand_tensor(&[4, 3], 43);
    let b = rand_tensor(&[3], 44);
    let want = (dense + &r).unwrap().broadcast_add(&b).unwrap().relu().unwrap();
    let got = propagate_rows(&g, 4, Some(c.clone()), &x, Some(&r), Some(&b), true).unwrap();
    assert_close(&vec(&got), &vec(&want), 1e-6, "propagate_rows");
    check_grad(&[x.clone(), r, b], |v| propagate_rows(&g, 4, Some(c.clone()), &v[0], Some(&v[1]), Some(&v[2]), true), 1e-3, 5e-3);
    // all rows: the square ops
    let full = spmm_const_rows(&g, 7, Some(c.clone()), &x).unwrap();
    assert_close(&vec(&full), &vec(&spmm_const(&g, Some(c.clone()), &x).unwrap()), 0.0, "spmm_const_rows over every row");
    // an edge into a row past the destinations is refused, with the reason
    let err = spmm_const_rows(&g, 2, None, &x).unwrap_err().to_string();
    assert!(err.contains("in-edges into later nodes"), "{err}");
    assert!(propagate_rows(&g, 3, None, &x, None, None, false).is_err());
}

#[test]
fn head_dot_and_gat_attention() {
    let x = rand_tensor(&[5, 6], 40);
    let a = rand_tensor(&[1, 2, 3], 41);
    let want = x.reshape((5, 2, 3)).unwrap().broadcast_mul(&a).unwrap().sum(2).unwrap();
    assert_close(&vec(&head_dot(&x, &a, 2).unwrap()), &vec(&want), 1e-6, "head_dot");
    check_grad(&[x, a], |v| head_dot(&v[0], &v[1], 2), 1e-2, 2e-3);
    // hand case: star centre 0 receives from 1, 2, 3 with s_src = 0, 1, 2, 3; s_dst = 0
    let g = star();
    let ss = t(&[0., 1., 2., 3.], &[4, 1]);
    let sd = t(&[0., 0., 0., 0.], &[4, 1]);
    let al = vec(&gat_attention(&g, &ss, &sd, 0.2).unwrap());
    let z = 1f32.exp() + 2f32.exp() + 3f32.exp();
    assert_close(&al, &[1f32.exp() / z, 2f32.exp() / z, 3f32.exp() / z, 1., 1., 1.], 1e-6, "gat_attention");
    // agrees with the unfused composition, values and gradients
    let g = random_graph(6, 22, 42);
    let ss = rand_tensor(&[6, 2], 43);
    let sd = rand_tensor(&[6, 2], 44);
    let e = (gather_src(&g, &ss).unwrap() + gather_dst(&g, &sd).unwrap()).unwrap();
    let e = e.maximum(&(&e * 0.2).unwrap()).unwrap();
    let want = segment_softmax(&g, &e).unwrap();
    assert_close(&vec(&gat_attention(&g, &ss, &sd, 0.2).unwrap()), &vec(&want), 1e-6, "fused vs unfused");
    check_grad(&[ss, sd], |v| gat_attention(&g, &v[0], &v[1], 0.2), 1e-3, 5e-3);
}

#[test]
fn gin_aggregate_hand_dense_and_gradients() {
    // path 0 -> 1 -> 2: out_i = Σ_{j→i} x_j + s x_i
    let g = path();
    let x = t(&[1., 10., 2., 20., 3., 30.], &[3, 2]);
    assert_eq!(vec(&gin_aggregate(&g, &x, 1.0).unwrap()), vec![1., 10., 3., 30., 5., 50.]);
    assert_eq!(vec(&gin_aggregate(&g, &x, 0.5).unwrap()), vec![0.5, 5., 2., 20., 3.5, 35.]);
    let g = random_graph(7, 20, 8);
    let x = rand_tensor(&[7, 3], 9);
    for s in [1.0f32, 1.25, 0.0] {
        let dense = dense_adj(&g, &[1.0; 20]).matmul(&x).unwrap().add(&(&x * s as f64).unwrap()).unwrap();
        assert_close(&vec(&gin_aggregate(&g, &x, s).unwrap()), &vec(&dense), 1e-5, "gin_aggregate");
        check_grad(std::slice::from_ref(&x), |v| gin_aggregate(&g, &v[0], s), 1e-2, 2e-3);
    }
}

#[test]
fn on_worker_runs_the_closure_nests_and_keeps_results() {
    assert_eq!(on_worker(|| on_worker(|| 2 + 2)), 4);
    let g = random_graph(500, 4000, 3);
    let x = rand_tensor(&[500, 16], 4);
    let outside = vec(&spmm_const(&g, None, &x).unwrap());
    assert_eq!(on_worker(|| vec(&spmm_const(&g, None, &x).unwrap())), outside);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let inside = pool.install(|| on_worker(|| vec(&spmm_const(&g, None, &x).unwrap())));
        assert_eq!(inside, outside, "{threads} threads");
    }
}

/// The bits of a fixed case of every segmented-softmax and segment-broadcast
/// path, forward and backward, in a fixed order (see `softmax_and_broadcast_keep_their_bits`).
fn softmax_broadcast_bits() -> Vec<(&'static str, Vec<u32>)> {
    use candle_core::Var;
    fn grads(inputs: &[Tensor], up: &Tensor, f: impl Fn(&[Tensor]) -> Tensor) -> (Vec<u32>, Vec<Vec<u32>>) {
        let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let out = f(&ts);
        let g = (&out * up).unwrap().sum_all().unwrap().backward().unwrap();
        let bits = |t: &Tensor| vec(t).iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        (bits(&out), ts.iter().map(|t| bits(g.get(t).unwrap())).collect())
    }
    let mut all = Vec::new();
    let g = random_graph(7, 24, 50);
    let s = (rand_tensor(&[24, 3], 51) * 4.0).unwrap();
    let (f, gr) = grads(&[s], &rand_tensor(&[24, 3], 52), |v| segment_softmax(&g, &v[0]).unwrap());
    all.push(("segment_softmax", f));
    all.push(("segment_softmax grad", gr[0].clone()));
    let seg = Segments::new(vec![0, 3, 3, 4, 9, 10]).unwrap();
    let s = (rand_tensor(&[10, 2], 53) * 4.0).unwrap();
    let (f, gr) = grads(&[s], &rand_tensor(&[10, 2], 54), |v| segment_rows_softmax(&seg, &v[0]).unwrap());
    all.push(("segment_rows_softmax", f));
    all.push(("segment_rows_softmax grad", gr[0].clone()));
    let ss = (rand_tensor(&[7, 3], 55) * 2.0).unwrap();
    let sd = (rand_tensor(&[7, 3], 56) * 2.0).unwrap();
    let (f, gr) = grads(&[ss, sd], &rand_tensor(&[24, 3], 57), |v| gat_attention(&g, &v[0], &v[1], 0.2).unwrap());
    all.push(("gat_attention", f));
    all.push(("gat_attention grad s_src", gr[0].clone()));
    all.push(("gat_attention grad s_dst", gr[1].clone()));
    let (f, gr) = grads(&[rand_tensor(&[10, 2], 58)], &rand_tensor(&[5, 2], 59), |v| segment_reduce(&seg, &v[0], Reduce::Mean).unwrap());
    all.push(("segment_reduce mean", f));
    all.push(("segment_reduce mean grad", gr[0].clone()));
    let (f, gr) = grads(&[rand_tensor(&[5, 2], 60)], &rand_tensor(&[10, 2], 61), |v| segment_broadcast(&seg, &v[0]).unwrap());
    all.push(("segment_broadcast", f));
    all.push(("segment_broadcast grad", gr[0].clone()));
    all
}

/// [`softmax_broadcast_bits`] as computed by the three separate softmax
/// kernels and the two broadcast ops before they were merged (commit 8bf9081).
#[rustfmt::skip]
const SOFTMAX_BROADCAST_BITS: &[(&str, &[u32])] = &[
    ("segment_softmax", &[0x3cab6f31, 0x3e60e56f, 0x3a9c2f93, 0x3f7aa486, 0x3f47c6a5, 0x3f7fb1e8, 0x3dcdc190, 0x3ed36e8d, 0x3bade0c9, 0x3f5e900e, 0x3f0e2834, 0x3a4e2722, 0x3c1e3f11, 0x3ba58475, 0x3b6df711, 0x3ca7d83e, 0x3cdaaf76, 0x3f7d82be, 0x3b8899c5, 0x3aca0a2b, 0x3f0827bc, 0x3e100c81, 0x3b5f6147, 0x3ceba53e, 0x3c3de6ba, 0x3ce1db02, 0x3ed0b2c1, 0x3f55a84b, 0x3d88ba50, 0x3a3f76c7, 0x3bd0938e, 0x3f666585, 0x3cc1a370, 0x3b2aa0d1, 0x3a3fce1f, 0x3bf25fbc, 0x3f6616a5, 0x3f1007a3, 0x3d8aa6fa, 0x3d4c2004, 0x3e57fe2b, 0x3d9fbc6f, 0x3d5275a4, 0x3e67e34b, 0x3f5ab393, 0x3f4bbb1e, 0x3d7afc72, 0x3c095e9d, 0x3e37c326, 0x3c33a0d8, 0x3f3e7501, 0x3c749887, 0x3ae71a22, 0x3ba14bb9, 0x3c206ddb, 0x3f6d0e29, 0x3e788bb4, 0x3cbe9d3e, 0x3c28534f, 0x3b2132a4, 0x3f617dae, 0x3f28318c, 0x3f432fcb, 0x3b061f29, 0x3d457cb0, 0x3e50d946, 0x3d3f5ca0, 0x3e6fc4ef, 0x3aabd9f4, 0x3d4117ed, 0x3d4e4204, 0x3cf45878]),
    ("segment_softmax grad", &[0x3c74dafd, 0x3dca05a3, 0x3ac49aa3, 0xbc74daf1, 0xbdca059f, 0xbac49bf4, 0x3d3a2ec4, 0x3c00219a, 0x3bddca9b, 0xbd78c5a6, 0x3c7ee554, 0x3a86a001, 0x3b407557, 0x3ad21405, 0x3babe95e, 0x3c4a3e33, 0xbccca4b7, 0xbc55adde, 0x3b580fd6, 0x3a90a916, 0x3df50f53, 0x3c083b13, 0x3b1936d1, 0xbc84f34e, 0xb9c39ca8, 0x3cb27c73, 0xbe0bdae1, 0xbc6a5e23, 0xbcbe757c, 0xb8fbdd6f, 0x3b6cd1e7, 0xbaae5a62, 0x3ce9abff, 0xba0f8668, 0xba2a57f8, 0x3b9b737d, 0xbd701161, 0x3e127ff7, 0x3dbe6fa3, 0x3d906a4c, 0xbe331f60, 0xbc1f4d09, 0xbc430d1b, 0x3d027da3, 0xbdaa85fb, 0x3e444941, 0x3d3b4e24, 0xbbd2831d, 0xbe2f0bc5, 0x3c636f10, 0x3e27fc86, 0xbc685b24, 0x3b4a1bca, 0x3b7bc83e, 0xbbd6f96c, 0xbd8065cf, 0xbe25578e, 0x3c48bca3, 0xbabc6c62, 0xbafeeb10, 0xbda42b30, 0xbda9fab6, 0xbcfde0f3, 0xba641b57, 0x3cab651e, 0x3d454dae, 0x3d4bbbf4, 0x3ddbee17, 0xbaa7b1f4, 0x3c9bf760, 0xbd33b5f0, 0xbc64a135]),
    ("segment_rows_softmax", &[0x3e1657b4, 0x3f5d62f4, 0x3f558554, 0x3de12264, 0x3c9c97d2, 0x3ccf1800, 0x3f800000, 0x3f800000, 0x3c8469cd, 0x3f66f623, 0x3b7963f0, 0x3bfcba1a, 0x3b1f1134, 0x3ce87476, 0x3da753f7, 0x3b634862, 0x3f6559bd, 0x3d6e97c9, 0x3f800000, 0x3f800000]),
    ("segment_rows_softmax grad", &[0xbc6cae1f, 0x3dff1a53, 0x3d1a770e, 0xbdc1870c, 0xbcbe96f8, 0xbcf64d2c, 0x00000000, 0x00000000, 0xbca06ca6, 0xbd87040a, 0xbb89f3b1, 0x3bc82221, 0xba8b7dc8, 0x3c9483ca, 0xbdd3f3ea, 0x3b828cfb, 0x3e036e22, 0x3d1a7043, 0x00000000, 0x00000000]),
    ("gat_attention", &[0x3f3b4c19, 0x3e330d9e, 0x3f4f3418, 0x3e8967cd, 0x3f533c99, 0x3e432fa3, 0x3e11ecaa, 0x3e138e37, 0x3eeba755, 0x3e847df9, 0x3e398246, 0x3df10904, 0x3e9945d9, 0x3eacbbe2, 0x3e58166a, 0x3e9945d9, 0x3eacbbe2, 0x3e58166a, 0x3e47fc75, 0x3e24fc76, 0x3e743783, 0x3e47fc75, 0x3e24fc76, 0x3e743783, 0x3e47fc75, 0x3e24fc76, 0x3e743783, 0x3e47fc75, 0x3e24fc76, 0x3e743783, 0x3dd19525, 0x3e192d62, 0x3cb67a52, 0x3dee8735, 0x3e52e0c6, 0x3cc2953e, 0x3f03d8ed, 0x3e609f55, 0x3f4b2520, 0x3e68441d, 0x3e508b87, 0x3dcca1e9, 0x3e842c18, 0x3f13b549, 0x3dda3510, 0x3ea82fb0, 0x3dec2739, 0x3e9729b1, 0x3e4ec33f, 0x3e7b909b, 0x3ead5593, 0x3e4ec33f, 0x3e7b909b, 0x3ead5593, 0x3e890d10, 0x3ec96597, 0x3ce2b28f, 0x3d821217, 0x3ebb579c, 0x3ea294cc, 0x3d821217, 0x3ebb579c, 0x3ea294cc, 0x3d9781ff, 0x3df2a12b, 0x3c9a39fd, 0x3ecc8b3b, 0x3d9950fb, 0x3e3132c7, 0x3ecc8b3b, 0x3d9950fb, 0x3e3132c7]),
    ("gat_attention grad s_src", &[0xbe3fabf9, 0xbb6e38e7, 0xbe3fa45a, 0xbc879144, 0xbe00792a, 0xbd05d738, 0x3bd21604, 0x3daaf8aa, 0x3c757281, 0x3e236684, 0x3c7eaf41, 0x3e92e3cc, 0x3cef9ef3, 0xbe08feb8, 0xbc55837e, 0x3e2f1324, 0x3cf611a5, 0xbc2fa753, 0xbe277de5, 0xbe1f723d, 0xbd89a32f]),
    ("gat_attention grad s_dst", &[0xbb3a5fac, 0xbd43cc02, 0xbcd33c4b, 0x00000000, 0xbdff1d2e, 0x3d2fa751, 0xbcb1272b, 0x32080000, 0x3d09c2f2, 0x00000000, 0x00000000, 0x00000000, 0xbde784a6, 0xbddb89c4, 0xbd744ac4, 0x00000000, 0x32a00000, 0x31800000, 0x3e0bb2e8, 0xbc2330ce, 0xb2800000]),
    ("segment_reduce mean", &[0x3ee348b8, 0xbd2bafc0, 0x00000000, 0x00000000, 0x3f0bdf90, 0x3f41742c, 0x3d52fba6, 0xbec859ae, 0x3dec9680, 0xbf19a220]),
    ("segment_reduce mean grad", &[0xbbe44aab, 0x3d415ed5, 0xbbe44aab, 0x3d415ed5, 0xbbe44aab, 0x3d415ed5, 0xbd7a6c40, 0xbef53c70, 0xbda29ea0, 0x3de132da, 0xbda29ea0, 0x3de132da, 0xbda29ea0, 0x3de132da, 0xbda29ea0, 0x3de132da, 0xbda29ea0, 0x3de132da, 0x3e948de0, 0x3ef63b80]),
    ("segment_broadcast", &[0xbde3b380, 0xbcd5ec80, 0xbde3b380, 0xbcd5ec80, 0xbde3b380, 0xbcd5ec80, 0xbc4fa800, 0x3e16c800, 0xbf1887cc, 0x3ebbb910, 0xbf1887cc, 0x3ebbb910, 0xbf1887cc, 0x3ebbb910, 0xbf1887cc, 0x3ebbb910, 0xbf1887cc, 0x3ebbb910, 0xbe46b530, 0xbf4b1ab8]),
    ("segment_broadcast grad", &[0xbf1c94b4, 0x3f9cc8ac, 0x00000000, 0x00000000, 0xbebff510, 0xbde195e0, 0x3f18cbdc, 0x3f917368, 0xbf7b1c48, 0xbdcebbc0]),
];

#[test]
fn softmax_and_broadcast_keep_their_bits() {
    let got = softmax_broadcast_bits();
    assert_eq!(got.len(), SOFTMAX_BROADCAST_BITS.len());
    for ((name, bits), (want_name, want)) in got.iter().zip(SOFTMAX_BROADCAST_BITS) {
        assert_eq!(name, want_name);
        assert_eq!(bits.as_slice(), *want, "{name}: not the same bits as before");
    }
}

/// Masked dense attention, one head at a time, in f64: `softmax(scale Q Kᵀ + edge scores) (V + edge values)`
/// over the pairs of `p` (duplicates counted as often as they occur), zero rows where a query has no pairs.
fn dense_attention(p: &Graph, q: &[f32], kv: &[f32], a: Option<&[f32]>, mask: Option<&[f32]>, heads: usize, scale: f64) -> Vec<f32> {
    let n = p.num_nodes();
    let d = q.len() / n;
    let c = d / heads;
    let mut out = vec![0f32; n * d];
    for h in 0..heads {
        for i in 0..n {
            let edges: Vec<usize> = (p.row_ptr()[i]..p.row_ptr()[i + 1]).collect();
            if edges.is_empty() {
                continue;
            }
            let s: Vec<f64> = edges
                .iter()
                .map(|&e| {
                    let j = p.src()[e];
                    scale
                        * (0..c)
                            .map(|t| q[i * d + h * c + t] as f64 * (kv[j * 2 * d + h * c + t] + a.map_or(0.0, |a| a[e * d + h * c + t])) as f64)
                            .sum::<f64>()
                })
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|v| (v - mx).exp()).sum();
            for (r, &e) in edges.iter().enumerate() {
                let j = p.src()[e];
                let w = (s[r] - mx).exp() / z * mask.map_or(1.0, |m| m[e * heads + h] as f64);
                for t in 0..c {
                    out[i * d + h * c + t] += (w * (kv[j * 2 * d + d + h * c + t] + a.map_or(0.0, |a| a[e * d + h * c + t])) as f64) as f32;
                }
            }
        }
    }
    out
}

#[test]
fn pattern_attention_hand_computed() {
    // star: node 0 attends to 1, 2, 3; one head, one channel, q_0 = 1, k_j = j, v_j = 10 j
    let g = star();
    let q = t(&[1., 0., 0., 0.], &[4, 1]);
    let kv = t(&[0., 0., 1., 10., 2., 20., 3., 30.], &[4, 2]);
    let out = vec(&pattern_attention(&g, &q, &kv, None, 1, 1.0, None).unwrap());
    let z = 1f32.exp() + 2f32.exp() + 3f32.exp();
    let want0 = (10. * 1f32.exp() + 20. * 2f32.exp() + 30. * 3f32.exp()) / z;
    // nodes 1..3 attend to node 0 alone (weight 1): its value 0
    assert_close(&out, &[want0, 0., 0., 0.], 1e-5, "star attention");
    // an edge term adds to key and value: with a = -k the scores are equal and the values cancel to 10 j - j
    let a = t(&[-1., -2., -3., 0., 0., 0.], &[6, 1]);
    let out = vec(&pattern_attention(&g, &q, &kv, Some(&a), 1, 1.0, None).unwrap());
    assert_close(&out[..1], &[(9. + 18. + 27.) / 3.], 1e-5, "edge term");
}

#[test]
fn pattern_attention_matches_dense_attention_for_every_pattern_and_gradients() {
    let (n, heads, c) = (9, 2, 3);
    let d = heads * c;
    let g = random_graph(n, 25, 60);
    let q = rand_tensor(&[n, d], 61);
    let kv = rand_tensor(&[n, 2 * d], 62);
    let scale = 1.0 / (c as f64).sqrt();
    let patterns: Vec<(&str, Graph)> = vec![
        ("local", g.clone()),
        ("local+self", g.with_self_loops()),
        ("2-hop", g.khop_pattern(2, 100, 0).unwrap().graph.clone()),
        ("2-hop sampled", g.khop_pattern(2, 3, 0).unwrap().graph.clone()),
        ("global", g.full_pattern(false).unwrap().graph.clone()),
        ("causal", g.full_pattern(true).unwrap().graph.clone()),
    ];
    for (name, p) in &patterns {
        let a = rand_tensor(&[p.num_edges(), d], 63);
        let mask: Vec<f32> = dropout_mask(p.num_edges() * heads, 0.3, &mut seeded(64));
        let got = vec(&pattern_attention(p, &q, &kv, None, heads, scale, None).unwrap());
        assert_close(&got, &dense_attention(p, &vec(&q), &vec(&kv), None, None, heads, scale), 1e-5, name);
        let got = vec(&pattern_attention(p, &q, &kv, Some(&a), heads, scale, Some(Arc::new(mask.clone()))).unwrap());
        assert_close(&got, &dense_attention(p, &vec(&q), &vec(&kv), Some(&vec(&a)), Some(&mask), heads, scale), 1e-5, name);
        check_grad(&[q.clone(), kv.clone()], |v| pattern_attention(p, &v[0], &v[1], None, heads, scale, None), 1e-2, 3e-3);
        let m = Arc::new(mask);
        check_grad(&[q.clone(), kv.clone(), a], |v| pattern_attention(p, &v[0], &v[1], Some(&v[2]), heads, scale, Some(m.clone())), 1e-2, 3e-3);
    }
    // bad shapes are errors, not panics
    assert!(pattern_attention(&g, &q, &q, None, heads, scale, None).is_err());
    assert!(pattern_attention(&g, &q, &kv, None, 4, scale, None).is_err());
}

#[test]
fn pattern_attention_bits_do_not_depend_on_threads() {
    let g = random_graph(40, 300, 70);
    let p = g.khop_pattern(2, 20, 0).unwrap().graph.clone();
    let run = || {
        let q = rand_tensor(&[40, 8], 71).to_dtype(candle_core::DType::F32).unwrap();
        let kv = rand_tensor(&[40, 16], 72);
        let a = rand_tensor(&[p.num_edges(), 8], 73);
        let (qv, kvv, av) =
            (candle_core::Var::from_tensor(&q).unwrap(), candle_core::Var::from_tensor(&kv).unwrap(), candle_core::Var::from_tensor(&a).unwrap());
        let out = pattern_attention(&p, &qv, &kvv, Some(&av), 2, 0.5, None).unwrap();
        let loss = (&out * &rand_tensor(&[40, 8], 74)).unwrap().sum_all().unwrap();
        let gr = loss.backward().unwrap();
        let bits = |t: &Tensor| vec(t).iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        (bits(&out), bits(gr.get(&qv).unwrap()), bits(gr.get(&kvv).unwrap()), bits(gr.get(&av).unwrap()))
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(run);
    assert!(one == three, "1 and 3 threads give the same bits");
}
