//! The `.agx` file: one header and the tensors, checksummed.
//!
//! ```text
//! offset  size  field
//! 0       4     magic  b"AGX\0"
//! 4       4     format version, u32 little-endian (1)
//! 8       8     header length H, u64 little-endian
//! 16      H     header: UTF-8 JSON {"net": NetSpec, "meta": {...}, "tensors": [TensorEntry]},
//!               deflate-compressed (raw deflate, RFC 1951)
//! ...           zero padding to a multiple of 16
//! D       ...   tensor data: each tensor at D + entry.offset (a multiple of 16),
//!               little-endian f32 or i8, row-major
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
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
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
    let mut off = 0usize;
    for (name, (shape, data)) in tensors {
        entries.push(TensorEntry {
            name: name.clone(),
            dtype: if matches!(data, Data::F32(_)) { DType::F32 } else { DType::I8 },
            shape: shape.clone(),
            offset: off,
        });
        off += data.bytes().div_ceil(ALIGN) * ALIGN;
    }
    let json = serde_json::to_vec(&Header { net: net.clone(), meta: meta.clone(), tensors: entries }).expect("the header serialises");
    let header = miniz_oxide::deflate::compress_to_vec(&json, 9);
    let mut out = Vec::with_capacity(16 + header.len() + off + 2 * ALIGN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
    for (_, data) in tensors.values() {
        match data {
            Data::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
        }
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
    if version != VERSION {
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
        .map_err(|e| Error::Format(format!("the header does not inflate ({e:?})")))?;
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
        let end = count.checked_mul(width).and_then(|b| b.checked_add(e.offset)).filter(|&end| end <= data.len());
        let end = end.ok_or_else(|| Error::Format(format!("tensor {} ({:?}, {:?}) runs past the end of the data", e.name, e.dtype, e.shape)))?;
        let raw = &data[e.offset..end];
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
