//! The SMILES writer and canonical atom ranking.

use super::{Atom, BondType, Molecule};

/// Write a valid Kekulé SMILES of `m` (not canonical): a depth-first walk
/// that starts at atom 0 and visits neighbours in index order, so atoms
/// appear in index order where the bond structure allows. Disconnected
/// parts are joined with `.`.
pub fn write_smiles(m: &Molecule) -> String {
    let prio: Vec<usize> = (0..m.num_atoms()).collect();
    write_with_priority(m, &prio).0
}

/// Canonical SMILES: the same string for every atom numbering of the same
/// (kekulised) molecule. Written from the lowest-ranked atom of
/// [`canonical_ranks`], neighbours visited in rank order.
pub fn canonical_smiles(m: &Molecule) -> String {
    canonical_form(m).0
}

/// The atom indices of `m` in the order they appear in [`canonical_smiles`].
pub fn canonical_order(m: &Molecule) -> Vec<usize> {
    canonical_form(m).1
}

/// [`canonical_smiles`] and [`canonical_order`] from one canonical search.
pub fn canonical_smiles_and_order(m: &Molecule) -> (String, Vec<usize>) {
    let (smiles, order, _) = canonical_form(m);
    (smiles, order)
}

/// A canonical ranking: a permutation of `0..num_atoms` that depends only on
/// the molecule, not on its atom numbering (up to symmetry).
///
/// Atoms start in classes of equal invariants (element, charge, degree,
/// bond-order sum, implicit hydrogens, ring membership); classes are split by
/// the sorted multiset of (neighbour class, bond order) until stable. While
/// classes with several atoms remain, each atom of the lowest such class is
/// in turn given its own class and the refinement runs again; of all the
/// complete rankings reached this way the one whose SMILES is smallest wins.
/// Branches that an automorphism already found maps onto an explored one are
/// skipped, so symmetric molecules stay cheap. (A search that passes
/// [`MAX_LEAVES`] rankings stops there and keeps the best so far.)
pub fn canonical_ranks(m: &Molecule) -> Vec<usize> {
    canonical_form(m).2
}

/// Upper bound on complete rankings examined by the canonical search.
pub const MAX_LEAVES: usize = 5000;

/// (canonical SMILES, atoms in written order, canonical ranks).
fn canonical_form(m: &Molecule) -> (String, Vec<usize>, Vec<usize>) {
    let n = m.num_atoms();
    if n == 0 {
        return (String::new(), Vec::new(), Vec::new());
    }
    let degree = m.degrees();
    let sums = m.bond_order_sums();
    let hs = m.implicit_hydrogens();
    let ring_bond = m.ring_bonds();
    let mut in_ring = vec![false; n];
    for (&(u, v, _), &r) in m.bonds.iter().zip(&ring_bond) {
        if r {
            in_ring[u] = true;
            in_ring[v] = true;
        }
    }
    // Bonds of alternating rings get one label (4), whatever their Kekulé order.
    let deloc = delocalised_bonds(m, &ring_bond);
    let mut adj: Vec<Vec<(usize, u8)>> = vec![Vec::new(); n];
    for (&(u, v, t), &d) in m.bonds.iter().zip(&deloc) {
        let label = if d { 4 } else { t.order() };
        adj[u].push((v, label));
        adj[v].push((u, label));
    }
    let inv: Vec<(u8, i8, usize, u8, u8, bool)> = (0..n).map(|i| (m.atoms[i].element, m.atoms[i].charge, degree[i], sums[i], hs[i], in_ring[i])).collect();
    let (mut ranks, mut classes) = dense_ranks(&inv);
    refine(&adj, &mut ranks, &mut classes);
    let mut search = Search { m, deloc: &deloc, adj: &adj, best: None, seen: std::collections::HashMap::new(), autos: Vec::new(), leaves: 0 };
    let mut path = Vec::new();
    search.run(ranks, classes, &mut path);
    let (s, order, ranks) = search.best.expect("the canonical search reaches at least one leaf");
    (s, order, ranks)
}

struct Search<'a> {
    m: &'a Molecule,
    deloc: &'a [bool],
    adj: &'a [Vec<(usize, u8)>],
    best: Option<(String, Vec<usize>, Vec<usize>)>,
    /// Leaf strings seen, with their written atom order.
    seen: std::collections::HashMap<String, Vec<usize>>,
    /// Automorphisms found (as atom maps).
    autos: Vec<Vec<usize>>,
    leaves: usize,
}

