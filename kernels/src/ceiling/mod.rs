//! Micro-benchmarks of the machine's ceilings: peak FP32 FMA rate, STREAM copy/triad, sequential read
//! and random whole-row gather from a table much larger than the last-level cache.
//!
//! Each function runs one timed repeat on every worker of a [`PinnedPool`] at once and returns the
//! aggregate rate; the caller repeats and summarises. Memory loops are compiled per ISA (the same
//! Rust body under `#[target_feature]`) so they run at full vector width without `target-cpu=native`.
//! The FMA loop is written per ISA (`avx512`, `avx2`, `scalar`); the memory loops are one body each,
//! compiled per ISA by `multiversion!`.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;
#[cfg(test)]
mod tests;

use crate::error::{KernelError, Result};
use crate::isa::Isa;
use crate::mem::HugeBuf;
use crate::pool::{split_range, PinnedPool};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;

/// Independent FMA chains per thread: enough to cover FMA latency (4 cycles) × 2 ports.
const FMA_CHAINS: usize = 12;

/// Peak FP32 FMA rate in GFLOP/s over all pool workers, running `iters` rounds of `FMA_CHAINS`
/// independent vector FMAs per worker. Returns (GFLOP/s, the ISA used).
pub fn fma_peak(pool: &PinnedPool, iters: u64) -> (f64, Isa) {
    let isa = Isa::best();
    let lanes = isa.f32_lanes() as f64;
    let start = Instant::now();
    pool.broadcast(|_, _| {
        black_box(fma_loop(isa, iters));
    });
    let secs = start.elapsed().as_secs_f64();
    let flops = iters as f64 * FMA_CHAINS as f64 * lanes * 2.0 * pool.threads() as f64;
    (flops / secs / 1e9, isa)
}

fn fma_loop(isa: Isa, iters: u64) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Isa::best() only returns levels this CPU supports.
        Isa::Avx512 => unsafe { avx512::fma(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { avx2::fma(iters) },
        _ => scalar::fma(iters),
    }
}

/// Prefetches the cache lines of the gather row at `row` with hint `H` (as [`touch_prefetch`]). A
/// constant line count and hint, so this unrolls into straight-line code: prefetches issued by a loop
/// over a run-time count cost more than they saved (see results/notebook-2026.md).
#[inline(always)]
fn prefetch_row<const H: u8>(row: *const f32) {
    for l in 0..GATHER_ROW / 16 {
        touch_prefetch(H, row.wrapping_add(l * 16) as *const u8);
    }
}

/// The gather loop of [`gather_kernel`] with its prefetch hint a constant.
#[inline(always)]
fn gather_rows<const H: u8>(table: &[f32], idx: &[u32], dist: usize, acc: &mut [f32; GATHER_ROW]) {
    for (i, &r) in idx.iter().enumerate() {
        if dist != 0 {
            let ahead = idx[(i + dist).min(idx.len() - 1)] as usize;
            prefetch_row::<H>(table.as_ptr().wrapping_add(ahead * GATHER_ROW));
        }
        let src = &table[r as usize * GATHER_ROW..][..GATHER_ROW];
        for (s, x) in acc.iter_mut().zip(src) {
            *s += *x;
        }
    }
}

