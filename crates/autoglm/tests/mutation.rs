//! Seeded mutation harness: a standing defence for "no input may crash it,
//! make it lie, or be silently ignored".
//!
//! Every real-format fixture (Planetoid converted and raw, a `csv:` folder, TU,
//! a run file, a model checkpoint) is mutated many times with a seeded ChaCha
//! generator (truncation, bit flips, huge / negative / non-finite numbers,
//! other valid numbers, empty files, a byte order mark, control bytes, CRLF,
//! trailing blank lines, reordered edge lines, swapped and deleted files) and
//! loaded in-process under a 256 MiB memory budget with a counting allocator.
//! For every mutant:
//!
//! * no panic, no single allocation above 512 MiB, live bytes bounded;
//! * a clean load, or an error naming the mutated file (the missing file for a
//!   deletion, either file for a swap);
//! * a meaning-preserving mutation (CRLF, trailing blank lines, reordered edge
//!   lines, a BOM) loads the same dataset as the original;
//! * a value-changing mutation (a number replaced by another valid number)
//!   gives an error or a different dataset, never the original one;
//! * nothing non-finite is loaded as a feature value;
//! * at least a quarter of each format's mutants get past the header (load,
//!   or fail beyond line 1).
//!
//! The default run does a little over 100,000 mutants; `AUTOGLM_MUTATION_LONG=1`
//! runs ten times more, `AUTOGLM_MUTATION_COUNT=N` sets the mutants per format
//! (for quick local runs), `AUTOGLM_MUTATION_FORMAT` runs one format (`tu`,
//! `csv`, ...) and `AUTOGLM_MUTATION_SEED` sets the base seed. A failing
//! mutant is printed with its format, index and mutation, and is reproduced by
//! the same seed.

use autoglm::data::csv::{load_csv_with_info, CsvOptions};
use autoglm::data::limits::set_max_memory;
use autoglm::data::planetoid::{load_planetoid, PlanetoidSource};
use autoglm::data::tu::{load_tu_encoded, read_tu_raw, TuOptions};
use autoglm::data::{Features, NodeDataset};
use autoglm::rng::{derive, GlmRng, Rng};
use autoglm::run::{CheckpointMeta, RunFile, META_VERSION};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

// ---------------------------------------------------------------------------
// Counting allocator

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE: AtomicUsize = AtomicUsize::new(0);
static MAX_SINGLE: AtomicUsize = AtomicUsize::new(0);

fn note_alloc(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK_LIVE.fetch_max(live, Ordering::Relaxed);
    MAX_SINGLE.fetch_max(size, Ordering::Relaxed);
}

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        note_alloc(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Largest single allocation a mutant may cause.
const MAX_SINGLE_ALLOC: usize = 512 << 20;
/// Largest growth of live bytes during one load.
const MAX_LIVE_GROWTH: usize = 768 << 20;

// ---------------------------------------------------------------------------
// Formats

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One file of a format's fixture.
struct FileSpec {
    /// Path relative to the format's root folder.
    rel: String,
    data: Vec<u8>,
    /// Binary (pickle, safetensors): no text mutations.
    binary: bool,
    /// An edge list whose lines may be reordered (first line kept when it is a header).
    edge_list: bool,
}

impl FileSpec {
    fn name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or(&self.rel)
    }
}

type Loader = fn(&Path) -> autoglm::Result<String>;

struct Format {
    name: &'static str,
    root: tempfile::TempDir,
    files: Vec<FileSpec>,
    load: Loader,
    /// Files whose lines are permuted together with an edge list (TU edge labels).
    companions: Vec<(usize, usize)>,
    /// A safetensors checkpoint: number mutations go into its metadata.
    checkpoint: bool,
    /// Relative weight of this format in the mutant budget.
    weight: usize,
}

impl Format {
    fn new(name: &'static str, files: Vec<FileSpec>, load: Loader) -> Format {
        let root = temp_root();
        for f in &files {
            let p = root.path().join(&f.rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &f.data).unwrap();
        }
        Format { name, root, files, load, companions: vec![], checkpoint: false, weight: 1 }
    }

    fn path(&self, i: usize) -> PathBuf {
        self.root.path().join(&self.files[i].rel)
    }

    fn restore(&self, i: usize) {
        std::fs::write(self.path(i), &self.files[i].data).unwrap();
    }
}

/// A temporary folder, in memory (`/dev/shm`) where there is one: rewriting a
/// file on ext4 after truncating it flushes it to disk (`auto_da_alloc`),
/// which made each mutant cost milliseconds.
fn temp_root() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("temp dir")
}

