//! Every kernel against the f64 reference on random shapes; parallel against serial; quantisation
//! bounds; each bad input's error.

use super::*;
use crate::pool::{allowed_cores, PinnedPool};
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// One random lookup problem.
#[derive(Debug, Clone)]
struct Case {
    rows: usize,
    dim: usize,
    dtype: DType,
    lens: Vec<u32>,
    wide_indices: bool,
    as_lengths: bool,
    weighted: bool,
    pooling: Pooling,
    seed: u64,
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F32), Just(DType::F16), Just(DType::Int8)]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1usize..200,
        1usize..300,
        dtype_strategy(),
        prop::collection::vec(0u32..20, 0..10),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(Pooling::Sum), Just(Pooling::Mean)],
        any::<u64>(),
    )
        .prop_map(|(rows, dim, dtype, lens, wide_indices, as_lengths, weighted, pooling, seed)| Case {
            rows,
            dim,
            dtype,
            lens,
            wide_indices,
            as_lengths,
            weighted,
            pooling,
            seed,
        })
}

/// The inputs of a case: table, u64 indices, offsets, weights.
fn build(c: &Case) -> (EmbeddingTable, Vec<u64>, Vec<usize>, Option<Vec<f32>>) {
    let table = EmbeddingTable::random(c.rows, c.dim, c.dtype, c.seed).unwrap();
    let mut rng = StdRng::seed_from_u64(c.seed ^ 0x5eed);
    let n: usize = c.lens.iter().map(|&l| l as usize).sum();
    let idx: Vec<u64> = (0..n).map(|_| rng.gen_range(0..c.rows as u64)).collect();
    let mut offsets = vec![0usize];
    for &l in &c.lens {
        offsets.push(offsets.last().unwrap() + l as usize);
    }
    let weights = c.weighted.then(|| (0..n).map(|_| rng.gen_range(-2.0f32..2.0)).collect());
    (table, idx, offsets, weights)
}

/// Σ |w|·|terms| per output value, the scale of the rounding error a kernel may make.
fn magnitudes(t: &EmbeddingTable, idx: &[u64], offsets: &[usize], w: Option<&[f32]>, p: Pooling) -> Vec<f64> {
    let mut out = Vec::new();
    for b in 0..offsets.len() - 1 {
        let mut m = vec![0f64; t.dim()];
        for i in offsets[b]..offsets[b + 1] {
            let wi = w.map_or(1.0, |w| w[i] as f64).abs();
            for (a, v) in m.iter_mut().zip(t.row_term_magnitudes(idx[i] as usize)) {
                *a += wi * v;
            }
        }
        let len = offsets[b + 1] - offsets[b];
        let s = if p == Pooling::Mean && len > 0 { 1.0 / len as f64 } else { 1.0 };
        out.extend(m.into_iter().map(|v| v * s));
    }
    out
}

