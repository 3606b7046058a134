//! Host-side preparation of a table-batched lookup, with no CUDA involved: checking every table's
//! bags and indices, concatenating them into the single index array and table-major offsets the
//! kernel reads, and the launch geometry.

use crate::error::{GpuError, Result};
use hercules_kernels::embedding::{Bags, DType, Indices};

/// Shape of one table, as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableShape {
    /// Rows.
    pub rows: u64,
    /// Values per row.
    pub dim: usize,
    /// Storage type of the rows.
    pub dtype: DType,
}

/// One table's part of a batch: its indices, its bags, and optional per-index weights.
#[derive(Debug, Clone, Copy)]
pub struct TableBags<'a> {
    /// Row indices of all bags of this table.
    pub indices: Indices<'a>,
    /// Bag boundaries over `indices` (B + 1 offsets or B lengths).
    pub bags: Bags<'a>,
    /// One weight per index (weighted sum), or none.
    pub weights: Option<&'a [f32]>,
}

/// Indices concatenated over tables, 32-bit when every table allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexVec {
    /// Every table has at most 2^32 rows.
    U32(Vec<u32>),
    /// Some table is larger.
    U64(Vec<u64>),
}

impl IndexVec {
    /// Number of indices.
    pub fn len(&self) -> usize {
        match self {
            IndexVec::U32(v) => v.len(),
            IndexVec::U64(v) => v.len(),
        }
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A checked batch in the kernel's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct BagPlan {
    /// Bags per table (B).
    pub batch: usize,
    /// Tables (T).
    pub tables: usize,
    /// All indices, table after table.
    pub indices: IndexVec,
    /// T·B + 1 offsets into `indices`; bag (t, b) is `offsets[t·B + b]..offsets[t·B + b + 1]`.
    pub offsets: Vec<u32>,
    /// One weight per index when any table has weights (1.0 for tables without).
    pub weights: Option<Vec<f32>>,
    /// Where each table's indices start in `indices`.
    pub table_starts: Vec<usize>,
}

impl BagPlan {
    /// The (table, bag, position within the table) of global index position `pos`.
    pub fn locate(&self, pos: usize) -> Option<(usize, usize, usize)> {
        if pos >= self.indices.len() {
            return None;
        }
        let t = self.table_starts.partition_point(|&s| s <= pos).saturating_sub(1);
        let bag0 = t * self.batch;
        let bags = &self.offsets[bag0..bag0 + self.batch + 1];
        let b = bags.partition_point(|&o| o as usize <= pos).saturating_sub(1);
        Some((t, b.min(self.batch.saturating_sub(1)), pos - self.table_starts[t]))
    }
}

/// Sizes of a batch in the kernel's layout, from the inputs' lengths alone (nothing checked yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSizes {
    /// Bags per table (B), from table 0.
    pub batch: usize,
    /// Indices over all tables.
    pub indices: usize,
    /// Whether indices are 64-bit (some table has more than 2^32 rows).
    pub wide: bool,
}

