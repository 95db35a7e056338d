//! Checksum-verified downloads into a local cache (for users with internet
//! access; tests use a loopback server).
//!
//! Architecture invariant: this is the only module of `data` that touches the
//! network. A download goes to a temporary file next to its destination and
//! is renamed into place only after its SHA-256 matches, so a failed or
//! tampered download never leaves a file that later loads would trust.

use super::planetoid::{load_planetoid, PlanetoidSource};
use super::NodeDataset;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Where the Planetoid raw files are published (the layout PyG downloads from).
pub const PLANETOID_BASE_URL: &str = "https://github.com/kimiyoung/planetoid/raw/master/data";

/// The eight raw files of a Planetoid dataset: `ind.<name>.<ext>`.
pub const PLANETOID_FILES: [&str; 8] = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"];

/// Largest download accepted (bytes); a larger response is an error.
pub const MAX_DOWNLOAD_BYTES: u64 = 2 << 30;

/// SHA-256 of the raw Planetoid files, from `shared/datasets/SHA256SUMS`
/// (kimiyoung/planetoid at commit af6abf46). `ind.pubmed.allx` is not listed:
/// the reference copy lacks it.
const PLANETOID_SHA256: &[(&str, &str)] = &[
    ("ind.cora.allx", "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"),
    ("ind.cora.ally", "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"),
    ("ind.cora.graph", "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"),
    ("ind.cora.test.index", "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"),
    ("ind.cora.tx", "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"),
    ("ind.cora.ty", "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"),
    ("ind.cora.x", "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"),
    ("ind.cora.y", "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"),
    ("ind.pubmed.ally", "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e"),
    ("ind.pubmed.graph", "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9"),
    ("ind.pubmed.test.index", "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5"),
    ("ind.pubmed.tx", "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d"),
    ("ind.pubmed.ty", "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd"),
    ("ind.pubmed.x", "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33"),
    ("ind.pubmed.y", "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3"),
];

/// The known SHA-256 (lower-case hex) of a raw Planetoid file such as `ind.cora.x`.
pub fn known_sha256(file_name: &str) -> Option<&'static str> {
    PLANETOID_SHA256.iter().find(|(f, _)| *f == file_name).map(|(_, h)| *h)
}

/// The download cache: `$AUTOGLM_CACHE`, else `~/.cache/autoglm`, else `.autoglm-cache`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("AUTOGLM_CACHE") {
        return PathBuf::from(p);
    }
    match std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")) {
        Some(home) => PathBuf::from(home).join(".cache").join("autoglm"),
        None => PathBuf::from(".autoglm-cache"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file, as lower-case hex.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    Ok(hex(&h.finalize()))
}

fn check_hex(url: &str, sha256_hex: &str) -> Result<String> {
    let h = sha256_hex.trim().to_ascii_lowercase();
    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::config(format!("sha256 for {url}"), sha256_hex, "expected 64 hexadecimal digits (the output of `sha256sum`)"));
    }
    Ok(h)
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Download `url` to `dest`, verifying its SHA-256 (64 hex digits, any case).
///
/// When `dest` already exists with the right hash nothing is requested (cache
/// hit). Otherwise the body is streamed to a temporary file in `dest`'s folder
/// (created if needed) and renamed to `dest` only when the hash matches; on any
/// failure the temporary file is removed and an existing `dest` is left as it
/// was. Responses larger than [`MAX_DOWNLOAD_BYTES`] are refused.
///
/// # Errors
/// [`Error::Config`] for a malformed hash; [`Error::Download`] for HTTP or
/// network errors and checksum mismatches; [`Error::Io`] for local file errors.
pub fn download_verified(url: &str, dest: &Path, sha256_hex: &str) -> Result<PathBuf> {
    let expected = check_hex(url, sha256_hex)?;
    fetch(url, dest, Some(&expected))
}

/// Download without verification, reusing `dest` when it exists.
fn fetch(url: &str, dest: &Path, expected: Option<&str>) -> Result<PathBuf> {
    if dest.is_file() {
        match expected {
            None => return Ok(dest.to_path_buf()),
            Some(h) if sha256_file(dest)? == h => return Ok(dest.to_path_buf()),
            Some(_) => {} // stale or corrupt: download again
        }
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let file_name = dest.file_name().and_then(|s| s.to_str()).unwrap_or("download");
    let tmp = dir.join(format!(".{file_name}.part-{}-{}", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));

    let agent = ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(30)).timeout_read(Duration::from_secs(120)).build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => {
            Error::Download { url: url.to_string(), msg: format!("server answered HTTP {code}; check the URL (and the base URL of the dataset)") }
        }
        ureq::Error::Transport(t) => {
            Error::Download { url: url.to_string(), msg: format!("{t}; check the network connection, or copy the file to {} by hand", dest.display()) }
        }
    })?;

    let mut guard = TempGuard(Some(tmp.clone()));
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    let mut reader = resp.into_reader().take(MAX_DOWNLOAD_BYTES + 1);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Download { url: url.to_string(), msg: format!("reading the response failed after {total} bytes: {e}; try again") });
            }
        };
        total += n as u64;
        if total > MAX_DOWNLOAD_BYTES {
            return Err(Error::Download { url: url.to_string(), msg: format!("response is larger than {MAX_DOWNLOAD_BYTES} bytes; refusing it") });
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Error::io("write", &tmp, e))?;
    }
    file.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
    drop(file);
    let got = hex(&hasher.finalize());
    if let Some(h) = expected {
        if got != h {
            return Err(Error::Download {
                url: url.to_string(),
                msg: format!("sha256 mismatch: expected {h}, got {got} ({total} bytes); the file was not saved; the server sent different content (wrong URL, or a changed or corrupted file)"),
            });
        }
    }
    std::fs::rename(&tmp, dest).map_err(|e| Error::io("rename into place", dest, e))?;
    guard.0 = None;
    Ok(dest.to_path_buf())
}