fn read_fixture_dir(dir: &Path, prefix: &str, skip: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| !skip.contains(&p.file_name().unwrap().to_str().unwrap()))
        .map(|p| (format!("{prefix}{}", p.file_name().unwrap().to_str().unwrap()), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn text_files(files: Vec<(String, Vec<u8>)>, edge_lists: &[&str]) -> Vec<FileSpec> {
    files
        .into_iter()
        .map(|(rel, data)| {
            let edge_list = edge_lists.iter().any(|e| rel.ends_with(e));
            FileSpec { rel, data, binary: false, edge_list }
        })
        .collect()
}

/// Canonical text of a node dataset: nodes, sorted (src, dst, weight) edges,
/// feature shape and values, labels, classes, split. Err when it holds a
/// non-finite feature (a lie) .
fn node_digest(d: &NodeDataset, extra: &str) -> std::result::Result<String, String> {
    let g = &d.graph;
    let w = g.edge_weight();
    let mut edges: Vec<(usize, usize, u32)> = g.edges().enumerate().map(|(e, (s, t))| (s, t, w.map_or(0, |w| w[e].to_bits()))).collect();
    edges.sort_unstable();
    let x = d.x.to_dense();
    if let Some(v) = x.iter().find(|v| !v.is_finite()) {
        return Err(format!("loaded a non-finite feature value {v}"));
    }
    if let Some(v) = w.and_then(|w| w.iter().find(|v| !v.is_finite())) {
        return Err(format!("loaded a non-finite edge weight {v}"));
    }
    let kind = match d.x {
        Features::Dense { .. } => "dense",
        Features::Sparse(_) => "sparse",
    };
    let xb: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
    Ok(format!(
        "n={} edges={edges:?} x={kind} {}x{} {xb:?} y={:?} c={} split={:?} {extra}",
        g.num_nodes(),
        d.x.num_rows(),
        d.x.num_cols(),
        d.y,
        d.num_classes,
        d.split
    ))
}

/// A loader's result: `Ok(digest)`; a lie (non-finite value loaded) is an
/// `Ok` starting with `LIE:`.
fn digest_or_lie(r: std::result::Result<String, String>) -> String {
    r.unwrap_or_else(|lie| format!("LIE: {lie}"))
}

fn load_planetoid_converted(root: &Path) -> autoglm::Result<String> {
    let d = load_planetoid(root, "tiny", PlanetoidSource::Converted)?;
    Ok(digest_or_lie(node_digest(&d, "")))
}

fn load_planetoid_raw(root: &Path) -> autoglm::Result<String> {
    let d = load_planetoid(root, "tiny", PlanetoidSource::Raw)?;
    Ok(digest_or_lie(node_digest(&d, "")))
}

fn load_csv_folder(root: &Path) -> autoglm::Result<String> {
    let opts = CsvOptions::from_folder(&root.join("csv_tiny"))?;
    let (d, info) = load_csv_with_info(&opts)?;
    Ok(digest_or_lie(node_digest(&d, &format!("{info:?}"))))
}

fn load_tu_tiny(root: &Path) -> autoglm::Result<String> {
    let raw = read_tu_raw(root, "TINY")?;
    let mut edges: Vec<(usize, usize, Vec<i64>)> =
        (0..raw.src.len()).map(|i| (raw.src[i], raw.dst[i], raw.edge_labels.as_ref().map_or(vec![], |t| t.row(i).to_vec()))).collect();
    edges.sort();
    if let Some(v) = raw.node_attributes.as_ref().and_then(|t| t.data.iter().find(|v| !v.is_finite())) {
        return Ok(format!("LIE: loaded a non-finite node attribute {v}"));
    }
    let attrs: Option<Vec<u32>> = raw.node_attributes.as_ref().map(|t| t.data.iter().map(|v| v.to_bits()).collect());
    let mut out = format!(
        "raw n={} edges={edges:?} gi={:?} gl={:?} graphs={} nl={:?} na={attrs:?}",
        raw.num_nodes, raw.graph_indicator, raw.graph_labels, raw.graphs, raw.node_labels
    );
    let opts = TuOptions::default().with_node_attributes(true);
    let (ds, enc) = load_tu_encoded(root, "TINY", &opts, None)?;
    write!(out, " | f={} c={} enc={enc:?}", ds.num_node_features, ds.num_classes).unwrap();
    for s in &ds.graphs {
        if s.x.iter().any(|v| !v.is_finite()) {
            return Ok("LIE: a non-finite node feature".into());
        }
        let mut e: Vec<(usize, usize)> = s.graph.edges().collect();
        e.sort_unstable();
        let xb: Vec<u32> = s.x.iter().map(|v| v.to_bits()).collect();
        write!(out, " [{} {e:?} {xb:?} {}]", s.graph.num_nodes(), s.y).unwrap();
    }
    Ok(out)
}

fn load_run_file(root: &Path) -> autoglm::Result<String> {
    let f = RunFile::load(Some(&root.join("run.toml")))?;
    Ok(format!("{f:?}"))
}

fn load_checkpoint(root: &Path) -> autoglm::Result<String> {
    let path = root.join("model.safetensors");
    let ck = autoglm::checkpoint::load(&path)?;
    let meta = CheckpointMeta::from_checkpoint(&path, &ck)?;
    let mut out = format!("{meta:?} buffers={:?} kind={} v={}", ck.buffers, ck.kind, ck.version);
    for (name, t) in &ck.tensors {
        let v: Vec<u32> = t.flatten_all()?.to_vec1::<f32>()?.iter().map(|v| v.to_bits()).collect();
        write!(out, " {name}{:?}={v:?}", t.dims()).unwrap();
    }
    Ok(out)
}

const RUN_TOML: &str = "[run]\ntask = \"node\"\ndataset = \"cora\"\nmodel = \"gcn\"\nruns = 3\nseed = 7\n\n[train]\nepochs = 200\npatience = 50\n\n[train.optimizer]\nkind = \"adam\"\nlr = 0.01\nweight_decay = 0.0005\n\n[train.model]\nmodel = \"gcn\"\nhidden = 16\ndropout = 0.5\n";

fn checkpoint_bytes() -> Vec<u8> {
    use autoglm::nn::{GcnConvConfig, Params};
    let p = Params::new(3);
    GcnConvConfig::new(5, 3).init(&p.pp("convs.0")).expect("gcn layer");
    let meta = CheckpointMeta {
        model_options: serde_json::Value::Null,
        version: META_VERSION,
        task: "node".into(),
        model: "gcn".into(),
        dataset: "cora".into(),
        in_dim: 5,
        num_classes: Some(3),
        train: serde_json::json!({"epochs": 200, "patience": 50, "optimizer": {"kind": "adam", "lr": 0.01, "weight_decay": 0.0005}, "model": {"model": "gcn", "hidden": 16, "dropout": 0.5}}),
        encoding: serde_json::json!({"num_nodes": 8}),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    autoglm::checkpoint::save(&path, &p, &meta.to_json()).expect("save checkpoint");
    std::fs::read(&path).unwrap()
}

fn formats() -> Vec<Format> {
    let fx = fixtures();
    let tiny = fx.join("planetoid_tiny/tiny");
    let mut out = Vec::new();

    let conv = read_fixture_dir(&tiny, "tiny/", &[]);
    out.push(Format::new("planetoid-converted", text_files(conv, &["edges.csv"]), load_planetoid_converted));

    let raw: Vec<FileSpec> =
        read_fixture_dir(&tiny.join("raw"), "tiny/raw/", &[]).into_iter().map(|(rel, data)| FileSpec { rel, data, binary: true, edge_list: false }).collect();
    out.push(Format::new("planetoid-raw", raw, load_planetoid_raw));

    let csv = read_fixture_dir(&fx.join("csv_tiny"), "csv_tiny/", &["README.md"]);
    out.push(Format::new("csv", text_files(csv, &["edges.csv"]), load_csv_folder));

    let tu = read_fixture_dir(&fx.join("tu/TINY"), "TINY/", &["README.md"]);
    let mut f = Format::new("tu", text_files(tu, &["TINY_A.txt"]), load_tu_tiny);
    let a = f.files.iter().position(|s| s.rel.ends_with("_A.txt")).unwrap();
    let el = f.files.iter().position(|s| s.rel.ends_with("_edge_labels.txt")).unwrap();
    f.companions.push((a, el));
    out.push(f);

    let run = vec![FileSpec { rel: "run.toml".into(), data: RUN_TOML.as_bytes().to_vec(), binary: false, edge_list: false }];
    let mut f = Format::new("run-file", run, load_run_file);
    f.weight = 1;
    out.push(f);

    let ck = vec![FileSpec { rel: "model.safetensors".into(), data: checkpoint_bytes(), binary: true, edge_list: false }];
    let mut f = Format::new("checkpoint", ck, load_checkpoint);
    f.checkpoint = true;
    out.push(f);
    out
}

// ---------------------------------------------------------------------------
// Mutations

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Truncate,
    BitFlip,
    Huge,
    Negative,
    NanInf,
    OtherNumber,
    Empty,
    Bom,
    Control,
    Crlf,
    Trailing,
    Reorder,
    Swap,
    Delete,
}

const ALL_KINDS: [Kind; 14] = [
    Kind::Truncate,
    Kind::BitFlip,
    Kind::Huge,
    Kind::Negative,
    Kind::NanInf,
    Kind::OtherNumber,
    Kind::Empty,
    Kind::Bom,
    Kind::Control,
    Kind::Crlf,
    Kind::Trailing,
    Kind::Reorder,
    Kind::Swap,
    Kind::Delete,
];

/// What the loaded result must be compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oracle {
    /// Only: no panic, bounded memory, error names the file.
    None,
    /// Must load, and equal the original.
    Same,
    /// Must fail, or differ from the original.
    Differ,
}

/// One mutant: files to write and delete, and what to expect.
struct Mutant {
    desc: String,
    writes: Vec<(usize, Vec<u8>)>,
    deletes: Vec<usize>,
    /// File names an error may name.
    names: Vec<String>,
    oracle: Oracle,
    /// No line of any file was left to read (empty or deleted file).
    headless: bool,
}

/// Byte ranges of number tokens (`12`, `0.5`, `1e-4`) not glued to a word.
fn number_tokens(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let word_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.');
        if !b[i].is_ascii_digit() || word_before {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i + 1 < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                i = j;
            }
        }
        if i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
            // part of a word such as `3rd`
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        out.push((s, i));
    }
    out
}

