//! [`GpuRunner`]: its buffers, the forward (copies in, device work, copy out) and CUDA-graph capture.

use super::*;

impl GpuRunner {
    pub(super) fn new(owned: Arc<GpuModel>, dev: &Device, max_batch: usize) -> Result<Self> {
        let model = &*owned;
        let cap = max_batch.max(1);
        let stream = dev.new_stream()?;
        let mut blas = Blas::new(stream.clone())?;
        blas.set_workspace(BLAS_WORKSPACE_BYTES)?;
        let ctx = dev.context();
        let geo = &model.geo;
        let z = |buf: Buf| DevBuf::zeroed(&stream, geo.floats(buf, cap, 0));
        let mut me = Self {
            graphs: GraphCache::new(),
            model: owned.clone(),
            blas,
            cap,
            program: None,
            // SAFETY: the staging buffer's contents are written before they are read.
            staging: unsafe { ctx.alloc_pinned::<u8>(1) }.map_err(drv("cuMemHostAlloc"))?,
            staging_ptr: std::ptr::null_mut(),
            input: stream.alloc_zeros::<u8>(16).map_err(drv("alloc input"))?,
            input_ptr: 0,
            x0: z(Buf::X0)?,
            pooled: z(Buf::Pooled)?,
            inter: z(Buf::Inter)?,
            mlp: [z(Buf::Mlp(0))?, z(Buf::Mlp(1))?],
            top_out: z(Buf::TopOut)?,
            out: z(Buf::Out)?,
            scratch: [z(Buf::Scratch(0))?, z(Buf::Scratch(1))?, z(Buf::Scratch(2))?, z(Buf::Scratch(3))?],
            // SAFETY: read only after a device-to-host copy fills it.
            out_host: unsafe { ctx.alloc_pinned_with_flags::<f32>(cap * geo.out_width.max(1), 0) }
                .map_err(drv("cuMemHostAlloc"))?,
            out_host_ptr: std::ptr::null_mut(),
            // SAFETY: read only after a device-to-host copy fills it.
            err_host: unsafe { ctx.alloc_pinned_with_flags::<u64>(1, 0) }.map_err(drv("cuMemHostAlloc"))?,
            err_host_ptr: std::ptr::null_mut(),
            stream,
        };
        me.out_host_ptr = me.out_host.as_mut_ptr().map_err(drv("pinned output"))?;
        me.err_host_ptr = me.err_host.as_mut_ptr().map_err(drv("pinned error word"))?;
        let per_sample_idx = model.lookups_per_sample;
        let lay = staging_layout(cap * geo.dense_in, model.shapes.len() * cap + 1, cap * per_sample_idx, 8);
        me.ensure_staging(lay.total, dev)?;
        me.stream.synchronize().map_err(drv("runner setup"))?;
        Ok(me)
    }

    fn ensure_staging(&mut self, bytes: usize, dev: &Device) -> Result<()> {
        if self.staging.len() >= bytes && self.input.len() >= bytes {
            return Ok(());
        }
        let n = bytes.next_power_of_two();
        // SAFETY: the staging buffer is written before every copy out of it.
        self.staging =
            unsafe { dev.context().alloc_pinned::<u8>(n) }.map_err(drv("cuMemHostAlloc (staging)"))?;
        self.staging_ptr = self.staging.as_mut_ptr().map_err(drv("pinned staging"))?;
        self.input = self.stream.alloc_zeros::<u8>(n).map_err(drv("alloc input"))?;
        self.input_ptr = self.input.device_ptr(&self.stream).0;
        // The captured graphs read the old input buffer.
        self.graphs.clear();
        Ok(())
    }

    /// The stream this runner's work goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Allows TF32 tensor-core math in this runner's FP32 GEMMs (off: full FP32, the default the
    /// tests compare with the CPU at 1e-5): [`GpuRunner::set_math`] with TF32 or FP32.
    pub fn set_tf32(&mut self, on: bool) -> Result<()> {
        self.set_math(if on { GemmMath::Tf32 } else { GemmMath::Fp32 })
    }

    /// The math of this runner's GEMMs: FP32 (the default), TF32 or BF16 tensor cores with FP32
    /// accumulation (see [`Blas::set_math`]). Captured graphs are dropped, since they hold the old mode.
    pub fn set_math(&mut self, math: GemmMath) -> Result<()> {
        self.blas.set_math(math)?;
        self.regraph();
        Ok(())
    }

