//! `autoglm train --distributed`: one rank of an SPMD job under `mpirun`.
//!
//! The MPI transport (rsmpi over the system MPI) is compiled only with the
//! `mpi` cargo feature, so the default build needs no system library. Each
//! rank runs the same job through the library's run boundary with a
//! [`Distributed`] environment; rank 0 alone prints the report and writes the
//! JSON, the checkpoint and the resumable state.

use anyhow::Result;
use autoglm::dist::{Compression, SyncMode};
use autoglm::run::JobSpec;

/// `--compress` and `--sync-every` as the library's settings.
pub fn settings(compress: &str, sync_every: Option<usize>) -> Result<(Compression, SyncMode)> {
    let c: Compression = compress.parse()?;
    let mode = match sync_every {
        None => SyncMode::EveryStep,
        Some(0) => {
            anyhow::bail!("--sync-every 0: give the number of local steps between parameter averages (at least 1), or leave it out to sum gradients every step")
        }
        Some(h) => {
            if c != Compression::None {
                anyhow::bail!("--sync-every averages parameters, which are not compressed; drop --compress {c} or --sync-every");
            }
            SyncMode::Periodic { period: h }
        }
    };
    Ok((c, mode))
}

/// Whether this process was started by an MPI launcher.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
fn launched() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"].iter().any(|v| std::env::var_os(v).is_some())
}

/// Ranks sharing this machine (their kernels share its cores).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
fn local_ranks() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"].iter().find_map(|v| std::env::var(v).ok()?.parse().ok()).unwrap_or(1)
}

/// Run `job` as this rank.
#[cfg(feature = "mpi")]
pub fn run(job: &JobSpec, quiet: bool, models: &autoglm::models::registry::ModelRegistry, compression: Compression, mode: SyncMode) -> Result<()> {
    use autoglm::dist::Communicator as _;
    if !launched() {
        anyhow::bail!(
            "--distributed runs one rank per process under an MPI launcher: mpirun -np 2 autoglm train ... --distributed (as root add --allow-run-as-root)"
        );
    }
    let comm = mpi_comm::MpiComm::init()?;
    // ranks on one machine split its cores and do not spin for them
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let policy = autoglm::run::ThreadPolicy::shared(cores, local_ranks());
    policy.apply();
    rayon::ThreadPoolBuilder::new().num_threads(policy.kernel_threads).build_global().ok();
    let dist = autoglm::run::Distributed { comm: &comm, compression, mode };
    let rank = comm.rank();
    let result = crate::run_job_as(job, quiet || rank != 0, models, Some(dist));
    if let Err(e) = &result {
        // an error on one rank must not leave the others waiting in a collective
        eprintln!("error (rank {rank}): {e:#}");
        comm.abort(1);
    }
    result
}

/// Without the `mpi` feature: say how to get it.
#[cfg(not(feature = "mpi"))]
pub fn run(_job: &JobSpec, _quiet: bool, _models: &autoglm::models::registry::ModelRegistry, _c: Compression, _m: SyncMode) -> Result<()> {
    anyhow::bail!(
        "this autoglm was built without MPI support: build it with `cargo build --release -p autoglm-cli --features mpi` (needs Debian's libopenmpi-dev, openmpi-bin and libclang-dev), then launch `mpirun -np N autoglm train ... --distributed`"
    )
}

#[cfg(feature = "mpi")]
mod mpi_comm {
    use anyhow::{anyhow, bail, Result};
    use autoglm::dist::Communicator as GlmCommunicator;
    use mpi::collective::SystemOperation;
    use mpi::datatype::PartitionMut;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    /// The world communicator; every MPI call goes through one mutex.
    pub struct MpiComm {
        world: Mutex<SimpleCommunicator>,
        rank: usize,
        size: usize,
        sent: AtomicU64,
        _universe: mpi::environment::Universe,
    }

