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