/// Replace a random number token of `text` according to `kind`; None when it has none.
fn mutate_number(text: &[u8], kind: Kind, rng: &mut GlmRng) -> Option<(Vec<u8>, String)> {
    let toks = number_tokens(text);
    if toks.is_empty() {
        return None;
    }
    let (s, e) = toks[rng.gen_range(0..toks.len())];
    let old = std::str::from_utf8(&text[s..e]).unwrap().to_string();
    let new = match kind {
        Kind::Huge => {
            ["99999999999", "1e39", "18446744073709551615", "18446744073709551616", "9223372036854775808", "4294967296"][rng.gen_range(0..6)].to_string()
        }
        Kind::Negative => {
            if rng.gen_bool(0.5) {
                format!("-{old}")
            } else {
                "-1".to_string()
            }
        }
        Kind::NanInf => ["nan", "NaN", "inf", "-inf", "infinity", "+inf"][rng.gen_range(0..6)].to_string(),
        Kind::OtherNumber => {
            if old.contains(['.', 'e', 'E']) {
                let v: f64 = old.parse().unwrap();
                let choices = ["0.25", "1.5", "2.0", "3.75", "0.125", "7.5"];
                loop {
                    let c = choices[rng.gen_range(0..choices.len())];
                    if (c.parse::<f64>().unwrap() - v).abs() > 1e-3 * v.abs().max(1.0) {
                        break c.to_string();
                    }
                }
            } else {
                let v: u64 = old.parse().unwrap_or(u64::MAX);
                loop {
                    let c: u64 = rng.gen_range(0..10);
                    if c != v {
                        break c.to_string();
                    }
                }
            }
        }
        _ => unreachable!(),
    };
    let mut out = text[..s].to_vec();
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&text[e..]);
    Some((out, format!("'{old}' at byte {s} -> '{new}'")))
}

