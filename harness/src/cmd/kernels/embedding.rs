//! Embedding-bag benchmarks: the default sweep or one shape, on tables from cache-resident to DRAM.

use super::{record, Ctx, KernelsArgs};
use crate::limits::MAX_KERNEL_BYTES;
use anyhow::{anyhow, Context, Result};
use hercules_kernels::ceiling::{row_touch, RowTouchTable, TouchHint};
use hercules_kernels::embedding::{
    self, Bags, DType, EmbeddingOpts, EmbeddingTable, Indices, PrefetchHint, PrefetchTuning, TuningSource,
};
use hercules_kernels::pool::PinnedPool;
use hercules_results::KernelRecord;

/// One shape of the sweep.
#[derive(Debug, Clone, Copy)]
struct Shape {
    dim: usize,
    lookups: usize,
    batch: usize,
    table_mib: usize,
    dtype: DType,
}

fn shapes(args: &KernelsArgs) -> Vec<Shape> {
    let dims = args.pick(&args.dim, &[32, 128], &[32, 64, 128]);
    let lookups = args.pick(&args.lookups, &[20], &[20, 80]);
    let tables = args.pick(&args.table_mib, &[1, 16], &[1, 16, 2048]);
    let batch = args.batch.unwrap_or(if args.quick { 256 } else { 2048 });
    let dtypes = if args.dtype.is_empty() { vec![DType::F32] } else { args.dtype.clone() };
    let mut out = Vec::new();
    for &table_mib in &tables {
        for &dim in &dims {
            for &dtype in &dtypes {
                for &l in &lookups {
                    out.push(Shape { dim, lookups: l, batch, table_mib, dtype });
                }
            }
        }
    }
    // The default sweep also shows the quantised rows on the DRAM table at L = 80.
    if args.dtype.is_empty() && args.dim.is_empty() && args.table_mib.is_empty() && !args.quick {
        for &dim in &dims {
            for dtype in [DType::F16, DType::Int8] {
                out.push(Shape { dim, lookups: 80, batch, table_mib: 2048, dtype });
            }
        }
    }
    out
}

/// Pre-generated index batches, rotated so the rows one call gathers are not cached by the last.
struct Batches {
    indices: Vec<Vec<u32>>,
    offsets: Vec<Vec<usize>>,
}

impl Batches {
    fn new(rows: usize, s: &Shape, row_bytes: usize, llc: u64) -> Self {
        let per_batch = (s.batch * s.lookups * row_bytes).max(1) as u64;
        // Cover four times the LLC with distinct batches, and never fewer than two, so a call never
        // finds the last call's rows in cache: one batch of 40 MB cycled on a 32 MB LLC partly did.
        let n = (4 * llc).div_ceil(per_batch).clamp(2, 64) as usize;
        let (indices, offsets) = (0..n)
            .map(|i| embedding::random_bags(rows, s.batch, s.lookups.min(rows), 1000 + i as u64))
            .unzip();
        Self { indices, offsets }
    }
}

/// Refuses, before anything is measured, a table the OS could not hold.
pub fn check(args: &KernelsArgs) -> Result<()> {
    for s in shapes(args) {
        let bytes = (s.table_mib as u64).checked_mul(1 << 20).filter(|&b| b <= MAX_KERNEL_BYTES).ok_or_else(
            || {
                anyhow!(
                    "--table-mib {}: above the harness's bound of {} MiB",
                    s.table_mib,
                    MAX_KERNEL_BYTES >> 20
                )
            },
        )?;
        // The table, and beside it the row-touch ceiling's table of the same size.
        hercules_kernels::mem::check_fits(
            &format!("--table-mib {} (and its ceiling)", s.table_mib),
            2 * bytes as usize,
        )?;
    }
    Ok(())
}

