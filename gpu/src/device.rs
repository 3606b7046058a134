//! Opening a CUDA device without panicking where there is none, its identity for the host fingerprint,
//! and the kernels compiled for it at run time with NVRTC (each source compiled once per process and
//! architecture; loaded once per device).

use crate::error::{drv, one_line, GpuError, Result};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use serde::Serialize;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

/// Cubins compiled in this process, by source and compute capability: every `Device` of one
/// architecture (each test opens its own) reuses them instead of running NVRTC again.
static CUBINS: OnceLock<Mutex<CubinCache>> = OnceLock::new();

/// Cubins by (source, compute capability).
type CubinCache = HashMap<(Source, (u32, u32)), Arc<Vec<u8>>>;

/// NVRTC runs so far in this process (the cache's test counts them).
static COMPILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The cubin of `src` for `cc`, compiled on first use in this process.
fn cubin(src: Source, cc: (u32, u32)) -> Result<Arc<Vec<u8>>> {
    let cache = CUBINS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&(src, cc)) {
        return Ok(c.clone());
    }
    // Compiled outside the lock: two threads may both compile once, and the first insert wins.
    let c = Arc::new(compile_cubin(src, cc)?);
    COMPILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(cache.lock().unwrap_or_else(|p| p.into_inner()).entry((src, cc)).or_insert(c).clone())
}

/// Identity and size of a device (the GPU part of the host fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// CUDA ordinal.
    pub ordinal: usize,
    /// Marketing name, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// Device UUID as NVML writes it ("GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx").
    pub uuid: String,
    /// Total device memory in bytes.
    pub total_memory_bytes: u64,
    /// Compute capability (major, minor).
    pub compute_capability: (u32, u32),
    /// Streaming multiprocessors.
    pub sm_count: u32,
    /// CUDA version the driver supports, e.g. "12.8".
    pub driver_version: String,
}

/// The .cu sources of the crate, compiled on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// `cu/embedding.cu`: the table-batched embedding bag.
    Embedding,
    /// `cu/ops.cu`: bias + activation, column copies, dot interaction, fills, gather ceiling.
    Ops,
    /// `cu/blocks.cu`: DIN attention, DIEN RNN, NCF and DCNv2 cross kernels.
    Blocks,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Embedding => "embedding.cu",
            Source::Ops => "ops.cu",
            Source::Blocks => "blocks.cu",
        }
    }
    fn text(self) -> &'static str {
        match self {
            Source::Embedding => include_str!("cu/embedding.cu"),
            Source::Ops => include_str!("cu/ops.cu"),
            Source::Blocks => include_str!("cu/blocks.cu"),
        }
    }
}

/// An open CUDA device: its primary context, a stream of its own, and its compiled kernels.
pub struct Device {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    info: DeviceInfo,
    modules: Mutex<HashMap<Source, Arc<CudaModule>>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("info", &self.info).finish()
    }
}

/// Whether the shared libraries the GPU path needs can be loaded: the driver (libcuda), NVRTC and
/// cuBLAS. `Err` names the first one missing, on one line.
pub fn probe_libraries() -> std::result::Result<(), String> {
    // SAFETY: these only try dlopen on the candidate names and close the handle again.
    let (cuda, nvrtc, cublas) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
            cudarc::cublas::sys::is_culib_present(),
        )
    };
    if !cuda {
        return Err(
            "the NVIDIA driver library libcuda.so.1 cannot be loaded (no driver installed, or not on \
                    LD_LIBRARY_PATH)"
                .into(),
        );
    }
    if !nvrtc {
        return Err("libnvrtc.so (CUDA runtime compiler) cannot be loaded; put the CUDA toolkit's or the \
                    nvidia-cuda-nvrtc wheel's lib directory on LD_LIBRARY_PATH"
            .into());
    }
    if !cublas {
        return Err(
            "libcublas.so cannot be loaded; put the CUDA toolkit's or the nvidia-cublas wheel's lib \
                    directory on LD_LIBRARY_PATH"
                .into(),
        );
    }
    Ok(())
}

/// Versions of the CUDA libraries this process loads ("13.0"; `None` where one cannot be loaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryVersions {
    /// The CUDA version the driver supports (`cuDriverGetVersion`).
    pub driver_cuda: Option<String>,
    /// NVRTC's version (`nvrtcVersion`).
    pub nvrtc: Option<String>,
    /// cuBLAS's version (`cublasGetProperty`), with the patch level.
    pub cublas: Option<String>,
}

