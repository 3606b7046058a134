//! GPU board power from NVML, loaded at run time (`libnvidia-ml.so.1`): a sampler thread reads the power
//! draw (and the energy counter where the GPU has one) during a trial and reports the average. Where
//! NVML is missing the error is one line and the power is null, never an invented number.

use super::{Power, PowerSource};
use serde::Serialize;
use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type NvmlDevice = *mut c_void;
type Ret = c_int;
const NVML_SUCCESS: Ret = 0;

/// What went wrong with NVML, on one line.
#[derive(Debug, thiserror::Error)]
#[error("NVML: {0}")]
pub struct NvmlError(String);

type Result<T> = std::result::Result<T, NvmlError>;

/// Seconds of steady work a board power figure needs: the board averages its reading over about a
/// second, so a shorter window reports mostly what ran before it.
pub const MIN_SECONDS: f64 = 2.0;

/// Library names tried in order.
const NVML_NAMES: [&str; 2] = ["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// NVML bound to one GPU.
pub struct Nvml {
    _lib: libloading::Library,
    device: NvmlDevice,
    shutdown: unsafe extern "C" fn() -> Ret,
    power_mw: unsafe extern "C" fn(NvmlDevice, *mut c_uint) -> Ret,
    energy_mj: unsafe extern "C" fn(NvmlDevice, *mut c_ulonglong) -> Ret,
    error_string: unsafe extern "C" fn(Ret) -> *const c_char,
}

// SAFETY: NVML is thread-safe (NVIDIA documents every entry point as callable from any thread), and the
// device handle is an opaque token valid until nvmlShutdown, which only Drop calls.
unsafe impl Send for Nvml {}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: nvmlInit succeeded in `open`, so one matching shutdown is due.
        unsafe { (self.shutdown)() };
    }
}

