use std::path::PathBuf;

use rand::seq::SliceRandom;

use super::*;
use crate::rng::seeded;

fn mol(s: &str) -> Molecule {
    parse_smiles(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn count_bonds(m: &Molecule, t: BondType) -> usize {
    m.bonds.iter().filter(|b| b.2 == t).count()
}

/// Shared datasets folder, or `None` (with a message) when it is absent;
/// absence is an error under CI.
fn data_file(rel: &str) -> Option<PathBuf> {
    let root = std::env::var("AUTOGLM_DATA").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"));
    let p = root.join(rel);
    if p.exists() {
        Some(p)
    } else if std::env::var_os("CI").is_some() {
        panic!("dataset file {} is missing (CI is set)", p.display());
    } else {
        eprintln!("skipping: dataset file {} not found (set AUTOGLM_DATA)", p.display());
        None
    }
}

/// Every double bond pattern must leave the implicit hydrogens of aromatic
/// input where a chemist expects them.
#[test]
fn aromatic_rings_kekulise() {
    // (smiles, atoms, double bonds, total implicit H)
    let cases = [
        ("c1ccccc1", 6, 3, 6),
        ("c1ccncc1", 6, 3, 5),
        ("c1cc[nH]c1", 5, 2, 5),
        ("[nH]1cccc1", 5, 2, 5),
        ("c1ccc2[nH]ccc2c1", 9, 4, 7),
        ("c1ccc2ccccc2c1", 10, 5, 8),
        ("c1ccoc1", 5, 2, 4),
        ("c1ccsc1", 5, 2, 4),
        ("c1ncc2[nH]cnc2n1", 9, 4, 4),
        ("Cn1cnc2c1c(=O)n(C)c(=O)n2C", 14, 4, 10),
        ("Cc1ccccc1", 7, 3, 8),
        ("c1ccc(cc1)-c1ccccc1", 12, 6, 10),
        ("c1ccccc1c1ccccc1", 12, 6, 10),
        ("O=c1cc[nH]cc1", 7, 3, 5),
        ("c1cc[n+](C)cc1", 7, 3, 8),
        ("C[n+]1ccccc1", 7, 3, 8),
        ("c1ccc2cc3ccccc3cc2c1", 14, 7, 10),
        ("c1cn2ccccc2c1", 9, 4, 7),
        ("[cH-]1cccc1", 5, 2, 5),
        ("c1ccb[nH]1", 5, 2, 4),
    ];
    for (s, n, d, h) in cases {
        let m = mol(s);
        assert_eq!(m.num_atoms(), n, "{s}");
        assert_eq!(count_bonds(&m, BondType::Double), d, "{s}: {}", write_smiles(&m));
        assert_eq!(m.implicit_hydrogens().iter().map(|&x| x as usize).sum::<usize>(), h, "{s}: {}", write_smiles(&m));
        assert!(m.is_valid(), "{s}: {:?}", m.check_valence());
        let back = mol(&write_smiles(&m));
        assert_eq!(canonical_smiles(&back), canonical_smiles(&m), "{s}");
    }
    // Explicit aromatic bonds mark atoms aromatic.
    let m = mol("C1:C:C:C:C:C:1");
    assert_eq!(count_bonds(&m, BondType::Double), 3);
    for bad in ["c1cccc1", "cc", "c", "[nH]", "c1ccccc1c"] {
        let e = parse_smiles(bad).unwrap_err();
        assert!(e.msg.contains("kekulise") || e.msg.contains("ring"), "{bad}: {e}");
    }
}

#[test]
fn matching_handles_odd_cycles() {
    // Two triangles joined by an edge: perfect matching needs blossom handling
    // when the greedy start picks a triangle edge.
    let adj = vec![vec![1, 2], vec![0, 2], vec![0, 1, 3], vec![2, 4, 5], vec![3, 5], vec![3, 4]];
    let mate = kekule::max_matching(&adj);
    assert!(mate.iter().all(|&m| m != usize::MAX), "{mate:?}");
    for (v, &m) in mate.iter().enumerate() {
        assert_eq!(mate[m], v);
        assert!(adj[v].contains(&m));
    }
    // Petersen-like: 5-cycle with a pendant needs augmentation through a blossom.
    let adj = vec![vec![1, 4, 5], vec![0, 2], vec![1, 3], vec![2, 4], vec![3, 0], vec![0]];
    let mate = kekule::max_matching(&adj);
    assert_eq!(mate.iter().filter(|&&m| m == usize::MAX).count(), 0, "{mate:?}");
}

#[test]
fn charged_atoms_and_brackets() {
    let m = mol("C[NH3+]");
    assert_eq!(m.atoms[1], Atom::new(7, 1));
    assert_eq!(m.implicit_hydrogens(), vec![3, 3]);
    assert_eq!(write_smiles(&m), "C[NH3+]");
    let m = mol("C[N+](=O)[O-]");
    assert!(m.is_valid());
    assert_eq!(write_smiles(&m), "C[N+](=O)[O-]");
    assert_eq!(mol("[13CH4]").atoms, vec![Atom::new(6, 0)]);
    assert_eq!(mol("N[C@@H](C)C(=O)O").num_atoms(), 6);
    assert_eq!(mol("[Fe++]").atoms[0].charge, 2);
    assert_eq!(mol("[Fe+2]").atoms[0].charge, 2);
    assert_eq!(mol("[O--]").atoms[0].charge, -2);
    assert_eq!(mol("[CH3:7]C").num_atoms(), 2);
    assert_eq!(mol("F/C=C/F").num_atoms(), 4);
    assert_eq!(mol("F/C=C\\F").bonds.len(), 3);
    // [H] atoms fold into their neighbour.
    let m = mol("[H]N=C1NC(N)=NC(C)(C)N1");
    assert!(m.atoms.iter().all(|a| a.element != 1));
    assert!(m.is_valid());
    let m = mol("[H]N=c1sccn1C");
    assert!(m.is_valid());
    assert_eq!(mol("[H][H]").num_atoms(), 2);
    // Hypervalent nitro, azide and perchlorate forms are charge-separated.
    let m = mol("CN(=O)=O");
    assert_eq!(m.atoms.iter().map(|a| a.charge).collect::<Vec<_>>(), vec![0, 1, -1, 0]);
    assert!(m.is_valid());
    assert_eq!(write_smiles(&mol("CN=N#N")), "CN=[N+]=[N-]");
    let m = mol("OCl(=O)(=O)=O");
    assert!(m.is_valid(), "{m}");
    assert_eq!(m.atoms[1].charge, 3);
    // Radical counts cannot be stored with implicit hydrogens.
    assert!(parse_smiles("[CH2]C").is_err());
    assert!(parse_smiles("C[NH2+]C").is_ok());
    assert!(parse_smiles("C[NH+]C").is_err());
    // Two charged rings of QM9.
    for s in ["[NH3+]CC1=N[N-]N=N1", "C[NH2+]CC(=O)[CH-]C=O", "NC1=[NH+]C(=N)N=C[N-]1"] {
        let m = mol(s);
        assert!(m.is_valid(), "{s}");
        assert_eq!(canonical_smiles(&mol(&canonical_smiles(&m))), canonical_smiles(&m));
    }
}

#[test]
fn valence_table_follows_rdkit() {
    let v = |z: u8, q: i8| allowed_valences(Atom::new(z, q)).map(|v| v.as_slice().to_vec());
    assert_eq!(v(6, 0), Some(vec![4]));
    assert_eq!(v(7, 1), Some(vec![4]));
    assert_eq!(v(8, 1), Some(vec![3]));
    assert_eq!(v(8, -1), Some(vec![1]));
    assert_eq!(v(7, -1), Some(vec![2]));
    assert_eq!(v(6, -1), Some(vec![3]));
    assert_eq!(v(6, 1), Some(vec![3]));
    assert_eq!(v(16, 1), Some(vec![3, 5, 7]));
    assert_eq!(v(16, -1), Some(vec![1, 3, 5]));
    assert_eq!(v(15, 1), Some(vec![4, 6]));
    assert_eq!(v(15, 0), Some(vec![3, 5, 7]));
    assert_eq!(v(5, -1), Some(vec![4]));
    assert_eq!(v(53, 0), Some(vec![1, 3, 5]));
    assert_eq!(v(9, -1), Some(vec![0]));
    assert_eq!(v(26, 0), None);
    assert_eq!(v(6, -5), Some(vec![]));
    assert_eq!(max_valence(Atom::new(16, 0)), Some(6));
    assert_eq!(max_valence(Atom::new(17, 0)), Some(1));
    assert_eq!(max_valence(Atom::new(26, 0)), None);
    let m = mol("CC(C)(C)(C)C");
    let e = m.check_valence().unwrap_err();
    assert_eq!((e.atom, e.symbol, e.bond_order_sum, e.allowed.clone()), (1, "C", 5, vec![4]));
    assert!(e.to_string().contains("atom 1 (C)"), "{e}");
    assert!(!m.is_valid());
    assert!(!mol("CC.O").is_valid());
    assert!(mol("CC.O").check_valence().is_ok());
    assert!(!Molecule::new().is_valid());
    assert_eq!(mol("CS(=O)(=O)C").implicit_hydrogens(), vec![3, 0, 0, 0, 3]);
    assert_eq!(mol("CP(C)C").implicit_hydrogens()[1], 0);
    assert_eq!(mol("O=P(O)(O)O").implicit_hydrogens(), vec![0, 0, 1, 1, 1]);
    assert_eq!(element_symbol(17), "Cl");
    assert_eq!(element_from_symbol("Br"), Some(35));
    assert_eq!(element_from_symbol("Xx"), None);
}

#[test]
fn ring_closures_and_writer() {
    let m = mol("C%10CCCCC%10");
    assert_eq!(m.num_bonds(), 6);
    assert!(m.is_valid());
    let m = mol("C=1CCCCC=1");
    assert_eq!(count_bonds(&m, BondType::Double), 1);
    let m = mol("C1CCCCC=1");
    assert_eq!(count_bonds(&m, BondType::Double), 1);
    assert!(parse_smiles("C=1CCCCC#1").is_err());
    assert_eq!(write_smiles(&mol("CC(=O)O")), "CC(=O)O");
    assert_eq!(write_smiles(&mol("C1CC1")), "C1CC1");
    assert_eq!(write_smiles(&mol("C#N")), "C#N");
    assert_eq!(write_smiles(&mol("CC.O")), "CC.O");
    assert_eq!(format!("{}", mol("OCC")), "OCC");
    // Many simultaneous ring openings use two-digit numbers.
    let mut m = Molecule::new();
    let hub = m.add_atom(Atom::new(6, 0));
    let mut ring_atoms = Vec::new();
    for _ in 0..24 {
        ring_atoms.push(m.add_atom(Atom::new(6, 0)));
    }
    // A chain with every atom also bonded back to a far atom: many open rings.
    for w in ring_atoms.windows(2) {
        m.add_bond(w[0], w[1], BondType::Single);
    }
    m.add_bond(hub, ring_atoms[0], BondType::Single);
    for k in 0..12 {
        m.add_bond(ring_atoms[k], ring_atoms[23 - k], BondType::Single);
    }
    let s = write_smiles(&m);
    let back = mol(&s);
    assert_eq!(back.num_bonds(), m.num_bonds(), "{s}");
    assert_eq!(canonical_smiles(&back), canonical_smiles(&m));
    let s = canonical_smiles(&m);
    assert_eq!(canonical_smiles(&mol(&s)), s);
    // Non-organic atoms are bracketed with their hydrogens.
    assert_eq!(write_smiles(&mol("[SiH4]")), "[SiH4]");
    assert_eq!(write_smiles(&mol("C[Se]C")), "C[Se]C");
}

#[test]
fn bad_smiles_report_positions() {
    let cases = [
        ("", 0, "empty"),
        ("C1CC", 1, "unclosed ring"),
        ("CC(C", 2, "unclosed '('"),
        ("CC)C", 2, "unbalanced"),
        ("CXC", 1, "unknown element"),
        ("C[Xx]C", 2, "unknown element"),
        ("C[CH3", 1, "']'"),
        ("C[]", 1, "element"),
        ("C=", 1, "end"),
        ("C()C", 2, "empty branch"),
        ("=C", 0, "no atom"),
        ("C==C", 2, "two bond"),
        ("C.", 1, "'.'"),
        ("C%1C", 1, "two digits"),
        ("C11", 2, "itself"),
        ("C[C+a]", 4, "unexpected"),
        ("C C", 1, "unexpected character"),
    ];
    for (s, pos, frag) in cases {
        let e = parse_smiles(s).expect_err(s);
        assert_eq!(e.pos, pos, "{s}: {e}");
        assert!(e.msg.contains(frag), "{s}: {e}");
        assert!(e.to_string().contains(&format!("position {pos}")));
    }
}

#[test]
fn canonical_is_invariant_on_hand_cases() {
    let mut rng = seeded(3);
    for s in ["CC(=O)Oc1ccccc1C(=O)O", "C1CC2CCC1C2", "c1ccc2ccccc2c1", "CC(C)(C)C", "C1CCCCC1", "OC1C2CC3CC1CC(C2)C3", "[NH3+]CC([O-])=O", "CC.O"] {
        let m = mol(s);
        let c = canonical_smiles(&m);
        for _ in 0..20 {
            let mut order: Vec<usize> = (0..m.num_atoms()).collect();
            order.shuffle(&mut rng);
            assert_eq!(canonical_smiles(&m.permuted(&order)), c, "{s}");
        }
        let order = canonical_order(&m);
        let back = mol(&c);
        // Atom i of the re-read string is atom order[i] of m.
        assert_eq!(back.atoms, order.iter().map(|&o| m.atoms[o]).collect::<Vec<_>>(), "{s}");
    }
    assert_ne!(canonical_smiles(&mol("CCO")), canonical_smiles(&mol("COC")));
    // The Kekulé structure does not matter.
    assert_eq!(canonical_smiles(&mol("C1=CC=C2C=CC=CC2=C1")), canonical_smiles(&mol("C1=CC2=CC=CC=C2C=C1")));
    assert_eq!(canonical_smiles(&mol("Cc1ccc2ccccc2c1")), canonical_smiles(&mol("c1cccc2ccc(C)cc12")));
    assert_eq!(canonical_smiles(&mol("CC1=CC=CC=C1")), canonical_smiles(&mol("CC1C=CC=CC=1")));
    assert_ne!(canonical_smiles(&mol("C1=CCC=CC1")), canonical_smiles(&mol("C1=CC=CCC1")));
    assert_eq!(canonical_smiles(&mol("OCC")), canonical_smiles(&mol("CCO")));
}

#[test]
fn small_graph_round_trip_and_vocab() {
    let v = AtomVocab::standard();
    assert_eq!(v.num_atom_types(), 31);
    assert_eq!(AtomVocab::NUM_BOND_TYPES, 3);
    assert_eq!(v.type_name(0), "C");
    assert_eq!(v.type_name(v.atom_type(Atom::new(7, 1))), "N+");
    assert_eq!(v.type_name(v.atom_type(Atom::new(8, -1))), "O-");
    assert_eq!(v.type_name(30), "other");
    assert_eq!(v.atom_type(Atom::new(8, 2)), 30);
    assert_eq!(v.atom_type(Atom::new(14, 0)), 30);
    assert_eq!(v.atom_of_type(30), None);
    for t in 0..30 {
        assert_eq!(v.atom_type(v.atom_of_type(t).unwrap()), t);
    }
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.starts_with("[\"C\",\"N\",\"O\""), "{json}");
    let back: AtomVocab = serde_json::from_str(&json).unwrap();
    assert_eq!(back, v);
    assert!(AtomVocab::from_names(&["C", "other", "N"]).is_err());
    assert!(AtomVocab::from_names(&["Q"]).is_err());
    assert_eq!(AtomVocab::from_names(&["S+2", "O-"]).unwrap().atoms(), &[Atom::new(16, 2), Atom::new(8, -1)]);

    let m = mol("C[N+](=O)[O-]");
    let g = m.to_small_graph(&v);
    assert_eq!(g.node_types, vec![0, 11, 2, 22]);
    let m2 = Molecule::from_small_graph(&g, &v).unwrap();
    assert_eq!(canonical_smiles(&m2), canonical_smiles(&m));
    let mut bad = g.clone();
    bad.node_types[0] = 30;
    assert_eq!(Molecule::from_small_graph(&bad, &v), Err(GraphToMolError::OtherAtom { node: 0 }));
    let mut bad = g.clone();
    bad.edges[0].2 = 3;
    assert!(matches!(Molecule::from_small_graph(&bad, &v), Err(GraphToMolError::BadBondType { edge: 0, ty: 3 })));
    let mut bad = g;
    bad.edges.push((0, 9, 0));
    assert!(matches!(Molecule::from_small_graph(&bad, &v), Err(GraphToMolError::BadEdge { .. })));
    assert_eq!(BondType::from_index(2), Some(BondType::Triple));
    assert_eq!(BondType::from_index(3), None);
    assert_eq!(BondType::Double.order(), 2);
}

#[test]
fn smiles_file_reports_failures_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mols.csv");
    std::fs::write(&p, "smiles,score\nCCO,1.0\n\nc1ccccc1,2\nnot_a_smiles,3\nC1CC,4\n[NH4+]\n").unwrap();
    let set = read_smiles_file(&p, None).unwrap();
    assert_eq!(set.smiles, vec!["CCO", "c1ccccc1", "[NH4+]"]);
    assert_eq!(set.lines, vec![2, 4, 7]);
    assert_eq!(set.failures.iter().map(|f| f.line).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(set.failures[0].smiles, "not_a_smiles");
    assert!(set.failures[1].reason.contains("ring"), "{}", set.failures[1].reason);
    let set = read_smiles_file(&p, Some(2)).unwrap();
    assert_eq!(set.len(), 2);
    // gzip, no header.
    let gz = dir.path().join("mols.smi.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, b"CC\nC(\nCN\n").unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let set = read_smiles_file(&gz, None).unwrap();
    assert_eq!(set.smiles, vec!["CC", "CN"]);
    assert_eq!(set.failures[0].line, 2);
    assert!(read_smiles_file(&dir.path().join("missing.csv"), None).is_err());
}

/// Parse, check valence, round-trip and permutation invariance on a set.
fn check_dataset(set: &SmilesSet, permutations: usize, seed: u64) {
    let mut rng = seeded(seed);
    for ((m, s), line) in set.molecules.iter().zip(&set.smiles).zip(&set.lines) {
        if let Err(e) = m.check_valence() {
            panic!("line {line} {s}: {e}");
        }
        assert!(m.is_valid(), "line {line} {s}");
        let c = canonical_smiles(m);
        let back = parse_smiles(&c).unwrap_or_else(|e| panic!("line {line} {s} -> {c}: {e}"));
        assert_eq!(canonical_smiles(&back), c, "line {line} {s}");
        let w = write_smiles(m);
        let back = parse_smiles(&w).unwrap_or_else(|e| panic!("line {line} {s} -> {w}: {e}"));
        assert_eq!(canonical_smiles(&back), c, "line {line} {s} written {w}");
        assert_eq!(back.implicit_hydrogens().iter().map(|&h| h as u32).sum::<u32>(), m.implicit_hydrogens().iter().map(|&h| h as u32).sum::<u32>());
        let mut order: Vec<usize> = (0..m.num_atoms()).collect();
        // Another Kekulé structure of the same molecule has the same string.
        let deloc = canonical::delocalised_bonds(m, &m.ring_bonds());
        if deloc.iter().any(|&d| d) {
            order.shuffle(&mut rng);
            let k = canonical::rekekulise(m, &deloc, &order);
            assert!(k.is_valid(), "line {line} {s}");
            assert_eq!(canonical_smiles(&k), c, "line {line} {s}: Kekulé form {k}");
        }
        for _ in 0..permutations {
            order.shuffle(&mut rng);
            assert_eq!(canonical_smiles(&m.permuted(&order)), c, "line {line} {s}: permutation {order:?}");
        }
    }
}

#[test]
fn qm9_parses_validates_and_canonicalises() {
    let Some(p) = data_file("qm9/qm9.csv") else { return };
    let all = read_smiles_file(&p, None).unwrap();
    assert!(all.failures.is_empty(), "{:?}", &all.failures[..all.failures.len().min(5)]);
    assert_eq!(all.len(), 133_885);
    assert_eq!(all.lines[0], 2);
    let bad: Vec<&String> = all.molecules.iter().zip(&all.smiles).filter(|(m, _)| m.check_valence().is_err()).map(|(_, s)| s).collect();
    assert!(bad.is_empty(), "{} invalid, e.g. {:?}", bad.len(), &bad[..bad.len().min(5)]);
    // Round trips and permutations on a stride sample across the whole file.
    let stride = all.len() / 5000;
    let sample = SmilesSet {
        molecules: all.molecules.iter().step_by(stride).cloned().collect(),
        smiles: all.smiles.iter().step_by(stride).cloned().collect(),
        lines: all.lines.iter().step_by(stride).copied().collect(),
        failures: Vec::new(),
        path: p,
    };
    check_dataset(&sample, 5, 9);
}

#[test]
fn moses_parses_validates_and_canonicalises() {
    let Some(p) = data_file("moses/test.csv.gz") else { return };
    let set = read_smiles_file(&p, Some(3000)).unwrap();
    assert!(set.failures.is_empty(), "{:?}", &set.failures[..set.failures.len().min(5)]);
    assert_eq!(set.len(), 3000);
    check_dataset(&set, 5, 11);
}

/// The whole of QM9 and MOSES test (round trips on 30,000 of the latter) (slow in debug builds:
/// `cargo test -p autoglm --lib chem -- --ignored`).
#[test]
#[ignore]
fn full_datasets_round_trip() {
    if let Some(p) = data_file("qm9/qm9.csv") {
        let set = read_smiles_file(&p, None).unwrap();
        assert!(set.failures.is_empty());
        check_dataset(&set, 2, 5);
    }
    if let Some(p) = data_file("moses/test.csv.gz") {
        let mut set = read_smiles_file(&p, None).unwrap();
        assert!(set.failures.is_empty(), "{:?}", &set.failures[..set.failures.len().min(5)]);
        assert_eq!(set.len(), 176_074);
        let bad: Vec<&String> = set.molecules.iter().zip(&set.smiles).filter(|(m, _)| !m.is_valid()).map(|(_, s)| s).collect();
        assert!(bad.is_empty(), "{} invalid, e.g. {:?}", bad.len(), &bad[..bad.len().min(5)]);
        set.molecules.truncate(30_000);
        check_dataset(&set, 2, 6);
    }
}

#[test]
fn records_are_counted_and_sampled_without_parsing_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.csv");
    std::fs::write(&p, "SMILES\nCCO\n\nnot(a)smiles\nc1ccccc1\nC#N\n").unwrap();
    assert_eq!(count_smiles_records(&p).unwrap(), 4);
    // keep records 0 and 2: the unparseable record 1 is never parsed, so it is no failure
    let set = read_smiles_records(&p, None, Some(&mut |r| r % 2 == 0)).unwrap();
    assert_eq!(set.lines, vec![2, 5]);
    assert!(set.failures.is_empty());
    let all = read_smiles_file(&p, None).unwrap();
    assert_eq!(all.failures.len(), 1);
    assert_eq!(all.failures[0].line, 4);
}
