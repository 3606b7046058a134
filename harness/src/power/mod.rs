//! Power over a measurement window: RAPL energy counters through powercap where readable, NVML for
//! GPU boards, otherwise a model from the server's idle and peak watts times
//! its utilisation, marked `"source": "estimated"`.

pub mod estimated;
pub mod nvml;
pub mod rapl;

pub use hercules_results::table::{Power, PowerSource};

/// Measures a window's power with the best source available.
#[derive(Debug)]
pub enum PowerMeter {
    /// RAPL domains.
    Rapl(rapl::Rapl),
    /// The idle/peak model, with why RAPL was not used.
    Estimated(estimated::Estimated, String),
}

impl PowerMeter {
    /// RAPL when readable, else the model with `idle`/`peak` watts.
    pub fn new(idle_watts: f64, peak_watts: f64) -> Self {
        match rapl::Rapl::open(rapl::POWERCAP) {
            Ok(r) => PowerMeter::Rapl(r),
            Err(why) => PowerMeter::Estimated(estimated::Estimated::new(idle_watts, peak_watts), why),
        }
    }

    /// Marks the start of a window.
    pub fn start(&mut self) {
        match self {
            PowerMeter::Rapl(r) => r.start(),
            PowerMeter::Estimated(e, _) => e.start(),
        }
    }

    /// Average power since [`PowerMeter::start`].
    pub fn read(&mut self) -> Power {
        match self {
            PowerMeter::Rapl(r) => match r.read() {
                Ok(p) => p,
                Err(e) => Power { watts: f64::NAN, source: PowerSource::Rapl, detail: e },
            },
            PowerMeter::Estimated(e, why) => {
                let mut p = e.read();
                p.detail = format!("{}; RAPL not used: {why}", p.detail);
                p
            }
        }
    }
}
