//! The SMILES reader.

use std::collections::BTreeMap;

use super::kekule::{kekulise, RawAtom, RawBond};
use super::valence::{element_from_symbol, implicit_h};
use super::{Atom, BondType, Molecule};

/// A SMILES string that could not be read: 0-based byte position and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmilesError {
    /// 0-based byte offset of the offending character in the input.
    pub pos: usize,
    pub msg: String,
}

impl SmilesError {
    fn new(pos: usize, msg: impl Into<String>) -> SmilesError {
        SmilesError { pos, msg: msg.into() }
    }
}

impl std::fmt::Display for SmilesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SMILES error at position {}: {}", self.pos, self.msg)
    }
}

impl std::error::Error for SmilesError {}

/// A bond symbol as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    Single,
    Double,
    Triple,
    Aromatic,
}

impl Sym {
    fn raw(self) -> RawBond {
        match self {
            Sym::Single => RawBond::Single,
            Sym::Double => RawBond::Double,
            Sym::Triple => RawBond::Triple,
            Sym::Aromatic => RawBond::Aromatic,
        }
    }
}

struct RingOpen {
    atom: usize,
    sym: Option<Sym>,
    pos: usize,
}

struct Parser<'a> {
    s: &'a [u8],
    atoms: Vec<RawAtom>,
    /// Bracket atoms remember their hydrogen count for the final check.
    bracket_h: Vec<Option<u8>>,
    bonds: Vec<(usize, usize, RawBond)>,
}

/// Parse a SMILES string into a kekulised [`Molecule`] with implicit hydrogens.
///
/// Supported (OpenSMILES subset): organic-subset atoms `B C N O P S F Cl Br I`
/// and aromatic `b c n o p s`; bracket atoms with isotope (ignored), any
/// element symbol (aromatic `se`, `as`, `te` too), chirality `@`, `@@`,
/// `@TH1`-style (ignored), hydrogen count, charge (`+`, `-`, `++`, `+2`) and
/// atom class (ignored); bonds `-` `=` `#` `:` and `/` `\` (read as single);
/// branches; ring closures `0`-`9` and `%nn` with a bond symbol on either
/// side; `.` between disconnected parts (parsed; such a molecule is not
/// [`valid`](Molecule::is_valid)). `[H]` atoms bonded to one heavy atom are
/// folded into it.
///
/// Aromatic parts are kekulised (see the module docs); a bracket hydrogen
/// count that the implicit-hydrogen rule does not reproduce is an error.
/// Atoms keep the order in which they are written (minus folded `[H]`).
pub fn parse_smiles(s: &str) -> Result<Molecule, SmilesError> {
    if s.is_empty() {
        return Err(SmilesError::new(0, "empty SMILES"));
    }
    let mut p = Parser { s: s.as_bytes(), atoms: Vec::new(), bracket_h: Vec::new(), bonds: Vec::new() };
    p.read()?;
    p.finish()
}

