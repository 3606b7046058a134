//! Row encodings: fp32 and fp16 bytes, and FBGEMM's row-wise int8 (min/max per row, then
//! `dim` u8 codes, an f32 scale and an f32 bias, value = q·scale + bias).

/// Writes f32 values as little-endian bytes.
pub(super) fn write_f32_row(vals: &[f32], row: &mut [u8]) {
    for (v, out) in vals.iter().zip(row.chunks_exact_mut(4)) {
        out.copy_from_slice(&v.to_le_bytes());
    }
}

/// The fp16 bit pattern of `v`, rounded to nearest even.
pub(super) fn f16_bits(v: f32) -> u16 {
    half::f16::from_f32(v).to_bits()
}

/// Quantises one row to codes + scale + bias. The range is taken in f64 so that a row spanning
/// nearly all of f32 still gets a finite scale; a constant row gets scale 0 and reads back exactly.
/// Error per value: at most scale/2 (plus f32 rounding of the dequantisation).
pub(super) fn quantise_i8_row(vals: &[f32], row: &mut [u8]) {
    let dim = vals.len();
    let (min, max) =
        vals.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = max as f64 - min as f64;
    let scale = (range / 255.0) as f32;
    for (v, q) in vals.iter().zip(row.iter_mut()) {
        *q = if scale > 0.0 {
            ((*v as f64 - min as f64) / scale as f64).round().clamp(0.0, 255.0) as u8
        } else {
            0
        };
    }
    row[dim..dim + 4].copy_from_slice(&scale.to_le_bytes());
    row[dim + 4..dim + 8].copy_from_slice(&min.to_le_bytes());
}

/// The (scale, bias) stored after the `dim` codes of an int8 row.
pub(super) fn dequant_i8(row: &[u8], dim: usize) -> (f32, f32) {
    let f = |o: usize| f32::from_le_bytes([row[o], row[o + 1], row[o + 2], row[o + 3]]);
    (f(dim), f(dim + 4))
}
