//! Random row-touch reference loop: millions of random rows per second brought into a core, per row
//! size, prefetch hint and distance, at 1 and 2 threads (see `ceiling::row_touch`, the embedding
//! bag's ceiling in `hercules kernels`).
//!
//! `cargo run --release -p hercules-kernels --example row_ceiling -- [TABLE_MIB] [REPEATS] [ROWS..]`
//! ROWS are `bytes` or `bytes/stride` (e.g. `72/72`, `40/64`); JSON lines go to stdout.
//!
//! `row_ceiling emb TABLE_MIB REPEATS DTYPE DIM..`: the embedding-bag kernel (B = 2048, L = 80,
//! uniform random indices, sum) on the same size of table, in the same units, for side-by-side
//! runs of two builds. `PF=rows` and `HINT=t0|t1|nta|t1t0` override the prefetch distance and hint.
//!
//! `row_ceiling stream SETS TABLES ROWS BAGS LOOKUPS ROW_BYTES [REPEATS]`: the touch loop replaying a
//! model's lookup stream rather than a uniform one: `SETS` input sets, each with `BAGS` bags of
//! `LOOKUPS` uniform rows in every one of `TABLES` tables of `ROWS` rows, in the order a model's
//! forward pass gathers them (set by set, table by table), cycled. It keeps the reuse a model gets from
//! queries drawing on a few pre-generated sets (rmc2 at `--rows-scale 0.25`: `stream 8 32 125000 64
//! 120 256`). Rows/s count every lookup of the cycle. The 2-thread run splits the stream in halves,
//! so by default each thread replays half the sets; `SPLIT=tables` orders it so that each thread
//! replays every set's even or odd tables at the same time, as a model's forward pass splits it (halves
//! of equal length for an even `TABLES`).

