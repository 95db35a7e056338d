//! Layer tests: agreement with PyTorch Geometric (outputs and gradients),
//! shapes, permutation equivariance, isolated nodes.

use super::*;
use crate::graph::Graph;
use crate::testing::{assert_close, rand_tensor, vec};
use candle_core::{Device, Tensor, Var};
use serde_json::Value;

fn reference() -> Value {
    let path = std::env::var("AUTOGLM_PYG_REFERENCE").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pyg_layers.json").to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).expect("reference json")
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number") as f32],
        _ => panic!("not numeric: {v}"),
    }
}

fn run_case(name: &str) {
    let r = reference();
    let case = r["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("case {name}"));
    let n = r["num_nodes"].as_u64().unwrap() as usize;
    let edges: Vec<(usize, usize)> =
        r["edges"].as_array().unwrap().iter().map(|e| (e[0].as_u64().unwrap() as usize, e[1].as_u64().unwrap() as usize)).collect();
    let mut b = Graph::builder(n).edges(edges);
    if name == "gcn_weighted" {
        b = b.edge_weight(floats(&r["edge_weight"]));
    }
    let g = b.build().unwrap();
    let xv = floats(&r["x"]);
    let x = Var::from_vec(xv, (n, 5), &Device::Cpu).unwrap();
    let rw = Tensor::from_vec(floats(&r["loss_weights"]), (n, 4), &Device::Cpu).unwrap();
    let p = Params::new(0);
    for (pname, spec) in case["params"].as_object().unwrap() {
        let shape: Vec<usize> = spec["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let t = Tensor::from_vec(floats(&spec["data"]), shape, &Device::Cpu).unwrap();
        p.insert(pname, &t, false).unwrap();
    }
    let input = NodeInput::Hidden(x.as_tensor().clone());
    let mut ctx = Ctx::eval();
    let out = match name {
        "gcn" => GcnConvConfig::new(5, 4).init(&p).unwrap().forward(&g, &input, &mut Ctx::eval()),
        "gcn_weighted" => GcnConvConfig::new(5, 4).init(&p).unwrap().forward(&g, &input, &mut Ctx::eval()),
        "gat" => GatConvConfig::new(5, 2, 2).init(&p).unwrap().forward(&g, &input, &mut ctx),
        "sage_mean" => SageConvConfig::new(5, 4).init(&p).unwrap().forward(&g, &input, &mut Ctx::eval()),
        "sage_max" => SageConvConfig::new(5, 4).with_aggr(SageAggr::Max).init(&p).unwrap().forward(&g, &input, &mut Ctx::eval()),
        "gin" => {
            let cfg = GinConvConfig { mlp: MlpConfig::new(vec![5, 8, 4]), eps: 0.1, train_eps: true };
            cfg.init(&p).unwrap().forward(&g, &input, &mut ctx)
        }
        _ => unreachable!(),
    }
    .unwrap();
    assert_eq!(p.trainable().len(), case["params"].as_object().unwrap().len(), "{name}: parameter count");
    assert_close(&vec(&out), &floats(&case["output"]), 1e-5, &format!("{name} output"));
    let grads = (out * rw).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(&vec(grads.get(x.as_tensor()).unwrap()), &floats(&case["grad_x"]), 1e-5, &format!("{name} grad_x"));
    let vars = p.trainable();
    for (pname, want) in case["grad_params"].as_object().unwrap() {
        let v = &vars.iter().find(|(k, _)| k == pname).unwrap_or_else(|| panic!("{name}: no parameter {pname}")).1;
        let got = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        assert_close(&vec(got), &floats(want), 1e-5, &format!("{name} grad {pname}"));
    }
}

#[test]
fn gcn_matches_pyg() {
    run_case("gcn");
}
#[test]
fn gcn_weighted_matches_pyg() {
    run_case("gcn_weighted");
}
#[test]
fn gat_matches_pyg() {
    run_case("gat");
}
#[test]
fn sage_mean_matches_pyg() {
    run_case("sage_mean");
}
#[test]
fn sage_max_matches_pyg() {
    run_case("sage_max");
}
#[test]
fn gin_matches_pyg() {
    run_case("gin");
}

/// Every layer: relabelling nodes permutes the output rows; isolated nodes give finite rows.
#[test]
fn permutation_equivariance_and_isolated_nodes() {
    let n = 6;
    let edges = [(0, 1), (1, 0), (1, 2), (2, 3), (3, 1), (4, 2)]; // node 5 isolated
    let perm = [3, 5, 0, 1, 4, 2]; // old i -> new perm[i]
    let g = Graph::from_edges(n, &edges).unwrap();
    let gp = Graph::from_edges(n, &edges.iter().map(|&(s, d)| (perm[s], perm[d])).collect::<Vec<_>>()).unwrap();
    let x = rand_tensor(&[n, 5], 3);
    let xv = vec(&x);
    let mut xpv = vec![0f32; n * 5];
    for i in 0..n {
        xpv[perm[i] * 5..perm[i] * 5 + 5].copy_from_slice(&xv[i * 5..i * 5 + 5]);
    }
    let xp = Tensor::from_vec(xpv, (n, 5), &Device::Cpu).unwrap();
    type Layer = Box<dyn Fn(&Graph, &Tensor, &Params) -> Tensor>;
    let layers: Vec<(&str, Layer)> = vec![
        ("gcn", Box::new(|g, x, p| GcnConvConfig::new(5, 4).init(p).unwrap().forward(g, &x.clone().into(), &mut Ctx::eval()).unwrap())),
        ("gat", Box::new(|g, x, p| GatConvConfig::new(5, 2, 2).init(p).unwrap().forward(g, &x.clone().into(), &mut Ctx::eval()).unwrap())),
        ("sage", Box::new(|g, x, p| SageConvConfig::new(5, 4).init(p).unwrap().forward(g, &x.clone().into(), &mut Ctx::eval()).unwrap())),
        (
            "sage_max",
            Box::new(|g, x, p| SageConvConfig::new(5, 4).with_aggr(SageAggr::Max).init(p).unwrap().forward(g, &x.clone().into(), &mut Ctx::eval()).unwrap()),
        ),
        (
            "gin",
            Box::new(|g, x, p| GinConvConfig::new(MlpConfig::new(vec![5, 8, 4])).init(p).unwrap().forward(g, &x.clone().into(), &mut Ctx::eval()).unwrap()),
        ),
    ];
    for (name, f) in layers {
        let a = vec(&f(&g, &x, &Params::new(7)));
        let b = vec(&f(&gp, &xp, &Params::new(7)));
        assert_eq!(a.len(), n * 4, "{name}: shape");
        assert!(a.iter().all(|v| v.is_finite()), "{name}: non-finite output");
        for i in 0..n {
            assert_close(&a[i * 4..i * 4 + 4], &b[perm[i] * 4..perm[i] * 4 + 4], 1e-5, name);
        }
    }
}

/// Constant-input fast paths (dense and sparse) agree with the ordinary path.
#[test]
fn sparse_and_dense_inputs_agree() {
    let g = crate::testing::random_graph(8, 24, 5);
    let x = rand_tensor(&[8, 6], 4);
    let sp = crate::ops::SparseInput::new(crate::graph::CsrMatrix::from_dense(8, 6, &vec(&x)));
    for kind in 0..4 {
        let p = Params::new(1);
        let run = |inp: NodeInput| -> Vec<f32> {
            let mut ctx = Ctx::eval();
            let t = match kind {
                0 => GcnConvConfig::new(6, 3).init(&p).unwrap().forward(&g, &inp, &mut Ctx::eval()),
                1 => GatConvConfig::new(6, 3, 2).init(&p).unwrap().forward(&g, &inp, &mut ctx),
                2 => SageConvConfig::new(6, 3).init(&p).unwrap().forward(&g, &inp, &mut Ctx::eval()),
                _ => GinConvConfig::new(MlpConfig::new(vec![6, 3, 3])).init(&p).unwrap().forward(&g, &inp, &mut ctx),
            };
            vec(&t.unwrap())
        };
        let a = run(NodeInput::Hidden(x.clone()));
        assert_close(&a, &run(NodeInput::Dense(x.clone())), 1e-5, "dense const");
        assert_close(&a, &run(NodeInput::Sparse(sp.clone())), 1e-5, "sparse");
    }
}

#[test]
fn batch_norm_train_and_eval() {
    let p = Params::new(0);
    let bn = BatchNormConfig::new(2).init(&p).unwrap();
    let x = Tensor::new(&[[1f32, 2.], [3., 6.]], &Device::Cpu).unwrap();
    let y = vec(&bn.forward(&x, &Ctx::train(crate::rng::seeded(0))).unwrap());
    assert_close(&y, &[-1., -1., 1., 1.], 1e-3, "bn train");
    let rm = p.all().into_iter().find(|(k, _)| k == "running_mean").unwrap().1;
    assert_close(&vec(rm.as_tensor()), &[0.2, 0.4], 1e-6, "running mean");
    let rv = p.all().into_iter().find(|(k, _)| k == "running_var").unwrap().1;
    // unbiased var: [2, 8]; 0.9 * 1 + 0.1 * v
    assert_close(&vec(rv.as_tensor()), &[1.1, 1.7], 1e-6, "running var");
    assert_eq!(p.trainable().len(), 2);
    let e = vec(&bn.forward(&x, &Ctx::eval()).unwrap());
    assert!((e[0] - (1.0 - 0.2) / (1.1f32 + 1e-5).sqrt()).abs() < 1e-5);
}

/// The local attention group alone (no output projection, root weight on)
/// against PyG's `TransformerConv(concat=True, beta=False)`: outputs and the
/// gradients of the input and of every parameter, on
/// `tests/fixtures/pyg_transformer.json` (regenerated by
/// `scripts/gen_pyg_transformer.py`; `AUTOGLM_PYG_TRANSFORMER_REFERENCE`
/// names a replacement).
#[test]
fn local_attention_matches_pyg_transformer_conv() {
    use crate::nn::attention::{HeadGroups, MgaConfig};
    let path = std::env::var("AUTOGLM_PYG_TRANSFORMER_REFERENCE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pyg_transformer.json").to_string());
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))).expect("reference json");
    let n = r["num_nodes"].as_u64().unwrap() as usize;
    let edges: Vec<(usize, usize)> =
        r["edges"].as_array().unwrap().iter().map(|e| (e[0].as_u64().unwrap() as usize, e[1].as_u64().unwrap() as usize)).collect();
    let ea = floats(&r["edge_attr"]);
    let in_dim = r["x"][0].as_array().unwrap().len();
    let cases = r["cases"].as_object().unwrap();
    assert!(cases.len() >= 4, "plain, edge, edge_noroot, one_head");
    for (name, case) in cases {
        let c = &case["config"];
        let (heads, out_ch) = (c["heads"].as_u64().unwrap() as usize, c["out_channels"].as_u64().unwrap() as usize);
        let edge_dim = c["edge_dim"].as_u64().map_or(0, |d| d as usize);
        let mut b = Graph::builder(n).edges(edges.clone());
        if edge_dim > 0 {
            b = b.edge_features(edge_dim, ea.clone());
        }
        let g = b.build().unwrap();
        let p = Params::new(0);
        for (pname, spec) in case["params"].as_object().unwrap() {
            let shape: Vec<usize> = spec["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            p.insert(pname, &Tensor::from_vec(floats(&spec["data"]), shape, &Device::Cpu).unwrap(), false).unwrap();
        }
        let cfg = MgaConfig {
            self_loops: false,
            out_proj: false,
            root_weight: c["root_weight"].as_bool().unwrap(),
            edge_dim,
            ..MgaConfig::new(in_dim, heads * out_ch, HeadGroups { local: heads, khop: 0, global: 0 })
        };
        let layer = cfg.init(&p).unwrap();
        assert_eq!(p.trainable().len(), case["params"].as_object().unwrap().len(), "{name}: parameter count");
        let x = Var::from_vec(floats(&r["x"]), (n, in_dim), &Device::Cpu).unwrap();
        let out = layer.forward(&g, &NodeInput::Hidden(x.as_tensor().clone()), &mut Ctx::eval()).unwrap();
        assert_close(&vec(&out), &floats(&case["output"]), 1e-5, &format!("{name} output"));
        let rw = Tensor::from_vec(floats(&case["loss_weights"]), (n, heads * out_ch), &Device::Cpu).unwrap();
        let grads = (out * rw).unwrap().sum_all().unwrap().backward().unwrap();
        assert_close(&vec(grads.get(x.as_tensor()).unwrap()), &floats(&case["grad_x"]), 1e-5, &format!("{name} grad_x"));
        let vars = p.trainable();
        for (pname, want) in case["grad_params"].as_object().unwrap() {
            let v = &vars.iter().find(|(k, _)| k == pname).unwrap_or_else(|| panic!("{name}: no parameter {pname}")).1;
            let got = grads.get(v.as_tensor()).map(vec).unwrap_or_else(|| vec![0.0; floats(want).len()]);
            assert_close(&got, &floats(want), 1e-5, &format!("{name} grad {pname}"));
        }
    }
}