/// Download the eight raw files of a Planetoid dataset from
/// `<base_url>/ind.<name>.<ext>` (e.g. [`PLANETOID_BASE_URL`]) into
/// `<cache_dir>/<name>/raw/`, then load them ([`PlanetoidSource::Raw`]).
///
/// Files already in the cache are reused (verified ones are re-hashed, not
/// re-downloaded). Files with a built-in checksum (Cora, and PubMed except
/// `allx`) are always verified. With `verify == true` a file without a
/// built-in checksum is an error; with `verify == false` it is downloaded
/// unverified. `name` is lower-cased for the file names.
///
/// # Errors
/// [`Error::Download`] for network errors, checksum mismatches and files
/// without a known checksum when `verify` is set; plus the errors of
/// [`load_planetoid`].
pub fn fetch_planetoid(base_url: &str, cache_dir: &Path, name: &str, verify: bool) -> Result<NodeDataset> {
    let lname = name.to_lowercase();
    if lname.is_empty() || !lname.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') || lname.contains("..") {
        return Err(Error::config("dataset name", name, "use a plain name such as cora, citeseer or pubmed"));
    }
    let raw = cache_dir.join(&lname).join("raw");
    let base = base_url.trim_end_matches('/');
    if verify {
        // Fail before any request.
        if let Some(ext) = PLANETOID_FILES.iter().find(|e| known_sha256(&format!("ind.{lname}.{e}")).is_none()) {
            return Err(Error::Download {
                url: format!("{base}/ind.{lname}.{ext}"),
                msg: format!("no known sha256 for ind.{lname}.{ext}, so it cannot be verified; pass verify = false to download files without a built-in checksum unverified"),
            });
        }
    }
    for ext in PLANETOID_FILES {
        let file = format!("ind.{lname}.{ext}");
        let url = format!("{base}/{file}");
        let dest = raw.join(&file);
        match known_sha256(&file) {
            Some(h) => {
                download_verified(&url, &dest, h)?;
            }
            None => {
                fetch(&url, &dest, None)?;
            }
        }
    }
    load_planetoid(cache_dir, &lname, PlanetoidSource::Raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Instant;

    /// A loopback HTTP/1.1 server for files under `root`, counting requests.
    struct Server {
        base: String,
        hits: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        handle: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        fn start(root: PathBuf) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let hits = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (h, s) = (hits.clone(), stop.clone());
            let handle = std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            h.fetch_add(1, Ordering::SeqCst);
                            let _ = serve(stream, &root);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                        Err(_) => break,
                    }
                }
            });
            Server { base, hits, stop, handle: Some(handle) }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
    }

    fn serve(mut s: TcpStream, root: &Path) -> std::io::Result<()> {
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while req.len() < 16 * 1024 && !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&req);
        let path = head.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
        let file = (!path.split('/').any(|c| c == ".." || c.is_empty())).then(|| root.join(&path)).filter(|p| p.is_file());
        match file.and_then(|f| std::fs::read(f).ok()) {
            Some(body) => {
                write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
                s.write_all(&body)?;
            }
            None => s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?,
        }
        s.flush()
    }

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn verified_download_cache_hit_and_mismatch() {
        let served = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(served.path().join("a.bin"), &body).unwrap();
        let server = Server::start(served.path().to_path_buf());
        let cache = tempfile::tempdir().unwrap();
        let url = format!("{}/a.bin", server.base);

        // Download, then a cache hit without any request.
        let dest = cache.path().join("sub/a.bin");
        let h = sha(&body);
        assert_eq!(download_verified(&url, &dest, &h.to_uppercase()).unwrap(), dest);
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        assert_eq!(server.hits(), 1);
        download_verified(&url, &dest, &h).unwrap();
        assert_eq!(server.hits(), 1);
        assert_eq!(files_in(&cache.path().join("sub")), vec!["a.bin"]);

        // Mismatch: error, nothing left behind.
        let bad = cache.path().join("bad/a.bin");
        let e = download_verified(&url, &bad, &"0".repeat(64)).unwrap_err();
        assert!(matches!(&e, Error::Download { msg, .. } if msg.contains("mismatch")), "{e}");
        assert_eq!(server.hits(), 2);
        assert!(files_in(&cache.path().join("bad")).is_empty());

        // A corrupt cached file is replaced.
        std::fs::write(&dest, b"garbage").unwrap();
        download_verified(&url, &dest, &h).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        assert_eq!(server.hits(), 3);

        // A mismatch keeps the existing file as it was.
        std::fs::write(&dest, b"old").unwrap();
        assert!(download_verified(&url, &dest, &"1".repeat(64)).is_err());
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(files_in(&cache.path().join("sub")), vec!["a.bin"]);

        // 404 and malformed hashes.
        let e = download_verified(&format!("{}/missing", server.base), &cache.path().join("m"), &h).unwrap_err();
        assert!(e.to_string().contains("HTTP 404"), "{e}");
        assert!(!cache.path().join("m").exists());
        let e = download_verified(&url, &cache.path().join("x"), "abc").unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e}");
    }

    #[test]
    fn connection_refused_is_a_download_error() {
        // Bind then drop a listener to get a (very likely) closed loopback port.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cache = tempfile::tempdir().unwrap();
        let e = download_verified(&format!("http://127.0.0.1:{port}/f"), &cache.path().join("f"), &"0".repeat(64)).unwrap_err();
        assert!(matches!(e, Error::Download { .. }), "{e}");
        assert!(files_in(cache.path()).is_empty());
    }

    #[test]
    fn fetch_unknown_planetoid_requires_verify_false() {
        use crate::data::pickle::writer;
        let served = tempfile::tempdir().unwrap();
        let s = served.path();
        let w = |ext: &str, b: Vec<u8>| std::fs::write(s.join(format!("ind.toy.{ext}")), b).unwrap();
        // 2 non-test nodes (1 labelled) + 1 test node, 2 features, 2 classes, path 0-1-2.
        w("x", writer::csr(1, 2, &[1.0, 0.0]));
        w("allx", writer::csr(2, 2, &[1.0, 0.0, 0.0, 1.0]));
        w("tx", writer::csr(1, 2, &[1.0, 1.0]));
        w("y", writer::one_hot(&[0], 2));
        w("ally", writer::one_hot(&[0, 1], 2));
        w("ty", writer::one_hot(&[1], 2));
        w("graph", writer::adjacency(&[(0, vec![1]), (1, vec![0, 2]), (2, vec![1])]));
        std::fs::write(s.join("ind.toy.test.index"), "2\n").unwrap();
        let server = Server::start(s.to_path_buf());
        let cache = tempfile::tempdir().unwrap();

        let e = fetch_planetoid(&server.base, cache.path(), "toy", true).unwrap_err();
        assert!(e.to_string().contains("no known sha256"), "{e}");
        let d = fetch_planetoid(&format!("{}/", server.base), cache.path(), "Toy", false).unwrap();
        assert_eq!((d.graph.num_nodes(), d.graph.num_edges(), d.num_classes), (3, 4, 2));
        assert_eq!(d.x.to_dense(), vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let hits = server.hits();
        assert_eq!(hits, 8);
        fetch_planetoid(&server.base, cache.path(), "toy", false).unwrap();
        assert_eq!(server.hits(), hits);
        assert!(fetch_planetoid(&server.base, cache.path(), "../x", false).is_err());
    }

    #[test]
    fn fetch_cora_verified_from_loopback() {
        let Some(data) = crate::testing::shared_datasets("cora") else {
            return;
        };
        let server = Server::start(data.join("cora/raw"));
        let cache = tempfile::tempdir().unwrap();
        let d = fetch_planetoid(&server.base, cache.path(), "cora", true).unwrap();
        assert_eq!((d.graph.num_nodes(), d.graph.num_edges()), (2708, 10_556));
        assert_eq!(server.hits(), 8);
        // Second time: all from the cache.
        fetch_planetoid(&server.base, cache.path(), "cora", true).unwrap();
        assert_eq!(server.hits(), 8);
        // A tampered cached file is downloaded again and verified.
        std::fs::write(cache.path().join("cora/raw/ind.cora.y"), b"x").unwrap();
        fetch_planetoid(&server.base, cache.path(), "cora", true).unwrap();
        assert_eq!(server.hits(), 9);
        // PubMed's allx has no checksum: verify = true refuses before loading.
        let e = fetch_planetoid(&server.base, cache.path(), "pubmed", true).unwrap_err();
        assert!(e.to_string().contains("ind.pubmed.allx") && e.to_string().contains("no known sha256"), "{e}");
        assert_eq!(server.hits(), 9);
    }

    #[test]
    fn checksum_table_matches_shared_files() {
        let Some(data) = crate::testing::shared_datasets("cora") else {
            return;
        };
        for (file, h) in PLANETOID_SHA256 {
            let name = file.split('.').nth(1).unwrap();
            let p = data.join(name).join("raw").join(file);
            if p.is_file() {
                assert_eq!(&sha256_file(&p).unwrap(), h, "{file}");
            }
        }
    }
}
