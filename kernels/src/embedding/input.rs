//! The inputs of a bag lookup (indices, bag boundaries, weights), their validation, and random
//! batches for benchmarks and tests.

use crate::error::{KernelError, Result};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::borrow::Cow;
use std::collections::HashSet;

/// Row indices of all bags, concatenated.
#[derive(Debug, Clone, Copy)]
pub enum Indices<'a> {
    /// 32-bit indices (tables of up to 2^32 rows; half the index traffic).
    U32(&'a [u32]),
    /// 64-bit indices.
    U64(&'a [u64]),
}

impl Indices<'_> {
    /// Number of indices.
    pub fn len(&self) -> usize {
        match self {
            Indices::U32(v) => v.len(),
            Indices::U64(v) => v.len(),
        }
    }

    /// Whether there are no indices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index at position `i` (caller keeps `i < len()`).
    pub(super) fn get(&self, i: usize) -> u64 {
        match self {
            Indices::U32(v) => v[i] as u64,
            Indices::U64(v) => v[i],
        }
    }
}

/// Where each bag's indices are.
#[derive(Debug, Clone, Copy)]
pub enum Bags<'a> {
    /// B + 1 offsets: bag `b` is `indices[o[b]..o[b+1]]`; the first is 0, the last the index count.
    Offsets(&'a [usize]),
    /// B lengths: bags are consecutive runs of these lengths, summing to the index count.
    Lengths(&'a [u32]),
}

impl Bags<'_> {
    /// Number of bags B.
    pub fn count(&self) -> usize {
        match self {
            Bags::Offsets(o) => o.len().saturating_sub(1),
            Bags::Lengths(l) => l.len(),
        }
    }
}

/// An index type the kernels are generic over.
pub(super) trait IndexInt: Copy + Send + Sync + 'static {
    /// The index widened to u64.
    fn to_u64(self) -> u64;
}

impl IndexInt for u32 {
    #[inline(always)]
    fn to_u64(self) -> u64 {
        self as u64
    }
}

impl IndexInt for u64 {
    #[inline(always)]
    fn to_u64(self) -> u64 {
        self
    }
}

/// Checks the bag boundaries against `n` indices and returns them as B + 1 offsets (borrowed when
/// given as offsets, built when given as lengths).
pub(super) fn checked_offsets<'a>(bags: Bags<'a>, n: usize) -> Result<Cow<'a, [usize]>> {
    match bags {
        Bags::Offsets(o) => {
            let Some(&first) = o.first() else {
                return Err(KernelError::BadOffsets {
                    bag: 0,
                    why: "no offsets; B bags need B + 1 offsets (a lone 0 for B = 0)".into(),
                });
            };
            if first != 0 {
                return Err(KernelError::BadOffsets {
                    bag: 0,
                    why: format!("the first offset is {first}, not 0"),
                });
            }
            for (b, w) in o.windows(2).enumerate() {
                if w[1] < w[0] {
                    return Err(KernelError::BadOffsets {
                        bag: b,
                        why: format!("offset {} decreases to {} at entry {}", w[0], w[1], b + 1),
                    });
                }
                if w[1] > n {
                    return Err(KernelError::BadOffsets {
                        bag: b,
                        why: format!("ends at offset {} past the {n} indices", w[1]),
                    });
                }
            }
            let last = o[o.len() - 1];
            if last != n {
                return Err(KernelError::BadOffsets {
                    bag: o.len() - 1,
                    why: format!("the last offset is {last} but there are {n} indices"),
                });
            }
            Ok(Cow::Borrowed(o))
        }
        Bags::Lengths(l) => {
            let mut offsets = Vec::with_capacity(l.len() + 1);
            let mut end = 0usize;
            offsets.push(0);
            for (b, &len) in l.iter().enumerate() {
                end += len as usize;
                if end > n {
                    return Err(KernelError::BadOffsets {
                        bag: b,
                        why: format!("lengths run to {end}, past the {n} indices"),
                    });
                }
                offsets.push(end);
            }
            if end != n {
                return Err(KernelError::BadOffsets {
                    bag: l.len(),
                    why: format!("lengths sum to {end} but there are {n} indices"),
                });
            }
            Ok(Cow::Owned(offsets))
        }
    }
}

/// The bag holding index position `pos` (the last bag whose start is ≤ pos that is not empty).
pub(super) fn bag_of(offsets: &[usize], pos: usize) -> usize {
    offsets.partition_point(|&o| o <= pos).saturating_sub(1)
}

/// A batch of `batch` bags of `lookups` indices each, uniform over `rows` and unique within a bag,
/// as u32 indices and B + 1 offsets. Rows beyond 2^32 are not drawn (use [`random_bags_u64`]);
/// when `lookups` exceeds the rows that can be drawn, each bag holds every row once.
pub fn random_bags(rows: usize, batch: usize, lookups: usize, seed: u64) -> (Vec<u32>, Vec<usize>) {
    let rows = rows.min(1usize << 32);
    let (idx, offsets) = random_bags_u64(rows, batch, lookups, seed);
    // rows ≤ 2^32, so every index fits in u32.
    (idx.into_iter().map(|i| i as u32).collect(), offsets)
}

/// As [`random_bags`], with u64 indices (any row count).
pub fn random_bags_u64(rows: usize, batch: usize, lookups: usize, seed: u64) -> (Vec<u64>, Vec<usize>) {
    let per_bag = lookups.min(rows);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut indices = Vec::with_capacity(batch * per_bag);
    let mut offsets = Vec::with_capacity(batch + 1);
    offsets.push(0);
    let mut seen = HashSet::with_capacity(per_bag * 2);
    for _ in 0..batch {
        seen.clear();
        if per_bag * 2 > rows {
            // Dense bag: a partial shuffle of all rows avoids endless rejection.
            let mut all: Vec<u64> = (0..rows as u64).collect();
            for k in 0..per_bag {
                let j = rng.gen_range(k..rows);
                all.swap(k, j);
            }
            indices.extend_from_slice(&all[..per_bag]);
        } else {
            while seen.len() < per_bag {
                let r = rng.gen_range(0..rows as u64);
                if seen.insert(r) {
                    indices.push(r);
                }
            }
        }
        offsets.push(indices.len());
    }
    (indices, offsets)
}
