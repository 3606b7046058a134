//! Dense layers through cuBLASLt: y = act(x·Wᵀ + b) as one matmul whose epilogue adds the bias and
//! applies ReLU, instead of an SGEMM followed by the `bias_act` kernel (which stays as the fallback:
//! where cuBLASLt cannot be loaded or finds no algorithm for a shape, and for sigmoid, which cuBLASLt
//! has no epilogue for). The math is FP32, TF32 or BF16 tensor cores with FP32 accumulation.
//!
//! Descriptors and the algorithm are chosen once per (shape, strides, pointer alignment, epilogue,
//! bias, math) and kept: the heuristic query costs host time a forward pass should not pay, and a
//! CUDA graph capture must not meet a first-time query.

use crate::ceiling::GemmMath;
use crate::error::{GpuError, Result};
use crate::mlp::Strided;
use cudarc::cublaslt::result as lr;
use cudarc::cublaslt::sys;
use cudarc::driver::CudaStream;
use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::size_of;
use std::panic::catch_unwind;
use std::sync::{Arc, Mutex};

/// What the epilogue does after the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Epilogue {
    /// y = x·Wᵀ.
    None,
    /// y = x·Wᵀ + b.
    Bias,
    /// y = max(x·Wᵀ, 0).
    Relu,
    /// y = max(x·Wᵀ + b, 0).
    ReluBias,
}

impl Epilogue {
    /// The epilogue for an optional bias and whether ReLU follows.
    pub fn of(bias: bool, relu: bool) -> Self {
        match (bias, relu) {
            (false, false) => Epilogue::None,
            (true, false) => Epilogue::Bias,
            (false, true) => Epilogue::Relu,
            (true, true) => Epilogue::ReluBias,
        }
    }

    fn code(self) -> sys::cublasLtEpilogue_t {
        match self {
            Epilogue::None => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_DEFAULT,
            Epilogue::Bias => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS,
            Epilogue::Relu => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_RELU,
            Epilogue::ReluBias => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_RELU_BIAS,
        }
    }
}

/// The compute type of `math` (inputs and output stay FP32 in memory).
fn compute_type(math: GemmMath) -> sys::cublasComputeType_t {
    match math {
        GemmMath::Fp32 => sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
        GemmMath::Tf32 => sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        GemmMath::Bf16 => sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_16BF,
    }
}

/// The largest power of two (at most 256) dividing `addr`: the alignment cuBLASLt may assume.
pub fn alignment(addr: u64) -> u32 {
    if addr == 0 {
        256
    } else {
        (1u64 << addr.trailing_zeros().min(8)) as u32
    }
}

/// Everything a plan depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PlanKey {
    m: usize,
    k: usize,
    n: usize,
    ldx: usize,
    ldy: usize,
    align_w: u32,
    align_x: u32,
    align_y: u32,
    epilogue: Epilogue,
    bias: u64,
    math: GemmMath,
    workspace: usize,
}

/// The descriptors and algorithm of one planned matmul.
struct Plan {
    desc: sys::cublasLtMatmulDesc_t,
    a: sys::cublasLtMatrixLayout_t,
    b: sys::cublasLtMatrixLayout_t,
    c: sys::cublasLtMatrixLayout_t,
    algo: sys::cublasLtMatmulAlgo_t,
}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: each descriptor was created once in `Lt::plan` and is destroyed once, here.
        unsafe {
            let _ = lr::destroy_matrix_layout(self.c);
            let _ = lr::destroy_matrix_layout(self.b);
            let _ = lr::destroy_matrix_layout(self.a);
            let _ = lr::destroy_matmul_desc(self.desc);
        }
    }
}

/// A cuBLASLt handle bound to a stream, with the plans it has made (a failed plan is kept as its
/// error, so the caller falls back at once on the next call of the same shape).
pub struct Lt {
    handle: sys::cublasLtHandle_t,
    stream: Arc<CudaStream>,
    plans: Mutex<HashMap<PlanKey, std::result::Result<Plan, String>>>,
}

// SAFETY: the handle is used only under the stream's ordering, cuBLASLt handles may be used from any
// thread, and the descriptors behind the mutex are only read by cuBLASLt calls.
unsafe impl Send for Lt {}
// SAFETY: as above; the plan map is behind a mutex.
unsafe impl Sync for Lt {}

impl Drop for Lt {
    fn drop(&mut self) {
        if let Ok(p) = self.plans.get_mut() {
            p.clear();
        }
        // SAFETY: created once in `Lt::new`, destroyed once, after every plan made with it.
        unsafe {
            let _ = lr::destroy_handle(self.handle);
        }
    }
}

