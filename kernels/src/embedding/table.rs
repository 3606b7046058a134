//! Embedding tables: rows stored as fp32, fp16 or row-wise int8 (FBGEMM's formats) in one
//! huge-page buffer, with the row stride chosen so small rows never straddle a cache line.

use super::quant::{dequant_i8, f16_bits, quantise_i8_row, write_f32_row};
use super::{DT_F16, DT_F32, DT_I8};
use crate::error::{KernelError, Result};
use crate::mem::{HugeBuf, HugePages};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How the values of a row are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// IEEE single precision, 4 bytes per value.
    #[serde(rename = "fp32")]
    F32,
    /// IEEE half precision, 2 bytes per value.
    #[serde(rename = "fp16")]
    F16,
    /// Row-wise 8-bit: `dim` u8 codes, then an f32 scale and an f32 bias (value = q·scale + bias).
    #[serde(rename = "int8")]
    Int8,
}

impl DType {
    /// All storage types.
    pub const ALL: [DType; 3] = [DType::F32, DType::F16, DType::Int8];

    /// Bytes per stored value (the int8 scale and bias not counted).
    pub fn value_bytes(self) -> usize {
        Self::code_value_bytes(self.code())
    }

    /// The kernel-internal tag the SIMD passes are specialised on.
    pub(super) const fn code(self) -> u8 {
        match self {
            DType::F32 => DT_F32,
            DType::F16 => DT_F16,
            DType::Int8 => DT_I8,
        }
    }

    /// Bytes per stored value of the type tagged `dt`: a compile-time constant where `dt` is one
    /// (a pass's prefetch line count is computed from it).
    pub(super) const fn code_value_bytes(dt: u8) -> usize {
        match dt {
            DT_F32 => 4,
            DT_F16 => 2,
            _ => 1,
        }
    }

    /// Bytes one row of `dim` values needs, before any padding.
    pub fn packed_row_bytes(self, dim: usize) -> usize {
        match self {
            DType::F32 => 4 * dim,
            DType::F16 => 2 * dim,
            DType::Int8 => dim + 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "fp32",
            DType::F16 => "fp16",
            DType::Int8 => "int8",
        })
    }
}

impl FromStr for DType {
    type Err = KernelError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => Ok(DType::F32),
            "fp16" | "f16" | "float16" | "half" => Ok(DType::F16),
            "int8" | "i8" | "u8" => Ok(DType::Int8),
            other => Err(KernelError::UnknownName(format!(
                "unknown embedding dtype {other:?} (expected fp32, fp16 or int8)"
            ))),
        }
    }
}

/// The stored bytes per row for a packed size of `raw` bytes.
///
/// A random gather pays per cache line touched, so a row that fits in one line is padded to a power
/// of two (never straddles a line: int8 dim 32 goes from 40 to 64 bytes, 1 line instead of 1.5 on
/// average). Larger rows are padded to whole lines only when that costs at most 1/8 more memory;
/// otherwise they are packed (4-byte multiple), which for FBGEMM's int8 rows (dim + 8 bytes, dim a
/// multiple of 8) touches the minimal number of lines anyway.
pub(super) fn row_stride(raw: usize) -> usize {
    if raw <= 64 {
        raw.next_power_of_two()
    } else if raw.next_multiple_of(64) - raw <= raw / 8 {
        raw.next_multiple_of(64)
    } else {
        raw.next_multiple_of(4)
    }
}

/// An embedding table of `rows` × `dim` values stored as `dtype`, one row every `row_bytes()` bytes.
pub struct EmbeddingTable {
    rows: usize,
    dim: usize,
    dtype: DType,
    stride: usize,
    data: HugeBuf<u8>,
}

impl fmt::Debug for EmbeddingTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddingTable")
            .field("rows", &self.rows)
            .field("dim", &self.dim)
            .field("dtype", &self.dtype)
            .field("row_bytes", &self.stride)
            .field("huge_pages", &self.data.huge_pages())
            .finish()
    }
}

/// Rows handed to one parallel fill task: big enough to amortise the hand-off, small enough to balance.
const FILL_CHUNK_ROWS: usize = 4096;

impl EmbeddingTable {
    /// A zeroed table of the given shape (all codes zero: every value reads as 0).
    fn zeroed(rows: usize, dim: usize, dtype: DType) -> Result<Self> {
        if rows == 0 || dim == 0 {
            return Err(KernelError::InvalidShape(format!("embedding table of {rows} rows × {dim} dims")));
        }
        let stride = row_stride(dtype.packed_row_bytes(dim));
        let bytes = rows.checked_mul(stride).ok_or_else(|| {
            KernelError::InvalidShape(format!("embedding table of {rows} rows × {stride} bytes overflows"))
        })?;
        let data = HugeBuf::<u8>::zeroed(&format!("embedding table {rows}×{dim} {dtype}"), bytes)?;
        Ok(Self { rows, dim, dtype, stride, data })
    }

