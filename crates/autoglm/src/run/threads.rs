//! One thread policy for every way a job runs: alone in a process (the CLI),
//! or beside other jobs, trials, ranks or requests on the same cores.

/// How many kernel threads a job uses and whether idle workers spin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadPolicy {
    /// Rayon threads for this job's kernels: cores / concurrent jobs, at least 1.
    pub kernel_threads: usize,
    /// Keep idle workers spinning during a mini-batch step ([`crate::ops::on_worker`]).
    /// Only when the job has the cores to itself: spinning workers of several
    /// jobs would steal each other's cores.
    pub active_wait: bool,
}

impl ThreadPolicy {
    /// The policy for `concurrent_jobs` jobs sharing `cores` cores.
    pub fn shared(cores: usize, concurrent_jobs: usize) -> ThreadPolicy {
        let jobs = concurrent_jobs.max(1);
        ThreadPolicy { kernel_threads: (cores / jobs).max(1), active_wait: jobs == 1 }
    }
    /// One job on every core of this machine.
    pub fn exclusive() -> ThreadPolicy {
        ThreadPolicy::shared(std::thread::available_parallelism().map_or(1, |n| n.get()), 1)
    }
    /// Apply the spin setting process-wide (kernel threads are set when the
    /// rayon pool is built: [`ThreadPolicy::build_pool`]).
    pub fn apply(&self) {
        crate::ops::set_active_wait(self.active_wait);
    }
    /// A rayon pool with `kernel_threads` threads, for running a job inside it
    /// (`pool.install(|| ...)`).
    ///
    /// # Errors
    /// When the pool cannot be built.
    pub fn build_pool(&self) -> crate::Result<rayon::ThreadPool> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.kernel_threads)
            .build()
            .map_err(|e| crate::Error::config("threads", self.kernel_threads, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cores_are_divided_and_spinning_is_off_when_shared() {
        assert_eq!(ThreadPolicy::shared(16, 1), ThreadPolicy { kernel_threads: 16, active_wait: true });
        assert_eq!(ThreadPolicy::shared(16, 4), ThreadPolicy { kernel_threads: 4, active_wait: false });
        assert_eq!(ThreadPolicy::shared(2, 8), ThreadPolicy { kernel_threads: 1, active_wait: false });
    }
}