/// Runs the embedding benchmarks.
pub fn run(ctx: &Ctx, args: &KernelsArgs) -> Result<Vec<KernelRecord>> {
    let mut out = Vec::new();
    let shapes = shapes(args);
    let pb = crate::output::progress::bar((shapes.len() * ctx.pools.len()) as u64, "embedding");
    let mut cached: Option<Built> = None;
    for s in shapes {
        // Row count from the fp32 size, so every dtype has the same table shape in rows.
        let rows = ((s.table_mib << 20) / (4 * s.dim)).max(1);
        let key = (rows, s.dim, s.dtype);
        if cached.as_ref().map(|c| c.key) != Some(key) {
            drop(cached.take()); // free the old table before building the next
            pb.set_message(format!("building {} table D={} {} MiB", s.dtype, s.dim, s.table_mib));
            let t = EmbeddingTable::random(rows, s.dim, s.dtype, 7)
                .with_context(|| format!("building a {} MiB table of D={}", s.table_mib, s.dim))?;
            // The prefetch is chosen for this host, table class and thread count, unless --prefetch
            // fixes it.
            let base = EmbeddingOpts { isa: ctx.isa, ..EmbeddingOpts::for_table(&t) };
            let mut tuned = Vec::with_capacity(ctx.pools.len());
            for pool in &ctx.pools {
                let tuning = match args.prefetch {
                    Some(d) => PrefetchTuning::fixed(d, base.prefetch_hint, TuningSource::Fixed),
                    None => {
                        pb.set_message(format!(
                            "tuning the prefetch for {} D={} {} MiB, {} threads",
                            s.dtype,
                            s.dim,
                            s.table_mib,
                            pool.threads()
                        ));
                        let cache = embedding::default_cache_path();
                        embedding::tune_prefetch_cached(&t, base, 9, pool, cache.as_deref())
                            .context("tuning the software prefetch")?
                    }
                };
                if let Some(w) = &tuning.warning {
                    pb.suspend(|| eprintln!("warning: {w}"));
                }
                let opts = tuning.apply(base);
                tuned.push((tuning, opts));
            }
            // The same-run ceiling of a DRAM-sized table: a touch-only loop over random rows of the same
            // size and stride, with enough distinct rows to cover four times the last-level cache.
            let touch = if t.bytes() as u64 > 2 * ctx.llc_bytes {
                let n = (4 * ctx.llc_bytes as usize / t.row_bytes()).clamp(s.batch * s.lookups, 1 << 24);
                Some(
                    RowTouchTable::new(t.bytes(), t.row_bytes(), n, 77)
                        .context("building the row-touch table")?,
                )
            } else {
                None
            };
            cached = Some(Built { key, table: t, tuned, touch });
        }
        let Built { table, tuned, touch, .. } = cached.as_ref().expect("table built above");
        let batches = Batches::new(rows, &s, table.row_bytes(), ctx.llc_bytes);
        for (pool, (tuning, opts)) in ctx.pools.iter().zip(tuned) {
            pb.set_message(format!(
                "D={} L={} {} {} MiB, {} threads",
                s.dim,
                s.lookups,
                s.dtype,
                s.table_mib,
                pool.threads()
            ));
            let mut r = bench_one(ctx, args, pool, (table, tuning, opts), &s, &batches)?;
            if touch.is_none() {
                r.ceiling = Some("none: the table fits in the last-level cache".into());
            }
            if let (Some(t), Some(rows_per_s)) = (touch, r.rows_per_s) {
                pb.set_message(format!("row-touch ceiling D={} {} {} MiB", s.dim, s.dtype, s.table_mib));
                let (best, hint, dist) =
                    touch_ceiling(pool, t, table.row_data_bytes(), ctx.repeats.clamp(3, 5));
                r.fraction_of_ceiling = Some(rows_per_s / 1e6 / best);
                r.ceiling = Some(format!(
                    "row_touch: a touch-only loop over random rows of the same table size, row width and \
                     threads (one load per cache line), best of its prefetch settings: {best:.1} Mrows/s \
                     ({hint:?}, {dist} rows ahead), same run"
                ));
                if let Some(shape) = r.shape.as_object_mut() {
                    shape.insert("row_touch_mrows_s".into(), serde_json::json!(best));
                }
            }
            out.push(r);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(out)
}

/// The table of the current shape with its tuned options per pool of `ctx.pools` (and its ceiling's
/// table when it is DRAM-sized), kept while consecutive shapes share it.
struct Built {
    key: (usize, usize, DType),
    table: EmbeddingTable,
    tuned: Vec<(PrefetchTuning, EmbeddingOpts)>,
    touch: Option<RowTouchTable>,
}

/// Prefetch settings the row-touch ceiling tries, the best one's median being the ceiling: every
/// setting the embedding tuner tries ([`embedding::candidates`]), so the ceiling is never held to a
/// setting the kernel may leave.
fn touch_settings() -> Vec<(TouchHint, usize)> {
    embedding::candidates()
        .into_iter()
        .map(|(d, h)| match (d, h) {
            (0, _) => (TouchHint::None, 0),
            (d, PrefetchHint::T0) => (TouchHint::T0, d),
            (d, PrefetchHint::T1) => (TouchHint::T1, d),
            (d, PrefetchHint::Nta) => (TouchHint::Nta, d),
            (d, PrefetchHint::T1T0) => (TouchHint::T1T0, d),
        })
        .collect()
}

/// The row-touch ceiling on `pool`: each of [`touch_settings`] `repeats` times, interleaved (after one
/// warm-up pass), and the best setting's median Mrows/s with that setting.
fn touch_ceiling(
    pool: &PinnedPool,
    t: &RowTouchTable,
    row_bytes: usize,
    repeats: usize,
) -> (f64, TouchHint, usize) {
    let settings = touch_settings();
    let _ = row_touch(pool, t, row_bytes, 0, TouchHint::None);
    let mut rates = vec![Vec::with_capacity(repeats); settings.len()];
    for _ in 0..repeats {
        for (i, &(hint, dist)) in settings.iter().enumerate() {
            rates[i].push(row_touch(pool, t, row_bytes, dist, hint));
        }
    }
    settings
        .iter()
        .zip(&mut rates)
        .map(|(&(hint, dist), r)| {
            r.sort_by(f64::total_cmp);
            (r[r.len() / 2], hint, dist)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .expect("touch_settings is not empty")
}

fn bench_one(
    ctx: &Ctx,
    args: &KernelsArgs,
    pool: &PinnedPool,
    (table, tuning, opts): (&EmbeddingTable, &PrefetchTuning, &EmbeddingOpts),
    s: &Shape,
    batches: &Batches,
) -> Result<KernelRecord> {
    let mut out = vec![0.0f32; s.batch * s.dim];
    let mut i = 0;
    let mut err = None;
    // This thread is the pool's worker 0 while timed (pinned to its first core, as in serving).
    let pinned = pool.enter().context("pinning to the pool's first core")?;
    let t = ctx.time(|| {
        let k = i % batches.indices.len();
        i += 1;
        let r = embedding::embedding_bag_par(
            pool,
            table,
            Indices::U32(&batches.indices[k]),
            Bags::Offsets(&batches.offsets[k]),
            None,
            args.pooling,
            &mut out,
            opts,
        );
        if let Err(e) = r {
            err.get_or_insert(e);
        }
    });
    drop(pinned);
    if let Some(e) = err {
        return Err(e).context("embedding bag");
    }
    let lookups = batches.indices[0].len() as f64;
    let rows_per_s = lookups / t.median;
    let gbs = rows_per_s * table.row_data_bytes() as f64 / 1e9;
    let shape = serde_json::json!({
        "rows": table.rows(), "dim": s.dim, "lookups": s.lookups, "batch": s.batch,
        "dtype": s.dtype.to_string(), "pooling": args.pooling.to_string(),
        "table_mib": s.table_mib, "table_bytes": table.bytes(), "row_bytes": table.row_data_bytes(), "row_stride": table.row_bytes(),
        "prefetch_distance": opts.prefetch_distance,
        "prefetch_hint": opts.prefetch_hint,
        "prefetch_tuning": tuning,
        "index_batches": batches.indices.len(),
    });
    let mut r = record("embedding", "hercules", &opts.isa.to_string(), pool.threads(), shape, &t);
    r.rows_per_s = Some(rows_per_s);
    r.gbs = Some(gbs);
    r.huge_pages = Some(format!("{:?}", table.huge_pages()).to_lowercase());
    Ok(r)
}
