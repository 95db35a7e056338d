//! Molecules as typed graphs: a SMILES reader and writer, kekulisation,
//! RDKit-compatible valence rules, canonical SMILES, the shared atom
//! vocabulary, a SMILES file reader, and TU molecule datasets in that
//! vocabulary ([`tu`]).
//!
//! This is the chemistry layer that the molecular generator, pretraining and
//! transfer code share. A [`Molecule`] is a list of heavy atoms (element and
//! formal charge) and a list of bonds; it converts to and from the plain
//! [`SmallGraph`](crate::graph::SmallGraph) through an [`AtomVocab`].
//!
//! # Representation
//!
//! * **Hydrogens are implicit.** No hydrogen atoms are stored; the number on
//!   each atom follows from its element, charge and bond-order sum
//!   ([`Molecule::implicit_hydrogens`]). Bracket hydrogen counts in the input
//!   (`[nH]`, `[NH3+]`) and explicit `[H]` atoms attached to a heavy atom are
//!   checked against that rule while reading and then dropped; a count the
//!   rule cannot reproduce (a radical such as `[CH2]`) is a read error.
//! * **Molecules are stored kekulised.** There is no aromatic bond type:
//!   aromatic input (lowercase atoms, `:` bonds) is turned into alternating
//!   single and double bonds when it is read ([`parse_smiles`]), and the
//!   writers emit Kekulé SMILES (`C1=CC=CC=C1`, never `c1ccccc1`). Which
//!   Kekulé structure is stored depends on the input, but
//!   [`canonical_smiles`] does not: it treats bonds of alternating rings as
//!   one kind and picks the Kekulé structure from the canonical ranks.
//! * **Stereo and isotopes are dropped.** `@`, `@@`, `/`, `\` and isotope
//!   labels are accepted and ignored; atom classes (`[CH3:1]`) too.
//!
//! # Valence rules
//!
//! The allowed valences (bond-order sums including hydrogens) are RDKit's:
//! the per-element lists of its periodic table (`atomic_data.cpp`), and for a
//! charged atom the list of the isoelectronic element (atomic number minus
//! charge: `N+` like C, `O-` like F, `C-` like N), as in RDKit's current
//! valence model. See [`allowed_valences`] for the full rule. Implicit
//! hydrogens fill an atom up to the lowest allowed valence not below its
//! bond-order sum.
//!
//! # Canonical SMILES
//!
//! [`canonical_smiles`] ranks atoms by iterative refinement of invariants
//! (element, charge, degree, bond-order sum, implicit hydrogens, ring
//! membership), refined by the sorted ranks of the neighbours together with
//! the bond orders until the partition is stable. Remaining ties are broken
//! by splitting one atom off the lowest tied class and refining again; every
//! atom of that class is tried (a small search tree, pruned with the
//! automorphisms found along the way) and the smallest resulting string is
//! kept, so the result is exact even where refinement alone cannot tell
//! atoms apart (cage molecules in QM9). Each string is written depth first
//! from the lowest-ranked atom, visiting neighbours in rank order.
//!
//! # Limits
//!
//! Only the OpenSMILES features listed in [`parse_smiles`]; no quadruple
//! bonds, no wildcard `*`, no reaction SMILES.

pub(crate) mod canonical;
mod io;
mod kekule;
mod smiles;
pub mod tu;
mod valence;
mod vocab;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use canonical::{canonical_order, canonical_ranks, canonical_smiles, canonical_smiles_and_order, write_smiles, MAX_LEAVES};
pub use io::{count_smiles_records, read_smiles_file, read_smiles_records, SmilesFailure, SmilesSet};
pub use smiles::{parse_smiles, SmilesError};
pub use valence::{allowed_valences, element_from_symbol, element_symbol, max_valence, ValenceError, Valences};
pub use vocab::{AtomVocab, GraphToMolError, NUM_BOND_TYPES};

