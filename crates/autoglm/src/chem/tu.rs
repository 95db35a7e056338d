//! TU molecule datasets in the shared molecular vocabulary.
//!
//! A TU graph-classification dataset (see [`crate::data::tu`]) stores atoms
//! and bonds as integer labels (`DS_node_labels.txt`, `DS_edge_labels.txt`);
//! what the integers mean is only written in the dataset's `README.txt`:
//!
//! ```text
//! Node labels:
//!
//!   0  C
//!   1  N
//!
//! Edge labels:
//!
//!   0  aromatic
//!   1  single
//! ```
//!
//! This module reads those tables ([`parse_label_tables`],
//! [`load_label_tables`]), maps them onto an [`AtomVocab`] and bond classes
//! ([`molecular_label_map`]) and turns every graph of the dataset into a
//! kekulised [`SmallGraph`] in the generator's vocabulary ([`tu_molecules`]),
//! so that an encoder pretrained on molecules can be transferred to it.
//!
//! # What is repaired
//!
//! TU molecules come without hydrogens and without formal charges, and
//! aromatic bonds as their own label. [`tu_molecules`] therefore
//!
//! * kekulises aromatic bonds with the blossom matching used for aromatic
//!   SMILES; when no Kekulé structure exists (a pyrrole-type `[nH]` whose
//!   hydrogen was dropped) it gives aromatic heteroatoms one implicit
//!   hydrogen, one at a time, as long as that brings a Kekulé structure
//!   closer, and when that does not succeed either it makes the graph's
//!   aromatic bonds single ([`TuMolecules::kekulise_failures`]);
//! * gives a neutral N with four bonds (the nitro groups of MUTAG, written
//!   `C-N(=O)-O`) its charge, `[N+]`, and one singly bonded terminal O
//!   neighbour `[O-]` (the charge-separated form RDKit and the SMILES
//!   datasets use), when the vocabulary has those types
//!   ([`TuMolecules::charged_atoms`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::kekule::{kekule_deficiency, kekulise, RawAtom, RawBond};
use super::valence::element_from_symbol;
use super::{Atom, AtomVocab, BondType, Molecule};
use crate::data::tu::read_tu_raw;
use crate::graph::SmallGraph;
use crate::{Error, Result};

/// The label tables of a TU dataset's `README.txt`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelTables {
    /// `(label value, name)` of the `Node labels:` section, in file order.
    pub node: Vec<(i64, String)>,
    /// `(label value, name)` of the `Edge labels:` section, in file order
    /// (empty when the README has none).
    pub edge: Vec<(i64, String)>,
    /// The file the tables were read from (for messages).
    pub source: PathBuf,
}

/// Which table a heading opens.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Section {
    Node,
    Edge,
}

/// Parse the `Node labels:` and `Edge labels:` sections of a TU
/// `README.txt` (`path` is only used in messages and kept in
/// [`LabelTables::source`]).
///
/// Accepted forms, case-insensitive in the heading:
///
/// * a heading line starting with `Node labels` or `Edge labels`, optionally
///   with a parenthesised remark (`Node labels (atom types):`), then a
///   table, one entry per line: a label value and a name separated by
///   whitespace (tabs included), `:`, `=`, `-` or `->` (`0  C`, `0: C`,
///   `0 = C`, `1 -> N`); blank lines and up to three lines of text may come
///   between the heading and the table;
/// * an inline list after the colon, `Node labels: [C, O, Cl]` (values 0, 1,
///   2, ...; the list may continue over several lines up to its `]`), also
///   without brackets when it has a comma (`Node labels: C, O, Cl`);
/// * an entry on the heading line itself (`Node labels: 0 C`).
///
/// A section ends at the first line after its entries that is not an entry
/// (a blank line, another heading, text). A missing section gives an empty
/// table.
///
/// # Errors
/// [`Error::Parse`] naming the line when a section lists a label value twice.
pub fn parse_label_tables(readme_text: &str, path: &Path) -> Result<LabelTables> {
    let mut tables = LabelTables { source: path.to_path_buf(), ..LabelTables::default() };
    let lines: Vec<&str> = readme_text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some((section, rest)) = heading(lines[i]) else {
            i += 1;
            continue;
        };
        let mut entries: Vec<(i64, String, usize)> = Vec::new();
        let start = i;
        i += 1;
        let rest = rest.trim();
        if let Some(list) = rest.strip_prefix('[') {
            // Inline list, possibly over several lines.
            let mut text = list.to_string();
            while !text.contains(']') && i < lines.len() && heading(lines[i]).is_none() {
                text.push(',');
                text.push_str(lines[i]);
                i += 1;
            }
            let text = text.split(']').next().unwrap_or("");
            entries = list_entries(text, start + 1);
        } else if entry(rest).is_none() && rest.contains(',') {
            entries = list_entries(rest, start + 1);
        } else {
            if let Some((v, name)) = entry(rest) {
                entries.push((v, name, start + 1));
            }
            let mut text_lines = 0;
            while i < lines.len() {
                let line = lines[i];
                if heading(line).is_some() || line.trim_start().starts_with("===") {
                    break;
                }
                if let Some((v, name)) = entry(line) {
                    entries.push((v, name, i + 1));
                } else if !entries.is_empty() {
                    break;
                } else if !line.trim().is_empty() {
                    text_lines += 1;
                    if text_lines > 3 {
                        break;
                    }
                }
                i += 1;
            }
        }
        let table = match section {
            Section::Node => &mut tables.node,
            Section::Edge => &mut tables.edge,
        };
        if !table.is_empty() {
            // A second section of the same kind: keep the first one.
            continue;
        }
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for (v, name, line) in entries {
            if let Some(first) = seen.insert(v, line) {
                return Err(Error::parse(
                    path,
                    Some(line),
                    format!("label value {v} is listed twice in the {section:?} labels table (first on line {first}); give each value one name"),
                ));
            }
            table.push((v, name));
        }
    }
    Ok(tables)
}

