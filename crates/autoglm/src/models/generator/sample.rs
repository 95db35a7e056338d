//! Sampling from a [`GraphGenerator`]: seeded, batched, with temperature and
//! top-p (nucleus) sampling, a maximum size, and an optional valence mask.
//!
//! Sample `i` draws from its own generator `derive(seed, i)`, so a sample does
//! not depend on the batch size or on the other samples. Each step runs the
//! causal encoder over every unfinished prefix, draws the next node type (or
//! end-of-graph), then one mixture component and every pair's class.
//!
//! The valence mask ([`ValenceMask`]) is a separate, labelled mode: pairs are
//! then decided one after the other and an edge class whose order would take
//! either atom over its largest valence is removed before drawing (GraphDF /
//! MoFlow style). Without it nothing is masked or repaired.

use super::{CausalInput, GraphGenerator, Pairs};
use crate::graph::SmallGraph;
use crate::nn::Ctx;
use crate::rng::{derive, GlmRng, Rng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Most samples one request may ask for.
pub const MAX_SAMPLES: usize = 10_000_000;
/// Largest graph a request may ask for.
pub const MAX_NODES: usize = 100_000;

/// Valence limits for masked sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValenceMask {
    /// Largest bond-order sum per node type (`u8::MAX`: no limit).
    pub capacity: Vec<u8>,
    /// Bond order of each edge type.
    pub edge_order: Vec<u8>,
}

/// How to sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    pub num: usize,
    pub seed: u64,
    /// Logits are divided by this (1: the model's distribution).
    pub temperature: f64,
    /// Nucleus: draw among the most likely classes whose mass reaches `top_p` (1: all).
    pub top_p: f64,
    /// A graph that reaches this many nodes ends there (counted as truncated).
    pub max_nodes: usize,
    /// Graphs sampled together.
    pub batch_size: usize,
    /// The valence-masked mode (molecules only).
    pub valence: Option<ValenceMask>,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig { num: 100, seed: 0, temperature: 1.0, top_p: 1.0, max_nodes: 64, batch_size: 256, valence: None }
    }
}

