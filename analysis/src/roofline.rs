//! The roofline picture of one host: its measured ceilings as the roof, kernel benchmark records and
//! the zoo models' forward passes placed by arithmetic intensity (FLOP per byte), log-log.
//!
//! Intensity models, stated in the picture too:
//! - embedding bag: one add per element gathered over the stored row bytes (`dim / row_bytes`);
//! - MLP layer: 2·M·K·N over the fp32 input, weights and output it must touch once;
//! - dot interaction: 2·pairs·dim per sample over its fp32 features and outputs;
//! - a model's forward pass: 2 × dense MACs per sample over the embedding bytes gathered per sample
//!   (the dense weights are reused across the items of a query, so they are left out).
//!
//! A model is placed at its served throughput (latency-bounded QPS × mean items per query × FLOP per
//! item) when an efficiency table of this host says it, otherwise on the gather roof at its intensity.

use hercules_results::plot::{color, Axis, Kind, Marker, Rect, Series, Style, Svg};
use hercules_results::{
    Ceilings, EfficiencyTable, HostFingerprint, KernelRecord, KernelReport, Measured, QuerySizes,
    RooflineReport,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a roofline picture cannot be drawn. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum RooflineError {
    /// The roofline report lacks a ceiling the roof needs.
    #[error("{0}: the roofline report has no {1} measurement")]
    MissingCeiling(String, &'static str),
    /// An input was measured on another machine than the roofline.
    #[error("{what} was measured on {found}, the roofline on {expected}")]
    OtherHost {
        /// The input.
        what: String,
        /// Its host.
        found: String,
        /// The roofline's host.
        expected: String,
    },
}

/// One model of `hercules models --json` (the fields the picture needs; the others are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ZooModel {
    /// Zoo name.
    pub name: String,
    /// Embedding row bytes gathered per sample.
    pub gathered_bytes_per_sample: u64,
    /// Multiply-accumulates per sample in dense layers, interaction and blocks.
    pub macs_per_sample: u64,
}

/// Everything one picture shows.
#[derive(Debug, Clone, Copy)]
pub struct RooflineInputs<'a> {
    /// The roof, and the name it goes by in errors.
    pub roofline: (&'a str, &'a RooflineReport),
    /// Kernel reports, each with its name.
    pub kernels: &'a [(String, KernelReport)],
    /// The zoo (empty: no models).
    pub zoo: &'a [ZooModel],
    /// Efficiency tables of this host, each with its name, for the models' served throughput.
    pub tables: &'a [(String, EfficiencyTable)],
}

/// Where a kernel record sits: (FLOP per byte, GFLOP/s), or why it cannot be placed.
pub fn kernel_point(r: &KernelRecord) -> Result<(f64, f64), String> {
    let get = |k: &str| r.shape.get(k).and_then(|v| v.as_f64()).filter(|v| v.is_finite() && *v > 0.0);
    let need = |k: &str| get(k).ok_or_else(|| format!("{} record without shape.{k}", r.op));
    let (intensity, gflops) = match r.op.as_str() {
        "embedding" => {
            let dim = need("dim")?;
            let row_bytes = match get("row_bytes") {
                Some(b) => b,
                None => {
                    let per = match r.shape.get("dtype").and_then(|v| v.as_str()) {
                        Some("fp32") | None => 4.0,
                        Some("fp16") | Some("bf16") => 2.0,
                        Some("int8") => 1.0,
                        Some(other) => {
                            return Err(format!(
                                "embedding record of dtype `{other}` without shape.row_bytes"
                            ))
                        }
                    };
                    dim * per
                }
            };
            let rows = r.rows_per_s.ok_or("embedding record without rows_per_s")?;
            (dim / row_bytes, rows * dim / 1e9)
        }
        "mlp" => {
            let (m, k, n) = (need("m")?, need("k")?, need("n")?);
            let bytes = 4.0 * (m * k + k * n + m * n + n);
            (2.0 * m * k * n / bytes, r.gflops.ok_or("mlp record without gflops")?)
        }
        "interaction" => {
            let (f, d) = (need("features")?, need("dim")?);
            let pairs = f * (f - 1.0) / 2.0;
            (2.0 * pairs * d / (4.0 * (f * d + pairs)), r.gflops.ok_or("interaction record without gflops")?)
        }
        other => return Err(format!("no intensity model for op `{other}`")),
    };
    if intensity.is_finite() && intensity > 0.0 && gflops.is_finite() && gflops > 0.0 {
        Ok((intensity, gflops))
    } else {
        Err(format!("{} record with no positive throughput", r.op))
    }
}

