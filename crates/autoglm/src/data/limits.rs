//! A process-wide memory budget for the loaders.
//!
//! A size read from a file (a header count, the largest id, a matrix shape)
//! is never trusted to allocate: the loaders first bound it by the data
//! actually read (ids by the rows present, widths by the columns used), and
//! [`check_alloc`] rejects, before allocating, anything whose estimated memory
//! exceeds [`max_memory`] (default: the machine's memory, `MemTotal` of
//! `/proc/meminfo`, else 16 GiB).

use crate::{Error, Result};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Fallback budget when `/proc/meminfo` cannot be read: 16 GiB.
const FALLBACK_BYTES: u64 = 16 << 30;

/// The budget in bytes; 0 means "not set yet" (computed on first use).
static MAX_MEMORY: AtomicU64 = AtomicU64::new(0);

/// `MemTotal` of `/proc/meminfo` in bytes, if readable.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut it = line["MemTotal:".len()..].split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    let unit = match it.next() {
        Some("kB") | Some("KB") | Some("kb") => 1024,
        None => 1,
        Some(_) => return None,
    };
    n.checked_mul(unit).filter(|&b| b > 0)
}

/// The memory budget in bytes that one allocation made from file content may
/// use (default: the machine's memory, `MemTotal`, else 16 GiB).
pub fn max_memory() -> u64 {
    match MAX_MEMORY.load(Ordering::Relaxed) {
        0 => {
            let d = mem_total().unwrap_or(FALLBACK_BYTES);
            // Keep a value set meanwhile by `set_max_memory`.
            match MAX_MEMORY.compare_exchange(0, d, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => d,
                Err(set) => set,
            }
        }
        b => b,
    }
}

/// Set the memory budget (bytes) for every loader in this process; 0 is taken as 1.
pub fn set_max_memory(bytes: u64) {
    MAX_MEMORY.store(bytes.max(1), Ordering::Relaxed);
}

/// Human-readable bytes (`1.5 GiB`).
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Reject allocating `count` items of `bytes_per` bytes when that exceeds the
/// memory budget ([`max_memory`]). `what` names the value (e.g. "num_nodes
/// (largest node id + 1)"), `path` the file it came from.
///
/// # Errors
/// [`Error::Parse`] naming the value, the file, the estimated memory and the budget.
pub fn check_alloc(what: &str, path: &Path, count: u64, bytes_per: u64) -> Result<()> {
    check_alloc_at(what, path, None, count, bytes_per)
}

/// [`check_alloc`] with the 1-based line the value came from.
pub(crate) fn check_alloc_at(what: &str, path: &Path, line: Option<usize>, count: u64, bytes_per: u64) -> Result<()> {
    check_with_budget(what, path, line, count, bytes_per, max_memory())
}

fn check_with_budget(what: &str, path: &Path, line: Option<usize>, count: u64, bytes_per: u64, budget: u64) -> Result<()> {
    let need = count.checked_mul(bytes_per);
    if need.is_some_and(|n| n <= budget) {
        return Ok(());
    }
    let need = need.map_or_else(|| "more than 16 EiB".to_string(), human);
    Err(Error::parse(
        path,
        line,
        format!(
            "{what} = {count} would need about {need} ({count} x {bytes_per} bytes), more than the memory budget of {} (the machine's memory); the value is almost certainly wrong: fix the file",
            human(budget)
        ),
    ))
}

/// Whether a size announced by a file (a header's feature width, a matrix
/// shape) is plausible given the data that was read: it may exceed what the
/// data uses (`used`: largest index + 1) by at most the amount of data read
/// (`data_len` values) plus 1024 (unused vocabulary columns, trailing
/// isolated nodes), never by more.
pub(crate) fn bounded_by_data(claimed: usize, used: usize, data_len: usize) -> bool {
    claimed <= used.saturating_add(data_len).saturating_add(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_rejects_with_value_file_and_sizes() {
        let p = Path::new("dir/labels.csv");
        assert!(check_with_budget("num_classes", p, None, 1000, 8, 8000).is_ok());
        let e = check_with_budget("num_classes", p, Some(3), 99_999_999_999, 8, 16 << 30).unwrap_err().to_string();
        for needle in ["dir/labels.csv:3", "num_classes = 99999999999", "745.1 GiB", "16.0 GiB"] {
            assert!(e.contains(needle), "expected '{needle}' in: {e}");
        }
        let e = check_with_budget("n", p, None, u64::MAX, 2, u64::MAX).unwrap_err().to_string();
        assert!(e.contains("more than 16 EiB"), "{e}");
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(3 << 20), "3.0 MiB");
    }

    #[test]
    fn default_budget_is_the_machine_memory_and_settable() {
        let b = max_memory();
        assert!(b > 0);
        if let Some(m) = mem_total() {
            assert!(m > 1 << 20, "MemTotal {m}");
        }
        // Setting the current value again changes nothing for other tests.
        set_max_memory(b);
        assert_eq!(max_memory(), b);
        assert!(check_alloc("x", Path::new("f"), 1, 1).is_ok());
        assert!(check_alloc("x", Path::new("f"), u64::MAX, 1).is_err());
    }

    #[test]
    fn data_bound() {
        assert!(bounded_by_data(1433, 1433, 49_216));
        assert!(bounded_by_data(2000, 10, 1000));
        assert!(!bounded_by_data(99_999_999_999, 1433, 49_216));
        assert!(bounded_by_data(usize::MAX, usize::MAX, usize::MAX));
    }
}
