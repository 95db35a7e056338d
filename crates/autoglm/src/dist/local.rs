//! [`LocalGroup`]: ranks as threads of one process, for tests and for
//! checking distributed code paths without MPI.
//!
//! Every collective is an all-gather under one mutex (results are combined in
//! rank order, so every rank sees the same sums); bytes are counted as MPI
//! would be handed them (an all-reduce counts its buffer once, not once per
//! peer). A rank that is dropped, or a collective that waits longer than the
//! group's time limit, fails the collective on every other rank.

use super::Communicator;
use crate::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A group of `size` in-process ranks.
pub struct LocalGroup;

impl LocalGroup {
    /// One communicator per rank (hand each to its own thread); collectives
    /// fail after 60 s without every rank arriving.
    pub fn ranks(size: usize) -> Vec<LocalComm> {
        LocalGroup::with_timeout(size, Duration::from_secs(60))
    }
    /// As [`LocalGroup::ranks`] with a time limit per collective.
    pub fn with_timeout(size: usize, timeout: Duration) -> Vec<LocalComm> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State { generation: 0, arrived: 0, slots: vec![None; size], result: Arc::new(Vec::new()), gone: None }),
            cv: Condvar::new(),
            size,
            timeout,
        });
        (0..size).map(|rank| LocalComm { rank, shared: shared.clone(), sent: AtomicU64::new(0) }).collect()
    }
}

struct State {
    generation: u64,
    arrived: usize,
    slots: Vec<Option<Vec<u8>>>,
    /// The last completed gather (valid until every rank has read it: the next
    /// one cannot complete before then).
    result: Arc<Vec<Vec<u8>>>,
    /// A rank that left the group.
    gone: Option<usize>,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    size: usize,
    timeout: Duration,
}

/// One rank of a [`LocalGroup`].
pub struct LocalComm {
    rank: usize,
    shared: Arc<Shared>,
    sent: AtomicU64,
}

impl LocalComm {
    fn lock(&self) -> MutexGuard<'_, State> {
        // a rank that panicked poisons the lock; its state is still consistent
        self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn gather(&self, mine: &[u8]) -> Result<Arc<Vec<Vec<u8>>>> {
        let fail = |why: String| Error::Distributed { rank: self.rank, msg: why };
        let mut st = self.lock();
        if let Some(r) = st.gone {
            return Err(fail(format!("rank {r} left the group; every rank must call the same collectives")));
        }
        let gen = st.generation;
        st.slots[self.rank] = Some(mine.to_vec());
        st.arrived += 1;
        if st.arrived == self.shared.size {
            let all: Vec<Vec<u8>> = st.slots.iter_mut().map(|s| s.take().unwrap_or_default()).collect();
            st.result = Arc::new(all);
            st.arrived = 0;
            st.generation += 1;
            self.shared.cv.notify_all();
            return Ok(st.result.clone());
        }
        let deadline = Instant::now() + self.shared.timeout;
        while st.generation == gen {
            if let Some(r) = st.gone {
                return Err(fail(format!("rank {r} left the group during a collective")));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(fail(format!(
                    "the other ranks did not arrive within {:.0} s (a rank died, or ranks run different steps)",
                    self.shared.timeout.as_secs_f64()
                )));
            }
            st = self.shared.cv.wait_timeout(st, deadline - now).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        Ok(st.result.clone())
    }

    fn count(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

impl Drop for LocalComm {
    fn drop(&mut self) {
        let mut st = self.lock();
        st.gone.get_or_insert(self.rank);
        self.shared.cv.notify_all();
    }
}

impl Communicator for LocalComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()> {
        self.count(buf.len() * 4);
        let bytes: Vec<u8> = buf.iter().flat_map(|v| v.to_le_bytes()).collect();
        let all = self.gather(&bytes)?;
        for (r, b) in all.iter().enumerate() {
            if b.len() != bytes.len() {
                return Err(Error::inconsistent(format!("all-reduce buffer of rank {r}"), bytes.len() / 4, b.len() / 4));
            }
        }
        for (i, v) in buf.iter_mut().enumerate() {
            *v = all.iter().map(|b| f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])).sum();
        }
        Ok(())
    }
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.count(8 + mine.len());
        Ok(self.gather(mine)?.as_ref().clone())
    }
    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        if root >= self.shared.size {
            return Err(Error::IndexOutOfRange {
                what: "broadcast root".into(),
                index: root,
                bound: self.shared.size,
                hint: "give a rank of the group".into(),
            });
        }
        if self.rank == root {
            self.count(8 + buf.len());
        }
        let all = self.gather(if self.rank == root { buf } else { &[] })?;
        buf.clone_from(&all[root]);
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        self.gather(&[]).map(|_| ())
    }
    fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}
