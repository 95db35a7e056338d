//! Moving rows between nodes and edges: gathers (node → edge) and their
//! adjoints, deterministic scatter-sums (edge → node) over the CSR.

use super::{dims2, f32_slice, min_rows, prep, simd};
use crate::graph::Graph;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Src,
    Dst,
}

/// `out[e] = x[end(e)]`.
struct Gather {
    g: Graph,
    end: End,
}

/// `out[i] = Σ_{e: end(e) = i} x[e]`.
struct Scatter {
    g: Graph,
    end: End,
}

impl CustomOp1 for Gather {
    fn name(&self) -> &'static str {
        "gather-nodes-to-edges"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "gather")?;
        let f = dims2(l, self.g.num_nodes(), "gather", "x")?;
        let idx = match self.end {
            End::Src => self.g.src(),
            End::Dst => self.g.dst(),
        };
        let mut out = vec![0f32; idx.len() * f];
        out.par_chunks_mut(f).with_min_len(min_rows(f)).zip(idx.par_iter()).for_each(|(o, &i)| o.copy_from_slice(&x[i * f..(i + 1) * f]));
        Ok((CpuStorage::F32(out), Shape::from((idx.len(), f))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(prep(grad)?.apply_op1(Scatter { g: self.g.clone(), end: self.end })?))
    }
}

impl CustomOp1 for Scatter {
    fn name(&self) -> &'static str {
        "scatter-edges-to-nodes"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "scatter")?;
        let f = dims2(l, self.g.num_edges(), "scatter", "edge values")?;
        let n = self.g.num_nodes();
        let mut out = vec![0f32; n * f];
        let (ptr, eid): (&[usize], Option<&[usize]>) = match self.end {
            End::Dst => (self.g.row_ptr(), None),
            End::Src => (self.g.t_ptr(), Some(self.g.t_eid())),
        };
        out.par_chunks_mut(f).with_min_len(min_rows(f)).enumerate().for_each(|(i, o)| {
            for p in ptr[i]..ptr[i + 1] {
                let e = eid.map_or(p, |t| t[p]);
                simd::add_assign(o, &x[e * f..(e + 1) * f]);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((n, f))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(prep(grad)?.apply_op1(Gather { g: self.g.clone(), end: self.end })?))
    }
}

fn as2d(t: &Tensor) -> Result<(Tensor, Vec<usize>)> {
    let dims = t.dims().to_vec();
    let rows = dims.first().copied().unwrap_or(1);
    let rest: usize = dims.iter().skip(1).product();
    Ok((prep(&t.reshape((rows, rest))?)?, dims))
}

fn restore(t: Tensor, rows: usize, dims: &[usize]) -> Result<Tensor> {
    let mut d = dims.to_vec();
    if d.is_empty() {
        return Ok(t);
    }
    d[0] = rows;
    t.reshape(d)
}

/// `out[e] = x[src(e)]`: per-edge copies of the source rows, `[N, ..]` → `[E, ..]`.
pub fn gather_src(g: &Graph, x: &Tensor) -> Result<Tensor> {
    let (x2, dims) = as2d(x)?;
    restore(x2.apply_op1(Gather { g: g.clone(), end: End::Src })?, g.num_edges(), &dims)
}

/// `out[e] = x[dst(e)]`, `[N, ..]` → `[E, ..]`.
pub fn gather_dst(g: &Graph, x: &Tensor) -> Result<Tensor> {
    let (x2, dims) = as2d(x)?;
    restore(x2.apply_op1(Gather { g: g.clone(), end: End::Dst })?, g.num_edges(), &dims)
}

/// `out[i] = Σ_{e: dst(e)=i} x[e]`, `[E, ..]` → `[N, ..]` (sum over incoming edges).
pub fn scatter_dst(g: &Graph, x: &Tensor) -> Result<Tensor> {
    let (x2, dims) = as2d(x)?;
    restore(x2.apply_op1(Scatter { g: g.clone(), end: End::Dst })?, g.num_nodes(), &dims)
}

/// `out[j] = Σ_{e: src(e)=j} x[e]`, `[E, ..]` → `[N, ..]` (sum over outgoing edges).
pub fn scatter_src(g: &Graph, x: &Tensor) -> Result<Tensor> {
    let (x2, dims) = as2d(x)?;
    restore(x2.apply_op1(Scatter { g: g.clone(), end: End::Src })?, g.num_nodes(), &dims)
}
