//! Pictures of graphs: sampled graphs next to training graphs, as SVG (drawn
//! here) and PNG (the same SVG rasterised by resvg).
//!
//! Layout: a seeded force-directed layout (Fruchterman–Reingold, 300
//! iterations, cooling linearly, with a weak pull to the centre) per graph, scaled into its cell. Molecules
//! colour atoms by element and draw double and triple bonds as wider strokes.

use anyhow::{Context, Result};
use autoglm::graph::SmallGraph;
use std::fmt::Write as _;
use std::path::Path;

const CELL: f64 = 170.0;
const PAD: f64 = 14.0;
const HEADER: f64 = 26.0;

/// Positions in `[0, 1]²` for the nodes of `g`.
fn layout(g: &SmallGraph, seed: u64) -> Vec<(f64, f64)> {
    let n = g.num_nodes();
    if n == 0 {
        return vec![];
    }
    if n == 1 {
        return vec![(0.5, 0.5)];
    }
    // a small xorshift for the initial positions: the picture is seeded, not the data
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut p: Vec<(f64, f64)> = (0..n).map(|_| (next(), next())).collect();
    let k = (1.0 / n as f64).sqrt();
    let iters = 300;
    for it in 0..iters {
        let temp = 0.1 * (1.0 - it as f64 / iters as f64) + 1e-3;
        let mut d = vec![(0.0f64, 0.0f64); n];
        for i in 0..n {
            for j in (i + 1)..n {
                let (dx, dy) = (p[i].0 - p[j].0, p[i].1 - p[j].1);
                let dist2 = (dx * dx + dy * dy).max(1e-9);
                let f = k * k / dist2;
                d[i].0 += dx * f;
                d[i].1 += dy * f;
                d[j].0 -= dx * f;
                d[j].1 -= dy * f;
            }
        }
        for &(u, v, _) in &g.edges {
            let (u, v) = (u as usize, v as usize);
            let (dx, dy) = (p[u].0 - p[v].0, p[u].1 - p[v].1);
            let dist = (dx * dx + dy * dy).sqrt().max(1e-9);
            let f = dist / k;
            d[u].0 -= dx * f;
            d[u].1 -= dy * f;
            d[v].0 += dx * f;
            d[v].1 += dy * f;
        }
        // a weak pull to the centre keeps the components of a disconnected graph in view
        let (cx, cy) = (p.iter().map(|q| q.0).sum::<f64>() / n as f64, p.iter().map(|q| q.1).sum::<f64>() / n as f64);
        for i in 0..n {
            d[i].0 -= 2.0 * (p[i].0 - cx);
            d[i].1 -= 2.0 * (p[i].1 - cy);
        }
        for i in 0..n {
            let len = (d[i].0 * d[i].0 + d[i].1 * d[i].1).sqrt().max(1e-9);
            let step = len.min(temp);
            p[i].0 += d[i].0 / len * step;
            p[i].1 += d[i].1 / len * step;
        }
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &p {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let span = (x1 - x0).max(y1 - y0).max(1e-9);
    p.iter().map(|&(x, y)| ((x - x0) / span + (1.0 - (x1 - x0) / span) / 2.0, (y - y0) / span + (1.0 - (y1 - y0) / span) / 2.0)).collect()
}

fn atom_colour(name: &str) -> &'static str {
    match name.trim_end_matches(['+', '-']) {
        "C" => "#555555",
        "N" => "#3050f8",
        "O" => "#e02020",
        "F" | "Cl" => "#1fa01f",
        "S" => "#d4b000",
        "Br" => "#a62929",
        "P" => "#ff8000",
        "I" => "#940094",
        _ => "#b0b0b0",
    }
}

/// The SVG of two rows of graphs with their titles; `atoms` names node types for molecules.
pub fn rows_svg(rows: &[(&str, &[SmallGraph])], atoms: Option<&[String]>, title: &str) -> String {
    let cols = rows.iter().map(|r| r.1.len()).max().unwrap_or(1).max(1);
    let w = cols as f64 * CELL + 2.0 * PAD;
    let h = HEADER + rows.len() as f64 * (CELL + HEADER) + PAD;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="DejaVu Sans, sans-serif">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(s, r##"<text x="{PAD}" y="18" font-size="15" font-weight="bold" fill="#222">{}</text>"##, xml_escape(title));
    for (r, (label, graphs)) in rows.iter().enumerate() {
        let top = HEADER + r as f64 * (CELL + HEADER);
        let _ = writeln!(s, r##"<text x="{PAD}" y="{:.1}" font-size="13" fill="#333">{}</text>"##, top + 16.0, xml_escape(label));
        for (c, g) in graphs.iter().enumerate() {
            let (ox, oy) = (PAD + c as f64 * CELL, top + HEADER);
            let _ =
                writeln!(s, r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#dddddd"/>"##, ox + 2.0, oy, CELL - 4.0, CELL - 4.0);
            let pos = layout(g, (r * 1000 + c) as u64 + 1);
            let inner = CELL - 28.0;
            let at = |i: usize| (ox + 12.0 + pos[i].0 * inner, oy + 10.0 + pos[i].1 * inner);
            let radius = if g.num_nodes() > 100 {
                1.8
            } else if g.num_nodes() > 30 {
                2.8
            } else {
                4.5
            };
            for &(u, v, t) in &g.edges {
                let ((x1, y1), (x2, y2)) = (at(u as usize), at(v as usize));
                let width = if atoms.is_some() { 1.2 + 1.3 * t as f64 } else { 1.0 };
                let _ = writeln!(s, r##"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="#777777" stroke-width="{width:.1}"/>"##);
            }
            for i in 0..g.num_nodes() {
                let (x, y) = at(i);
                let fill = match atoms {
                    Some(names) => atom_colour(names.get(g.node_types[i] as usize).map(String::as_str).unwrap_or("?")),
                    None if r == 0 => "#4a7bd0",
                    None => "#e07b2a",
                };
                let _ = writeln!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="{radius}" fill="{fill}"/>"#);
            }
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#666">{} nodes, {} edges</text>"##,
                ox + 6.0,
                oy + CELL - 8.0,
                g.num_nodes(),
                g.num_edges()
            );
        }
    }
    if let Some(names) = atoms {
        // the element legend, right-aligned on the first row's label line
        let mut seen: Vec<String> = Vec::new();
        for n in names.iter().map(|n| n.trim_end_matches(['+', '-']).to_string()) {
            if !seen.contains(&n) && n != "other" && seen.len() < 10 {
                seen.push(n);
            }
        }
        let mut x = w - PAD - 36.0 * seen.len() as f64;
        for n in seen {
            let _ = writeln!(
                s,
                r##"<circle cx="{x:.1}" cy="{:.1}" r="5" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#333">{n}</text>"##,
                HEADER + 12.0,
                atom_colour(&n),
                x + 8.0,
                HEADER + 16.0
            );
            x += 36.0;
        }
        let _ = writeln!(s, r##"<text x="{:.1}" y="18" font-size="11" fill="#666" text-anchor="end">bond order shown as stroke width</text>"##, w - PAD);
    }
    s.push_str("</svg>\n");
    s
}

fn xml_escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Write `svg` to `path` (`.svg`) and its rasterisation next to it (`.png`).
pub fn write_svg_png(svg: &str, path: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let svg_path = path.with_extension("svg");
    let png_path = path.with_extension("png");
    autoglm::checkpoint::write_atomic(&svg_path, svg.as_bytes())?;
    let mut opt = resvg::usvg::Options::default();
    opt.fontdb_mut().load_system_fonts();
    // plotters names the generic family: map it to a font this machine has
    for family in ["DejaVu Sans", "Liberation Sans", "Noto Sans"] {
        if opt.fontdb.faces().any(|f| f.families.iter().any(|(n, _)| n == family)) {
            opt.fontdb_mut().set_sans_serif_family(family);
            break;
        }
    }
    let tree = resvg::usvg::Tree::from_str(svg, &opt).context("parsing the SVG we drew")?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).context("allocating the PNG")?;
    resvg::render(&tree, resvg::tiny_skia::Transform::identity(), &mut pixmap.as_mut());
    let png = pixmap.encode_png().context("encoding the PNG")?;
    autoglm::checkpoint::write_atomic(&png_path, &png)?;
    Ok((svg_path, png_path))
}
