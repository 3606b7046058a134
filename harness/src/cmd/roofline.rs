//! `hercules roofline`: the machine's ceilings (FMA peak, stream, sequential read, random gather),
//! or a CUDA device's.

use crate::ceilings;
use crate::host::{self, max_threads, DeviceKind};
use crate::output::{now_rfc3339, OutputArgs};
use anyhow::{bail, Result};
use clap::Args;
use hercules_results::{RooflineReport, BENCH_SCHEMA_VERSION};

/// `hercules roofline` arguments.
#[derive(Debug, Args)]
pub struct RooflineArgs {
    /// Measure the CPU's ceilings, or CUDA device 0's (copy and random-gather bandwidth, cuBLAS
    /// FP32/TF32/BF16 GEMM peaks).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// Largest thread count (measured at 1, 2, 4, ... and this); default: every usable core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Repeats per figure (median reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Small arrays, short runs: a smoke test, not a ceiling.
    #[arg(long)]
    pub quick: bool,
    /// With --device cuda: print the driver, NVRTC and cuBLAS versions this process loads and the
    /// device it sees (JSON), measure nothing; exits 1 where there is no device.
    #[arg(long)]
    pub versions: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Runs `hercules roofline`.
pub fn run(args: RooflineArgs) -> Result<()> {
    if args.device == DeviceKind::Cuda {
        return if args.versions { versions() } else { run_cuda(&args) };
    }
    if args.versions {
        bail!("--versions applies to --device cuda");
    }
    let max = max_threads(args.threads)?;
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    args.out.check()?;
    let host = host::fingerprint();
    let opts = ceilings::RooflineOpts {
        threads: ceilings::thread_counts(max),
        repeats: args.repeats,
        quick: args.quick,
    };
    let ceilings = ceilings::measure(&opts, &host, &ceilings::pools(&opts)?)?;
    let table = ceilings::table(&ceilings);
    println!(
        "roofline on {} ({} usable cores){}",
        host.cpu_model,
        host.usable_cpus.len(),
        if args.quick { " [quick: not a ceiling]" } else { "" }
    );
    print!("{}", table.render());
    let report = RooflineReport {
        schema_version: BENCH_SCHEMA_VERSION,
        kind: "roofline".into(),
        host,
        measured_at: now_rfc3339(),
        ceilings,
    };
    args.out.write(&report, &table)
}

/// `--device cuda --versions`: what this process loads, read before anything can fail on it (the
/// staged GPU run logs it first and picks its libraries by the driver's CUDA version).
fn versions() -> Result<()> {
    let libraries = hercules_gpu::library_versions();
    let dev = hercules_gpu::Device::open(0);
    let v = serde_json::json!({
        "libraries": libraries,
        "device": dev.as_ref().ok().map(|d| d.info().clone()),
        "device_error": dev.as_ref().err().map(|e| e.to_string()),
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    match dev {
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Runs `hercules roofline --device cuda` on device 0. Where there is no CUDA device the error is
/// hercules-gpu's one line, "no CUDA device: ...", with nothing added.
fn run_cuda(args: &RooflineArgs) -> Result<()> {
    if args.threads.is_some() {
        bail!("--threads applies to --device cpu");
    }
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    args.out.check()?;
    let dev = hercules_gpu::Device::open(0)?;
    let info = dev.info().clone();
    let host = host::fingerprint();
    let opts = hercules_gpu::bench::CeilingOpts::standard(
        args.quick,
        ceilings::gpu_gather_table_bytes(&info, args.quick),
        128,
        args.repeats,
    );
    eprintln!("measuring the ceilings of {}", ceilings::device_line(&info));
    let ceilings = hercules_gpu::bench::ceilings(&dev, &opts)?;
    let table = ceilings::gpu_table(&ceilings);
    println!(
        "roofline on {}{}",
        ceilings::device_line(&info),
        if args.quick { " [quick: not a ceiling]" } else { "" }
    );
    print!("{}", table.render());
    for e in &ceilings.gemm_errors {
        println!("not measured: {e}");
    }
    let report = ceilings::GpuRooflineReport::new("roofline-cuda", host, info, ceilings);
    args.out.write(&report, &table)
}
