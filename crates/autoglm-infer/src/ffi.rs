//! A C ABI over the library, for embedding the model where Rust is not the
//! host (a `cdylib`; in a browser through wasm32): graphs in, class scores
//! out, as JSON.
//!
//! `agx_predict_graphs(model, model_len, request, request_len, out, out_cap)`
//! reads an `.agx` file's bytes and a request `{"graphs": [PostedGraph]}`,
//! writes `{"scores": [[...]], "labels": [...]}` (or `{"error": "..."}`) into
//! `out`, and returns the length written, or the negated length needed when
//! `out_cap` is too small. `agx_alloc` / `agx_free` give a host buffers in
//! the module's memory (what a wasm32 embedder writes its inputs into);
//! `scripts/wasm_smoke.mjs` runs an exported model in Node.js this way.

use crate::{argmax_rows, Features, GraphBatch, Model, PostedGraph};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    graphs: Vec<PostedGraph>,
}

/// The JSON answer to a graph-classification request (`{"error": ...}` on failure).
pub fn predict_graphs_json(model: &[u8], request: &[u8]) -> String {
    let run = || -> Result<serde_json::Value, String> {
        let m = Model::from_bytes(model).map_err(|e| e.to_string())?;
        let req: Request = serde_json::from_slice(request).map_err(|e| format!("malformed request: {e}"))?;
        let (batch, x, cols) = GraphBatch::from_posted(&req.graphs).map_err(|e| e.to_string())?;
        let s = m.predict_graphs(&batch, Features::Dense { values: &x, cols }).map_err(|e| e.to_string())?;
        let c = m.spec().classes();
        Ok(serde_json::json!({"scores": s.chunks(c).collect::<Vec<_>>(), "labels": argmax_rows(&s, c)}))
    };
    match run() {
        Ok(v) => v.to_string(),
        Err(e) => serde_json::json!({ "error": e }).to_string(),
    }
}

/// See the [module docs](self).
///
/// # Safety
/// `model` and `request` must point to readable buffers of the given
/// lengths and `out` to a writable one of `out_cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn agx_predict_graphs(model: *const u8, model_len: usize, request: *const u8, request_len: usize, out: *mut u8, out_cap: usize) -> isize {
    // SAFETY: the caller's contract above.
    let (m, r) = unsafe { (std::slice::from_raw_parts(model, model_len), std::slice::from_raw_parts(request, request_len)) };
    let answer = predict_graphs_json(m, r);
    if answer.len() > out_cap {
        return -(answer.len() as isize);
    }
    // SAFETY: `out` has room for `out_cap >= answer.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(answer.as_ptr(), out, answer.len()) };
    answer.len() as isize
}

/// A buffer of `len` bytes in this module's memory, for a host (a wasm32
/// embedder) to write the model and request into; release it with [`agx_free`].
#[no_mangle]
pub extern "C" fn agx_alloc(len: usize) -> *mut u8 {
    let mut v = std::mem::ManuallyDrop::new(vec![0u8; len]);
    v.as_mut_ptr()
}

/// Release a buffer from [`agx_alloc`].
///
/// # Safety
/// `ptr` and `len` must be a pointer and length [`agx_alloc`] returned, freed once.
#[no_mangle]
pub unsafe extern "C" fn agx_free(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's contract: the allocation came from `agx_alloc(len)`.
    drop(unsafe { Vec::from_raw_parts(ptr, len, len) });
}
