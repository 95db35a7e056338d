use super::compress::{decode_add, encode_onebit, encode_topk};
use super::*;
use candle_core::{Device, Tensor, Var};
use std::time::Duration;

/// Run `f(comm)` on every rank of an in-process group, one thread each.
fn on_ranks<T: Send>(size: usize, f: impl Fn(&LocalComm) -> T + Sync) -> Vec<T> {
    let comms = LocalGroup::ranks(size);
    std::thread::scope(|s| {
        let hs: Vec<_> = comms.iter().map(|c| s.spawn(|| f(c))).collect();
        hs.into_iter().map(|h| h.join().expect("rank thread")).collect()
    })
}

#[test]
fn collectives_of_the_local_group() {
    let out = on_ranks(3, |c| {
        let r = c.rank() as f32;
        let mut v = vec![r, 10.0 * r, 1.0];
        c.all_reduce_sum(&mut v).unwrap();
        let g = c.all_gather(&vec![c.rank() as u8; c.rank() + 1]).unwrap();
        let mut b = if c.rank() == 1 { vec![7u8, 8, 9] } else { vec![] };
        c.broadcast(&mut b, 1).unwrap();
        c.barrier().unwrap();
        (v, g, b, c.bytes_sent())
    });
    for (rank, (v, g, b, sent)) in out.into_iter().enumerate() {
        assert_eq!(v, vec![3.0, 30.0, 3.0]);
        assert_eq!(g, vec![vec![0u8], vec![1, 1], vec![2, 2, 2]]);
        assert_eq!(b, vec![7, 8, 9]);
        // all-reduce: 3 f32; gather: 8-byte length + own bytes; broadcast: the root's length + bytes
        let want = 12 + 8 + (rank as u64 + 1) + if rank == 1 { 11 } else { 0 };
        assert_eq!(sent, want, "rank {rank}");
    }
}