/// Rebuild a safetensors checkpoint with its `autoglm.meta` text replaced by `f(meta)`.
fn reserialize_meta(bytes: &[u8], f: impl FnOnce(&str) -> Option<(String, String)>) -> Option<(Vec<u8>, String)> {
    use safetensors::tensor::TensorView;
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).ok()?;
    let mut meta = header.metadata().clone()?;
    let (new_meta, desc) = f(meta.get("autoglm.meta")?)?;
    meta.insert("autoglm.meta".into(), new_meta);
    let st = safetensors::SafeTensors::deserialize(bytes).ok()?;
    let views: Vec<(String, TensorView<'_>)> =
        st.tensors().into_iter().map(|(n, v)| (n, TensorView::new(v.dtype(), v.shape().to_vec(), v.data()).unwrap())).collect();
    Some((safetensors::serialize(views, Some(meta)).ok()?, desc))
}

fn split_lines(b: &[u8]) -> Vec<&[u8]> {
    let body = b.strip_suffix(b"\n").unwrap_or(b);
    body.split(|&c| c == b'\n').collect()
}

fn join_lines(lines: &[&[u8]], trailing_newline: bool) -> Vec<u8> {
    let mut out = lines.join(&b'\n');
    if trailing_newline {
        out.push(b'\n');
    }
    out
}