    // SAFETY: MPI is initialised with MPI_THREAD_SERIALIZED (checked in
    // `init`), and every MPI call is made while holding `world`'s mutex, so no
    // two threads are ever inside MPI at once.
    unsafe impl Send for MpiComm {}
    // SAFETY: as above.
    unsafe impl Sync for MpiComm {}

    impl MpiComm {
        pub fn init() -> Result<MpiComm> {
            let (universe, level) = mpi::initialize_with_threading(mpi::Threading::Serialized).ok_or_else(|| anyhow!("MPI was initialised twice"))?;
            if level < mpi::Threading::Serialized {
                bail!("this MPI offers thread level {level:?}; --distributed needs MPI_THREAD_SERIALIZED");
            }
            let world = universe.world();
            let (rank, size) = (world.rank() as usize, world.size() as usize);
            Ok(MpiComm { world: Mutex::new(world), rank, size, sent: AtomicU64::new(0), _universe: universe })
        }
        fn world(&self) -> std::sync::MutexGuard<'_, SimpleCommunicator> {
            self.world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        fn count(&self, n: usize) {
            self.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        /// End every rank of the job now.
        pub fn abort(&self, code: i32) -> ! {
            self.world().abort(code)
        }
    }

    fn too_big(n: usize) -> autoglm::Error {
        autoglm::Error::Distributed { rank: 0, msg: format!("a message of {n} elements exceeds MPI's 32-bit counts") }
    }

    impl GlmCommunicator for MpiComm {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn all_reduce_sum(&self, buf: &mut [f32]) -> autoglm::Result<()> {
            if i32::try_from(buf.len()).is_err() {
                return Err(too_big(buf.len()));
            }
            self.count(4 * buf.len());
            let mut out = vec![0.0f32; buf.len()];
            self.world().all_reduce_into(&buf[..], &mut out[..], SystemOperation::sum());
            buf.copy_from_slice(&out);
            Ok(())
        }
        fn all_gather(&self, mine: &[u8]) -> autoglm::Result<Vec<Vec<u8>>> {
            self.count(8 + mine.len());
            let w = self.world();
            let mut lens = vec![0u64; self.size];
            w.all_gather_into(&(mine.len() as u64), &mut lens[..]);
            let total: u64 = lens.iter().sum();
            let counts: Vec<i32> = lens.iter().map(|&l| i32::try_from(l).map_err(|_| too_big(l as usize))).collect::<autoglm::Result<_>>()?;
            let displs: Vec<i32> = counts
                .iter()
                .scan(0i64, |at, &c| {
                    let d = *at;
                    *at += i64::from(c);
                    Some(d)
                })
                .map(|d| i32::try_from(d).map_err(|_| too_big(total as usize)))
                .collect::<autoglm::Result<_>>()?;
            let mut recv = vec![0u8; total as usize];
            {
                let mut part = PartitionMut::new(&mut recv[..], &counts[..], &displs[..]);
                w.all_gather_varcount_into(mine, &mut part);
            }
            let mut out = Vec::with_capacity(self.size);
            let mut at = 0usize;
            for &l in &lens {
                out.push(recv[at..at + l as usize].to_vec());
                at += l as usize;
            }
            Ok(out)
        }
        fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> autoglm::Result<()> {
            if root >= self.size {
                return Err(autoglm::Error::IndexOutOfRange {
                    what: "broadcast root".into(),
                    index: root,
                    bound: self.size,
                    hint: "give a rank of the job".into(),
                });
            }
            if self.rank == root {
                self.count(8 + buf.len());
            }
            let w = self.world();
            let p = w.process_at_rank(root as i32);
            let mut len = buf.len() as u64;
            p.broadcast_into(&mut len);
            buf.resize(len as usize, 0);
            p.broadcast_into(&mut buf[..]);
            Ok(())
        }
        fn barrier(&self) -> autoglm::Result<()> {
            self.world().barrier();
            Ok(())
        }
        fn bytes_sent(&self) -> u64 {
            self.sent.load(Ordering::Relaxed)
        }
    }
}
