use super::*;
use crate::nn::Params;
use crate::train::OptimizerConfig;

fn small_cfg(types: usize, edge_types: usize) -> GeneratorConfig {
    let mut c = GeneratorConfig { num_node_types: types, num_edge_types: edge_types, hidden_dim: 32, num_layers: 2, mixture: 2, ..GeneratorConfig::default() };
    c.layer.attention.heads = HeadGroups { local: 2, khop: 0, global: 2 };
    c
}

fn cycle(n: usize) -> SmallGraph {
    SmallGraph::from_pairs(n, (0..n).map(|i| (i, (i + 1) % n)))
}

#[test]
fn states_are_causal() {
    let cfg = small_cfg(3, 2);
    let m = cfg.init(&Params::new(1)).unwrap();
    let mut a = SmallGraph { node_types: vec![0, 1, 2, 0, 1], edges: vec![(0, 1, 0), (1, 2, 1), (0, 3, 0), (3, 4, 1)] };
    let ha = m.encode(&a, &mut Ctx::eval()).unwrap().to_vec2::<f32>().unwrap();
    // change node 3's type and add an edge into node 4: rows 0..=2 must not move, row 3 must
    a.node_types[3] = 2;
    a.edges.push((2, 4, 0));
    a.edges.sort_unstable();
    let hb = m.encode(&a, &mut Ctx::eval()).unwrap().to_vec2::<f32>().unwrap();
    for i in 0..3 {
        for (x, y) in ha[i].iter().zip(&hb[i]) {
            assert!((x - y).abs() < 1e-6, "row {i} changed: {x} vs {y}");
        }
    }
    assert!(ha[3].iter().zip(&hb[3]).any(|(x, y)| (x - y).abs() > 1e-4));
}

/// The teacher-forced likelihood equals the product of the step-by-step
/// distributions the sampler draws from (no step sees the future).
#[test]
fn teacher_forcing_matches_step_by_step_likelihood() {
    let cfg = small_cfg(2, 2);
    let m = cfg.init(&Params::new(7)).unwrap();
    let g = SmallGraph { node_types: vec![0, 1, 1, 0], edges: vec![(0, 1, 0), (0, 2, 1), (1, 3, 0), (2, 3, 0)] };
    let b = SeqBatch::new(&[&g], &cfg).unwrap();
    let nll = m.nll(&b, &mut Ctx::eval()).unwrap();
    let forced = nll.total.to_scalar::<f32>().unwrap() as f64;

    let mut step_nll = 0.0f64;
    let n = g.num_nodes();
    let mut deg = vec![0usize; n];
    let mut val = vec![0usize; n];
    for t in 0..=n {
        // the prefix of t nodes and the edges among them
        let prefix = SmallGraph { node_types: g.node_types[..t].to_vec(), edges: g.edges.iter().copied().filter(|e| (e.1 as usize) < t).collect() };
        let input = CausalInput::new(&[&prefix], &cfg).unwrap();
        let h = m.encode_input(&input, &mut Ctx::eval()).unwrap();
        let lp = log_softmax_last(&m.node_logits(&h.narrow(0, t, 1).unwrap()).unwrap()).unwrap().to_vec2::<f32>().unwrap();
        let target = if t < n { g.node_types[t] as usize } else { cfg.num_node_types };
        step_nll -= lp[0][target] as f64;
        if t == 0 || t == n {
            continue;
        }
        let mut pairs = Pairs::new();
        let range = pairs.push(&cfg, 0, t, g.node_types[t], &deg, &val);
        let (mix, plp) = m.edge_logprobs(&h, &pairs).unwrap();
        let (mix, plp) = (mix.to_vec2::<f32>().unwrap(), plp.to_vec3::<f32>().unwrap());
        let class = |u: usize| g.edges.iter().find(|e| e.0 as usize == u && e.1 as usize == t).map_or(0, |e| e.2 as usize + 1);
        let per_k: Vec<f64> = (0..cfg.mixture).map(|k| mix[0][k] as f64 + range.clone().map(|u| plp[u][k][class(u)] as f64).sum::<f64>()).collect();
        let mx = per_k.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        step_nll -= mx + per_k.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
        for u in range {
            let c = class(u);
            if c > 0 {
                deg[u] += 1;
                deg[t] += 1;
                val[u] += c;
                val[t] += c;
            }
        }
    }
    assert!((forced - step_nll).abs() < 1e-3 * step_nll.abs().max(1.0), "teacher forcing {forced} vs steps {step_nll}");
    assert!((nll.node + nll.edge - forced).abs() < 1e-3);
}

