//! The molecular atom vocabulary and conversion to and from `SmallGraph`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::valence::{element_from_symbol, element_symbol};
use super::{Atom, BondType, Molecule};
use crate::graph::SmallGraph;

/// Number of bond (edge) types: single, double, triple.
pub const NUM_BOND_TYPES: usize = 3;

/// Atom types for molecular graphs: a list of (element, charge) pairs plus a
/// final `other` type for everything else.
///
/// [`AtomVocab::standard`] is the one vocabulary shared by the generator,
/// pretraining and transfer: elements C, N, O, F, P, S, Cl, Br, I, B with
/// formal charge 0 (types 0-9), then +1 (types 10-19), then -1 (types
/// 20-29), and `other` (type 30). It serialises as its list of type names,
/// e.g. `["C", "N", ..., "C+", ..., "B-", "other"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AtomVocab {
    atoms: Vec<Atom>,
}

/// Name of the catch-all type.
const OTHER: &str = "other";

impl AtomVocab {
    /// Number of bond types (see [`NUM_BOND_TYPES`]).
    pub const NUM_BOND_TYPES: usize = NUM_BOND_TYPES;

    /// The standard vocabulary (31 types; see the type docs).
    pub fn standard() -> AtomVocab {
        const ELEMENTS: [u8; 10] = [6, 7, 8, 9, 15, 16, 17, 35, 53, 5];
        let mut atoms = Vec::with_capacity(30);
        for charge in [0i8, 1, -1] {
            atoms.extend(ELEMENTS.iter().map(|&z| Atom::new(z, charge)));
        }
        AtomVocab { atoms }
    }

    /// A vocabulary of the given atoms (duplicates removed, order kept),
    /// followed by `other`.
    pub fn new(atoms: impl IntoIterator<Item = Atom>) -> AtomVocab {
        let mut list: Vec<Atom> = Vec::new();
        for a in atoms {
            if !list.contains(&a) {
                list.push(a);
            }
        }
        AtomVocab { atoms: list }
    }

    /// Number of atom types, `other` included.
    pub fn num_atom_types(&self) -> usize {
        self.atoms.len() + 1
    }

    /// Index of the `other` type (the last one).
    pub fn other_type(&self) -> usize {
        self.atoms.len()
    }

    /// The listed atoms (every type but `other`), in type order.
    pub fn atoms(&self) -> &[Atom] {
        &self.atoms
    }

    /// The type of an atom (`other` when it is not listed).
    pub fn atom_type(&self, a: Atom) -> usize {
        self.atoms.iter().position(|&x| x == a).unwrap_or(self.atoms.len())
    }

    /// The atom of a type; `None` for `other` and out-of-range types.
    pub fn atom_of_type(&self, t: usize) -> Option<Atom> {
        self.atoms.get(t).copied()
    }

    /// Display name of a type: `"C"`, `"N+"`, `"O-"`, `"S+2"`, `"other"`.
    pub fn type_name(&self, t: usize) -> String {
        match self.atoms.get(t) {
            Some(&a) => atom_name(a),
            None => OTHER.to_string(),
        }
    }

    /// All type names, in type order (`other` last).
    pub fn type_names(&self) -> Vec<String> {
        (0..self.num_atom_types()).map(|t| self.type_name(t)).collect()
    }

    /// The vocabulary with these type names; `other` must be last (it may
    /// be left out).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> crate::Result<AtomVocab> {
        let mut atoms = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let name = name.as_ref();
            if name == OTHER {
                if k + 1 != names.len() {
                    return Err(crate::Error::config("atom vocabulary", name, "'other' must be the last type"));
                }
                continue;
            }
            let a = parse_atom_name(name)
                .ok_or_else(|| crate::Error::config("atom vocabulary", name, "expected an element symbol with an optional charge such as C, N+, O-, S+2"))?;
            if atoms.contains(&a) {
                return Err(crate::Error::config("atom vocabulary", name, "listed twice"));
            }
            atoms.push(a);
        }
        Ok(AtomVocab { atoms })
    }
}

impl Default for AtomVocab {
    fn default() -> AtomVocab {
        AtomVocab::standard()
    }
}

