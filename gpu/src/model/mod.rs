//! Whole-model forward on the GPU for every zoo model: DLRM-style (bottom MLP, embeddings, cat or dot
//! interaction, top MLP, multi-task heads), DCNv2 cross layers (MLPerf DLRM v2), and the blocks of
//! DIN (attention units), DIEN (tanh RNN layers with FC + softmax + add between them) and NCF (MF sum
//! and MLP branch). Built from the same weights as the CPU model (`hercules-models`: same parameter
//! names, same seeded or checkpointed values, tables quantised by the same code), run by
//! [`GpuRunner`]s that each own a CUDA stream, cuBLAS handle (with its own workspace), pinned host
//! buffers and device workspace, so several queries can overlap on one device.
//!
//! One forward: the query's dense features, bag offsets and indices are packed into one pinned host
//! buffer and copied in one transfer; then the device work: bottom MLP (its last layer writing straight
//! into the feature matrix x0), one table-batched embedding launch (into x0's table columns, or for a
//! model with blocks into a pooled matrix whose table columns are then copied into x0), the blocks
//! (writing into their x0 columns), the interaction, the top MLP and heads; then one copy of the output
//! back (and the kernel's index-guard word), and a stream synchronisation. All of it, copies included,
//! is inside [`GpuRunner::forward`].
//!
//! CUDA graphs ([`GpuRunner::set_graphs`], off by default): the device work between the two copies is
//! captured once per (batch size, index width) — after one eager run of that shape, so lazy module
//! loading and cuBLAS' heuristics happen outside capture — and replayed from a bounded cache (the policy
//! is [`crate::graph`]'s). The copies stay outside the graph (their sizes vary with the number of
//! indices); every kernel argument depends only on the batch size, because the staging layout
//! ([`crate::layout`]) puts the variable-length indices last.
//!
//! Files: this one holds the types [`GpuModel`] and [`GpuRunner`] and the tests; `geometry` the
//! model's shapes and tensor names, device-free; `program` one forward's work lowered from them as
//! checked data; `build` builds and uploads a model; `runner` the runner's buffers, the forward and
//! graph capture and replay; `enqueue` the launches of a checked program (the only place the forward
//! passes raw addresses); `emulate` (tests) runs programs on the host. The layout and graph-cache
//! items are re-exported here (`hercules_gpu::model::{feature_layout, GraphCache, ...}`).
//!
//! The math of every block follows the CPU code in `models/src/blocks/` (same operation order in the
//! small kernels; cuBLAS sums the products in its own order).

use crate::ceiling::GemmMath;
use crate::device::{Device, Source, BLOCK_THREADS};
use crate::embedding::{BagPtrs, GpuTables};
use crate::error::{drv, GpuError, Result};
use crate::mlp::{elementwise_blocks, Blas, GpuLinear};
use crate::plan::{bytes_of, input_bags, plan_bags, plan_into, plan_sizes, IndexVec, TableShape};
use cudarc::driver::{
    CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PinnedHostSlice, PushKernelArg,
};
use hercules_kernels::embedding::{EmbeddingTable, Pooling};
use hercules_kernels::mlp::Activation;
use hercules_models::inputs::InputSet;
use hercules_models::spec::Act;
use hercules_models::{ModelPlan, ModelSpec, Scale, WeightSource};
use std::sync::Arc;

mod build;
#[cfg(test)]
mod emulate;
mod enqueue;
mod geometry;
mod program;
mod runner;
#[cfg(test)]
pub(crate) use enqueue::BLOCK_KERNELS;
use geometry::{Geometry, InteractionGeo};
use program::{Buf, Program};

pub use crate::graph::{GraphCache, GraphStep, GRAPH_CACHE, GRAPH_MAX_BATCH};
pub use crate::layout::{
    check_supported, dot_pairs, feature_layout, staging_layout, FeatureLayout, StagingLayout,
};

/// Bytes of the cuBLAS workspace each runner sets on its handle (enough for Hopper's kernels), so that
/// cuBLAS never allocates during a forward, which graph capture needs.
pub const BLAS_WORKSPACE_BYTES: usize = 32 << 20;

