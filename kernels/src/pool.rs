//! Worker threads pinned to given cores: the parallel context every kernel runs in.
//!
//! A fork-join pool in which the calling thread is worker 0: `broadcast` runs worker 0's share on
//! the caller (pinned to the pool's first core for the call) and the others on helper threads
//! pinned to the remaining cores, one each. Helpers wait for work by spinning for a short while,
//! then park. A hand-off to spinning helpers is far cheaper than rayon's broadcast from outside its
//! pool, which this replaced: that paid a condvar wait and wake-up on each side, several times per
//! forward pass of a small batch (figures in results/notebook-2026.md). Every pin is read back
//! with `sched_getaffinity`, and a pool whose pins did not take is refused.

use crate::error::{KernelError, Result};
use std::cell::UnsafeCell;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

thread_local! {
    /// The one core the calling thread was last pinned to by this module, if any: read by
    /// `broadcast` to skip a `sched_getaffinity` system call per call on the hot path.
    static PINNED: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Pins the calling thread to `core` and checks that the pin took.
pub fn pin_current(core: usize) -> Result<()> {
    pin_current_to(&[core])
}

/// Pins the calling thread to exactly the set `cores` and checks that the mask took.
pub fn pin_current_to(cores: &[usize]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        if cores.is_empty() {
            return Err(KernelError::Pool("pinning to an empty set of cores".into()));
        }
        // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in cores {
            if c >= libc::CPU_SETSIZE as usize {
                return Err(KernelError::Pool(format!("core {c} is beyond CPU_SETSIZE")));
            }
            // SAFETY: c < CPU_SETSIZE, checked above.
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        // SAFETY: pid 0 = this thread; the size passed is the size of `set`.
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            return Err(KernelError::Pool(format!(
                "pinning to cores {cores:?} failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        let mut want = cores.to_vec();
        want.sort_unstable();
        want.dedup();
        let took = current_affinity();
        PINNED.set(match took.as_deref() {
            Some(&[one]) => Some(one),
            _ => None,
        });
        match took {
            Some(mask) if mask == want => Ok(()),
            other => Err(KernelError::Pool(format!("pin to cores {cores:?} did not take (mask {other:?})"))),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cores;
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

/// How long an idle helper spins for the next job before it parks. Inside a forward pass the
/// gaps between parallel phases (a serial layer, a copy) are microseconds to a few hundred, and
/// between queries of a loaded server not much more, and waking a parked helper costs many times a
/// hand-off to a spinning one (`examples/pool_probe`; figures in results/notebook-2026.md). (GNU
/// OpenMP, which PyTorch's CPU ops use, also spins for about this long by default.)
const SPIN: Duration = Duration::from_millis(1);

/// The job of the current broadcast, lifetime erased (see `PinnedPool::broadcast`).
type Job = *const (dyn Fn(usize, usize) + Sync + 'static);

/// State shared by the caller and the helpers.
struct Shared {
    /// Bumped once per broadcast; a helper runs the job when it sees a new value.
    epoch: AtomicU64,
    /// Written only while no helper can read it (before the epoch bump, after all finished).
    job: UnsafeCell<Job>,
    /// Helpers that have not finished the current job.
    pending: AtomicUsize,
    /// Whether helper `i` is parked (or about to park) and needs an unpark to see new work.
    parked: Vec<AtomicBool>,
    /// The first panic of a helper in the current job, re-raised on the caller.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    shutdown: AtomicBool,
    workers: usize,
}

// SAFETY: `job` is written by the broadcasting thread only while every helper is idle (pending == 0
// and no new epoch published), and read by helpers only between the epoch bump (Release/Acquire)
// and their decrement of `pending`; the erased closure is itself Sync.
unsafe impl Sync for Shared {}
// SAFETY: as for Sync; the raw pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

/// A pool of pinned workers: worker 0 is the thread calling [`PinnedPool::broadcast`], run on
/// `cores()[0]`; worker `i > 0` is a helper thread pinned to `cores()[i]`.
pub struct PinnedPool {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
    cores: Vec<usize>,
    /// Set while a broadcast runs: a nested or concurrent one runs its shares inline instead.
    busy: AtomicBool,
}

impl std::fmt::Debug for PinnedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedPool").field("cores", &self.cores).finish()
    }
}

impl PinnedPool {
    /// One worker per entry of `cores`: helpers pinned to all but the first, which the calling
    /// thread of each broadcast takes. Every core must be in this process's affinity mask and
    /// appear once.
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
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(std::ptr::null::<fn(usize, usize)>() as Job),
            pending: AtomicUsize::new(0),
            parked: (1..cores.len()).map(|_| AtomicBool::new(false)).collect(),
            panic: Mutex::new(None),
            shutdown: AtomicBool::new(false),
            workers: cores.len(),
        });
        let mut pool =
            Self { shared, helpers: Vec::new(), cores: cores.to_vec(), busy: AtomicBool::new(false) };
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, &core) in cores.iter().enumerate().skip(1) {
            let (shared, tx) = (pool.shared.clone(), tx.clone());
            let spawned = std::thread::Builder::new().name(format!("hercules-w{i}")).spawn(move || {
                let pinned = pin_current(core);
                let ok = pinned.is_ok();
                let _ = tx.send(pinned);
                if ok {
                    helper(&shared, i);
                }
            });
            match spawned {
                Ok(h) => pool.helpers.push(h),
                Err(e) => return Err(KernelError::Pool(format!("spawning worker {i}: {e}"))),
            }
        }
        drop(tx);
        // Every helper reports its pin before the pool is handed out; the first failure refuses it
        // (dropping `pool` stops and joins the helpers that did start).
        for _ in 1..cores.len() {
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(KernelError::Pool("a worker exited while starting".into())),
            }
        }
        Ok(pool)
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

    /// Runs `f(worker_index, worker_count)` once for every worker and waits for all. Worker 0 runs
    /// on the calling thread, pinned to `cores()[0]` for the call (a caller pinned there already
    /// pays nothing for that; others are re-pinned and restored, two syscalls). A panic in any
    /// share is re-raised here after every share has finished. A broadcast from inside another
    /// one on the same pool, or concurrent with one from another thread, runs its shares one after
    /// another on the calling thread.
    pub fn broadcast<F: Fn(usize, usize) + Sync>(&self, f: F) {
        let n = self.cores.len();
        if self.busy.swap(true, Ordering::Acquire) {
            (0..n).for_each(|w| f(w, n));
            return;
        }
        let _busy = Reset(&self.busy);
        let sh = &*self.shared;
        if n > 1 {
            let job: &(dyn Fn(usize, usize) + Sync) = &f;
            sh.pending.store(n - 1, Ordering::Relaxed);
            // SAFETY: no helper reads `job` now (all finished the previous one: `pending` reached 0
            // before the last broadcast returned). The lifetime is erased, but `Join` below makes
            // this call wait until every helper is done with it, even if worker 0's share panics.
            unsafe { *sh.job.get() = std::mem::transmute::<&(dyn Fn(usize, usize) + Sync), Job>(job) };
            sh.epoch.fetch_add(1, Ordering::SeqCst);
            for (i, p) in sh.parked.iter().enumerate() {
                if p.load(Ordering::SeqCst) {
                    self.helpers[i].thread().unpark();
                }
            }
        }
        {
            let _join = Join(sh);
            let _pin = PinGuard::to(self.cores[0]);
            f(0, n);
        }
        let panic = sh.panic.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }

    /// Pins the calling thread to `cores()[0]` until the guard is dropped, so that its broadcasts
    /// run worker 0's share where it belongs without re-pinning per call. For the thread that
    /// drives the pool; dropping the guard restores the thread's previous mask.
    pub fn enter(&self) -> Result<PinGuard> {
        PinGuard::pin(self.cores[0])
    }

    /// The affinity mask each worker reports now, in worker order.
    pub fn worker_affinities(&self) -> Vec<Option<Vec<usize>>> {
        let out = Mutex::new(vec![None; self.cores.len()]);
        self.broadcast(|w, _| {
            out.lock().unwrap_or_else(|p| p.into_inner())[w] = current_affinity();
        });
        out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for PinnedPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for h in &self.helpers {
            h.thread().unpark();
        }
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

/// Clears a flag when dropped.
struct Reset<'a>(&'a AtomicBool);
impl Drop for Reset<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Waits, when dropped, until every helper has finished the current job: spinning first (the
/// helpers are on other cores), then yielding, in case one was descheduled.
struct Join<'a>(&'a Shared);
impl Drop for Join<'_> {
    fn drop(&mut self) {
        let start = Instant::now();
        let mut spins = 0u32;
        while self.0.pending.load(Ordering::Acquire) != 0 {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if std::thread::panicking() {
            // Worker 0's panic is the one unwinding; a helper's from the same job is dropped so
            // that the next broadcast does not re-raise it.
            self.0.panic.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }
}

/// The calling thread pinned to one core (see [`PinnedPool::enter`]); dropping it restores the
/// thread's previous mask.
#[must_use = "the pin is undone when the guard is dropped"]
pub struct PinGuard(Option<Vec<usize>>);
impl PinGuard {
    /// Pins to `core` unless this module's own pins say the thread is there already; a pin that
    /// fails leaves the thread where it was.
    fn to(core: usize) -> Self {
        if PINNED.get() == Some(core) {
            return Self(None);
        }
        Self::pin(core).unwrap_or(Self(None))
    }

    /// Pins the calling thread to `core`, remembering its mask for the drop when it was another.
    fn pin(core: usize) -> Result<Self> {
        let prev = current_affinity();
        pin_current(core)?;
        Ok(Self(prev.filter(|m| m[..] != [core])))
    }
}
impl Drop for PinGuard {
    fn drop(&mut self) {
        if let Some(mask) = &self.0 {
            let _ = pin_current_to(mask);
        }
    }
}

/// A helper's life: wait for a new epoch (spin, then park), run its share, report, repeat.
fn helper(sh: &Shared, me: usize) {
    let mut seen = 0u64;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            if sh.shutdown.load(Ordering::Acquire) {
                return;
            }
            let e = sh.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                // Dekker with `broadcast`: flag (SeqCst), then re-read the epoch (SeqCst); the
                // caller bumps the epoch, then reads the flag. One of the two sees the other.
                sh.parked[me - 1].store(true, Ordering::SeqCst);
                if sh.epoch.load(Ordering::SeqCst) == seen && !sh.shutdown.load(Ordering::SeqCst) {
                    std::thread::park();
                }
                sh.parked[me - 1].store(false, Ordering::SeqCst);
            } else {
                std::hint::spin_loop();
            }
        }
        // SAFETY: the epoch changed, so `job` holds the current broadcast's closure, which stays
        // alive until `pending` reaches 0 (the caller waits for it).
        let job = unsafe { &**sh.job.get() };
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| job(me, sh.workers))) {
            sh.panic.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(p);
        }
        sh.pending.fetch_sub(1, Ordering::AcqRel);
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

    /// A pool on up to two cores, from a thread whose mask is restored by the guard's drop.
    fn two() -> PinnedPool {
        PinnedPool::with_threads(allowed_cores().len().min(2)).unwrap()
    }

    #[test]
    fn every_share_runs_once_per_broadcast_many_times_over() {
        let pool = two();
        let n = pool.threads();
        let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
        for round in 0..20_000 {
            if round % 5_000 == 0 {
                // Long enough for the helpers to park: the next broadcast must wake them.
                std::thread::sleep(SPIN * 3);
            }
            pool.broadcast(|w, count| {
                assert_eq!(count, n);
                hits[w].fetch_add(1, Ordering::Relaxed);
            });
        }
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 20_000));
    }

    #[test]
    fn panics_reach_the_caller_after_all_shares_and_the_pool_survives() {
        let pool = two();
        let n = pool.threads();
        for bad in 0..n {
            let done = AtomicUsize::new(0);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                pool.broadcast(|w, _| {
                    if w == bad {
                        panic!("share {w} fails");
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    done.fetch_add(1, Ordering::Relaxed);
                })
            }));
            let msg = r.unwrap_err().downcast_ref::<String>().cloned().unwrap();
            assert_eq!(msg, format!("share {bad} fails"));
            // The other shares finished before the panic was re-raised.
            assert_eq!(done.load(Ordering::Relaxed), n - 1);
            // No stale panic: the next broadcast runs cleanly.
            let hits = AtomicUsize::new(0);
            pool.broadcast(|_, _| {
                hits.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(hits.load(Ordering::Relaxed), n);
        }
    }

    #[test]
    fn nested_and_concurrent_broadcasts_run_every_share_once() {
        let pool = two();
        let n = pool.threads();
        let inner = AtomicUsize::new(0);
        pool.broadcast(|_, _| {
            pool.broadcast(|w, count| {
                assert!(w < count);
                inner.fetch_add(1, Ordering::Relaxed);
            })
        });
        assert_eq!(inner.load(Ordering::Relaxed), n * n);
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..2_000 {
                        pool.broadcast(|_, _| {
                            total.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 2_000 * n);
    }

    #[test]
    fn entering_pins_the_caller_until_the_guard_drops() {
        std::thread::spawn(|| {
            let before = current_affinity().unwrap();
            let pool = two();
            let guard = pool.enter().unwrap();
            assert_eq!(current_affinity().unwrap(), vec![pool.cores()[0]]);
            drop(guard);
            assert_eq!(current_affinity().unwrap(), before);
        })
        .join()
        .unwrap();
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