/// `Some((section, text after the heading))` when `line` is a `Node labels`
/// or `Edge labels` heading.
fn heading(line: &str) -> Option<(Section, &str)> {
    let t = line.trim();
    let lower = t.to_ascii_lowercase();
    let (section, word) = if lower.starts_with("node label") {
        (Section::Node, "node label")
    } else if lower.starts_with("edge label") {
        (Section::Edge, "edge label")
    } else {
        return None;
    };
    let mut rest = &t[word.len()..];
    rest = rest.strip_prefix(['s', 'S']).unwrap_or(rest).trim_start();
    if rest.starts_with('(') {
        let close = rest.find(')')?;
        rest = rest[close + 1..].trim_start();
    }
    if rest.is_empty() {
        return Some((section, rest));
    }
    rest.strip_prefix(':').map(|r| (section, r))
}

/// One table line: `value sep name`.
fn entry(line: &str) -> Option<(i64, String)> {
    let t = line.trim();
    let digits_end = t.char_indices().find(|&(k, c)| !(c.is_ascii_digit() || (k == 0 && (c == '-' || c == '+')))).map_or(t.len(), |(k, _)| k);
    let value: i64 = t[..digits_end].parse().ok()?;
    let rest = &t[digits_end..];
    // A separator is required between value and name.
    if !rest.starts_with(|c: char| c.is_whitespace() || c == ':' || c == '=' || c == '-') {
        return None;
    }
    let mut name = rest.trim_start();
    for sep in ["->", ":", "=", "- ", "\u{2013} "] {
        if let Some(r) = name.strip_prefix(sep) {
            if !r.trim().is_empty() {
                name = r.trim_start();
            }
            break;
        }
    }
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some((value, name.to_string()))
}

/// Entries of an inline list `C, O, Cl` (values 0, 1, 2, ...; an item of
/// the form `3: Cl` keeps its own value).
fn list_entries(text: &str, line: usize) -> Vec<(i64, String, usize)> {
    let items: Vec<&str> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    items
        .iter()
        .enumerate()
        .map(|(k, item)| match entry(item) {
            Some((v, name)) if item.contains([':', '=']) => (v, name, line),
            _ => (k as i64, item.trim_matches(['\'', '"']).to_string(), line),
        })
        .collect()
}

/// The label tables of TU dataset `name`: `data_dir/name/README.txt` (or
/// `data_dir/name/raw/README.txt`, PyG's layout). `None` when there is no
/// README or it has no `Node labels:` table.
///
/// # Errors
/// [`Error::Io`] when the README exists but cannot be read; as
/// [`parse_label_tables`].
pub fn load_label_tables(data_dir: &Path, name: &str) -> Result<Option<LabelTables>> {
    let Some(path) = readme_path(data_dir, name) else { return Ok(None) };
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let tables = parse_label_tables(text.trim_start_matches('\u{feff}'), &path)?;
    Ok(if tables.node.is_empty() { None } else { Some(tables) })
}

/// The README of a TU dataset, if there is one.
fn readme_path(data_dir: &Path, name: &str) -> Option<PathBuf> {
    let base = data_dir.join(name);
    [base.join("README.txt"), base.join("raw").join("README.txt")].into_iter().find(|p| p.is_file())
}

/// What a TU edge label stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BondClass {
    /// A single bond.
    Single,
    /// A double bond.
    Double,
    /// A triple bond.
    Triple,
    /// An aromatic bond (kekulised by [`tu_molecules`]).
    Aromatic,
}

impl BondClass {
    /// The kekulised bond type; `None` for [`BondClass::Aromatic`].
    pub fn bond_type(self) -> Option<BondType> {
        match self {
            BondClass::Single => Some(BondType::Single),
            BondClass::Double => Some(BondType::Double),
            BondClass::Triple => Some(BondType::Triple),
            BondClass::Aromatic => None,
        }
    }

    /// The bond class of an edge-label name: `single`, `double`, `triple`,
    /// `aromatic` (any case, optionally followed by `bond`), `1`, `2`, `3`,
    /// `1.5`, `ar`, `arom`, or the SMILES symbols `-`, `=`, `#`, `:`.
    pub fn from_name(name: &str) -> Option<BondClass> {
        let lower = name.trim().to_ascii_lowercase();
        let n = lower.strip_suffix("bond").unwrap_or(&lower).trim();
        Some(match n {
            "single" | "1" | "-" | "s" => BondClass::Single,
            "double" | "2" | "=" | "d" => BondClass::Double,
            "triple" | "3" | "#" | "t" => BondClass::Triple,
            "aromatic" | "ar" | "arom" | "1.5" | ":" | "a" => BondClass::Aromatic,
            _ => return None,
        })
    }

    fn raw(self) -> RawBond {
        match self {
            BondClass::Single => RawBond::Single,
            BondClass::Double => RawBond::Double,
            BondClass::Triple => RawBond::Triple,
            BondClass::Aromatic => RawBond::Aromatic,
        }
    }
}

/// How the integer labels of a TU dataset map into a molecular vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MolecularLabelMap {
    /// `(node label value, vocabulary atom type)`, in table order; labels
    /// that are no atom of the vocabulary have `vocab.other_type()`.
    pub node_types: Vec<(i64, usize)>,
    /// `(node label value, atom)`: the element and charge read from the
    /// name, also for elements the vocabulary lacks (then typed `other`);
    /// `None` for names that are no element symbol.
    pub node_atoms: Vec<(i64, Option<Atom>)>,
    /// `(edge label value, bond class)`, in table order.
    pub bond_classes: Vec<(i64, BondClass)>,
    /// The node labels typed `other`: `(value, name)`.
    pub other_labels: Vec<(i64, String)>,
}

impl MolecularLabelMap {
    /// The atom type of a node label value.
    pub fn node_type(&self, value: i64) -> Option<usize> {
        self.node_types.iter().find(|&&(v, _)| v == value).map(|&(_, t)| t)
    }

    /// The atom of a node label value (`None` also for non-element names).
    pub fn node_atom(&self, value: i64) -> Option<Atom> {
        self.node_atoms.iter().find(|&&(v, _)| v == value).and_then(|&(_, a)| a)
    }

    /// The bond class of an edge label value.
    pub fn bond_class(&self, value: i64) -> Option<BondClass> {
        self.bond_classes.iter().find(|&&(v, _)| v == value).map(|&(_, c)| c)
    }
}

