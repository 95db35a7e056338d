//! Reading SMILES files (plain or gzip).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::smiles::parse_smiles;
use super::Molecule;

/// A line of a SMILES file that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmilesFailure {
    /// 1-based line number in the file.
    pub line: usize,
    /// The SMILES field of that line.
    pub smiles: String,
    /// Why it failed.
    pub reason: String,
}

/// The molecules of a SMILES file, with the lines that failed.
#[derive(Clone, Debug, Default)]
pub struct SmilesSet {
    pub molecules: Vec<Molecule>,
    /// The SMILES field each molecule was read from.
    pub smiles: Vec<String>,
    /// 1-based file line of each molecule.
    pub lines: Vec<usize>,
    pub failures: Vec<SmilesFailure>,
    pub path: PathBuf,
}

impl SmilesSet {
    /// Number of molecules read.
    pub fn len(&self) -> usize {
        self.molecules.len()
    }

    /// Whether no molecule was read.
    pub fn is_empty(&self) -> bool {
        self.molecules.is_empty()
    }
}

/// Read a SMILES file: one molecule per line, the SMILES in the first
/// comma-separated field (surrounding whitespace and double quotes removed;
/// anything after whitespace inside the field, such as a name, is ignored).
///
/// A first line whose first field is `smiles` (any case) is a header. Files
/// ending in `.gz` are gunzipped. Blank lines are skipped. Lines that do not
/// parse are collected in [`SmilesSet::failures`] with their line numbers.
/// With `limit`, reading stops after that many molecules.
pub fn read_smiles_file(path: &Path, limit: Option<usize>) -> crate::Result<SmilesSet> {
    read_smiles_records(path, limit, None)
}

/// Data records (non-blank lines after the header) of a SMILES file, without parsing them.
pub fn count_smiles_records(path: &Path) -> crate::Result<usize> {
    let mut n = 0;
    read_smiles_records(
        path,
        None,
        Some(&mut |_| {
            n += 1;
            false
        }),
    )?;
    Ok(n)
}

/// [`read_smiles_file`] keeping only the records (0-based, counted over
/// non-blank lines after the header) for which `keep` says so; the others
/// are not parsed.
pub fn read_smiles_records(path: &Path, limit: Option<usize>, mut keep: Option<&mut dyn FnMut(usize) -> bool>) -> crate::Result<SmilesSet> {
    let mut record = 0usize;
    let file = File::open(path).map_err(|e| crate::Error::io("open", path, e))?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read> = if gz { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
    let mut reader = BufReader::new(reader);
    let mut set = SmilesSet { path: path.to_path_buf(), ..SmilesSet::default() };
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        if limit.is_some_and(|l| set.molecules.len() >= l) {
            break;
        }
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(|e| crate::Error::io("read", path, e))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        let field = text.split(',').next().unwrap_or("").trim().trim_matches('"').trim();
        let field = field.split_whitespace().next().unwrap_or("");
        if line_no == 1 && field.eq_ignore_ascii_case("smiles") {
            continue;
        }
        if text.trim().is_empty() {
            continue;
        }
        record += 1;
        if let Some(k) = keep.as_mut() {
            if !k(record - 1) {
                continue;
            }
        }
        if field.is_empty() {
            set.failures.push(SmilesFailure { line: line_no, smiles: String::new(), reason: "empty SMILES field".to_string() });
            continue;
        }
        match parse_smiles(field) {
            Ok(m) => {
                set.molecules.push(m);
                set.smiles.push(field.to_string());
                set.lines.push(line_no);
            }
            Err(e) => set.failures.push(SmilesFailure { line: line_no, smiles: field.to_string(), reason: e.to_string() }),
        }
    }
    Ok(set)
}