/// A bond order of a kekulised molecule; the discriminant is the edge type
/// used in [`SmallGraph`](crate::graph::SmallGraph).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum BondType {
    Single = 0,
    Double = 1,
    Triple = 2,
}

impl BondType {
    /// All bond types in index order.
    pub const ALL: [BondType; 3] = [BondType::Single, BondType::Double, BondType::Triple];

    /// Bond order: 1, 2 or 3.
    pub fn order(self) -> u8 {
        self as u8 + 1
    }

    /// Edge-type index: 0, 1 or 2.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The bond type with this edge-type index.
    pub fn from_index(i: usize) -> Option<BondType> {
        BondType::ALL.get(i).copied()
    }

    /// The bond type with this bond order (1, 2 or 3).
    pub fn from_order(order: u8) -> Option<BondType> {
        (order as usize).checked_sub(1).and_then(BondType::from_index)
    }

    /// SMILES bond symbol (`""` for single, `=`, `#`).
    pub fn symbol(self) -> &'static str {
        match self {
            BondType::Single => "",
            BondType::Double => "=",
            BondType::Triple => "#",
        }
    }
}

/// A heavy atom: element and formal charge (hydrogens are implicit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Atom {
    /// Atomic number.
    pub element: u8,
    /// Formal charge.
    pub charge: i8,
}

impl Atom {
    /// An atom of element `element` (atomic number) with formal charge `charge`.
    pub const fn new(element: u8, charge: i8) -> Atom {
        Atom { element, charge }
    }

    /// Element symbol (`"C"`, `"Cl"`).
    pub fn symbol(self) -> &'static str {
        element_symbol(self.element)
    }
}

/// A kekulised molecule with implicit hydrogens.
///
/// `bonds` holds `(u, v, type)` with `u < v < atoms.len()` and no pair twice;
/// the methods assume this (the constructors in this module guarantee it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Molecule {
    pub atoms: Vec<Atom>,
    pub bonds: Vec<(usize, usize, BondType)>,
}

impl Molecule {
    /// An empty molecule.
    pub fn new() -> Molecule {
        Molecule::default()
    }

    /// Number of (heavy) atoms.
    pub fn num_atoms(&self) -> usize {
        self.atoms.len()
    }

    /// Number of bonds.
    pub fn num_bonds(&self) -> usize {
        self.bonds.len()
    }

    /// Append an atom; returns its index.
    pub fn add_atom(&mut self, atom: Atom) -> usize {
        self.atoms.push(atom);
        self.atoms.len() - 1
    }

    /// Add a bond between two distinct existing atoms (any orientation).
    /// Returns false, changing nothing, for a self loop, an out-of-range
    /// index or an existing bond.
    pub fn add_bond(&mut self, a: usize, b: usize, t: BondType) -> bool {
        let (u, v) = (a.min(b), a.max(b));
        if u == v || v >= self.atoms.len() || self.bond_between(u, v).is_some() {
            return false;
        }
        self.bonds.push((u, v, t));
        true
    }

    /// The bond type between `a` and `b`, if bonded.
    pub fn bond_between(&self, a: usize, b: usize) -> Option<BondType> {
        let (u, v) = (a.min(b), a.max(b));
        self.bonds.iter().find(|&&(x, y, _)| x == u && y == v).map(|&(_, _, t)| t)
    }

    /// Neighbour lists `(neighbour, bond index)`, in bond order.
    pub fn adjacency(&self) -> Vec<Vec<(usize, usize)>> {
        let mut adj = vec![Vec::new(); self.atoms.len()];
        for (e, &(u, v, _)) in self.bonds.iter().enumerate() {
            adj[u].push((v, e));
            adj[v].push((u, e));
        }
        adj
    }

    /// Number of bonds of every atom.
    pub fn degrees(&self) -> Vec<usize> {
        let mut d = vec![0; self.atoms.len()];
        for &(u, v, _) in &self.bonds {
            d[u] += 1;
            d[v] += 1;
        }
        d
    }