/// Mean items per query of a distribution, clipped to [1, 1024] as the generator clips; `None` where
/// the table does not say enough (MLPerf quantiles, a sizes file).
pub fn mean_query_size(q: &QuerySizes) -> Option<f64> {
    // The mean of the clipped value, integrated over a standard normal z (±8 sd, fine steps).
    let clipped_mean = |f: &dyn Fn(f64) -> f64| {
        let (n, lo, hi) = (4000, -8.0, 8.0);
        let h = (hi - lo) / n as f64;
        let mut sum = 0.0;
        for i in 0..=n {
            let z = lo + i as f64 * h;
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            sum += w * f(z).clamp(1.0, 1024.0) * (-0.5 * z * z).exp();
        }
        sum * h / (2.0 * std::f64::consts::PI).sqrt()
    };
    let m = match *q {
        QuerySizes::Lognormal { mu, sigma } => clipped_mean(&|z| (mu + sigma * z).exp()),
        QuerySizes::Normal { mean, sd } => clipped_mean(&|z| mean + sd * z),
        QuerySizes::Fixed { size } => (size as f64).clamp(1.0, 1024.0),
        QuerySizes::Mlperf | QuerySizes::File { .. } => return None,
    };
    m.is_finite().then_some(m)
}

fn host_name(h: &HostFingerprint) -> String {
    format!("{} ({} cores)", h.cpu_model, h.physical_cores)
}

fn same_host(what: &str, h: &HostFingerprint, roof: &HostFingerprint) -> Result<(), RooflineError> {
    if h.cpu_model != roof.cpu_model || h.physical_cores != roof.physical_cores {
        return Err(RooflineError::OtherHost {
            what: what.into(),
            found: host_name(h),
            expected: host_name(roof),
        });
    }
    Ok(())
}

fn at(series: &[Measured], threads: usize) -> Option<f64> {
    series.iter().find(|m| m.threads == threads).map(|m| m.median).filter(|v| v.is_finite() && *v > 0.0)
}

