//! Test support: tiny named graphs and a finite-difference gradient checker,
//! shared by the unit tests of `ops` and `nn` (as PyG keeps `torch_geometric/testing`).

use crate::graph::Graph;
use crate::rng::{seeded, Rng};
use candle_core::{Device, Result, Tensor, Var};

/// `0 -> 1, 0 -> 2, 0 -> 3` and back: a star with centre 0.
pub fn star() -> Graph {
    Graph::from_edges(4, &[(0, 1), (0, 2), (0, 3), (1, 0), (2, 0), (3, 0)]).expect("valid")
}
/// The directed path `0 -> 1 -> 2`.
pub fn path() -> Graph {
    Graph::from_edges(3, &[(0, 1), (1, 2)]).expect("valid")
}
/// An undirected triangle.
pub fn triangle() -> Graph {
    Graph::from_edges(3, &[(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0)]).expect("valid")
}
/// A path `0 -> 1` plus an isolated node 2 and a self loop on 1.
pub fn with_isolated() -> Graph {
    Graph::from_edges(3, &[(0, 1), (1, 1)]).expect("valid")
}
/// A random directed multigraph with `n` nodes and `m` edges (seeded).
pub fn random_graph(n: usize, m: usize, seed: u64) -> Graph {
    let mut r = seeded(seed);
    let edges: Vec<(usize, usize)> = (0..m).map(|_| (r.gen_range(0..n), r.gen_range(0..n))).collect();
    Graph::from_edges(n, &edges).expect("valid")
}
/// A seeded tensor with entries uniform in `[-1, 1)`.
pub fn rand_tensor(shape: &[usize], seed: u64) -> Tensor {
    let mut r = seeded(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.gen_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).expect("shape")
}

/// Compare the analytic gradient of `L = Σ f(inputs) ⊙ R` with central finite
/// differences, for every element of every input. Panics with a readable message
/// on mismatch (test use only).
pub fn check_grad(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>, eps: f64, tol: f64) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).expect("var")).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&ts).expect("forward");
    let r = rand_tensor(out.dims(), 12345);
    let loss = (&out * &r).expect("mul").sum_all().expect("sum");
    let grads = loss.backward().expect("backward");
    let eval = |xs: &[Tensor]| -> f64 {
        let o = f(xs).expect("forward");
        (o * &r).expect("mul").sum_all().expect("sum").to_scalar::<f32>().expect("scalar") as f64
    };
    for (k, t) in inputs.iter().enumerate() {
        let g = grads.get(&ts[k]).map(|g| g.flatten_all().expect("flat").to_vec1::<f32>().expect("vec")).unwrap_or_else(|| vec![0.0; t.elem_count()]);
        let base = t.flatten_all().expect("flat").to_vec1::<f32>().expect("vec");
        for i in 0..base.len() {
            let mut plus = base.clone();
            plus[i] += eps as f32;
            let mut minus = base.clone();
            minus[i] -= eps as f32;
            let mk = |v: Vec<f32>| Tensor::from_vec(v, t.dims(), &Device::Cpu).expect("shape");
            let mut xp: Vec<Tensor> = inputs.to_vec();
            xp[k] = mk(plus);
            let mut xm: Vec<Tensor> = inputs.to_vec();
            xm[k] = mk(minus);
            let fd = (eval(&xp) - eval(&xm)) / (2.0 * eps);
            let an = g[i] as f64;
            assert!((fd - an).abs() <= tol * (1.0 + fd.abs().max(an.abs())), "input {k} element {i}: finite difference {fd} vs analytic {an}");
        }
    }
}

/// Assert two slices agree within `tol` (absolute plus relative).
pub fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())), "{what}[{i}]: {x} vs {y}");
    }
}

/// Flatten a tensor to a `Vec<f32>`.
pub fn vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().expect("flat").to_vec1::<f32>().expect("f32")
}

/// The shared datasets folder (`$AUTOGLM_DATA`, else `../shared/datasets`
/// beside the workspace) when it holds `sub`. Elsewhere a test that needs it
/// prints "skipping" and returns; in CI (`CI` set) a missing folder fails the
/// test, so real-data tests can never pass by being skipped.
///
/// # Panics
/// When `CI` is set and the folder is missing.
pub fn shared_datasets(sub: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("AUTOGLM_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"));
    if dir.join(sub).exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("shared dataset {} is missing ({}): CI runs every real-data test; set AUTOGLM_DATA to the shared datasets folder", sub, dir.join(sub).display());
    }
    eprintln!("skipping: dataset folder not found ({})", dir.join(sub).display());
    None
}
