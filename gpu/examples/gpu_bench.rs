//! GPU benchmarks: the device's ceilings, the table-batched embedding bag against them, cuBLAS MLP
//! layers, and (with `--models`) whole-model samples/s against batch size on the GPU — with CUDA graphs
//! off and on for batches up to `--graph-max-batch` — and on this host's CPU cores. Prints tables;
//! `--json PATH` writes everything as JSON. Without a GPU it exits with one line, "no CUDA device: ...".
//!
//! `--models` = dlrm-rmc1, dlrm-rmc3, wnd, dien, din, ncf, mt-wnd; `--model NAME` adds any zoo model
//! (e.g. `--model mlperf-dlrm-v2 --max-rows 500000`: the MLPerf models are ~50 GiB at their default cap).
//! `--max-rows` caps every table (default: the spec's own `default_max_rows`).
//! `--only ceilings,embedding,mlp,models` runs those sections alone (the staged `run-checks.sh` runs
//! each under its own timeout). The JSON is rewritten atomically after each section and each model,
//! so a run cut short keeps every figure it finished.
//!
//! ```text
//! gpu_bench [--json PATH] [--quick] [--table-gib G] [--tables T] [--dim D] [--lookups L] [--batch B]
//!           [--dtype fp32|fp16|int8]... [--repeats R] [--models] [--model NAME]... [--rows-scale F]
//!           [--max-rows N] [--graph-max-batch B] [--cpu-threads N] [--power] [--only SECTIONS]
//! gpu_bench --versions    # the driver, NVRTC and cuBLAS versions this process loads, and the device

//! ```

use hercules_gpu::bench::{self, CeilingOpts, EmbeddingShape};
use hercules_gpu::ceiling::Ceiling;
use hercules_gpu::device::median;
use hercules_gpu::{Device, GpuModel};
use hercules_kernels::embedding::{DType, Pooling};
use hercules_kernels::mlp::Activation;
use hercules_kernels::PinnedPool;
use hercules_models::inputs::{IndexDist, InputGen};
use hercules_models::{zoo, ForwardOpts, Init, Model, Scale, WeightSource, Workspace};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Instant;

/// The models of `--models`: the DLRM-style ones of the paper's figures plus every block kind.
const DEFAULT_MODELS: [&str; 7] = ["dlrm-rmc1", "dlrm-rmc3", "wnd", "dien", "din", "ncf", "mt-wnd"];

struct Args {
    json: Option<String>,
    quick: bool,
    table_gib: f64,
    tables: usize,
    dim: usize,
    lookups: usize,
    batch: usize,
    dtypes: Vec<DType>,
    repeats: usize,
    models: Vec<String>,
    rows_scale: f64,
    max_rows: Option<u64>,
    graph_max_batch: usize,
    cpu_threads: usize,
    power: bool,
    only: Vec<String>,
    versions: bool,
}

/// The sections `--only` may name, in the order they run.
const SECTIONS: [&str; 4] = ["ceilings", "embedding", "mlp", "models"];