use hercules_kernels::ceiling::{row_touch, RowTouchTable, TouchHint};
use hercules_kernels::pool::PinnedPool;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("emb") {
        return emb(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("stream") {
        return stream(&args[1..]);
    }
    let mib: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(2048);
    let repeats: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let rows: Vec<(usize, usize)> = if args.len() > 2 {
        args[2..]
            .iter()
            .map(|s| match s.split_once('/') {
                Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                None => (s.parse().unwrap(), s.parse().unwrap()),
            })
            .collect()
    } else {
        vec![(40, 64), (72, 72), (136, 136), (128, 128), (256, 256), (512, 512)]
    };
    let lookups = 2048 * 80 * 4;
    let pools = pools();
    for (bytes, stride) in rows {
        let t = RowTouchTable::new(mib << 20, stride, lookups, 42).expect("table");
        sweep(&pools, &t, bytes, repeats);
    }
}

/// Pinned pools of 1 and 2 threads (as many of them as this machine has cores for).
fn pools() -> Vec<PinnedPool> {
    [1, 2].iter().filter_map(|&t| PinnedPool::with_threads(t).ok()).collect()
}

/// The touch loop on `t` (rows of `bytes`) on each of `pools`, for every hint of `HINTS` and distance
/// of `DISTS`: one JSON line each, the median, min and max Mrows/s of `repeats` runs after a warm-up.
fn sweep(pools: &[PinnedPool], t: &RowTouchTable, bytes: usize, repeats: usize) {
    let dists: Vec<usize> = std::env::var("DISTS")
        .ok()
        .map(|s| s.split(',').map(|d| d.parse().unwrap()).collect())
        .unwrap_or_else(|| vec![8, 16, 32, 64, 128]);
    let hints: Vec<TouchHint> = std::env::var("HINTS")
        .ok()
        .map(|s| s.split(',').map(|h| h.parse().unwrap()).collect())
        .unwrap_or_else(|| vec![TouchHint::None, TouchHint::T0, TouchHint::T1, TouchHint::Nta]);
    let stride = t.stride();
    eprintln!(
        "row {bytes} B stride {stride} B, {} MiB, {} lookups, huge pages {:?}, {:?} MiB huge now",
        t.bytes() >> 20,
        t.lookups(),
        t.huge_pages(),
        t.huge_bytes_now().map(|b| b >> 20)
    );
    for pool in pools {
        for &hint in &hints {
            let ds: &[usize] = if hint == TouchHint::None { &[0] } else { &dists };
            for &d in ds {
                let _ = row_touch(pool, t, bytes, d, hint); // warm-up
                let mut v: Vec<f64> = (0..repeats).map(|_| row_touch(pool, t, bytes, d, hint)).collect();
                v.sort_by(|a, b| a.total_cmp(b));
                println!(
                    "{{\"row_bytes\":{bytes},\"stride\":{stride},\"threads\":{},\"hint\":\"{hint:?}\",\"dist\":{d},\"mrows_median\":{:.2},\"min\":{:.2},\"max\":{:.2},\"huge_pages\":\"{:?}\"}}",
                    pool.threads(),
                    v[v.len() / 2],
                    v[0],
                    v[v.len() - 1],
                    t.huge_pages()
                );
            }
        }
    }
}

/// The touch loop over a model-like lookup stream (see the module doc).
fn stream(args: &[String]) {
    use rand::{Rng, SeedableRng};
    let n: Vec<usize> = args.iter().filter_map(|s| s.parse().ok()).collect();
    let [sets, tables, rows, bags, lookups, row_bytes, ..] = n[..] else {
        eprintln!("usage: row_ceiling stream SETS TABLES ROWS BAGS LOOKUPS ROW_BYTES [REPEATS]");
        std::process::exit(2);
    };
    let Some(total_rows) = tables.checked_mul(rows).filter(|&n| n <= u32::MAX as usize) else {
        eprintln!("row_ceiling stream: {tables} tables of {rows} rows exceed u32 row indices");
        std::process::exit(2);
    };
    let repeats = n.get(6).copied().unwrap_or(5);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut idx = Vec::with_capacity(sets * tables * bags * lookups);
    for _ in 0..sets {
        for t in 0..tables {
            for _ in 0..bags * lookups {
                idx.push((t * rows + rng.gen_range(0..rows)) as u32);
            }
        }
    }
    if std::env::var("SPLIT").is_ok_and(|s| s == "tables") {
        // Even tables of every set, then odd ones: the two halves the 2-thread run gives its threads.
        let chunk = (bags * lookups).max(1);
        let (even, odd): (Vec<_>, Vec<_>) =
            idx.chunks(chunk).enumerate().partition(|(i, _)| i % tables % 2 == 0);
        idx = even.into_iter().chain(odd).flat_map(|(_, c)| c.iter().copied()).collect();
    }
    let t = RowTouchTable::with_indices(total_rows, row_bytes, idx).expect("table");
    sweep(&pools(), &t, row_bytes, repeats);
}

/// Embedding-bag rate (Mrows/s) of this build's kernel at 1 and 2 threads.
fn emb(args: &[String]) {
    use hercules_kernels::embedding::{self, Bags, DType, EmbeddingOpts, EmbeddingTable, Indices, Pooling};
    let mib: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(2048);
    let repeats: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dtype: DType = args.get(2).map(|s| s.parse().expect("dtype")).unwrap_or(DType::F32);
    let dims: Vec<usize> =
        args.get(3..).map(|d| d.iter().map(|x| x.parse().unwrap()).collect()).unwrap_or_default();
    let pools = pools();
    let (batch, lookups) = (2048, 80);
    for dim in dims {
        let rows = (mib << 20) / (4 * dim);
        let table = EmbeddingTable::random(rows, dim, dtype, 7).expect("table");
        let sets: Vec<_> = (0..8).map(|s| embedding::random_bags(rows, batch, lookups, 1000 + s)).collect();
        let mut opts = EmbeddingOpts::for_table(&table);
        if let Some(p) = std::env::var("PF").ok().and_then(|s| s.parse().ok()) {
            opts.prefetch_distance = p;
        }
        if let Ok(h) = std::env::var("HINT") {
            use embedding::PrefetchHint as P;
            let all = [("t0", P::T0), ("t1", P::T1), ("nta", P::Nta), ("t1t0", P::T1T0)];
            opts.prefetch_hint = all.iter().find(|(n, _)| *n == h).expect("HINT: t0, t1, nta or t1t0").1;
        }
        let mut out = vec![0.0f32; batch * dim];
        for pool in &pools {
            let mut i = 0;
            let mut call = || {
                let (idx, off) = &sets[i % sets.len()];
                i += 1;
                let t = std::time::Instant::now();
                embedding::embedding_bag_par(
                    pool,
                    &table,
                    Indices::U32(idx),
                    Bags::Offsets(off),
                    None,
                    Pooling::Sum,
                    &mut out,
                    &opts,
                )
                .expect("bag");
                (batch * lookups) as f64 / t.elapsed().as_secs_f64() / 1e6
            };
            for _ in 0..4 {
                call();
            }
            // One sample = the median of 8 calls (one per index set); REPEATS samples.
            let mut v: Vec<f64> = (0..repeats)
                .map(|_| {
                    let mut c: Vec<f64> = (0..8).map(|_| call()).collect();
                    c.sort_by(|a, b| a.total_cmp(b));
                    c[4]
                })
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            println!(
                "{{\"op\":\"emb\",\"dtype\":\"{dtype}\",\"dim\":{dim},\"row_bytes\":{},\"threads\":{},\"pf\":{},\"mrows_median\":{:.2},\"min\":{:.2},\"max\":{:.2},\"huge_pages\":\"{:?}\"}}",
                table.row_bytes(),
                pool.threads(),
                opts.prefetch_distance,
                v[v.len() / 2],
                v[0],
                v[v.len() - 1],
                table.huge_pages()
            );
        }
    }
}
