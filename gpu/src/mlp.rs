//! Dense layers on the GPU: y = act(x·Wᵀ + b) as one cuBLASLt matmul whose epilogue adds the bias and
//! applies ReLU ([`crate::lt`]), or, where cuBLASLt is missing, finds no algorithm or is switched off,
//! one cuBLAS SGEMM followed by a small bias + activation kernel (`bias_act` in `cu/ops.cu`). Sigmoid
//! layers take the epilogue's bias and then the kernel's sigmoid. Rows of x and y may be strided, so a
//! layer can read from and write into columns of a wider matrix (the feature matrix of a model).

use crate::ceiling::GemmMath;
use crate::device::{Device, Source, BLOCK_THREADS};
use crate::error::{blas, drv, GpuError, Result};
use crate::lt::Lt;
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg};
use hercules_kernels::mlp::Activation;
use std::sync::Arc;

/// A cuBLAS handle (and a cuBLASLt one, where the library loads) bound to one stream.
pub struct Blas {
    inner: CudaBlas,
    stream: Arc<CudaStream>,
    lt: std::result::Result<Lt, String>,
    fused: bool,
    math: GemmMath,
    // Declared after the handles, so it is freed after the handles that may use it are destroyed.
    workspace: Option<CudaSlice<u8>>,
    workspace_ptr: u64,
}

impl Blas {
    /// A handle whose work goes to `stream` (FP32 math: no TF32 unless asked for; the cuBLASLt
    /// epilogue on where cuBLASLt loads).
    pub fn new(stream: Arc<CudaStream>) -> Result<Self> {
        let inner = CudaBlas::new(stream.clone()).map_err(blas("cublasCreate"))?;
        let lt = Lt::new(stream.clone()).map_err(|e| e.to_string());
        Ok(Self { inner, stream, lt, fused: true, math: GemmMath::Fp32, workspace: None, workspace_ptr: 0 })
    }

    /// Uses the cuBLASLt epilogue where it can (on by default), or always the SGEMM + `bias_act`
    /// kernel (the A/B of `hercules kernels --device cuda --op mlp`).
    pub fn set_fused_epilogue(&mut self, on: bool) {
        self.fused = on;
    }

    /// Why a layer on this handle took (or would take) the SGEMM + kernel path: cuBLASLt missing, the
    /// epilogue switched off, or the first shape cuBLASLt found no algorithm for; None where every
    /// layer so far ran through the epilogue.
    pub fn fallback_reason(&self) -> Option<String> {
        match &self.lt {
            _ if !self.fused => Some("the cuBLASLt epilogue is switched off".into()),
            Err(e) => Some(e.clone()),
            Ok(lt) => lt.first_failure(),
        }
    }

    /// The math of this handle's GEMMs: FP32, TF32 or BF16 tensor cores (FP32 accumulation). The
    /// cuBLASLt layers compute in exactly that; the SGEMM calls (fallback layers, batched attention
    /// GEMMs) have no BF16 mode and use TF32 for it.
    pub fn set_math(&mut self, math: GemmMath) -> Result<()> {
        self.set_tf32(math != GemmMath::Fp32)?;
        self.math = math;
        Ok(())
    }

    /// The math set by [`Blas::set_math`].
    pub fn math(&self) -> GemmMath {
        self.math
    }

    /// Gives the handle a workspace of its own of `bytes` (cublasSetWorkspace), so that cuBLAS never
    /// allocates inside a call — which CUDA graph capture requires. 32 MiB covers Hopper's kernels.
    pub fn set_workspace(&mut self, bytes: usize) -> Result<()> {
        let ws = self.stream.alloc_zeros::<u8>(bytes.max(256)).map_err(drv("alloc cuBLAS workspace"))?;
        let (ptr, guard) = ws.device_ptr(&self.stream);
        // SAFETY: the handle is valid for the life of `inner`; `ws` holds `ws.len()` bytes and is kept in
        // `self.workspace`, which is dropped after `inner` (field order), so it outlives every use.
        unsafe {
            cudarc::cublas::sys::cublasSetWorkspace_v2(
                *self.inner.handle(),
                ptr as *mut std::ffi::c_void,
                ws.len(),
            )
        }
        .result()
        .map_err(blas("cublasSetWorkspace"))?;
        drop(guard);
        self.workspace_ptr = ws.device_ptr(&self.stream).0;
        self.workspace = Some(ws);
        Ok(())
    }