    /// Uses the cuBLASLt bias/ReLU epilogue where it can (the default), or the SGEMM + kernel path.
    /// Captured graphs are dropped.
    pub fn set_fused_epilogue(&mut self, on: bool) {
        self.blas.set_fused_epilogue(on);
        self.regraph();
    }

    /// Why a dense layer of this runner took the SGEMM + kernel path, if one did (see
    /// [`Blas::fallback_reason`]).
    pub fn epilogue_fallback(&self) -> Option<String> {
        self.blas.fallback_reason()
    }

    /// Drops the captured graphs (they hold the old settings), keeping graphs on or off.
    fn regraph(&mut self) {
        let graphs = self.graphs();
        self.set_graphs(false);
        self.set_graphs(graphs);
    }

    /// Turns CUDA graphs on or off (off by default). On: the device work of a forward is captured per
    /// (batch size, index width) up to [`GpuRunner::set_graph_limits`]' batch, on that shape's second
    /// use, and replayed after. Turning them off drops the captured graphs.
    pub fn set_graphs(&mut self, on: bool) {
        self.graphs.set_enabled(on);
    }

    /// Whether CUDA graphs are on (they switch themselves off when a capture fails; see
    /// [`GpuRunner::graph_failure`]).
    pub fn graphs(&self) -> bool {
        self.graphs.enabled()
    }

    /// The largest batch to capture graphs for, and how many graphs to keep (least recently used
    /// evicted; at least 1).
    pub fn set_graph_limits(&mut self, max_batch: usize, max_graphs: usize) {
        self.graphs.set_limits(max_batch, max_graphs);
    }

    /// Number of captured graphs held.
    pub fn graph_count(&self) -> usize {
        self.graphs.len()
    }

    /// Why graphs were switched off, when a capture failed (forwards then run eagerly).
    pub fn graph_failure(&self) -> Option<&str> {
        self.graphs.failure()
    }

