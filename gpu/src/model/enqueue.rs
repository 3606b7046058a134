//! The launches of a checked [`Program`] on the runner's stream: each [`Op`] becomes one kernel launch
//! or cuBLAS call with its buffers resolved to raw addresses. This is the one place the forward passes
//! raw addresses to the device, and every `unsafe` here rests on the same fact: the program was
//! checked when lowered against exactly the buffers this runner allocated (see [`Program::check`]).

use super::program::{At, Op, Pk};
use super::*;
use crate::mlp::{act_code, gemm_batched_raw, Strided};

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

/// Launches `$f` over `$n` elements with the given local values as arguments, in order.
macro_rules! launch {
    ($me:expr, $f:ident, $n:expr; $($arg:ident),+ $(,)?) => {{
        let mut b = $me.stream.launch_builder(&$me.model.k.$f);
        $(b.arg(&$arg);)+
        // SAFETY: every address argument is an operand of a program checked against this runner's
        // buffers (in bounds, outputs disjoint from the other operands; see `enqueue`), the buffers and
        // weights outlive the stream's work (forward synchronises before returning, graphs are dropped
        // before the buffers), and the argument list matches the kernel's signature in `cu/`.
        unsafe { b.launch(grid($n)) }.map_err(drv(concat!(stringify!($f), " launch")))?;
    }};
}

impl GpuRunner {
    /// Enqueues the runner's current program (lowered for this batch by `device_work`).
    pub(super) fn enqueue(&self, wide: bool) -> Result<()> {
        let prog = self.program.as_ref().ok_or_else(|| GpuError::Invalid("no program lowered".into()))?;
        // The check that makes the launches below sound was made for this capacity and geometry.
        if prog.cap != self.cap {
            return Err(GpuError::Invalid(format!(
                "program for capacity {} on a runner of {}",
                prog.cap, self.cap
            )));
        }
        // The input's parts sit where `forward` packed them for this batch (the indices last, so no
        // offset here depends on their count).
        let m = &self.model;
        let lay = staging_layout(prog.batch * m.geo.dense_in, m.shapes.len() * prog.batch + 1, 0, 8);
        for op in &prog.ops {
            self.launch(op, &lay, wide)?;
        }
        Ok(())
    }

    /// The device address of float `off` of `buf`.
    fn addr(&self, buf: Buf, off: usize, lay: &StagingLayout) -> u64 {
        let base = match buf {
            Buf::Dense => self.input_ptr + lay.dense as u64,
            Buf::X0 => self.x0.ptr,
            Buf::Pooled => self.pooled.ptr,
            Buf::Inter => self.inter.ptr,
            Buf::Mlp(i) => self.mlp[i % 2].ptr,
            Buf::TopOut => self.top_out.ptr,
            Buf::Out => self.out.ptr,
            Buf::Scratch(i) => self.scratch[i % 4].ptr,
        };
        base + 4 * off as u64
    }

    fn strided(&self, a: At, lay: &StagingLayout) -> Strided {
        Strided { ptr: self.addr(a.buf, a.off, lay), ld: a.ld }
    }