impl Parser<'_> {
    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, SmilesError> {
        Err(SmilesError::new(pos, msg))
    }

    fn peek(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    fn add_bond(&mut self, a: usize, b: usize, sym: Option<Sym>, pos: usize) -> Result<(), SmilesError> {
        if a == b {
            return self.err(pos, "ring closure bonds an atom to itself");
        }
        let (u, v) = (a.min(b), a.max(b));
        if self.bonds.iter().any(|&(x, y, _)| x == u && y == v) {
            return self.err(pos, "ring closure duplicates an existing bond");
        }
        let raw = match sym {
            Some(Sym::Aromatic) => {
                self.atoms[u].aromatic = true;
                self.atoms[v].aromatic = true;
                RawBond::Aromatic
            }
            Some(s) => s.raw(),
            None if self.atoms[u].aromatic && self.atoms[v].aromatic => RawBond::Aromatic,
            None => RawBond::Single,
        };
        self.bonds.push((u, v, raw));
        Ok(())
    }

    fn read(&mut self) -> Result<(), SmilesError> {
        let s = self.s;
        let mut i = 0;
        let mut prev: Option<usize> = None;
        let mut pending: Option<(Sym, usize)> = None;
        let mut branches: Vec<(Option<usize>, usize)> = Vec::new();
        let mut rings: BTreeMap<u32, RingOpen> = BTreeMap::new();
        let mut just_opened = false;
        let mut last_dot: Option<usize> = None;
        while i < s.len() {
            let c = s[i];
            match c {
                b'(' => {
                    if prev.is_none() {
                        return self.err(i, "'(' with no atom before it");
                    }
                    if let Some((_, p)) = pending {
                        return self.err(p, "bond symbol before '('");
                    }
                    if just_opened {
                        return self.err(i, "'(' directly after '('");
                    }
                    branches.push((prev, i));
                    just_opened = true;
                    i += 1;
                    continue;
                }
                b')' => {
                    if let Some((_, p)) = pending {
                        return self.err(p, "bond symbol before ')'");
                    }
                    if just_opened {
                        return self.err(i, "empty branch '()'");
                    }
                    match branches.pop() {
                        Some((atom, _)) => prev = atom,
                        None => return self.err(i, "unbalanced ')'"),
                    }
                    i += 1;
                    continue;
                }
                b'-' | b'=' | b'#' | b':' | b'/' | b'\\' | b'$' => {
                    if prev.is_none() {
                        return self.err(i, format!("bond symbol '{}' with no atom before it", c as char));
                    }
                    if pending.is_some() {
                        return self.err(i, "two bond symbols in a row");
                    }
                    let sym = match c {
                        b'=' => Sym::Double,
                        b'#' => Sym::Triple,
                        b':' => Sym::Aromatic,
                        b'$' => return self.err(i, "quadruple bonds '$' are not supported"),
                        _ => Sym::Single,
                    };
                    pending = Some((sym, i));
                    just_opened = false;
                    i += 1;
                    continue;
                }
                b'.' => {
                    if let Some((_, p)) = pending {
                        return self.err(p, "bond symbol before '.'");
                    }
                    if prev.is_none() || just_opened {
                        return self.err(i, "'.' with no atom before it");
                    }
                    prev = None;
                    last_dot = Some(i);
                    i += 1;
                    continue;
                }
                b'0'..=b'9' | b'%' => {
                    let start = i;
                    let Some(atom) = prev else {
                        return self.err(i, "ring-closure digit with no atom before it");
                    };
                    if just_opened {
                        return self.err(i, "ring-closure digit directly after '('");
                    }
                    let num = if c == b'%' {
                        match (self.peek(i + 1), self.peek(i + 2)) {
                            (Some(a @ b'0'..=b'9'), Some(b @ b'0'..=b'9')) => {
                                i += 3;
                                (a - b'0') as u32 * 10 + (b - b'0') as u32
                            }
                            _ => return self.err(i, "'%' must be followed by two digits"),
                        }
                    } else {
                        i += 1;
                        (c - b'0') as u32
                    };
                    let here = pending.take();
                    match rings.remove(&num) {
                        Some(open) => {
                            let sym = match (open.sym, here) {
                                (Some(a), Some((b, p))) if a != b => return self.err(p, format!("ring bond {num} has different bond symbols at its two ends")),
                                (Some(a), _) => Some(a),
                                (None, h) => h.map(|x| x.0),
                            };
                            self.add_bond(open.atom, atom, sym, start)?;
                        }
                        None => {
                            rings.insert(num, RingOpen { atom, sym: here.map(|x| x.0), pos: start });
                        }
                    }
                    continue;
                }
                _ => {}
            }
            // An atom.
            let start = i;
            let (raw, bracket_h, next) = if c == b'[' { self.bracket_atom(i)? } else { self.organic_atom(i)? };
            i = next;
            let idx = self.atoms.len();
            self.atoms.push(raw);
            self.bracket_h.push(bracket_h);
            if let Some(p) = prev {
                let sym = pending.take().map(|x| x.0);
                self.add_bond(p, idx, sym, start)?;
            }
            prev = Some(idx);
            just_opened = false;
        }
        if let Some((_, p)) = pending {
            return self.err(p, "bond symbol at the end");
        }
        if let Some(&(_, p)) = branches.last() {
            return self.err(p, "unclosed '('");
        }
        if let Some((num, open)) = rings.iter().min_by_key(|(_, o)| o.pos) {
            return self.err(open.pos, format!("unclosed ring bond {num}"));
        }
        if prev.is_none() {
            return self.err(last_dot.unwrap_or(s.len().saturating_sub(1)), "'.' at the end");
        }
        Ok(())
    }

    fn organic_atom(&self, i: usize) -> Result<(RawAtom, Option<u8>, usize), SmilesError> {
        let c = self.s[i];
        let two = |second: u8| self.peek(i + 1) == Some(second);
        let (z, aromatic, len) = match c {
            b'C' if two(b'l') => (17, false, 2),
            b'B' if two(b'r') => (35, false, 2),
            b'B' => (5, false, 1),
            b'C' => (6, false, 1),
            b'N' => (7, false, 1),
            b'O' => (8, false, 1),
            b'P' => (15, false, 1),
            b'S' => (16, false, 1),
            b'F' => (9, false, 1),
            b'I' => (53, false, 1),
            b'b' => (5, true, 1),
            b'c' => (6, true, 1),
            b'n' => (7, true, 1),
            b'o' => (8, true, 1),
            b'p' => (15, true, 1),
            b's' => (16, true, 1),
            b'*' => return self.err(i, "wildcard atom '*' is not supported"),
            c if c.is_ascii_alphabetic() => {
                return self.err(i, format!("unknown element '{}' (outside brackets only B C N O P S F Cl Br I and b c n o p s)", c as char))
            }
            c if c.is_ascii() => return self.err(i, format!("unexpected character '{}'", c as char)),
            _ => return self.err(i, "unexpected non-ASCII character"),
        };
        Ok((RawAtom { atom: Atom::new(z, 0), aromatic, explicit_h: 0, pos: i }, None, i + len))
    }

    /// `[isotope? symbol chirality? hcount? charge? class?]`
    fn bracket_atom(&self, start: usize) -> Result<(RawAtom, Option<u8>, usize), SmilesError> {
        let s = self.s;
        let mut i = start + 1;
        let Some(close) = s[start..].iter().position(|&b| b == b']').map(|k| start + k) else {
            return self.err(start, "'[' without a closing ']'");
        };
        let inner_end = close;
        while i < inner_end && s[i].is_ascii_digit() {
            i += 1;
        }
        // Element symbol.
        let sym_start = i;
        if i >= inner_end {
            return self.err(start, "bracket atom without an element symbol");
        }
        let c = s[i];
        let (z, aromatic) = if c.is_ascii_uppercase() {
            let two =
                if i + 1 < inner_end && s[i + 1].is_ascii_lowercase() { std::str::from_utf8(&s[i..i + 2]).ok().and_then(element_from_symbol) } else { None };
            match two {
                Some(z) => {
                    i += 2;
                    (z, false)
                }
                None => match std::str::from_utf8(&s[i..i + 1]).ok().and_then(element_from_symbol) {
                    Some(z) => {
                        i += 1;
                        (z, false)
                    }
                    None => return self.err(sym_start, format!("unknown element in bracket atom starting with '{}'", c as char)),
                },
            }
        } else if c.is_ascii_lowercase() {
            let pair = if i + 1 < inner_end { &s[i..i + 2] } else { &s[i..i + 1] };
            let (z, len) = match pair {
                b"se" => (34, 2),
                b"as" => (33, 2),
                b"te" => (52, 2),
                _ => match c {
                    b'b' => (5, 1),
                    b'c' => (6, 1),
                    b'n' => (7, 1),
                    b'o' => (8, 1),
                    b'p' => (15, 1),
                    b's' => (16, 1),
                    _ => return self.err(sym_start, format!("unknown aromatic element in bracket atom starting with '{}'", c as char)),
                },
            };
            i += len;
            (z, true)
        } else if c == b'*' {
            return self.err(sym_start, "wildcard atom '*' is not supported");
        } else {
            return self.err(sym_start, "bracket atom without an element symbol");
        };
        // Chirality.
        if i < inner_end && s[i] == b'@' {
            i += 1;
            if i < inner_end && s[i] == b'@' {
                i += 1;
            } else if i + 1 < inner_end && matches!(&s[i..i + 2], b"TH" | b"AL" | b"SP" | b"TB" | b"OH") {
                i += 2;
                while i < inner_end && s[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        // Hydrogen count.
        let mut h = 0u8;
        if i < inner_end && s[i] == b'H' {
            i += 1;
            h = 1;
            if i < inner_end && s[i].is_ascii_digit() {
                h = s[i] - b'0';
                i += 1;
            }
        }
        // Charge.
        let mut charge: i32 = 0;
        if i < inner_end && (s[i] == b'+' || s[i] == b'-') {
            let sign = if s[i] == b'+' { 1 } else { -1 };
            let ch = s[i];
            i += 1;
            if i < inner_end && s[i].is_ascii_digit() {
                let mut v: i32 = 0;
                while i < inner_end && s[i].is_ascii_digit() {
                    v = v * 10 + (s[i] - b'0') as i32;
                    i += 1;
                    if v > 15 {
                        return self.err(start, "charge out of range");
                    }
                }
                charge = sign * v;
            } else {
                charge = sign;
                while i < inner_end && s[i] == ch {
                    charge += sign;
                    i += 1;
                }
            }
            if charge.abs() > 15 {
                return self.err(start, "charge out of range");
            }
        }
        // Atom class.
        if i < inner_end && s[i] == b':' {
            i += 1;
            if i >= inner_end || !s[i].is_ascii_digit() {
                return self.err(i, "atom class ':' must be followed by digits");
            }
            while i < inner_end && s[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i != inner_end {
            return self.err(i, format!("unexpected '{}' in bracket atom", s[i] as char));
        }
        Ok((RawAtom { atom: Atom::new(z, charge as i8), aromatic, explicit_h: h, pos: start }, Some(h), close + 1))
    }

    fn finish(mut self) -> Result<Molecule, SmilesError> {
        // Fold [H] atoms attached by a single bond to one non-hydrogen atom.
        let n0 = self.atoms.len();
        let mut deg = vec![0usize; n0];
        for &(u, v, _) in &self.bonds {
            deg[u] += 1;
            deg[v] += 1;
        }
        let mut removed = vec![false; n0];
        let mut folded = vec![0u8; n0];
        for &(u, v, t) in &self.bonds {
            for (h, heavy) in [(u, v), (v, u)] {
                let a = &self.atoms[h];
                if a.atom.element == 1 && a.atom.charge == 0 && a.explicit_h == 0 && deg[h] == 1 && t == RawBond::Single && self.atoms[heavy].atom.element != 1
                {
                    removed[h] = true;
                    folded[heavy] += 1;
                }
            }
        }
        let mut new_index = vec![usize::MAX; n0];
        let mut atoms = Vec::with_capacity(n0);
        let mut bracket_h = Vec::with_capacity(n0);
        let mut folded_new = Vec::with_capacity(n0);
        for i in 0..n0 {
            if !removed[i] {
                new_index[i] = atoms.len();
                let mut a = self.atoms[i];
                a.explicit_h = a.explicit_h.saturating_add(folded[i]);
                atoms.push(a);
                bracket_h.push(self.bracket_h[i]);
                folded_new.push(folded[i]);
            }
        }
        let mut bonds: Vec<(usize, usize, RawBond)> = self
            .bonds
            .iter()
            .filter(|&&(u, v, _)| !removed[u] && !removed[v])
            .map(|&(u, v, t)| {
                let (a, b) = (new_index[u], new_index[v]);
                (a.min(b), a.max(b), t)
            })
            .collect();
        self.atoms.clear();
        kekulise(&atoms, &mut bonds).map_err(|(i, msg)| SmilesError::new(atoms[i].pos, msg))?;
        let mut mol = Molecule {
            atoms: atoms.iter().map(|a| a.atom).collect(),
            bonds: bonds
                .iter()
                .map(|&(u, v, t)| {
                    let bt = match t {
                        RawBond::Double => BondType::Double,
                        RawBond::Triple => BondType::Triple,
                        _ => BondType::Single,
                    };
                    (u, v, bt)
                })
                .collect(),
        };
        // Hydrogen counts written in the input must be what the implicit rule gives.
        let sums = mol.bond_order_sums();
        for (i, a) in atoms.iter().enumerate() {
            let implicit = implicit_h(a.atom, sums[i]);
            let ok = match bracket_h[i] {
                Some(h) => implicit == h.saturating_add(folded_new[i]),
                None => implicit >= folded_new[i],
            };
            if !ok {
                return Err(SmilesError::new(
                    a.pos,
                    format!(
                        "atom {} ({}) is written with {} hydrogen(s) but its valence implies {}; radicals and unusual hydrogen counts cannot be stored with implicit hydrogens",
                        i,
                        a.atom.symbol(),
                        a.explicit_h,
                        implicit
                    ),
                ));
            }
        }
        mol.cleanup_hypervalent();
        Ok(mol)
    }
}
