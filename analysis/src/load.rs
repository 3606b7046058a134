//! The load per model per time slot: a diurnal generator (TOML) or a CSV trace.

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a load is unusable. Each message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bad content.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What, where.
        message: String,
    },
}

/// Load per slot and model.
#[derive(Debug, Clone)]
pub struct Load {
    /// Model names.
    pub models: Vec<String>,
    /// Slot length, minutes.
    pub slot_minutes: f64,
    /// `qps[slot][model]`.
    pub qps: Vec<Vec<f64>>,
    /// Where it came from (for reports).
    pub source: String,
}

/// `load.toml`: one diurnal generator per model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadFile {
    /// Slot length in minutes (default 60).
    #[serde(default = "default_slot_minutes")]
    pub slot_minutes: f64,
    /// Number of slots (default: one day).
    pub slots: Option<usize>,
    /// Seed of the noise.
    #[serde(default)]
    pub seed: u64,
    /// Generators.
    pub model: Vec<Diurnal>,
}

fn default_slot_minutes() -> f64 {
    60.0
}

/// A sinusoid between trough and peak over 24 h, times (1 + noise·N(0, 1)), never below zero.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diurnal {
    /// Model name.
    pub name: String,
    /// Load at the peak, QPS.
    pub peak_qps: f64,
    /// Trough / peak, in [0, 1] (default 0.3).
    #[serde(default = "default_trough")]
    pub trough_ratio: f64,
    /// Hour of the day of the peak (the phase; default 20.0).
    #[serde(default = "default_peak_hour")]
    pub peak_hour: f64,
    /// Relative standard deviation of the multiplicative noise (default 0).
    #[serde(default)]
    pub noise: f64,
}

fn default_trough() -> f64 {
    0.3
}
fn default_peak_hour() -> f64 {
    20.0
}

impl Diurnal {
    /// Noise-free load at `hour`.
    pub fn at(&self, hour: f64) -> f64 {
        let wave = 0.5 * (1.0 + ((hour - self.peak_hour) / 24.0 * std::f64::consts::TAU).cos());
        self.peak_qps * (self.trough_ratio + (1.0 - self.trough_ratio) * wave)
    }
}

/// Reads `load.toml` and generates the load.
pub fn read_load_toml(path: &Path) -> Result<Load, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.into(), source })?;
    let invalid = |message: String| LoadError::Invalid { path: path.into(), message };
    let file: LoadFile = toml::from_str(&text).map_err(|e| invalid(e.to_string().replace('\n', " ")))?;
    generate(&file).map_err(invalid)
}

/// Generates the load of `file` (errors are one-line phrases).
pub fn generate(file: &LoadFile) -> Result<Load, String> {
    if !(file.slot_minutes.is_finite() && file.slot_minutes > 0.0) {
        return Err(format!("slot_minutes must be positive, got {}", file.slot_minutes));
    }
    if file.model.is_empty() {
        return Err("no [[model]] entries".into());
    }
    let slots = file.slots.unwrap_or((24.0 * 60.0 / file.slot_minutes).round().max(1.0) as usize);
    if slots == 0 {
        return Err("slots must be at least 1".into());
    }
    let mut seen = BTreeMap::new();
    for (i, g) in file.model.iter().enumerate() {
        if seen.insert(g.name.as_str(), i).is_some() {
            return Err(format!("model `{}` is listed twice", g.name));
        }
        if !(g.peak_qps.is_finite() && g.peak_qps >= 0.0) {
            return Err(format!(
                "model `{}`: peak_qps must be a finite non-negative number, got {}",
                g.name, g.peak_qps
            ));
        }
        if !(0.0..=1.0).contains(&g.trough_ratio) {
            return Err(format!(
                "model `{}`: trough_ratio must be in [0, 1], got {}",
                g.name, g.trough_ratio
            ));
        }
        if !(g.noise.is_finite() && g.noise >= 0.0 && g.peak_hour.is_finite()) {
            return Err(format!(
                "model `{}`: noise must be finite and non-negative, peak_hour finite",
                g.name
            ));
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(file.seed);
    let unit = Normal::new(0.0, 1.0).expect("unit normal");
    let qps = (0..slots)
        .map(|t| {
            // The load of a slot is taken at its middle.
            let hour = (t as f64 + 0.5) * file.slot_minutes / 60.0;
            file.model
                .iter()
                .map(|g| (g.at(hour) * (1.0 + g.noise * unit.sample(&mut rng))).max(0.0))
                .collect()
        })
        .collect();
    Ok(Load {
        models: file.model.iter().map(|g| g.name.clone()).collect(),
        slot_minutes: file.slot_minutes,
        qps,
        source: "diurnal generator".into(),
    })
}

/// Reads a CSV trace with header `slot,model,qps` (slots numbered from 0; a (slot, model) pair not
/// listed has no load).
pub fn read_trace(path: &Path, slot_minutes: f64) -> Result<Load, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.into(), source })?;
    let invalid = |message: String| LoadError::Invalid { path: path.into(), message };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(invalid("the trace is empty (expected a header `slot,model,qps` and rows)".into()));
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    if cols != ["slot", "model", "qps"] {
        return Err(invalid(format!("header must be `slot,model,qps`, got `{header}`")));
    }
    let mut models: Vec<String> = Vec::new();
    let mut index = BTreeMap::new();
    let mut rows = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let at = i + 1;
        if f.len() != 3 {
            return Err(invalid(format!("line {at}: expected 3 fields, got {}", f.len())));
        }
        let slot: usize =
            f[0].parse().map_err(|_| invalid(format!("line {at}: slot `{}` is not a whole number", f[0])))?;
        let qps: f64 =
            f[2].parse().map_err(|_| invalid(format!("line {at}: qps `{}` is not a number", f[2])))?;
        if !(qps.is_finite() && qps >= 0.0) {
            return Err(invalid(format!("line {at}: qps {qps} is negative or not a number")));
        }
        if f[1].is_empty() {
            return Err(invalid(format!("line {at}: empty model name")));
        }
        let m = *index.entry(f[1].to_string()).or_insert_with(|| {
            models.push(f[1].to_string());
            models.len() - 1
        });
        rows.push((slot, m, qps, at));
    }
    if rows.is_empty() {
        return Err(invalid("the trace has a header but no rows".into()));
    }
    let slots = rows.iter().map(|r| r.0).max().unwrap_or(0) + 1;
    let mut qps = vec![vec![0.0; models.len()]; slots];
    let mut seen = vec![vec![false; models.len()]; slots];
    for (slot, m, q, at) in rows {
        if seen[slot][m] {
            return Err(invalid(format!("line {at}: slot {slot}, model `{}` listed twice", models[m])));
        }
        seen[slot][m] = true;
        qps[slot][m] = q;
    }
    Ok(Load { models, slot_minutes, qps, source: format!("trace {}", path.display()) })
}
