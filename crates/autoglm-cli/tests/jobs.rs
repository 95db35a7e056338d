//! The job queue on a real RabbitMQ: `POST /jobs` through `autoglm serve`,
//! `autoglm worker` processes, a worker killed in the middle of a job, every
//! job completed exactly once in the SQLite store, failures and the
//! dead-letter queue. Needs a broker on 127.0.0.1:5672 (`.ci/run` installs
//! and starts one); without one the tests skip with a message, and fail when
//! `CI` is set.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "jobs-token-0123456789abcdef";

fn amqp_url() -> Option<String> {
    let url = std::env::var("AUTOGLM_TEST_AMQP").unwrap_or_else(|_| "amqp://127.0.0.1:5672/%2f".into());
    if std::net::TcpStream::connect_timeout(&"127.0.0.1:5672".parse().unwrap(), Duration::from_secs(2)).is_ok()
        || std::env::var_os("AUTOGLM_TEST_AMQP").is_some()
    {
        return Some(url);
    }
    assert!(std::env::var_os("CI").is_none(), "CI is set but no RabbitMQ broker listens on 127.0.0.1:5672: install and start rabbitmq-server");
    eprintln!("skipping: no RabbitMQ on 127.0.0.1:5672 (apt-get install rabbitmq-server && service rabbitmq-server start)");
    None
}

fn autoglm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autoglm"))
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `autoglm ARGS` and wait for `ready` on its stderr.
fn spawn(args: &[String], ready: &str) -> Proc {
    let mut child = autoglm().args(args).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let ready = ready.to_string();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(&ready) {
                let _ = tx.send(Ok(()));
            }
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => Proc(child),
        Ok(Err(log)) => panic!("{args:?} exited: {log}"),
        Err(_) => panic!("{args:?} did not start"),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into()
}

fn get(a: &ureq::Agent, url: &str) -> (u16, Value) {
    let mut r = a.get(url).header("Authorization", &format!("Bearer {TOKEN}")).call().unwrap();
    (r.status().as_u16(), serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap())
}

fn post(a: &ureq::Agent, url: &str, v: &Value) -> (u16, Value) {
    let mut r = a.post(url).header("Authorization", &format!("Bearer {TOKEN}")).send(v.to_string()).unwrap();
    (r.status().as_u16(), serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap())
}

struct Setup {
    _tmp: tempfile::TempDir,
    models: std::path::PathBuf,
    base: String,
    common: Vec<String>,
    _server: Proc,
}

