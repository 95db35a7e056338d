//! The `.agx` file: one header and the tensors, checksummed.
//!
//! ```text
//! offset  size  field
//! 0       4     magic  b"AGX\0"
//! 4       4     format version, u32 little-endian (2; version 1 files, which
//!               have no deflated tensors, are read too)
//! 8       8     header length H, u64 little-endian
//! 16      H     header: UTF-8 JSON {"net": NetSpec, "meta": {...}, "tensors": [TensorEntry]},
//!               deflate-compressed (raw deflate, RFC 1951)
//! ...           zero padding to a multiple of 16
//! D       ...   tensor data: each tensor at D + entry.offset (a multiple of 16),
//!               little-endian f32 or i8, row-major; a tensor whose entry has
//!               `deflated: N` is stored as N bytes of raw deflate of those
//!               bytes (written when that halves it: pruned weights)
//! end-32  32    SHA-256 of every byte before it
//! ```
//!
//! The header's `net` says which layers run in what order and names their
//! tensors; an int8 weight `W` comes with its per-channel scales `W.scale`
//! (f32, one per output row). `meta` carries what the exporter knew (task,
//! architecture, dataset, classes, feature preprocessing, the source
//! checkpoint), which inference reports but does not need.

use crate::model::NetSpec;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The first four bytes of every `.agx` file.
pub const MAGIC: [u8; 4] = *b"AGX\0";
/// The format version this build writes (and the newest it reads).
pub const VERSION: u32 = 2;
/// The oldest version this build reads.
pub const OLDEST: u32 = 1;
const ALIGN: usize = 16;

/// Element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    I8,
}

/// Where a tensor lies in the data section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Byte offset from the start of the data section.
    pub offset: usize,
    /// Stored as this many bytes of raw deflate (absent: stored plain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflated: Option<usize>,
}

/// A stored tensor's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I8(Vec<i8>),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::I8(v) => v.len(),
        }
    }
    fn bytes(&self) -> usize {
        match self {
            Data::F32(v) => 4 * v.len(),
            Data::I8(v) => v.len(),
        }
    }
}

/// Named tensors with their shapes.
pub type Tensors = BTreeMap<String, (Vec<usize>, Data)>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    net: NetSpec,
    meta: serde_json::Value,
    tensors: Vec<TensorEntry>,
}

