//! Weight packing: `W` (n×k, nn.Linear layout) rearranged once into NR-wide column panels.
//!
//! Panel `p` holds output features `p·NR .. p·NR+NR` as `k` rows of `NR` floats, contiguous, so the
//! microkernel reads one K step of a panel with NR/lanes aligned vector loads and a K block
//! `[k0, k0+kc)` of a panel is the contiguous slice at offset `k0·NR`. The last panel is zero-padded.

use crate::error::Result;
use crate::mem::HugeBuf;

/// Weights and bias in the panel layout of one microkernel width.
#[derive(Debug)]
pub struct PackedWeights {
    /// Panel width (output features per panel).
    pub nr: usize,
    /// Reduction length (input features).
    pub k: usize,
    /// Output features (unpadded).
    pub n: usize,
    /// `panels · k · nr` floats; page-aligned, so every panel row is aligned for vector loads.
    pub data: HugeBuf<f32>,
    /// Bias padded to `panels · nr` (zeros where absent or past `n`).
    pub bias: HugeBuf<f32>,
    /// Whether a bias was given (a zero bias is skipped in the epilogue).
    pub has_bias: bool,
}

impl PackedWeights {
    /// Packs `weight` (n×k row-major) and `bias` (n) into panels of `nr` columns.
    pub fn new(weight: &[f32], bias: Option<&[f32]>, k: usize, n: usize, nr: usize) -> Result<Self> {
        let panels = n.div_ceil(nr);
        let mut data = HugeBuf::<f32>::zeroed("packed MLP weights", panels * k * nr)?;
        for p in 0..panels {
            let panel = &mut data[p * k * nr..(p + 1) * k * nr];
            for j in 0..nr.min(n - p * nr) {
                let row = &weight[(p * nr + j) * k..(p * nr + j + 1) * k];
                // Column j of the panel: stride nr. Row-by-row reads keep the source streaming.
                for (kk, &w) in row.iter().enumerate() {
                    panel[kk * nr + j] = w;
                }
            }
        }
        let mut padded = HugeBuf::<f32>::zeroed("packed MLP bias", panels * nr)?;
        if let Some(b) = bias {
            padded[..n].copy_from_slice(b);
        }
        Ok(Self { nr, k, n, data, bias: padded, has_bias: bias.is_some() })
    }

    /// Number of panels (`ceil(n / nr)`).
    pub fn panels(&self) -> usize {
        self.n.div_ceil(self.nr)
    }

    /// Start of panel `p` (row 0 of its `k × nr` block).
    pub fn panel_ptr(&self, p: usize) -> *const f32 {
        debug_assert!(p < self.panels());
        self.data[p * self.k * self.nr..].as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_hold_transposed_columns_zero_padded() {
        let (k, n, nr) = (3, 5, 4);
        let w: Vec<f32> = (0..n * k).map(|v| v as f32 + 1.0).collect();
        let p = PackedWeights::new(&w, Some(&[1.0, 2.0, 3.0, 4.0, 5.0]), k, n, nr).unwrap();
        assert_eq!(p.panels(), 2);
        // Panel 0, k row 1: W[0..4][1].
        assert_eq!(&p.data[nr..2 * nr], &[2.0, 5.0, 8.0, 11.0]);
        // Panel 1, k row 2: W[4][2] then padding.
        assert_eq!(&p.data[k * nr + 2 * nr..k * nr + 3 * nr], &[15.0, 0.0, 0.0, 0.0]);
        assert_eq!(&p.bias[..], &[1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0, 0.0]);
    }
}