#[test]
fn a_rank_that_leaves_fails_the_others_instead_of_hanging() {
    let mut comms = LocalGroup::with_timeout(2, Duration::from_secs(30));
    let survivor = comms.remove(0);
    let gone = comms.remove(0);
    let t = std::thread::spawn(move || {
        let mut v = vec![1.0f32];
        survivor.all_reduce_sum(&mut v)
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(gone);
    let e = t.join().unwrap().unwrap_err().to_string();
    assert!(e.contains("rank 1 left the group"), "{e}");
    // and a group where one rank never arrives times out
    let comms = LocalGroup::with_timeout(2, Duration::from_millis(100));
    let e = comms[0].barrier().unwrap_err().to_string();
    assert!(e.contains("did not arrive"), "{e}");
}

#[test]
fn compression_names_parse_and_bad_ones_say_what_is_accepted() {
    assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
    assert_eq!("topk:0.01".parse::<Compression>().unwrap(), Compression::TopK { ratio: 0.01 });
    assert_eq!("onebit".parse::<Compression>().unwrap(), Compression::OneBit { block: ONEBIT_BLOCK });
    assert_eq!("onebit:64".parse::<Compression>().unwrap(), Compression::OneBit { block: 64 });
    for bad in ["topk", "topk:0", "topk:1.5", "onebit:0", "gzip", "topk:x"] {
        let e = bad.parse::<Compression>().unwrap_err().to_string();
        assert!(e.contains("topk:R"), "{bad}: {e}");
    }
    for c in [Compression::None, Compression::TopK { ratio: 0.25 }, Compression::OneBit { block: 8 }] {
        assert_eq!(c.to_string().parse::<Compression>().unwrap(), c);
    }
}

#[test]
fn topk_keeps_the_largest_entries_and_onebit_keeps_signs_and_mean_magnitude() {
    let g = [0.5f32, -3.0, 0.0, 2.0, -2.0, 1.0];
    let p = encode_topk(&g, 3);
    assert_eq!(p.len(), 9 + 8 * 3);
    let mut out = vec![0.0; 6];
    decode_add(&p, &mut out, 0).unwrap();
    // |-3| then the tie |2| = |-2| goes to both (k = 3)
    assert_eq!(out, vec![0.0, -3.0, 0.0, 2.0, -2.0, 0.0]);
    let p = encode_onebit(&g, 4);
    assert_eq!(p.len(), 9 + 4 * 2 + 1);
    let mut out = vec![0.0; 6];
    decode_add(&p, &mut out, 0).unwrap();
    let (s0, s1) = ((0.5 + 3.0 + 0.0 + 2.0) / 4.0, (2.0 + 1.0) / 2.0);
    assert_eq!(out, vec![s0, -s0, s0, s0, -s1, s1]);
}

#[test]
fn payloads_that_do_not_fit_are_errors_not_panics() {
    let good = encode_topk(&[1.0, 2.0, 3.0], 1);
    let mut out = vec![0.0; 3];
    for bad in [vec![], vec![1u8], good[..good.len() - 1].to_vec(), vec![9, 3, 0, 0, 0], encode_topk(&[1.0; 4], 1)] {
        assert!(decode_add(&bad, &mut out, 1).is_err(), "{bad:?}");
    }
    // an index past the end
    let mut p = encode_topk(&[0.0, 0.0, 5.0], 1);
    p[9..13].copy_from_slice(&7u32.to_le_bytes());
    let e = decode_add(&p, &mut out, 1).unwrap_err().to_string();
    assert!(e.contains("rank 1") && e.contains("index 7"), "{e}");
    let mut p = encode_onebit(&[1.0; 16], 4);
    let mut out16 = vec![0.0; 16];
    decode_add(&p, &mut out16, 0).unwrap();
    p.pop();
    assert!(decode_add(&p, &mut out16, 0).is_err());
}

/// With error feedback, what is sent over many steps adds up to what was
/// meant to be sent: the residual stays bounded and nothing is lost.
#[test]
fn error_feedback_sends_everything_eventually() {
    let n = 200;
    let g: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    for method in [Compression::TopK { ratio: 0.05 }, Compression::OneBit { block: 16 }] {
        let steps = 2000;
        let sent = on_ranks(1, |c| {
            let mut comp = Compressor::new(method);
            let mut total = vec![0.0f64; n];
            for _ in 0..steps {
                let mut v = g.clone();
                comp.exchange(c, &mut v).unwrap();
                total.iter_mut().zip(&v).for_each(|(t, s)| *t += f64::from(*s));
            }
            // sent + residual = everything meant to be sent
            for i in 0..n {
                let want = f64::from(g[i]) * steps as f64;
                let got = total[i] + f64::from(comp.residual[i]);
                assert!((got - want).abs() < 1e-2, "{method}: entry {i}: {got} vs {want}");
            }
            total
        })
        .remove(0);
        let worst = (0..n).map(|i| (sent[i] / steps as f64 - f64::from(g[i])).abs()).fold(0.0, f64::max);
        assert!(worst < 0.02, "{method}: mean sent gradient off by {worst}");
    }
}

#[test]
fn compressed_exchanges_sum_over_ranks_and_count_every_byte() {
    let n = 100_000;
    for (method, min_ratio) in [(Compression::None, 1.0), (Compression::TopK { ratio: 0.01 }, 45.0), (Compression::OneBit { block: 1024 }, 25.0)] {
        let out = on_ranks(2, |c| {
            let mut v: Vec<f32> = (0..n).map(|i| if i % 100 == c.rank() { 1.0 + i as f32 } else { 1e-6 }).collect();
            let before = c.bytes_sent();
            Compressor::new(method).exchange(c, &mut v).unwrap();
            (v, c.bytes_sent() - before)
        });
        let dense = 4.0 * n as f64;
        for (v, sent) in &out {
            let ratio = dense / *sent as f64;
            assert!(ratio >= min_ratio, "{method}: {ratio:.1}x");
            if let Compression::TopK { .. } = method {
                // each rank's top 1 % are exactly its large entries; both arrive
                assert_eq!(v[0], 1.0);
                assert_eq!(v[101], 102.0);
                assert_eq!(v[5], 0.0);
            }
        }
        assert_eq!(out[0].0, out[1].0, "{method}: every rank gets the same sum");
    }
}

fn regression(n: usize) -> (Tensor, Tensor) {
    let d = Device::Cpu;
    let x: Vec<f32> = (0..n * 3).map(|i| ((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect();
    let y: Vec<f32> = (0..n).map(|i| x[3 * i] * 2.0 - x[3 * i + 1] + 0.5 * x[3 * i + 2] + 0.1).collect();
    (Tensor::from_vec(x, (n, 3), &d).unwrap(), Tensor::from_vec(y, (n, 1), &d).unwrap())
}

/// Plain SGD on least squares over `items` of each step's global batch;
/// returns the loss on the rank's part of each step and the final weights.
fn sgd(comm: Option<&dyn Communicator>, method: Compression, steps: usize, global_batch: usize) -> (Vec<f32>, Vec<f32>) {
    let n = 60;
    let (x, y) = regression(n);
    let w = Var::from_tensor(&Tensor::new(&[[0.3f32], [-0.2], [0.1]], &Device::Cpu).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::new(&[0.0f32], &Device::Cpu).unwrap()).unwrap();
    let vars = [w.clone(), b.clone()];
    let (rank, size) = comm.map_or((0, 1), |c| (c.rank(), c.size()));
    let mut sync = comm.map(|c| GradSync::new(c, method));
    if let Some(s) = &sync {
        s.broadcast_params(&vars).unwrap();
    }
    let mut losses = Vec::new();
    for step in 0..steps {
        let s = step % shard::steps(n, global_batch);
        let (range, weight) = shard::part(n, global_batch, s, rank, size);
        let idx = Tensor::from_vec(range.clone().map(|i| i as u32).collect(), range.len(), &Device::Cpu).unwrap();
        let loss = if range.is_empty() {
            (w.as_tensor().sum_all().unwrap() * 0.0).unwrap()
        } else {
            let pred = x.index_select(&idx, 0).unwrap().matmul(w.as_tensor()).unwrap().broadcast_add(b.as_tensor()).unwrap();
            (pred - y.index_select(&idx, 0).unwrap()).unwrap().sqr().unwrap().mean_all().unwrap()
        };
        losses.push(loss.to_scalar::<f32>().unwrap() * weight);
        let mut grads = loss.backward().unwrap();
        if let Some(s) = sync.as_mut() {
            s.set_weight(weight);
            s.on_grads(&mut grads, &vars).unwrap();
        }
        for v in &vars {
            let g = grads.get(v.as_tensor()).unwrap();
            v.set(&(v.as_tensor() - (g * 0.5).unwrap()).unwrap()).unwrap();
        }
    }
    let mut out = w.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    out.extend(b.as_tensor().to_vec1::<f32>().unwrap());
    (losses, out)
}

#[test]
fn two_ranks_follow_one_process_with_the_same_global_batch() {
    let (one_loss, one_w) = sgd(None, Compression::None, 30, 16);
    let two = on_ranks(2, |c| sgd(Some(c as &dyn Communicator), Compression::None, 30, 16));
    // the global loss of a step is the weighted sum of the ranks' losses
    for (s, want) in one_loss.iter().enumerate() {
        let l = two[0].0[s] + two[1].0[s];
        assert!((l - want).abs() < 1e-5, "step {s}: {l} vs {want}");
    }
    for (a, b) in two[0].1.iter().zip(&one_w) {
        assert!((a - b).abs() < 1e-5, "{:?} vs {one_w:?}", two[0].1);
    }
    assert_eq!(two[0].1, two[1].1, "replicas stay identical");
    // three ranks (uneven parts) too
    let three = on_ranks(3, |c| sgd(Some(c as &dyn Communicator), Compression::None, 30, 16));
    for (a, b) in three[2].1.iter().zip(&one_w) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn compressed_training_still_converges() {
    let (_, exact) = sgd(None, Compression::None, 200, 60);
    for method in [Compression::TopK { ratio: 0.5 }, Compression::OneBit { block: 2 }] {
        let two = on_ranks(2, |c| sgd(Some(c as &dyn Communicator), method, 200, 60));
        assert_eq!(two[0].1, two[1].1, "{method}: replicas stay identical");
        for (a, b) in two[0].1.iter().zip(&exact) {
            assert!((a - b).abs() < 0.05, "{method}: {:?} vs {exact:?}", two[0].1);
        }
    }
}

#[test]
fn shards_cover_every_item_once_with_weights_summing_to_one() {
    for (n, g, size) in [(10, 4, 2), (10, 4, 3), (7, 20, 4), (3, 2, 5)] {
        let mut seen = vec![0; n];
        for s in 0..shard::steps(n, g) {
            let mut wsum = 0.0;
            for r in 0..size {
                let (range, w) = shard::part(n, g, s, r, size);
                range.for_each(|i| seen[i] += 1);
                wsum += w;
            }
            assert!((wsum - 1.0).abs() < 1e-6, "{n} {g} {size}");
        }
        assert!(seen.iter().all(|&c| c == 1), "{n} {g} {size}: {seen:?}");
    }
    let (mine, w) = shard::strided(&[10, 11, 12, 13, 14], 1, 2);
    assert_eq!((mine, w), (vec![11, 13], 0.4));
}

#[test]
fn ranks_with_different_configurations_are_refused_on_every_rank() {
    let out = on_ranks(2, |c| check_same_config(c, if c.rank() == 0 { "lr = 0.01" } else { "lr = 0.02" }).map_err(|e| e.to_string()));
    for r in out {
        let e = r.unwrap_err();
        assert!(e.contains("ranks [1] differ"), "{e}");
    }
    assert!(on_ranks(2, |c| check_same_config(c, "same").is_ok()).into_iter().all(|ok| ok));
}

#[test]
fn periodic_averaging_makes_replicas_equal() {
    let out = on_ranks(2, |c| {
        let v = Var::from_tensor(&Tensor::new(&[c.rank() as f32 * 2.0], &Device::Cpu).unwrap()).unwrap();
        let mut sync = GradSync::new(c, Compression::None).with_mode(SyncMode::Periodic { period: 2 });
        let mut trace = Vec::new();
        for _ in 0..3 {
            let mut grads = v.as_tensor().sum_all().unwrap().backward().unwrap();
            sync.on_grads(&mut grads, std::slice::from_ref(&v)).unwrap();
            trace.push(v.as_tensor().to_vec1::<f32>().unwrap()[0]);
            // a local update that differs by rank
            v.set(&(v.as_tensor() + (c.rank() as f64 + 1.0)).unwrap()).unwrap();
        }
        (trace, sync.stats().steps)
    });
    // the first call gives both rank 0's value; steps 1 and 2 run locally;
    // before step 3 the parameters are averaged: (2 + 4) / 2
    assert_eq!(out[0].0, vec![0.0, 1.0, 3.0]);
    assert_eq!(out[1].0, vec![0.0, 2.0, 3.0]);
    assert_eq!(out[0].1, 1);
}
