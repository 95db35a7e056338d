//! SGD with momentum, dampening and Nesterov momentum (PyTorch's `torch.optim.SGD`).

use super::{ensure_len, ParamState};

/// One SGD update of `p` from gradient `g` (`st.t` already incremented).
#[allow(clippy::too_many_arguments)]
pub(super) fn update(p: &mut [f32], g: &[f32], st: &mut ParamState, lr: f64, wd: f64, momentum: f64, dampening: f64, nesterov: bool) {
    let n = p.len();
    let wd32 = wd as f32;
    // `d = g + wd·p` (PyTorch skips the add when wd = 0; so do we, for NaN/inf parity).
    let l2 = |g: f32, p: f32| if wd != 0.0 { g + wd32 * p } else { g };
    let lr = lr as f32;
    if momentum == 0.0 {
        for (p, &g) in p.iter_mut().zip(g) {
            *p -= lr * l2(g, *p);
        }
        return;
    }
    let mu = momentum as f32;
    let keep = (1.0 - dampening) as f32;
    let first = st.t == 1;
    ensure_len(&mut st.a, n);
    for ((p, &g), b) in p.iter_mut().zip(g).zip(st.a.iter_mut()) {
        let d = l2(g, *p);
        *b = if first { d } else { *b * mu + keep * d };
        let d = if nesterov { d + mu * *b } else { *b };
        *p -= lr * d;
    }
}