fn act(a: Act) -> Activation {
    match a {
        Act::None => Activation::None,
        Act::Relu => Activation::Relu,
        Act::Sigmoid => Activation::Sigmoid,
    }
}

/// Kernels of a model's forward.
struct Kernels {
    copy_cols: CudaFunction,
    dot: CudaFunction,
    din_input: CudaFunction,
    unit_bias_act: CudaFunction,
    sum_units: CudaFunction,
    gather_steps: CudaFunction,
    rnn_step: CudaFunction,
    softmax_add: CudaFunction,
    add_cols: CudaFunction,
    cross_update: CudaFunction,
}

/// The layer at one depth of all DIN attention units, stacked unit after unit: units × n × k weights
/// and units × n biases.
struct UnitLayer {
    w: DevBuf,
    b: DevBuf,
}

/// DLRM's dot-interaction pairs on the device.
struct DevPairs {
    _mem: CudaSlice<u32>,
    ptr: u64,
}

/// A model's weights on the device, shared by its runners.
pub struct GpuModel {
    /// The spec as built (rows scaled).
    pub spec: ModelSpec,
    /// The scale that was applied.
    pub scale: Scale,
    geo: Geometry,
    tables: GpuTables,
    shapes: Vec<TableShape>,
    /// The geometry's dense layers, attention layers and RNN biases, uploaded in its order.
    linears: Vec<GpuLinear>,
    units: Vec<UnitLayer>,
    rnn_biases: Vec<DevBuf>,
    pairs: Option<DevPairs>,
    lookups_per_sample: usize,
    k: Kernels,
}

impl GpuModel {
    /// Width of one output row.
    pub fn output_width(&self) -> usize {
        self.geo.out_width
    }

    /// Bytes of embedding rows on the device.
    pub fn table_bytes(&self) -> usize {
        self.tables.bytes()
    }

    /// A runner with its own stream for batches of up to `max_batch` samples. It holds the model, so it
    /// can live on a serving thread of its own.
    pub fn runner(self: &Arc<Self>, dev: &Device, max_batch: usize) -> Result<GpuRunner> {
        GpuRunner::new(self.clone(), dev, max_batch)
    }
}

/// A device buffer of f32 with its raw address, taken once (launches pass raw addresses only, so
/// nothing cudarc tracks is touched while a graph is captured).
struct DevBuf {
    _mem: CudaSlice<f32>,
    ptr: u64,
}

impl DevBuf {
    /// `floats` zeros (at least one, so every buffer has an address).
    fn zeroed(stream: &Arc<CudaStream>, floats: usize) -> Result<Self> {
        if floats > u32::MAX as usize {
            return Err(GpuError::Invalid(format!(
                "a workspace buffer of {floats} floats is beyond the kernels' 32-bit sizes; use a smaller \
                 max batch"
            )));
        }
        let mem = stream.alloc_zeros::<f32>(floats.max(1)).map_err(drv("alloc workspace"))?;
        let ptr = mem.device_ptr(stream).0;
        Ok(Self { _mem: mem, ptr })
    }

    /// A copy of `v` (asynchronous on `stream`).
    fn upload(stream: &Arc<CudaStream>, v: &[f32], what: &str) -> Result<Self> {
        let mem = stream.clone_htod(v).map_err(drv(what))?;
        let ptr = mem.device_ptr(stream).0;
        Ok(Self { _mem: mem, ptr })
    }
}

/// Bytes per index.
fn lay_ib(wide: bool) -> usize {
    if wide {
        8
    } else {
        4
    }
}

/// `v` as a kernel's u32 argument, or an error naming it.
fn u32c(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| GpuError::Invalid(format!("{what} = {v} is beyond the kernels' 32-bit sizes")))
}