/// The atom of a node-label name: an element symbol in any case (`C`, `Cl`,
/// `CL`, `cl`), optionally in brackets and with a charge (`N+`, `O-`,
/// `[N+]`, `Fe+2`, `S2-`); a trailing remark after whitespace or `(` is
/// ignored (`C (carbon)`).
pub fn atom_from_label_name(name: &str) -> Option<Atom> {
    let mut s = name.trim();
    if let Some(k) = s.find(|c: char| c.is_whitespace() || c == '(') {
        s = &s[..k];
    }
    let s = s.strip_prefix('[').map(|r| r.strip_suffix(']').unwrap_or(r)).unwrap_or(s);
    let split = s.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (sym, charge_text) = s.split_at(split);
    let mut chars = sym.chars();
    let first = chars.next()?;
    let canonical: String = std::iter::once(first.to_ascii_uppercase()).chain(chars.map(|c| c.to_ascii_lowercase())).collect();
    let z = element_from_symbol(&canonical)?;
    let charge: i8 = match charge_text {
        "" => 0,
        "+" => 1,
        "-" => -1,
        "++" => 2,
        "--" => -2,
        t => {
            // `+2` or `2+` (also `-2`, `2-`).
            let (sign, digits) = if let Some(d) = t.strip_prefix(['+', '-']) {
                (t.as_bytes()[0], d)
            } else if let Some(d) = t.strip_suffix(['+', '-']) {
                (t.as_bytes()[t.len() - 1], d)
            } else {
                return None;
            };
            let v: i8 = digits.parse().ok().filter(|v| (1..=8).contains(v))?;
            if sign == b'+' {
                v
            } else {
                -v
            }
        }
    };
    Some(Atom::new(z, charge))
}