    /// Sum of bond orders of every atom (hydrogens not included).
    pub fn bond_order_sums(&self) -> Vec<u8> {
        let mut s = vec![0u8; self.atoms.len()];
        for &(u, v, t) in &self.bonds {
            s[u] = s[u].saturating_add(t.order());
            s[v] = s[v].saturating_add(t.order());
        }
        s
    }

    /// Number of connected parts (0 for an empty molecule).
    pub fn num_components(&self) -> usize {
        let n = self.atoms.len();
        let mut comp = vec![usize::MAX; n];
        let adj = self.adjacency();
        let mut count = 0;
        for s in 0..n {
            if comp[s] != usize::MAX {
                continue;
            }
            comp[s] = count;
            let mut stack = vec![s];
            while let Some(u) = stack.pop() {
                for &(w, _) in &adj[u] {
                    if comp[w] == usize::MAX {
                        comp[w] = count;
                        stack.push(w);
                    }
                }
            }
            count += 1;
        }
        count
    }

    /// Whether all atoms form one connected part (true for 0 or 1 atoms).
    pub fn is_connected(&self) -> bool {
        self.num_components() <= 1
    }

    /// Implicit hydrogens of every atom: the lowest allowed valence (for its
    /// element and charge) not below its bond-order sum, minus that sum; 0
    /// when no allowed valence fits or the element has no valence rule.
    pub fn implicit_hydrogens(&self) -> Vec<u8> {
        self.bond_order_sums().iter().zip(&self.atoms).map(|(&s, &a)| valence::implicit_h(a, s)).collect()
    }

    /// `Ok` when every atom's bond-order sum is within its allowed valences;
    /// otherwise the first offending atom.
    pub fn check_valence(&self) -> Result<(), ValenceError> {
        for (i, (&a, &s)) in self.atoms.iter().zip(&self.bond_order_sums()).enumerate() {
            if let Some(vals) = allowed_valences(a) {
                if vals.max().is_none_or(|m| s > m) {
                    return Err(ValenceError {
                        atom: i,
                        element: a.element,
                        symbol: a.symbol(),
                        charge: a.charge,
                        bond_order_sum: s,
                        allowed: vals.as_slice().to_vec(),
                    });
                }
            }
        }
        Ok(())
    }

    /// A valid molecule: at least one atom, connected (a `.`-separated
    /// molecule is not valid) and every valence allowed.
    pub fn is_valid(&self) -> bool {
        !self.atoms.is_empty() && self.is_connected() && self.check_valence().is_ok()
    }

    /// The same molecule with atoms renumbered: new atom `i` is old atom
    /// `order[i]` (`order` must be a permutation of `0..num_atoms`).
    pub fn permuted(&self, order: &[usize]) -> Molecule {
        assert_eq!(order.len(), self.atoms.len(), "Molecule::permuted: order has the wrong length");
        let mut pos = vec![usize::MAX; order.len()];
        for (i, &o) in order.iter().enumerate() {
            pos[o] = i;
        }
        assert!(pos.iter().all(|&p| p != usize::MAX), "Molecule::permuted: order is not a permutation");
        let atoms = order.iter().map(|&o| self.atoms[o]).collect();
        let bonds = self
            .bonds
            .iter()
            .map(|&(u, v, t)| {
                let (a, b) = (pos[u], pos[v]);
                (a.min(b), a.max(b), t)
            })
            .collect();
        Molecule { atoms, bonds }
    }