fn is_header_line(l: &[u8]) -> bool {
    l.iter().any(|c| c.is_ascii_alphabetic())
}

fn applicable(fmt: &Format, kind: Kind) -> bool {
    let any_text = fmt.files.iter().any(|f| !f.binary);
    match kind {
        Kind::Huge | Kind::Negative | Kind::NanInf | Kind::OtherNumber => any_text || fmt.checkpoint,
        Kind::Bom | Kind::Crlf | Kind::Trailing => any_text,
        Kind::Reorder => fmt.files.iter().any(|f| f.edge_list),
        Kind::Swap => fmt.files.len() >= 2,
        _ => true,
    }
}

fn make_mutant(fmt: &Format, kind: Kind, rng: &mut GlmRng) -> Option<Mutant> {
    let n = fmt.files.len();
    let pick = |rng: &mut GlmRng, want: &dyn Fn(&FileSpec) -> bool| -> Option<usize> {
        let c: Vec<usize> = (0..n).filter(|&i| want(&fmt.files[i])).collect();
        (!c.is_empty()).then(|| c[rng.gen_range(0..c.len())])
    };
    let one = |i: usize, data: Vec<u8>, desc: String, oracle: Oracle| Mutant {
        desc: format!("{kind:?} {}: {desc}", fmt.files[i].rel),
        writes: vec![(i, data)],
        deletes: vec![],
        names: vec![fmt.files[i].name().to_string()],
        oracle,
        headless: false,
    };
    Some(match kind {
        Kind::Truncate => {
            let i = pick(rng, &|_| true)?;
            let d = &fmt.files[i].data;
            let at = rng.gen_range(0..d.len().max(1));
            let mut m = one(i, d[..at].to_vec(), format!("at byte {at} of {}", d.len()), Oracle::None);
            m.headless = at == 0;
            m
        }
        Kind::BitFlip => {
            let i = pick(rng, &|f| !f.data.is_empty())?;
            let mut d = fmt.files[i].data.clone();
            let flips = rng.gen_range(1..=3);
            let mut at = vec![];
            for _ in 0..flips {
                let p = rng.gen_range(0..d.len());
                let b = rng.gen_range(0..8);
                d[p] ^= 1 << b;
                at.push((p, b));
            }
            one(i, d, format!("(byte, bit) {at:?}"), Oracle::None)
        }
        Kind::Huge | Kind::Negative | Kind::NanInf | Kind::OtherNumber => {
            let oracle = if kind == Kind::OtherNumber { Oracle::Differ } else { Oracle::None };
            if fmt.checkpoint {
                let (data, desc) =
                    reserialize_meta(&fmt.files[0].data, |m| mutate_number(m.as_bytes(), kind, rng).map(|(b, d)| (String::from_utf8(b).unwrap(), d)))?;
                one(0, data, format!("metadata {desc}"), oracle)
            } else {
                let i = pick(rng, &|f| !f.binary && !number_tokens(&f.data).is_empty())?;
                let (data, desc) = mutate_number(&fmt.files[i].data, kind, rng)?;
                one(i, data, desc, oracle)
            }
        }
        Kind::Empty => {
            let i = pick(rng, &|_| true)?;
            let mut m = one(i, vec![], String::new(), Oracle::None);
            m.headless = true;
            m
        }
        Kind::Bom => {
            let i = pick(rng, &|f| !f.binary)?;
            let mut d = b"\xEF\xBB\xBF".to_vec();
            d.extend_from_slice(&fmt.files[i].data);
            one(i, d, String::new(), Oracle::Same)
        }
        Kind::Control => {
            let i = pick(rng, &|_| true)?;
            let mut d = fmt.files[i].data.clone();
            let k = rng.gen_range(1..=3);
            let mut at = vec![];
            for _ in 0..k {
                let p = rng.gen_range(0..=d.len());
                let c = [0u8, 1, 7, 8, 0x0b, 0x0c, 0x1b, 0x7f, b'\r'][rng.gen_range(0..9)];
                d.insert(p, c);
                at.push((p, c));
            }
            one(i, d, format!("(byte, value) {at:?}"), Oracle::None)
        }
        Kind::Crlf => {
            let i = pick(rng, &|f| !f.binary)?;
            let mut d = Vec::new();
            for &c in &fmt.files[i].data {
                if c == b'\n' {
                    d.push(b'\r');
                }
                d.push(c);
            }
            one(i, d, String::new(), Oracle::Same)
        }
        Kind::Trailing => {
            let i = pick(rng, &|f| !f.binary)?;
            let k = rng.gen_range(1..=3);
            let mut d = fmt.files[i].data.clone();
            if !d.ends_with(b"\n") {
                d.push(b'\n');
            }
            d.extend(std::iter::repeat_n(b'\n', k));
            one(i, d, format!("{k} blank lines"), Oracle::Same)
        }
        Kind::Reorder => {
            let i = pick(rng, &|f| f.edge_list)?;
            let data = &fmt.files[i].data;
            let lines = split_lines(data);
            let head = usize::from(lines.first().is_some_and(|l| is_header_line(l)));
            let mut perm: Vec<usize> = (head..lines.len()).collect();
            for k in (1..perm.len()).rev() {
                perm.swap(k, rng.gen_range(0..=k));
            }
            let apply = |lines: &[&[u8]], trailing: bool| -> Vec<u8> {
                let mut out: Vec<&[u8]> = lines[..head].to_vec();
                out.extend(perm.iter().map(|&p| lines[p]));
                join_lines(&out, trailing)
            };
            let mut m = one(i, apply(&lines, data.ends_with(b"\n")), format!("lines {perm:?}"), Oracle::Same);
            for &(a, c) in &fmt.companions {
                if a == i {
                    let cd = &fmt.files[c].data;
                    let cl = split_lines(cd);
                    if cl.len() == lines.len() {
                        m.writes.push((c, apply(&cl, cd.ends_with(b"\n"))));
                    }
                }
            }
            m
        }
        Kind::Swap => {
            let a = rng.gen_range(0..n);
            let b = (a + rng.gen_range(1..n)) % n;
            Mutant {
                desc: format!("Swap {} <-> {}", fmt.files[a].rel, fmt.files[b].rel),
                writes: vec![(a, fmt.files[b].data.clone()), (b, fmt.files[a].data.clone())],
                deletes: vec![],
                names: vec![fmt.files[a].name().to_string(), fmt.files[b].name().to_string()],
                oracle: Oracle::None,
                headless: false,
            }
        }
        Kind::Delete => {
            let i = rng.gen_range(0..n);
            Mutant {
                desc: format!("Delete {}", fmt.files[i].rel),
                writes: vec![],
                deletes: vec![i],
                names: vec![fmt.files[i].name().to_string()],
                oracle: Oracle::None,
                headless: true,
            }
        }
    })
}