impl Search<'_> {
    fn run(&mut self, ranks: Vec<usize>, classes: usize, path: &mut Vec<usize>) {
        let n = ranks.len();
        if classes == n {
            self.leaf(ranks);
            return;
        }
        let mut count = vec![0usize; n];
        for &r in &ranks {
            count[r] += 1;
        }
        let Some(r) = (0..n).find(|&r| count[r] > 1) else { return };
        let members: Vec<usize> = (0..n).filter(|&i| ranks[i] == r).collect();
        let mut tried: Vec<usize> = Vec::new();
        for &x in &members {
            if self.leaves >= MAX_LEAVES && self.best.is_some() {
                return;
            }
            if !tried.is_empty() && self.same_orbit(x, &tried, path) {
                continue;
            }
            let keys: Vec<(usize, bool)> = (0..n).map(|i| (ranks[i], ranks[i] == r && i != x)).collect();
            let (mut nr, mut nc) = dense_ranks(&keys);
            refine(self.adj, &mut nr, &mut nc);
            path.push(x);
            self.run(nr, nc, path);
            path.pop();
            tried.push(x);
        }
    }

    fn leaf(&mut self, ranks: Vec<usize>) {
        self.leaves += 1;
        let (s, order) = if self.deloc.iter().any(|&d| d) {
            write_with_priority(&rekekulise(self.m, self.deloc, &ranks), &ranks)
        } else {
            write_with_priority(self.m, &ranks)
        };
        if let Some(prev) = self.seen.get(&s) {
            // Same string, two numberings: an automorphism prev[k] -> order[k].
            let mut sigma = vec![0usize; order.len()];
            for (k, &p) in prev.iter().enumerate() {
                sigma[p] = order[k];
            }
            if sigma.iter().enumerate().any(|(i, &j)| i != j) {
                self.autos.push(sigma);
            }
            return;
        }
        let better = self.best.as_ref().is_none_or(|(b, _, _)| s < *b);
        self.seen.insert(s.clone(), order.clone());
        if better {
            self.best = Some((s, order, ranks));
        }
    }

    /// Whether `x` lies in the orbit of one of `tried` under the automorphisms
    /// found so far that fix every atom of `path`.
    fn same_orbit(&self, x: usize, tried: &[usize], path: &[usize]) -> bool {
        let n = self.m.num_atoms();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        let mut any = false;
        for sigma in &self.autos {
            if path.iter().all(|&p| sigma[p] == p) {
                any = true;
                for (i, &j) in sigma.iter().enumerate() {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        parent[a] = b;
                    }
                }
            }
        }
        if !any {
            return false;
        }
        let rx = find(&mut parent, x);
        tried.iter().any(|&t| find(&mut parent, t) == rx)
    }
}

