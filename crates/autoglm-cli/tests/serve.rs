//! `autoglm serve` end to end on loopback: every endpoint with real models
//! (karate GCN, a karate link model, a TINY TU GIN, a community-small
//! generator), batching that answers what single requests answer, JSON
//! errors for bad input, tokens, TLS, SIGTERM, and a seeded fuzz of the
//! request parsers after which the server still answers.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token-0123456789abcdef";

fn autoglm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autoglm"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../autoglm/tests/fixtures")
}

fn ok(c: &mut Command) {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `autoglm serve`, killed on drop.
struct Server {
    child: Child,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(args: &[&str], scheme: &str) -> Server {
        let port = free_port();
        let mut child = autoglm().arg("serve").args(args).args(["--port", &port.to_string()]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(" on http") {
                    let _ = tx.send(());
                }
                l2.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("the server did not start: {}", log.lock().unwrap());
        }
        Server { child, base: format!("{scheme}://127.0.0.1:{port}"), log }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into()
}

/// (status, body as JSON or as a string value)
fn call(a: &ureq::Agent, method: &str, url: &str, body: Option<&[u8]>, token: Option<&str>) -> (u16, Value) {
    let mut r = match (method, body) {
        ("GET", _) => {
            let mut req = a.get(url);
            if let Some(t) = token {
                req = req.header("Authorization", &format!("Bearer {t}"));
            }
            req.call()
        }
        (_, b) => {
            let mut req = a.post(url).header("Content-Type", "application/json");
            if let Some(t) = token {
                req = req.header("Authorization", &format!("Bearer {t}"));
            }
            req.send(b.unwrap_or_default())
        }
    }
    .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().with_config().limit(64 << 20).read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn post(a: &ureq::Agent, url: &str, v: &Value) -> (u16, Value) {
    call(a, "POST", url, Some(v.to_string().as_bytes()), None)
}

fn assert_error(r: &(u16, Value), status: u16, needle: &str) {
    assert_eq!(r.0, status, "{:?}", r.1);
    let m = r.1["error"]["message"].as_str().unwrap_or_else(|| panic!("not a JSON error: {:?}", r.1));
    assert!(m.contains(needle), "{m:?} should mention {needle:?}");
    assert_eq!(r.1["error"]["status"], status);
}

fn karate_gcn(dir: &Path) -> PathBuf {
    let ck = dir.join("gcn.safetensors");
    ok(autoglm().args(["train", "--dataset", "karate", "--model", "gcn", "--epochs", "60", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck));
    ck
}

fn one_hot_graph(n: usize, width: usize, edges: &[[usize; 2]]) -> Value {
    let f: Vec<Vec<f32>> = (0..n).map(|i| (0..width).map(|j| if j == i % width { 1.0 } else { 0.0 }).collect()).collect();
    json!({"num_nodes": n, "edges": edges, "features": f})
}

#[test]
fn node_server_answers_and_refuses_bad_input_with_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = karate_gcn(tmp.path());
    let export = tmp.path().join("gcn8.agx");
    ok(autoglm().args(["export", "--quantize", "int8", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck).arg("--out").arg(&export));
    let predicted: Vec<u64> = {
        let o = autoglm().args(["predict", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck).output().unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["predictions"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect()
    };
    let s = Server::start(&["--data-dir", "/nonexistent", "--max-body", "4096", "--checkpoint", ck.to_str().unwrap()], "http");
    let a = agent();
    let u = |p: &str| format!("{}{p}", s.base);
    // the server's graph: the checkpoint's own predictions
    let all: Vec<usize> = (0..34).collect();
    let r = post(&a, &u("/v1/predict/node"), &json!({ "nodes": all }));
    assert_eq!(r.0, 200, "{:?}", r.1);
    let labels: Vec<u64> = r.1["nodes"].as_array().unwrap().iter().map(|n| n["label"].as_u64().unwrap()).collect();
    assert_eq!(labels, predicted);
    let p: f64 = r.1["nodes"][0]["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
    assert!((p - 1.0).abs() < 1e-4);
    // posted graphs
    let g = one_hot_graph(4, 34, &[[0, 1], [1, 0], [2, 3]]);
    let r = post(&a, &u("/v1/predict/node"), &json!({ "graphs": [g.clone(), g] }));
    assert_eq!(r.0, 200, "{:?}", r.1);
    assert_eq!(r.1["graphs"].as_array().unwrap().len(), 2);
    assert_eq!(r.1["graphs"][0], r.1["graphs"][1]);
    assert_eq!(r.1["graphs"][1].as_array().unwrap().len(), 4);
    // bad input: 4xx with a message naming the problem
    assert_error(&post(&a, &u("/v1/predict/node"), &json!({"nodes": [0, 34]})), 422, "index 34 is out of range");
    assert_error(&call(&a, "POST", &u("/v1/predict/node"), Some(b"{\"nodes\": [0,"), None), 400, "malformed JSON");
    assert_error(&call(&a, "POST", &u("/v1/predict/node"), Some(b""), None), 400, "no body");
    assert_error(&post(&a, &u("/v1/predict/node"), &json!({"nodes": [-1]})), 400, "malformed JSON");
    assert_error(&post(&a, &u("/v1/predict/node"), &json!({"nodez": [1]})), 400, "unknown field");
    assert_error(&post(&a, &u("/v1/predict/node"), &json!({"nodes": [1], "graphs": []})), 400, "not both");
    assert_error(&post(&a, &u("/v1/predict/node"), &json!({"graphs": [one_hot_graph(3, 34, &[[0, 7]])]})), 422, "does not exist");
    assert_error(&post(&a, &u("/v1/predict/node"), &json!({"graphs": [one_hot_graph(3, 5, &[])]})), 422, "34 features per node");
    assert_error(&post(&a, &u("/v1/predict/node"), &json!({"graphs": [{"num_nodes": 2, "edges": [], "features": [vec![0.0; 34]]}]})), 422, "feature rows");
    assert_error(&post(&a, &u("/v1/predict/graph"), &json!({"graphs": []})), 404, "use /v1/predict/node");
    // small enough to be written whole before the server answers and closes (a larger body races the close)
    assert_error(&call(&a, "POST", &u("/v1/predict/node"), Some(&vec![b' '; 8192]), None), 413, "larger than");
    assert_error(&call(&a, "GET", &u("/nowhere"), None, None), 404, "no endpoint");
    assert_error(&call(&a, "GET", &u("/v1/predict/node"), None, None), 405, "not allowed");
    assert_error(&call(&a, "GET", &u("/jobs/x"), None, None), 401, "Bearer");
    assert_error(&call(&a, "GET", &u("/jobs/x"), None, Some("wrong-token")), 403, "not accepted");
    // health, readiness, metrics, the description
    assert_eq!(call(&a, "GET", &u("/healthz"), None, None).0, 200);
    let r = call(&a, "GET", &u("/readyz"), None, None);
    assert_eq!((r.0, r.1["model"]["task"].as_str()), (200, Some("node")));
    let (st, m) = call(&a, "GET", &u("/metrics"), None, None);
    let m = m.as_str().unwrap().to_string();
    assert_eq!(st, 200);
    assert!(m.contains("autoglm_http_requests_total{endpoint=\"/v1/predict/node\",status=\"422\"}"), "{m}");
    assert!(m.contains("autoglm_batch_queue_depth") && m.contains("autoglm_http_request_duration_seconds_bucket"), "{m}");
    let (st, spec) = call(&a, "GET", &u("/openapi.json"), None, None);
    assert_eq!((st, spec["openapi"].as_str()), (200, Some("3.0.3")));
    for path in ["/v1/predict/node", "/v1/predict/graph", "/v1/predict/link", "/v1/generate", "/jobs", "/jobs/{id}", "/metrics"] {
        assert!(spec["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    drop(s);
    // the int8 export serves too, with nearly the same labels
    let s = Server::start(&["--data-dir", "/nonexistent", "--checkpoint", export.to_str().unwrap()], "http");
    let r = post(&a, &format!("{}/v1/predict/node", s.base), &json!({ "nodes": (0..34).collect::<Vec<_>>() }));
    let same = r.1["nodes"].as_array().unwrap().iter().zip(&predicted).filter(|(n, &p)| n["label"].as_u64() == Some(p)).count();
    assert!(same >= 27, "int8 export agrees on {same} of 34");
    assert_eq!(call(&a, "GET", &format!("{}/v1/model", s.base), None, None).1["precision"], "int8");
}

#[test]
fn graph_server_batches_concurrent_requests_into_the_same_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixtures().join("tu");
    let ck = tmp.path().join("gin.safetensors");
    ok(autoglm()
        .args(["train", "--task", "graph", "--dataset", "TINY", "--model", "gin", "--folds", "2", "--epochs", "5", "--quiet", "--data-dir"])
        .arg(&data)
        .arg("--checkpoint")
        .arg(&ck));
    let s = Server::start(&["--data-dir", data.to_str().unwrap(), "--batch-wait-ms", "20", "--checkpoint", ck.to_str().unwrap()], "http");
    let a = agent();
    let url = format!("{}/v1/predict/graph", s.base);
    let width = call(&a, "GET", &format!("{}/v1/model", s.base), None, None).1["in_dim"].as_u64().unwrap() as usize;
    // 24 different graphs, answered one at a time first
    let graphs: Vec<Value> = (0..24)
        .map(|k| {
            let n = 3 + k % 7;
            let edges: Vec<[usize; 2]> = (0..n - 1).flat_map(|i| [[i, (i + 1 + k) % n], [(i + 1 + k) % n, i]]).collect();
            one_hot_graph(n, width, &edges)
        })
        .collect();
    let alone: Vec<Value> = graphs
        .iter()
        .map(|g| {
            let r = post(&a, &url, &json!({ "graphs": [g] }));
            assert_eq!(r.0, 200, "{:?}", r.1);
            r.1["graphs"][0].clone()
        })
        .collect();
    // then concurrently, several rounds, from 8 threads
    std::thread::scope(|sc| {
        for t in 0..8 {
            let (a, url, graphs, alone) = (a.clone(), &url, &graphs, &alone);
            sc.spawn(move || {
                for round in 0..6 {
                    let k = (t * 5 + round * 3) % graphs.len();
                    let r = post(&a, url, &json!({ "graphs": [graphs[k], graphs[(k + 1) % graphs.len()]] }));
                    assert_eq!(r.0, 200, "{:?}", r.1);
                    for (got, want) in r.1["graphs"].as_array().unwrap().iter().zip([&alone[k], &alone[(k + 1) % graphs.len()]]) {
                        assert_eq!(got["label"], want["label"]);
                        for (x, y) in got["probabilities"].as_array().unwrap().iter().zip(want["probabilities"].as_array().unwrap()) {
                            assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-5, "{got} vs {want}");
                        }
                    }
                }
            });
        }
    });
    let m = call(&a, "GET", &format!("{}/metrics", s.base), None, None).1.as_str().unwrap().to_string();
    assert!(m.contains("autoglm_batch_requests_count"), "{m}");
    assert_error(&post(&a, &url, &json!({"graphs": [one_hot_graph(2, width, &[[0, 2]])]})), 422, "does not exist");
    let mut nan = one_hot_graph(2, width, &[]);
    nan["features"][0][0] = json!(1e39); // beyond f32
    let r = post(&a, &url, &json!({ "graphs": [nan] }));
    assert!(r.0 == 400 || r.0 == 422, "{:?}", r.1);
}

#[test]
fn link_and_generator_servers() {
    let tmp = tempfile::tempdir().unwrap();
    let a = agent();
    let link = tmp.path().join("link.safetensors");
    ok(autoglm()
        .args(["train", "--task", "link", "--dataset", "karate", "--model", "gcn", "--epochs", "30", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"])
        .arg(&link));
    let s = Server::start(&["--data-dir", "/nonexistent", "--checkpoint", link.to_str().unwrap()], "http");
    let r = post(&a, &format!("{}/v1/predict/link", s.base), &json!({"pairs": [[0, 1], [5, 30], [0, 1]]}));
    assert_eq!(r.0, 200, "{:?}", r.1);
    let p = r.1["pairs"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p[0]["logit"], p[2]["logit"]);
    assert!(p[0]["probability"].as_f64().unwrap() > 0.0 && p[0]["probability"].as_f64().unwrap() < 1.0);
    assert_error(&post(&a, &format!("{}/v1/predict/link", s.base), &json!({"pairs": [[0, 34]]})), 422, "out of range");
    assert_error(&post(&a, &format!("{}/v1/predict/link", s.base), &json!({"pairs": [[0]]})), 400, "malformed JSON");
    drop(s);
    let gen = tmp.path().join("gen.safetensors");
    ok(autoglm()
        .args(["train", "--task", "generate", "--dataset", "community-small", "--epochs", "1", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"])
        .arg(&gen));
    let s = Server::start(&["--data-dir", "/nonexistent", "--max-generate", "8", "--checkpoint", gen.to_str().unwrap()], "http");
    let url = format!("{}/v1/generate", s.base);
    let r = post(&a, &url, &json!({"num": 3, "seed": 5}));
    assert_eq!(r.0, 200, "{:?}", r.1);
    assert_eq!(r.1["graphs"].as_array().unwrap().len(), 3);
    assert_eq!(post(&a, &url, &json!({"num": 3, "seed": 5})).1, r.1, "seeded sampling repeats");
    assert_error(&post(&a, &url, &json!({"num": 9})), 422, "1 to 8 graphs");
    assert_error(&post(&a, &url, &json!({"num": 2, "temperature": -1})), 422, "temperature");
    assert_error(&post(&a, &url, &json!({"num": 2, "valence_mask": true})), 422, "molecule");
}

/// A tiny seeded generator for the fuzz cases.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 if !b.is_empty() => b.truncate(rng.below(b.len())),
            2 => {
                let i = rng.below(b.len() + 1);
                let junk: &[&[u8]] = &[
                    b"[",
                    b"]",
                    b"{",
                    b"}",
                    b",",
                    b"\"",
                    b":",
                    b"-1",
                    b"1e999",
                    b"null",
                    b"NaN",
                    b"\\u0000",
                    b"99999999999999999999999",
                    "é".as_bytes(),
                    &[0xff, 0xfe],
                ];
                let j = junk[rng.below(junk.len())];
                b.splice(i..i, j.iter().copied());
            }
            3 if b.len() > 2 => {
                let (i, j) = (rng.below(b.len()), rng.below(b.len()));
                b.swap(i, j);
            }
            4 => {
                let depth = 1 + rng.below(400);
                b = [vec![b'['; depth], vec![b']'; depth]].concat();
            }
            5 => b = (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
            _ => {
                let i = rng.below(b.len() + 1);
                b.splice(i..i, b"{\"nodes\": [1, 2, 3], \"graphs\": [{\"num_nodes\": 2}]}".iter().copied());
            }
        }
    }
    b
}

#[test]
fn fuzzed_request_bodies_get_4xx_and_the_server_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = karate_gcn(tmp.path());
    let s = Server::start(&["--data-dir", "/nonexistent", "--checkpoint", ck.to_str().unwrap()], "http");
    let a = agent();
    let g = one_hot_graph(3, 34, &[[0, 1], [1, 2]]).to_string();
    let seeds: Vec<(&str, String)> = vec![
        ("/v1/predict/node", json!({"nodes": [0, 1, 2]}).to_string()),
        ("/v1/predict/node", format!("{{\"graphs\": [{g}]}}")),
        ("/v1/predict/graph", format!("{{\"graphs\": [{g}, {g}]}}")),
        ("/v1/predict/link", json!({"pairs": [[0, 1]]}).to_string()),
        ("/v1/generate", json!({"num": 2, "seed": 1}).to_string()),
        ("/jobs", json!({"kind": "train", "spec": {"dataset": "karate"}}).to_string()),
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut statuses = std::collections::BTreeMap::new();
    let start = Instant::now();
    for case in 0..1500 {
        let (path, seed) = &seeds[case % seeds.len()];
        let body = mutate(&mut rng, seed.as_bytes());
        let (st, v) = call(&a, "POST", &format!("{}{path}", s.base), Some(&body), Some(TOKEN));
        assert!(st == 200 || (400..500).contains(&st), "case {case} on {path}: status {st} for {:?}: {v}", String::from_utf8_lossy(&body));
        if st != 200 {
            assert!(v["error"]["message"].is_string(), "case {case}: not a JSON error: {v}");
        }
        *statuses.entry(st).or_insert(0) += 1;
    }
    eprintln!("1500 fuzzed bodies in {:.1} s: statuses {statuses:?}", start.elapsed().as_secs_f64());
    assert!(statuses.keys().any(|&s| s >= 400), "no case was refused: the fuzzer is not reaching the parsers");
    // still serving, and still right
    let r = post(&a, &format!("{}/v1/predict/node", s.base), &json!({"nodes": [0]}));
    assert_eq!(r.0, 200, "{:?}", r.1);
    assert_eq!(call(&a, "GET", &format!("{}/healthz", s.base), None, None).0, 200);
    assert!(!s.log.lock().unwrap().contains("panicked"), "{}", s.log.lock().unwrap());
}

#[test]
fn tokens_guard_a_server_bound_beyond_loopback_and_sigterm_stops_it_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = karate_gcn(tmp.path());
    let o = autoglm()
        .args(["serve", "--bind", "0.0.0.0", "--port", &free_port().to_string(), "--data-dir", "/nonexistent", "--checkpoint"])
        .arg(&ck)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--token-file"), "{}", String::from_utf8_lossy(&o.stderr));
    // a damaged or missing model file is refused at start, with the fix
    let bytes = std::fs::read(&ck).unwrap();
    let cut = tmp.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for (file, needle) in [(cut.clone(), "cut.safetensors"), (tmp.path().join("none.agx"), "does not exist")] {
        let o = autoglm().args(["serve", "--port", &free_port().to_string(), "--data-dir", "/nonexistent", "--checkpoint"]).arg(&file).output().unwrap();
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let short = tmp.path().join("short");
    std::fs::write(&short, "abc\n").unwrap();
    let o = autoglm().args(["serve", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck).arg("--token-file").arg(&short).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("too easy to guess"), "{}", String::from_utf8_lossy(&o.stderr));
    let tokens = tmp.path().join("tokens");
    std::fs::write(&tokens, format!("# tokens\n{TOKEN}\n")).unwrap();
    let mut s = Server::start(
        &["--bind", "0.0.0.0", "--token-file", tokens.to_str().unwrap(), "--data-dir", "/nonexistent", "--checkpoint", ck.to_str().unwrap()],
        "http",
    );
    let a = agent();
    let url = format!("{}/v1/predict/node", s.base);
    let body = json!({"nodes": [0]}).to_string();
    assert_error(&call(&a, "POST", &url, Some(body.as_bytes()), None), 401, "Bearer");
    assert_error(&call(&a, "POST", &url, Some(body.as_bytes()), Some("test-token-0123456789abcdeX")), 403, "not accepted");
    assert_eq!(call(&a, "POST", &url, Some(body.as_bytes()), Some(TOKEN)).0, 200);
    assert_eq!(call(&a, "GET", &format!("{}/metrics", s.base), None, None).0, 401);
    // SIGTERM: the server stops and exits 0
    let pid = s.child.id().to_string();
    ok(Command::new("kill").args(["-TERM", &pid]));
    let t = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "the server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}: {}", s.log.lock().unwrap());
    std::thread::sleep(Duration::from_millis(100));
    assert!(s.log.lock().unwrap().contains("stopped"), "{}", s.log.lock().unwrap());
}

#[test]
fn tls_with_a_certificate() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "curl is needed for the TLS test (apt-get install curl)");
        eprintln!("skipping: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ck = karate_gcn(tmp.path());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cp, kp) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cp, cert.cert.pem()).unwrap();
    std::fs::write(&kp, cert.signing_key.serialize_pem()).unwrap();
    let s = Server::start(
        &["--tls-cert", cp.to_str().unwrap(), "--tls-key", kp.to_str().unwrap(), "--data-dir", "/nonexistent", "--checkpoint", ck.to_str().unwrap()],
        "https",
    );
    let port = s.base.rsplit(':').next().unwrap();
    let o = Command::new("curl")
        .args([
            "-s",
            "--cacert",
            cp.to_str().unwrap(),
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            &format!("https://localhost:{port}/v1/predict/node"),
            "-d",
            "{\"nodes\": [0]}",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(v["nodes"][0]["node"], 0, "{v}");
    // plain HTTP to the TLS port gets nothing useful
    let o = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{port}/healthz")]).output().unwrap();
    assert_ne!(String::from_utf8_lossy(&o.stdout), "200");
    let bad = tmp.path().join("nokey.pem");
    std::fs::write(&bad, "not a key").unwrap();
    let o = autoglm()
        .args(["serve", "--port", &free_port().to_string(), "--data-dir", "/nonexistent", "--tls-cert"])
        .arg(&cp)
        .arg("--tls-key")
        .arg(&bad)
        .arg("--checkpoint")
        .arg(&ck)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("TLS certificate"), "{}", String::from_utf8_lossy(&o.stderr));
}