#[test]
fn learns_cycles_and_samples_reproducibly() {
    let cfg = small_cfg(1, 1);
    let params = Params::new(0);
    let m = cfg.init(&params).unwrap();
    let data: Vec<SmallGraph> = (0..8).map(|_| cycle(6)).collect();
    let oc = OptimizerConfig::adam(3e-3);
    let mut opt = oc.build(vec![oc.group("all", params.trainable())]).unwrap();
    let mut rng = crate::rng::seeded(0);
    let mut ctx = Ctx::train(crate::rng::seeded(1));
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..150 {
        let ordered: Vec<SmallGraph> = data.iter().map(|g| g.permuted(&NodeOrdering::Bfs.order(g, &mut rng))).collect();
        let refs: Vec<&SmallGraph> = ordered.iter().collect();
        let b = SeqBatch::new(&refs, &cfg).unwrap();
        let nll = m.nll(&b, &mut ctx).unwrap();
        let loss = (nll.total / b.num_graphs as f64).unwrap();
        last = loss.to_scalar::<f32>().unwrap() as f64;
        first.get_or_insert(last);
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    assert!(last < 0.5 * first.unwrap(), "nll {first:?} -> {last}");
    let sc = SampleConfig { num: 12, seed: 5, max_nodes: 12, batch_size: 5, ..SampleConfig::default() };
    let (a, stats) = m.sample(&sc, &mut |_| {}).unwrap();
    let (b, _) = m.sample(&SampleConfig { batch_size: 12, ..sc.clone() }, &mut |_| {}).unwrap();
    assert_eq!(a, b, "samples depend on the batch size");
    assert_eq!(stats.num, 12);
    let six_cycles = a.iter().filter(|g| g.num_nodes() == 6 && g.degrees().iter().all(|&d| d == 2) && g.is_connected()).count();
    assert!(six_cycles >= 6, "only {six_cycles} of 12 samples are 6-cycles: {a:?}");
}

#[test]
fn bad_requests_and_vocabularies_are_errors() {
    let cfg = small_cfg(2, 1);
    let m = cfg.init(&Params::new(0)).unwrap();
    for (sc, key) in [
        (SampleConfig { num: 0, ..SampleConfig::default() }, "num"),
        (SampleConfig { num: usize::MAX, ..SampleConfig::default() }, "num"),
        (SampleConfig { max_nodes: 0, ..SampleConfig::default() }, "max_nodes"),
        (SampleConfig { temperature: -1.0, ..SampleConfig::default() }, "temperature"),
        (SampleConfig { top_p: 0.0, ..SampleConfig::default() }, "top_p"),
    ] {
        let e = m.sample(&sc, &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    }
    let g = SmallGraph { node_types: vec![0, 5], edges: vec![(0, 1, 0)] };
    assert!(SeqBatch::new(&[&g], &cfg).is_err());
    assert!(SeqBatch::new(&[&SmallGraph::default()], &cfg).is_err());
    let bad = SampleConfig { valence: Some(ValenceMask { capacity: vec![4], edge_order: vec![1] }), ..SampleConfig::default() };
    assert!(m.sample(&bad, &mut |_| {}).unwrap_err().to_string().contains("valence"));
}

#[test]
fn valence_mask_keeps_capacities() {
    let cfg = small_cfg(1, 1);
    let m = cfg.init(&Params::new(3)).unwrap();
    let sc = SampleConfig { num: 20, max_nodes: 10, valence: Some(ValenceMask { capacity: vec![2], edge_order: vec![1] }), ..SampleConfig::default() };
    let (gs, _) = m.sample(&sc, &mut |_| {}).unwrap();
    for g in gs {
        assert!(g.degrees().iter().all(|&d| d <= 2), "{g:?}");
    }
}