/// Bonds whose order may alternate between Kekulé structures: ring bonds
/// between atoms that each have exactly one double bond, that double bond
/// being a ring bond to another such atom. Any perfect matching of these
/// bonds is an equally valid Kekulé structure (same valences everywhere).
pub(crate) fn delocalised_bonds(m: &Molecule, ring: &[bool]) -> Vec<bool> {
    let n = m.num_atoms();
    let mut doubles = vec![0u8; n];
    let mut partner = vec![usize::MAX; n];
    let mut triple = vec![false; n];
    for (&(u, v, t), &r) in m.bonds.iter().zip(ring) {
        match t {
            BondType::Double => {
                doubles[u] += 1;
                doubles[v] += 1;
                if r {
                    partner[u] = v;
                    partner[v] = u;
                }
            }
            BondType::Triple => {
                triple[u] = true;
                triple[v] = true;
            }
            BondType::Single => {}
        }
    }
    let mut cand: Vec<bool> = (0..n).map(|i| doubles[i] == 1 && partner[i] != usize::MAX && !triple[i]).collect();
    loop {
        let mut changed = false;
        for i in 0..n {
            if cand[i] && !cand[partner[i]] {
                cand[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    m.bonds.iter().zip(ring).map(|(&(u, v, _), &r)| r && cand[u] && cand[v]).collect()
}

/// The Kekulé structure over the delocalised bonds chosen by the ranks alone:
/// atoms in rank order take the lowest-ranked free neighbour that still
/// leaves a perfect matching for the rest.
pub(crate) fn rekekulise(m: &Molecule, deloc: &[bool], ranks: &[usize]) -> Molecule {
    let n = m.num_atoms();
    let mut nbrs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (e, (&(u, v, _), &d)) in m.bonds.iter().zip(deloc).enumerate() {
        if d {
            nbrs[u].push((v, e));
            nbrs[v].push((u, e));
        }
    }
    for l in &mut nbrs {
        l.sort_by_key(|&(w, _)| ranks[w]);
    }
    let mut verts: Vec<usize> = (0..n).filter(|&i| !nbrs[i].is_empty()).collect();
    verts.sort_by_key(|&i| ranks[i]);
    let mut matched = vec![false; n];
    let mut out = m.clone();
    for (e, &d) in deloc.iter().enumerate() {
        if d {
            out.bonds[e].2 = BondType::Single;
        }
    }
    // Whether the free atoms (minus `a` and `b`) still have a perfect matching.
    let completes = |matched: &[bool], a: usize, b: usize| {
        let free: Vec<usize> = verts.iter().copied().filter(|&i| !matched[i] && i != a && i != b).collect();
        let mut local = vec![usize::MAX; n];
        for (k, &i) in free.iter().enumerate() {
            local[i] = k;
        }
        let adj: Vec<Vec<usize>> = free.iter().map(|&i| nbrs[i].iter().filter(|&&(w, _)| local[w] != usize::MAX).map(|&(w, _)| local[w]).collect()).collect();
        super::kekule::max_matching(&adj).iter().all(|&x| x != usize::MAX)
    };
    for &v in &verts {
        if matched[v] {
            continue;
        }
        for &(w, e) in &nbrs[v] {
            if !matched[w] && completes(&matched, v, w) {
                matched[v] = true;
                matched[w] = true;
                out.bonds[e].2 = BondType::Double;
                break;
            }
        }
    }
    out
}

/// Dense ranks of keys (equal keys share a rank) and the number of distinct keys.
fn dense_ranks<K: Ord>(keys: &[K]) -> (Vec<usize>, usize) {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let mut ranks = vec![0usize; keys.len()];
    let mut r = 0;
    for k in 0..idx.len() {
        if k > 0 && keys[idx[k]] != keys[idx[k - 1]] {
            r += 1;
        }
        ranks[idx[k]] = r;
    }
    (ranks, if keys.is_empty() { 0 } else { r + 1 })
}

/// Split classes by sorted (neighbour rank, bond order) lists until stable.
fn refine(adj: &[Vec<(usize, u8)>], ranks: &mut Vec<usize>, classes: &mut usize) {
    let n = ranks.len();
    loop {
        if *classes == n {
            return;
        }
        let keys: Vec<(usize, Vec<(usize, u8)>)> = (0..n)
            .map(|i| {
                let mut nb: Vec<(usize, u8)> = adj[i].iter().map(|&(w, o)| (ranks[w], o)).collect();
                nb.sort_unstable();
                (ranks[i], nb)
            })
            .collect();
        let (nr, nc) = dense_ranks(&keys);
        *ranks = nr;
        if nc == *classes {
            return;
        }
        *classes = nc;
    }
}

/// One atom written in SMILES: bare in the organic subset when uncharged,
/// otherwise in brackets with its hydrogen count and charge.
fn push_atom(out: &mut String, a: Atom, h: u8) {
    let organic = matches!(a.element, 5 | 6 | 7 | 8 | 9 | 15 | 16 | 17 | 35 | 53);
    if organic && a.charge == 0 {
        out.push_str(a.symbol());
        return;
    }
    out.push('[');
    out.push_str(a.symbol());
    if h > 0 {
        out.push('H');
        if h > 1 {
            out.push_str(&h.to_string());
        }
    }
    match a.charge {
        0 => {}
        1 => out.push('+'),
        -1 => out.push('-'),
        c if c > 0 => {
            out.push('+');
            out.push_str(&c.to_string());
        }
        c => {
            out.push('-');
            out.push_str(&(-(c as i16)).to_string());
        }
    }
    out.push(']');
}

fn push_ring_number(out: &mut String, d: usize) {
    if d < 10 {
        out.push(char::from(b'0' + d as u8));
    } else {
        out.push('%');
        out.push_str(&format!("{d:02}"));
    }
}

struct Walk<'a> {
    m: &'a Molecule,
    hs: Vec<u8>,
    /// Tree children `(atom, bond)` in visiting order.
    children: Vec<Vec<(usize, usize)>>,
    /// Ring bonds opened at an atom (the partner is a later descendant).
    opens: Vec<Vec<usize>>,
    /// Ring bonds closed at an atom (the partner is an ancestor).
    closes: Vec<Vec<usize>>,
    digit_of_bond: Vec<usize>,
    digit_used: Vec<bool>,
    out: String,
    order: Vec<usize>,
}

/// DFS writer: atoms with lower `prio` are started from and visited first.
/// Returns the string and the atoms in the order written.
pub(crate) fn write_with_priority(m: &Molecule, prio: &[usize]) -> (String, Vec<usize>) {
    let n = m.num_atoms();
    let mut adj: Vec<Vec<(usize, usize)>> = m.adjacency();
    for a in &mut adj {
        a.sort_by_key(|&(w, _)| prio[w]);
    }
    let mut starts: Vec<usize> = (0..n).collect();
    starts.sort_by_key(|&i| prio[i]);

    // Pass 1: spanning forest and ring bonds.
    let mut disc = vec![usize::MAX; n];
    let mut children = vec![Vec::new(); n];
    let mut opens = vec![Vec::new(); n];
    let mut closes = vec![Vec::new(); n];
    let mut roots = Vec::new();
    let mut time = 0;
    for &s in &starts {
        if disc[s] != usize::MAX {
            continue;
        }
        roots.push(s);
        disc[s] = time;
        time += 1;
        let mut stack: Vec<(usize, usize, usize)> = vec![(s, usize::MAX, 0)];
        while let Some(top) = stack.last_mut() {
            let (v, pe, i) = *top;
            if i >= adj[v].len() {
                stack.pop();
                continue;
            }
            top.2 += 1;
            let (w, e) = adj[v][i];
            if e == pe {
                continue;
            }
            if disc[w] == usize::MAX {
                disc[w] = time;
                time += 1;
                children[v].push((w, e));
                stack.push((w, e, 0));
            } else if disc[w] < disc[v] {
                closes[v].push(e);
                opens[w].push(e);
            }
        }
    }
    // Ring bonds opened at an atom are numbered in the order they close.
    let closer_disc = |e: usize| {
        let (u, v, _) = m.bonds[e];
        disc[u].max(disc[v])
    };
    for o in &mut opens {
        o.sort_by_key(|&e| closer_disc(e));
    }

    let mut w = Walk {
        m,
        hs: m.implicit_hydrogens(),
        children,
        opens,
        closes,
        digit_of_bond: vec![usize::MAX; m.num_bonds()],
        // Ring-closure digit 0 is legal but unusual: keep it reserved.
        digit_used: vec![true],
        out: String::new(),
        order: Vec::with_capacity(n),
    };
    for (k, &r) in roots.iter().enumerate() {
        if k > 0 {
            w.out.push('.');
        }
        w.emit(r);
    }
    (w.out, w.order)
}

impl Walk<'_> {
    fn emit(&mut self, v: usize) {
        self.order.push(v);
        push_atom(&mut self.out, self.m.atoms[v], self.hs[v]);
        let closes = std::mem::take(&mut self.closes[v]);
        for &e in &closes {
            let d = self.digit_of_bond[e];
            push_ring_number(&mut self.out, d);
        }
        let opens = std::mem::take(&mut self.opens[v]);
        for &e in &opens {
            let d = match self.digit_used.iter().position(|&u| !u) {
                Some(d) => d,
                None => {
                    self.digit_used.push(false);
                    self.digit_used.len() - 1
                }
            };
            self.digit_used[d] = true;
            self.digit_of_bond[e] = d;
            self.out.push_str(self.m.bonds[e].2.symbol());
            push_ring_number(&mut self.out, d);
        }
        // Free digits only after this atom's openings, so a closing digit is
        // never reused on the same atom.
        for &e in &closes {
            let d = self.digit_of_bond[e];
            self.digit_used[d] = false;
        }
        let kids = std::mem::take(&mut self.children[v]);
        let last = kids.len().saturating_sub(1);
        for (k, &(c, e)) in kids.iter().enumerate() {
            let branch = k < last;
            if branch {
                self.out.push('(');
            }
            self.out.push_str(self.m.bonds[e].2.symbol());
            self.emit(c);
            if branch {
                self.out.push(')');
            }
        }
    }
}