/// Dataset name for messages: the README's folder (skipping PyG's `raw`).
fn dataset_of(path: &Path) -> String {
    let mut dir = path.parent();
    if dir.and_then(Path::file_name).is_some_and(|n| n == "raw") {
        dir = dir.and_then(Path::parent);
    }
    dir.and_then(Path::file_name).map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// How to fix a README without a usable node table.
fn table_hint(name: &str) -> String {
    format!(
        "transfer from a molecular pretrained encoder needs a `Node labels:` table of element symbols in README.txt; \
         add one, one line per value of {name}_node_labels.txt, e.g.\n\n  Node labels:\n\n  0  C\n  1  N\n  2  O\n\n\
         (and an `Edge labels:` table of single/double/triple/aromatic for {name}_edge_labels.txt)"
    )
}

/// Map a dataset's label tables onto `vocab`: node names are element symbols
/// with an optional charge ([`atom_from_label_name`]); an element that is not
/// in the vocabulary, or a name that is no element, becomes
/// `vocab.other_type()` (listed in [`MolecularLabelMap::other_labels`]).
/// Edge names are bond classes ([`BondClass::from_name`]); a one-entry edge
/// table naming the values themselves (`Edge labels: [valence]`, `bond
/// order`) means the values are bond orders 1, 2, 3.
///
/// # Errors
/// [`Error::Parse`] naming [`LabelTables::source`] and the dataset when the
/// node table is empty or fewer than half of its names are element symbols
/// (not a molecule dataset, e.g. PROTEINS), or when an edge name is no bond
/// class.
pub fn molecular_label_map(tables: &LabelTables, vocab: &AtomVocab) -> Result<MolecularLabelMap> {
    let name = dataset_of(&tables.source);
    if tables.node.is_empty() {
        return Err(Error::parse(&tables.source, None, format!("dataset '{name}' has no `Node labels:` table; {}", table_hint(&name))));
    }
    let atoms: Vec<(i64, Option<Atom>)> = tables.node.iter().map(|(v, n)| (*v, atom_from_label_name(n))).collect();
    let chemical = atoms.iter().filter(|(_, a)| a.is_some()).count();
    if chemical * 2 < atoms.len() {
        let names: Vec<&str> = tables.node.iter().map(|(_, n)| n.as_str()).take(8).collect();
        return Err(Error::parse(
            &tables.source,
            None,
            format!(
                "dataset '{name}': the `Node labels:` table is not chemical ({chemical} of {} names are element symbols: {}); {}",
                atoms.len(),
                names.join(", "),
                table_hint(&name)
            ),
        ));
    }
    let mut node_types = Vec::with_capacity(atoms.len());
    let mut other_labels = Vec::new();
    for ((v, a), (_, label)) in atoms.iter().zip(&tables.node) {
        let t = a.map_or(vocab.other_type(), |a| vocab.atom_type(a));
        if t == vocab.other_type() {
            other_labels.push((*v, label.clone()));
        }
        node_types.push((*v, t));
    }
    let bond_classes = if edge_values_are_orders(&tables.edge) {
        vec![(1, BondClass::Single), (2, BondClass::Double), (3, BondClass::Triple)]
    } else {
        let mut out = Vec::with_capacity(tables.edge.len());
        for (v, n) in &tables.edge {
            let c = BondClass::from_name(n).ok_or_else(|| {
                Error::parse(
                    &tables.source,
                    None,
                    format!("dataset '{name}': edge label {v} is named '{n}', which is no bond type; name edge labels single, double, triple or aromatic"),
                )
            })?;
            out.push((*v, c));
        }
        out
    };
    Ok(MolecularLabelMap { node_types, node_atoms: atoms, bond_classes, other_labels })
}

/// Whether an edge table is one entry that describes the values (`valence`,
/// `bond order`) rather than naming one bond class.
fn edge_values_are_orders(edge: &[(i64, String)]) -> bool {
    match edge {
        [(_, n)] => BondClass::from_name(n).is_none() && ["valence", "order"].iter().any(|w| n.to_ascii_lowercase().contains(w)),
        _ => false,
    }
}

/// A TU molecule dataset converted to the molecular vocabulary.
#[derive(Clone, Debug)]
pub struct TuMolecules {
    /// Dataset name.
    pub name: String,
    /// One kekulised graph per TU graph: node types are vocabulary atom
    /// types, edges `(u, v, bond type index)` with `u < v`, sorted, each bond
    /// once.
    pub graphs: Vec<SmallGraph>,
    /// Class of every graph, `0..num_classes` (the sorted distinct raw graph
    /// labels, as [`load_tu`](crate::data::tu::load_tu) numbers them).
    pub labels: Vec<usize>,
    /// The distinct raw graph labels, in class order.
    pub class_values: Vec<i64>,
    /// The label mapping used.
    pub map: MolecularLabelMap,
    /// Graphs whose aromatic bonds could not be kekulised even with implicit
    /// hydrogens on aromatic heteroatoms; their aromatic bonds are single.
    pub kekulise_failures: usize,
    /// Graphs that kekulised only after giving aromatic heteroatoms an
    /// implicit hydrogen (pyrrole-type N).
    pub kekulised_with_h: usize,
    /// Nodes typed `other` (elements the vocabulary lacks, non-element names).
    pub other_atoms: usize,
    /// Atoms that received a formal charge (nitro `[N+]`/`[O-]`, ammonium-like N).
    pub charged_atoms: usize,
    /// True when the dataset has no `DS_edge_labels.txt` and every bond was
    /// made single.
    pub bonds_assumed_single: bool,
}

/// Load TU dataset `name` from `data_dir` (files as [`read_tu_raw`] reads
/// them, label tables from its `README.txt`) as molecules in `vocab`: every
/// node mapped to an atom type through the first column of
/// `DS_node_labels.txt`, every edge to a bond class through the first column
/// of `DS_edge_labels.txt` (all single when the file is absent), aromatic
/// bonds kekulised and charges repaired as the [module docs](self) describe.
/// Self loops are dropped; each undirected bond appears once.
///
/// # Errors
/// As [`read_tu_raw`]; [`Error::Parse`] naming the dataset and the fix when
/// the README has no chemical `Node labels:` table ([`molecular_label_map`]),
/// when the dataset has no node labels, when a label value is not in its
/// table, or when the two directions of an edge carry different labels.
pub fn tu_molecules(data_dir: &Path, name: &str, vocab: &AtomVocab) -> Result<TuMolecules> {
    let tables = match load_label_tables(data_dir, name)? {
        Some(t) => t,
        None => {
            let path = readme_path(data_dir, name).unwrap_or_else(|| data_dir.join(name).join("README.txt"));
            let what = if path.is_file() { "has no `Node labels:` table" } else { "has no README.txt" };
            return Err(Error::parse(&path, None, format!("dataset '{name}' {what}; {}", table_hint(name))));
        }
    };
    let map = molecular_label_map(&tables, vocab)?;
    let raw = read_tu_raw(data_dir, name)?;
    let file = |suffix: &str| raw.dir.join(format!("{name}_{suffix}.txt"));
    let node_labels = raw
        .node_labels
        .as_ref()
        .ok_or_else(|| Error::parse(file("node_labels"), None, format!("dataset '{name}' has no node labels file; molecules need one atom label per node")))?;
    let node_values = node_labels.column(0);
    let n = raw.num_nodes;
    let mut atom_of = Vec::with_capacity(n);
    let mut type_of = Vec::with_capacity(n);
    for (i, &v) in node_values.iter().enumerate() {
        let t = map.node_type(v).ok_or_else(|| {
            Error::parse(
                file("node_labels"),
                Some(i + 1),
                format!("node label {v} is not in the `Node labels:` table of {}; add a line for it", tables.source.display()),
            )
        })?;
        type_of.push(t);
        atom_of.push(map.node_atom(v));
    }
    let edge_values = raw.edge_labels.as_ref().map(|t| t.column(0));
    let bonds_assumed_single = edge_values.is_none();
    let mut class_of_edge = Vec::with_capacity(raw.src.len());
    if let Some(values) = &edge_values {
        if map.bond_classes.is_empty() {
            return Err(Error::parse(
                &tables.source,
                None,
                format!(
                    "dataset '{name}' has {name}_edge_labels.txt but no `Edge labels:` table; add one naming each value single, double, triple or aromatic"
                ),
            ));
        }
        for (e, &v) in values.iter().enumerate() {
            class_of_edge.push(map.bond_class(v).ok_or_else(|| {
                Error::parse(file("edge_labels"), Some(e + 1), format!("edge label {v} is not in the `Edge labels:` table of {}", tables.source.display()))
            })?);
        }
    }

    // Nodes of each graph in increasing global id; local ids.
    let num_graphs = raw.num_graphs();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); num_graphs];
    let mut local = vec![0usize; n];
    for (i, &g) in raw.graph_indicator.iter().enumerate() {
        local[i] = members[g].len();
        members[g].push(i);
    }
    // Bonds of each graph, once per undirected pair.
    let mut bonds: Vec<Vec<(usize, usize, BondClass)>> = vec![Vec::new(); num_graphs];
    let mut first_line: HashMap<(usize, usize), (BondClass, usize)> = HashMap::with_capacity(raw.src.len() / 2 + 1);
    for (e, (&s, &d)) in raw.src.iter().zip(&raw.dst).enumerate() {
        if s == d {
            continue;
        }
        let c = class_of_edge.get(e).copied().unwrap_or(BondClass::Single);
        let key = (s.min(d), s.max(d));
        match first_line.get(&key) {
            Some(&(c0, e0)) => {
                if c0 != c {
                    return Err(Error::parse(
                        file("edge_labels"),
                        Some(e + 1),
                        format!(
                            "the edge {} - {} is labelled {c:?} here but {c0:?} on line {}; both directions of a bond need the same label",
                            s + 1,
                            d + 1,
                            e0 + 1
                        ),
                    ));
                }
            }
            None => {
                first_line.insert(key, (c, e));
                let g = raw.graph_indicator[s];
                let (a, b) = (local[key.0], local[key.1]);
                bonds[g].push((a.min(b), a.max(b), c));
            }
        }
    }

    let class_values = {
        let mut v = raw.graph_labels.clone();
        v.sort_unstable();
        v.dedup();
        v
    };
    let labels: Vec<usize> = raw.graph_labels.iter().map(|v| class_values.binary_search(v).unwrap_or(0)).collect();

    let mut out = TuMolecules {
        name: name.to_string(),
        graphs: Vec::with_capacity(num_graphs),
        labels,
        class_values,
        map,
        kekulise_failures: 0,
        kekulised_with_h: 0,
        other_atoms: type_of.iter().filter(|&&t| t == vocab.other_type()).count(),
        charged_atoms: 0,
        bonds_assumed_single,
    };
    for g in 0..num_graphs {
        let atoms: Vec<Atom> = members[g].iter().map(|&i| atom_of[i].unwrap_or(Atom::new(0, 0))).collect();
        let (mol, outcome) = build_molecule(&atoms, &bonds[g]);
        match outcome {
            Kekulised::Clean => {}
            Kekulised::WithHydrogens => out.kekulised_with_h += 1,
            Kekulised::Failed => out.kekulise_failures += 1,
        }
        let mut mol = mol;
        out.charged_atoms += repair_charges(&mut mol, vocab);
        let mut sg = mol.to_small_graph(vocab);
        // Atoms typed `other` by the table keep that type even where the
        // element is known (the table is the authority).
        for (j, &i) in members[g].iter().enumerate() {
            if type_of[i] == vocab.other_type() {
                sg.node_types[j] = vocab.other_type() as u32;
            }
        }
        out.graphs.push(sg);
    }
    Ok(out)
}

