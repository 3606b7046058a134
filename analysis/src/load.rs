//! The load per model per time slot: a diurnal generator (TOML) or a CSV trace.

use crate::limits::{self, MAX_SLOTS};
use hercules_results::one_line;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a load is unusable. Each message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {cause}", one_line(&path.display().to_string()))]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error. Not named `source`: the message already quotes it, and a `source()` would
        /// make `{:#}` (anyhow's chain) print it a second time.
        cause: std::io::Error,
    },
    /// Bad content.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(message))]
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
    let text = hercules_results::read_text_bounded(path, hercules_results::MAX_DOCUMENT_BYTES)
        .map_err(|cause| LoadError::Io { path: path.into(), cause })?;
    let invalid = |message: String| LoadError::Invalid { path: path.into(), message };
    let file: LoadFile = toml::from_str(&text).map_err(|e| invalid(e.to_string().replace('\n', " ")))?;
    generate(&file).map_err(invalid)
}

/// Generates the load of `file` (errors are one-line phrases).
pub fn generate(file: &LoadFile) -> Result<Load, String> {
    limits::SLOT_MINUTES.check("slot_minutes", file.slot_minutes).map_err(|e| e.to_string())?;
    if file.model.is_empty() {
        return Err("no [[model]] entries".into());
    }
    limits::MODELS.check_count("[[model]] entries", file.model.len()).map_err(|e| e.to_string())?;
    // Checked before anything is allocated per slot; a day of tiny slots counts too.
    let slots = match file.slots {
        Some(n) => limits::SLOTS.check_count("slots", n),
        None => limits::SLOTS
            .check("slots (a day of slot_minutes)", (24.0 * 60.0 / file.slot_minutes).round().max(1.0))
            .map(|n| n as usize),
    }
    .map_err(|e| e.to_string())?;
    let mut seen = BTreeMap::new();
    for (i, g) in file.model.iter().enumerate() {
        if seen.insert(g.name.as_str(), i).is_some() {
            return Err(format!("model `{}` is listed twice", g.name));
        }
        limits::LOAD_QPS
            .check(&format!("model `{}`: peak_qps", g.name), g.peak_qps)
            .map_err(|e| e.to_string())?;
        if !(0.0..=1.0).contains(&g.trough_ratio) {
            return Err(format!(
                "model `{}`: trough_ratio must be in [0, 1], got {}",
                g.name, g.trough_ratio
            ));
        }
        // Noise above 10 (1000 %) only makes loads beyond every bound.
        if !(g.noise.is_finite() && (0.0..=10.0).contains(&g.noise) && g.peak_hour.is_finite()) {
            return Err(format!("model `{}`: noise must be in [0, 10], peak_hour finite", g.name));
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
                .map(|g| {
                    (g.at(hour) * (1.0 + g.noise * unit.sample(&mut rng))).clamp(0.0, limits::MAX_LOAD_QPS)
                })
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

/// Reads a CSV trace with header `slot,model,qps` (slots numbered from 0, below [`MAX_SLOTS`]; a
/// (slot, model) pair not listed has no load).
pub fn read_trace(path: &Path, slot_minutes: f64) -> Result<Load, LoadError> {
    let text = hercules_results::read_text_bounded(path, hercules_results::MAX_DOCUMENT_BYTES)
        .map_err(|cause| LoadError::Io { path: path.into(), cause })?;
    let invalid = |message: String| LoadError::Invalid { path: path.into(), message };
    limits::SLOT_MINUTES.check("slot minutes", slot_minutes).map_err(|e| invalid(e.to_string()))?;
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
        // Bounded here: the trace becomes a dense slots × models array.
        if slot >= MAX_SLOTS {
            return Err(invalid(format!(
                "line {at}: slot {slot} is beyond the last allowed slot {} (MAX_SLOTS = {MAX_SLOTS})",
                MAX_SLOTS - 1
            )));
        }
        let qps: f64 =
            f[2].parse().map_err(|_| invalid(format!("line {at}: qps `{}` is not a number", f[2])))?;
        if !(qps.is_finite() && qps >= 0.0) {
            return Err(invalid(format!("line {at}: qps {qps} is negative or not a number")));
        }
        limits::LOAD_QPS.check(&format!("line {at}: qps"), qps).map_err(|e| invalid(e.to_string()))?;
        if f[1].is_empty() {
            return Err(invalid(format!("line {at}: empty model name")));
        }
        if !index.contains_key(f[1]) && models.len() >= limits::MAX_MODELS {
            return Err(invalid(format!("line {at}: more than {} models (MAX_MODELS)", limits::MAX_MODELS)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(text: &str) -> Result<Load, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        read_trace(&p, 60.0)
    }

    #[test]
    fn a_far_slot_is_refused_before_anything_is_allocated() {
        let e = trace("slot,model,qps\n99999999999,a,5\n").unwrap_err().to_string();
        assert!(
            e.contains("line 2: slot 99999999999 is beyond the last allowed slot") && e.contains("MAX_SLOTS")
        );
        let last = format!("slot,model,qps\n{},a,5\n", MAX_SLOTS - 1);
        assert_eq!(trace(&last).unwrap().qps.len(), MAX_SLOTS);
        let e = trace("slot,model,qps\n0,a,1e300\n").unwrap_err().to_string();
        assert!(e.contains("line 2: qps must be in [0, 1e12] QPS (MAX_LOAD_QPS), got 1e300"), "{e}");
    }

    #[test]
    fn generator_slots_are_bounded_whether_given_or_implied() {
        let base = "[[model]]\nname = \"a\"\npeak_qps = 10\n";
        let gen = |head: &str| generate(&toml::from_str(&format!("{head}\n{base}")).unwrap());
        let e = gen("slot_minutes = 60\nslots = 100000000").unwrap_err();
        assert_eq!(e, "slots must be in [1, 10080] (MAX_SLOTS), got 100000000");
        let e = gen("slot_minutes = 0.0001").unwrap_err();
        assert!(e.starts_with("slots (a day of slot_minutes) must be in [1, 10080]"), "{e}");
        let e = gen("slot_minutes = 0").unwrap_err();
        assert!(e.starts_with("slot_minutes must be in (0, 10080] min"), "{e}");
        assert_eq!(gen("slot_minutes = 1").unwrap().qps.len(), 1440);
    }
}