/// A structural mutation stacked on another one (no oracle).
fn stack(fmt: &Format, first: Mutant, rng: &mut GlmRng) -> Mutant {
    let kinds = [Kind::Truncate, Kind::BitFlip, Kind::Control, Kind::Huge, Kind::Crlf, Kind::Bom];
    let kind = kinds[rng.gen_range(0..kinds.len())];
    if !applicable(fmt, kind) || !first.deletes.is_empty() {
        return first;
    }
    let Some((i, data)) = first.writes.first().cloned() else { return first };
    // Apply the second mutation to the first one's output for the same file.
    let tmp = Format { name: fmt.name, root: temp_root(), files: vec![], load: fmt.load, companions: vec![], checkpoint: false, weight: 0 };
    let spec = FileSpec { rel: fmt.files[i].rel.clone(), data, binary: fmt.files[i].binary, edge_list: false };
    let mut tmp = tmp;
    tmp.files.push(spec);
    match make_mutant(&tmp, kind, rng) {
        Some(second) => {
            let mut m = first;
            m.desc = format!("{} + {}", m.desc, second.desc);
            m.writes[0].1 = second.writes.into_iter().next().map_or_else(Vec::new, |w| w.1);
            m.oracle = Oracle::None;
            m.headless = false;
            m
        }
        None => first,
    }
}

// ---------------------------------------------------------------------------
// Running

#[derive(Default, Clone)]
struct Counts {
    mutants: usize,
    loaded: usize,
    errors: usize,
    past_header: usize,
    same_checked: usize,
    differ_checked: usize,
    max_single: usize,
    max_growth: usize,
}