fn setup(url: &str, max_attempts: u32) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let ck = models.join("serve.safetensors");
    let o =
        autoglm().args(["train", "--dataset", "karate", "--epochs", "5", "--quiet", "--data-dir", "/nonexistent", "--checkpoint"]).arg(&ck).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tokens = tmp.path().join("tokens");
    std::fs::write(&tokens, format!("{TOKEN}\n")).unwrap();
    // a fresh set of queues per test run
    let prefix = format!("test-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let common: Vec<String> = [
        "--amqp",
        url,
        "--queue-prefix",
        &prefix,
        "--models-dir",
        models.to_str().unwrap(),
        "--data-dir",
        "/nonexistent",
        "--max-attempts",
        &max_attempts.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut args: Vec<String> =
        ["serve", "--checkpoint", ck.to_str().unwrap(), "--port", &port.to_string(), "--token-file", tokens.to_str().unwrap(), "--jobs-db"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.push(tmp.path().join("jobs.sqlite").to_str().unwrap().into());
    args.extend(common.iter().cloned());
    let server = spawn(&args, "jobs on");
    Setup { models, base: format!("http://127.0.0.1:{port}"), common, _server: server, _tmp: tmp }
}

fn worker(s: &Setup, name: &str) -> Proc {
    let mut args: Vec<String> = vec!["worker".into(), "--name".into(), name.into()];
    args.extend(s.common.iter().cloned());
    spawn(&args, "waiting for jobs")
}

fn wait_for(a: &ureq::Agent, s: &Setup, ids: &[String], secs: u64, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let t = Instant::now();
    loop {
        let recs: Vec<Value> = ids.iter().map(|id| get(a, &format!("{}/jobs/{id}", s.base)).1).collect();
        if recs.iter().all(&done) {
            return recs;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "jobs not finished after {secs} s: {:?}",
            recs.iter().map(|r| (&r["id"], &r["state"], &r["attempts"])).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_killed_worker_leaves_its_job_to_another_and_every_job_completes_once() {
    let Some(url) = amqp_url() else { return };
    let s = setup(&url, 3);
    let a = agent();
    // 24 training jobs of about a second each
    let ids: Vec<String> = (0..24).map(|i| format!("train-{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let job = json!({"id": id, "kind": "train", "spec": {"dataset": "karate", "model": "gcn", "seed": i, "overrides": {"epochs": 30000}, "checkpoint": format!("{id}.safetensors")}});
        let (st, v) = post(&a, &format!("{}/jobs", s.base), &job);
        assert_eq!(st, 202, "{v}");
        assert_eq!(v["state"], "queued");
        // posting the same job again is idempotent
        assert_eq!(post(&a, &format!("{}/jobs", s.base), &job).0, 200);
    }
    let other = json!({"id": "train-00", "kind": "train", "spec": {"dataset": "karate"}});
    assert_eq!(post(&a, &format!("{}/jobs", s.base), &other).0, 409);
    let mut victim = worker(&s, "victim");
    let _w2 = worker(&s, "survivor");
    // kill the victim in the middle of a job
    let t = Instant::now();
    let killed = loop {
        let running = ids.iter().map(|id| get(&a, &format!("{}/jobs/{id}", s.base)).1).find(|r| r["state"] == "running" && r["worker"] == "victim");
        if let Some(r) = running {
            break r["id"].as_str().unwrap().to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(60), "the victim never started a job");
        std::thread::sleep(Duration::from_millis(20));
    };
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();
    let _w3 = worker(&s, "late");
    let recs = wait_for(&a, &s, &ids, 240, |r| r["state"] == "done");
    for r in &recs {
        assert_eq!(r["completions"], 1, "{r}");
        assert!(r["result"]["summary"].is_object(), "{r}");
        assert_ne!(r["worker"], "victim", "the victim was killed before finishing anything it was recorded for: {r}");
        let id = r["id"].as_str().unwrap();
        assert!(s.models.join(format!("{id}.safetensors")).is_file(), "{id}: no checkpoint");
    }
    let k = recs.iter().find(|r| r["id"] == killed.as_str()).unwrap();
    assert!(k["attempts"].as_u64().unwrap() >= 2, "the killed job ran again: {k}");
    let (_, counts) = get(&a, &format!("{}/jobs", s.base));
    assert_eq!(counts["states"]["done"], 24, "{counts}");
}

#[test]
fn bad_jobs_fail_once_and_a_job_that_kills_its_worker_is_dead_lettered() {
    let Some(url) = amqp_url() else { return };
    // one delivery per job: a job whose worker dies is not handed out again
    let s = setup(&url, 1);
    let a = agent();
    let (st, _) =
        post(&a, &format!("{}/jobs", s.base), &json!({"id": "poison", "kind": "train", "spec": {"dataset": "karate", "overrides": {"epochs": 200000}}}));
    assert_eq!(st, 202);
    let mut first = worker(&s, "first");
    wait_for(&a, &s, &["poison".to_string()], 60, |r| r["state"] == "running");
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let _w = worker(&s, "second");
    // a job that cannot run: failed at once, not retried
    let (st, _) = post(&a, &format!("{}/jobs", s.base), &json!({"id": "nodata", "kind": "train", "spec": {"dataset": "no-such-dataset"}}));
    assert_eq!(st, 202);
    // a scoring job through the run boundary
    let (st, _) = post(&a, &format!("{}/jobs", s.base), &json!({"id": "score", "kind": "score", "spec": {"checkpoint": "serve.safetensors"}}));
    assert_eq!(st, 202);
    let ids = ["poison".to_string(), "nodata".to_string(), "score".to_string()];
    let recs = wait_for(&a, &s, &ids, 120, |r| ["done", "failed", "dead"].contains(&r["state"].as_str().unwrap_or("")));
    assert_eq!(recs[0]["state"], "dead", "{}", recs[0]);
    assert!(recs[0]["error"].as_str().unwrap().contains("dead-lettered"), "{}", recs[0]);
    assert_eq!(recs[0]["attempts"], 1, "{}", recs[0]);
    assert_eq!(recs[1]["state"], "failed", "{}", recs[1]);
    assert!(recs[1]["error"].as_str().unwrap().contains("no-such-dataset"), "{}", recs[1]);
    assert_eq!(recs[1]["attempts"], 1);
    assert_eq!(recs[2]["state"], "done", "{}", recs[2]);
    assert_eq!(recs[2]["result"]["predictions"].as_array().map(Vec::len), Some(34), "{}", recs[2]);
    // refused at the door
    let (st, v) = post(&a, &format!("{}/jobs", s.base), &json!({"kind": "train", "spec": {"checkpoint": "../../etc/x"}}));
    assert_eq!(st, 422, "{v}");
    let (st, v) = post(&a, &format!("{}/jobs", s.base), &json!({"kind": "mine"}));
    assert!(st == 422 && v["error"]["message"].as_str().unwrap().contains("unknown job kind"), "{v}");
    let (st, _) = get(&a, &format!("{}/jobs/nope", s.base));
    assert_eq!(st, 404);
    assert!(Path::new(&s.models).join("serve.safetensors").is_file());
}
