//! Host-side layout of a model's forward on the device: where every feature goes in the feature matrix
//! x0 and every table in the pooled matrix ([`FeatureLayout`], which also decides whether a model is
//! supported), the order of DLRM's dot-interaction pairs, and the byte layout of one query's inputs in
//! the staging buffer ([`StagingLayout`]). Pure functions of the spec and the sizes, tested without a
//! device; [`crate::model`] uses them.

use crate::error::{GpuError, Result};
use hercules_models::spec::Feature;
use hercules_models::ModelSpec;

/// Checks that the GPU path implements everything `spec` uses. Every zoo model is supported; a spec
/// whose features do not fit the device layout is refused here with one line.
pub fn check_supported(spec: &ModelSpec) -> Result<()> {
    feature_layout(spec).map(|_| ())
}

/// Ordered (i, j) pairs of DLRM's dot interaction: j < i (j ≤ i with self-interaction), by i then j.
pub fn dot_pairs(features: usize, self_interaction: bool) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for i in 0..features {
        for j in 0..i + usize::from(self_interaction) {
            v.push((i as u32, j as u32));
        }
    }
    v
}

/// Where the pooled embeddings go and how x0 = cat(features) is assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureLayout {
    /// Column of each feature of `spec.features()` in x0, in that order.
    pub cols: Vec<usize>,
    /// Width of x0.
    pub x0_width: usize,
    /// Column of every table's pooled vector in the pooled matrix (prefix sums of the dims).
    pub table_cols: Vec<usize>,
    /// Width of the pooled matrix (all table dims).
    pub pooled_width: usize,
    /// True when the embeddings are pooled straight into x0 (no blocks: the dense vector, then every
    /// table in order). Otherwise they go to a pooled matrix and `copies` move the table features.
    pub direct: bool,
    /// (pooled column, x0 column, width) copies of table features, consecutive tables merged.
    pub copies: Vec<(usize, usize, usize)>,
}

/// Computes the [`FeatureLayout`] of a valid spec.
pub fn feature_layout(spec: &ModelSpec) -> Result<FeatureLayout> {
    let feats = spec.features();
    let groups = spec.table_groups();
    let mut table_cols = Vec::with_capacity(groups.len());
    let mut pw = 0;
    for &g in &groups {
        table_cols.push(pw);
        pw += spec.tables[g].dim;
    }
    let mut cols = Vec::with_capacity(feats.len());
    let mut col = 0;
    for &f in &feats {
        cols.push(col);
        col += spec.feature_width(f);
    }
    if col != spec.features_width() {
        return Err(GpuError::Unsupported(format!("model {}: feature widths do not add up", spec.name)));
    }
    if let Some((i, _)) = feats.iter().enumerate().find(|&(i, &f)| f == Feature::Dense && i != 0) {
        return Err(GpuError::Unsupported(format!(
            "model {}: the dense feature at position {i} (the GPU path needs it first)",
            spec.name
        )));
    }
    let dense_cols = if spec.dense_features > 0 { spec.dense_out() } else { 0 };
    let tables_in_order = feats
        .iter()
        .skip(usize::from(spec.dense_features > 0))
        .enumerate()
        .all(|(t, &f)| f == Feature::Table(t));
    let direct = spec.blocks.is_empty() && tables_in_order && col == dense_cols + pw;
    let mut copies: Vec<(usize, usize, usize)> = Vec::new();
    if !direct {
        for (&f, &c) in feats.iter().zip(&cols) {
            if let Feature::Table(t) = f {
                let w = spec.feature_width(f);
                match copies.last_mut() {
                    Some(last) if last.0 + last.2 == table_cols[t] && last.1 + last.2 == c => last.2 += w,
                    _ => copies.push((table_cols[t], c, w)),
                }
            }
        }
    }
    Ok(FeatureLayout { cols, x0_width: col, table_cols, pooled_width: pw, direct, copies })
}