/// The 1-based line an error message gives for file `name` (`.../name:LINE:`).
fn error_line(msg: &str, name: &str) -> Option<usize> {
    let mut rest = msg;
    while let Some(p) = rest.find(name) {
        let after = &rest[p + name.len()..];
        if let Some(num) = after.strip_prefix(':') {
            let digits: String = num.chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && num[digits.len()..].starts_with(':') {
                return digits.parse().ok();
            }
        }
        rest = after;
    }
    None
}

/// Whether an error got past the header of the file it is about.
fn past_header(msg: &str, m: &Mutant) -> bool {
    if m.headless {
        return false;
    }
    if msg.contains("not a safetensors file") {
        return false;
    }
    if let Some(p) = msg.find("pickle byte ") {
        let digits: String = msg[p + 12..].chars().take_while(char::is_ascii_digit).collect();
        return digits.parse::<usize>().is_ok_and(|b| b >= 2);
    }
    match m.names.iter().find_map(|n| error_line(msg, n)) {
        Some(line) => line >= 2,
        None => true,
    }
}

thread_local! {
    /// Whether a mutant is being loaded (its panics are recorded, not printed).
    static IN_CASE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn run_case(fmt: &Format, m: &Mutant) -> (std::thread::Result<autoglm::Result<String>>, usize, usize) {
    for &(i, ref d) in &m.writes {
        std::fs::write(fmt.path(i), d).unwrap();
    }
    for &i in &m.deletes {
        std::fs::remove_file(fmt.path(i)).unwrap();
    }
    let base = LIVE.load(Ordering::Relaxed);
    PEAK_LIVE.store(base, Ordering::Relaxed);
    MAX_SINGLE.store(0, Ordering::Relaxed);
    let root = fmt.root.path();
    IN_CASE.with(|c| c.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (fmt.load)(root)));
    IN_CASE.with(|c| c.set(false));
    let single = MAX_SINGLE.load(Ordering::Relaxed);
    let growth = PEAK_LIVE.load(Ordering::Relaxed).saturating_sub(base);
    for &(i, _) in &m.writes {
        fmt.restore(i);
    }
    for &i in &m.deletes {
        fmt.restore(i);
    }
    (r, single, growth)
}

