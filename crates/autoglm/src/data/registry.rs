//! Datasets by name: [`load_node_dataset`] for the node-classification
//! loaders and [`list_datasets`] for the `autoglm datasets` command.
//!
//! Names: `karate` (the data folder's copy, else the built-in one), any
//! Planetoid folder under the data directory (`cora`, `pubmed`, ... in any
//! letter case: a folder with `raw/ind.<name>.graph` or `edges.csv` +
//! `labels.csv`), and `csv:<folder>` / `csv+undirected:<folder>` for the
//! generic CSV loader ([`CsvOptions::from_folder`]); `csbm:N` is a seeded
//! contextual stochastic block model of `N` nodes ([`super::csbm`]).

use super::csv::{load_csv, CsvOptions};
use super::karate::{load_karate, load_karate_builtin};
use super::planetoid::{find_planetoid_dir, load_planetoid, where_to_put, PlanetoidSource, PLANETOID_NAMES};
use super::NodeDataset;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One entry of [`list_datasets`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatasetInfo {
    /// Name to pass to the loaders (the folder name).
    pub name: String,
    /// `"node"` (node classification), `"graph"` (graph classification) or `"molecules"` (SMILES).
    pub kind: String,
    /// The folder (`<built-in>` for the karate club copy in the library).
    pub path: PathBuf,
    /// One line: sizes and what the files hold.
    pub summary: String,
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

fn is_planetoid_dir(dir: &Path) -> bool {
    let raw_graph = std::fs::read_dir(dir.join("raw"))
        .ok()
        .is_some_and(|rd| rd.filter_map(|e| e.ok()).any(|e| e.file_name().to_str().is_some_and(|f| f.starts_with("ind.") && f.ends_with(".graph"))));
    raw_graph || (dir.join("edges.csv").is_file() && dir.join("labels.csv").is_file())
}

/// Whether `dir/raw/` holds any Planetoid file `ind.*`.
fn has_raw_planetoid_files(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("raw")).ok().is_some_and(|rd| rd.filter_map(|e| e.ok()).any(|e| e.file_name().to_str().is_some_and(|f| f.starts_with("ind."))))
}

/// Load a node-classification dataset by name (see the module docs).
///
/// # Errors
/// [`Error::UnknownName`] listing the available names; [`Error::DatasetNotFound`]
/// for a known Planetoid name whose folder is missing; [`Error::Config`] for a
/// graph-classification or molecule dataset; and the loaders' own errors.
pub fn load_node_dataset(data_dir: &Path, name: &str) -> Result<NodeDataset> {
    let name = name.trim();
    if let Some(folder) = strip_prefix_ci(name, "csv+undirected:") {
        return load_csv(&CsvOptions::from_folder(Path::new(folder))?.undirected(true));
    }
    if let Some(folder) = strip_prefix_ci(name, "csv:") {
        return load_csv(&CsvOptions::from_folder(Path::new(folder))?);
    }
    if let Some(n) = strip_prefix_ci(name, "csbm:") {
        let n: usize = n.trim().replace('_', "").parse().map_err(|_| Error::config("dataset", name, "csbm:N takes a node count, for example csbm:100000"))?;
        return super::csbm::csbm(n);
    }
    if name.eq_ignore_ascii_case("karate") {
        return if data_dir.join("karate").join("edges.csv").is_file() { load_karate(data_dir) } else { load_karate_builtin() };
    }
    let known_planetoid = PLANETOID_NAMES.iter().any(|p| p.eq_ignore_ascii_case(name));
    if let Some(dir) = find_planetoid_dir(data_dir, name) {
        // An incomplete Planetoid folder (some raw file missing) goes to the
        // loader too, whose error names the missing file.
        let partial = has_raw_planetoid_files(&dir) || (known_planetoid && !dir.join(format!("{name}_A.txt")).is_file());
        if is_planetoid_dir(&dir) || partial {
            return load_planetoid(data_dir, name, PlanetoidSource::Auto);
        }
    }
    let all = list_datasets(data_dir);
    if let Some(other) = all.iter().find(|d| d.name.eq_ignore_ascii_case(name) && d.kind != "node") {
        return Err(Error::config("dataset", name, format!("'{}' is a {} dataset ({}), not a node-classification one", other.name, other.kind, other.summary)));
    }
    if known_planetoid {
        return Err(Error::DatasetNotFound {
            name: name.to_string(),
            msg: format!(
                "no folder '{name}' in {}; point --data-dir / AUTOGLM_DATA at the datasets folder, which must hold {}",
                data_dir.display(),
                where_to_put(&data_dir.join(name.to_lowercase()), &name.to_lowercase())
            ),
        });
    }
    let mut known: Vec<String> = all.into_iter().filter(|d| d.kind == "node").map(|d| d.name).collect();
    known.push("csv:<folder>".into());
    known.push("csv+undirected:<folder>".into());
    Err(Error::UnknownName { kind: "node dataset", name: name.to_string(), known })
}

fn count_lines(path: &Path) -> Option<usize> {
    let b = std::fs::read(path).ok()?;
    let n = b.iter().filter(|&&c| c == b'\n').count();
    Some(if b.last().is_some_and(|&c| c != b'\n') { n + 1 } else { n })
}

fn planetoid_summary(dir: &Path) -> String {
    let meta = std::fs::read(dir.join("meta.json")).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let files = match (dir.join("edges.csv").is_file(), dir.join("raw").is_dir()) {
        (true, true) => "raw + converted files",
        (true, false) => "converted files",
        _ => "raw files",
    };
    match meta {
        Some(m) => {
            let g = |k: &str| m.get(k).map(|v| v.to_string()).unwrap_or_else(|| "?".into());
            let feats = if m.get("features_available").and_then(|v| v.as_bool()) == Some(false) {
                format!("{} features (not available: degree one-hot used)", g("num_features"))
            } else {
                format!("{} features", g("num_features"))
            };
            format!(
                "Planetoid citation graph: {} nodes, {} directed edges, {feats}, {} classes, split {}/{}/{} ({files})",
                g("num_nodes"),
                g("num_directed_edges"),
                g("num_classes"),
                g("num_train"),
                g("num_val"),
                g("num_test")
            )
        }
        None => format!("Planetoid citation graph ({files})"),
    }
}

fn tu_summary(dir: &Path, name: &str) -> String {
    let graphs = count_lines(&dir.join(format!("{name}_graph_labels.txt")));
    let mut parts = vec![match graphs {
        Some(n) => format!("TU graph classification: {n} graphs"),
        None => "TU graph classification".to_string(),
    }];
    for (suffix, what) in [("node_labels", "node labels"), ("node_attributes", "node attributes"), ("edge_labels", "edge labels")] {
        if dir.join(format!("{name}_{suffix}.txt")).is_file() {
            parts.push(what.to_string());
        }
    }
    if dir.join("splits").is_dir() {
        parts.push("10-fold splits".into());
    }
    parts.join(", ")
}

/// Every dataset found under `data_dir` (sorted by name), plus the built-in
/// karate club when the folder has none. Recognised: Planetoid folders (node),
/// `karate/` (node), TU folders holding `<NAME>_A.txt` (graph), `qm9/` and
/// folders with `train.csv.gz` such as `moses/` (molecules). A missing or
/// unreadable `data_dir` gives just the built-in entry.
pub fn list_datasets(data_dir: &Path) -> Vec<DatasetInfo> {
    let mut out = Vec::new();
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(data_dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).filter_map(|e| e.file_name().to_str().map(|n| (n.to_string(), e.path()))).collect())
        .unwrap_or_default();
    dirs.sort();
    let mut has_karate = false;
    for (name, path) in dirs {
        let info = |kind: &str, summary: String| DatasetInfo { name: name.clone(), kind: kind.into(), path: path.clone(), summary };
        if name.eq_ignore_ascii_case("karate") && path.join("edges.csv").is_file() {
            has_karate = true;
            let n = count_lines(&path.join("labels.csv")).map_or(0, |n| n.saturating_sub(1));
            let m = count_lines(&path.join("edges.csv")).map_or(0, |n| n.saturating_sub(1));
            out.push(info("node", format!("Zachary's karate club: {n} nodes, {m} undirected weighted edges, 2 classes (club)")));
        } else if is_planetoid_dir(&path) {
            out.push(info("node", planetoid_summary(&path)));
        } else if path.join(format!("{name}_A.txt")).is_file() {
            out.push(info("graph", tu_summary(&path, &name)));
        } else if path.join("qm9.csv").is_file() {
            let n = count_lines(&path.join("qm9.csv")).map_or(0, |n| n.saturating_sub(1));
            out.push(info("molecules", format!("QM9 SMILES: {n} molecules (qm9.csv)")));
        } else if path.join("train.csv.gz").is_file() {
            let files: Vec<&str> = ["train.csv.gz", "test.csv.gz", "test_scaffolds.csv.gz"].into_iter().filter(|f| path.join(f).is_file()).collect();
            out.push(info("molecules", format!("SMILES sets ({})", files.join(", "))));
        }
    }
    if !has_karate {
        out.push(DatasetInfo {
            name: "karate".into(),
            kind: "node".into(),
            path: PathBuf::from("<built-in>"),
            summary: "Zachary's karate club: 34 nodes, 78 undirected weighted edges, 2 classes (club); built into the library".into(),
        });
        out.sort_by(|a, b| a.name.cmp(&b.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn karate_builtin_and_unknown_names() {
        let tmp = tempfile::tempdir().unwrap();
        let d = load_node_dataset(tmp.path(), "Karate").unwrap();
        assert_eq!(d.graph.num_nodes(), 34);
        let e = load_node_dataset(tmp.path(), "nope").unwrap_err();
        assert!(matches!(&e, Error::UnknownName { known, .. } if known.contains(&"karate".to_string())), "{e}");
        assert!(matches!(load_node_dataset(tmp.path(), "cora"), Err(Error::DatasetNotFound { .. })));
        let list = list_datasets(tmp.path());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].path, PathBuf::from("<built-in>"));
        assert_eq!(list_datasets(&tmp.path().join("missing")).len(), 1);
    }

    #[test]
    fn csv_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("g");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("edges.csv"), "src,dst\n0,1\n1,2\n").unwrap();
        let spec = format!("csv:{}", dir.display());
        assert_eq!(load_node_dataset(tmp.path(), &spec).unwrap().graph.num_edges(), 2);
        let spec = format!("CSV+undirected:{}", dir.display());
        let d = load_node_dataset(tmp.path(), &spec).unwrap();
        assert_eq!((d.graph.num_edges(), d.name.as_str()), (4, "g"));
        assert!(load_node_dataset(tmp.path(), "csv:/definitely/not/here").is_err());
    }

    #[test]
    fn incomplete_planetoid_folder_names_the_missing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let raw = tmp.path().join("cora/raw");
        std::fs::create_dir_all(&raw).unwrap();
        for ext in ["x", "tx", "allx", "y", "ty", "ally", "test.index"] {
            std::fs::write(raw.join(format!("ind.cora.{ext}")), b"").unwrap();
        }
        // No ind.cora.graph: the error names that file, not "no folder 'cora'".
        let e = load_node_dataset(tmp.path(), "cora").unwrap_err().to_string();
        assert!(e.contains("ind.cora.graph") && !e.contains("no folder"), "{e}");
        assert!(e.contains("raw") && e.contains("edges.csv"), "{e}");
        // An empty cora folder says what to put there.
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("cora")).unwrap();
        let e = load_node_dataset(tmp.path(), "cora").unwrap_err().to_string();
        assert!(e.contains("ind.cora.") && e.contains("labels.csv"), "{e}");
        // No folder at all: what to put where; no library internals.
        let e = load_node_dataset(&tmp.path().join("none"), "PubMed").unwrap_err().to_string();
        assert!(e.contains("ind.pubmed.") && e.contains("pubmed/raw"), "{e}");
        for internal in ["PlanetoidSource", "fetch_planetoid", "data::"] {
            assert!(!e.contains(internal), "{e}");
        }
    }

    #[test]
    fn scans_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        for d in ["Cora2/raw", "MUTAG", "qm9", "moses", "karate", "empty"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::fs::write(t.join("Cora2/raw/ind.cora2.graph"), b"").unwrap();
        std::fs::write(t.join("MUTAG/MUTAG_A.txt"), "1, 2\n").unwrap();
        std::fs::write(t.join("MUTAG/MUTAG_graph_labels.txt"), "1\n-1\n").unwrap();
        std::fs::write(t.join("qm9/qm9.csv"), "smiles\nC\nN\n").unwrap();
        std::fs::write(t.join("moses/train.csv.gz"), b"").unwrap();
        std::fs::write(t.join("karate/edges.csv"), "src,dst,weight\n0,1,1\n").unwrap();
        std::fs::write(t.join("karate/labels.csv"), "node,label\n0,0\n1,1\n").unwrap();
        let list = list_datasets(t);
        let got: Vec<(&str, &str)> = list.iter().map(|d| (d.name.as_str(), d.kind.as_str())).collect();
        assert_eq!(got, vec![("Cora2", "node"), ("MUTAG", "graph"), ("karate", "node"), ("moses", "molecules"), ("qm9", "molecules")]);
        assert!(list[1].summary.contains("2 graphs"), "{}", list[1].summary);
        assert!(list[4].summary.contains("2 molecules"), "{}", list[4].summary);
        let e = load_node_dataset(t, "mutag").unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
        // The folder's karate is used.
        assert_eq!(load_node_dataset(t, "karate").unwrap().graph.num_nodes(), 2);
    }

    #[test]
    fn shared_folder() {
        let Some(data) = crate::testing::shared_datasets("cora") else {
            return;
        };
        let list = list_datasets(&data);
        for (name, kind) in [
            ("cora", "node"),
            ("pubmed", "node"),
            ("karate", "node"),
            ("MUTAG", "graph"),
            ("IMDB-BINARY", "graph"),
            ("qm9", "molecules"),
            ("moses", "molecules"),
        ] {
            assert!(list.iter().any(|d| d.name == name && d.kind == kind), "{name} missing from {list:?}");
        }
        let cora = list.iter().find(|d| d.name == "cora").unwrap();
        assert!(cora.summary.contains("2708 nodes"), "{}", cora.summary);
        let d = load_node_dataset(&data, "CORA").unwrap();
        assert_eq!(d.graph.num_edges(), 10_556);
        assert_eq!(load_node_dataset(&data, "karate").unwrap().source, data.join("karate"));
    }
}