/// Byte layout of one query's inputs in the staging buffer (each part 16-byte aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagingLayout {
    /// The index guard word (u64) at offset 0.
    pub err: usize,
    /// Dense features (f32).
    pub dense: usize,
    /// T·B + 1 offsets (u32).
    pub offsets: usize,
    /// Indices (u32 or u64).
    pub indices: usize,
    /// Total bytes.
    pub total: usize,
}

/// The layout for `dense` floats, `offsets` u32 offsets and `indices` indices of `index_bytes` each.
pub fn staging_layout(dense: usize, offsets: usize, indices: usize, index_bytes: usize) -> StagingLayout {
    let a = |x: usize| x.next_multiple_of(16);
    let dense_at = 16;
    let offsets_at = a(dense_at + 4 * dense);
    let indices_at = a(offsets_at + 4 * offsets);
    StagingLayout {
        err: 0,
        dense: dense_at,
        offsets: offsets_at,
        indices: indices_at,
        total: a(indices_at + index_bytes * indices),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hercules_models::zoo;

    #[test]
    fn supported_models() {
        let names = zoo::names();
        assert_eq!(names.len(), 10, "{names:?}");
        for name in names {
            let spec = zoo::resolve(name).unwrap();
            check_supported(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn feature_layouts() {
        // DLRM-style: tables pooled straight into x0 after the dense vector.
        let l = feature_layout(&zoo::resolve("dlrm-rmc1").unwrap()).unwrap();
        assert!(l.direct);
        assert_eq!((l.x0_width, l.pooled_width, l.cols[1]), (288, 256, 32));
        assert!(l.copies.is_empty());
        let l = feature_layout(&zoo::resolve("mlperf-dlrm-v2").unwrap()).unwrap();
        assert!(l.direct);
        assert_eq!(l.x0_width, 3456);
        // DIN: profile, the attention block, ad, context; ad and context copied as one run.
        let spec = zoo::resolve("din").unwrap();
        let l = feature_layout(&spec).unwrap();
        assert!(!l.direct);
        assert_eq!(l.cols, vec![0, 32, 64, 96]);
        assert_eq!(l.pooled_width, 253 * 32);
        assert_eq!(l.copies, vec![(0, 0, 32), (251 * 32, 64, 64)]);
        assert_eq!(l.x0_width, spec.top_mlp.widths[0]);
        // DIEN: profile, the RNN's 64, ad, context.
        let l = feature_layout(&zoo::resolve("dien").unwrap()).unwrap();
        assert_eq!(l.cols, vec![0, 32, 96, 128]);
        assert_eq!(l.copies, vec![(0, 0, 32), (41 * 32, 96, 64)]);
        // NCF: the block alone (MF 64 + MLP 64); nothing copied.
        let l = feature_layout(&zoo::resolve("ncf").unwrap()).unwrap();
        assert_eq!((l.cols.clone(), l.x0_width), (vec![0], 128));
        assert!(l.copies.is_empty() && !l.direct);
        assert_eq!(l.table_cols, vec![0, 64, 128, 192]);
    }

    #[test]
    fn dot_pair_order_matches_the_cpu() {
        assert_eq!(dot_pairs(3, false), vec![(1, 0), (2, 0), (2, 1)]);
        assert_eq!(dot_pairs(2, true), vec![(0, 0), (1, 0), (1, 1)]);
        assert!(dot_pairs(1, false).is_empty());
    }

    #[test]
    fn staging_parts_are_aligned_and_disjoint() {
        let l = staging_layout(3, 5, 7, 8);
        assert_eq!((l.err, l.dense, l.offsets, l.indices), (0, 16, 32, 64));
        assert_eq!(l.total, 128);
        let l = staging_layout(0, 1, 0, 4);
        assert_eq!((l.dense, l.offsets, l.indices, l.total), (16, 16, 32, 32));
    }
}