    /// Bytes of the handle's own workspace (0 when cuBLAS manages its own).
    pub fn workspace_bytes(&self) -> usize {
        self.workspace.as_ref().map_or(0, CudaSlice::len)
    }

    /// Allows (or forbids) TF32 tensor-core math for the SGEMM calls on this handle.
    fn set_tf32(&self, on: bool) -> Result<()> {
        use cudarc::cublas::sys::cublasMath_t;
        let mode =
            if on { cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH } else { cublasMath_t::CUBLAS_DEFAULT_MATH };
        // SAFETY: the handle is valid for the life of `inner`; setting the math mode has no other effect.
        unsafe { cudarc::cublas::sys::cublasSetMathMode(*self.inner.handle(), mode) }
            .result()
            .map_err(blas("cublasSetMathMode"))
    }

    /// The stream the handle's work goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The cudarc handle.
    pub fn inner(&self) -> &CudaBlas {
        &self.inner
    }
}

/// Raw device addresses and row strides of a layer's input and output.
#[derive(Debug, Clone, Copy)]
pub struct Strided {
    /// Address of element (0, 0).
    pub ptr: u64,
    /// Floats between consecutive rows (≥ the row's width).
    pub ld: usize,
}

/// The activation's code in `bias_act`.
pub fn act_code(a: Activation) -> u32 {
    match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Sigmoid => 2,
    }
}

/// Blocks for an elementwise kernel over `n` values at 256 threads (grid-stride, capped).
pub fn elementwise_blocks(n: usize) -> u32 {
    n.div_ceil(BLOCK_THREADS as usize).clamp(1, 65_535) as u32
}

/// The cuBLAS column-major call computing row-major y[m, n] = x[m, k] · W[n, k]ᵀ with row strides
/// ldx, ldw (= k) and ldy: C(n×m) = op(A)ᵀ·B with A = W (lda = k), B = x (ldb = ldx), C = y (ldc = ldy).
pub fn gemm_config(m: usize, k: usize, n: usize, ldx: usize, ldy: usize) -> Result<GemmConfig<f32>> {
    let c = |v: usize, what: &str| {
        i32::try_from(v)
            .map_err(|_| GpuError::Invalid(format!("{what} = {v} is beyond cuBLAS' 32-bit sizes")))
    };
    if ldx < k || ldy < n {
        return Err(GpuError::Invalid(format!("row strides ldx {ldx} < k {k} or ldy {ldy} < n {n}")));
    }
    Ok(GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_T,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: c(n, "n")?,
        n: c(m, "m")?,
        k: c(k, "k")?,
        alpha: 1.0,
        lda: c(k, "k")?,
        ldb: c(ldx, "ldx")?,
        beta: 0.0,
        ldc: c(ldy, "ldy")?,
    })
}

/// `batch` independent products y_i[m × n] = x_i[m × k] · W_iᵀ (row-major, packed rows) in one cuBLAS
/// strided-batched SGEMM: W_i at `w + i·n·k`, x_i at `x + i·x_stride`, y_i at `y + i·y_stride` floats.
///
/// # Safety
/// Every W_i, x_i and y_i must be inside live device buffers until the stream's work ends; no y_i may
/// overlap an x_i or W_i.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_batched_raw(
    blas_h: &Blas,
    w: u64,
    x: u64,
    x_stride: usize,
    y: u64,
    y_stride: usize,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
) -> Result<()> {
    if batch == 0 || m == 0 {
        return Ok(());
    }
    if x_stride < m * k || y_stride < m * n {
        return Err(GpuError::Invalid(format!(
            "batched GEMM strides {x_stride}/{y_stride} below the {m}×{k} input / {m}×{n} output"
        )));
    }
    let gemm = gemm_config(m, k, n, k, n)?;
    let c = |v: usize, what: &str| {
        i64::try_from(v).map_err(|_| GpuError::Invalid(format!("{what} = {v} is beyond 64-bit strides")))
    };
    let cfg = StridedBatchedConfig {
        gemm,
        batch_size: i32::try_from(batch).map_err(|_| {
            GpuError::Invalid(format!("batch of {batch} GEMMs is beyond cuBLAS' 32-bit sizes"))
        })?,
        stride_a: c(n * k, "weight stride")?,
        stride_b: c(x_stride, "input stride")?,
        stride_c: c(y_stride, "output stride")?,
    };
    let st = blas_h.stream.clone();
    let wv = RawView { ptr: w, len: batch * n * k, stream: st.clone() };
    let xv = RawView { ptr: x, len: (batch - 1) * x_stride + m * k, stream: st.clone() };
    let mut yv = RawView { ptr: y, len: (batch - 1) * y_stride + m * n, stream: st };
    // SAFETY: the configuration describes exactly the extents above, which the caller guarantees.
    unsafe { blas_h.inner.gemm_strided_batched(cfg, &wv, &xv, &mut yv) }
        .map_err(blas("cublasSgemmStridedBatched"))
}