fn atom_name(a: Atom) -> String {
    let sym = element_symbol(a.element);
    match a.charge {
        0 => sym.to_string(),
        1 => format!("{sym}+"),
        -1 => format!("{sym}-"),
        c if c > 0 => format!("{sym}+{c}"),
        c => format!("{sym}{c}"),
    }
}

fn parse_atom_name(s: &str) -> Option<Atom> {
    let split = s.find(['+', '-']).unwrap_or(s.len());
    let (sym, ch) = s.split_at(split);
    let z = element_from_symbol(sym)?;
    let charge: i8 = match ch {
        "" => 0,
        "+" => 1,
        "-" => -1,
        _ => {
            let (sign, digits) = ch.split_at(1);
            let v: i8 = digits.parse().ok().filter(|v: &i8| *v >= 2)?;
            if sign == "+" {
                v
            } else {
                -v
            }
        }
    };
    Some(Atom::new(z, charge))
}

impl Serialize for AtomVocab {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.type_names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for AtomVocab {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AtomVocab, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        AtomVocab::from_names(&names).map_err(serde::de::Error::custom)
    }
}

/// Why a [`SmallGraph`] is not a molecule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphToMolError {
    /// A node has the `other` atom type, which stands for no particular atom.
    #[error("node {node} has the 'other' atom type, which is no particular atom")]
    OtherAtom { node: usize },
    /// A node type outside the vocabulary.
    #[error("node {node} has atom type {ty}, but the vocabulary has {num_types} types")]
    BadAtomType { node: usize, ty: u32, num_types: usize },
    /// An edge type that is not a bond index (0, 1, 2).
    #[error("edge {edge} has type {ty}, not a bond type (0 single, 1 double, 2 triple)")]
    BadBondType { edge: usize, ty: u32 },
    /// An edge that is a self loop, a duplicate, or points past the nodes.
    #[error("edge {edge} ({u}, {v}) is a self loop, a duplicate or out of range")]
    BadEdge { edge: usize, u: u32, v: u32 },
}

impl Molecule {
    /// The typed graph: node type = `vocab.atom_type(atom)`, edge type =
    /// bond index (0 single, 1 double, 2 triple); edges sorted.
    pub fn to_small_graph(&self, vocab: &AtomVocab) -> SmallGraph {
        let node_types = self.atoms.iter().map(|&a| vocab.atom_type(a) as u32).collect();
        let mut edges: Vec<(u32, u32, u32)> = self.bonds.iter().map(|&(u, v, t)| (u.min(v) as u32, u.max(v) as u32, t.index() as u32)).collect();
        edges.sort_unstable();
        SmallGraph { node_types, edges }
    }

    /// The molecule of a typed graph (atom `i` is node `i`). Fails for the
    /// `other` type, unknown node or edge types and malformed edges; the
    /// result may still be chemically invalid (see [`Molecule::is_valid`]).
    pub fn from_small_graph(g: &SmallGraph, vocab: &AtomVocab) -> Result<Molecule, GraphToMolError> {
        let mut m = Molecule::new();
        for (node, &t) in g.node_types.iter().enumerate() {
            let t_us = t as usize;
            if t_us == vocab.other_type() {
                return Err(GraphToMolError::OtherAtom { node });
            }
            match vocab.atom_of_type(t_us) {
                Some(a) => m.atoms.push(a),
                None => return Err(GraphToMolError::BadAtomType { node, ty: t, num_types: vocab.num_atom_types() }),
            }
        }
        let n = m.atoms.len();
        let mut seen = std::collections::HashSet::with_capacity(g.edges.len());
        for (edge, &(u, v, t)) in g.edges.iter().enumerate() {
            let bt = BondType::from_index(t as usize).ok_or(GraphToMolError::BadBondType { edge, ty: t })?;
            let (a, b) = (u.min(v) as usize, u.max(v) as usize);
            if a == b || b >= n || !seen.insert((a, b)) {
                return Err(GraphToMolError::BadEdge { edge, u, v });
            }
            m.bonds.push((a, b, bt));
        }
        Ok(m)
    }
}