impl LibraryVersions {
    /// Why these libraries cannot work together, on one line: a toolkit library of a newer CUDA
    /// major than the driver's (a CUDA 13 cuBLAS fails at handle creation on a CUDA 12 driver).
    pub fn mismatch(&self) -> Option<String> {
        let major = |v: &Option<String>| v.as_deref().and_then(|s| s.split('.').next()?.parse::<u32>().ok());
        let drv = major(&self.driver_cuda)?;
        for (name, v) in [("NVRTC", &self.nvrtc), ("cuBLAS", &self.cublas)] {
            if major(v).is_some_and(|m| m > drv) {
                return Some(format!(
                    "{name} {} was loaded but the driver supports CUDA {}: put a CUDA {drv} {name} first on \
                     LD_LIBRARY_PATH (gpu/run-checks.sh picks one matching the driver)",
                    v.as_deref().unwrap_or("?"),
                    self.driver_cuda.as_deref().unwrap_or("?")
                ));
            }
        }
        None
    }
}

/// Reads the versions of the driver, NVRTC and cuBLAS that this process loads; a library that is
/// missing (or panics inside cudarc) gives `None`.
pub fn library_versions() -> LibraryVersions {
    fn quiet<T>(f: impl FnOnce() -> Option<T>) -> Option<T> {
        catch_unwind(AssertUnwindSafe(f)).ok().flatten()
    }
    // SAFETY (all three): each is called only after its library was found, and writes plain ints
    // through valid pointers to locals.
    let driver_cuda = quiet(|| {
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return None;
        }
        let mut v: std::ffi::c_int = 0;
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }.result().ok()?;
        Some(format!("{}.{}", v / 1000, (v % 1000) / 10))
    });
    let nvrtc = quiet(|| {
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return None;
        }
        let (mut a, mut b): (std::ffi::c_int, std::ffi::c_int) = (0, 0);
        unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut a, &mut b) }.result().ok()?;
        Some(format!("{a}.{b}"))
    });
    let cublas = quiet(|| {
        use cudarc::cublas::sys::{cublasGetProperty, libraryPropertyType as P};
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            return None;
        }
        let mut v = [0 as std::ffi::c_int; 3];
        for (i, p) in [P::MAJOR_VERSION, P::MINOR_VERSION, P::PATCH_LEVEL].into_iter().enumerate() {
            unsafe { cublasGetProperty(p, &mut v[i]) }.result().ok()?;
        }
        Some(format!("{}.{}.{}", v[0], v[1], v[2]))
    });
    LibraryVersions { driver_cuda, nvrtc, cublas }
}

/// Runs a driver call that may panic inside cudarc (a missing library or symbol), turning both a
/// panic and a driver error into [`GpuError::NoDevice`].
fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> std::result::Result<T, cudarc::driver::DriverError>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(GpuError::NoDevice(one_line(&format!("{what}: {e:?}")))),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(GpuError::NoDevice(one_line(&format!("{what}: {msg}"))))
        }
    }
}

/// Threads per block of every kernel launch; the sources' `__launch_bounds__` get it as
/// `-DHERCULES_BLOCK` when they are compiled.
pub const BLOCK_THREADS: u32 = 256;

/// The NVRTC architecture flag for a compute capability: `--gpu-architecture=sm_90` for (9, 0).
pub fn arch_flag(cc: (u32, u32)) -> String {
    format!("--gpu-architecture={}", arch_name(cc))
}

/// `sm_XY` for compute capability (X, Y).
pub fn arch_name(cc: (u32, u32)) -> String {
    format!("sm_{}{}", cc.0, cc.1)
}