/// Per-stream state that runs one query at a time on a [`GpuModel`].
pub struct GpuRunner {
    // Dropped first: the graphs reference the buffers and the stream below.
    graphs: GraphCache<CudaGraph>,
    model: Arc<GpuModel>,
    stream: Arc<CudaStream>,
    blas: Blas,
    cap: usize,
    /// The last batch size's checked program (serving repeats sizes).
    program: Option<Program>,
    staging: PinnedHostSlice<u8>,
    staging_ptr: *mut u8,
    input: CudaSlice<u8>,
    input_ptr: u64,
    /// Every buffer of [`Buf`] but the dense input, each of `Geometry::floats` for the capacity.
    x0: DevBuf,
    pooled: DevBuf,
    inter: DevBuf,
    mlp: [DevBuf; 2],
    top_out: DevBuf,
    out: DevBuf,
    scratch: [DevBuf; 4],
    out_host: PinnedHostSlice<f32>,
    out_host_ptr: *mut f32,
    err_host: PinnedHostSlice<u64>,
    err_host_ptr: *mut u64,
}

// SAFETY: the raw pointers address the pinned buffers owned by the same struct, and the graphs are
// graph objects of this runner alone; a runner is used by one thread at a time (&mut self for every
// forward and every graph call), which is all CUDA asks of graph objects.
unsafe impl Send for GpuRunner {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::tests::device_or_skip;
    use hercules_models::inputs::{IndexDist, InputGen};
    use hercules_models::{zoo, ForwardOpts, Init, Model, Workspace};

    #[test]
    fn models_and_runners_can_move_to_serving_threads() {
        fn shared<T: Send + Sync>() {}
        fn owned<T: Send>() {}
        shared::<GpuModel>();
        owned::<GpuRunner>();
    }

    /// max |g − w| / max |w| over a batch (normwise relative error: elementwise relative error means
    /// nothing for logits near zero).
    fn rel_err(got: &[f32], want: &[f32]) -> f64 {
        let num = got.iter().zip(want).map(|(g, w)| f64::from((g - w).abs())).fold(0.0, f64::max);
        let den = want.iter().map(|w| f64::from(w.abs())).fold(0.0, f64::max).max(1e-30);
        num / den
    }

    #[test]
    fn gpu_forward_matches_cpu_model() {
        let Some(dev) = device_or_skip() else { return };
        let scale = Scale { rows_scale: 0.001, max_rows: Some(20_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 11 };
        for name in zoo::names() {
            // fp32 throughout (no TF32). The GEMMs sum in another order than the CPU kernels, so the
            // outputs differ by rounding: 1e-5 of the batch's largest output. DIEN runs 2 × 40
            // dependent tanh steps with a softmax (expf, a few ulp off the CPU's) between the layers,
            // each step feeding the last one's rounding differences through W_hh into the next, so
            // they grow with the sequence: 1e-4 there.
            let tol = if name == "dien" { 1e-4 } else { 1e-5 };
            let spec = zoo::resolve(name).unwrap();
            let cpu = Model::build(&spec, scale, &source).unwrap();
            let gpu = Arc::new(GpuModel::build(&dev, &spec, scale, &source).unwrap());
            let mut runner = gpu.runner(&dev, 64).unwrap();
            let mut graphed = gpu.runner(&dev, 64).unwrap();
            graphed.set_graphs(true);
            let mut gen = InputGen::new(IndexDist::Uniform, 3);
            for batch in [1, 17, 64] {
                let input = gen.generate(&cpu.spec, batch).unwrap();
                let ow = cpu.output_width();
                let mut want = vec![0f32; batch * ow];
                let mut ws = Workspace::new(&cpu, batch, 1);
                cpu.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut want).unwrap();
                let mut got = vec![0f32; batch * ow];
                runner.forward(&dev, &input, &mut got).unwrap();
                let e = rel_err(&got, &want);
                println!("{name} batch {batch}: relative error {e:.2e} (bound {tol:e})");
                assert!(e <= tol, "{name} batch {batch}: relative error {e:e} > {tol:e}");
                // Graphs: eager on the first use of a shape, captured on the second, replayed on the
                // third; all three match the eager runner (same kernels, same arguments).
                for round in 0..3 {
                    let mut g = vec![0f32; batch * ow];
                    graphed.forward(&dev, &input, &mut g).unwrap();
                    let e = rel_err(&g, &got);
                    // Bitwise equal in practice; a tenth of the CPU bound in case cuBLAS picks
                    // another algorithm under capture.
                    assert!(e <= tol / 10.0, "{name} batch {batch} graph round {round}: {e:e} off eager");
                }
                assert_eq!(graphed.graph_failure(), None, "{name}");
            }
            assert!(
                graphed.graphs() && graphed.graph_count() == 3,
                "{name}: {} graphs",
                graphed.graph_count()
            );
        }
    }