fn env_usize(key: &str) -> Option<usize> {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn mutated_inputs_never_crash_lie_or_go_unnoticed() {
    // Single-threaded loaders (TU processes graphs with rayon).
    let _ = rayon::ThreadPoolBuilder::new().num_threads(1).build_global();
    set_max_memory(256 << 20);
    let long = std::env::var("AUTOGLM_MUTATION_LONG").is_ok_and(|v| v == "1");
    let seed = env_usize("AUTOGLM_MUTATION_SEED").unwrap_or(20_240_601) as u64;
    let fmts = formats();
    let total_weight: usize = fmts.iter().map(|f| f.weight).sum();
    let total = 102_000 * if long { 10 } else { 1 };
    let per_weight = env_usize("AUTOGLM_MUTATION_COUNT").map_or(total / total_weight, |c| c);

    // Panics are recorded, not printed, while mutants run.
    let panic_msg = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let pm = panic_msg.clone();
    let old_hook = std::sync::Arc::new(std::panic::take_hook());
    let prev = old_hook.clone();
    std::panic::set_hook(Box::new(move |info| {
        if IN_CASE.with(std::cell::Cell::get) {
            *pm.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
        } else {
            prev(info);
        }
    }));

    let start = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let mut nfail = 0usize;
    let mut table: Vec<(&str, Counts, f64)> = Vec::new();
    let live_start = LIVE.load(Ordering::Relaxed);
    let only = std::env::var("AUTOGLM_MUTATION_FORMAT").ok();
    for (fi, fmt) in fmts.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != fmt.name) {
            continue;
        }
        let t0 = Instant::now();
        let original = match (fmt.load)(fmt.root.path()) {
            Ok(d) => d,
            Err(e) => panic!("{}: the unmutated fixture does not load: {e}", fmt.name),
        };
        assert!(!original.starts_with("LIE"), "{}: {original}", fmt.name);
        let kinds: Vec<Kind> = ALL_KINDS.iter().copied().filter(|&k| applicable(fmt, k)).collect();
        let mut rng = derive(seed, fi as u64);
        let mut c = Counts::default();
        let count = per_weight * fmt.weight;
        let mut fail = |msg: String, failures: &mut Vec<String>| {
            nfail += 1;
            if failures.len() < 40 {
                failures.push(msg);
            }
        };
        let mut idx = 0usize;
        while c.mutants < count {
            idx += 1;
            let kind = kinds[rng.gen_range(0..kinds.len())];
            let Some(mut m) = make_mutant(fmt, kind, &mut rng) else { continue };
            if rng.gen_bool(0.1) {
                m = stack(fmt, m, &mut rng);
            }
            c.mutants += 1;
            let (r, single, growth) = run_case(fmt, &m);
            c.max_single = c.max_single.max(single);
            c.max_growth = c.max_growth.max(growth);
            let tag = format!("{} #{idx} [{}]", fmt.name, m.desc);
            if single > MAX_SINGLE_ALLOC {
                fail(format!("{tag}: a single allocation of {single} bytes"), &mut failures);
            }
            if growth > MAX_LIVE_GROWTH {
                fail(format!("{tag}: live bytes grew by {growth}"), &mut failures);
            }
            match r {
                Err(_) => {
                    let msg = panic_msg.lock().unwrap().clone();
                    fail(format!("{tag}: PANIC {msg}"), &mut failures);
                }
                Ok(Ok(d)) => {
                    c.loaded += 1;
                    c.past_header += 1;
                    if d.starts_with("LIE") {
                        fail(format!("{tag}: {d}"), &mut failures);
                    }
                    match m.oracle {
                        Oracle::Same => {
                            c.same_checked += 1;
                            if d != original {
                                fail(format!("{tag}: a meaning-preserving mutation changed the result:\n  was {original}\n  now {d}"), &mut failures);
                            }
                        }
                        Oracle::Differ => {
                            c.differ_checked += 1;
                            if d == original {
                                fail(format!("{tag}: a changed value was silently ignored (same result as the original)"), &mut failures);
                            }
                        }
                        Oracle::None => {}
                    }
                }
                Ok(Err(e)) => {
                    c.errors += 1;
                    let msg = e.to_string();
                    if past_header(&msg, &m) {
                        c.past_header += 1;
                    }
                    if !m.names.iter().any(|n| msg.contains(n.as_str())) {
                        fail(format!("{tag}: the error does not name {:?}: {msg}", m.names), &mut failures);
                    }
                    if m.oracle == Oracle::Same {
                        fail(format!("{tag}: a meaning-preserving mutation failed to load: {msg}"), &mut failures);
                    }
                    if m.oracle == Oracle::Differ {
                        c.differ_checked += 1;
                    }
                }
            }
        }
        table.push((fmt.name, c, t0.elapsed().as_secs_f64()));
    }
    let _ = std::panic::take_hook();
    let live_growth = LIVE.load(Ordering::Relaxed).saturating_sub(live_start);

    let mut s = String::new();
    writeln!(s, "\nmutation harness: seed {seed}, {:.1} s{}", start.elapsed().as_secs_f64(), if long { " (long)" } else { "" }).unwrap();
    writeln!(
        s,
        "{:<20} {:>8} {:>8} {:>8} {:>11} {:>6} {:>6} {:>10} {:>10} {:>7}",
        "format", "mutants", "loaded", "errors", "past header", "same", "differ", "max alloc", "max live+", "secs"
    )
    .unwrap();
    let mut total_mutants = 0;
    for (name, c, secs) in &table {
        total_mutants += c.mutants;
        writeln!(
            s,
            "{:<20} {:>8} {:>8} {:>8} {:>11} {:>6} {:>6} {:>10} {:>10} {:>7.1}",
            name, c.mutants, c.loaded, c.errors, c.past_header, c.same_checked, c.differ_checked, c.max_single, c.max_growth, secs
        )
        .unwrap();
    }
    writeln!(s, "{:<20} {:>8}", "total", total_mutants).unwrap();
    println!("{s}");
    eprintln!("{s}");

    for f in &failures {
        eprintln!("FAIL {f}");
    }
    assert!(failures.is_empty(), "{nfail} mutants failed (first {} printed above)", failures.len());
    assert!(live_growth < 64 << 20, "live bytes grew by {live_growth} over the run");
    for (name, c, _) in &table {
        assert!(4 * c.past_header >= c.mutants, "{name}: only {} of {} mutants got past the header", c.past_header, c.mutants);
        assert!(c.same_checked > 0 || *name == "planetoid-raw" || *name == "checkpoint", "{name}: no meaning-preserving mutant checked");
    }
    if env_usize("AUTOGLM_MUTATION_COUNT").is_none() && only.is_none() {
        assert!(total_mutants >= 100_000 * if long { 10 } else { 1 }, "only {total_mutants} mutants");
    }
}