/// The sizes [`plan_into`] needs its destinations to have.
pub fn plan_sizes(shapes: &[TableShape], inputs: &[TableBags<'_>]) -> PlanSizes {
    PlanSizes {
        batch: inputs.first().map_or(0, |i| i.bags.count()),
        indices: inputs.iter().map(|i| i.indices.len()).sum(),
        wide: shapes.iter().any(|s| s.rows > 1 << 32),
    }
}

/// [`plan_bags`]' offsets and indices, checked the same way (the same errors), written straight into
/// `offsets` (T·B + 1 native-endian u32) and `indices` (native-endian u32, or u64 when `sizes.wide`):
/// the GPU runner packs its pinned staging buffer with it, without building the vectors first.
/// Per-index weights are not taken (the runner sends none).
pub fn plan_into(
    shapes: &[TableShape],
    inputs: &[TableBags<'_>],
    sizes: PlanSizes,
    offsets: &mut [u8],
    indices: &mut [u8],
) -> Result<()> {
    if shapes.len() != inputs.len() {
        return Err(GpuError::Invalid(format!("{} tables but inputs for {}", shapes.len(), inputs.len())));
    }
    let (batch, wide) = (sizes.batch, sizes.wide);
    if sizes.indices > u32::MAX as usize {
        return Err(GpuError::Invalid(format!("{} indices in one batch; at most 2^32 - 1", sizes.indices)));
    }
    let ib = if wide { 8 } else { 4 };
    if offsets.len() < 4 * (shapes.len() * batch + 1) || indices.len() < ib * sizes.indices {
        return Err(GpuError::Invalid("plan_into: destination smaller than plan_sizes asks".into()));
    }
    if inputs.iter().any(|i| i.weights.is_some()) {
        return Err(GpuError::Invalid("plan_into takes no per-index weights".into()));
    }
    let mut base = 0usize;
    let mut offs_out = offsets.chunks_exact_mut(4);
    for (t, (shape, inp)) in shapes.iter().zip(inputs).enumerate() {
        let n = inp.indices.len();
        let offs = table_offsets(t, inp, batch)?;
        // One pass for the largest index (it vectorises); the first bad position only on failure.
        let bad = match inp.indices {
            Indices::U32(v) => v
                .iter()
                .copied()
                .max()
                .is_some_and(|m| u64::from(m) >= shape.rows)
                .then(|| v.iter().position(|&i| u64::from(i) >= shape.rows).map(|p| (p, u64::from(v[p])))),
            Indices::U64(v) => v
                .iter()
                .copied()
                .max()
                .is_some_and(|m| m >= shape.rows)
                .then(|| v.iter().position(|&i| i >= shape.rows).map(|p| (p, v[p]))),
        };
        if let Some(Some((pos, index))) = bad {
            let bag = offs.partition_point(|&o| o <= pos).saturating_sub(1).min(batch.saturating_sub(1));
            return Err(GpuError::IndexOutOfRange { table: t, bag, pos, index, rows: shape.rows });
        }
        let dst = &mut indices[ib * base..ib * (base + n)];
        match (inp.indices, wide) {
            (Indices::U32(v), false) => dst.copy_from_slice(bytes_of(v)),
            (Indices::U64(v), true) => dst.copy_from_slice(bytes_of(v)),
            (Indices::U32(v), true) => {
                for (d, &i) in dst.chunks_exact_mut(8).zip(v) {
                    d.copy_from_slice(&u64::from(i).to_ne_bytes());
                }
            }
            // Every index was checked below rows ≤ 2^32.
            (Indices::U64(v), false) => {
                for (d, &i) in dst.chunks_exact_mut(4).zip(v) {
                    d.copy_from_slice(&(i as u32).to_ne_bytes());
                }
            }
        }
        // The bag's offsets drive the zip, so no destination slot is taken past the last of them.
        for (&o, d) in offs[..batch].iter().zip(&mut offs_out) {
            d.copy_from_slice(&((base + o) as u32).to_ne_bytes());
        }
        base += n;
    }
    if let Some(d) = offs_out.next() {
        d.copy_from_slice(&(base as u32).to_ne_bytes());
    }
    Ok(())
}

/// The bytes of a plan's indices, as the kernel reads them.
pub fn bytes_of_indices(v: &IndexVec) -> &[u8] {
    match v {
        IndexVec::U32(v) => bytes_of(v),
        IndexVec::U64(v) => bytes_of(v),
    }
}

/// Bytes of `v` (f32, u32 and u64 have no padding and every byte pattern is readable).
pub(crate) fn bytes_of<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is a plain number type here (f32/u32/u64): no padding, no invalid bytes; the length is
    // the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Table `t`'s B + 1 bag offsets, checked: `batch` bags (table 0's count) over its indices.
fn table_offsets(t: usize, inp: &TableBags<'_>, batch: usize) -> Result<Vec<usize>> {
    if inp.bags.count() != batch {
        return Err(GpuError::BadBags {
            table: t,
            why: format!("{} bags where table 0 has {batch}", inp.bags.count()),
        });
    }
    bag_offsets(t, inp.bags, inp.indices.len())
}

/// A model input's tables as the planner reads them (offsets bags, no weights).
pub fn input_bags(input: &hercules_models::inputs::InputSet) -> Vec<TableBags<'_>> {
    use hercules_models::inputs::IndexBuf;
    input
        .tables
        .iter()
        .map(|t| TableBags {
            indices: match &t.indices {
                IndexBuf::U32(v) => Indices::U32(v),
                IndexBuf::U64(v) => Indices::U64(v),
            },
            bags: Bags::Offsets(&t.offsets),
            weights: None,
        })
        .collect()
}

/// B + 1 offsets of one table's bags, checked against `n` indices.
pub fn bag_offsets(table: usize, bags: Bags<'_>, n: usize) -> Result<Vec<usize>> {
    let bad = |why: String| GpuError::BadBags { table, why };
    match bags {
        Bags::Offsets(o) => {
            let Some(&first) = o.first() else {
                return Err(bad("no offsets; B bags need B + 1 offsets".into()));
            };
            if first != 0 {
                return Err(bad(format!("the first offset is {first}, not 0")));
            }
            for (b, w) in o.windows(2).enumerate() {
                if w[1] < w[0] {
                    return Err(bad(format!("offset {} decreases to {} at bag {b}", w[0], w[1])));
                }
            }
            let last = o[o.len() - 1];
            if last != n {
                return Err(bad(format!("the last offset is {last} but there are {n} indices")));
            }
            Ok(o.to_vec())
        }
        Bags::Lengths(l) => {
            let mut out = Vec::with_capacity(l.len() + 1);
            let mut end = 0usize;
            out.push(0);
            for &len in l {
                end += len as usize;
                out.push(end);
            }
            if end != n {
                return Err(bad(format!("lengths sum to {end} but there are {n} indices")));
            }
            Ok(out)
        }
    }
}

/// Checks every table's input against its shape and builds the kernel's layout. Errors name the
/// table, and for an out-of-range index also the bag and the position within the table.
pub fn plan_bags(shapes: &[TableShape], inputs: &[TableBags<'_>]) -> Result<BagPlan> {
    if shapes.len() != inputs.len() {
        return Err(GpuError::Invalid(format!("{} tables but inputs for {}", shapes.len(), inputs.len())));
    }
    let tables = shapes.len();
    let batch = inputs.first().map_or(0, |i| i.bags.count());
    let total: usize = inputs.iter().map(|i| i.indices.len()).sum();
    if total > u32::MAX as usize {
        return Err(GpuError::Invalid(format!("{total} indices in one batch; at most 2^32 - 1")));
    }
    let wide = shapes.iter().any(|s| s.rows > 1 << 32);
    let mut idx32 = Vec::new();
    let mut idx64 = Vec::new();
    if wide {
        idx64.reserve(total);
    } else {
        idx32.reserve(total);
    }
    let any_weights = inputs.iter().any(|i| i.weights.is_some());
    let mut weights = any_weights.then(|| Vec::with_capacity(total));
    let mut offsets = Vec::with_capacity(tables * batch + 1);
    let mut table_starts = Vec::with_capacity(tables);
    let mut base = 0usize;
    for (t, (shape, inp)) in shapes.iter().zip(inputs).enumerate() {
        let n = inp.indices.len();
        let offs = table_offsets(t, inp, batch)?;
        if let Some(w) = inp.weights {
            if w.len() != n {
                return Err(GpuError::Invalid(format!("table {t}: {} weights for {n} indices", w.len())));
            }
        }
        let check = |pos: usize, index: u64| -> Result<()> {
            if index >= shape.rows {
                let bag = offs.partition_point(|&o| o <= pos).saturating_sub(1).min(batch.saturating_sub(1));
                return Err(GpuError::IndexOutOfRange { table: t, bag, pos, index, rows: shape.rows });
            }
            Ok(())
        };
        match inp.indices {
            Indices::U32(v) => {
                for (p, &i) in v.iter().enumerate() {
                    check(p, u64::from(i))?;
                }
                if wide {
                    idx64.extend(v.iter().map(|&i| u64::from(i)));
                } else {
                    idx32.extend_from_slice(v);
                }
            }
            Indices::U64(v) => {
                for (p, &i) in v.iter().enumerate() {
                    check(p, i)?;
                }
                if wide {
                    idx64.extend_from_slice(v);
                } else {
                    // Every index was checked below rows ≤ 2^32.
                    idx32.extend(v.iter().map(|&i| i as u32));
                }
            }
        }
        if let Some(w) = weights.as_mut() {
            match inp.weights {
                Some(x) => w.extend_from_slice(x),
                None => w.extend(std::iter::repeat_n(1.0f32, n)),
            }
        }
        table_starts.push(base);
        offsets.extend(offs[..batch].iter().map(|&o| (base + o) as u32));
        base += n;
    }
    offsets.push(base as u32);
    let indices = if wide { IndexVec::U64(idx64) } else { IndexVec::U32(idx32) };
    Ok(BagPlan { batch, tables, indices, offsets, weights, table_starts })
}

/// Bytes between rows on the device: the packed row rounded up to 16 bytes, so every row starts
/// 16-byte aligned and holds its values padded to a multiple of 4 (the kernel's vector loads).
pub fn device_row_stride(dtype: DType, dim: usize) -> usize {
    dtype.packed_row_bytes(dim).next_multiple_of(16)
}

/// Chunks of 4 values (one 16-, 8- or 4-byte load each) a row is read in: dim padded to a multiple of 4.
pub fn row_chunks(dim: usize) -> usize {
    dim.div_ceil(4)
}

pub use crate::device::BLOCK_THREADS;

/// Launch geometry of one table-batched lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launch {
    /// Lanes (threads) pooling one bag: a power of two, 1..=32, so bags never straddle a warp.
    pub lanes: u32,
    /// Register chunks per lane per pass (1 or 4; the kernel variant).
    pub chunks_per_lane: u32,
    /// Blocks of [`BLOCK_THREADS`].
    pub blocks: u32,
}

/// The geometry for `bags` bags over tables whose widest row has `max_chunks` chunks: enough lanes
/// to cover a row in one pass where possible (up to a warp), 4 chunks per lane for wider rows.
pub fn launch_for(bags: usize, max_chunks: usize) -> Result<Launch> {
    let lanes = max_chunks.max(1).next_power_of_two().min(32) as u32;
    let chunks_per_lane = if max_chunks as u32 > lanes { 4 } else { 1 };
    let threads = bags as u64 * u64::from(lanes);
    let blocks = threads.div_ceil(u64::from(BLOCK_THREADS));
    if blocks > i32::MAX as u64 {
        return Err(GpuError::Invalid(format!("{bags} bags need {blocks} blocks, beyond the grid limit")));
    }
    Ok(Launch { lanes, chunks_per_lane, blocks: blocks as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `plan_into` writes exactly the bytes of `plan_bags`' vectors, and fails alike.
    #[test]
    fn plan_into_matches_plan_bags() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        for case in 0..200 {
            let tables = rng.gen_range(1..5);
            let batch = rng.gen_range(0..20);
            let wide_table = case % 7 == 0;
            let shapes: Vec<TableShape> = (0..tables)
                .map(|t| TableShape {
                    rows: if wide_table && t == 0 { (1 << 32) + 5 } else { rng.gen_range(1..500) },
                    dim: 4,
                    dtype: DType::F32,
                })
                .collect();
            let mut idx32 = Vec::new();
            let mut idx64 = Vec::new();
            let mut offs = Vec::new();
            for s in &shapes {
                let lens: Vec<usize> = (0..batch).map(|_| rng.gen_range(0..6)).collect();
                let n: usize = lens.iter().sum();
                let bad = case % 5 == 1 && n > 0;
                let mut v: Vec<u64> = (0..n).map(|_| rng.gen_range(0..s.rows.min(1 << 40))).collect();
                if bad {
                    let p = rng.gen_range(0..n);
                    v[p] = s.rows + 1;
                }
                idx64.push(v.clone());
                idx32.push(v.iter().map(|&i| i as u32).collect::<Vec<u32>>());
                let mut o = vec![0usize];
                for l in lens {
                    o.push(o.last().unwrap() + l);
                }
                offs.push(o);
            }
            let use64 = case % 3 == 0 || wide_table;
            let bags: Vec<TableBags<'_>> = (0..tables)
                .map(|t| TableBags {
                    indices: if use64 { Indices::U64(&idx64[t]) } else { Indices::U32(&idx32[t]) },
                    bags: Bags::Offsets(&offs[t]),
                    weights: None,
                })
                .collect();
            let sizes = plan_sizes(&shapes, &bags);
            let ib = if sizes.wide { 8 } else { 4 };
            let mut o = vec![0u8; 4 * (tables * batch + 1)];
            let mut i = vec![0u8; ib * sizes.indices];
            let got = plan_into(&shapes, &bags, sizes, &mut o, &mut i);
            match plan_bags(&shapes, &bags) {
                Ok(p) => {
                    got.unwrap_or_else(|e| panic!("case {case}: {e}"));
                    assert_eq!(o, bytes_of(&p.offsets), "case {case}: offsets");
                    let want = match &p.indices {
                        IndexVec::U32(v) => bytes_of(v).to_vec(),
                        IndexVec::U64(v) => bytes_of(v).to_vec(),
                    };
                    assert_eq!(i, want, "case {case}: indices");
                }
                Err(e) => assert_eq!(got.unwrap_err().to_string(), e.to_string(), "case {case}"),
            }
        }
    }

    fn shape(rows: u64, dim: usize) -> TableShape {
        TableShape { rows, dim, dtype: DType::F32 }
    }

    #[test]
    fn concatenates_tables_with_table_major_offsets() {
        let a = [1u32, 2, 3];
        let b = [4u32, 0];
        let plan = plan_bags(
            &[shape(10, 4), shape(5, 8)],
            &[
                TableBags { indices: Indices::U32(&a), bags: Bags::Offsets(&[0, 2, 3]), weights: None },
                TableBags { indices: Indices::U32(&b), bags: Bags::Lengths(&[0, 2]), weights: None },
            ],
        )
        .unwrap();
        assert_eq!(plan.batch, 2);
        assert_eq!(plan.indices, IndexVec::U32(vec![1, 2, 3, 4, 0]));
        assert_eq!(plan.offsets, vec![0, 2, 3, 3, 5]);
        assert_eq!(plan.table_starts, vec![0, 3]);
        assert!(plan.weights.is_none());
        assert_eq!(plan.locate(4), Some((1, 1, 1)));
        assert_eq!(plan.locate(2), Some((0, 1, 2)));
        assert_eq!(plan.locate(5), None);
    }

    #[test]
    fn weights_default_to_one_for_tables_without() {
        let a = [0u32, 1];
        let w = [0.5f32, 2.0];
        let plan = plan_bags(
            &[shape(2, 4), shape(2, 4)],
            &[
                TableBags { indices: Indices::U32(&a), bags: Bags::Lengths(&[2]), weights: None },
                TableBags { indices: Indices::U32(&a), bags: Bags::Lengths(&[2]), weights: Some(&w) },
            ],
        )
        .unwrap();
        assert_eq!(plan.weights, Some(vec![1.0, 1.0, 0.5, 2.0]));
    }

    #[test]
    fn out_of_range_index_names_table_bag_and_position() {
        let a = [0u32, 1];
        let b = [0u64, 3, 9, 1];
        let err = plan_bags(
            &[shape(2, 4), shape(9, 4)],
            &[
                TableBags { indices: Indices::U32(&a), bags: Bags::Lengths(&[1, 1]), weights: None },
                TableBags { indices: Indices::U64(&b), bags: Bags::Offsets(&[0, 2, 4]), weights: None },
            ],
        )
        .unwrap_err();
        match err {
            GpuError::IndexOutOfRange { table, bag, pos, index, rows } => {
                assert_eq!((table, bag, pos, index, rows), (1, 1, 2, 9, 9));
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = plan_bags(
            &[shape(2, 4)],
            &[TableBags { indices: Indices::U32(&[5]), bags: Bags::Lengths(&[0, 1]), weights: None }],
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("table 0") && msg.contains("bag 1") && msg.contains("position 0"), "{msg}");
    }

    #[test]
    fn bad_bags_are_rejected() {
        let a = [0u32, 1, 1];
        let one =
            |bags| plan_bags(&[shape(2, 4)], &[TableBags { indices: Indices::U32(&a), bags, weights: None }]);
        assert!(matches!(one(Bags::Offsets(&[])), Err(GpuError::BadBags { .. })));
        assert!(matches!(one(Bags::Offsets(&[1, 3])), Err(GpuError::BadBags { .. })));
        assert!(matches!(one(Bags::Offsets(&[0, 2, 1, 3])), Err(GpuError::BadBags { .. })));
        assert!(matches!(one(Bags::Offsets(&[0, 2])), Err(GpuError::BadBags { .. })));
        assert!(matches!(one(Bags::Lengths(&[1, 1])), Err(GpuError::BadBags { .. })));
        assert!(one(Bags::Lengths(&[0, 3, 0])).is_ok());
        // Tables must agree on B.
        let two = plan_bags(
            &[shape(2, 4), shape(2, 4)],
            &[
                TableBags { indices: Indices::U32(&a), bags: Bags::Lengths(&[3]), weights: None },
                TableBags { indices: Indices::U32(&a), bags: Bags::Lengths(&[1, 2]), weights: None },
            ],
        );
        assert!(matches!(two, Err(GpuError::BadBags { table: 1, .. })));
        // Weight count must match.
        let w = plan_bags(
            &[shape(2, 4)],
            &[TableBags { indices: Indices::U32(&a), bags: Bags::Lengths(&[3]), weights: Some(&[1.0]) }],
        );
        assert!(matches!(w, Err(GpuError::Invalid(_))));
    }

    #[test]
    fn wide_tables_switch_to_u64_indices() {
        let a = [7u32];
        let plan = plan_bags(
            &[shape(1 << 33, 4)],
            &[TableBags { indices: Indices::U32(&a), bags: Bags::Lengths(&[1]), weights: None }],
        )
        .unwrap();
        assert_eq!(plan.indices, IndexVec::U64(vec![7]));
    }

    #[test]
    fn empty_batch_plans() {
        let plan = plan_bags(
            &[shape(2, 4)],
            &[TableBags { indices: Indices::U32(&[]), bags: Bags::Offsets(&[0]), weights: None }],
        )
        .unwrap();
        assert_eq!((plan.batch, plan.offsets.clone()), (0, vec![0]));
    }

    #[test]
    fn strides_and_chunks() {
        assert_eq!(device_row_stride(DType::F32, 128), 512);
        assert_eq!(device_row_stride(DType::F16, 6), 16);
        assert_eq!(device_row_stride(DType::Int8, 32), 48);
        assert_eq!(device_row_stride(DType::Int8, 3), 16);
        assert_eq!(row_chunks(128), 32);
        assert_eq!(row_chunks(6), 2);
        // Every padded row fits its stride: the last chunk's load never reaches the next row.
        for dtype in [DType::F32, DType::F16, DType::Int8] {
            for dim in 1..300 {
                let value_bytes = match dtype {
                    DType::F32 => 4,
                    DType::F16 => 2,
                    DType::Int8 => 1,
                };
                let bytes = row_chunks(dim) * 4 * value_bytes;
                assert!(bytes <= device_row_stride(dtype, dim), "{dtype} D={dim}");
            }
        }
    }

    #[test]
    fn launch_geometry() {
        // D = 128 fp32: a warp per bag, one float4 per lane.
        assert_eq!(launch_for(1000, 32).unwrap(), Launch { lanes: 32, chunks_per_lane: 1, blocks: 125 });
        // D = 32: 8 lanes per bag, 4 bags per warp.
        assert_eq!(launch_for(1000, 8).unwrap(), Launch { lanes: 8, chunks_per_lane: 1, blocks: 32 });
        // D = 6: 2 chunks (the second padded), 2 lanes.
        assert_eq!(launch_for(3, row_chunks(6)).unwrap().lanes, 2);
        // D = 512: 128 chunks, 4 per lane per pass.
        assert_eq!(launch_for(10, 128).unwrap(), Launch { lanes: 32, chunks_per_lane: 4, blocks: 2 });
        assert_eq!(launch_for(0, 32).unwrap().blocks, 0);
    }
}
