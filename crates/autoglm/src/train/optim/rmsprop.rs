//! RMSProp, centered and with momentum (PyTorch's `torch.optim.RMSprop`).

use super::{ensure_len, lerp, ParamState};

/// One RMSProp update of `p` from gradient `g` (`st.t` already incremented).
#[allow(clippy::too_many_arguments)]
pub(super) fn update(p: &mut [f32], g: &[f32], st: &mut ParamState, lr: f64, wd: f64, alpha: f64, eps: f64, momentum: f64, centered: bool) {
    let n = p.len();
    let wd32 = wd as f32;
    // `d = g + wd·p` (PyTorch skips the add when wd = 0; so do we, for NaN/inf parity).
    let l2 = |g: f32, p: f32| if wd != 0.0 { g + wd32 * p } else { g };
    ensure_len(&mut st.a, n);
    let lr = lr as f32;
    let a32 = alpha as f32;
    let w = (1.0 - alpha) as f32;
    let eps = eps as f32;
    let mu = momentum as f32;
    // `s ← α·s + (1 − α)·d²`; returns `√s + ε`, or `√(s − a²) + ε` with the
    // centered average `a ← lerp(a, d, 1 − α)`.
    let denom = |d: f32, s: &mut f32, ga: Option<&mut f32>| -> f32 {
        *s = *s * a32 + w * d * d;
        match ga {
            Some(ga) => {
                *ga = lerp(*ga, d, w);
                (*s - *ga * *ga).sqrt() + eps
            }
            None => s.sqrt() + eps,
        }
    };
    // `b ← μ·b + d/σ`, `p ← p − lr·b`.
    let with_momentum = |p: &mut f32, d: f32, avg: f32, b: &mut f32| {
        *b = *b * mu + d / avg;
        *p -= lr * *b;
    };
    let base = p.iter_mut().zip(g).zip(st.a.iter_mut());
    match (momentum > 0.0, centered) {
        (false, false) => {
            for ((p, &g), s) in base {
                let d = l2(g, *p);
                *p -= lr * (d / denom(d, s, None));
            }
        }
        (false, true) => {
            ensure_len(&mut st.c, n);
            for (((p, &g), s), ga) in base.zip(st.c.iter_mut()) {
                let d = l2(g, *p);
                *p -= lr * (d / denom(d, s, Some(ga)));
            }
        }
        (true, false) => {
            ensure_len(&mut st.b, n);
            for (((p, &g), s), b) in base.zip(st.b.iter_mut()) {
                let d = l2(g, *p);
                let avg = denom(d, s, None);
                with_momentum(p, d, avg, b);
            }
        }
        (true, true) => {
            ensure_len(&mut st.b, n);
            ensure_len(&mut st.c, n);
            for ((((p, &g), s), b), ga) in base.zip(st.b.iter_mut()).zip(st.c.iter_mut()) {
                let d = l2(g, *p);
                let avg = denom(d, s, Some(ga));
                with_momentum(p, d, avg, b);
            }
        }
    }
}
