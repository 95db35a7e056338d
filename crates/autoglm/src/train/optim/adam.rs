//! Adam, AMSGrad and AdamW (PyTorch's `torch.optim.Adam` / `AdamW`).

use super::{ensure_len, AdamScalars, ParamState};

/// One Adam update of `p` from gradient `g` (`st.t` already incremented); `decoupled`: AdamW.
#[allow(clippy::too_many_arguments)]
pub(super) fn update(p: &mut [f32], g: &[f32], st: &mut ParamState, lr: f64, wd: f64, beta1: f64, beta2: f64, eps: f64, amsgrad: bool, decoupled: bool) {
    let n = p.len();
    let wd32 = wd as f32;
    // `d = g + wd·p` (PyTorch skips the add when wd = 0; so do we, for NaN/inf parity).
    let l2 = |g: f32, p: f32| if wd != 0.0 { g + wd32 * p } else { g };
    ensure_len(&mut st.a, n);
    ensure_len(&mut st.b, n);
    let t = st.t.min(i32::MAX as u64) as i32;
    let k = AdamScalars {
        step_size: (lr / (1.0 - beta1.powi(t))) as f32,
        bc2_sqrt: (1.0 - beta2.powi(t)).sqrt() as f32,
        w1: (1.0 - beta1) as f32,
        b2: beta2 as f32,
        w2: (1.0 - beta2) as f32,
        eps: eps as f32,
    };
    if decoupled && wd != 0.0 {
        let decay = (1.0 - lr * wd) as f32;
        p.iter_mut().for_each(|p| *p *= decay);
    }
    let grad = |g: f32, p: f32| if decoupled { g } else { l2(g, p) };
    let moments = p.iter_mut().zip(g).zip(st.a.iter_mut().zip(st.b.iter_mut()));
    if amsgrad {
        ensure_len(&mut st.c, n);
        for (((p, &g), (m, v)), vmax) in moments.zip(st.c.iter_mut()) {
            let v = k.moments(grad(g, *p), m, v);
            *vmax = vmax.max(v);
            k.apply(p, *m, *vmax);
        }
    } else {
        for ((p, &g), (m, v)) in moments {
            let v = k.moments(grad(g, *p), m, v);
            k.apply(p, *m, v);
        }
    }
}