impl SampleConfig {
    /// Check the request.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value.
    pub fn validate(&self) -> Result<()> {
        if self.num == 0 {
            return Err(Error::config("num", 0, "ask for at least one sample"));
        }
        if self.num > MAX_SAMPLES {
            return Err(Error::config("num", self.num, format!("at most {MAX_SAMPLES} samples per request; split the request")));
        }
        if self.max_nodes == 0 || self.max_nodes > MAX_NODES {
            return Err(Error::config("max_nodes", self.max_nodes, format!("must be in 1..={MAX_NODES}")));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::config("temperature", self.temperature, "must be a positive number (1 samples the model's distribution)"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::config("top_p", self.top_p, "must be in (0, 1] (1 turns nucleus sampling off)"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be positive"));
        }
        Ok(())
    }
}

/// What happened while sampling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleStats {
    pub num: usize,
    /// Samples that reached `max_nodes` before drawing end-of-graph.
    pub truncated: usize,
    /// Edge draws the valence mask changed (0 without the mask).
    pub masked_draws: usize,
    pub seconds: f64,
}

/// Draw from `logits` (one row) with temperature and top-p; `allowed` masks classes.
fn draw(logits: &[f32], temperature: f64, top_p: f64, allowed: Option<&[bool]>, rng: &mut GlmRng) -> usize {
    let m = logits.iter().enumerate().filter(|(i, _)| allowed.is_none_or(|a| a[*i])).map(|(_, &v)| v as f64).fold(f64::NEG_INFINITY, f64::max);
    let mut p: Vec<(usize, f64)> =
        logits.iter().enumerate().filter(|(i, _)| allowed.is_none_or(|a| a[*i])).map(|(i, &v)| (i, ((v as f64 - m) / temperature).exp())).collect();
    if p.is_empty() {
        return 0;
    }
    let total: f64 = p.iter().map(|x| x.1).sum();
    if top_p < 1.0 {
        p.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut acc = 0.0;
        let mut keep = 0;
        for (i, x) in p.iter().enumerate() {
            acc += x.1 / total;
            keep = i + 1;
            if acc >= top_p {
                break;
            }
        }
        p.truncate(keep);
    }
    let total: f64 = p.iter().map(|x| x.1).sum();
    let mut r = rng.gen::<f64>() * total;
    for &(i, w) in &p {
        if r < w {
            return i;
        }
        r -= w;
    }
    p.last().map_or(0, |x| x.0)
}

struct Partial {
    g: SmallGraph,
    deg: Vec<usize>,
    val: Vec<usize>,
    rng: GlmRng,
    done: bool,
}

impl GraphGenerator {
    /// Sample `cfg.num` graphs; `progress(done)` after every finished batch.
    ///
    /// # Errors
    /// [`SampleConfig::validate`]; a valence mask of the wrong size.
    pub fn sample(&self, cfg: &SampleConfig, progress: &mut dyn FnMut(usize)) -> Result<(Vec<SmallGraph>, SampleStats)> {
        cfg.validate()?;
        let mc = &self.cfg;
        if let Some(v) = &cfg.valence {
            if v.capacity.len() != mc.num_node_types || v.edge_order.len() != mc.num_edge_types {
                return Err(Error::inconsistent(
                    "valence mask: node types x edge types of the model",
                    format!("{} x {}", mc.num_node_types, mc.num_edge_types),
                    format!("{} x {}", v.capacity.len(), v.edge_order.len()),
                ));
            }
        }
        let t0 = std::time::Instant::now();
        let mut out = Vec::with_capacity(cfg.num);
        let mut stats = SampleStats { num: cfg.num, ..SampleStats::default() };
        let mut ctx = Ctx::eval();
        let eog = mc.num_node_types;
        let mut start = 0;
        while start < cfg.num {
            let end = (start + cfg.batch_size).min(cfg.num);
            let mut parts: Vec<Partial> =
                (start..end).map(|i| Partial { g: SmallGraph::default(), deg: vec![], val: vec![], rng: derive(cfg.seed, i as u64), done: false }).collect();
            loop {
                let active: Vec<usize> = (0..parts.len()).filter(|&i| !parts[i].done).collect();
                if active.is_empty() {
                    break;
                }
                let graphs: Vec<&SmallGraph> = active.iter().map(|&i| &parts[i].g).collect();
                let input = CausalInput::new(&graphs, mc)?;
                let h = self.encode_input(&input, &mut ctx)?;
                let last: Vec<u32> = active.iter().zip(&input.offsets).map(|(&i, &off)| (off + parts[i].g.num_nodes()) as u32).collect();
                let node_logits = self.node_logits(&h.index_select(&super::idx(&last)?, 0)?)?.to_vec2::<f32>()?;
                // next node types; pairs of the graphs that continue
                let mut pairs = Pairs::new();
                let mut growing: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
                for (a, &i) in active.iter().enumerate() {
                    let p = &mut parts[i];
                    let n = p.g.num_nodes();
                    let ty = draw(&node_logits[a], cfg.temperature, cfg.top_p, None, &mut p.rng);
                    if ty == eog {
                        p.done = true;
                        continue;
                    }
                    if n >= cfg.max_nodes {
                        p.done = true;
                        stats.truncated += 1;
                        continue;
                    }
                    p.g.node_types.push(ty as u32);
                    p.deg.push(0);
                    p.val.push(0);
                    if n > 0 {
                        let range = pairs.push(mc, input.offsets[a], n, ty as u32, &p.deg, &p.val);
                        growing.push((i, range));
                    }
                }
                if growing.is_empty() {
                    continue;
                }
                let (log_mix, pair_lp) = self.edge_logprobs(&h, &pairs)?;
                let log_mix = log_mix.to_vec2::<f32>()?;
                let pair_lp = pair_lp.to_vec3::<f32>()?;
                for (s, (i, range)) in growing.into_iter().enumerate() {
                    let p = &mut parts[i];
                    let v = p.g.num_nodes() - 1;
                    let k = draw(&log_mix[s], cfg.temperature, 1.0, None, &mut p.rng);
                    let base = pairs.ptr[s];
                    let mut allowed = vec![true; mc.edge_classes()];
                    for (off, u) in range.enumerate() {
                        let logits = &pair_lp[base + off][k];
                        let class = match &cfg.valence {
                            None => draw(logits, cfg.temperature, cfg.top_p, None, &mut p.rng),
                            Some(vm) => {
                                let cap = |node: usize, used: usize| (vm.capacity[p.g.node_types[node] as usize] as usize).saturating_sub(used);
                                let room = cap(v, p.val[v]).min(cap(u, p.val[u]));
                                for (c, a) in allowed.iter_mut().enumerate() {
                                    *a = c == 0 || (vm.edge_order[c - 1] as usize) <= room;
                                }
                                let free = draw(logits, cfg.temperature, cfg.top_p, None, &mut p.rng.clone());
                                let c = draw(logits, cfg.temperature, cfg.top_p, Some(&allowed), &mut p.rng);
                                if c != free {
                                    stats.masked_draws += 1;
                                }
                                c
                            }
                        };
                        if class > 0 {
                            let order = cfg.valence.as_ref().map_or(class, |vm| vm.edge_order[class - 1] as usize);
                            p.g.edges.push((u as u32, v as u32, class as u32 - 1));
                            p.deg[u] += 1;
                            p.deg[v] += 1;
                            p.val[u] += order;
                            p.val[v] += order;
                        }
                    }
                }
            }
            for p in parts {
                let mut g = p.g;
                g.edges.sort_unstable();
                out.push(g);
            }
            start = end;
            progress(start);
        }
        stats.seconds = t0.elapsed().as_secs_f64();
        Ok((out, stats))
    }
}
