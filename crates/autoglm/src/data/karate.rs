//! Zachary's karate club (Zachary 1977): 34 members, 78 weighted friendships,
//! label = the club each member joined after the split (0 = Mr. Hi, 1 = Officer).
//!
//! Files: `edges.csv` (`src,dst,weight`, each undirected edge once) and
//! `labels.csv` (`node,label[,club]`). A copy is built into the library
//! ([`load_karate_builtin`]), so it works without any data folder.
//!
//! The dataset: both directions of every edge with the interaction count as
//! `edge_weight` (156 directed edges); `x` is the 34 x 34 identity (as PyG's
//! `KarateClub`); split: train = for each class its highest-degree member
//! (ties: smallest id), which for Zachary's data is node 0 (Mr. Hi) and node 33
//! (the Officer), val empty, test = everyone else. Deviation from PyG:
//! PyG's `KarateClub` labels are 4 modularity communities; here they are the
//! 2 clubs, as in Zachary's paper and networkx.

use super::features::FeatureFallback;
use super::text::{self, numbered_lines};
use super::{NodeDataset, Split};
use crate::graph::Graph;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

const BUILTIN_EDGES: &str = include_str!("builtin/karate_edges.csv");
const BUILTIN_LABELS: &str = include_str!("builtin/karate_labels.csv");

/// Load `<data_dir>/karate/{edges.csv,labels.csv}`.
///
/// # Errors
/// [`Error::DatasetNotFound`] when a file is missing; [`Error::Parse`] naming
/// the file and line for malformed content or out-of-range ids.
pub fn load_karate(data_dir: &Path) -> Result<NodeDataset> {
    let dir = data_dir.join("karate");
    let (ep, lp) = (dir.join("edges.csv"), dir.join("labels.csv"));
    for p in [&ep, &lp] {
        if !p.is_file() {
            return Err(Error::DatasetNotFound {
                name: "karate".into(),
                msg: format!(
                    "missing {}; the karate folder needs edges.csv and labels.csv (remove the folder to use the copy built into the library)",
                    p.display()
                ),
            });
        }
    }
    from_text(&text::read_text(&ep)?, &ep, &text::read_text(&lp)?, &lp, dir)
}

/// The karate club built into the library (same data as `shared/datasets/karate/`).
///
/// ```
/// let d = autoglm::data::load_karate_builtin().unwrap();
/// assert_eq!((d.graph.num_nodes(), d.graph.num_edges(), d.num_classes), (34, 156, 2));
/// assert_eq!(d.split.unwrap().train, vec![0, 33]);
/// ```
///
/// # Errors
/// None in practice (the built-in files are tested); the `Result` keeps the
/// signature uniform with the other loaders.
pub fn load_karate_builtin() -> Result<NodeDataset> {
    let base = PathBuf::from("<built-in>");
    from_text(BUILTIN_EDGES, &base.join("karate_edges.csv"), BUILTIN_LABELS, &base.join("karate_labels.csv"), base)
}