    /// A table with fp32 values drawn from U(-sqrt(1/rows), sqrt(1/rows)) (DeepRecSys' initialiser),
    /// then quantised to `dtype`. Deterministic in `seed`; filled in parallel on rayon's global pool,
    /// each row from its own generator so the result does not depend on the thread count.
    pub fn random(rows: usize, dim: usize, dtype: DType, seed: u64) -> Result<Self> {
        let mut t = Self::zeroed(rows, dim, dtype)?;
        let bound = (1.0 / rows as f64).sqrt() as f32;
        let stride = t.stride;
        t.data.par_chunks_mut(stride * FILL_CHUNK_ROWS).enumerate().for_each(|(c, chunk)| {
            let mut vals = vec![0f32; dim];
            for (k, row) in chunk.chunks_exact_mut(stride).enumerate() {
                let r = (c * FILL_CHUNK_ROWS + k) as u64;
                let mut state = seed ^ r.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for v in vals.iter_mut() {
                    // 24 random bits -> [0, 1) -> (-bound, bound).
                    let u = (splitmix64(&mut state) >> 40) as f32 * (1.0 / (1u64 << 24) as f32);
                    *v = (2.0 * u - 1.0) * bound;
                }
                // Values are finite and tiny, so no conversion can fail.
                encode_row(dtype, &vals, row);
            }
        });
        Ok(t)
    }

    /// A table holding `values` (row-major, `rows × dim`) quantised to `dtype`.
    /// Non-finite values, and values beyond fp16's range for an fp16 table, are `NonFinite` errors.
    pub fn from_f32(rows: usize, dim: usize, dtype: DType, values: &[f32]) -> Result<Self> {
        let expected = rows.checked_mul(dim).ok_or_else(|| {
            KernelError::InvalidShape(format!("embedding table of {rows} rows × {dim} dims overflows"))
        })?;
        if values.len() != expected {
            return Err(KernelError::ShapeMismatch {
                what: "embedding table values (rows × dim)",
                expected,
                got: values.len(),
            });
        }
        if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
            return Err(KernelError::NonFinite { what: "embedding table values", pos });
        }
        if dtype == DType::F16 {
            if let Some(pos) = values.iter().position(|v| v.abs() > half::f16::MAX.to_f32()) {
                return Err(KernelError::NonFinite {
                    what: "embedding table values (beyond fp16 range)",
                    pos,
                });
            }
        }
        let mut t = Self::zeroed(rows, dim, dtype)?;
        let stride = t.stride;
        t.data
            .par_chunks_mut(stride)
            .zip(values.par_chunks(dim))
            .with_min_len(FILL_CHUNK_ROWS)
            .for_each(|(row, vals)| encode_row(dtype, vals, row));
        Ok(t)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Storage type of the values.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Stored bytes per row, padding included (the distance between consecutive rows).
    pub fn row_bytes(&self) -> usize {
        self.stride
    }

    /// Bytes of row data a lookup reads (the packed row, without padding).
    pub fn row_data_bytes(&self) -> usize {
        self.dtype.packed_row_bytes(self.dim)
    }

    /// Total stored bytes (rows × row_bytes).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Whether huge pages back the table.
    pub fn huge_pages(&self) -> HugePages {
        self.data.huge_pages()
    }

    /// The stored bytes of row `r` in its `dtype` format (the packed part, without padding).
    ///
    /// # Panics
    /// If `r >= rows()`.
    pub fn stored_row(&self, r: usize) -> &[u8] {
        assert!(r < self.rows, "row {r} out of range for a table of {} rows", self.rows);
        &self.data[r * self.stride..r * self.stride + self.row_data_bytes()]
    }

    /// Row `r` dequantised to f32.
    ///
    /// # Panics
    /// If `r >= rows()`.
    pub fn row_f32(&self, r: usize) -> Vec<f32> {
        self.row_f64(r).into_iter().map(|v| v as f32).collect()
    }

    /// Row `r` dequantised exactly (in f64: for int8, q·scale + bias without rounding).
    pub(super) fn row_f64(&self, r: usize) -> Vec<f64> {
        let row = self.stored_row(r);
        let dim = self.dim;
        match self.dtype {
            DType::F32 => {
                row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect()
            }
            DType::F16 => row
                .chunks_exact(2)
                .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f64())
                .collect(),
            DType::Int8 => {
                let (scale, bias) = dequant_i8(row, dim);
                row[..dim].iter().map(|&q| q as f64 * scale as f64 + bias as f64).collect()
            }
        }
    }

    /// Per value, the magnitude of the terms a kernel adds for it: |v|, or |q·scale| + |bias| for int8
    /// (the kernel sums those two parts separately). Error bounds of the kernels are relative to this.
    #[cfg(test)]
    pub(super) fn row_term_magnitudes(&self, r: usize) -> Vec<f64> {
        match self.dtype {
            DType::Int8 => {
                let row = self.stored_row(r);
                let (scale, bias) = dequant_i8(row, self.dim);
                row[..self.dim]
                    .iter()
                    .map(|&q| (q as f64 * scale as f64).abs() + (bias as f64).abs())
                    .collect()
            }
            _ => self.row_f64(r).into_iter().map(f64::abs).collect(),
        }
    }

    /// The stored bytes, every row at a multiple of `row_bytes()`.
    pub(super) fn data(&self) -> &[u8] {
        &self.data
    }
}

/// Writes `vals` into the stored row `row` in `dtype`'s format (the caller checked finiteness and range).
fn encode_row(dtype: DType, vals: &[f32], row: &mut [u8]) {
    match dtype {
        DType::F32 => write_f32_row(vals, row),
        DType::F16 => {
            for (v, out) in vals.iter().zip(row.chunks_exact_mut(2)) {
                out.copy_from_slice(&f16_bits(*v).to_le_bytes());
            }
        }
        DType::Int8 => quantise_i8_row(vals, row),
    }
}

/// SplitMix64: a fast, well-mixed 64-bit generator; one step per value keeps the fill memory-bound.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