    /// TF32 and BF16 tensor-core math (FP32 accumulation) stay near the CPU model, and the fused
    /// epilogue and the SGEMM + kernel path agree with it in FP32.
    #[test]
    fn runner_math_and_epilogue_stay_near_the_cpu_model() {
        let Some(dev) = device_or_skip() else { return };
        let scale = Scale { rows_scale: 0.001, max_rows: Some(20_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 7 };
        let spec = zoo::resolve("dlrm-rmc3").unwrap();
        let cpu = Model::build(&spec, scale, &source).unwrap();
        let gpu = Arc::new(GpuModel::build(&dev, &spec, scale, &source).unwrap());
        let input = InputGen::new(IndexDist::Uniform, 4).generate(&cpu.spec, 64).unwrap();
        let mut want = vec![0f32; 64 * cpu.output_width()];
        let mut ws = Workspace::new(&cpu, 64, 1);
        cpu.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut want).unwrap();
        let run = |r: &mut GpuRunner| {
            let mut got = vec![0f32; 64 * cpu.output_width()];
            r.forward(&dev, &input, &mut got).unwrap();
            rel_err(&got, &want)
        };
        let mut r = gpu.runner(&dev, 64).unwrap();
        println!("dlrm-rmc3 epilogue fallback: {:?}", r.epilogue_fallback());
        let fp32 = run(&mut r);
        r.set_fused_epilogue(false);
        let unfused = run(&mut r);
        r.set_fused_epilogue(true);
        r.set_tf32(true).unwrap();
        // TF32 keeps 10 of FP32's 23 mantissa bits in the GEMM inputs: about 1e-3 per layer.
        let tf32 = run(&mut r);
        r.set_math(GemmMath::Bf16).unwrap();
        // BF16 keeps 7 of FP32's 23 mantissa bits in the GEMM inputs: about 1e-2 per layer.
        let bf16 = run(&mut r);
        println!(
            "dlrm-rmc3 batch 64: FP32 {fp32:.2e}, unfused {unfused:.2e}, TF32 {tf32:.2e}, BF16 {bf16:.2e}"
        );
        assert!(fp32 <= 1e-5 && unfused <= 1e-5, "FP32 {fp32:e}, unfused {unfused:e}");
        assert!(tf32 <= 2e-2 && tf32.is_finite(), "TF32 relative error {tf32:e}");
        assert!(bf16 <= 1e-1 && bf16.is_finite(), "BF16 relative error {bf16:e}");
    }

    #[test]
    fn graph_cache_is_bounded_and_switchable() {
        let Some(dev) = device_or_skip() else { return };
        let scale = Scale { rows_scale: 0.001, max_rows: Some(20_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 5 };
        let spec = zoo::resolve("dien").unwrap();
        let cpu = Model::build(&spec, scale, &source).unwrap();
        let gpu = Arc::new(GpuModel::build(&dev, &spec, scale, &source).unwrap());
        let mut r = gpu.runner(&dev, 16).unwrap();
        assert!(!r.graphs(), "graphs are off by default");
        r.set_graphs(true);
        r.set_graph_limits(8, 2);
        let mut gen = InputGen::new(IndexDist::Uniform, 9);
        for batch in [1, 2, 3, 1, 2, 3, 16, 16, 16] {
            let input = gen.generate(&cpu.spec, batch).unwrap();
            let mut out = vec![0f32; batch * gpu.output_width()];
            r.forward(&dev, &input, &mut out).unwrap();
            assert!(r.graph_count() <= 2);
        }
        assert_eq!(r.graph_failure(), None);
        assert_eq!(r.graph_count(), 2, "batch 16 is above the graph limit of 8");
        r.set_graphs(false);
        assert_eq!(r.graph_count(), 0);
        // A batch over the capacity is an error, not UB.
        let input = gen.generate(&cpu.spec, 17).unwrap();
        let mut out = vec![0f32; 17 * gpu.output_width()];
        assert!(matches!(r.forward(&dev, &input, &mut out), Err(GpuError::Invalid(_))));
    }
}
