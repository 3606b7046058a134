//! The memory loops compute what they claim at every ISA; the ceilings run; row-touch loads.

use super::*;

#[test]
fn kernels_compute_what_they_claim_at_every_isa() {
    for isa in Isa::available() {
        let b: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let c = vec![2.0f32; 1000];
        let mut a = vec![0.0f32; 1000];
        copy_kernel(isa, &mut a, &b);
        assert_eq!(a, b);
        triad_kernel(isa, &mut a, &b, &c, 0.5);
        assert!(a.iter().zip(&b).all(|(x, y)| *x == y + 1.0));
        assert_eq!(read_kernel(isa, &b), 499_500.0);
        // 10 rows; row r holds r·GATHER_ROW + c at column c.
        let table: Vec<f32> = (0..10 * GATHER_ROW).map(|i| i as f32).collect();
        for (hint, dist) in [(0, 0), (1, 2), (2, 5), (3, 2)] {
            let mut acc = [0.0f32; GATHER_ROW];
            gather_kernel(isa, &table, &[1, 9, 1], dist, hint, &mut acc);
            let want: Vec<f32> = (0..GATHER_ROW).map(|c| (11 * GATHER_ROW + 3 * c) as f32).collect();
            assert_eq!(acc.to_vec(), want, "{isa} hint {hint} dist {dist}");
        }
        assert!(fma_loop(isa, 10).is_finite());
    }
}

#[test]
fn small_ceilings_are_positive() {
    // Positive and finite, not a speed: a loaded host may run these at any rate.
    let ok = |x: f64| x > 0.0 && x.is_finite();
    let pool = PinnedPool::with_threads(1).unwrap();
    let (gf, _) = fma_peak(&pool, 10_000);
    assert!(ok(gf), "{gf}");
    let mut s = StreamArrays::new(1 << 20).unwrap();
    assert!(ok(stream_copy(&pool, &mut s)));
    assert!(ok(stream_triad(&pool, &mut s)));
    assert!(ok(seq_read(&pool, &s)));
    let g = GatherTable::new(1 << 20, 10_000, 1).unwrap();
    assert!(ok(gather(&pool, &g)));
    for hint in
        [TouchHint::None, TouchHint::T0, TouchHint::T1, TouchHint::Nta, TouchHint::T1T0, TouchHint::T1Rev]
    {
        let t = RowTouchTable::new(1 << 20, 72, 10_000, 1).unwrap();
        assert!(ok(row_touch(&pool, &t, 72, 16, hint)));
    }
}

#[test]
fn replayed_indices_are_checked_and_touched() {
    let pool = PinnedPool::with_threads(1).unwrap();
    let t = RowTouchTable::with_indices(100, 256, vec![0, 99, 5, 5]).unwrap();
    assert_eq!((t.rows(), t.bytes(), t.lookups()), (100, 25_600, 4));
    assert!(row_touch(&pool, &t, 256, 2, TouchHint::T1) > 0.0);
    let err = RowTouchTable::with_indices(100, 256, vec![3, 100]).err().unwrap().to_string();
    assert_eq!(err, "invalid shape: row-touch index 100 at position 1: the table has 100 rows");
}

#[test]
fn touch_reads_every_line_of_the_row() {
    // 4 rows of 136 bytes (stride 136, so rows are not line-aligned) in a page-aligned buffer: row 1
    // spans bytes 136..272, lines 2..4. It may span 4 lines at another alignment, so 4 loads, at
    // 136 (line 2), 200 (line 3) and 264 twice (the last 8 bytes, line 4).
    let bytes: Vec<u8> = (0..4 * 136).map(|i| (i % 251) as u8).collect();
    let data = HugeBuf::<u8>::from_slice("touch test", &bytes).unwrap();
    let want: u64 = [136usize, 200, 264, 264]
        .iter()
        .map(|&o| u64::from_le_bytes(data[o..o + 8].try_into().unwrap()))
        .fold(0u64, |a, b| a.wrapping_add(b));
    assert_eq!(touch_lines(136, 136), 4);
    assert_eq!(touch_kernel::<2, 0>(&data, 136, 136, &[1], 4), want);
    assert_eq!(touch_kernel::<2, 4>(&data, 136, 136, &[1], 4), want);
    // Descending: the same loads in the other order.
    assert_eq!(touch_kernel::<5, 4>(&data, 136, 136, &[1], 4), want);
    // Line-aligned rows (stride 128): exactly their lines, 0 and 64 from the row start.
    let want_aligned: u64 = [128usize, 192]
        .iter()
        .map(|&o| u64::from_le_bytes(data[o..o + 8].try_into().unwrap()))
        .fold(0u64, |a, b| a.wrapping_add(b));
    assert_eq!(touch_lines(128, 128), 2);
    assert_eq!(touch_by_lines::<1>(&data, 128, 128, &[1], 4), want_aligned);
}