    /// Runs one batch: `out` receives batch × [`GpuModel::output_width`] values. Host-to-device copies of
    /// the inputs and the copy of the output back are included; returns when the output is in `out`.
    pub fn forward(&mut self, dev: &Device, input: &InputSet, out: &mut [f32]) -> Result<()> {
        let model = self.model.clone();
        let m = &*model;
        let bsz = input.batch;
        if bsz == 0 || bsz > self.cap {
            return Err(GpuError::Invalid(format!(
                "batch {bsz} is outside 1..={} (the runner's capacity)",
                self.cap
            )));
        }
        let dense_in = m.geo.dense_in;
        if input.tables.len() != m.shapes.len() || input.dense.len() != bsz * dense_in {
            return Err(GpuError::Invalid(format!(
                "input has {} tables and {} dense values; the model needs {} and {}",
                input.tables.len(),
                input.dense.len(),
                m.shapes.len(),
                bsz * dense_in
            )));
        }
        let ow = m.geo.out_width;
        if out.len() < bsz * ow {
            return Err(GpuError::Invalid(format!(
                "output buffer holds {} values, needs {}",
                out.len(),
                bsz * ow
            )));
        }
        // 1. Check and pack the inputs into the pinned staging buffer; one copy to the device.
        let bags = input_bags(input);
        // Checked and packed straight into the pinned buffer (no intermediate vectors).
        let sizes = plan_sizes(&m.shapes, &bags);
        let wide = sizes.wide;
        if sizes.batch != bsz {
            return Err(GpuError::Invalid(format!("table 0 has {} bags in a batch of {bsz}", sizes.batch)));
        }
        // The captured work assumes the layout of a batch of bsz (dense and offsets sizes fixed by it).
        let lay = staging_layout(bsz * dense_in, m.shapes.len() * bsz + 1, sizes.indices, lay_ib(wide));
        self.ensure_staging(lay.total, dev)?;
        {
            // SAFETY: staging_ptr addresses the pinned buffer of at least lay.total bytes (ensured above);
            // the previous forward synchronised the stream, so no copy reads it now.
            let st = unsafe { std::slice::from_raw_parts_mut(self.staging_ptr, lay.total) };
            st[lay.err..lay.err + 8].copy_from_slice(&u64::MAX.to_ne_bytes());
            st[lay.dense..lay.dense + 4 * input.dense.len()].copy_from_slice(bytes_of(&input.dense));
            let (offsets, indices) = st[lay.offsets..].split_at_mut(lay.indices - lay.offsets);
            plan_into(&m.shapes, &bags, sizes, offsets, indices)?;
            // SAFETY: the input buffer holds at least lay.total bytes (ensured above) and is only used
            // by this stream; the source is pinned and not touched until the synchronisation below.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(self.input_ptr, &st[..], self.stream.cu_stream())
            }
            .map_err(drv("copy inputs to the device"))?;
        }
        // 2. The device work, eagerly or through a graph.
        self.device_work(bsz, wide)?;
        // 3. Output and the index-guard word back, then wait.
        {
            // SAFETY: out_host_ptr addresses cap × out_width pinned floats, err_host_ptr one pinned u64;
            // nothing else uses them until the synchronisation below. The device side: `out` holds
            // cap × out_width floats, and the first 8 bytes of the input buffer are the error word.
            unsafe {
                let oh = std::slice::from_raw_parts_mut(self.out_host_ptr, bsz * ow);
                let eh = std::slice::from_raw_parts_mut(self.err_host_ptr, 1);
                cudarc::driver::result::memcpy_dtoh_async(oh, self.out.ptr, self.stream.cu_stream())
                    .map_err(drv("copy output to the host"))?;
                cudarc::driver::result::memcpy_dtoh_async(
                    eh,
                    self.input_ptr + lay.err as u64,
                    self.stream.cu_stream(),
                )
                .map_err(drv("copy error word"))?;
            }
        }
        self.stream.synchronize().map_err(drv("cuStreamSynchronize"))?;
        // SAFETY: the copies into the pinned buffers are complete (synchronised above).
        let (oh, e) =
            unsafe { (std::slice::from_raw_parts(self.out_host_ptr, bsz * ow), *self.err_host_ptr) };
        if e != u64::MAX {
            // The host checked every index, so this is the kernel's defence firing: plan the batch
            // again (slowly) to name the table, bag and position.
            let plan = plan_bags(&m.shapes, &bags)?;
            let (table, bag, pos) = plan.locate(e as usize).unwrap_or((0, 0, e as usize));
            let index = match &plan.indices {
                IndexVec::U32(v) => v.get(e as usize).map_or(0, |&i| u64::from(i)),
                IndexVec::U64(v) => v.get(e as usize).copied().unwrap_or(0),
            };
            let rows = m.shapes.get(table).map_or(0, |s| s.rows);
            return Err(GpuError::IndexOutOfRange { table, bag, pos, index, rows });
        }
        out[..bsz * ow].copy_from_slice(oh);
        Ok(())
    }

    /// Enqueues the device work of a batch of `bsz`: a cached graph's replay, a capture (on the second
    /// use of a shape) then its replay, or the eager launches of the batch's checked program.
    fn device_work(&mut self, bsz: usize, wide: bool) -> Result<()> {
        let step = self.graphs.step(bsz, wide);
        if step == GraphStep::Replay {
            if let Some(g) = self.graphs.get(bsz, wide) {
                return g.launch().map_err(drv("cuGraphLaunch"));
            }
        }
        if self.program.as_ref().is_none_or(|p| p.batch != bsz) {
            self.program = Some(Program::lower(&self.model.geo, bsz, self.cap)?);
        }
        if step != GraphStep::Capture {
            return self.enqueue(wide);
        }
        match self.capture(wide) {
            Ok(graph) => self.graphs.insert(bsz, wide, graph).launch().map_err(drv("cuGraphLaunch")),
            Err(e) => {
                // Nothing of the failed capture ran; run eagerly and stay eager.
                self.graphs.fail(e.to_string());
                self.enqueue(wide)
            }
        }
    }

    /// Captures the device work of the current program into an instantiated graph.
    fn capture(&self, wide: bool) -> Result<CudaGraph> {
        use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
        // Thread-local mode: other threads' runners (other streams) are not disturbed by this capture.
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(drv("cuStreamBeginCapture"))?;
        let work = self.enqueue(wide);
        // Always end the capture, so the stream leaves capture mode even when enqueueing failed.
        let graph = self.stream.end_capture(CUgraphInstantiate_flags(0));
        work?;
        graph
            .map_err(drv("cuStreamEndCapture/cuGraphInstantiate"))?
            .ok_or_else(|| GpuError::Driver { what: "cuStreamEndCapture".into(), msg: "empty graph".into() })
    }
}
