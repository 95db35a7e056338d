//! Element symbols and the valence table.

use super::Atom;

/// Element symbols by atomic number (0 is the wildcard `*`).
const SYMBOLS: [&str; 119] = [
    "*", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe",
    "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te",
    "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt",
    "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
];

/// The element symbol of atomic number `z` (`"?"` above 118, `"*"` for 0).
pub fn element_symbol(z: u8) -> &'static str {
    SYMBOLS.get(z as usize).copied().unwrap_or("?")
}

/// The atomic number of an element symbol (exact case: `"Cl"`, not `"CL"`);
/// `None` for unknown symbols and for `*`.
pub fn element_from_symbol(s: &str) -> Option<u8> {
    SYMBOLS.iter().skip(1).position(|&x| x == s).map(|i| i as u8 + 1)
}

/// Period (row) of the periodic table.
fn period(z: u8) -> u8 {
    match z {
        0 => 0,
        1..=2 => 1,
        3..=10 => 2,
        11..=18 => 3,
        19..=36 => 4,
        37..=54 => 5,
        55..=86 => 6,
        _ => 7,
    }
}

/// Allowed valences of the neutral element, as listed in RDKit's periodic
/// table; `None` where RDKit accepts any valence (transition metals,
/// lanthanides, actinides, the wildcard).
fn neutral_valences(z: u8) -> Option<&'static [u8]> {
    Some(match z {
        1 | 3 | 11 | 19 | 37 | 55 | 87 | 9 | 17 | 35 => &[1],
        2 | 10 | 18 | 36 | 86 => &[0],
        4 | 12 | 20 | 38 | 56 | 88 => &[2],
        5 | 7 | 31 | 49 | 81 => &[3],
        6 | 32 => &[4],
        8 => &[2],
        13 => &[3, 6],
        14 => &[4, 6],
        15 | 33 | 51 | 83 => &[3, 5, 7],
        16 | 34 | 52 | 84 => &[2, 4, 6],
        50 | 82 => &[2, 4],
        53 | 85 => &[1, 3, 5],
        54 => &[0, 2, 4, 6],
        _ => return None,
    })
}

/// A short list of allowed valences (bond-order sums including hydrogens),
/// ascending. Empty means the atom has no allowed state at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Valences {
    vals: [u8; 4],
    len: u8,
}

impl Valences {
    fn from_slice(v: &[u8]) -> Valences {
        let mut vals = [0u8; 4];
        vals[..v.len()].copy_from_slice(v);
        Valences { vals, len: v.len() as u8 }
    }

    fn shifted(v: &[u8], by: i8) -> Valences {
        let mut out = Valences { vals: [0; 4], len: 0 };
        for &x in v {
            let y = x as i16 + by as i16;
            if y >= 0 {
                out.vals[out.len as usize] = y as u8;
                out.len += 1;
            }
        }
        out
    }

    /// The allowed valences, ascending.
    pub fn as_slice(&self) -> &[u8] {
        &self.vals[..self.len as usize]
    }

    /// The largest allowed valence.
    pub fn max(&self) -> Option<u8> {
        self.as_slice().last().copied()
    }

    /// The lowest allowed valence that is at least `v`.
    pub fn lowest_at_least(&self, v: u8) -> Option<u8> {
        self.as_slice().iter().copied().find(|&x| x >= v)
    }
}

/// The allowed valences of an atom, following RDKit's valence model
/// (`RDMol::calculateAtomExplicitValence` / `calculateAtomImplicitValence`
/// and `hasValenceViolation` in RDKit 2024 and later):
///
/// * neutral atoms use their element's list: H 1, B 3, C 4, N 3, O 2, F 1,
///   Si 4/6, P 3/5/7, S 2/4/6, Cl 1, Br 1, I 1/3/5, ...;
/// * a charged atom uses the list of the isoelectronic element, atomic
///   number minus charge: N+ 4 (like C), O+ 3 (like N), O- 1 (like F),
///   N- 2 (like O), C- 3 and C+ 3 (like N and B), B- 4 (like C), B+ 2,
///   S+ 3/5/7 (like P), P+ 4/6 (like Si), P- 2/4/6 (like S), F+ 2,
///   Cl+, Br+ and I+ 2/4/6, F-, Cl- and Br- 0, I- 0/2/4/6;
/// * except that P and S (and As, Se) whose isoelectronic element would be
///   past S (Se) keep their own list shifted by the charge, so S- is 1/3/5;
/// * a charge that moves the atom to another period of the table, or past
///   atomic number 0, leaves no allowed valence; hydrogen allows charges
///   -1 and +1 only ([H+] and [H-] with no bonds).
///
/// Returns `None` when any valence is accepted (elements RDKit gives no
/// valence list, such as transition metals).
pub fn allowed_valences(a: Atom) -> Option<Valences> {
    let z = a.element;
    let q = a.charge;
    if z == 1 {
        return Some(match q {
            0 => Valences::from_slice(&[1]),
            1 | -1 => Valences::from_slice(&[0]),
            _ => Valences::from_slice(&[]),
        });
    }
    let own = neutral_valences(z)?;
    if q == 0 {
        return Some(Valences::from_slice(own));
    }
    let eff = z as i16 - q as i16;
    if !(1..=118).contains(&eff) || period(eff as u8) != period(z) {
        return Some(Valences::from_slice(&[]));
    }
    let eff = eff as u8;
    let hypervalent = ((z == 15 || z == 16) && eff > 16) || ((z == 33 || z == 34) && eff > 34);
    if hypervalent {
        return Some(Valences::shifted(own, q));
    }
    neutral_valences(eff).map(Valences::from_slice)
}

/// The largest allowed bond-order sum of an atom (for valence masking while
/// sampling). `None` when the element accepts any valence or when no valence
/// is allowed at that charge (tell these apart with [`allowed_valences`]).
pub fn max_valence(a: Atom) -> Option<u8> {
    allowed_valences(a).and_then(|v| v.max())
}

/// Implicit hydrogens of an atom with bond-order sum `s`.
pub(crate) fn implicit_h(a: Atom, s: u8) -> u8 {
    match allowed_valences(a) {
        Some(v) => v.lowest_at_least(s).map_or(0, |x| x - s),
        None => 0,
    }
}

/// An atom whose bond-order sum exceeds every allowed valence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValenceError {
    /// Atom index.
    pub atom: usize,
    /// Atomic number.
    pub element: u8,
    /// Element symbol.
    pub symbol: &'static str,
    /// Formal charge.
    pub charge: i8,
    /// Sum of the atom's bond orders.
    pub bond_order_sum: u8,
    /// Allowed valences for this element and charge (empty: none at this charge).
    pub allowed: Vec<u8>,
}

impl std::fmt::Display for ValenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let charge = match self.charge {
            0 => String::new(),
            c if c > 0 => format!(" charge +{c}"),
            c => format!(" charge {c}"),
        };
        if self.allowed.is_empty() {
            write!(f, "atom {} ({}{}) has no allowed valence at this charge (bond-order sum {})", self.atom, self.symbol, charge, self.bond_order_sum)
        } else {
            let list: Vec<String> = self.allowed.iter().map(|v| v.to_string()).collect();
            write!(
                f,
                "atom {} ({}{}) has bond-order sum {}, above its allowed valences {}",
                self.atom,
                self.symbol,
                charge,
                self.bond_order_sum,
                list.join("/")
            )
        }
    }
}

impl std::error::Error for ValenceError {}
