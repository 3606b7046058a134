//! The DIN, DIEN and NCF blocks on the device: their layers as uploaded (`UnitLayer`, `RnnLayer`,
//! `GpuBlock`, built with the rest of the model in `GpuModel::build`) and `GpuRunner::run_block`, which
//! enqueues one block of a forward into its x0 columns: DIN's attention units as strided-batched GEMMs,
//! DIEN's tanh RNN steps with FC + softmax + add between layers, NCF's MF sum and MLP branch. The math
//! follows the CPU code in `models/src/blocks/` (same operation order in the small kernels).

use super::{at, grid, u32c, GpuRunner};
use crate::error::{drv, GpuError, Result};
use crate::mlp::{gemm_batched_raw, GpuLinear, Strided};
use cudarc::driver::{CudaSlice, PushKernelArg};

/// The kernels of `cu/blocks.cu` the host looks up by name.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const BLOCK_KERNELS: [&str; 8] = [
    "din_unit_input",
    "unit_bias_act",
    "sum_units",
    "gather_steps",
    "rnn_step",
    "softmax_add",
    "add_cols",
    "cross_update",
];

/// The layers of all DIN units at one depth, stacked unit after unit (for one strided-batched GEMM).
pub(super) struct UnitLayer {
    pub(super) _w: CudaSlice<f32>,
    pub(super) _b: CudaSlice<f32>,
    pub(super) w_ptr: u64,
    pub(super) b_ptr: u64,
    pub(super) k: usize,
    pub(super) n: usize,
    pub(super) act: u32,
}

/// One DIEN RNN layer: the input projection (with b_ih), the recurrent product (no bias) and b_hh,
/// which the step kernel adds.
pub(super) struct RnnLayer {
    pub(super) ih: GpuLinear,
    pub(super) hh: GpuLinear,
    pub(super) _b_hh: CudaSlice<f32>,
    pub(super) b_hh_ptr: u64,
    pub(super) h: usize,
}

pub(super) enum GpuBlock {
    Attention {
        /// Pooled column of the first behaviour table (the others follow, dim apart).
        beh_col: usize,
        /// Pooled column of the query table.
        q_col: usize,
        dim: usize,
        units: usize,
        layers: Vec<UnitLayer>,
        /// x0 column of the block's output.
        col: usize,
    },
    Rnn {
        seq_col: usize,
        steps: usize,
        dim: usize,
        layers: Vec<RnnLayer>,
        fcs: Vec<GpuLinear>,
        col: usize,
    },
    Ncf {
        mf_cols: [usize; 2],
        dim: usize,
        mlp_cols: [usize; 2],
        mlp_dims: [usize; 2],
        mlp: Vec<GpuLinear>,
        col: usize,
    },
}