/// How a graph's aromatic bonds were resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kekulised {
    /// Directly (or nothing was aromatic).
    Clean,
    /// After implicit hydrogens on aromatic heteroatoms.
    WithHydrogens,
    /// Not at all: aromatic bonds made single.
    Failed,
}

/// Kekulise one graph's bonds (see the module docs) into a molecule.
fn build_molecule(atoms: &[Atom], bonds: &[(usize, usize, BondClass)]) -> (Molecule, Kekulised) {
    let n = atoms.len();
    let mut raw_bonds: Vec<(usize, usize, RawBond)> = bonds.iter().map(|&(u, v, c)| (u, v, c.raw())).collect();
    // Aromatic bonds outside rings are single; atoms on aromatic ring bonds are aromatic.
    let in_ring = super::ring_bond_flags(n, &raw_bonds.iter().map(|&(u, v, _)| (u, v)).collect::<Vec<_>>());
    let mut aromatic = vec![false; n];
    for (b, &r) in raw_bonds.iter_mut().zip(&in_ring) {
        if b.2 == RawBond::Aromatic {
            if r {
                aromatic[b.0] = true;
                aromatic[b.1] = true;
            } else {
                b.2 = RawBond::Single;
            }
        }
    }
    let mut raw_atoms: Vec<RawAtom> = atoms.iter().zip(&aromatic).map(|(&atom, &aromatic)| RawAtom { atom, aromatic, explicit_h: 0, pos: 0 }).collect();
    let mut outcome = Kekulised::Clean;
    let mut kekulised = raw_bonds.clone();
    if kekulise(&raw_atoms, &mut kekulised).is_err() {
        outcome = Kekulised::Failed;
        // Greedy: give an aromatic heteroatom one hydrogen while that lowers
        // the number of atoms no Kekulé structure can serve.
        let mut deficit = kekule_deficiency(&raw_atoms, &raw_bonds).unwrap_or(usize::MAX);
        while deficit > 0 && deficit != usize::MAX {
            let mut improved = false;
            for i in 0..n {
                let a = raw_atoms[i];
                if !a.aromatic || a.explicit_h > 0 || matches!(a.atom.element, 0 | 6) {
                    continue;
                }
                raw_atoms[i].explicit_h = 1;
                match kekule_deficiency(&raw_atoms, &raw_bonds) {
                    Ok(d) if d < deficit => {
                        deficit = d;
                        improved = true;
                        break;
                    }
                    _ => raw_atoms[i].explicit_h = 0,
                }
            }
            if !improved {
                break;
            }
        }
        kekulised = raw_bonds.clone();
        if deficit == 0 && kekulise(&raw_atoms, &mut kekulised).is_ok() {
            outcome = Kekulised::WithHydrogens;
        } else {
            kekulised = raw_bonds.iter().map(|&(u, v, t)| (u, v, if t == RawBond::Aromatic { RawBond::Single } else { t })).collect();
        }
    }
    let to_type = |t: RawBond| match t {
        RawBond::Double => BondType::Double,
        RawBond::Triple => BondType::Triple,
        RawBond::Single | RawBond::Aromatic => BondType::Single,
    };
    let mol = Molecule { atoms: atoms.to_vec(), bonds: kekulised.into_iter().map(|(u, v, t)| (u, v, to_type(t))).collect() };
    (mol, outcome)
}

