// Run an exported graph model in WebAssembly (Node.js, no dependencies):
//   cargo build -p autoglm-infer --target wasm32-unknown-unknown --no-default-features --release --lib
//   node scripts/wasm_smoke.mjs target/wasm32-unknown-unknown/release/autoglm_infer.wasm MODEL.agx REQUEST.json
// Prints the JSON answer of agx_predict_graphs (the same as `autoglm-infer MODEL.agx REQUEST.json`).
import { readFileSync } from "node:fs";

const [wasmPath, modelPath, requestPath] = process.argv.slice(2);
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {});
const { memory, agx_alloc, agx_free, agx_predict_graphs } = instance.exports;
const put = (bytes) => {
  const ptr = agx_alloc(bytes.length);
  new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
};
const model = readFileSync(modelPath);
const request = readFileSync(requestPath);
const m = put(model);
const r = put(request);
let cap = 1 << 16;
for (;;) {
  const out = agx_alloc(cap);
  const n = agx_predict_graphs(m, model.length, r, request.length, out, cap);
  if (n >= 0) {
    console.log(new TextDecoder().decode(new Uint8Array(memory.buffer, out, n)));
    agx_free(out, cap);
    break;
  }
  agx_free(out, cap);
  cap = -n;
}
agx_free(m, model.length);
agx_free(r, request.length);