/// A CUDA UUID's 16 bytes in NVML's text form.
pub fn format_uuid(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("GPU-{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Number of CUDA devices; `NoDevice` where the driver is missing or reports an error.
pub fn device_count() -> Result<usize> {
    probe_libraries().map_err(GpuError::NoDevice)?;
    let n = guarded("cuDeviceGetCount", CudaContext::device_count)?;
    Ok(n.max(0) as usize)
}

impl Device {
    /// Opens device `ordinal`. Where there is no driver, no device, or NVRTC/cuBLAS cannot be loaded,
    /// returns [`GpuError::NoDevice`] (never panics).
    pub fn open(ordinal: usize) -> Result<Device> {
        let n = device_count()?;
        if let Some(why) = library_versions().mismatch() {
            return Err(GpuError::NoDevice(why));
        }
        if n == 0 {
            return Err(GpuError::NoDevice("the driver reports no devices".into()));
        }
        if ordinal >= n {
            return Err(GpuError::NoDevice(format!(
                "ordinal {ordinal} asked for, the driver reports {n} device(s)"
            )));
        }
        let ctx = guarded("creating the context", || CudaContext::new(ordinal))?;
        let stream = ctx.new_stream().map_err(drv("cuStreamCreate"))?;
        let info = Self::query(&ctx, ordinal)?;
        Ok(Device { ctx, stream, info, modules: Mutex::new(HashMap::new()) })
    }

    fn query(ctx: &Arc<CudaContext>, ordinal: usize) -> Result<DeviceInfo> {
        use cudarc::driver::sys::CUdevice_attribute as A;
        let name = ctx.name().map_err(drv("cuDeviceGetName"))?;
        let (maj, min) = ctx.compute_capability().map_err(drv("compute capability"))?;
        let total = ctx.total_mem().map_err(drv("cuDeviceTotalMem"))?;
        let sms = ctx.attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT).map_err(drv("SM count"))?;
        let uuid = ctx.uuid().map_err(drv("cuDeviceGetUuid"))?;
        let bytes: [u8; 16] = uuid.bytes.map(|c| c as u8);
        let mut ver: std::ffi::c_int = 0;
        // SAFETY: cuDriverGetVersion writes one int through a valid pointer; the driver is loaded
        // (the context exists).
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut ver) }
            .result()
            .map_err(drv("cuDriverGetVersion"))?;
        Ok(DeviceInfo {
            ordinal,
            name,
            uuid: format_uuid(&bytes),
            total_memory_bytes: total as u64,
            compute_capability: (maj.max(0) as u32, min.max(0) as u32),
            sm_count: sms.max(0) as u32,
            driver_version: format!("{}.{}", ver / 1000, (ver % 1000) / 10),
        })
    }

    /// Identity of the device.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The CUDA context (primary context of the device).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The device's own stream (not the legacy default stream).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// A new stream on this device (one per concurrent query lane).
    pub fn new_stream(&self) -> Result<Arc<CudaStream>> {
        self.ctx.new_stream().map_err(drv("cuStreamCreate"))
    }

    /// (free, total) device memory in bytes.
    pub fn memory(&self) -> Result<(usize, usize)> {
        self.ctx.mem_get_info().map_err(drv("cuMemGetInfo"))
    }

    /// Fails with `OutOfMemory` unless `bytes` (plus a 256 MiB reserve) are free.
    pub fn check_free(&self, what: &str, bytes: usize) -> Result<()> {
        let (free, _) = self.memory()?;
        let need = bytes.saturating_add(256 << 20);
        if need > free {
            let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
            return Err(GpuError::OutOfMemory {
                what: what.into(),
                need_mib: mib(bytes),
                free_mib: mib(free),
            });
        }
        Ok(())
    }

    /// Kernel `name` of `src`, compiling the source for this device's architecture on first use.
    pub(crate) fn function(&self, src: Source, name: &str) -> Result<CudaFunction> {
        let module = {
            let mut m = self.modules.lock().unwrap_or_else(|p| p.into_inner());
            match m.get(&src) {
                Some(module) => module.clone(),
                None => {
                    let cubin = cubin(src, self.info.compute_capability)?;
                    let module = self
                        .ctx
                        .load_module(cudarc::nvrtc::Ptx::from_binary(cubin.to_vec()))
                        .map_err(drv("cuModuleLoadData"))?;
                    m.insert(src, module.clone());
                    module
                }
            }
        };
        module.load_function(name).map_err(drv("cuModuleGetFunction"))
    }
}

/// Compiles `src` with NVRTC straight to a cubin for compute capability `cc` (no PTX JIT at load).
fn compile_cubin(src: Source, cc: (u32, u32)) -> Result<Vec<u8>> {
    compile(src, cc, &[]).map(|(cubin, _)| cubin)
}

