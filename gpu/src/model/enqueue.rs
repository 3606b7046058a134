//! The device work of one forward, enqueued on the runner's stream: bottom MLP, embeddings, blocks,
//! interaction, top MLP and heads (the blocks' own launches are in `blocks`).

use super::*;

impl GpuRunner {
    /// Enqueues every kernel and GEMM of a forward on the runner's stream (raw addresses only).
    pub(super) fn enqueue(&self, bsz: usize, wide: bool) -> Result<()> {
        let m = &*self.model;
        let s = &self.stream;
        // Every part's offset depends on the batch alone (the indices come last).
        let lay = staging_layout(bsz * m.dense_in, m.shapes.len() * bsz + 1, 0, 8);
        let base = self.input_ptr;
        let x0 = self.x0.ptr;
        let x0w = m.x0_width;
        let x0s = Strided { ptr: x0, ld: x0w };
        let bufs = [self.bufs[0].ptr, self.bufs[1].ptr];
        let dense = Strided { ptr: base + lay.dense as u64, ld: m.dense_in };

        // 1. Bottom MLP into x0's first columns (or the dense features copied there).
        if !m.bottom.is_empty() {
            // SAFETY: every buffer holds cap rows of its widest layer, bsz ≤ cap, and the input outlives
            // the work (the stream is synchronised before forward returns).
            unsafe { self.run_mlp(&m.bottom, dense, bsz, x0s, &bufs) }?;
        } else if m.dense_in > 0 {
            // SAFETY: reads bsz × dense_in floats of the input, writes the first dense_in columns of bsz
            // rows of x0.
            unsafe { self.copy_cols(dense, x0s, bsz, m.dense_in) }?;
        }
        // 2. All tables in one launch, into x0's table columns or the pooled matrix.
        let ptrs = BagPtrs {
            indices: base + lay.indices as u64,
            wide,
            offsets: base + lay.offsets as u64,
            weights: 0,
            batch: bsz,
        };
        let (pool, ldp) = (self.pooled.ptr, m.layout.pooled_width);
        if m.layout.direct {
            let dense_cols = if m.dense_in > 0 { m.dense_out } else { 0 };
            // SAFETY: the plan was made for these tables; x0 holds cap ≥ bsz rows of x0_width; the error
            // word is at offset 0 of the input buffer; all stay alive past the synchronisation.
            unsafe { m.tables.launch_raw_err(s, ptrs, x0, x0w, dense_cols, base + lay.err as u64) }?;
        } else {
            // SAFETY: as above, into the pooled matrix of cap rows × pooled_width.
            unsafe { m.tables.launch_raw_err(s, ptrs, pool, ldp, 0, base + lay.err as u64) }?;
            for &(src, dst, w) in &m.layout.copies {
                // SAFETY: the copy reads columns src..src+w of the pooled rows and writes columns
                // dst..dst+w of x0's rows, both inside their widths (from the feature layout).
                unsafe {
                    self.copy_cols(
                        Strided { ptr: at(pool, src), ld: ldp },
                        Strided { ptr: at(x0, dst), ld: x0w },
                        bsz,
                        w,
                    )
                }?;
            }
        }
        // 3. Blocks, each into its x0 columns.
        for b in &m.blocks {
            // SAFETY: the block reads the pooled matrix and writes its own x0 columns and the scratch
            // buffers, all sized for cap ≥ bsz rows when the runner was made.
            unsafe { self.run_block(b, bsz, &bufs) }?;
        }
        // 4. Interaction.
        let top_in = match &m.interaction {
            GpuInteraction::Cat => x0s,
            GpuInteraction::Dot { pairs_ptr, npairs, width, .. } => {
                let inter = self.inter.ptr;
                let (xw, d, np, iw, rows) = (
                    u32c(x0w, "x0 width")?,
                    u32c(*width, "feature width")?,
                    u32c(*npairs, "pairs")?,
                    u32c(m.inter_out, "interaction width")?,
                    u32c(bsz, "batch")?,
                );
                let mut b = s.launch_builder(&m.k.dot);
                b.arg(&x0).arg(&xw).arg(&d).arg(pairs_ptr).arg(&np).arg(&inter).arg(&iw).arg(&rows);
                // SAFETY: reads bsz rows of x0, writes bsz rows of inter_out = width + npairs floats; the
                // pairs index features inside x0's rows; arguments match dot_interaction.
                unsafe { b.launch(grid(bsz * m.inter_out)) }.map_err(drv("dot_interaction launch"))?;
                Strided { ptr: inter, ld: m.inter_out }
            }
            GpuInteraction::Cross { layers, rank } => {
                let z = Strided { ptr: self.inter.ptr, ld: x0w };
                let (u, v) = (
                    Strided { ptr: self.scratch[0].ptr, ld: *rank },
                    Strided { ptr: self.scratch[1].ptr, ld: x0w },
                );
                // SAFETY: inter holds cap rows of x0_width (= the cross interaction's width).
                unsafe { self.copy_cols(x0s, z, bsz, x0w) }?;
                for (lu, lv) in layers {
                    // SAFETY: scratch 0 holds cap × rank and scratch 1 cap × x0_width floats (the
                    // model's scratch needs); inputs and outputs are distinct buffers.
                    unsafe {
                        lu.forward_raw(&self.blas, z, bsz, u)?;
                        lv.forward_raw(&self.blas, u, bsz, v)?;
                    }
                    let n = (bsz * x0w) as u64;
                    let mut b = s.launch_builder(&m.k.cross_update);
                    b.arg(&x0).arg(&v.ptr).arg(&z.ptr).arg(&n);
                    // SAFETY: x0, v and z each hold bsz × x0_width packed floats; arguments match
                    // cross_update.
                    unsafe { b.launch(grid(bsz * x0w)) }.map_err(drv("cross_update launch"))?;
                }
                z
            }
        };
        // 5. Top MLP and heads, the last layers writing into the output.
        let (ow, outp, top_out) = (m.out_width, self.out.ptr, self.top_out.ptr);
        if m.heads.is_empty() {
            // SAFETY: as for the bottom MLP; out holds cap rows of out_width.
            unsafe { self.run_mlp(&m.top, top_in, bsz, Strided { ptr: outp, ld: ow }, &bufs) }?;
        } else {
            let tw = m.spec.top_mlp.out();
            // SAFETY: as above; top_out holds cap rows of the top MLP's width.
            unsafe { self.run_mlp(&m.top, top_in, bsz, Strided { ptr: top_out, ld: tw }, &bufs) }?;
            let hw = ow / m.heads.len();
            for (k, head) in m.heads.iter().enumerate() {
                let dst = Strided { ptr: at(outp, k * hw), ld: ow };
                // SAFETY: as above; head k writes columns k·hw..(k+1)·hw of bsz output rows.
                unsafe { self.run_mlp(head, Strided { ptr: top_out, ld: tw }, bsz, dst, &bufs) }?;
            }
        }
        Ok(())
    }

