//! Gradient compression with error feedback: top-k sparsification and 1-bit
//! quantisation, each exchanged with an all-gather (module docs of
//! [`crate::dist`] for the byte layout).

use super::Communicator;
use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// How gradients travel (`--compress none | topk:R | onebit[:B]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Compression {
    /// One f32 all-reduce.
    None,
    /// The `ratio` share of entries largest in magnitude, `0 < ratio <= 1`.
    TopK { ratio: f64 },
    /// Signs with one scale (mean magnitude) per `block` entries.
    OneBit { block: usize },
}

/// Default 1-bit block: 1 scale per 1024 signs (32 x 1024 / (1024 + 32) = 31x).
pub const ONEBIT_BLOCK: usize = 1024;

impl FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Compression> {
        let bad = |why: &str| {
            Error::config("compress", s, format!("{why}; use none, topk:R with 0 < R <= 1 (topk:0.01 keeps 1 %), or onebit[:B] with a block of B >= 1 entries"))
        };
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        match (kind.trim().to_ascii_lowercase().as_str(), arg) {
            ("none", None) => Ok(Compression::None),
            ("topk", Some(a)) => match a.trim().parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 1.0 => Ok(Compression::TopK { ratio: r }),
                _ => Err(bad("the top-k ratio is not in (0, 1]")),
            },
            ("topk", None) => Err(bad("top-k needs its ratio")),
            ("onebit", None) => Ok(Compression::OneBit { block: ONEBIT_BLOCK }),
            ("onebit", Some(a)) => match a.trim().parse::<usize>() {
                Ok(b) if b >= 1 => Ok(Compression::OneBit { block: b }),
                _ => Err(bad("the 1-bit block is not a positive integer")),
            },
            _ => Err(bad("unknown compression")),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => write!(f, "none"),
            Compression::TopK { ratio } => write!(f, "topk:{ratio}"),
            Compression::OneBit { block } => write!(f, "onebit:{block}"),
        }
    }
}

impl Compression {
    /// Entries top-k keeps of `n`.
    pub fn topk_count(ratio: f64, n: usize) -> usize {
        ((ratio * n as f64).ceil() as usize).clamp(usize::from(n > 0), n)
    }
}

/// A rank's compressor: the method and its error-feedback residual.
#[derive(Debug, Clone)]
pub struct Compressor {
    pub method: Compression,
    /// What compression has not sent yet (added to the next gradient).
    pub residual: Vec<f32>,
}

impl Compressor {
    /// A compressor with an empty residual.
    pub fn new(method: Compression) -> Compressor {
        Compressor { method, residual: Vec::new() }
    }

    /// Sum `g` over the ranks of `comm` in place, compressed by the method;
    /// each rank's `g` already carries its weight. Error feedback: the
    /// residual is added before compressing and what was not sent is kept.
    ///
    /// # Errors
    /// A communication error, or a payload from another rank that does not
    /// decode (ranks disagree on the model).
    pub fn exchange(&mut self, comm: &dyn Communicator, g: &mut [f32]) -> Result<()> {
        let n = g.len();
        if matches!(self.method, Compression::None) {
            return comm.all_reduce_sum(g);
        }
        if self.residual.len() != n {
            self.residual = vec![0.0; n];
        }
        for (v, r) in g.iter_mut().zip(&self.residual) {
            *v += r;
        }
        let payload = match self.method {
            Compression::TopK { ratio } => encode_topk(g, Compression::topk_count(ratio, n)),
            Compression::OneBit { block } => encode_onebit(g, block),
            Compression::None => unreachable!("handled above"),
        };
        // residual = what this rank meant to send - what it sent
        self.residual.copy_from_slice(g);
        let mut mine = vec![0.0f32; n];
        decode_add(&payload, &mut mine, 0)?;
        for (r, s) in self.residual.iter_mut().zip(&mine) {
            *r -= s;
        }
        let all = comm.all_gather(&payload)?;
        g.iter_mut().for_each(|v| *v = 0.0);
        for (rank, p) in all.iter().enumerate() {
            decode_add(p, g, rank)?;
        }
        Ok(())
    }
}

const TAG_TOPK: u8 = 1;
const TAG_ONEBIT: u8 = 2;