#[test]
fn int8_linears_are_close_to_float_and_scoped() {
    let p = Params::new(3);
    let lin = LinearConfig::new(24, 10).init(&p).unwrap();
    let x = rand_tensor(&[50, 24], 9);
    let float = vec(&lin.forward(&x).unwrap());
    assert!(!int8_linears());
    let q = with_int8_linears(|| {
        assert!(int8_linears());
        vec(&lin.forward(&x).unwrap())
    });
    assert!(!int8_linears(), "the flag is reset after the closure");
    assert_ne!(q, float, "the int8 path ran");
    // per-row activations and per-channel weights: error well below 1 % of the outputs' range
    let range = float.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in q.iter().zip(&float) {
        assert!((a - b).abs() < 0.02 * range, "{a} vs {b}");
    }
    // the same product for a sparse input, and with no bias
    let csr = crate::graph::sparse::CsrMatrix::from_dense(50, 24, &vec(&x));
    let sparse = with_int8_linears(|| vec(&lin.forward_input(&NodeInput::Sparse(crate::ops::SparseInput::new(csr))).unwrap()));
    assert_close(&sparse, &q, 0.02, "sparse vs dense int8");
    let nb = with_int8_linears(|| vec(&lin.forward_no_bias(&NodeInput::Hidden(x.clone())).unwrap()));
    let b = vec(lin.bias().unwrap());
    for (r, row) in nb.chunks(10).enumerate() {
        for (c, v) in row.iter().enumerate() {
            assert!((v + b[c] - q[r * 10 + c]).abs() < 1e-4);
        }
    }
}
