//! Throughput probe of the embedding-bag kernels on a large random table.
//!
//! Usage: `embedding_probe DIM DTYPE THREADS[,..] TABLE_MIB PREFETCH[,..] [t0|t1|nta|t1t0[,..]] [ISA[,..]] [REPEATS]`
//!
//! The table has as many rows as an fp32 table of TABLE_MIB MiB (rows = MiB·2^20 / (4·DIM)), so
//! fp16/int8 runs compare rows/s at the same row count. Each repeat pools a fresh batch of B = 2048
//! bags × L = 80 uniform indices (unique within a bag); the median of the repeats is printed as
//! rows/s and GB/s of row data (the packed bytes each lookup reads). Several ISAs, thread counts,
//! prefetch distances and hints are measured back to back on the same table, interleaved round by round so
//! that noise from other processes spreads evenly over the variants.
//!
//! Other processes share the cores, so besides wall time the probe reports an on-CPU rate: lookups
//! per second of process CPU time divided by the thread count. A run that was preempted keeps its
//! wall time but not its CPU time; idle spinning of the pool's workers counts as CPU time, so this
//! rate errs low, never high.

use hercules_kernels::ceiling::{row_touch, RowTouchTable, TouchHint};
use hercules_kernels::embedding::{
    embedding_bag_par, embedding_bag_reference, random_bags, Bags, DType, EmbeddingOpts, EmbeddingTable,
    Indices, Pooling, PrefetchHint,
};
use hercules_kernels::{Isa, PinnedPool};
use std::time::Instant;

