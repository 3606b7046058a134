//! Worker threads pinned to given cores: the parallel context every kernel runs in.
//!
//! A rayon pool whose start handler pins worker `i` to `cores[i]`; the pin is read back with
//! `sched_getaffinity` and a pool whose pins did not take is refused.

use crate::error::{KernelError, Result};
use std::ops::Range;
use std::sync::Mutex;

/// The CPUs this process may run on (its affinity mask), ascending.
pub fn allowed_cores() -> Vec<usize> {
    current_affinity()
        .unwrap_or_else(|| (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect())
}

/// The calling thread's affinity mask, ascending; `None` where the OS does not say.
pub fn current_affinity() -> Option<Vec<usize>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: pid 0 = this thread; the size passed is the size of `set`.
        let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
        if rc != 0 {
            return None;
        }
        // SAFETY: CPU_ISSET reads the set filled above, for indices below CPU_SETSIZE.
        Some((0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Pins the calling thread to `core` and checks that the pin took.
pub fn pin_current(core: usize) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        if core >= libc::CPU_SETSIZE as usize {
            return Err(KernelError::Pool(format!("core {core} is beyond CPU_SETSIZE")));
        }
        // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: core < CPU_SETSIZE, checked above.
        unsafe { libc::CPU_SET(core, &mut set) };
        // SAFETY: pid 0 = this thread; the size passed is the size of `set`.
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            return Err(KernelError::Pool(format!(
                "pinning to core {core} failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        match current_affinity() {
            Some(mask) if mask == [core] => Ok(()),
            other => Err(KernelError::Pool(format!("pin to core {core} did not take (mask {other:?})"))),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = core;
        Err(KernelError::Pool("thread pinning is only implemented on Linux".into()))
    }
}

/// The first `n` cores this process may use, or an error when it may use fewer.
pub fn first_cores(n: usize) -> Result<Vec<usize>> {
    let allowed = allowed_cores();
    if n == 0 {
        return Err(KernelError::Pool("asked for 0 threads".into()));
    }
    if n > allowed.len() {
        return Err(KernelError::Pool(format!(
            "asked for {n} threads but this process may use only {} cores ({allowed:?})",
            allowed.len()
        )));
    }
    Ok(allowed[..n].to_vec())
}

/// `[start, end)` of part `idx` when `n` items are split into `parts` near-equal contiguous parts.
pub fn split_range(n: usize, parts: usize, idx: usize) -> Range<usize> {
    let parts = parts.max(1);
    let base = n / parts;
    let extra = n % parts;
    let start = idx * base + idx.min(extra);
    let len = base + usize::from(idx < extra);
    start.min(n)..(start + len).min(n)
}

/// A pool of worker threads, worker `i` pinned to `cores()[i]`.
pub struct PinnedPool {
    pool: rayon::ThreadPool,
    cores: Vec<usize>,
}

impl std::fmt::Debug for PinnedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedPool").field("cores", &self.cores).finish()
    }
}

impl PinnedPool {
    /// One worker per entry of `cores`, each pinned there. Every core must be in this process's
    /// affinity mask and appear once.
    pub fn new(cores: &[usize]) -> Result<Self> {
        if cores.is_empty() {
            return Err(KernelError::Pool("no cores given".into()));
        }
        let allowed = allowed_cores();
        for (i, c) in cores.iter().enumerate() {
            if !allowed.contains(c) {
                return Err(KernelError::Pool(format!(
                    "core {c} is not usable by this process (allowed: {allowed:?})"
                )));
            }
            if cores[..i].contains(c) {
                return Err(KernelError::Pool(format!("core {c} given twice")));
            }
        }
        let failures = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
        let owned = cores.to_vec();
        let fails = failures.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cores.len())
            .thread_name(|i| format!("hercules-w{i}"))
            .start_handler(move |i| {
                if let Err(e) = pin_current(owned[i]) {
                    fails.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
                }
            })
            .build()
            .map_err(|e| KernelError::Pool(e.to_string()))?;
        // Wait until every worker has started (and so run its start handler).
        pool.broadcast(|_| ());
        let fails = failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = fails.first() {
            return Err(KernelError::Pool(first.clone()));
        }
        Ok(Self { pool, cores: cores.to_vec() })
    }

    /// A pool on the first `n` usable cores.
    pub fn with_threads(n: usize) -> Result<Self> {
        Self::new(&first_cores(n)?)
    }

    /// Number of workers.
    pub fn threads(&self) -> usize {
        self.cores.len()
    }

    /// The core each worker is pinned to.
    pub fn cores(&self) -> &[usize] {
        &self.cores
    }

    /// Runs `f(worker_index, worker_count)` once on every worker and waits for all.
    pub fn broadcast<F: Fn(usize, usize) + Sync>(&self, f: F) {
        if self.cores.len() == 1 {
            // One worker: run on it without the broadcast machinery's extra hand-off.
            self.pool.install(|| f(0, 1));
        } else {
            self.pool.broadcast(|ctx| f(ctx.index(), ctx.num_threads()));
        }
    }

    /// Runs `f` inside the pool (rayon calls in `f` use its workers).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// The affinity mask each worker reports now, in worker order.
    pub fn worker_affinities(&self) -> Vec<Option<Vec<usize>>> {
        let out = Mutex::new(vec![None; self.cores.len()]);
        self.pool.broadcast(|ctx| {
            let mask = current_affinity();
            out.lock().unwrap_or_else(|p| p.into_inner())[ctx.index()] = mask;
        });
        out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn split_range_covers_exactly() {
        for n in [0, 1, 5, 17, 1000] {
            for parts in 1..6 {
                let mut next = 0;
                for i in 0..parts {
                    let r = split_range(n, parts, i);
                    assert_eq!(r.start, next);
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn workers_are_pinned_where_asked() {
        let cores = allowed_cores();
        let pool = PinnedPool::new(&cores).unwrap();
        let masks = pool.worker_affinities();
        for (i, m) in masks.iter().enumerate() {
            assert_eq!(m.as_deref(), Some(&[cores[i]][..]));
        }
        let hits = AtomicUsize::new(0);
        pool.broadcast(|i, n| {
            assert!(i < n);
            hits.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(hits.load(Ordering::Relaxed), cores.len());
    }

    #[test]
    fn too_many_threads_or_foreign_cores_are_errors() {
        let n = allowed_cores().len();
        assert!(first_cores(n + 1).unwrap_err().to_string().contains("may use only"));
        assert!(PinnedPool::new(&[100_000]).is_err());
        assert!(PinnedPool::new(&[]).is_err());
        let c = allowed_cores()[0];
        assert!(PinnedPool::new(&[c, c]).unwrap_err().to_string().contains("twice"));
    }
}