    /// Rewrite the hypervalent forms that RDKit's sanitisation (`cleanUp`)
    /// turns into charge-separated ones, so that they pass the valence check:
    ///
    /// * a neutral N with bond-order sum 5 and a double bond to a neutral O
    ///   (nitro written `N(=O)=O`) becomes `[N+]-[O-]`;
    /// * a neutral N with bond-order sum 5 and a triple bond to a neutral N
    ///   (azide written `N=N#N`) becomes `[N+]=[N-]`;
    /// * a neutral Cl, Br or I bonded only to O with bond-order sum 3, 5 or 7
    ///   (perchlorate-like) gets one positive charge per double bond to O,
    ///   each such O becoming a singly bonded `[O-]`.
    ///
    /// Returns the number of atoms changed. [`parse_smiles`] applies this;
    /// [`Molecule::is_valid`] does not (call it first to judge a molecule the
    /// way RDKit would).
    pub fn cleanup_hypervalent(&mut self) -> usize {
        let mut changed = 0;
        let sums = self.bond_order_sums();
        let adj = self.adjacency();
        for i in 0..self.atoms.len() {
            let a = self.atoms[i];
            if a.charge != 0 {
                continue;
            }
            match a.element {
                7 if sums[i] == 5 => {
                    let target = adj[i].iter().copied().find(|&(w, e)| {
                        let (t, b) = (self.bonds[e].2, self.atoms[w]);
                        b.charge == 0 && ((t == BondType::Double && b.element == 8) || (t == BondType::Triple && b.element == 7))
                    });
                    if let Some((w, e)) = target {
                        let t = self.bonds[e].2;
                        self.bonds[e].2 = if t == BondType::Triple { BondType::Double } else { BondType::Single };
                        self.atoms[i].charge = 1;
                        self.atoms[w].charge = -1;
                        changed += 2;
                    }
                }
                17 | 35 | 53 if matches!(sums[i], 3 | 5 | 7) && adj[i].iter().all(|&(w, _)| self.atoms[w].element == 8) => {
                    for &(w, e) in &adj[i] {
                        if self.bonds[e].2 == BondType::Double && self.atoms[w].charge == 0 {
                            self.bonds[e].2 = BondType::Single;
                            self.atoms[w].charge = -1;
                            self.atoms[i].charge += 1;
                            changed += 1;
                        }
                    }
                    if self.atoms[i].charge != 0 {
                        changed += 1;
                    }
                }
                _ => {}
            }
        }
        changed
    }

    /// Per bond: whether it lies on a cycle (is not a bridge).
    pub fn ring_bonds(&self) -> Vec<bool> {
        ring_bond_flags(self.atoms.len(), &self.bonds.iter().map(|&(u, v, _)| (u, v)).collect::<Vec<_>>())
    }
}

impl std::fmt::Display for Molecule {
    /// The molecule as (non-canonical) SMILES.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&write_smiles(self))
    }
}

/// For an undirected simple graph given by its edges, whether each edge lies
/// on a cycle (Tarjan's bridge test, iterative).
pub(crate) fn ring_bond_flags(n: usize, edges: &[(usize, usize)]) -> Vec<bool> {
    let mut adj = vec![Vec::new(); n];
    for (e, &(u, v)) in edges.iter().enumerate() {
        adj[u].push((v, e));
        adj[v].push((u, e));
    }
    let mut disc = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut in_ring = vec![true; edges.len()];
    let mut time = 0;
    for s in 0..n {
        if disc[s] != usize::MAX {
            continue;
        }
        disc[s] = time;
        low[s] = time;
        time += 1;
        // (vertex, edge to parent, next neighbour index)
        let mut stack: Vec<(usize, usize, usize)> = vec![(s, usize::MAX, 0)];
        while let Some(top) = stack.last_mut() {
            let (v, pe, i) = *top;
            if i < adj[v].len() {
                top.2 += 1;
                let (w, e) = adj[v][i];
                if e == pe {
                    continue;
                }
                if disc[w] == usize::MAX {
                    disc[w] = time;
                    low[w] = time;
                    time += 1;
                    stack.push((w, e, 0));
                } else {
                    low[v] = low[v].min(disc[w]);
                }
            } else {
                stack.pop();
                if let Some(&(p, _, _)) = stack.last() {
                    low[p] = low[p].min(low[v]);
                    if low[v] > disc[p] {
                        in_ring[pe] = false;
                    }
                }
            }
        }
    }
    in_ring
}