const BATCH: usize = 2048;
const LOOKUPS: usize = 80;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!(
            "usage: embedding_probe DIM DTYPE THREADS TABLE_MIB PREFETCH[,..] [t0|t1|nta|t1t0[,..]] [ISA] [REPEATS]"
        );
        std::process::exit(2);
    }
    let dim: usize = args[0].parse()?;
    let dtype: DType = args[1].parse()?;
    let threads: Vec<usize> = args[2].split(',').map(str::parse).collect::<Result<_, _>>()?;
    let mib: usize = args[3].parse()?;
    let distances: Vec<usize> = args[4].split(',').map(str::parse).collect::<Result<_, _>>()?;
    let hints: Vec<PrefetchHint> = args
        .get(5)
        .map_or("t0", String::as_str)
        .split(',')
        .map(|h| match h.to_ascii_lowercase().as_str() {
            "t1" => PrefetchHint::T1,
            "nta" => PrefetchHint::Nta,
            "t1t0" => PrefetchHint::T1T0,
            _ => PrefetchHint::T0,
        })
        .collect();
    let isas: Vec<Isa> = match args.get(6) {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![Isa::best()],
    };
    let repeats: usize = args.get(7).map_or(Ok(7), |s| s.parse())?;

    let rows = (mib << 20) / (4 * dim);
    let t0 = Instant::now();
    let table = EmbeddingTable::random(rows, dim, dtype, 42)?;
    println!(
        "table: {rows} rows × {dim} {dtype}, {:.0} MiB stored ({} B/row, {} B read/row), huge pages {:?}, built in {:.2} s",
        table.bytes() as f64 / (1 << 20) as f64,
        table.row_bytes(),
        table.row_data_bytes(),
        table.huge_pages(),
        t0.elapsed().as_secs_f64()
    );
    let pools: Vec<PinnedPool> =
        threads.iter().map(|&t| PinnedPool::with_threads(t)).collect::<Result<_, _>>()?;
    let mut variants: Vec<(Isa, usize, usize, PrefetchHint)> = Vec::new();
    for &isa in &isas {
        for p in 0..pools.len() {
            for &d in &distances {
                variants.extend(hints.iter().map(|&h| (isa, p, d, h)));
            }
        }
    }
    // A fresh batch for every timed run (plus one warm-up), so no run finds an earlier one's rows
    // in cache.
    // PROBE_SETS=N instead cycles N batches, as `hercules kernels` and the PyTorch peer do.
    let runs = repeats * variants.len() + 1;
    let sets = std::env::var("PROBE_SETS").ok().and_then(|s| s.parse().ok()).unwrap_or(runs).clamp(1, runs);
    let distinct: Vec<(Vec<u32>, Vec<usize>)> =
        (0..sets).map(|r| random_bags(rows, BATCH, LOOKUPS, 1000 + r as u64)).collect();
    let batches: Vec<&(Vec<u32>, Vec<usize>)> = (0..runs).map(|r| &distinct[r % sets]).collect();
    let mut out = vec![0f32; BATCH * dim];

    // Sanity: the kernel agrees with the reference on the first batch.
    let (idx, offs) = &batches[0];
    let opts = EmbeddingOpts { isa: isas[0], prefetch_distance: distances[0], prefetch_hint: hints[0] };
    embedding_bag_par(
        &pools[0],
        &table,
        Indices::U32(idx),
        Bags::Offsets(offs),
        None,
        Pooling::Sum,
        &mut out,
        &opts,
    )?;
    let want = embedding_bag_reference(&table, Indices::U32(idx), Bags::Offsets(offs), None, Pooling::Sum)?;
    let worst = out.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "kernel disagrees with the reference by {worst}");

    // CEIL=1: also time the row-touch ceiling (ceiling::row_touch) on a table of the same size and
    // row stride, at every (threads, distance, hint) of the kernel variants, in the same rounds.
    let ceil = std::env::var("CEIL").is_ok_and(|v| v == "1").then(|| {
        let t =
            RowTouchTable::new(table.bytes(), table.row_bytes(), BATCH * LOOKUPS, 77).expect("touch table");
        println!("touch table: {} MiB, huge pages {:?}", t.bytes() >> 20, t.huge_pages());
        t
    });
    let touch_variants: Vec<(usize, usize, TouchHint)> = if ceil.is_some() {
        let mut v = Vec::new();
        for p in 0..pools.len() {
            for &d in &distances {
                for &h in &hints {
                    let th = match h {
                        _ if d == 0 => TouchHint::None,
                        PrefetchHint::T0 => TouchHint::T0,
                        PrefetchHint::T1 => TouchHint::T1,
                        PrefetchHint::Nta => TouchHint::Nta,
                        PrefetchHint::T1T0 => TouchHint::T1T0,
                    };
                    if !v.contains(&(p, d, th)) {
                        v.push((p, d, th));
                    }
                }
            }
        }
        v
    } else {
        Vec::new()
    };
    let mut touch_rates = vec![Vec::new(); touch_variants.len()];
    let mut times = vec![Vec::new(); variants.len()];
    let mut cpu_times = vec![Vec::new(); variants.len()];
    for round in batches[1..].chunks(variants.len()) {
        if let Some(t) = &ceil {
            for (r, &(p, d, h)) in touch_rates.iter_mut().zip(&touch_variants) {
                r.push(row_touch(&pools[p], t, table.row_data_bytes(), d, h));
            }
        }
        for (v, ((idx, offs), &(isa, p, prefetch_distance, prefetch_hint))) in
            round.iter().zip(&variants).enumerate()
        {
            let opts = EmbeddingOpts { isa, prefetch_distance, prefetch_hint };
            let c = process_cpu_seconds();
            let t = Instant::now();
            embedding_bag_par(
                &pools[p],
                &table,
                Indices::U32(idx),
                Bags::Offsets(offs),
                None,
                Pooling::Sum,
                &mut out,
                &opts,
            )?;
            times[v].push(t.elapsed().as_secs_f64());
            cpu_times[v].push((process_cpu_seconds() - c) / threads[p] as f64);
        }
    }
    let lookups = (BATCH * LOOKUPS) as f64;
    let bytes = lookups * table.row_data_bytes() as f64;
    for (((isa, p, d, h), mut ts), mut cs) in variants.into_iter().zip(times).zip(cpu_times) {
        ts.sort_by(f64::total_cmp);
        cs.sort_by(f64::total_cmp);
        let med = ts[ts.len() / 2];
        let cpu_med = cs[cs.len() / 2];
        println!(
            "dim={dim} dtype={dtype} threads={} isa={isa} pf={d} hint={h:?}: median {:.2} ms {:.1} Mrows/s {:.2} GB/s \
             | best {:.2} GB/s | on-CPU median {:.1} Mrows/s {:.2} GB/s | max {:.2} ms, n={}",
            threads[p],
            med * 1e3,
            lookups / med / 1e6,
            bytes / med / 1e9,
            bytes / ts[0] / 1e9,
            lookups / cpu_med / 1e6,
            bytes / cpu_med / 1e9,
            ts[ts.len() - 1] * 1e3,
            ts.len()
        );
    }
    for ((p, d, h), mut r) in touch_variants.into_iter().zip(touch_rates) {
        r.sort_by(f64::total_cmp);
        println!(
            "ceiling row_touch {} B/row threads={} pf={d} hint={h:?}: median {:.1} Mrows/s {:.2} GB/s | min {:.1} max {:.1}, n={}",
            table.row_data_bytes(),
            threads[p],
            r[r.len() / 2],
            r[r.len() / 2] * table.row_data_bytes() as f64 / 1e3,
            r[0],
            r[r.len() - 1],
            r.len()
        );
    }
    Ok(())
}

/// CPU time consumed by this process so far, all threads together.
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