/// Runs `c` on every available ISA, prefetch off and on, and compares with the reference.
fn check_case(c: &Case) -> std::result::Result<(), TestCaseError> {
    let (table, idx64, offsets, weights) = build(c);
    let idx32: Vec<u32> = idx64.iter().map(|&i| i as u32).collect();
    let indices = if c.wide_indices { Indices::U64(&idx64) } else { Indices::U32(&idx32) };
    let bags = if c.as_lengths { Bags::Lengths(&c.lens) } else { Bags::Offsets(&offsets) };
    let w = weights.as_deref();
    let want = embedding_bag_reference(&table, indices, bags, w, c.pooling).unwrap();
    let mags = magnitudes(&table, &idx64, &offsets, w, c.pooling);
    // f32 accumulation of ≤ 20 terms; int8 also rounds scale·w and sums codes and biases apart.
    let tol = if c.dtype == DType::Int8 { 2e-6 } else { 1e-6 };
    for isa in Isa::available() {
        for (prefetch_distance, prefetch_hint) in
            [(0, PrefetchHint::T0), (3, PrefetchHint::T1), (2, PrefetchHint::Nta), (5, PrefetchHint::T1T0)]
        {
            let opts = EmbeddingOpts { isa, prefetch_distance, prefetch_hint };
            let mut got = vec![f32::NAN; want.len()];
            embedding_bag(&table, indices, bags, w, c.pooling, &mut got, &opts).unwrap();
            for (k, ((g, r), m)) in got.iter().zip(&want).zip(&mags).enumerate() {
                let err = (*g as f64 - *r as f64).abs();
                prop_assert!(
                    err <= tol * m + 1e-30,
                    "{isa} pf {prefetch_distance}: value {k} (bag {}, col {}) got {g} want {r} (err {err:e}, mag {m:e})",
                    k / c.dim,
                    k % c.dim
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn kernels_match_reference(c in case_strategy()) {
        check_case(&c)?;
    }

    #[test]
    fn quantisation_error_is_within_bound(
        rows in 1usize..20,
        dim in 1usize..70,
        seed in any::<u64>(),
        spread in prop_oneof![Just(1e-3f32), Just(1.0f32), Just(1e4f32)],
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let vals: Vec<f32> = (0..rows * dim).map(|_| rng.gen_range(-spread..spread)).collect();
        for dtype in DType::ALL {
            let t = EmbeddingTable::from_f32(rows, dim, dtype, &vals).unwrap();
            for r in 0..rows {
                let orig = &vals[r * dim..(r + 1) * dim];
                let (lo, hi) = orig.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                for (j, (&x, y)) in orig.iter().zip(t.row_f32(r)).enumerate() {
                    let bound = match dtype {
                        DType::F32 => 0.0,
                        // Half an ulp of fp16 (11-bit significand); half the subnormal spacing near 0.
                        DType::F16 => x.abs() as f64 * 2f64.powi(-11) + 2f64.powi(-25),
                        // Half a quantisation step, plus f32 rounding of the dequantisation.
                        DType::Int8 => {
                            (hi as f64 - lo as f64) / 255.0 * 0.5 * (1.0 + 1e-5)
                                + 4.0 * f32::EPSILON as f64 * (hi.abs() as f64 + lo.abs() as f64)
                        }
                    };
                    let err = (x as f64 - y as f64).abs();
                    prop_assert!(err <= bound, "{dtype} row {r} col {j}: {x} -> {y} (err {err:e} > {bound:e})");
                }
            }
        }
    }
}

#[test]
fn wide_and_odd_dims_on_every_isa() {
    for dim in [1, 7, 8, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 300] {
        for dtype in DType::ALL {
            let c = Case {
                rows: 37,
                dim,
                dtype,
                lens: vec![5, 0, 19, 1, 0, 8],
                wide_indices: dim % 2 == 0,
                as_lengths: dim % 3 == 0,
                weighted: dim % 4 < 2,
                pooling: if dim % 5 < 2 { Pooling::Mean } else { Pooling::Sum },
                seed: dim as u64,
            };
            check_case(&c).unwrap();
        }
    }
}

/// Indices, bags and weights of one lookup.
type Input<'a> = (&'a [u32], Bags<'a>, Option<&'a [f32]>);

#[test]
fn parallel_equals_serial() {
    let cores = allowed_cores();
    for threads in [1, cores.len().min(2)] {
        let pool = PinnedPool::new(&cores[..threads]).unwrap();
        for dtype in DType::ALL {
            let table = EmbeddingTable::random(5000, 40, dtype, 7).unwrap();
            let (idx, offsets) = random_bags(5000, 33, 17, 3);
            // Ragged and empty bags too.
            let lens: Vec<u32> = (0..50u32).map(|b| (b * 7) % 13).collect();
            let n: usize = lens.iter().map(|&l| l as usize).sum();
            let ragged: Vec<u32> = (0..n as u32).map(|i| i.wrapping_mul(2654435761u32) % 5000).collect();
            let weights: Vec<f32> = (0..n).map(|i| i as f32 * 0.01 - 1.0).collect();
            let inputs: [Input<'_>; 2] =
                [(&idx, Bags::Offsets(&offsets), None), (&ragged, Bags::Lengths(&lens), Some(&weights))];
            for (ix, bags, w) in inputs {
                for pooling in [Pooling::Sum, Pooling::Mean] {
                    let opts = EmbeddingOpts::default();
                    let mut serial = vec![0f32; bags.count() * 40];
                    let mut par = vec![f32::NAN; bags.count() * 40];
                    embedding_bag(&table, Indices::U32(ix), bags, w, pooling, &mut serial, &opts).unwrap();
                    embedding_bag_par(&pool, &table, Indices::U32(ix), bags, w, pooling, &mut par, &opts)
                        .unwrap();
                    assert_eq!(serial, par, "{dtype} {pooling:?} on {threads} threads");
                }
            }
        }
    }
}

#[test]
fn empty_batches_and_empty_bags() {
    let table = EmbeddingTable::random(10, 3, DType::F32, 1).unwrap();
    let pool = PinnedPool::with_threads(1).unwrap();
    for isa in Isa::available() {
        let opts = EmbeddingOpts { isa, ..EmbeddingOpts::default() };
        let mut out: Vec<f32> = Vec::new();
        embedding_bag(&table, Indices::U32(&[]), Bags::Offsets(&[0]), None, Pooling::Sum, &mut out, &opts)
            .unwrap();
        embedding_bag(&table, Indices::U32(&[]), Bags::Lengths(&[]), None, Pooling::Sum, &mut out, &opts)
            .unwrap();
        let mut out = vec![f32::NAN; 6];
        embedding_bag(
            &table,
            Indices::U64(&[]),
            Bags::Lengths(&[0, 0]),
            None,
            Pooling::Mean,
            &mut out,
            &opts,
        )
        .unwrap();
        assert_eq!(out, vec![0.0; 6]);
        let mut out = vec![f32::NAN; 6];
        embedding_bag_par(
            &pool,
            &table,
            Indices::U64(&[]),
            Bags::Offsets(&[0, 0, 0]),
            None,
            Pooling::Sum,
            &mut out,
            &opts,
        )
        .unwrap();
        assert_eq!(out, vec![0.0; 6]);
    }
}

/// The message of the error `f` returns, after checking its variant with `is`.
fn err_of(res: Result<()>, is: fn(&KernelError) -> bool) -> String {
    let e = res.unwrap_err();
    assert!(is(&e), "unexpected error variant: {e:?}");
    e.to_string()
}

#[test]
fn bad_inputs_give_errors_naming_where() {
    let table = EmbeddingTable::random(100, 4, DType::Int8, 1).unwrap();
    let pool = PinnedPool::with_threads(allowed_cores().len().min(2)).unwrap();
    let idx = [1u32, 2, 3, 4, 5, 6];
    let oob = [1u32, 2, 3, 4, 100, 6];
    let oob64 = [1u64, 2, 3, 4, 5, u64::MAX];
    for isa in Isa::available() {
        let opts = EmbeddingOpts { isa, ..EmbeddingOpts::default() };
        let mut out = vec![0f32; 3 * 4];
        let o = Bags::Offsets(&[0, 2, 4, 6]);
        let is_oob = |e: &KernelError| matches!(e, KernelError::IndexOutOfRange { .. });
        let is_off = |e: &KernelError| matches!(e, KernelError::BadOffsets { .. });
        let is_shape = |e: &KernelError| matches!(e, KernelError::ShapeMismatch { .. });
        let m =
            err_of(embedding_bag(&table, Indices::U32(&oob), o, None, Pooling::Sum, &mut out, &opts), is_oob);
        assert!(m.contains("index 100 at position 4 (bag 2)"), "{m}");
        let m = err_of(
            embedding_bag_par(&pool, &table, Indices::U64(&oob64), o, None, Pooling::Sum, &mut out, &opts),
            is_oob,
        );
        assert!(m.contains("position 5 (bag 2)"), "{m}");
        let m = err_of(
            embedding_bag_par(&pool, &table, Indices::U32(&oob), o, None, Pooling::Sum, &mut out, &opts),
            is_oob,
        );
        assert!(m.contains("position 4 (bag 2)"), "{m}");
        let bad_offsets: [(&[usize], &str); 5] = [
            (&[1, 2, 4, 6], "first offset is 1"),
            (&[0, 4, 2, 6], "decreases"),
            (&[0, 2, 7, 6], "past the 6 indices"),
            (&[0, 2, 4, 5], "last offset is 5"),
            (&[], "no offsets"),
        ];
        for (offs, want) in bad_offsets {
            let mut out = vec![0f32; offs.len().saturating_sub(1) * 4];
            let m = err_of(
                embedding_bag(
                    &table,
                    Indices::U32(&idx),
                    Bags::Offsets(offs),
                    None,
                    Pooling::Sum,
                    &mut out,
                    &opts,
                ),
                is_off,
            );
            assert!(m.contains(want), "{m}");
        }
        let m = err_of(
            embedding_bag(
                &table,
                Indices::U32(&idx),
                Bags::Lengths(&[2, 2, 3]),
                None,
                Pooling::Sum,
                &mut out,
                &opts,
            ),
            is_off,
        );
        assert!(m.contains("bag 2") && m.contains("past the 6"), "{m}");
        let m = err_of(
            embedding_bag(
                &table,
                Indices::U32(&idx),
                Bags::Lengths(&[2, 2, 1]),
                None,
                Pooling::Sum,
                &mut out,
                &opts,
            ),
            is_off,
        );
        assert!(m.contains("sum to 5"), "{m}");
        let mut short = vec![0f32; 11];
        let m = err_of(
            embedding_bag(&table, Indices::U32(&idx), o, None, Pooling::Sum, &mut short, &opts),
            is_shape,
        );
        assert!(m.contains("output") && m.contains("expected length 12, got 11"), "{m}");
        let w = [1.0f32; 5];
        let m = err_of(
            embedding_bag(&table, Indices::U32(&idx), o, Some(&w), Pooling::Sum, &mut out, &opts),
            is_shape,
        );
        assert!(m.contains("weights") && m.contains("expected length 6, got 5"), "{m}");
        assert!(embedding_bag_reference(&table, Indices::U32(&oob), o, None, Pooling::Sum).is_err());
    }
}

#[test]
fn tables_reject_bad_values_and_shapes() {
    let e = EmbeddingTable::from_f32(2, 2, DType::F32, &[0.0, 1.0, f32::NAN, 0.0]).unwrap_err();
    assert!(matches!(e, KernelError::NonFinite { pos: 2, .. }), "{e:?}");
    let e = EmbeddingTable::from_f32(1, 2, DType::F16, &[0.0, 1e6]).unwrap_err();
    assert!(matches!(e, KernelError::NonFinite { pos: 1, .. }), "{e:?}");
    let e = EmbeddingTable::from_f32(2, 2, DType::F32, &[0.0; 3]).unwrap_err();
    assert!(matches!(e, KernelError::ShapeMismatch { .. }), "{e:?}");
    assert!(EmbeddingTable::random(0, 4, DType::F32, 0).is_err());
    assert!(EmbeddingTable::random(4, 0, DType::F32, 0).is_err());
    // A constant row quantises exactly.
    let t = EmbeddingTable::from_f32(1, 3, DType::Int8, &[0.25; 3]).unwrap();
    assert_eq!(t.row_f32(0), vec![0.25; 3]);
}

#[test]
fn table_layout_and_init() {
    for (dtype, dim, row_bytes) in [
        (DType::F32, 32, 128),
        (DType::F16, 64, 128),
        (DType::Int8, 32, 64),
        (DType::Int8, 64, 72),
        (DType::Int8, 1, 16),
    ] {
        let t = EmbeddingTable::random(1000, dim, dtype, 9).unwrap();
        assert_eq!(t.row_bytes(), row_bytes, "{dtype} dim {dim}");
        assert_eq!(t.bytes(), 1000 * row_bytes);
        let bound = (1.0f32 / 1000.0).sqrt() * 1.01;
        for r in [0, 1, 999] {
            assert!(t.row_f32(r).iter().all(|v| v.abs() <= bound), "{dtype} row {r}");
        }
        let again = EmbeddingTable::random(1000, dim, dtype, 9).unwrap();
        assert_eq!(t.row_f32(500), again.row_f32(500));
    }
    for d in DType::ALL {
        assert_eq!(d.to_string().parse::<DType>().unwrap(), d);
    }
    assert!("bf16".parse::<DType>().is_err());
}

#[test]
fn random_bags_are_unique_within_a_bag() {
    let (idx, offsets) = random_bags(1000, 20, 80, 5);
    assert_eq!(offsets.len(), 21);
    assert_eq!(idx.len(), 1600);
    for b in 0..20 {
        let mut bag = idx[offsets[b]..offsets[b + 1]].to_vec();
        bag.sort_unstable();
        bag.dedup();
        assert_eq!(bag.len(), 80);
        assert!(bag.iter().all(|&i| i < 1000));
    }
    // More lookups than rows: every row once.
    let (idx, offsets) = random_bags_u64(10, 2, 80, 5);
    assert_eq!(offsets, vec![0, 10, 20]);
    assert!(idx.iter().all(|&i| i < 10));
}

#[test]
fn default_options_prefetch_only_for_tables_beyond_cache() {
    let small = EmbeddingTable::random(1000, 16, DType::F32, 1).unwrap();
    assert_eq!(EmbeddingOpts::for_table(&small).prefetch_distance, 0);
    let big = EmbeddingTable::random((PREFETCH_MIN_TABLE_BYTES >> 6) + 1, 16, DType::F32, 1).unwrap();
    assert_eq!(EmbeddingOpts::for_table(&big).prefetch_distance, DEFAULT_PREFETCH_DISTANCE);
    assert_eq!(EmbeddingOpts::default().prefetch_hint, PrefetchHint::T1);
}