impl GpuRunner {
    /// Runs one block of a batch of `bsz` into its x0 columns.
    ///
    /// # Safety
    /// The pooled matrix must hold the batch's pooled embeddings (enqueued before), bsz ≤ cap.
    pub(super) unsafe fn run_block(&self, block: &GpuBlock, bsz: usize, bufs: &[u64; 2]) -> Result<()> {
        let m = &*self.model;
        let s = &self.stream;
        let (pool, ldp) = (self.pooled.ptr, m.layout.pooled_width);
        let (x0, x0w) = (self.x0.ptr, m.x0_width);
        let rows = u32c(bsz, "batch")?;
        let ldp32 = u32c(ldp, "pooled width")?;
        match block {
            GpuBlock::Attention { beh_col, q_col, dim, units, layers, col } => {
                let (mut cur, mut other) = (self.scratch[0].ptr, self.scratch[1].ptr);
                let (bc, qc, d, nu) = (
                    u32c(*beh_col, "column")?,
                    u32c(*q_col, "column")?,
                    u32c(*dim, "dim")?,
                    u32c(*units, "units")?,
                );
                let mut b = s.launch_builder(&m.k.din_input);
                b.arg(&pool).arg(&ldp32).arg(&bc).arg(&qc).arg(&d).arg(&nu).arg(&rows).arg(&cur);
                // SAFETY: reads columns of the behaviour tables and the query inside the pooled rows,
                // writes units × bsz × 3·dim floats of scratch 0 (sized units × cap × the widest).
                unsafe { b.launch(grid(units * bsz * dim)) }.map_err(drv("din_unit_input launch"))?;
                let mut width = 3 * dim;
                for l in layers {
                    if l.k != width {
                        return Err(GpuError::Invalid(format!("attention layer input {} ≠ {width}", l.k)));
                    }
                    // SAFETY: unit u's input is bsz × k at cur + u·bsz·k, its output bsz × n at
                    // other + u·bsz·n, all inside the two scratch buffers (units × cap × widest); the
                    // weights are units × n × k.
                    unsafe {
                        gemm_batched_raw(
                            &self.blas,
                            l.w_ptr,
                            cur,
                            bsz * l.k,
                            other,
                            bsz * l.n,
                            *units,
                            bsz,
                            l.k,
                            l.n,
                        )
                    }?;
                    let n = u32c(l.n, "width")?;
                    let mut b = s.launch_builder(&m.k.unit_bias_act);
                    b.arg(&other).arg(&l.b_ptr).arg(&nu).arg(&rows).arg(&n).arg(&l.act);
                    // SAFETY: touches units × bsz × n floats of `other` and units × n biases.
                    unsafe { b.launch(grid(units * bsz * l.n)) }.map_err(drv("unit_bias_act launch"))?;
                    std::mem::swap(&mut cur, &mut other);
                    width = l.n;
                }
                let (n, ld) = (u32c(width, "width")?, u32c(x0w, "x0 width")?);
                let dst = at(x0, *col);
                let mut b = s.launch_builder(&m.k.sum_units);
                b.arg(&cur).arg(&nu).arg(&rows).arg(&n).arg(&dst).arg(&ld);
                // SAFETY: reads units × bsz × width floats of `cur`, writes columns col..col+width of
                // bsz x0 rows (the block's own columns).
                unsafe { b.launch(grid(bsz * width)) }.map_err(drv("sum_units launch"))?;
            }
            GpuBlock::Rnn { seq_col, steps, dim, layers, fcs, col } => {
                let (mut cur, mut other) = (self.scratch[0].ptr, self.scratch[1].ptr);
                let (ih, hh) = (self.scratch[2].ptr, self.scratch[3].ptr);
                let (sc, d, st) = (u32c(*seq_col, "column")?, u32c(*dim, "dim")?, u32c(*steps, "steps")?);
                let mut b = s.launch_builder(&m.k.gather_steps);
                b.arg(&pool).arg(&ldp32).arg(&sc).arg(&d).arg(&st).arg(&rows).arg(&cur);
                // SAFETY: reads the sequence tables' columns of the pooled rows, writes steps × bsz × dim
                // floats of scratch 0 (sized steps × cap × max(dim, hidden)).
                unsafe { b.launch(grid(steps * bsz * dim)) }.map_err(drv("gather_steps launch"))?;
                let mut width = *dim;
                for (l, layer) in layers.iter().enumerate() {
                    let h = layer.h;
                    if layer.ih.k() != width {
                        return Err(GpuError::Invalid(format!(
                            "RNN layer {l} input {} ≠ {width}",
                            layer.ih.k()
                        )));
                    }
                    let sn = bsz * h;
                    // SAFETY: cur holds steps × bsz × width floats, ih (scratch 2) steps × cap × hidden.
                    unsafe {
                        layer.ih.forward_raw(
                            &self.blas,
                            Strided { ptr: cur, ld: width },
                            steps * bsz,
                            Strided { ptr: ih, ld: h },
                        )
                    }?;
                    let (n, hh32) = (u32c(sn, "rows × hidden")?, u32c(h, "hidden")?);
                    for t in 0..*steps {
                        let out_t = at(other, t * sn);
                        if t > 0 {
                            // SAFETY: step t−1's output (bsz × h in `other`) to hh (scratch 3, cap × hidden).
                            unsafe {
                                layer.hh.forward_raw(
                                    &self.blas,
                                    Strided { ptr: at(other, (t - 1) * sn), ld: h },
                                    bsz,
                                    Strided { ptr: hh, ld: h },
                                )
                            }?;
                        }
                        let (ih_t, prev) = (at(ih, t * sn), u32::from(t > 0));
                        let mut b = s.launch_builder(&m.k.rnn_step);
                        b.arg(&ih_t).arg(&hh).arg(&layer.b_hh_ptr).arg(&out_t).arg(&n).arg(&hh32).arg(&prev);
                        // SAFETY: reads bsz × h floats of ih at step t and of hh, h biases; writes step t
                        // of `other` (steps × cap × hidden).
                        unsafe { b.launch(grid(sn)) }.map_err(drv("rnn_step launch"))?;
                    }
                    if let Some(fc) = fcs.get(l) {
                        // SAFETY: all steps' outputs (steps × bsz × h) to ih, the same size.
                        unsafe {
                            fc.forward_raw(
                                &self.blas,
                                Strided { ptr: other, ld: h },
                                steps * bsz,
                                Strided { ptr: ih, ld: h },
                            )
                        }?;
                        let r = u32c(steps * bsz, "steps × rows")?;
                        let mut b = s.launch_builder(&m.k.softmax_add);
                        b.arg(&other).arg(&ih).arg(&r).arg(&hh32);
                        // SAFETY: one warp per row of h floats of both buffers, steps × bsz rows.
                        unsafe { b.launch(grid(32 * steps * bsz)) }.map_err(drv("softmax_add launch"))?;
                    }
                    std::mem::swap(&mut cur, &mut other);
                    width = h;
                }
                let last = Strided { ptr: at(cur, (steps - 1) * bsz * width), ld: width };
                // SAFETY: the last step's bsz × width outputs into the block's x0 columns.
                unsafe { self.copy_cols(last, Strided { ptr: at(x0, *col), ld: x0w }, bsz, width) }?;
            }
            GpuBlock::Ncf { mf_cols, dim, mlp_cols, mlp_dims, mlp, col } => {
                let a = self.scratch[0].ptr;
                let k = mlp_dims[0] + mlp_dims[1];
                // SAFETY: the two MLP-branch tables' columns side by side into scratch 0 (cap × k).
                unsafe {
                    self.copy_cols(
                        Strided { ptr: at(pool, mlp_cols[0]), ld: ldp },
                        Strided { ptr: a, ld: k },
                        bsz,
                        mlp_dims[0],
                    )?;
                    self.copy_cols(
                        Strided { ptr: at(pool, mlp_cols[1]), ld: ldp },
                        Strided { ptr: at(a, mlp_dims[0]), ld: k },
                        bsz,
                        mlp_dims[1],
                    )?;
                }
                // SAFETY: the MLP branch from scratch 0 through the ping-pong buffers (sized for its
                // widest layer) into x0 columns col + dim.., the block's own.
                unsafe {
                    self.run_mlp(
                        mlp,
                        Strided { ptr: a, ld: k },
                        bsz,
                        Strided { ptr: at(x0, col + dim), ld: x0w },
                        bufs,
                    )
                }?;
                let (pa, pb, dst) = (at(pool, mf_cols[0]), at(pool, mf_cols[1]), at(x0, *col));
                let (ld, cols) = (u32c(x0w, "x0 width")?, u32c(*dim, "dim")?);
                let mut b = s.launch_builder(&m.k.add_cols);
                b.arg(&pa).arg(&ldp32).arg(&pb).arg(&ldp32).arg(&dst).arg(&ld).arg(&rows).arg(&cols);
                // SAFETY: reads dim columns of two tables in the pooled rows, writes x0 columns
                // col..col+dim of bsz rows.
                unsafe { b.launch(grid(bsz * dim)) }.map_err(drv("add_cols launch"))?;
            }
        }
        Ok(())
    }
}