    /// dst[r, 0..cols] = src[r, 0..cols] for r < rows.
    ///
    /// # Safety
    /// Both must address `rows` rows of at least `cols` floats at their strides, alive until the work ends.
    pub(super) unsafe fn copy_cols(
        &self,
        src: Strided,
        dst: Strided,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let (ls, ld, r, c) =
            (u32c(src.ld, "stride")?, u32c(dst.ld, "stride")?, u32c(rows, "rows")?, u32c(cols, "cols")?);
        let mut b = self.stream.launch_builder(&self.model.k.copy_cols);
        b.arg(&src.ptr).arg(&ls).arg(&dst.ptr).arg(&ld).arg(&r).arg(&c);
        // SAFETY: the caller's promise; the arguments match copy_cols.
        unsafe { b.launch(grid(rows * cols)) }.map_err(drv("copy_cols launch"))?;
        Ok(())
    }

    /// Runs `layers` from `x` through the ping-pong buffers, the last layer writing into `last`.
    ///
    /// # Safety
    /// `x` must hold m rows of the first layer's input, `last` m rows of the last layer's output, and the
    /// buffers m rows of every layer's width, all alive until the stream's work ends.
    pub(super) unsafe fn run_mlp(
        &self,
        layers: &[GpuLinear],
        x: Strided,
        m: usize,
        last: Strided,
        bufs: &[u64; 2],
    ) -> Result<()> {
        let mut cur = x;
        for (i, l) in layers.iter().enumerate() {
            let dst = if i + 1 == layers.len() { last } else { Strided { ptr: bufs[i % 2], ld: l.n() } };
            // SAFETY: the caller's promise; consecutive layers alternate buffers so input and output never
            // overlap.
            unsafe { l.forward_raw(&self.blas, cur, m, dst) }?;
            cur = dst;
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