/// A fully connected layer with PyTorch-layout weights [n, k] on the device.
pub struct GpuLinear {
    w: CudaSlice<f32>,
    b: Option<CudaSlice<f32>>,
    // Raw addresses of `w` and `b` (0 = no bias), taken once at upload: the forward passes no tracked
    // slice to cudarc, so no event waits or records are enqueued (which stream capture would reject).
    w_ptr: u64,
    b_ptr: u64,
    k: usize,
    n: usize,
    act: Activation,
    bias_act: CudaFunction,
}

/// A device view of `len` floats at a raw address, for cuBLAS (which takes DevicePtr arguments).
pub(crate) struct RawView {
    pub(crate) ptr: u64,
    pub(crate) len: usize,
    pub(crate) stream: Arc<CudaStream>,
}

impl cudarc::driver::DeviceSlice<f32> for RawView {
    fn len(&self) -> usize {
        self.len
    }
    fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
}

impl DevicePtr<f32> for RawView {
    fn device_ptr<'a>(&'a self, _stream: &'a CudaStream) -> (u64, cudarc::driver::SyncOnDrop<'a>) {
        (self.ptr, cudarc::driver::SyncOnDrop::Sync(None))
    }
}

impl cudarc::driver::DevicePtrMut<f32> for RawView {
    fn device_ptr_mut<'a>(&'a mut self, _stream: &'a CudaStream) -> (u64, cudarc::driver::SyncOnDrop<'a>) {
        (self.ptr, cudarc::driver::SyncOnDrop::Sync(None))
    }
}