/// Give a neutral N with bond-order sum 4 its `+` charge, and one singly
/// bonded terminal neutral O neighbour a `-` charge (nitro `C-N(=O)-O`
/// becomes `C-[N+](=O)-[O-]`), when the vocabulary has the charged types.
/// Returns the number of atoms changed.
fn repair_charges(mol: &mut Molecule, vocab: &AtomVocab) -> usize {
    let (n_plus, o_minus) = (Atom::new(7, 1), Atom::new(8, -1));
    let other = vocab.other_type();
    if vocab.atom_type(n_plus) == other {
        return 0;
    }
    let sums = mol.bond_order_sums();
    let degrees = mol.degrees();
    let adj = mol.adjacency();
    let mut changed = 0;
    for i in 0..mol.atoms.len() {
        if mol.atoms[i] != Atom::new(7, 0) || sums[i] != 4 {
            continue;
        }
        mol.atoms[i] = n_plus;
        changed += 1;
        if vocab.atom_type(o_minus) == other {
            continue;
        }
        let oxygen = adj[i].iter().find(|&&(w, e)| mol.atoms[w] == Atom::new(8, 0) && degrees[w] == 1 && mol.bonds[e].2 == BondType::Single).map(|&(w, _)| w);
        if let Some(w) = oxygen {
            mol.atoms[w] = o_minus;
            changed += 1;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> LabelTables {
        parse_label_tables(text, Path::new("/data/DS/README.txt")).unwrap()
    }

    fn pairs(v: &[(i64, &str)]) -> Vec<(i64, String)> {
        v.iter().map(|&(k, s)| (k, s.to_string())).collect()
    }

    const MUTAG_LIKE: &str = "README for dataset MUTAG\n\n=== Usage ===\n\n(4) \tDS_node_labels.txt (n lines)\n\tcolumn vector of node labels,\n\n\
        === Description of the dataset === \n\nvertices are labeled\nby atom type and edges by bond type.\n\nNode labels:\n\n  0  C\n  1  N\n  2  O\n  3  F\n  4  I\n  5  Cl\n  6  Br\n\n\
        Edge labels:\n\n  0  aromatic\n  1  single\n  2  double\n  3  triple\n\n\n=== Previous Use of the Dataset ===\n\nKriege, N.\n";

    #[test]
    fn parses_the_mutag_form() {
        let t = parse(MUTAG_LIKE);
        assert_eq!(t.node, pairs(&[(0, "C"), (1, "N"), (2, "O"), (3, "F"), (4, "I"), (5, "Cl"), (6, "Br")]));
        assert_eq!(t.edge, pairs(&[(0, "aromatic"), (1, "single"), (2, "double"), (3, "triple")]));
        assert_eq!(t.source, Path::new("/data/DS/README.txt"));
    }

    #[test]
    fn parses_variants() {
        // Inline lists, spanning lines.
        let t = parse("Node labels: [C, O, Cl, H, N]\n\nEdge labels: [single,\n double, triple]\n");
        assert_eq!(t.node, pairs(&[(0, "C"), (1, "O"), (2, "Cl"), (3, "H"), (4, "N")]));
        assert_eq!(t.edge, pairs(&[(0, "single"), (1, "double"), (2, "triple")]));
        // Colons, equals signs, tabs, arrows, a remark in the heading, text before the table.
        let t =
            parse("Node labels (atom types):\nThe following labels are used.\n\n0: C\n1:\tN\n2 = O\n3 -> [N+]\n\nedge labels\n\n\t1\tsingle\n\t2\tdouble\n");
        assert_eq!(t.node, pairs(&[(0, "C"), (1, "N"), (2, "O"), (3, "[N+]")]));
        assert_eq!(t.edge, pairs(&[(1, "single"), (2, "double")]));
        // An entry on the heading line; the table ends at a heading without a blank line.
        let t = parse("Node labels: 0 C\n1 N\nEdge labels:\n0 -\n1 =\n2 - aromatic\n");
        assert_eq!(t.node, pairs(&[(0, "C"), (1, "N")]));
        assert_eq!(t.edge, pairs(&[(0, "-"), (1, "="), (2, "aromatic")]));
        // Unbracketed list; CRLF line ends.
        let t = parse("Node labels: C, N, O\r\nEdge labels:\r\n\r\n  0  single\r\n  1  double\r\n\r\nNotes\r\n2 bogus\r\n");
        assert_eq!(t.node, pairs(&[(0, "C"), (1, "N"), (2, "O")]));
        assert_eq!(t.edge, pairs(&[(0, "single"), (1, "double")]));
    }

    #[test]
    fn sections_without_tables_stay_empty() {
        // PROTEINS / ENZYMES style: no table at all.
        let t = parse("README for dataset PROTEINS\n\n(4) \tDS_node_labels.txt (n lines)\n\tcolumn vector of node labels,\n");
        assert!(t.node.is_empty() && t.edge.is_empty());
        // A heading with only text does not swallow a table further down.
        let t = parse("Node labels: atom types\nsee the paper\nmore text\nand more\nstill text\n\n=== Other ===\n0 C\n");
        assert!(t.node.is_empty(), "{:?}", t.node);
        // Non-chemical labels are still read (the mapping rejects them).
        let t = parse("Node labels:\n\n  0  helix\n  1  sheet\n  2  turn\n");
        assert_eq!(t.node.len(), 3);
    }

    #[test]
    fn duplicate_values_are_errors() {
        let e = parse_label_tables("Node labels:\n0 C\n1 N\n0 O\n", Path::new("X/README.txt")).unwrap_err().to_string();
        assert!(e.contains("X/README.txt:4") && e.contains("listed twice"), "{e}");
    }

    #[test]
    fn atom_names() {
        let a = |s: &str| atom_from_label_name(s);
        assert_eq!(a("C"), Some(Atom::new(6, 0)));
        assert_eq!(a("Cl"), Some(Atom::new(17, 0)));
        assert_eq!(a("CL"), Some(Atom::new(17, 0)));
        assert_eq!(a("br"), Some(Atom::new(35, 0)));
        assert_eq!(a("N+"), Some(Atom::new(7, 1)));
        assert_eq!(a("[N+]"), Some(Atom::new(7, 1)));
        assert_eq!(a("O-"), Some(Atom::new(8, -1)));
        assert_eq!(a("Fe+2"), Some(Atom::new(26, 2)));
        assert_eq!(a("S2-"), Some(Atom::new(16, -2)));
        assert_eq!(a("C (carbon)"), Some(Atom::new(6, 0)));
        assert_eq!(a("helix"), None);
        assert_eq!(a("Xx"), None);
        assert_eq!(a(""), None);
    }

    #[test]
    fn bond_names() {
        for (n, c) in [("single", BondClass::Single), ("Double", BondClass::Double), ("TRIPLE", BondClass::Triple), ("aromatic", BondClass::Aromatic)] {
            assert_eq!(BondClass::from_name(n), Some(c));
        }
        for (n, c) in [("1", BondClass::Single), ("=", BondClass::Double), ("#", BondClass::Triple), (":", BondClass::Aromatic), ("ar", BondClass::Aromatic)] {
            assert_eq!(BondClass::from_name(n), Some(c));
        }
        assert_eq!(BondClass::from_name("single bond"), Some(BondClass::Single));
        assert_eq!(BondClass::from_name("hydrogen"), None);
        assert_eq!(BondClass::Aromatic.bond_type(), None);
        assert_eq!(BondClass::Double.bond_type(), Some(BondType::Double));
    }

    #[test]
    fn maps_into_the_standard_vocabulary() {
        let vocab = AtomVocab::standard();
        let t = parse("Node labels:\n0 C\n1 N+\n2 Si\n3 Cl\n4 O-\n\nEdge labels:\n0 aromatic\n1 single\n");
        let m = molecular_label_map(&t, &vocab).unwrap();
        assert_eq!(m.node_type(0), Some(0));
        assert_eq!(m.node_type(1), Some(vocab.atom_type(Atom::new(7, 1))));
        assert_eq!(m.node_type(2), Some(vocab.other_type()));
        assert_eq!(m.node_atom(2), Some(Atom::new(14, 0)));
        assert_eq!(m.node_type(3), Some(vocab.atom_type(Atom::new(17, 0))));
        assert_eq!(m.node_type(4), Some(vocab.atom_type(Atom::new(8, -1))));
        assert_eq!(m.other_labels, pairs(&[(2, "Si")]));
        assert_eq!(m.bond_classes, vec![(0, BondClass::Aromatic), (1, BondClass::Single)]);
        // `Edge labels: [valence]`: the values are bond orders.
        let t = parse("Node labels: [C, O]\nEdge labels: [valence]\n");
        let m = molecular_label_map(&t, &vocab).unwrap();
        assert_eq!(m.bond_class(2), Some(BondClass::Double));
    }

    #[test]
    fn non_chemical_tables_are_clear_errors() {
        let vocab = AtomVocab::standard();
        let t = parse("Node labels:\n\n  0  helix\n  1  sheet\n  2  turn\n");
        let e = molecular_label_map(&t, &vocab).unwrap_err().to_string();
        assert!(e.contains("dataset 'DS'") && e.contains("not chemical") && e.contains("helix"), "{e}");
        assert!(e.contains("molecular pretrained encoder") && e.contains("`Node labels:` table of element symbols") && e.contains("add one"), "{e}");
        let e = molecular_label_map(&parse("nothing here"), &vocab).unwrap_err().to_string();
        assert!(e.contains("dataset 'DS' has no `Node labels:` table"), "{e}");
        let t = parse("Node labels:\n0 C\n\nEdge labels:\n0 hydrogen bond\n");
        let e = molecular_label_map(&t, &vocab).unwrap_err().to_string();
        assert!(e.contains("edge label 0") && e.contains("'hydrogen bond'"), "{e}");
    }

    /// One fixture graph: atom labels and `(u, v, edge label)` bonds.
    type FixtureGraph<'a> = (&'a [i64], &'a [(usize, usize, i64)]);

    /// Write a TU dataset with a README: per graph, atom labels and
    /// `(u, v, edge label)` bonds (0-based local ids, written in both
    /// directions).
    fn write_dataset(dir: &Path, name: &str, readme: &str, graphs: &[FixtureGraph], graph_labels: &[i64]) {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let (mut ind, mut nl, mut a, mut el) = (String::new(), String::new(), String::new(), String::new());
        let mut offset = 0;
        for (g, (atoms, bonds)) in graphs.iter().enumerate() {
            for &l in atoms.iter() {
                ind += &format!("{}\n", g + 1);
                nl += &format!("{l}\n");
            }
            for &(u, v, l) in bonds.iter() {
                a += &format!("{}, {}\n{}, {}\n", offset + u + 1, offset + v + 1, offset + v + 1, offset + u + 1);
                el += &format!("{l}\n{l}\n");
            }
            offset += atoms.len();
        }
        let gl: String = graph_labels.iter().map(|l| format!("{l}\n")).collect();
        for (suffix, content) in [("graph_indicator", ind), ("node_labels", nl), ("A", a), ("edge_labels", el), ("graph_labels", gl)] {
            std::fs::write(d.join(format!("{name}_{suffix}.txt")), content).unwrap();
        }
        std::fs::write(d.join("README.txt"), readme).unwrap();
    }

    fn ring(k: usize, label: i64) -> Vec<(usize, usize, i64)> {
        (0..k).map(|i| (i, (i + 1) % k, label)).collect()
    }

    #[test]
    fn kekulises_and_repairs_inline_molecules() {
        let tmp = tempfile::tempdir().unwrap();
        let vocab = AtomVocab::standard();
        // Labels as MUTAG: 0 C, 1 N, 2 O, 7 Si; edges 0 aromatic, 1 single, 2 double.
        let readme = "Node labels:\n\n  0  C\n  1  N\n  2  O\n  7  Si\n\nEdge labels:\n\n  0  aromatic\n  1  single\n  2  double\n";
        // Nitrobenzene: ring 0..6, N 6, O 7 (single), O 8 (double).
        let mut nitro = ring(6, 0);
        nitro.extend([(0, 6, 1), (6, 7, 1), (6, 8, 2)]);
        // Pyrrole with its H dropped: n at 0.
        let pyrrole = ring(5, 0);
        // Pyridine.
        let pyridine = ring(6, 0);
        // Cyclopentadienyl-like C5 aromatic ring: no Kekulé structure, no heteroatom.
        let cp = ring(5, 0);
        // Silane on a methyl (Si is `other`).
        let si = vec![(0usize, 1usize, 1i64)];
        write_dataset(
            tmp.path(),
            "MOLS",
            readme,
            &[(&[0, 0, 0, 0, 0, 0, 1, 2, 2], &nitro), (&[1, 0, 0, 0, 0], &pyrrole), (&[1, 0, 0, 0, 0, 0], &pyridine), (&[0; 5], &cp), (&[0, 7], &si)],
            &[1, -1, 1, -1, 1],
        );
        let m = tu_molecules(tmp.path(), "MOLS", &vocab).unwrap();
        assert_eq!(m.graphs.len(), 5);
        assert_eq!(m.labels, vec![1, 0, 1, 0, 1]);
        assert_eq!(m.class_values, vec![-1, 1]);
        assert_eq!((m.kekulise_failures, m.kekulised_with_h, m.other_atoms, m.charged_atoms), (1, 1, 1, 2));
        assert!(!m.bonds_assumed_single);
        let count = |g: &SmallGraph, t: u32| g.edges.iter().filter(|e| e.2 == t).count();
        // Nitrobenzene: 3 ring doubles + N=O; [N+], [O-].
        let g = &m.graphs[0];
        assert_eq!(g.edges.len(), 9, "each bond once");
        assert!(g.edges.iter().all(|&(u, v, _)| u < v));
        assert_eq!(count(g, 1), 4);
        assert_eq!(g.node_types[6] as usize, vocab.atom_type(Atom::new(7, 1)));
        assert_eq!(g.node_types[7] as usize, vocab.atom_type(Atom::new(8, -1)));
        assert_eq!(g.node_types[8] as usize, vocab.atom_type(Atom::new(8, 0)));
        let mol = Molecule::from_small_graph(g, &vocab).unwrap();
        assert!(mol.is_valid(), "{mol}");
        // Pyrrole: two doubles, N not in one; valid.
        let g = &m.graphs[1];
        assert_eq!(count(g, 1), 2);
        assert!(g.edges.iter().filter(|e| e.0 == 0 || e.1 == 0).all(|e| e.2 == 0));
        assert!(Molecule::from_small_graph(g, &vocab).unwrap().is_valid());
        // Pyridine: three doubles.
        assert_eq!(count(&m.graphs[2], 1), 3);
        // C5: single bonds.
        assert_eq!(count(&m.graphs[3], 1), 0);
        assert_eq!(m.graphs[3].edges.len(), 5);
        // Si is `other`.
        assert_eq!(m.graphs[4].node_types, vec![0, vocab.other_type() as u32]);
    }

    #[test]
    fn missing_or_unknown_labels_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let vocab = AtomVocab::standard();
        let readme = "Node labels:\n0 C\n\nEdge labels:\n1 single\n";
        write_dataset(tmp.path(), "BAD", readme, &[(&[0, 3], &[(0, 1, 1)])], &[0]);
        let e = tu_molecules(tmp.path(), "BAD", &vocab).unwrap_err().to_string();
        assert!(e.contains("BAD_node_labels.txt:2") && e.contains("node label 3"), "{e}");
        write_dataset(tmp.path(), "BADE", readme, &[(&[0, 0], &[(0, 1, 2)])], &[0]);
        let e = tu_molecules(tmp.path(), "BADE", &vocab).unwrap_err().to_string();
        assert!(e.contains("BADE_edge_labels.txt:1") && e.contains("edge label 2"), "{e}");
        write_dataset(tmp.path(), "NOREADME", readme, &[(&[0, 0], &[(0, 1, 1)])], &[0]);
        std::fs::remove_file(tmp.path().join("NOREADME/README.txt")).unwrap();
        assert!(load_label_tables(tmp.path(), "NOREADME").unwrap().is_none());
        let e = tu_molecules(tmp.path(), "NOREADME", &vocab).unwrap_err().to_string();
        assert!(e.contains("dataset 'NOREADME' has no README.txt") && e.contains("Node labels:"), "{e}");
    }

    #[test]
    fn real_mutag_maps_every_label() {
        let Some(dir) = crate::testing::shared_datasets("MUTAG") else { return };
        let vocab = AtomVocab::standard();
        let tables = load_label_tables(&dir, "MUTAG").unwrap().expect("MUTAG's README has a node table");
        assert_eq!(tables.node.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(), ["C", "N", "O", "F", "I", "Cl", "Br"]);
        let map = molecular_label_map(&tables, &vocab).unwrap();
        for (v, sym) in [(0, "C"), (1, "N"), (2, "O"), (3, "F"), (4, "I"), (5, "Cl"), (6, "Br")] {
            let t = map.node_type(v).unwrap();
            assert_ne!(t, vocab.other_type(), "{sym}");
            assert_eq!(vocab.type_name(t), sym);
        }
        assert!(map.other_labels.is_empty());
        assert_eq!(map.bond_classes, vec![(0, BondClass::Aromatic), (1, BondClass::Single), (2, BondClass::Double), (3, BondClass::Triple)]);

        let m = tu_molecules(&dir, "MUTAG", &vocab).unwrap();
        assert_eq!(m.graphs.len(), 188);
        assert_eq!(m.labels.iter().filter(|&&y| y == 1).count(), 125);
        assert_eq!(m.other_atoms, 0);
        let bonds: usize = m.graphs.iter().map(|g| g.edges.len()).sum();
        assert_eq!(bonds * 2, 7442, "each of MUTAG's directed edge lines once per bond");
        let mut valid = 0;
        let mut bad = Vec::new();
        for (k, g) in m.graphs.iter().enumerate() {
            let mol = Molecule::from_small_graph(g, &vocab).unwrap();
            match mol.check_valence() {
                Ok(()) => valid += 1,
                Err(e) => bad.push(format!("graph {k}: {mol}: {e}")),
            }
        }
        let clean = 188 - m.kekulise_failures - m.kekulised_with_h;
        eprintln!(
            "MUTAG: {clean} of 188 kekulise directly, {} with implicit H, {} failed; {valid} pass check_valence; {} atoms charged",
            m.kekulised_with_h, m.kekulise_failures, m.charged_atoms
        );
        for b in bad.iter().take(10) {
            eprintln!("  {b}");
        }
        // Measured: all 188 kekulise directly; 186 pass the valence check
        // (graphs 82 and 187 give one carbon two double bonds in the data).
        assert!(clean >= 186, "{clean}");
        assert!(valid >= 186, "{valid}");
        // MUTAG's 272 nitro groups: [N+] and [O-] each.
        assert!(m.charged_atoms >= 544, "{}", m.charged_atoms);
    }

    #[test]
    fn real_proteins_is_not_chemical() {
        let Some(dir) = crate::testing::shared_datasets("PROTEINS") else { return };
        let e = tu_molecules(&dir, "PROTEINS", &AtomVocab::standard()).unwrap_err();
        assert!(matches!(e, Error::Parse { .. }), "{e}");
        let e = e.to_string();
        assert!(e.contains("dataset 'PROTEINS'") && e.contains("README.txt"), "{e}");
        assert!(e.contains("molecular pretrained encoder needs a `Node labels:` table of element symbols") && e.contains("add one"), "{e}");
    }
}