    fn launch(&self, op: &Op, lay: &StagingLayout, wide: bool) -> Result<()> {
        let m = &*self.model;
        let p = |a: At| self.addr(a.buf, a.off, lay);
        let q = |a: Pk| self.addr(a.buf, a.off, lay);
        let u = u32c;
        match *op {
            Op::Copy { src, dst, rows, cols } => {
                let (sp, ls, dp, ld, r, c) = (
                    p(src),
                    u(src.ld, "stride")?,
                    p(dst),
                    u(dst.ld, "stride")?,
                    u(rows, "rows")?,
                    u(cols, "cols")?,
                );
                if rows * cols > 0 {
                    launch!(self, copy_cols, rows * cols; sp, ls, dp, ld, r, c);
                }
            }
            Op::Linear { layer, x, y, m: rows } => {
                let l = &m.linears[layer];
                // SAFETY: as in `launch!`: x is rows × k and y rows × n of a checked program, disjoint.
                unsafe { l.forward_raw(&self.blas, self.strided(x, lay), rows, self.strided(y, lay)) }?;
            }
            Op::Tables { out, col, rows } => {
                let base = self.input_ptr;
                let bags = BagPtrs {
                    indices: base + lay.indices as u64,
                    wide,
                    offsets: base + lay.offsets as u64,
                    weights: 0,
                    batch: rows,
                };
                // SAFETY: as in `launch!`; the bags are the batch's, packed and checked by `forward`
                // (`plan_into`) in the input buffer at this layout, and the error word is its first 8
                // bytes.
                unsafe {
                    m.tables.launch_raw_err(&self.stream, bags, p(out), out.ld, col, base + lay.err as u64)
                }?;
            }
            Op::DinInput { pooled, beh_col, q_col, dim, units, rows, dst } => {
                let (pp, ldp, bc, qc, d, nu, r, dp) = (
                    p(pooled),
                    u(pooled.ld, "stride")?,
                    u(beh_col, "column")?,
                    u(q_col, "column")?,
                    u(dim, "dim")?,
                    u(units, "units")?,
                    u(rows, "rows")?,
                    q(dst),
                );
                launch!(self, din_input, units * rows * dim; pp, ldp, bc, qc, d, nu, r, dp);
            }
            Op::UnitGemm { layer, x, y, units, rows } => {
                let l = &m.geo.units[layer];
                let w = m.units[layer].w.ptr;
                // SAFETY: as in `launch!`: unit i's input is rows × k at x + i·rows·k and its output
                // rows × n at y + i·rows·n, inside the checked operands; the weights are units × n × k.
                unsafe {
                    gemm_batched_raw(&self.blas, w, q(x), rows * l.k, q(y), rows * l.n, units, rows, l.k, l.n)
                }?;
            }
            Op::UnitBiasAct { layer, y, units, rows } => {
                let l = &m.geo.units[layer];
                let (yp, bp, nu, r, n, a) = (
                    q(y),
                    m.units[layer].b.ptr,
                    u(units, "units")?,
                    u(rows, "rows")?,
                    u(l.n, "width")?,
                    act_code(l.act),
                );
                launch!(self, unit_bias_act, units * rows * l.n; yp, bp, nu, r, n, a);
            }
            Op::SumUnits { src, units, rows, n, dst } => {
                let (sp, nu, r, nn, dp, ld) = (
                    q(src),
                    u(units, "units")?,
                    u(rows, "rows")?,
                    u(n, "width")?,
                    p(dst),
                    u(dst.ld, "stride")?,
                );
                launch!(self, sum_units, rows * n; sp, nu, r, nn, dp, ld);
            }
            Op::GatherSteps { pooled, col, dim, steps, rows, dst } => {
                let (pp, ldp, c, d, st, r, dp) = (
                    p(pooled),
                    u(pooled.ld, "stride")?,
                    u(col, "column")?,
                    u(dim, "dim")?,
                    u(steps, "steps")?,
                    u(rows, "rows")?,
                    q(dst),
                );
                launch!(self, gather_steps, steps * rows * dim; pp, ldp, c, d, st, r, dp);
            }
            Op::RnnStep { bias, ih, hh, out, rows, h } => {
                // Step 0 reads no recurrent product: any address will do (the kernel skips it).
                let (ip, hp, bp, op, n, hh32, prev) = (
                    q(ih),
                    q(hh.unwrap_or(ih)),
                    m.rnn_biases[bias].ptr,
                    q(out),
                    u(rows * h, "rows × hidden")?,
                    u(h, "hidden")?,
                    u32::from(hh.is_some()),
                );
                launch!(self, rnn_step, rows * h; ip, hp, bp, op, n, hh32, prev);
            }
            Op::SoftmaxAdd { o, f, rows, h } => {
                let (op, fp, r, hh) = (q(o), q(f), u(rows, "rows")?, u(h, "hidden")?);
                // One warp per row.
                launch!(self, softmax_add, 32 * rows; op, fp, r, hh);
            }
            Op::AddCols { a, b, dst, rows, cols } => {
                let (ap, la, bp, lb, dp, ld, r, c) = (
                    p(a),
                    u(a.ld, "stride")?,
                    p(b),
                    u(b.ld, "stride")?,
                    p(dst),
                    u(dst.ld, "stride")?,
                    u(rows, "rows")?,
                    u(cols, "cols")?,
                );
                launch!(self, add_cols, rows * cols; ap, la, bp, lb, dp, ld, r, c);
            }
            Op::Dot { x0, width, npairs, out, rows, .. } => {
                let pairs = m
                    .pairs
                    .as_ref()
                    .ok_or_else(|| GpuError::Invalid("dot interaction without pairs".into()))?
                    .ptr;
                let (xp, xw, d, np, op, ow, r) = (
                    p(x0),
                    u(x0.ld, "x0 width")?,
                    u(width, "feature width")?,
                    u(npairs, "pairs")?,
                    p(out),
                    u(out.ld, "interaction width")?,
                    u(rows, "rows")?,
                );
                launch!(self, dot, rows * (width + npairs); xp, xw, d, pairs, np, op, ow, r);
            }
            Op::CrossUpdate { x0, v, z, rows, width } => {
                let (xp, vp, zp, n) = (q(x0), q(v), q(z), (rows * width) as u64);
                launch!(self, cross_update, rows * width; xp, vp, zp, n);
            }
        }
        Ok(())
    }
}

pub(super) fn grid(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (elementwise_blocks(n), 1, 1),
        block_dim: (BLOCK_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}