fn from_text(edges_text: &str, edges_path: &Path, labels_text: &str, labels_path: &Path, source: PathBuf) -> Result<NodeDataset> {
    // Labels: `node,label[,club]`, one row per node.
    let mut rows: Vec<(usize, usize, usize)> = Vec::new();
    for (ln, line) in numbered_lines(labels_text) {
        if line.trim().is_empty() || (rows.is_empty() && text::is_header(line)) {
            continue;
        }
        let mut f = text::fields(line);
        let node = f.next().unwrap_or("");
        let label = f.next().ok_or_else(|| Error::parse(labels_path, Some(ln), "expected 'node,label[,club]'"))?;
        rows.push((
            text::parse_field(node, labels_path, ln, "a node id")?,
            text::parse_field(label, labels_path, ln, "a class id (non-negative integer)")?,
            ln,
        ));
    }
    let num_nodes = rows.len();
    let mut y = vec![usize::MAX; num_nodes];
    for &(node, label, ln) in &rows {
        if node >= num_nodes {
            return Err(Error::parse(labels_path, Some(ln), format!("node {node} is out of range: the file has {num_nodes} rows")));
        }
        if y[node] != usize::MAX {
            return Err(Error::parse(labels_path, Some(ln), format!("node {node} has a second label row")));
        }
        // Class ids are 0..C-1 among num_nodes nodes; a larger one would size C.
        if label >= num_nodes {
            return Err(Error::parse(
                labels_path,
                Some(ln),
                format!("class id {label} of node {node} is out of range: with {num_nodes} nodes, class ids must be below {num_nodes}"),
            ));
        }
        y[node] = label;
    }
    let num_classes = y.iter().max().map_or(0, |m| m + 1);

    let e = text::parse_edge_csv(edges_path, edges_text, true)?;
    e.check_range(edges_path, num_nodes, &format!("{} has {num_nodes} rows, one per node", text::file_name(labels_path)))?;
    let m = e.src.len();
    let weight = e.edge_weight.unwrap_or_else(|| vec![1.0; m]);
    let mut src = Vec::with_capacity(2 * m);
    let mut dst = Vec::with_capacity(2 * m);
    let mut w = Vec::with_capacity(2 * m);
    for ((&s, &d), &wk) in e.src.iter().zip(&e.dst).zip(&weight) {
        src.extend([s, d]);
        dst.extend([d, s]);
        w.extend([wk, wk]);
    }
    let graph = Graph::builder(num_nodes).edge_lists(src, dst).edge_weight(w).context(edges_path.display().to_string()).build()?;

    // One training node per class: its highest-degree member.
    let deg = graph.in_degree();
    let mut leader: Vec<Option<usize>> = vec![None; num_classes];
    for v in 0..num_nodes {
        let c = y[v];
        if leader[c].is_none_or(|u| deg[v] > deg[u]) {
            leader[c] = Some(v);
        }
    }
    let mut train: Vec<usize> = leader.into_iter().flatten().collect();
    train.sort_unstable();
    let test = (0..num_nodes).filter(|v| train.binary_search(v).is_err()).collect();
    let x = FeatureFallback::Identity.build(&graph);
    Ok(NodeDataset { name: "karate".into(), graph, x, y, num_classes, split: Some(Split { train, val: vec![], test }), source, notes: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Features;

    fn check(d: &NodeDataset) {
        assert_eq!(d.graph.num_nodes(), 34);
        assert_eq!(d.graph.num_edges(), 156);
        assert!(d.graph.is_undirected());
        assert_eq!(d.num_classes, 2);
        assert_eq!(d.y.iter().filter(|&&c| c == 0).count(), 17);
        let w = d.graph.edge_weight().unwrap();
        assert_eq!(w.iter().sum::<f32>(), 2.0 * 231.0);
        assert_eq!(w.iter().cloned().fold(0.0, f32::max), 7.0);
        // Weight of 0 -> 1 is 4 (Zachary's matrix).
        let e = d.graph.edges().position(|(s, t)| (s, t) == (0, 1)).unwrap();
        assert_eq!(w[e], 4.0);
        let s = d.split.as_ref().unwrap();
        assert_eq!(s.train, vec![0, 33]);
        assert!(s.val.is_empty());
        assert_eq!(s.test.len(), 32);
        let Features::Sparse(x) = &d.x else { panic!("sparse expected") };
        assert_eq!((x.num_rows, x.num_cols, x.nnz()), (34, 34, 34));
        assert_eq!(x.col_idx, (0..34).collect::<Vec<_>>());
    }

    #[test]
    fn builtin() {
        check(&load_karate_builtin().unwrap());
    }

    #[test]
    fn shared_folder_matches_builtin() {
        let Some(data) = crate::testing::shared_datasets("karate") else {
            return;
        };
        let d = load_karate(&data).unwrap();
        check(&d);
        let b = load_karate_builtin().unwrap();
        assert_eq!(d.graph.src(), b.graph.src());
        assert_eq!(d.graph.edge_weight(), b.graph.edge_weight());
        assert_eq!(d.y, b.y);
    }

    #[test]
    fn errors() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(load_karate(tmp.path()), Err(Error::DatasetNotFound { .. })));
        let dir = tmp.path().join("karate");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("labels.csv"), "node,label,club\n0,0,a\n1,1,b\n").unwrap();
        std::fs::write(dir.join("edges.csv"), "src,dst,weight\n0,1,2\n1,2,1\n").unwrap();
        let e = load_karate(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("edges.csv:3"), "{e}");
        std::fs::write(dir.join("edges.csv"), "src,dst,weight\n0,1,x\n").unwrap();
        let e = load_karate(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("edges.csv:2") && e.contains("weight"), "{e}");
        std::fs::write(dir.join("edges.csv"), "src,dst,weight\n0,1,3\n").unwrap();
        let d = load_karate(tmp.path()).unwrap();
        assert_eq!(d.split.unwrap().train, vec![0, 1]);
        // A huge class id is an error naming the line, not 10^11 classes.
        std::fs::write(dir.join("labels.csv"), "node,label,club\n0,0,a\n1,99999999999,b\n").unwrap();
        let e = load_karate(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("labels.csv:3") && e.contains("class id 99999999999"), "{e}");
        // A BOM and CRLF change nothing.
        std::fs::write(dir.join("labels.csv"), "\u{feff}0,0\r\n1,1\r\n").unwrap();
        std::fs::write(dir.join("edges.csv"), "\u{feff}0,1,3\r\n").unwrap();
        let b = load_karate(tmp.path()).unwrap();
        assert_eq!((b.graph.num_edges(), b.y, b.num_classes), (2, vec![0, 1], 2));
        std::fs::remove_file(dir.join("labels.csv")).unwrap();
        let e = load_karate(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("labels.csv") && !e.contains("load_karate_builtin"), "{e}");
    }
}
