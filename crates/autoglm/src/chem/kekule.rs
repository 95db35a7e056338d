//! Kekulisation: aromatic bonds become alternating single and double bonds.
//!
//! Each aromatic atom that still has room for a double bond (its lowest
//! allowed valence not below its current bond-order sum plus hydrogens,
//! minus both, is at least 1) must receive exactly one double bond among its
//! aromatic ring bonds. That is a perfect matching on the subgraph of those
//! atoms and bonds, found here with Edmonds' blossom algorithm (so odd rings
//! and fused systems such as indole or purine are handled exactly).

use std::collections::VecDeque;

use super::valence::allowed_valences;
use super::Atom;

const NONE: usize = usize::MAX;

/// A bond while reading: its order, or aromatic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawBond {
    Single,
    Double,
    Triple,
    Aromatic,
}

impl RawBond {
    /// Contribution to the bond-order sum before kekulisation (aromatic counts 1).
    fn base_order(self) -> u8 {
        match self {
            RawBond::Single | RawBond::Aromatic => 1,
            RawBond::Double => 2,
            RawBond::Triple => 3,
        }
    }
}

/// An atom while reading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawAtom {
    pub atom: Atom,
    pub aromatic: bool,
    /// Hydrogens written on the atom (bracket count plus folded `[H]` neighbours).
    pub explicit_h: u8,
    /// Byte position in the SMILES string.
    pub pos: usize,
}

/// Replace every aromatic bond by single or double. On failure returns the
/// index of an atom to blame and a message.
pub(crate) fn kekulise(atoms: &[RawAtom], bonds: &mut [(usize, usize, RawBond)]) -> Result<(), (usize, String)> {
    let Some(p) = matching_problem(atoms, bonds)? else { return Ok(()) };
    let mate = max_matching(&p.adj);
    if let Some(k) = mate.iter().position(|&m| m == NONE) {
        let i = p.verts[k];
        return Err((i, format!("cannot kekulise: no alternating single/double bond pattern gives atom {} its double bond", i)));
    }
    for b in bonds.iter_mut() {
        if b.2 == RawBond::Aromatic {
            let (u, v) = (b.0, b.1);
            b.2 = if p.needs[u] && p.needs[v] && mate[p.local[u]] == p.local[v] { RawBond::Double } else { RawBond::Single };
        }
    }
    Ok(())
}

/// How many aromatic atoms that need a double bond a best Kekulé structure
/// still leaves without one: 0 when [`kekulise`] succeeds. Errors as
/// [`kekulise`] for an aromatic atom outside rings.
pub(crate) fn kekule_deficiency(atoms: &[RawAtom], bonds: &[(usize, usize, RawBond)]) -> Result<usize, (usize, String)> {
    let mut bonds = bonds.to_vec();
    Ok(match matching_problem(atoms, &mut bonds)? {
        Some(p) => max_matching(&p.adj).iter().filter(|&&m| m == NONE).count(),
        None => 0,
    })
}

/// The matching problem of a kekulisation: which atoms need a double bond,
/// and the aromatic bonds between them.
struct MatchingProblem {
    needs: Vec<bool>,
    /// Atom -> vertex of the matching graph (`NONE` when not needed).
    local: Vec<usize>,
    /// Vertex -> atom.
    verts: Vec<usize>,
    adj: Vec<Vec<usize>>,
}

/// Set aromatic bonds outside rings to single and build the matching
/// problem; `None` when nothing is aromatic.
fn matching_problem(atoms: &[RawAtom], bonds: &mut [(usize, usize, RawBond)]) -> Result<Option<MatchingProblem>, (usize, String)> {
    if !bonds.iter().any(|b| b.2 == RawBond::Aromatic) && !atoms.iter().any(|a| a.aromatic) {
        return Ok(None);
    }
    let n = atoms.len();
    let in_ring = super::ring_bond_flags(n, &bonds.iter().map(|&(u, v, _)| (u, v)).collect::<Vec<_>>());
    // Aromatic bonds outside rings (the bond between the rings of biphenyl
    // written `c1ccccc1c1ccccc1`) are single.
    for (b, &r) in bonds.iter_mut().zip(&in_ring) {
        if b.2 == RawBond::Aromatic && !r {
            b.2 = RawBond::Single;
        }
    }
    let mut has_ring_bond = vec![false; n];
    let mut sum = vec![0u8; n];
    for (&(u, v, t), &r) in bonds.iter().zip(&in_ring) {
        sum[u] = sum[u].saturating_add(t.base_order());
        sum[v] = sum[v].saturating_add(t.base_order());
        if r {
            has_ring_bond[u] = true;
            has_ring_bond[v] = true;
        }
    }
    let mut needs = vec![false; n];
    for (i, a) in atoms.iter().enumerate() {
        if !a.aromatic {
            continue;
        }
        if !has_ring_bond[i] {
            return Err((i, format!("aromatic atom {} is not in a ring", a.atom.symbol().to_lowercase())));
        }
        let used = sum[i].saturating_add(a.explicit_h);
        if let Some(vals) = allowed_valences(a.atom) {
            if let Some(target) = vals.lowest_at_least(used) {
                needs[i] = target - used >= 1;
            }
        }
    }
    // The matching graph: aromatic bonds between atoms that need a double bond.
    let mut local = vec![NONE; n];
    let mut verts = Vec::new();
    for i in 0..n {
        if needs[i] {
            local[i] = verts.len();
            verts.push(i);
        }
    }
    let mut adj = vec![Vec::new(); verts.len()];
    for &(u, v, t) in bonds.iter() {
        if t == RawBond::Aromatic && needs[u] && needs[v] {
            adj[local[u]].push(local[v]);
            adj[local[v]].push(local[u]);
        }
    }
    Ok(Some(MatchingProblem { needs, local, verts, adj }))
}