/// Compiles `src` for `cc` with `extra` NVRTC options; the cubin and NVRTC's log (ptxas' resource
/// report with `--ptxas-options=-v`).
fn compile(src: Source, cc: (u32, u32), extra: &[&str]) -> Result<(Vec<u8>, String)> {
    use cudarc::nvrtc::result as nr;
    let arch = arch_name(cc);
    let cerr =
        |log: String| GpuError::Compile { source_name: src.name(), arch: arch.clone(), log: one_line(&log) };
    let text = CString::new(src.text()).map_err(|e| cerr(format!("source holds a NUL: {e}")))?;
    let name = CString::new(src.name()).map_err(|e| cerr(format!("name holds a NUL: {e}")))?;
    let prog =
        nr::create_program(&text, Some(&name)).map_err(|e| cerr(format!("nvrtcCreateProgram: {e:?}")))?;
    let mut opts = vec![arch_flag(cc), "-std=c++17".to_string(), format!("-DHERCULES_BLOCK={BLOCK_THREADS}")];
    opts.extend(extra.iter().map(|o| o.to_string()));
    // SAFETY: `prog` comes from create_program above, `text`/`name` outlive it, and it is destroyed
    // exactly once at the end of this block.
    let out = unsafe {
        let res = match nr::compile_program(prog, &opts) {
            Err(e) => {
                let log = nr::get_program_log(prog)
                    .map(|l| CStr::from_ptr(l.as_ptr()).to_string_lossy().into_owned())
                    .unwrap_or_default();
                Err(cerr(format!("{e:?}: {log}")))
            }
            Ok(()) => {
                let mut size = 0usize;
                match cudarc::nvrtc::sys::nvrtcGetCUBINSize(prog, &mut size).result() {
                    Err(e) => Err(cerr(format!("nvrtcGetCUBINSize: {e:?}"))),
                    Ok(()) => {
                        let mut buf = vec![0u8; size];
                        let log = nr::get_program_log(prog)
                            .map(|l| CStr::from_ptr(l.as_ptr()).to_string_lossy().into_owned())
                            .unwrap_or_default();
                        cudarc::nvrtc::sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr().cast())
                            .result()
                            .map(|()| (buf, log))
                            .map_err(|e| cerr(format!("nvrtcGetCUBIN: {e:?}")))
                    }
                }
            }
        };
        let _ = nr::destroy_program(prog);
        res
    };
    out
}

/// Runs `f` (which enqueues work on `stream`) and returns the seconds between events recorded
/// before and after it on the stream.
pub fn time_on(stream: &Arc<CudaStream>, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    use cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT;
    let start = stream.record_event(Some(CU_EVENT_DEFAULT)).map_err(drv("cuEventRecord"))?;
    f()?;
    let end = stream.record_event(Some(CU_EVENT_DEFAULT)).map_err(drv("cuEventRecord"))?;
    end.synchronize().map_err(drv("cuEventSynchronize"))?;
    let ms = start.elapsed_ms(&end).map_err(drv("cuEventElapsedTime"))?;
    Ok(f64::from(ms) * 1e-3)
}

/// The median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_without_a_device_is_a_clean_one_line_error() {
        match Device::open(0) {
            Ok(d) => println!("a CUDA device is present: {:?}", d.info()),
            Err(e) => {
                let msg = e.to_string();
                println!("Device::open(0): {msg}");
                assert!(matches!(e, GpuError::NoDevice(_)), "expected NoDevice, got {e:?}");
                assert!(msg.starts_with("no CUDA device: "), "{msg}");
                assert!(!msg.contains('\n'), "{msg}");
            }
        }
    }

    #[test]
    fn a_toolkit_newer_than_the_driver_is_named() {
        let v = |d: &str, n: &str, b: &str| LibraryVersions {
            driver_cuda: Some(d.into()),
            nvrtc: Some(n.into()),
            cublas: Some(b.into()),
        };
        assert_eq!(v("13.0", "13.0", "13.0.2").mismatch(), None);
        assert_eq!(v("13.0", "12.8", "12.8.4").mismatch(), None, "older toolkits run on newer drivers");
        let m = v("12.8", "12.8", "13.0.2").mismatch().expect("cuBLAS 13 on a CUDA 12 driver");
        assert!(m.starts_with("cuBLAS 13.0.2 was loaded but the driver supports CUDA 12.8"), "{m}");
        assert!(v("12.8", "13.0", "12.8.4").mismatch().unwrap().starts_with("NVRTC 13.0"));
        let none = LibraryVersions { driver_cuda: None, nvrtc: Some("13.0".into()), cublas: None };
        assert_eq!(none.mismatch(), None, "no driver: Device::open says so itself");
    }

    #[test]
    fn arch_flags() {
        assert_eq!(arch_flag((9, 0)), "--gpu-architecture=sm_90");
        assert_eq!(arch_name((8, 6)), "sm_86");
    }

    #[test]
    fn uuid_format() {
        let b: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(format_uuid(&b), "GPU-00010203-0405-0607-0809-0a0b0c0d0e0f");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}

#[cfg(test)]
mod nvrtc_tests {
    use super::*;