/// `[tag u8][n u32][k u32][k x u32 index][k x f32 value]`: the `k` entries of
/// largest magnitude (ties to the lower index).
pub(crate) fn encode_topk(g: &[f32], k: usize) -> Vec<u8> {
    let mut idx: Vec<u32> = (0..g.len() as u32).collect();
    let key = |i: &u32| (g[*i as usize].abs(), std::cmp::Reverse(*i));
    if k < idx.len() && k > 0 {
        idx.select_nth_unstable_by(k - 1, |a, b| key(b).partial_cmp(&key(a)).unwrap_or(std::cmp::Ordering::Equal));
    }
    idx.truncate(k);
    idx.sort_unstable();
    let mut out = Vec::with_capacity(9 + 8 * k);
    out.push(TAG_TOPK);
    out.extend_from_slice(&(g.len() as u32).to_le_bytes());
    out.extend_from_slice(&(k as u32).to_le_bytes());
    for &i in &idx {
        out.extend_from_slice(&i.to_le_bytes());
    }
    for &i in &idx {
        out.extend_from_slice(&g[i as usize].to_le_bytes());
    }
    out
}

/// `[tag u8][n u32][block u32][ceil(n / block) x f32 scale][ceil(n / 8) bytes of
/// signs, bit set = negative]`; entry `i` decodes to `±scale[i / block]`, the
/// scale being the block's mean magnitude.
pub(crate) fn encode_onebit(g: &[f32], block: usize) -> Vec<u8> {
    let block = block.max(1);
    let n = g.len();
    let mut out = Vec::with_capacity(9 + 4 * n.div_ceil(block) + n.div_ceil(8));
    out.push(TAG_ONEBIT);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(block as u32).to_le_bytes());
    for c in g.chunks(block) {
        let scale = (c.iter().map(|v| f64::from(v.abs())).sum::<f64>() / c.len() as f64) as f32;
        out.extend_from_slice(&scale.to_le_bytes());
    }
    for c in g.chunks(8) {
        let mut b = 0u8;
        for (j, v) in c.iter().enumerate() {
            if v.is_sign_negative() {
                b |= 1 << j;
            }
        }
        out.push(b);
    }
    out
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    p.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Add the decoded payload of `rank` to `out`.
pub(crate) fn decode_add(p: &[u8], out: &mut [f32], rank: usize) -> Result<()> {
    let len = out.len();
    let bad = |why: String| Error::inconsistent(format!("compressed gradient from rank {rank}"), format!("a payload for {len} parameters"), why);
    let n = u32_at(p, 1).ok_or_else(|| bad("a truncated header".into()))? as usize;
    if n != len {
        return Err(bad(format!("{n} parameters (do the ranks build the same model?)")));
    }
    match p.first() {
        Some(&TAG_TOPK) => {
            let k = u32_at(p, 5).ok_or_else(|| bad("a truncated header".into()))? as usize;
            if p.len() != 9 + 8 * k {
                return Err(bad(format!("{} bytes for {k} entries", p.len())));
            }
            for j in 0..k {
                let i = u32_at(p, 9 + 4 * j).unwrap_or(u32::MAX) as usize;
                let v = f32::from_bits(u32_at(p, 9 + 4 * k + 4 * j).unwrap_or(0));
                *out.get_mut(i).ok_or_else(|| bad(format!("index {i}")))? += v;
            }
            Ok(())
        }
        Some(&TAG_ONEBIT) => {
            let block = u32_at(p, 5).ok_or_else(|| bad("a truncated header".into()))? as usize;
            if block == 0 {
                return Err(bad("a block of 0".into()));
            }
            let nb = n.div_ceil(block);
            if p.len() != 9 + 4 * nb + n.div_ceil(8) {
                return Err(bad(format!("{} bytes", p.len())));
            }
            let signs = &p[9 + 4 * nb..];
            for (i, o) in out.iter_mut().enumerate() {
                let scale = f32::from_bits(u32_at(p, 9 + 4 * (i / block)).unwrap_or(0));
                let neg = signs[i / 8] >> (i % 8) & 1 == 1;
                *o += if neg { -scale } else { scale };
            }
            Ok(())
        }
        _ => Err(bad("an unknown payload kind".into())),
    }
}
