//! Layer flow shared by every encoder: how the outputs of the layers become the
//! encoder's output. Jumping knowledge (Xu et al., ICML 2018) over the layers'
//! outputs: the last one, their concatenation, their element-wise maximum, or
//! an attention over the layers per node (`α_l = softmax_l(h_l · w)`,
//! `z = Σ_l α_l h_l`). Residual connections live in the layers' own recipes
//! (`Gnn` adds `h + layer(h)` where widths match; the transformer block has its own).

use crate::nn::{Init, Params};
use crate::{Error, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Jumping-knowledge mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jk {
    #[default]
    Last,
    Cat,
    Max,
    Attention,
}

/// A configured jumping-knowledge combiner over `layers` outputs of width `dim`.
#[derive(Debug, Clone)]
pub struct JumpingKnowledge {
    mode: Jk,
    att: Option<Tensor>,
    layers: usize,
    dim: usize,
}

impl JumpingKnowledge {
    /// `mode` over `layers` outputs of width `dim` (parameter `att [dim]` for attention).
    ///
    /// # Errors
    /// [`Error::Config`] for zero layers.
    pub fn new(mode: Jk, layers: usize, dim: usize, p: &Params) -> Result<JumpingKnowledge> {
        if layers == 0 {
            return Err(Error::config("num_layers", 0, "jumping knowledge needs at least one layer"));
        }
        let att = if mode == Jk::Attention { Some(p.get("att", &[dim, 1], Init::Glorot { fan_in: dim, fan_out: 1 })?) } else { None };
        Ok(JumpingKnowledge { mode, att, layers, dim })
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        if self.mode == Jk::Cat {
            self.layers * self.dim
        } else {
            self.dim
        }
    }

    /// Combine the layers' outputs (each `[N, dim]`).
    ///
    /// # Errors
    /// A count or shape mismatch.
    pub fn forward(&self, hs: &[Tensor]) -> Result<Tensor> {
        if hs.len() != self.layers {
            return Err(Error::inconsistent("layer outputs for jumping knowledge", self.layers, hs.len()));
        }
        Ok(match self.mode {
            Jk::Last => hs[hs.len() - 1].clone(),
            Jk::Cat => Tensor::cat(hs, 1)?,
            Jk::Max => {
                let mut m = hs[0].clone();
                for h in &hs[1..] {
                    m = m.maximum(h)?;
                }
                m
            }
            Jk::Attention => {
                let w = self.att.as_ref().expect("attention weights");
                let s = Tensor::cat(&hs.iter().map(|h| h.matmul(w)).collect::<candle_core::Result<Vec<_>>>()?, 1)?; // [N, L]
                let s = s.broadcast_sub(&s.max_keepdim(1)?)?.exp()?;
                let a = s.broadcast_div(&s.sum_keepdim(1)?)?;
                let mut z = hs[0].broadcast_mul(&a.narrow(1, 0, 1)?)?;
                for (l, h) in hs.iter().enumerate().skip(1) {
                    z = (z + h.broadcast_mul(&a.narrow(1, l, 1)?)?)?;
                }
                z
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, check_grad, rand_tensor, vec};

    #[test]
    fn jumping_knowledge_modes() {
        let p = Params::new(0);
        let (a, b) = (rand_tensor(&[3, 2], 1), rand_tensor(&[3, 2], 2));
        let max = JumpingKnowledge::new(Jk::Max, 2, 2, &p).unwrap().forward(&[a.clone(), b.clone()]).unwrap();
        let want: Vec<f32> = vec(&a).iter().zip(vec(&b)).map(|(x, y)| x.max(y)).collect();
        assert_close(&vec(&max), &want, 0.0, "max");
        let cat = JumpingKnowledge::new(Jk::Cat, 2, 2, &p).unwrap();
        assert_eq!(cat.out_dim(), 4);
        assert_eq!(cat.forward(&[a.clone(), b.clone()]).unwrap().dims(), &[3, 4]);
        let att = JumpingKnowledge::new(Jk::Attention, 2, 2, &p.pp("jk")).unwrap();
        // with equal layers the attention returns that layer
        assert_close(&vec(&att.forward(&[a.clone(), a.clone()]).unwrap()), &vec(&a), 1e-6, "attention of equal layers");
        check_grad(&[a, b], |t| att.forward(&[t[0].clone(), t[1].clone()]).map_err(|e| candle_core::Error::Msg(e.to_string())), 1e-2, 3e-3);
        assert!(JumpingKnowledge::new(Jk::Last, 1, 2, &p).unwrap().forward(&[]).is_err());
    }
}