    /// ptxas' resource report per kernel: (name, registers, spill store bytes, spill load bytes).
    fn resources(log: &str) -> Vec<(String, u32, u32, u32)> {
        let mut out = Vec::new();
        let mut name = None;
        for line in log.lines() {
            if let Some(i) = line.find("Compiling entry function '") {
                let rest = &line[i + 26..];
                name = rest.split('\'').next().map(str::to_string);
            }
            let num_before = |key: &str| -> Option<u32> {
                let i = line.find(key)?;
                line[..i].split_whitespace().last()?.parse().ok()
            };
            if let (Some(n), Some(st), Some(ld)) =
                (&name, num_before("bytes spill stores"), num_before("bytes spill loads"))
            {
                out.push((n.clone(), 0, st, ld));
            }
            if let (Some(n), Some(r)) = (&name, num_before("registers")) {
                if let Some(last) = out.iter_mut().rev().find(|x| &x.0 == n) {
                    last.1 = r;
                }
            }
        }
        out
    }

    #[test]
    fn resource_reports_parse() {
        let log = "ptxas info    : Compiling entry function 'tbe_u32_k1_f32' for 'sm_90'\n\
                   ptxas info    : Function properties for tbe_u32_k1_f32\n\
                   \x20   8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
                   ptxas info    : Used 72 registers, 400 bytes cmem[0]\n";
        assert_eq!(resources(log), vec![("tbe_u32_k1_f32".to_string(), 72, 4, 12)]);
    }

    /// Compiles every kernel source with NVRTC for Hopper and Ampere where NVRTC can be loaded; needs no
    /// device (`gpu/run-checks.sh` and the PyTorch wheels' libnvrtc make this run on CPU-only hosts).
    /// Every kernel must compile without register spills at the block size it is launched with (the
    /// `__launch_bounds__` budget): ptxas' own report, read from NVRTC's log.
    #[test]
    fn kernels_compile_with_nvrtc_without_spills() {
        // SAFETY: only tries dlopen on candidate names.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            let why =
                "libnvrtc.so cannot be loaded (put a CUDA or nvidia-cuda-nvrtc lib dir on LD_LIBRARY_PATH)";
            // As for the device tests: on a GPU machine a skip would read as a pass.
            assert!(
                !std::env::var("HERCULES_GPU_REQUIRED").is_ok_and(|v| v == "1"),
                "HERCULES_GPU_REQUIRED=1 and {why}"
            );
            println!("skipped: {why}");
            return;
        }
        for src in [Source::Embedding, Source::Ops, Source::Blocks] {
            for cc in [(9, 0), (8, 0)] {
                let (cubin, log) =
                    compile(src, cc, &["--ptxas-options=-v"]).unwrap_or_else(|e| panic!("{e}"));
                let r = resources(&log);
                assert!(!r.is_empty(), "no resource report for {}:\n{log}", src.name());
                for (name, regs, st, ld) in &r {
                    println!(
                        "{} {} {name}: {regs} registers, spills {st}/{ld} bytes",
                        src.name(),
                        arch_name(cc)
                    );
                    assert!(*regs > 0 && *regs <= 255, "{name}: {regs} registers");
                    assert_eq!((*st, *ld), (0, 0), "{name} spills on {}", arch_name(cc));
                }
                assert!(cubin.len() > 1000 && cubin.starts_with(b"\x7fELF"), "{} for {cc:?}", src.name());
                // Every kernel the host looks up by name is in the cubin (extern "C": unmangled).
                let names: Vec<String> = match src {
                    Source::Embedding => ["u32", "u64"]
                        .iter()
                        .flat_map(|ix| {
                            [1, 4].iter().flat_map(move |k| {
                                ["f32", "f16", "i8", "any"].iter().map(move |v| format!("tbe_{ix}_k{k}_{v}"))
                            })
                        })
                        .collect(),
                    Source::Ops => {
                        ["bias_act", "copy_cols", "dot_interaction", "fill_table", "gather_ceiling"]
                            .iter()
                            .map(|s| s.to_string())
                            .collect()
                    }
                    Source::Blocks => crate::model::BLOCK_KERNELS.iter().map(|s| s.to_string()).collect(),
                };
                for n in names {
                    let needle = format!("{n}\0");
                    assert!(
                        cubin.windows(needle.len()).any(|w| w == needle.as_bytes()),
                        "{n} missing from {}",
                        src.name()
                    );
                }
                println!("{} for {}: {} bytes of cubin", src.name(), arch_name(cc), cubin.len());
                let (a, b) = (super::cubin(src, cc).unwrap(), super::cubin(src, cc).unwrap());
                assert!(Arc::ptr_eq(&a, &b), "the second request is served from the process cache");
            }
        }
    }
}