impl Lt {
    /// A handle whose matmuls go to `stream`; an error (one line) where libcublasLt cannot be loaded.
    pub fn new(stream: Arc<CudaStream>) -> Result<Self> {
        // SAFETY: only tries dlopen on cudarc's candidate names.
        let present = catch_unwind(|| unsafe { sys::is_culib_present() }).unwrap_or(false);
        if !present {
            let msg = "libcublasLt.so cannot be loaded".to_string();
            return Err(GpuError::Blas { what: "cublasLtCreate".into(), msg });
        }
        let handle = catch_unwind(lr::create_handle)
            .map_err(|_| GpuError::Blas {
                what: "cublasLtCreate".into(),
                msg: "libcublasLt lacks a symbol cudarc needs".into(),
            })?
            .map_err(|e| GpuError::Blas { what: "cublasLtCreate".into(), msg: format!("{e:?}") })?;
        Ok(Self { handle, stream, plans: Mutex::new(HashMap::new()) })
    }

    /// y[m × n] (row stride y.ld) = epilogue(x[m × k] (row stride x.ld) · Wᵀ, b), W [n, k] row-major at
    /// `w`, `bias` n floats (0 = none), enqueued on the handle's stream; `workspace` bytes at `ws` may be
    /// used. An error leaves y untouched and means: take the fallback.
    ///
    /// # Safety
    /// `w`, `x`, `y` and `bias` must address live device buffers of those extents until the stream's
    /// work ends, `ws` `workspace` bytes no other work on another stream uses, and y must not overlap
    /// the inputs.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn linear(
        &self,
        math: GemmMath,
        w: u64,
        k: usize,
        n: usize,
        bias: u64,
        relu: bool,
        x: Strided,
        m: usize,
        y: Strided,
        ws: u64,
        workspace: usize,
    ) -> Result<()> {
        let key = PlanKey {
            m,
            k,
            n,
            ldx: x.ld,
            ldy: y.ld,
            align_w: alignment(w),
            align_x: alignment(x.ptr),
            align_y: alignment(y.ptr),
            epilogue: Epilogue::of(bias != 0, relu),
            bias,
            math,
            workspace,
        };
        let mut plans =
            self.plans.lock().map_err(|_| GpuError::Invalid("cuBLASLt plan cache poisoned".into()))?;
        let plan = plans.entry(key).or_insert_with(|| self.plan(&key).map_err(|e| e.to_string()));
        let p = match plan {
            Ok(p) => p,
            Err(e) => return Err(GpuError::Blas { what: "cublasLt plan".into(), msg: e.clone() }),
        };
        let (alpha, beta) = (1.0f32, 0.0f32);
        // SAFETY: the plan's layouts describe W (k × n, ld k), x (k × m, ld x.ld) and y (n × m, ld y.ld)
        // in cuBLAS' column-major view, the extents the caller promises; alpha/beta are host f32.
        unsafe {
            lr::matmul(
                self.handle,
                p.desc,
                (&alpha as *const f32).cast(),
                (&beta as *const f32).cast(),
                w as *const c_void,
                p.a,
                x.ptr as *const c_void,
                p.b,
                y.ptr as *const c_void,
                p.c,
                y.ptr as *mut c_void,
                p.c,
                &p.algo,
                ws as *mut c_void,
                workspace,
                self.stream.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(|e| GpuError::Blas { what: "cublasLtMatmul".into(), msg: format!("{e:?}") })
    }

    /// Builds the descriptors for `key` and asks the heuristic for its best algorithm.
    fn plan(&self, key: &PlanKey) -> Result<Plan> {
        let bl = |what: &'static str| {
            move |e: lr::CublasError| GpuError::Blas { what: what.into(), msg: format!("{e:?}") }
        };
        let dim = |v: usize| u64::try_from(v).map_err(|_| GpuError::Invalid(format!("size {v}")));
        let ld = |v: usize| i64::try_from(v).map_err(|_| GpuError::Invalid(format!("stride {v}")));
        let f32t = sys::cudaDataType_t::CUDA_R_32F;
        let desc =
            lr::create_matmul_desc(compute_type(key.math), f32t).map_err(bl("cublasLtMatmulDescCreate"))?;
        // Built field by field so that Drop frees whatever was created if a later step fails.
        let mut plan = Plan {
            desc,
            a: std::ptr::null_mut(),
            b: std::ptr::null_mut(),
            c: std::ptr::null_mut(),
            // SAFETY: a plain C struct of integers; overwritten by the heuristic's choice below.
            algo: unsafe { std::mem::zeroed() },
        };
        // Row-major y = x·Wᵀ is column-major yᵀ(n × m) = op(W)(n × k) · xᵀ(k × m) with op = transpose.
        plan.a = lr::create_matrix_layout(f32t, dim(key.k)?, dim(key.n)?, ld(key.k)?)
            .map_err(bl("cublasLtMatrixLayoutCreate"))?;
        plan.b = lr::create_matrix_layout(f32t, dim(key.k)?, dim(key.m)?, ld(key.ldx)?)
            .map_err(bl("cublasLtMatrixLayoutCreate"))?;
        plan.c = lr::create_matrix_layout(f32t, dim(key.n)?, dim(key.m)?, ld(key.ldy)?)
            .map_err(bl("cublasLtMatrixLayoutCreate"))?;
        let set = |attr: sys::cublasLtMatmulDescAttributes_t, ptr: *const c_void, size: usize| {
            // SAFETY: `desc` is live; `ptr` points at `size` bytes of the attribute's C type.
            unsafe { lr::set_matmul_desc_attribute(desc, attr, ptr, size) }
                .map_err(bl("cublasLtMatmulDescSetAttribute"))
        };
        let (op_t, op_n) = (1i32, 0i32); // cublasOperation_t: CUBLAS_OP_T, CUBLAS_OP_N
        set(
            sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
            (&op_t as *const i32).cast(),
            size_of::<i32>(),
        )?;
        set(
            sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB,
            (&op_n as *const i32).cast(),
            size_of::<i32>(),
        )?;
        let epi = key.epilogue.code();
        set(
            sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_EPILOGUE,
            (&epi as *const sys::cublasLtEpilogue_t).cast(),
            size_of::<sys::cublasLtEpilogue_t>(),
        )?;
        if key.bias != 0 {
            set(
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                (&key.bias as *const u64).cast(),
                size_of::<u64>(),
            )?;
        }
        let pref = Pref(lr::create_matmul_pref().map_err(bl("cublasLtMatmulPreferenceCreate"))?);
        let pset = |attr: sys::cublasLtMatmulPreferenceAttributes_t, ptr: *const c_void, size: usize| {
            // SAFETY: `pref` is live; `ptr` points at `size` bytes of the attribute's C type.
            unsafe { lr::set_matmul_pref_attribute(pref.0, attr, ptr, size) }
                .map_err(bl("cublasLtMatmulPreferenceSetAttribute"))
        };
        use sys::cublasLtMatmulPreferenceAttributes_t as P;
        let ws = key.workspace as u64;
        pset(P::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, (&ws as *const u64).cast(), size_of::<u64>())?;
        // The pointers' real alignment: the default (256 bytes) would let the heuristic pick an
        // algorithm that faults on a layer writing into the middle of a wider feature matrix.
        for (attr, a) in [
            (P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_w),
            (P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_x),
            (P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_y),
            (P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_y),
        ] {
            pset(attr, (&a as *const u32).cast(), size_of::<u32>())?;
        }
        // SAFETY: every descriptor is live; the heuristic only reads them.
        let h = unsafe {
            lr::get_matmul_algo_heuristic(self.handle, desc, plan.a, plan.b, plan.c, plan.c, pref.0)
        }
        .map_err(bl("cublasLtMatmulAlgoGetHeuristic (no algorithm for this shape)"))?;
        plan.algo = h.algo;
        Ok(plan)
    }

    /// Plans made (or failed) so far.
    pub fn plan_count(&self) -> usize {
        self.plans.lock().map_or(0, |p| p.len())
    }

    /// The first reason a plan failed, if one did.
    pub fn first_failure(&self) -> Option<String> {
        self.plans.lock().ok()?.values().find_map(|p| p.as_ref().err().cloned())
    }
}

/// A matmul preference, destroyed on drop.
struct Pref(sys::cublasLtMatmulPreference_t);

impl Drop for Pref {
    fn drop(&mut self) {
        // SAFETY: created once in `Lt::plan`, destroyed once here.
        unsafe {
            let _ = lr::destroy_matmul_pref(self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignments_and_epilogues() {
        assert_eq!(alignment(0x1000), 256);
        assert_eq!(alignment(0x1004), 4);
        assert_eq!(alignment(0x1010), 16);
        assert_eq!(Epilogue::of(true, true), Epilogue::ReluBias);
        assert_eq!(Epilogue::of(false, false), Epilogue::None);
        assert_eq!(Epilogue::of(true, false).code(), sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS);
    }
}