impl GpuLinear {
    /// Uploads weight [n, k] (row-major, PyTorch layout) and optional bias [n].
    pub fn new(
        dev: &Device,
        weight: &[f32],
        bias: Option<&[f32]>,
        k: usize,
        n: usize,
        act: Activation,
    ) -> Result<Self> {
        if k == 0 || n == 0 || weight.len() != k * n || bias.is_some_and(|b| b.len() != n) {
            return Err(GpuError::Invalid(format!(
                "linear layer {k}→{n}: weight has {} values, bias {:?}",
                weight.len(),
                bias.map(<[f32]>::len)
            )));
        }
        let s = dev.stream();
        let w = s.clone_htod(weight).map_err(drv("upload weights"))?;
        let b = bias.map(|b| s.clone_htod(b)).transpose().map_err(drv("upload bias"))?;
        let bias_act = dev.function(Source::Ops, "bias_act")?;
        s.synchronize().map_err(drv("upload layer"))?;
        let w_ptr = w.device_ptr(s).0;
        let b_ptr = b.as_ref().map_or(0, |b| b.device_ptr(s).0);
        Ok(Self { w, b, w_ptr, b_ptr, k, n, act, bias_act })
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output width.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The fused activation.
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// FLOPs of one forward pass over `m` rows (2·m·k·n).
    pub fn flops(&self, m: usize) -> f64 {
        2.0 * m as f64 * self.k as f64 * self.n as f64
    }

    /// y[m × n] (row stride y.ld) = act(x[m × k] (row stride x.ld) · Wᵀ + b), enqueued on the handle's
    /// stream.
    ///
    /// # Safety
    /// `x` must address m rows of k floats at stride x.ld, `y` m rows of n floats at stride y.ld, both
    /// alive until the work ends, and they must not overlap.
    pub unsafe fn forward_raw(&self, blas_h: &Blas, x: Strided, m: usize, y: Strided) -> Result<()> {
        if m == 0 {
            return Ok(());
        }
        if let (true, Ok(lt)) = (blas_h.fused, &blas_h.lt) {
            let relu = self.act == Activation::Relu;
            let (ws, ws_bytes) = (blas_h.workspace_ptr, blas_h.workspace_bytes());
            // SAFETY: W is n × k and the bias n floats as uploaded (alive as long as `self`); x, y are
            // the caller's promise; the workspace belongs to this handle's stream.
            let fused = unsafe {
                lt.linear(blas_h.math, self.w_ptr, self.k, self.n, self.b_ptr, relu, x, m, y, ws, ws_bytes)
            };
            // An error means no plan for this shape (kept, so it falls back at once next time).
            if fused.is_ok() {
                // SAFETY: y as promised by the caller; no bias.
                return if self.act == Activation::Sigmoid {
                    unsafe { self.bias_act(blas_h, m, y, 0) }
                } else {
                    Ok(())
                };
            }
        }
        let cfg = gemm_config(m, self.k, self.n, x.ld, y.ld)?;
        let wv = RawView { ptr: self.w_ptr, len: self.w.len(), stream: blas_h.stream.clone() };
        let xv = RawView { ptr: x.ptr, len: (m - 1) * x.ld + self.k, stream: blas_h.stream.clone() };
        let mut yv = RawView { ptr: y.ptr, len: (m - 1) * y.ld + self.n, stream: blas_h.stream.clone() };
        // SAFETY: sizes and strides in `cfg` match the buffers (the caller's promise for x and y; W is
        // n × k as uploaded and lives as long as `self`).
        unsafe { blas_h.inner.gemm(cfg, &wv, &xv, &mut yv) }.map_err(blas("cublasSgemm"))?;
        if self.b.is_none() && self.act == Activation::None {
            return Ok(());
        }
        // SAFETY: y as promised by the caller; the bias holds n floats as uploaded.
        unsafe { self.bias_act(blas_h, m, y, self.b_ptr) }
    }

    /// y = act(y + bias) over m rows of n (bias 0: none), enqueued on the handle's stream.
    ///
    /// # Safety
    /// `y` must address m rows of n floats at stride y.ld, alive until the work ends; `bias` n floats.
    unsafe fn bias_act(&self, blas_h: &Blas, m: usize, y: Strided, bias: u64) -> Result<()> {
        let stream = &blas_h.stream;
        let (mm, nn, ld, act) = (m as u32, self.n as u32, y.ld as u32, act_code(self.act));
        let cfg = LaunchConfig {
            grid_dim: (elementwise_blocks(m * self.n), 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = stream.launch_builder(&self.bias_act);
        b.arg(&y.ptr).arg(&bias).arg(&mm).arg(&nn).arg(&ld).arg(&act);
        // SAFETY: bias_act touches y[r·ld + c] for r < m, c < n (inside y, the caller's promise) and
        // bias[c] for c < n; the arguments match its signature.
        unsafe { b.launch(cfg) }.map_err(drv("bias_act launch"))?;
        Ok(())
    }

    /// Runs the layer synchronously on host data: x is m × k, returns m × n.
    pub fn forward_host(&self, blas_h: &Blas, x: &[f32], m: usize) -> Result<Vec<f32>> {
        if x.len() != m * self.k {
            return Err(GpuError::Invalid(format!(
                "input has {} floats, {m} × {} expected",
                x.len(),
                self.k
            )));
        }
        if m == 0 {
            return Ok(Vec::new());
        }
        let s = blas_h.stream.clone();
        let dx = s.clone_htod(x).map_err(drv("upload input"))?;
        let dy = s.alloc_zeros::<f32>(m * self.n).map_err(drv("alloc output"))?;
        {
            let (xp, _gx) = dx.device_ptr(&s);
            let (yp, _gy) = dy.device_ptr(&s);
            // SAFETY: dx holds m × k and dy m × n floats, both alive past the synchronising copy below.
            unsafe {
                self.forward_raw(blas_h, Strided { ptr: xp, ld: self.k }, m, Strided { ptr: yp, ld: self.n })
            }?;
        }
        s.clone_dtoh(&dy).map_err(drv("download output"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::tests::device_or_skip;
    use hercules_kernels::mlp::Linear;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn gemm_config_maps_row_major_to_cublas() {
        let c = gemm_config(5, 7, 3, 9, 4).unwrap();
        assert_eq!((c.m, c.n, c.k, c.lda, c.ldb, c.ldc), (3, 5, 7, 7, 9, 4));
        assert_eq!(c.transa, cublasOperation_t::CUBLAS_OP_T);
        assert_eq!(c.transb, cublasOperation_t::CUBLAS_OP_N);
        assert!(gemm_config(5, 7, 3, 6, 4).is_err());
        assert!(gemm_config(5, 7, 3, 7, 2).is_err());
    }

    #[test]
    fn elementwise_grid() {
        assert_eq!(elementwise_blocks(0), 1);
        assert_eq!(elementwise_blocks(257), 2);
        assert_eq!(elementwise_blocks(1 << 40), 65_535);
        assert_eq!(act_code(Activation::Sigmoid), 2);
    }

    #[test]
    fn gpu_linear_matches_cpu_layer() {
        let Some(dev) = device_or_skip() else { return };
        let mut blas_h = Blas::new(dev.stream().clone()).unwrap();
        blas_h.set_workspace(32 << 20).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        for (&(m, k, n), fused) in [(1, 13, 512), (7, 64, 33), (64, 256, 128), (100, 479, 1), (3, 1, 5)]
            .iter()
            .flat_map(|s| [(s, true), (s, false)])
        {
            blas_h.set_fused_epilogue(fused);
            for act in Activation::ALL {
                let w: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
                let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
                let x: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
                let g = GpuLinear::new(&dev, &w, Some(&b), k, n, act).unwrap();
                let y = g.forward_host(&blas_h, &x, m).unwrap();
                let cpu = Linear::new(&w, Some(&b), k, n, act).unwrap();
                let mut e = vec![0f32; m * n];
                cpu.forward(&x, m, &mut e).unwrap();
                for r in 0..m {
                    for c in 0..n {
                        let mag: f64 =
                            (0..k).map(|i| f64::from((x[r * k + i] * w[c * k + i]).abs())).sum::<f64>()
                                + f64::from(b[c].abs());
                        let (gv, ev) = (y[r * n + c], e[r * n + c]);
                        assert!(
                            (f64::from(gv) - f64::from(ev)).abs() <= 1e-5 * mag + 1e-7,
                            "m{m} k{k} n{n} {act:?} fused {fused} [{r},{c}]: gpu {gv} cpu {ev}"
                        );
                    }
                }
            }
            if fused {
                println!("m{m} k{k} n{n}: epilogue fallback {:?}", blas_h.fallback_reason());
            }
        }
    }

    /// A layer reading from and writing into columns of wider matrices, at addresses only 4-byte
    /// aligned (as the models' feature matrices have them): both paths, the columns around untouched.
    #[test]
    fn strided_unaligned_layers_match_the_cpu() {
        let Some(dev) = device_or_skip() else { return };
        let mut blas_h = Blas::new(dev.stream().clone()).unwrap();
        blas_h.set_workspace(32 << 20).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let (m, k, n, ldx, ldy, ox, oy) = (37, 45, 29, 52, 41, 3, 5);
        let w: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
        let xs: Vec<f32> = (0..m * ldx).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let x: Vec<f32> = (0..m).flat_map(|r| xs[r * ldx + ox..r * ldx + ox + k].to_vec()).collect();
        for fused in [true, false] {
            blas_h.set_fused_epilogue(fused);
            for act in Activation::ALL {
                let g = GpuLinear::new(&dev, &w, Some(&b), k, n, act).unwrap();
                let s = blas_h.stream().clone();
                let dx = s.clone_htod(&xs).unwrap();
                let dy = s.clone_htod(&vec![-7f32; m * ldy]).unwrap();
                {
                    let (xp, _gx) = dx.device_ptr(&s);
                    let (yp, _gy) = dy.device_ptr(&s);
                    let (xs_, ys_) = (
                        Strided { ptr: xp + 4 * ox as u64, ld: ldx },
                        Strided { ptr: yp + 4 * oy as u64, ld: ldy },
                    );
                    // SAFETY: m rows at those strides and offsets fit both buffers, alive past the copy.
                    unsafe { g.forward_raw(&blas_h, xs_, m, ys_) }.unwrap();
                }
                let y = s.clone_dtoh(&dy).unwrap();
                let cpu = Linear::new(&w, Some(&b), k, n, act).unwrap();
                let mut e = vec![0f32; m * n];
                cpu.forward(&x, m, &mut e).unwrap();
                for r in 0..m {
                    for c in 0..ldy {
                        let got = y[r * ldy + c];
                        if c < oy || c >= oy + n {
                            assert_eq!(got, -7.0, "fused {fused} {act:?}: column {c} of row {r} was written");
                        } else {
                            let want = e[r * n + c - oy];
                            assert!(
                                (got - want).abs() <= 1e-4,
                                "fused {fused} {act:?} [{r},{c}]: {got} vs {want}"
                            );
                        }
                    }
                }
            }
            println!("strided layer, fused {fused}: fallback {:?}", blas_h.fallback_reason());
        }
    }
}