/// The bytes of a file holding `net`, `meta` and `tensors`.
pub fn encode(net: &NetSpec, meta: &serde_json::Value, tensors: &Tensors) -> Vec<u8> {
    let mut entries = Vec::with_capacity(tensors.len());
    let mut blobs = Vec::with_capacity(tensors.len());
    let mut off = 0usize;
    for (name, (shape, data)) in tensors {
        let mut raw = Vec::with_capacity(data.bytes());
        match data {
            Data::F32(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
            Data::I8(v) => raw.extend(v.iter().map(|&x| x as u8)),
        }
        // deflate what it at least halves (mostly zeros: pruned weights)
        let packed = if raw.len() >= 256 { Some(miniz_oxide::deflate::compress_to_vec(&raw, 9)).filter(|p| 2 * p.len() <= raw.len()) } else { None };
        let deflated = packed.as_ref().map(Vec::len);
        let blob = packed.unwrap_or(raw);
        entries.push(TensorEntry {
            name: name.clone(),
            dtype: if matches!(data, Data::F32(_)) { DType::F32 } else { DType::I8 },
            shape: shape.clone(),
            offset: off,
            deflated,
        });
        off += blob.len().div_ceil(ALIGN) * ALIGN;
        blobs.push(blob);
    }
    let json = serde_json::to_vec(&Header { net: net.clone(), meta: meta.clone(), tensors: entries }).expect("the header serialises");
    let header = miniz_oxide::deflate::compress_to_vec(&json, 9);
    let mut out = Vec::with_capacity(16 + header.len() + off + 2 * ALIGN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    for blob in blobs {
        out.extend_from_slice(&blob);
        out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// The net, metadata and tensors of a file.
///
/// # Errors
/// [`Error::Format`] for another kind of file, a truncated or damaged one
/// (the checksum), or a header that does not describe its tensors;
/// [`Error::Version`] for another format version.
pub fn decode(bytes: &[u8]) -> Result<(NetSpec, serde_json::Value, Tensors)> {
    if bytes.len() < 4 || bytes[..4] != MAGIC {
        return Err(Error::Format(
            "it does not start with the AGX magic bytes (a training checkpoint is a .safetensors file: export it first with `autoglm export --checkpoint FILE --out m.agx`)"
                .into(),
        ));
    }
    if bytes.len() < 16 + 32 {
        return Err(Error::Format(format!("the file is truncated ({} bytes): export it again", bytes.len())));
    }
    let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if !(OLDEST..=VERSION).contains(&version) {
        return Err(Error::Version { found: version, supported: VERSION });
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(Error::Format("the checksum does not match: the file is truncated or damaged; copy or export it again".into()));
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let hend = usize::try_from(hlen)
        .ok()
        .and_then(|h| h.checked_add(16))
        .filter(|&e| e <= body.len())
        .ok_or_else(|| Error::Format(format!("the header length {hlen} runs past the end of the file")))?;
    // the header inflates to at most 64 MiB (a bound for damaged files)
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&bytes[16..hend], 64 << 20)
        .map_err(|e| Error::Format(format!("the header does not inflate ({:?}): the file is damaged; export it again", e.status)))?;
    let header: Header = serde_json::from_slice(&json).map_err(|e| Error::Format(format!("the header is not valid: {e}")))?;
    let data =
        body.get(hend.div_ceil(ALIGN) * ALIGN..).ok_or_else(|| Error::Format("the data section is missing: the file is truncated; export it again".into()))?;
    let mut tensors = Tensors::new();
    for e in header.tensors {
        let count = e
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::Format(format!("tensor {} has an impossible shape {:?}", e.name, e.shape)))?;
        let width = if e.dtype == DType::F32 { 4 } else { 1 };
        let bytes = count.checked_mul(width).ok_or_else(|| Error::Format(format!("tensor {} has an impossible shape {:?}", e.name, e.shape)))?;
        let stored = e.deflated.unwrap_or(bytes);
        let end = stored.checked_add(e.offset).filter(|&end| end <= data.len());
        let end = end.ok_or_else(|| Error::Format(format!("tensor {} ({:?}, {:?}) runs past the end of the data", e.name, e.dtype, e.shape)))?;
        let inflated;
        let raw = match e.deflated {
            None => &data[e.offset..end],
            Some(_) => {
                inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(&data[e.offset..end], bytes)
                    .ok()
                    .filter(|v| v.len() == bytes)
                    .ok_or_else(|| Error::Format(format!("tensor {} does not inflate to its {bytes} bytes: the file is damaged; export it again", e.name)))?;
                &inflated[..]
            }
        };
        let values = match e.dtype {
            DType::F32 => Data::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()),
            DType::I8 => Data::I8(raw.iter().map(|&b| b as i8).collect()),
        };
        debug_assert_eq!(values.len(), count);
        if tensors.insert(e.name.clone(), (e.shape, values)).is_some() {
            return Err(Error::Format(format!("tensor {} is listed twice", e.name)));
        }
    }
    Ok((header.net, header.meta, tensors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{quantize, Act, ActScheme, DenseSpec, LayerSpec};
    use crate::{Calibration, Features, Graph, Model};

    /// A two-layer GCN 3 -> 4 -> 2 with fixed weights.
    fn tiny() -> (NetSpec, Tensors) {
        let d = |w: &str, b: &str, i: usize, o: usize| DenseSpec { weight: w.into(), bias: Some(b.into()), in_dim: i, out_dim: o, act_scale: None };
        let net = NetSpec::Node {
            in_dim: 3,
            classes: 2,
            layers: vec![LayerSpec::Gcn { lin: d("w0", "b0", 3, 4) }, LayerSpec::Gcn { lin: d("w1", "b1", 4, 2) }],
            act: Act::Relu,
        };
        let mut t = Tensors::new();
        let vals = |n: usize, k: f32| (0..n).map(|i| (i as f32 * 0.37 + k).sin()).collect::<Vec<f32>>();
        t.insert("w0".into(), (vec![4, 3], Data::F32(vals(12, 0.1))));
        t.insert("b0".into(), (vec![4], Data::F32(vals(4, 0.2))));
        t.insert("w1".into(), (vec![2, 4], Data::F32(vals(8, 0.3))));
        t.insert("b1".into(), (vec![2], Data::F32(vals(2, 0.4))));
        (net, t)
    }

    fn ring() -> Graph {
        Graph::from_edges(4, &[(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3)]).unwrap()
    }

    #[test]
    fn round_trip_and_forward_by_hand() {
        let (net, t) = tiny();
        let bytes = encode(&net, &serde_json::json!({"dataset": "ring"}), &t);
        let (net2, meta, t2) = decode(&bytes).unwrap();
        assert_eq!((net2.clone(), t2.clone(), meta["dataset"].as_str()), (net.clone(), t.clone(), Some("ring")));
        let m = Model::new(net2, meta, &t2).unwrap();
        let x: Vec<f32> = (0..12).map(|i| i as f32 / 12.0).collect();
        let got = m.predict_nodes(&ring(), Features::Dense { values: &x, cols: 3 }).unwrap();
        // dense reference: every node of the ring has degree 3 with its loop, so Â = (A + I) / 3
        let (Data::F32(w0), Data::F32(b0), Data::F32(w1), Data::F32(b1)) = (&t["w0"].1, &t["b0"].1, &t["w1"].1, &t["b1"].1) else { unreachable!() };
        let nbrs = [[0, 1, 3], [0, 1, 2], [1, 2, 3], [0, 2, 3]];
        let lin = |x: &[f32], w: &[f32], k: usize, o: usize| {
            (0..4).flat_map(|r| (0..o).map(move |j| (0..k).map(|c| x[r * k + c] * w[j * k + c]).sum::<f32>()).collect::<Vec<_>>()).collect::<Vec<f32>>()
        };
        let prop = |h: &[f32], o: usize, b: &[f32]| {
            (0..4).flat_map(|r| (0..o).map(move |j| nbrs[r].iter().map(|&s| h[s * o + j]).sum::<f32>() / 3.0 + b[j]).collect::<Vec<_>>()).collect::<Vec<f32>>()
        };
        let h1: Vec<f32> = prop(&lin(&x, w0, 3, 4), 4, b0).into_iter().map(|v| v.max(0.0)).collect();
        let want = prop(&lin(&h1, w1, 4, 2), 2, b1);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
        // int8: close to float, smaller file, and its own round trip
        let mut calib = Calibration::default();
        m.node_scores(&ring(), Features::Dense { values: &x, cols: 3 }, Some(&mut calib)).unwrap();
        let (qn, qt) = quantize(&net, &t, &calib, ActScheme::Static).unwrap();
        let qbytes = encode(&qn, &serde_json::json!({}), &qt);
        let q = Model::from_bytes(&qbytes).unwrap();
        assert!(q.is_int8());
        let qgot = q.predict_nodes(&ring(), Features::Dense { values: &x, cols: 3 }).unwrap();
        for (a, b) in qgot.iter().zip(&got) {
            assert!((a - b).abs() < 0.05, "{qgot:?} vs {got:?}");
        }
        // a feature matrix of the wrong width or with a NaN is an input error
        assert!(q.predict_nodes(&ring(), Features::Dense { values: &x[..8], cols: 2 }).unwrap_err().to_string().contains("takes 3 features"));
        let mut nan = x.clone();
        nan[0] = f32::NAN;
        assert!(q.predict_nodes(&ring(), Features::Dense { values: &nan, cols: 3 }).unwrap_err().to_string().contains("finite"));
    }

    #[test]
    fn damaged_files_are_format_errors() {
        let (net, t) = tiny();
        let bytes = encode(&net, &serde_json::json!({}), &t);
        assert!(matches!(decode(b"PK\x03\x04 a zip file"), Err(Error::Format(m)) if m.contains("magic")));
        assert!(matches!(decode(&bytes[..bytes.len() - 1]), Err(Error::Format(m)) if m.contains("checksum")));
        assert!(matches!(decode(&bytes[..10]), Err(Error::Format(m)) if m.contains("truncated")));
        let mut v3 = bytes.clone();
        v3[4] = 3;
        assert_eq!(decode(&v3).unwrap_err(), Error::Version { found: 3, supported: 2 });
        // a header naming a tensor the data does not hold (checksum recomputed, so only the structure is wrong)
        let mut t2 = t.clone();
        t2.remove("b1");
        let missing = encode(&net, &serde_json::json!({}), &t2);
        let (n, m, tt) = decode(&missing).unwrap();
        assert!(Model::new(n, m, &tt).unwrap_err().to_string().contains("b1 is missing"));
    }

    #[test]
    fn mostly_zero_tensors_are_stored_deflated_and_read_back() {
        let (net, mut t) = tiny();
        let mut sparse = vec![0f32; 4096];
        sparse[17] = 1.5;
        sparse[4000] = -2.0;
        t.insert("extra".into(), (vec![64, 64], Data::F32(sparse.clone())));
        t.insert("extra_i8".into(), (vec![1024], Data::I8((0..1024).map(|i| if i % 97 == 0 { 5 } else { 0 }).collect())));
        let bytes = encode(&net, &serde_json::json!({}), &t);
        assert!(bytes.len() < 2000, "{} bytes: the zeros were not deflated", bytes.len());
        let (_, _, back) = decode(&bytes).unwrap();
        assert_eq!(back, t);
        // a deflated tensor that does not inflate to its size is a format error
        let mut bad = bytes.clone();
        let hlen = u64::from_le_bytes(bad[8..16].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&miniz_oxide::inflate::decompress_to_vec(&bad[16..16 + hlen]).unwrap()).unwrap();
        let entry = header["tensors"].as_array().unwrap().iter().find(|e| e["name"] == "extra").unwrap();
        assert!(entry["deflated"].as_u64().is_some(), "{entry}");
        let at = (16 + hlen).div_ceil(ALIGN) * ALIGN + entry["offset"].as_u64().unwrap() as usize;
        bad[at..at + 8].iter_mut().for_each(|b| *b ^= 0x5a);
        let n = bad.len() - 32;
        let digest = Sha256::digest(&bad[..n]);
        bad[n..].copy_from_slice(&digest);
        assert!(matches!(decode(&bad), Err(Error::Format(_))));
    }
}