/// Maximum matching of a general graph (Edmonds' blossom algorithm with
/// breadth-first search for augmenting paths, O(V^3)). Returns each
/// vertex's partner, or `usize::MAX` when unmatched.
pub(crate) fn max_matching(adj: &[Vec<usize>]) -> Vec<usize> {
    let n = adj.len();
    let mut mate = vec![NONE; n];
    // Greedy start; the augmenting search fixes the rest.
    for v in 0..n {
        if mate[v] == NONE {
            if let Some(&w) = adj[v].iter().find(|&&w| mate[w] == NONE) {
                mate[v] = w;
                mate[w] = v;
            }
        }
    }
    let mut search = BlossomSearch { adj, mate, parent: vec![NONE; n], base: (0..n).collect(), in_tree: vec![false; n], queue: VecDeque::new() };
    for root in 0..n {
        if search.mate[root] == NONE {
            if let Some(end) = search.find_augmenting_path(root) {
                search.augment(end);
            }
        }
    }
    search.mate
}

struct BlossomSearch<'a> {
    adj: &'a [Vec<usize>],
    mate: Vec<usize>,
    /// Tree parent of odd vertices.
    parent: Vec<usize>,
    /// Base of the blossom each vertex currently belongs to.
    base: Vec<usize>,
    /// Even (outer) vertices of the alternating tree.
    in_tree: Vec<bool>,
    queue: VecDeque<usize>,
}

impl BlossomSearch<'_> {
    fn find_augmenting_path(&mut self, root: usize) -> Option<usize> {
        let n = self.adj.len();
        self.parent.fill(NONE);
        self.in_tree.fill(false);
        for (i, b) in self.base.iter_mut().enumerate() {
            *b = i;
        }
        self.queue.clear();
        self.in_tree[root] = true;
        self.queue.push_back(root);
        while let Some(v) = self.queue.pop_front() {
            for k in 0..self.adj[v].len() {
                let to = self.adj[v][k];
                if self.base[v] == self.base[to] || self.mate[v] == to {
                    continue;
                }
                if to == root || (self.mate[to] != NONE && self.parent[self.mate[to]] != NONE) {
                    // An odd cycle: contract the blossom.
                    let b = self.common_base(v, to);
                    let mut in_blossom = vec![false; n];
                    self.mark_path(v, b, to, &mut in_blossom);
                    self.mark_path(to, b, v, &mut in_blossom);
                    for i in 0..n {
                        if in_blossom[self.base[i]] {
                            self.base[i] = b;
                            if !self.in_tree[i] {
                                self.in_tree[i] = true;
                                self.queue.push_back(i);
                            }
                        }
                    }
                } else if self.parent[to] == NONE {
                    self.parent[to] = v;
                    if self.mate[to] == NONE {
                        return Some(to);
                    }
                    let m = self.mate[to];
                    self.in_tree[m] = true;
                    self.queue.push_back(m);
                }
            }
        }
        None
    }

    /// Lowest common ancestor (as blossom bases) of `a` and `b` in the tree.
    fn common_base(&self, mut a: usize, mut b: usize) -> usize {
        let mut seen = vec![false; self.adj.len()];
        loop {
            a = self.base[a];
            seen[a] = true;
            if self.mate[a] == NONE {
                break;
            }
            a = self.parent[self.mate[a]];
        }
        loop {
            b = self.base[b];
            if seen[b] {
                return b;
            }
            b = self.parent[self.mate[b]];
        }
    }

    fn mark_path(&mut self, mut v: usize, b: usize, mut child: usize, in_blossom: &mut [bool]) {
        while self.base[v] != b {
            in_blossom[self.base[v]] = true;
            in_blossom[self.base[self.mate[v]]] = true;
            self.parent[v] = child;
            child = self.mate[v];
            v = self.parent[self.mate[v]];
        }
    }

    fn augment(&mut self, mut v: usize) {
        while v != NONE {
            let pv = self.parent[v];
            let next = self.mate[pv];
            self.mate[v] = pv;
            self.mate[pv] = v;
            v = next;
        }
    }
}