/// Generates one body per ISA from a plain Rust loop, so LLVM vectorises it at each width, and a
/// dispatcher choosing the best one at run time.
macro_rules! multiversion {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$m])*
        fn $name(isa: Isa, $($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            unsafe fn v4($($arg: $ty),*) -> $ret { body($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn v3($($arg: $ty),*) -> $ret { body($($arg),*) }
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: callers pass Isa::best(), which only names levels this CPU supports.
                Isa::Avx512 => unsafe { v4($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                Isa::Avx2 => unsafe { v3($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}

multiversion! {
    /// a[i] = b[i]
    fn copy_kernel(a: &mut [f32], b: &[f32]) -> () {
        a.copy_from_slice(b);
    }
}

multiversion! {
    /// a[i] = b[i] + s * c[i]
    fn triad_kernel(a: &mut [f32], b: &[f32], c: &[f32], s: f32) -> () {
        for ((x, y), z) in a.iter_mut().zip(b).zip(c) {
            *x = *y + s * *z;
        }
    }
}

multiversion! {
    /// Sum of `a` with 16 independent partial sums, so the loop is bound by loads, not adds.
    fn read_kernel(a: &[f32]) -> f32 {
        let mut acc = [0.0f32; 16];
        let chunks = a.chunks_exact(16);
        let rest: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            for (s, x) in acc.iter_mut().zip(c) {
                *s += *x;
            }
        }
        acc.iter().sum::<f32>() + rest
    }
}

multiversion! {
    /// Sums whole rows of `table` ([`GATHER_ROW`] floats each) at `idx`, prefetching `dist` rows
    /// ahead (0 = none; near the end the last row is asked for again instead of branching) with hint
    /// `hint` (as [`touch_prefetch`]: 1 = T0, 2 = T1, 3 = NTA).
    fn gather_kernel(table: &[f32], idx: &[u32], dist: usize, hint: u8, acc: &mut [f32; GATHER_ROW]) -> () {
        match hint {
            1 => gather_rows::<1>(table, idx, dist, acc),
            3 => gather_rows::<3>(table, idx, dist, acc),
            _ => gather_rows::<2>(table, idx, dist, acc),
        }
    }
}

/// Arrays for the STREAM-style tests, each `len` floats.
pub struct StreamArrays {
    a: HugeBuf<f32>,
    b: HugeBuf<f32>,
    c: HugeBuf<f32>,
}

impl StreamArrays {
    /// Three arrays of `bytes` each (choose ≥ 4× the last-level cache), filled.
    pub fn new(bytes: usize) -> Result<Self> {
        let len = bytes / 4;
        let mut b = HugeBuf::<f32>::zeroed("stream array b", len)?;
        let mut c = HugeBuf::<f32>::zeroed("stream array c", len)?;
        b.iter_mut().enumerate().for_each(|(i, x)| *x = (i % 1024) as f32);
        c.iter_mut().for_each(|x| *x = 0.5);
        Ok(Self { a: HugeBuf::zeroed("stream array a", len)?, b, c })
    }

    /// Bytes of one array.
    pub fn bytes(&self) -> usize {
        self.a.len() * 4
    }
}

/// Splits three equal slices across workers and runs `f` on each worker's part concurrently.
fn per_worker<F>(pool: &PinnedPool, arrays: &mut StreamArrays, f: F) -> f64
where
    F: Fn(&mut [f32], &[f32], &[f32]) + Sync,
{
    let n = arrays.a.len();
    let threads = pool.threads();
    // Hand each worker a disjoint &mut part of `a`, taken out of the Mutex once.
    let parts: Vec<Mutex<Option<&mut [f32]>>> = {
        let mut rest: &mut [f32] = &mut arrays.a;
        (0..threads)
            .map(|w| {
                let len = split_range(n, threads, w).len();
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
                rest = tail;
                Mutex::new(Some(head))
            })
            .collect()
    };
    let (b, c) = (&arrays.b[..], &arrays.c[..]);
    let start = Instant::now();
    pool.broadcast(|w, n_w| {
        let r = split_range(n, n_w, w);
        if let Some(a) = parts[w].lock().unwrap_or_else(|p| p.into_inner()).take() {
            f(a, &b[r.clone()], &c[r]);
        }
    });
    start.elapsed().as_secs_f64()
}

/// STREAM copy in GB/s (bytes read + written), one repeat on every worker.
pub fn stream_copy(pool: &PinnedPool, arrays: &mut StreamArrays) -> f64 {
    let isa = Isa::best();
    let bytes = 2.0 * arrays.bytes() as f64;
    bytes / per_worker(pool, arrays, |a, b, _| copy_kernel(isa, a, b)) / 1e9
}

/// STREAM triad in GB/s (bytes read + written), one repeat on every worker.
pub fn stream_triad(pool: &PinnedPool, arrays: &mut StreamArrays) -> f64 {
    let isa = Isa::best();
    let bytes = 3.0 * arrays.bytes() as f64;
    bytes / per_worker(pool, arrays, |a, b, c| triad_kernel(isa, a, b, c, black_box(3.0))) / 1e9
}

/// Sequential read in GB/s, one repeat on every worker.
pub fn seq_read(pool: &PinnedPool, arrays: &StreamArrays) -> f64 {
    let isa = Isa::best();
    let b = &arrays.b[..];
    let start = Instant::now();
    pool.broadcast(|w, n_w| {
        black_box(read_kernel(isa, &b[split_range(b.len(), n_w, w)]));
    });
    arrays.bytes() as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// Floats per row of the gather ceiling (256 bytes: an fp32 row of dimension 64).
pub const GATHER_ROW: usize = 64;

/// A table and random row indices for the gather ceiling.
pub struct GatherTable {
    table: HugeBuf<f32>,
    idx: Vec<u32>,
}

impl GatherTable {
    /// A table of `bytes` (choose ≥ 4× the last-level cache) with rows of [`GATHER_ROW`] floats,
    /// and `lookups` uniform random row indices (seeded).
    pub fn new(bytes: usize, lookups: usize, seed: u64) -> Result<Self> {
        let rows = (bytes / (GATHER_ROW * 4)).clamp(1, u32::MAX as usize);
        let mut table = HugeBuf::<f32>::zeroed("gather table", rows * GATHER_ROW)?;
        table.iter_mut().enumerate().for_each(|(i, x)| *x = (i & 255) as f32);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let idx = (0..lookups).map(|_| rng.gen_range(0..rows as u32)).collect();
        Ok(Self { table, idx })
    }

    /// Bytes of the table.
    pub fn bytes(&self) -> usize {
        self.table.len() * 4
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        GATHER_ROW * 4
    }

    /// Whether the table got huge pages.
    pub fn huge_pages(&self) -> crate::mem::HugePages {
        self.table.huge_pages()
    }
}

/// Prefetch settings (hint as [`touch_prefetch`], rows ahead; 0 = none) the gather ceiling tries. The
/// best one differs from machine to machine (T1 at 16-32 rows on the Xeon guests, T0 or NTA at 64-128 on a
/// Zen 5 guest, where T1 reached half of that), so every repeat runs each and keeps the fastest.
pub const GATHER_PREFETCH: [(u8, usize); 13] = [
    (0, 0),
    (1, 16),
    (1, 32),
    (1, 64),
    (1, 128),
    (2, 16),
    (2, 32),
    (2, 64),
    (2, 128),
    (3, 16),
    (3, 32),
    (3, 64),
    (3, 128),
];

/// Random whole-row gather in GB/s of row data: for each of [`GATHER_PREFETCH`], one pass on every
/// worker (each takes its share of the indices); the fastest counts.
pub fn gather(pool: &PinnedPool, g: &GatherTable) -> f64 {
    let isa = Isa::best();
    let bytes = (g.idx.len() * GATHER_ROW * 4) as f64;
    GATHER_PREFETCH
        .iter()
        .map(|&(hint, dist)| {
            let start = Instant::now();
            pool.broadcast(|w, n_w| {
                let mut acc = [0.0f32; GATHER_ROW];
                let idx = &g.idx[split_range(g.idx.len(), n_w, w)];
                gather_kernel(isa, &g.table, idx, dist, hint, &mut acc);
                black_box(&acc);
            });
            bytes / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

/// Software prefetch flavour of the row-touch ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TouchHint {
    /// No software prefetch: only the out-of-order window overlaps misses.
    None,
    /// `prefetcht0` (into L1).
    T0,
    /// `prefetcht1` (into L2).
    T1,
    /// `prefetchnta` (non-temporal, into L1 bypassing the usual LRU insertion).
    Nta,
    /// Two levels: `prefetcht1` at the distance, then `prefetcht0` of the same row a quarter of
    /// the distance ahead (L2 to L1 before the loads need it).
    T1T0,
    /// `prefetcht1` of the row's lines in descending order, and the loads descending too (so the
    /// hardware stream prefetchers see no ascending run inside a row).
    T1Rev,
}

impl std::str::FromStr for TouchHint {
    type Err = KernelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "t0" => Ok(Self::T0),
            "t1" => Ok(Self::T1),
            "nta" => Ok(Self::Nta),
            "t1t0" => Ok(Self::T1T0),
            "t1rev" => Ok(Self::T1Rev),
            o => Err(KernelError::UnknownName(format!("unknown prefetch hint {o:?}"))),
        }
    }
}

/// A table of `rows` rows every `stride` bytes and uniform random row indices, for the row-touch
/// loop: how fast random rows of a given size reach a core with the least work per line, the ceiling
/// `hercules kernels` holds the embedding bag to (at its best prefetch setting). Per row size, so not
/// in `hercules roofline`.
pub struct RowTouchTable {
    data: HugeBuf<u8>,
    stride: usize,
    rows: usize,
    idx: Vec<u32>,
}

impl RowTouchTable {
    /// `bytes` of table (choose ≥ 4× the LLC), a row every `stride` bytes, `lookups` seeded random rows.
    pub fn new(bytes: usize, stride: usize, lookups: usize, seed: u64) -> Result<Self> {
        let rows = (bytes / stride.max(1)).clamp(1, u32::MAX as usize);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        Self::with_indices(rows, stride, (0..lookups).map(|_| rng.gen_range(0..rows as u32)).collect())
    }

    /// `rows` rows every `stride` bytes, touched at `idx` in order: a replay of a model's lookup
    /// stream, whose reuse across queries a uniform stream does not have. An index that is not a
    /// row is an error (the touch loop reads without bounds checks).
    pub fn with_indices(rows: usize, stride: usize, idx: Vec<u32>) -> Result<Self> {
        let stride = stride.max(1);
        if let Some(pos) = idx.iter().position(|&i| i as usize >= rows) {
            let i = idx[pos];
            return Err(KernelError::InvalidShape(format!(
                "row-touch index {i} at position {pos}: the table has {rows} rows"
            )));
        }
        let bytes = rows.checked_mul(stride).ok_or_else(|| {
            KernelError::InvalidShape(format!("row-touch table of {rows} rows of {stride} bytes overflows"))
        })?;
        let mut data = HugeBuf::<u8>::zeroed("row-touch table", bytes)?;
        data.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8);
        Ok(Self { data, stride, rows, idx })
    }

    /// Row stride in bytes.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of the table.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Whether the table got huge pages.
    pub fn huge_pages(&self) -> crate::mem::HugePages {
        self.data.huge_pages()
    }

    /// Bytes of the table backed by huge pages right now (see [`HugeBuf::huge_bytes_now`]).
    pub fn huge_bytes_now(&self) -> Option<usize> {
        self.data.huge_bytes_now()
    }

    /// Lookups per repeat.
    pub fn lookups(&self) -> usize {
        self.idx.len()
    }
}

/// Issues prefetch `h` (1 = T0, 2 = T1, 3 = NTA, else none) for the cache line at `p`; `h` is a
/// constant at every call site, so the match folds away.
#[inline(always)]
fn touch_prefetch(h: u8, p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let p = p as *const i8;
        // SAFETY: prefetch never faults and reads nothing Rust can observe.
        unsafe {
            match h {
                1 => _mm_prefetch::<_MM_HINT_T0>(p),
                2 => _mm_prefetch::<_MM_HINT_T1>(p),
                3 => _mm_prefetch::<_MM_HINT_NTA>(p),
                _ => {}
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (h, p);
}

/// The most lines a row of `row_bytes` can span from any start within a line when `stride` does not
/// keep rows line-aligned (or exactly its lines when it does).
fn touch_lines(row_bytes: usize, stride: usize) -> usize {
    if stride.is_multiple_of(64) {
        row_bytes.div_ceil(64)
    } else {
        (row_bytes + 63).div_ceil(64)
    }
}

/// Touches every cache line of `row_bytes` at each of `idx`'s rows (one 8-byte load per line, the
/// least work that still brings the line into the core), prefetching the lines of the row `dist`
/// lookups ahead with hint `H`. Returns a checksum so nothing is optimised away.
///
/// `LINES` (the row's [`touch_lines`], or 0 for a run-time count) is a constant of each call site so
/// the prefetches and loads unroll into straight-line code, as in the embedding kernel: with a
/// run-time line count this loop ran at half the kernel's rate on a Zen 5 host, which made it no
/// ceiling. Line `l` of a row is read at `min(64·l, row_bytes − 8)` from its start (prefetched at
/// `min(64·l, row_bytes − 1)`), which reaches every line the row spans whatever its alignment.
fn touch_kernel<const H: u8, const LINES: usize>(
    data: &[u8],
    stride: usize,
    row_bytes: usize,
    idx: &[u32],
    dist: usize,
) -> u64 {
    let base = data.as_ptr();
    let lines = if LINES == 0 { touch_lines(row_bytes, stride) } else { LINES };
    let (last_pf, last_ld) = (row_bytes - 1, row_bytes - 8);
    let mut acc = 0u64;
    let n = idx.len();
    let near = (dist / 4).max(1);
    let order = |l: usize| if H == 5 { lines - 1 - l } else { l };
    for i in 0..n {
        if H != 0 && i + dist < n {
            // SAFETY: i + dist < n.
            let a = base.wrapping_add(unsafe { *idx.get_unchecked(i + dist) } as usize * stride);
            for l in 0..lines {
                touch_prefetch(if H >= 4 { 2 } else { H }, a.wrapping_add((64 * order(l)).min(last_pf)));
            }
        }
        if H == 4 && i + near < n {
            // SAFETY: i + near < n.
            let a = base.wrapping_add(unsafe { *idx.get_unchecked(i + near) } as usize * stride);
            for l in 0..lines {
                touch_prefetch(1, a.wrapping_add((64 * l).min(last_pf)));
            }
        }
        // SAFETY: i < n; every index is below rows, so the row's bytes lie inside data.
        let r = unsafe { base.add(*idx.get_unchecked(i) as usize * stride) };
        for l in 0..lines {
            // SAFETY: the offset is at most row_bytes − 8 (rows are ≥ 8 bytes here), so the 8 bytes
            // lie inside the row.
            let v = unsafe { (r.add((64 * order(l)).min(last_ld)) as *const u64).read_unaligned() };
            acc = acc.wrapping_add(v);
        }
    }
    acc
}

/// Random row touch in millions of rows per second over all workers: each worker takes its share
/// of the indices and touches every line of `row_bytes` (≥ 8, ≤ stride) of each row, prefetching
/// `dist` rows ahead with `hint`.
pub fn row_touch(
    pool: &PinnedPool,
    t: &RowTouchTable,
    row_bytes: usize,
    dist: usize,
    hint: TouchHint,
) -> f64 {
    let row_bytes = row_bytes.clamp(8, t.stride.max(8));
    let start = Instant::now();
    pool.broadcast(|w, n_w| {
        let idx = &t.idx[split_range(t.idx.len(), n_w, w)];
        let s = match hint {
            TouchHint::None => touch_by_lines::<0>(&t.data, t.stride, row_bytes, idx, dist),
            TouchHint::T0 => touch_by_lines::<1>(&t.data, t.stride, row_bytes, idx, dist),
            TouchHint::T1 => touch_by_lines::<2>(&t.data, t.stride, row_bytes, idx, dist),
            TouchHint::Nta => touch_by_lines::<3>(&t.data, t.stride, row_bytes, idx, dist),
            TouchHint::T1T0 => touch_by_lines::<4>(&t.data, t.stride, row_bytes, idx, dist),
            TouchHint::T1Rev => touch_by_lines::<5>(&t.data, t.stride, row_bytes, idx, dist),
        };
        black_box(s);
    });
    t.idx.len() as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// [`touch_kernel`] with the row's line count as a constant (rows up to 16 lines, 1 KiB), else
/// counted at run time.
fn touch_by_lines<const H: u8>(
    data: &[u8],
    stride: usize,
    row_bytes: usize,
    idx: &[u32],
    dist: usize,
) -> u64 {
    macro_rules! by_lines {
        ($($n:literal)*) => {
            match touch_lines(row_bytes, stride) {
                $($n => touch_kernel::<H, $n>(data, stride, row_bytes, idx, dist),)*
                _ => touch_kernel::<H, 0>(data, stride, row_bytes, idx, dist),
            }
        };
    }
    by_lines!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}