impl Args {
    fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        json: None,
        quick: false,
        table_gib: 4.0,
        tables: 8,
        dim: 128,
        lookups: 80,
        batch: 2048,
        dtypes: Vec::new(),
        repeats: 10,
        models: Vec::new(),
        rows_scale: 1.0,
        max_rows: None,
        graph_max_batch: hercules_gpu::model::GRAPH_MAX_BATCH,
        cpu_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        power: false,
        only: Vec::new(),
        versions: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<f64>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--json" => a.json = Some(val()?),
            "--quick" => a.quick = true,
            "--table-gib" => a.table_gib = num(val()?)?,
            "--tables" => a.tables = num(val()?)? as usize,
            "--dim" => a.dim = num(val()?)? as usize,
            "--lookups" => a.lookups = num(val()?)? as usize,
            "--batch" => a.batch = num(val()?)? as usize,
            "--repeats" => a.repeats = num(val()?)? as usize,
            "--dtype" => a.dtypes.push(val()?.parse().map_err(|e| format!("{e}"))?),
            "--models" => {
                for m in DEFAULT_MODELS {
                    if !a.models.iter().any(|x| x == m) {
                        a.models.push(m.to_string());
                    }
                }
            }
            "--model" => a.models.push(val()?),
            "--rows-scale" => a.rows_scale = num(val()?)?,
            "--max-rows" => a.max_rows = Some(num(val()?)?.max(1.0) as u64),
            "--graph-max-batch" => a.graph_max_batch = num(val()?)? as usize,
            "--cpu-threads" => a.cpu_threads = num(val()?)? as usize,
            "--power" => a.power = true,
            "--versions" => a.versions = true,
            "--only" => {
                for s in val()?.split(',').filter(|s| !s.is_empty()) {
                    if !SECTIONS.contains(&s) {
                        return Err(format!(
                            "--only: unknown section `{s}` (one of {})",
                            SECTIONS.join(", ")
                        ));
                    }
                    a.only.push(s.to_string());
                }
            }
            "-h" | "--help" => return Err("see the header of gpu/examples/gpu_bench.rs for the flags".into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.dtypes.is_empty() {
        a.dtypes.push(DType::F32);
    }
    if a.quick {
        a.table_gib = a.table_gib.min(0.5);
        a.repeats = a.repeats.min(3);
        a.batch = a.batch.min(512);
    }
    if a.tables == 0 || a.dim == 0 || a.lookups == 0 || a.batch == 0 || a.repeats == 0 {
        return Err("tables, dim, lookups, batch and repeats must be positive".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gpu_bench: {e}");
            return ExitCode::from(2);
        }
    };
    if args.versions {
        // What this process loads, before anything can fail on it: the staged run logs it first.
        let dev = Device::open(0);
        let v = json!({
            "libraries": hercules_gpu::library_versions(),
            "device": dev.as_ref().ok().map(|d| d.info().clone()),
            "device_error": dev.as_ref().err().map(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return if dev.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) };
    }
    let dev = match Device::open(0) {
        Ok(d) => d,
        Err(e) => {
            println!("{e}");
            return ExitCode::from(1);
        }
    };
    match run(&dev, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu_bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn row(c: &Ceiling) {
    println!(
        "{:<22} {:>10.1} {:<8} (min {:.1}, max {:.1}; {})",
        c.name, c.median, c.unit, c.min, c.max, c.detail
    );
}

fn run(dev: &Device, a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let info = dev.info().clone();
    println!(
        "device: {} ({}), {:.1} GiB, sm_{}{}, {} SMs, driver CUDA {}",
        info.name,
        info.uuid,
        info.total_memory_bytes as f64 / (1u64 << 30) as f64,
        info.compute_capability.0,
        info.compute_capability.1,
        info.sm_count,
        info.driver_version
    );
    let gib = |g: f64| (g * (1u64 << 30) as f64) as usize;
    let r = a.repeats;
    let mut doc = json!({
        "schema": "hercules-gpu-bench/2",
        "device": info,
        "libraries": hercules_gpu::library_versions(),
        "complete": false,
    });
    let save = |doc: &Value| -> Result<(), Box<dyn std::error::Error>> {
        if let Some(path) = &a.json {
            write_atomic(path, &serde_json::to_string_pretty(doc)?)?;
        }
        Ok(())
    };
    save(&doc)?;

    // Ceilings.
    let mut c = None;
    if a.runs("ceilings") {
        println!("\n== ceilings (median of {r}) ==");
        let x = bench::ceilings(dev, &CeilingOpts::standard(a.quick, gib(a.table_gib), a.dim, r))?;
        for y in x.all() {
            row(y);
        }
        for e in &x.gemm_errors {
            println!("{e} GEMM failed");
        }
        doc["ceilings"] = serde_json::to_value(&x)?;
        save(&doc)?;
        c = Some(x);
    }

    // Embedding bag.
    if a.runs("embedding") {
        println!(
        "\n== table-batched embedding bag: {} tables, {:.2} GiB in all, B = {}, L = {}, D = {}, uniform random ==",
        a.tables, a.table_gib, a.batch, a.lookups, a.dim
    );
        println!(
            "{:<6} {:>10} {:>12} {:>10} {:>14} {:>12}",
            "dtype", "ms", "GB/s rows", "copy frac", "Mrows/s", "gather frac"
        );
        let mut emb = Vec::new();
        for &dtype in &a.dtypes {
            let stride = hercules_gpu::plan::device_row_stride(dtype, a.dim);
            let rows = (gib(a.table_gib) / a.tables / stride).max(a.lookups) as u64;
            let shape = EmbeddingShape {
                tables: a.tables,
                rows_per_table: rows,
                dim: a.dim,
                lookups: a.lookups,
                batch: a.batch,
                dtype,
                pooling: Pooling::Sum,
            };
            let e = bench::embedding_bag(dev, &shape, r, a.power)?;
            let (frac, gfrac) = c
                .as_ref()
                .map_or((f64::NAN, f64::NAN), |c| (e.fraction_of(&c.copy), e.fraction_of(&c.gather)));
            println!(
                "{:<6} {:>10.3} {:>12.1} {:>10.3} {:>14.1} {:>12.3}{}",
                dtype.to_string(),
                e.seconds_median * 1e3,
                e.gb_per_s_rows,
                frac,
                e.mrows_per_s,
                gfrac,
                e.power.map_or(String::new(), |w| format!("  {:.0} W", w.avg_watts))
            );
            let mut v = serde_json::to_value(&e)?;
            if c.is_some() {
                v["fraction_of_copy_bandwidth"] = json!(frac);
                v["fraction_of_gather_ceiling"] = json!(gfrac);
            }
            emb.push(v);
            doc["embedding"] = json!(emb);
            save(&doc)?;
        }
    }

    // MLP layers.
    if a.runs("mlp") {
        println!("\n== MLP layer: cuBLAS SGEMM + fused bias/ReLU (FP32 math) ==");
        println!("{:>6} {:>6} {:>6} {:>10} {:>10}", "M", "K", "N", "us", "GFLOP/s");
        let mut mlp = Vec::new();
        let ms: &[usize] = if a.quick { &bench::MLP_M_QUICK } else { &bench::MLP_M };
        for &(k, n) in &bench::MLP_KN {
            for x in bench::mlp_layer(dev, k, n, ms, Activation::Relu, r)? {
                println!(
                    "{:>6} {:>6} {:>6} {:>10.1} {:>10.1}",
                    x.m,
                    x.k,
                    x.n,
                    x.seconds_median * 1e6,
                    x.gflops
                );
                mlp.push(x);
            }
            doc["mlp"] = json!(mlp);
            save(&doc)?;
        }
    }

    // Whole models.
    let mut models = Vec::new();
    if a.runs("models") && !a.models.is_empty() {
        let pool = PinnedPool::with_threads(a.cpu_threads)?;
        let source = WeightSource::Init { init: Init::DeepRecSys, seed: 1 };
        for name in &a.models {
            let spec = zoo::resolve(name)?;
            let scale = Scale { rows_scale: a.rows_scale, max_rows: a.max_rows.or(spec.default_max_rows) };
            let gpu = match GpuModel::build(dev, &spec, scale, &source) {
                Ok(g) => std::sync::Arc::new(g),
                Err(e) => {
                    println!("\n{name}: {e}");
                    models.push(json!({"model": name, "error": e.to_string()}));
                    doc["models"] = json!(models);
                    save(&doc)?;
                    continue;
                }
            };
            let cpu = Model::build(&spec, scale, &source)?;
            println!(
                "\n== {name} (rows scale {}, max rows {:?}): samples/s, GPU (copies included; CUDA graphs off, \
                 and on up to batch {}) vs CPU ({} threads) ==",
                a.rows_scale, scale.max_rows, a.graph_max_batch, a.cpu_threads
            );
            println!(
                "{:>6} {:>10} {:>12} {:>10} {:>12} {:>8} {:>10} {:>12}",
                "batch",
                "GPU ms",
                "GPU samp/s",
                "graph ms",
                "graph samp/s",
                "speedup",
                "CPU ms",
                "CPU samp/s"
            );
            let batches: &[usize] =
                if a.quick { &[1, 4, 64, 512] } else { &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] };
            let maxb = *batches.iter().max().unwrap_or(&1);
            let mut runner = gpu.runner(dev, maxb)?;
            let mut graphed = gpu.runner(dev, maxb)?;
            graphed.set_graphs(true);
            graphed.set_graph_limits(a.graph_max_batch, batches.len());
            let mut ws = Workspace::new(&cpu, maxb, pool.threads());
            let mut gen = InputGen::new(IndexDist::Uniform, 9);
            let mut points = Vec::new();
            let mut faster = Vec::new();
            let mut told = false;
            for &b in batches {
                let inputs: Vec<_> = (0..4).map(|_| gen.generate(&cpu.spec, b)).collect::<Result<_, _>>()?;
                let mut out = vec![0f32; b * gpu.output_width()];
                let use_graph = b <= a.graph_max_batch;
                if use_graph {
                    // First use of the shape runs eagerly, the second captures: both untimed.
                    for inp in inputs.iter().take(2) {
                        graphed.forward(dev, inp, &mut out)?;
                    }
                }
                let reps = r.max(5);
                let (mut tg, mut tgr, mut tc) = (Vec::new(), Vec::new(), Vec::new());
                // Two untimed rounds first: the CPU pool's threads wake and its caches refill.
                for i in 0..reps + 2 {
                    let inp = &inputs[i % inputs.len()];
                    let t0 = Instant::now();
                    runner.forward(dev, inp, &mut out)?;
                    let g = t0.elapsed().as_secs_f64();
                    let gr = if use_graph {
                        let t0 = Instant::now();
                        graphed.forward(dev, inp, &mut out)?;
                        t0.elapsed().as_secs_f64()
                    } else {
                        f64::NAN
                    };
                    let t0 = Instant::now();
                    cpu.forward(&mut ws, inp, Some(&pool), ForwardOpts::default(), None, &mut out)?;
                    let c = t0.elapsed().as_secs_f64();
                    if i > 1 {
                        tg.push(g);
                        tgr.push(gr);
                        tc.push(c);
                    }
                }
                if let (Some(why), false) = (graphed.graph_failure(), told) {
                    println!("CUDA graphs switched off (the graph columns are eager from here): {why}");
                    told = true;
                }
                let (g, gr, c) = (median(&tg), median(&tgr), median(&tc));
                let best = if gr.is_nan() { g } else { g.min(gr) };
                println!(
                    "{b:>6} {:>10.3} {:>12.0} {:>10.3} {:>12.0} {:>8.2} {:>10.3} {:>12.0}",
                    g * 1e3,
                    b as f64 / g,
                    gr * 1e3,
                    b as f64 / gr,
                    g / gr,
                    c * 1e3,
                    b as f64 / c
                );
                faster.push((b, best < c));
                let opt = |v: f64| if v.is_nan() { Value::Null } else { json!(v) };
                points.push(json!({"batch": b, "gpu_seconds_median": g, "gpu_samples_per_s": b as f64 / g,
                    "graph_seconds_median": opt(gr), "graph_samples_per_s": opt(b as f64 / gr),
                    "graph_speedup": opt(g / gr),
                    "cpu_seconds_median": c, "cpu_samples_per_s": b as f64 / c}));
            }
            let crossover = crossover(&faster);
            println!(
                "crossover (smallest batch from which the GPU, graphs or not, is faster at every larger \
                 batch measured): {crossover:?}"
            );
            models.push(json!({"model": name, "rows_scale": a.rows_scale, "max_rows": scale.max_rows,
                "cpu_threads": a.cpu_threads, "gpu_table_bytes": gpu.table_bytes(),
                "graph_max_batch": a.graph_max_batch, "graph_failure": graphed.graph_failure(),
                "points": points, "crossover_batch": crossover}));
            doc["models"] = json!(models);
            save(&doc)?;
        }
    }

    doc["complete"] = json!(true);
    save(&doc)?;
    if let Some(path) = &a.json {
        println!("\nwrote {path}");
    }
    Ok(())
}

/// The smallest batch from which the GPU was faster at every larger batch measured (one noisy CPU
/// point at a small batch must not make a crossover); `None` where the GPU is slower at the largest.
fn crossover(faster: &[(usize, bool)]) -> Option<usize> {
    let stays = faster.iter().rev().take_while(|(_, f)| *f).count();
    (stays > 0).then(|| faster[faster.len() - stays].0)
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader never sees half a file.
fn write_atomic(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn crossover_is_where_the_gpu_stays_faster() {
        use super::crossover;
        assert_eq!(crossover(&[(1, false), (4, true), (16, false), (64, true), (256, true)]), Some(64));
        assert_eq!(crossover(&[(1, true), (4, true)]), Some(1));
        assert_eq!(crossover(&[(1, true), (4, false)]), None);
        assert_eq!(crossover(&[]), None);
    }
}