impl Nvml {
    /// Loads NVML and binds the GPU with `uuid` (as `hercules_gpu::DeviceInfo::uuid`), or NVML's index 0
    /// when `uuid` is None. Errors are one line: NVML missing, init failure, or no such GPU.
    pub fn open(uuid: Option<&str>) -> Result<Self> {
        let mut last = String::new();
        let mut lib = None;
        for name in NVML_NAMES {
            // SAFETY: loading NVML runs only its (trivial) library initialisers.
            match unsafe { libloading::Library::new(name) } {
                Ok(l) => {
                    lib = Some(l);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let lib = lib.ok_or_else(|| NvmlError(format!("libnvidia-ml.so.1 cannot be loaded ({last})")))?;
        // SAFETY: the symbol types match NVML's C declarations (nvml.h); the pointers are used only while
        // `lib` is alive (it is stored in the returned struct).
        unsafe {
            let sym = |n: &str| -> Result<*mut c_void> {
                lib.get::<*mut c_void>(n.as_bytes())
                    .map(|s| *s)
                    .map_err(|e| NvmlError(format!("symbol {n} missing: {e}")))
            };
            let init: unsafe extern "C" fn() -> Ret = std::mem::transmute(sym("nvmlInit_v2")?);
            let shutdown: unsafe extern "C" fn() -> Ret = std::mem::transmute(sym("nvmlShutdown")?);
            let by_index: unsafe extern "C" fn(c_uint, *mut NvmlDevice) -> Ret =
                std::mem::transmute(sym("nvmlDeviceGetHandleByIndex_v2")?);
            let by_uuid: unsafe extern "C" fn(*const c_char, *mut NvmlDevice) -> Ret =
                std::mem::transmute(sym("nvmlDeviceGetHandleByUUID")?);
            let power_mw = std::mem::transmute::<
                *mut c_void,
                unsafe extern "C" fn(NvmlDevice, *mut c_uint) -> Ret,
            >(sym("nvmlDeviceGetPowerUsage")?);
            let energy_mj = std::mem::transmute::<
                *mut c_void,
                unsafe extern "C" fn(NvmlDevice, *mut c_ulonglong) -> Ret,
            >(sym("nvmlDeviceGetTotalEnergyConsumption")?);
            let error_string = std::mem::transmute::<*mut c_void, unsafe extern "C" fn(Ret) -> *const c_char>(
                sym("nvmlErrorString")?,
            );
            let msg = |r: Ret| {
                let p = error_string(r);
                if p.is_null() {
                    format!("error {r}")
                } else {
                    CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            };
            let r = init();
            if r != NVML_SUCCESS {
                return Err(NvmlError(format!("nvmlInit failed: {}", msg(r))));
            }
            let mut device: NvmlDevice = std::ptr::null_mut();
            let r = match uuid {
                Some(u) => {
                    let c = CString::new(u).map_err(|_| NvmlError("UUID holds a NUL".into()))?;
                    by_uuid(c.as_ptr(), &mut device)
                }
                None => by_index(0, &mut device),
            };
            if r != NVML_SUCCESS {
                shutdown();
                return Err(NvmlError(format!("no NVML device {}: {}", uuid.unwrap_or("0"), msg(r))));
            }
            Ok(Self { _lib: lib, device, shutdown, power_mw, energy_mj, error_string })
        }
    }

    fn err(&self, what: &str, r: Ret) -> NvmlError {
        // SAFETY: nvmlErrorString returns a static string (or null) for any code.
        let p = unsafe { (self.error_string)(r) };
        let m = if p.is_null() {
            format!("error {r}")
        } else {
            // SAFETY: non-null pointers from nvmlErrorString are NUL-terminated static strings.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        };
        NvmlError(format!("{what}: {m}"))
    }

    /// Current board power draw in watts.
    pub fn power_watts(&self) -> Result<f64> {
        let mut mw: c_uint = 0;
        // SAFETY: valid device handle, one writable c_uint.
        let r = unsafe { (self.power_mw)(self.device, &mut mw) };
        if r != NVML_SUCCESS {
            return Err(self.err("nvmlDeviceGetPowerUsage", r));
        }
        Ok(f64::from(mw) / 1000.0)
    }

    /// Energy since the driver loaded, in joules (Volta and newer), or an error where unsupported.
    pub fn energy_joules(&self) -> Result<f64> {
        let mut mj: c_ulonglong = 0;
        // SAFETY: valid device handle, one writable c_ulonglong.
        let r = unsafe { (self.energy_mj)(self.device, &mut mj) };
        if r != NVML_SUCCESS {
            return Err(self.err("nvmlDeviceGetTotalEnergyConsumption", r));
        }
        Ok(mj as f64 / 1000.0)
    }
}

/// What a [`Sampler`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    /// Average board power in watts: energy counter difference over the wall time where the GPU has an
    /// energy counter, else the mean of the samples.
    pub avg_watts: f64,
    /// Mean of the power samples.
    pub sampled_avg_watts: f64,
    /// Lowest sample.
    pub min_watts: f64,
    /// Highest sample.
    pub max_watts: f64,
    /// Samples taken.
    pub samples: usize,
    /// Seconds between start and stop.
    pub seconds: f64,
    /// Whether `avg_watts` comes from the energy counter.
    pub from_energy_counter: bool,
}

/// Samples board power on a background thread between [`Sampler::start`] and [`Sampler::stop`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<Stats>>,
}

impl Sampler {
    /// Opens NVML for the GPU `uuid` (None: NVML index 0) and starts sampling every `interval`.
    pub fn start(uuid: Option<&str>, interval: Duration) -> Result<Self> {
        let nvml = Nvml::open(uuid)?;
        nvml.power_watts()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("nvml-power".into())
            .spawn(move || sample(nvml, &flag, interval))
            .map_err(|e| NvmlError(format!("cannot start the sampler thread: {e}")))?;
        Ok(Self { stop, handle })
    }

    /// Stops sampling and returns the averages.
    pub fn stop(self) -> Result<Stats> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().map_err(|_| NvmlError("the sampler thread panicked".into()))?
    }
}

fn sample(nvml: Nvml, stop: &AtomicBool, interval: Duration) -> Result<Stats> {
    let t0 = Instant::now();
    let e0 = nvml.energy_joules().ok();
    let mut v = Vec::new();
    loop {
        v.push(nvml.power_watts()?);
        if stop.load(Ordering::Acquire) {
            break;
        }
        std::thread::sleep(interval);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let e1 = nvml.energy_joules().ok();
    Ok(summarise(&v, seconds, e0.zip(e1).map(|(a, b)| b - a)))
}

impl Stats {
    /// As a [`Power`] with where it came from; a window under [`MIN_SECONDS`] says so.
    pub fn power(&self) -> Power {
        let short = if self.seconds < MIN_SECONDS {
            format!(" (under {MIN_SECONDS} s: the board's own ~1 s averaging dominates)")
        } else {
            String::new()
        };
        Power {
            watts: self.avg_watts,
            source: PowerSource::Nvml,
            detail: format!(
                "NVML board power, {} samples over {:.1} s{}{short}",
                self.samples,
                self.seconds,
                if self.from_energy_counter { ", average from the energy counter" } else { "" }
            ),
        }
    }
}

/// Averages of power samples over `seconds`, preferring an energy difference in joules when given.
pub fn summarise(samples: &[f64], seconds: f64, energy_j: Option<f64>) -> Stats {
    let n = samples.len();
    let mean = if n == 0 { f64::NAN } else { samples.iter().sum::<f64>() / n as f64 };
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let from_energy = energy_j.is_some_and(|e| e > 0.0) && seconds > 0.0;
    Stats {
        avg_watts: if from_energy { energy_j.unwrap_or(0.0) / seconds } else { mean },
        sampled_avg_watts: mean,
        min_watts: min,
        max_watts: max,
        samples: n,
        seconds,
        from_energy_counter: from_energy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_nvml_is_a_clean_error() {
        match Sampler::start(None, Duration::from_millis(10)) {
            Ok(s) => {
                std::thread::sleep(Duration::from_millis(50));
                let st = s.stop().unwrap();
                println!("NVML present: {st:?}");
                assert!(st.samples >= 1 && st.avg_watts > 0.0);
            }
            Err(e) => {
                let m = e.to_string();
                println!("Sampler::start: {m}");
                assert!(m.starts_with("NVML: ") && !m.contains('\n'), "{m}");
            }
        }
    }

    #[test]
    fn summaries() {
        let s = summarise(&[100.0, 200.0, 300.0], 2.0, None);
        assert_eq!((s.avg_watts, s.min_watts, s.max_watts, s.samples), (200.0, 100.0, 300.0, 3));
        assert!(!s.from_energy_counter);
        let e = summarise(&[100.0, 200.0], 2.0, Some(500.0));
        assert_eq!(e.avg_watts, 250.0);
        assert!(e.from_energy_counter);
    }
}
