//! Float and int8 kernels side by side on Cora-sized inputs (random data of
//! the same shapes): `cargo run --release -p autoglm-kernels --example int8_bench`.
//! Medians of 200 calls, microseconds.
use autoglm_kernels::{dense, quant, sparse};
use std::time::Instant;
fn t(name: &str, mut f: impl FnMut()) {
    f();
    let mut v: Vec<f64> = (0..200)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    println!("{name:30} {:8.1} us", v[100]);
}
fn main() {
    let (n, k, nnz) = (2708usize, 1433usize, 18usize);
    let mut s = 1u64;
    let mut r = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut ptr = vec![0];
    let mut col = vec![];
    let mut val = vec![];
    for _ in 0..n {
        let mut c: Vec<usize> = (0..nnz).map(|_| (r() % k as u64) as usize).collect();
        c.sort();
        c.dedup();
        for &x in &c {
            col.push(x);
            val.push(1.0 / c.len() as f32);
        }
        ptr.push(col.len());
    }
    let mut gptr = vec![0];
    let mut gn = vec![];
    for _ in 0..n {
        for _ in 0..5 {
            gn.push((r() % n as u64) as usize);
        }
        gptr.push(gn.len());
    }
    for o in [16usize, 64] {
        let w: Vec<f32> = (0..o * k).map(|_| (r() % 1000) as f32 / 1000.0 - 0.5).collect();
        let mut wt = vec![0f32; w.len()];
        for a in 0..o {
            for b in 0..k {
                wt[b * o + a] = w[a * k + b];
            }
        }
        let q = quant::QWeights::quantize(&w, o, k);
        t(&format!("csr f32 o={o}"), || {
            std::hint::black_box(dense::csr_times_dense(&ptr, &col, &val, &wt, o));
        });
        t(&format!("csr int8 o={o}"), || {
            std::hint::black_box(quant::qlinear_csr(&ptr, &col, &val, &q, None));
        });
        let h: Vec<f32> = (0..n * o).map(|_| (r() % 1000) as f32 / 1000.0).collect();
        t(&format!("propagate o={o}"), || {
            std::hint::black_box(sparse::propagate(&gptr, &gn, None, &h, o, None, None, true));
        });
        let w2: Vec<f32> = (0..o * o).map(|_| (r() % 1000) as f32 / 1000.0 - 0.5).collect();
        let q2 = quant::QWeights::quantize(&w2, o, o);
        t(&format!("linear f32 {o}x{o}"), || {
            std::hint::black_box(dense::linear(&h, n, o, &w2, o, None));
        });
        t(&format!("linear int8 {o}x{o}"), || {
            std::hint::black_box(quant::qlinear(&h, n, quant::ActScale::Static(1.0 / 127.0), &q2, None));
        });
        let big = 40000;
        let hb: Vec<f32> = (0..big * o).map(|_| (r() % 1000) as f32 / 1000.0).collect();
        t(&format!("linear f32 {big}x{o}x{o}"), || {
            std::hint::black_box(dense::linear(&hb, big, o, &w2, o, None));
        });
        t(&format!("linear int8 {big}x{o}x{o}"), || {
            std::hint::black_box(quant::qlinear(&hb, big, quant::ActScale::Static(1.0 / 127.0), &q2, None));
        });
        quant::force_portable(true);
        t(&format!("linear int8 portable {big}x{o}x{o}"), || {
            std::hint::black_box(quant::qlinear(&hb, big, quant::ActScale::Static(1.0 / 127.0), &q2, None));
        });
        quant::force_portable(false);
        println!("vnni {}", quant::has_vnni());
    }
}