/// The memory ceilings drawn as slopes: (id, name, series).
fn memory_ceilings(c: &Ceilings) -> [(&'static str, &'static str, &[Measured], &'static str); 4] {
    [
        ("copy", "STREAM copy", &c.stream_copy_gbs, "#8c564b"),
        ("triad", "STREAM triad", &c.stream_triad_gbs, "#9467bd"),
        ("seq-read", "sequential read", &c.seq_read_gbs, "#7f7f7f"),
        ("gather", "random row gather", &c.gather_gbs, "#d62728"),
    ]
}

/// A placed point: intensity, GFLOP/s, label.
type Placed = (f64, f64, String);

/// Draws the picture.
pub fn roofline_svg(inp: &RooflineInputs) -> Result<String, RooflineError> {
    let (roof_name, report) = inp.roofline;
    let c = &report.ceilings;
    let mut threads: Vec<usize> = c.fma_gflops.iter().filter(|m| m.median > 0.0).map(|m| m.threads).collect();
    threads.sort_unstable();
    threads.dedup();
    let max_t = *threads.last().ok_or(RooflineError::MissingCeiling(roof_name.into(), "FMA peak"))?;
    let peak = |t| at(&c.fma_gflops, t);
    let top_peak = peak(max_t).unwrap_or(1.0);
    let gather_top = at(&c.gather_gbs, max_t)
        .or_else(|| c.gather_gbs.iter().map(|m| m.median).reduce(f64::max))
        .ok_or(RooflineError::MissingCeiling(roof_name.into(), "random row gather"))?;
    for (what, k) in inp.kernels {
        same_host(what, &k.host, &report.host)?;
    }
    for (what, t) in inp.tables {
        same_host(what, &t.host, &report.host)?;
    }

    // Kernel points, grouped into series by (op, dtype or implementation, threads).
    let mut groups: BTreeMap<(String, usize), Vec<Placed>> = BTreeMap::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for (_, k) in inp.kernels {
        for r in &k.records {
            match kernel_point(r) {
                Ok((i, g)) => {
                    let s = |key: &str| r.shape.get(key).map(|v| v.to_string().trim_matches('"').to_string());
                    let (kind, label) = match r.op.as_str() {
                        "embedding" => (
                            format!("embedding {}", s("dtype").unwrap_or_else(|| "fp32".into())),
                            format!("D{}", s("dim").unwrap_or_default()),
                        ),
                        "mlp" => (
                            format!("mlp {}", r.implementation),
                            format!(
                                "{}x{}x{}",
                                s("m").unwrap_or_default(),
                                s("k").unwrap_or_default(),
                                s("n").unwrap_or_default()
                            ),
                        ),
                        op => (
                            format!("{op} {}", r.implementation),
                            format!("B{}", s("batch").unwrap_or_default()),
                        ),
                    };
                    groups.entry((kind, r.threads)).or_default().push((i, g, label));
                }
                Err(why) => *skipped.entry(why).or_default() += 1,
            }
        }
    }

    // Models: served throughput where a table says it, else on the gather roof.
    let mut served = Vec::new();
    let mut unserved = Vec::new();
    let types: std::collections::BTreeSet<&str> =
        inp.tables.iter().map(|(_, t)| t.server_type.name.as_str()).collect();
    for m in inp.zoo {
        if m.gathered_bytes_per_sample == 0 || m.macs_per_sample == 0 {
            *skipped.entry(format!("model {} with no gathered bytes or MACs", m.name)).or_default() += 1;
            continue;
        }
        let flop = 2.0 * m.macs_per_sample as f64;
        let i = flop / m.gathered_bytes_per_sample as f64;
        let mut any = false;
        for (_, t) in inp.tables.iter().filter(|(_, t)| t.model.name == m.name) {
            if let Some(items) = mean_query_size(&t.query_sizes) {
                let g = t.best.latency_bounded_qps * items * flop / 1e9;
                let label = if types.len() > 1 {
                    format!("{} ({})", m.name, t.server_type.name)
                } else {
                    m.name.clone()
                };
                served.push((i, g, label));
                any = true;
            }
        }
        if !any {
            unserved.push((i, top_peak.min(gather_top * i), m.name.clone()));
        }
    }

    // Axes: every point and every ridge, with room around them.
    let ridges: Vec<f64> = threads
        .iter()
        .flat_map(|&t| {
            let p = peak(t);
            memory_ceilings(c).into_iter().filter_map(move |(_, _, s, _)| Some(p? / at(s, t)?))
        })
        .collect();
    let xs: Vec<f64> = ridges
        .iter()
        .copied()
        .chain(groups.values().flatten().map(|p| p.0))
        .chain(served.iter().chain(&unserved).map(|p| p.0))
        .collect();
    let x_lo = xs.iter().copied().fold(f64::INFINITY, f64::min) / 3.0;
    let x_hi = xs.iter().copied().fold(0.0, f64::max) * 3.0;
    let low_bw = threads
        .iter()
        .flat_map(|&t| memory_ceilings(c).into_iter().filter_map(move |(_, _, s, _)| at(s, t)))
        .fold(f64::INFINITY, f64::min);
    let ys_lo =
        groups.values().flatten().chain(&served).chain(&unserved).map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_lo = (low_bw * x_lo).min(ys_lo) / 2.0;
    let x_axis = Axis::log("arithmetic intensity, FLOP per byte", x_lo, x_hi);
    let y_axis = Axis::log("GFLOP/s", y_lo, top_peak * 2.0);

    let mut legend = Vec::new();
    let mut draw = Vec::new();
    for &t in &threads {
        let (width, dash) = if t == max_t { (2.0, None) } else { (1.2, Some("6 4")) };
        let Some(p) = peak(t) else { continue };
        let tn = if t == 1 { "1 thread".to_string() } else { format!("{t} threads") };
        let mut first_ridge = f64::INFINITY;
        for (id, name, s, col) in memory_ceilings(c) {
            let Some(bw) = at(s, t) else { continue };
            let ridge = p / bw;
            first_ridge = first_ridge.min(ridge);
            let style = Style { color: col, width, dash, marker: Marker::None };
            let name = format!("{name}, {tn}: {bw:.1} GB/s");
            let pts = vec![(x_axis.min, bw * x_axis.min), (ridge, p)];
            draw.push(Series::new(format!("roof-{id}-{t}t"), name.clone(), style, Kind::Line, pts));
            legend.push((style, Kind::Line, name));
        }
        let style = Style { color: "#000000", width, dash, marker: Marker::None };
        let name = format!("FMA peak ({}), {tn}: {p:.1} GFLOP/s", c.fma_isa);
        let start = if first_ridge.is_finite() { first_ridge.min(x_axis.max) } else { x_axis.min };
        draw.push(Series::new(
            format!("roof-fma-{t}t"),
            name.clone(),
            style,
            Kind::Line,
            vec![(start, p), (x_axis.max, p)],
        ));
        legend.push((style, Kind::Line, name));
    }
    // One colour per kind of kernel, filled at the most threads, open below.
    let kinds: Vec<String> = {
        let mut k: Vec<String> = groups.keys().map(|(k, _)| k.clone()).collect();
        k.dedup();
        k
    };
    const KERNEL_COLOURS: [usize; 6] = [0, 1, 2, 9, 6, 8];
    for ((kind, t), pts) in &groups {
        let ci = kinds.iter().position(|k| k == kind).unwrap_or(0);
        let marker = if *t == max_t { Marker::Circle } else { Marker::OpenCircle };
        let style = Style::points(color(KERNEL_COLOURS[ci % KERNEL_COLOURS.len()]), marker);
        let name = format!("{kind}, {t} thread{}", if *t == 1 { "" } else { "s" });
        let mut s = Series::new(
            format!("kernel-{kind}-{t}t"),
            name.clone(),
            style,
            Kind::Points,
            pts.iter().map(|p| (p.0, p.1)).collect(),
        );
        s.labels = pts.iter().map(|p| p.2.clone()).collect();
        draw.push(s);
        legend.push((style, Kind::Points, name));
    }
    for (id, name, pts, marker) in [
        ("models-served", "model forward passes, served under the SLA", &served, Marker::Diamond),
        (
            "models-roof",
            "model forward passes, no table: on the gather roof",
            &unserved,
            Marker::OpenTriangle,
        ),
    ] {
        if pts.is_empty() {
            continue;
        }
        let style = Style::points("#000000", marker);
        let mut s = Series::new(id, name, style, Kind::Points, pts.iter().map(|p| (p.0, p.1)).collect());
        s.labels = pts.iter().map(|p| p.2.clone()).collect();
        draw.push(s);
        legend.push((style, Kind::Points, name.to_string()));
    }

    let mut notes = vec!["intensity: FLOP per byte that must move".to_string()];
    let has = |op: &str| groups.keys().any(|(k, _)| k.split(' ').next() == Some(op));
    if has("embedding") {
        notes.push("embedding: 1 add per element / row bytes".into());
    }
    if has("mlp") {
        notes.push("mlp: 2·M·K·N / fp32 in, weights, out".into());
    }
    if has("interaction") {
        notes.push("interaction: 2·pairs·dim / fp32 in, out".into());
    }
    if !inp.zoo.is_empty() {
        notes.push("models: 2·dense MACs / embedding bytes".into());
        notes.push("gathered, per sample".into());
    }
    if !served.is_empty() {
        notes.push("served: QPS under the SLA × mean items".into());
        notes.push("per query × FLOP per item".into());
    }
    for (why, n) in &skipped {
        notes.push(format!("skipped {n}: {why}"));
    }
    let file = |p: &str| {
        std::path::Path::new(p).file_name().map_or(p.to_string(), |f| f.to_string_lossy().into_owned())
    };
    notes.push(format!("roof: {}, {}", file(roof_name), report.measured_at));
    for (what, k) in inp.kernels {
        notes.push(format!("kernels: {}, {}", file(what), k.measured_at));
    }
    if let Some((what, t)) = inp.tables.first() {
        let dir = std::path::Path::new(what).parent().map(|d| d.display().to_string()).unwrap_or_default();
        notes.push(format!("tables: {} in {}", inp.tables.len(), file(&dir)));
        notes.push(format!("  e.g. {}, {}", file(what), t.measured_at));
    }

    let height = (110.0 + 17.0 * legend.len() as f64 + 14.0 * notes.len() as f64).max(560.0);
    let title = format!("Roofline: {}, {} cores", report.host.cpu_model, report.host.physical_cores);
    let mut svg = Svg::new(1060.0, height, &title);
    let panel = svg.panel(Rect { x: 80.0, y: 50.0, w: 560.0, h: height - 120.0 }, x_axis, y_axis, "");
    for s in &draw {
        svg.series(&panel, s);
    }
    let y = svg.legend(665.0, 60.0, &legend);
    svg.notes(665.0, y + 8.0, &notes);
    Ok(svg.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(op: &str, shape: serde_json::Value) -> KernelRecord {
        KernelRecord {
            op: op.into(),
            implementation: "hercules".into(),
            isa: "avx2".into(),
            threads: 1,
            shape,
            seconds_median: 1.0,
            seconds_min: 1.0,
            seconds_max: 1.0,
            repeats: 1,
            rows_per_s: Some(1e8),
            gbs: Some(12.8),
            gflops: Some(50.0),
            fraction_of_ceiling: None,
            ceiling: None,
            huge_pages: None,
            board_power: None,
        }
    }

    #[test]
    fn kernel_intensities() {
        let (i, g) = kernel_point(&record("embedding", json!({"dim": 32, "row_bytes": 128}))).unwrap();
        assert_eq!((i, g), (0.25, 3.2));
        let (i, _) = kernel_point(&record("embedding", json!({"dim": 32, "dtype": "int8"}))).unwrap();
        assert_eq!(i, 1.0);
        let (i, g) = kernel_point(&record("mlp", json!({"m": 1, "k": 1, "n": 1}))).unwrap();
        assert_eq!((i, g), (0.125, 50.0));
        assert!(kernel_point(&record("interaction", json!({"features": 27, "dim": 128}))).is_ok());
        assert!(kernel_point(&record("softmax", json!({}))).unwrap_err().contains("no intensity model"));
        assert!(kernel_point(&record("mlp", json!({"m": 1}))).unwrap_err().contains("shape.k"));
    }

    #[test]
    fn clipped_mean_query_sizes() {
        let m = mean_query_size(&QuerySizes::Lognormal { mu: 5.1, sigma: 0.2 }).unwrap();
        let unclipped = (5.1f64 + 0.02).exp();
        assert!((m - unclipped).abs() < 0.01 * unclipped, "{m}");
        // Half of N(1024, 100) lies above the clip.
        let n = mean_query_size(&QuerySizes::Normal { mean: 1024.0, sd: 100.0 }).unwrap();
        assert!(n < 1024.0 && n > 950.0, "{n}");
        assert_eq!(mean_query_size(&QuerySizes::Fixed { size: 5000 }), Some(1024.0));
        assert_eq!(mean_query_size(&QuerySizes::Mlperf), None);
    }
}
