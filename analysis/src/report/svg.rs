//! SVG plots of a provisioning run, drawn with the hand-written kit of `hercules-results`.
//!
//! The policies share one scale in every picture, so a policy that needs more servers or power is seen
//! to; load and capacity are drawn per model (small multiples), because a sum over models is dominated
//! by the busiest one and hides a policy that leaves a small model short.

use super::Exporter;
use crate::provision::{PolicyKind, ProvisionReport};
use hercules_results::plot::{color, steps, Axis, Kind, Marker, Rect, Series, Style, Svg};

/// `load_vs_capacity.svg`, `servers.svg`, `power.svg`.
pub struct SvgReport;

/// Most models drawn one panel each; beyond it the busiest are drawn and the note says so.
const MAX_MODEL_PANELS: usize = 23;

fn title(r: &ProvisionReport, what: &str) -> String {
    let modelled = r.types.iter().any(|t| t.modelled.is_some());
    match (r.synthetic, modelled) {
        (true, _) => format!("{what} — SYNTHETIC tables"),
        (false, true) => format!("{what} — some server types MODELLED"),
        _ => what.to_string(),
    }
}

/// Each policy's look, the same in every picture.
fn policy_style(p: PolicyKind) -> Style {
    match p {
        PolicyKind::GreedyQps => Style { color: color(1), width: 3.5, dash: None, marker: Marker::None },
        PolicyKind::GreedyEff => {
            Style { color: color(2), width: 2.5, dash: Some("7 4"), marker: Marker::None }
        }
        PolicyKind::Optimal => Style { color: color(0), width: 1.5, dash: None, marker: Marker::None },
    }
}

struct Day {
    hours: Vec<f64>,
    width: f64,
    x_max: f64,
}

impl Day {
    fn of(r: &ProvisionReport) -> Option<Self> {
        let first = r.policies.first()?;
        let hours: Vec<f64> = first.slots.iter().map(|s| s.start_hour).collect();
        let width = r.slot_minutes / 60.0;
        let x_max = hours.last().copied().unwrap_or(0.0) + width;
        Some(Self { hours, width, x_max })
    }

    fn axis(&self) -> Axis {
        // Ticks at round hours of the day (6, 12, 18...), at most eight of them.
        let step = [1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0]
            .into_iter()
            .find(|s| self.x_max / s <= 8.0)
            .unwrap_or(168.0);
        Axis::stepped("hour", 0.0, self.x_max, step)
    }

    fn steps(&self, v: &[f64]) -> Vec<(f64, f64)> {
        steps(&self.hours, v, self.width)
    }
}

fn max_of<'a>(v: impl IntoIterator<Item = &'a f64>) -> f64 {
    v.into_iter().copied().filter(|x| x.is_finite()).fold(0.0, f64::max)
}

/// Load, demand (load with headroom) and each policy's capacity, one panel per model, plus the
/// tightest model's capacity over load per policy.
fn load_vs_capacity(r: &ProvisionReport, day: &Day) -> String {
    let n = r.models.len();
    let mut order: Vec<usize> = (0..n).collect();
    let peak_load = |m: usize| {
        r.policies[0].slots.iter().map(|s| s.load.get(m).copied().unwrap_or(0.0)).fold(0.0, f64::max)
    };
    if n > MAX_MODEL_PANELS {
        order.sort_by(|&a, &b| peak_load(b).total_cmp(&peak_load(a)));
        order.truncate(MAX_MODEL_PANELS);
    }
    let panels = order.len() + 1;
    let cols = (panels as f64).sqrt().ceil() as usize;
    let rows = panels.div_ceil(cols);
    let (cw, ch) = (290.0, 210.0);
    let area = Rect { x: 0.0, y: 40.0, w: cw * cols as f64, h: ch * rows as f64 };
    let mut what = "Load vs provisioned capacity per model (QPS)".to_string();
    if n > MAX_MODEL_PANELS {
        what.push_str(&format!(", the {MAX_MODEL_PANELS} busiest of {n} models"));
    }
    let mut svg = Svg::new(area.w + 300.0, (area.y + area.h + 20.0).max(330.0), &title(r, &what));
    let cells = area.grid(panels, cols, (65.0, 28.0, 15.0, 42.0));
    let load_style = Style::line("#000000");
    let demand_style = Style { color: "#555555", width: 1.2, dash: Some("2 3"), marker: Marker::None };
    for (cell, &m) in cells.iter().zip(&order) {
        let load: Vec<f64> =
            r.policies[0].slots.iter().map(|s| s.load.get(m).copied().unwrap_or(0.0)).collect();
        let demand: Vec<f64> = load.iter().map(|l| l * (1.0 + r.headroom)).collect();
        let caps: Vec<Vec<f64>> = r
            .policies
            .iter()
            .map(|p| p.slots.iter().map(|s| s.capacity.get(m).copied().unwrap_or(0.0)).collect())
            .collect();
        let y_max = max_of(demand.iter().chain(caps.iter().flatten())).max(1e-9) * 1.05;
        let name = &r.models[m];
        let panel = svg.panel(*cell, day.axis(), Axis::linear("QPS", 0.0, y_max), name);
        for (p, cap) in r.policies.iter().zip(&caps) {
            let id = format!("capacity-{}-{name}", p.policy.name());
            let s = Series::new(
                id,
                format!("capacity, {}", p.policy.name()),
                policy_style(p.policy),
                Kind::Line,
                day.steps(cap),
            );
            svg.series(&panel, &s);
        }
        svg.series(
            &panel,
            &Series::new(
                format!("demand-{name}"),
                "load with headroom",
                demand_style,
                Kind::Line,
                day.steps(&demand),
            ),
        );
        svg.series(
            &panel,
            &Series::new(format!("load-{name}"), "load", load_style, Kind::Line, day.steps(&load)),
        );
    }
    // The tightest model per slot: below 1 + headroom a policy leaves some model without its margin.
    let tight: Vec<Vec<f64>> = r
        .policies
        .iter()
        .map(|p| {
            p.slots
                .iter()
                .map(|s| {
                    s.load
                        .iter()
                        .zip(&s.capacity)
                        .filter(|(l, _)| **l > 0.0)
                        .map(|(l, c)| c / l)
                        .fold(f64::INFINITY, f64::min)
                })
                .map(|v| if v.is_finite() { v } else { 0.0 })
                .collect()
        })
        .collect();
    let y_max = max_of(tight.iter().flatten()).max(1.0 + r.headroom) * 1.1;
    let cell = cells[panels - 1];
    let panel = svg.panel(
        cell,
        day.axis(),
        Axis::linear("capacity / load", 0.0, y_max),
        "tightest model, all models",
    );
    for (p, v) in r.policies.iter().zip(&tight) {
        let s = Series::new(
            format!("tightest-{}", p.policy.name()),
            format!("tightest, {}", p.policy.name()),
            policy_style(p.policy),
            Kind::Line,
            day.steps(v),
        );
        svg.series(&panel, &s);
    }
    let margin = vec![(0.0, 1.0 + r.headroom), (day.x_max, 1.0 + r.headroom)];
    svg.series(&panel, &Series::new("tightest-margin", "1 + headroom", demand_style, Kind::Line, margin));

    let mut legend = vec![(load_style, Kind::Line, "load".to_string())];
    legend.push((demand_style, Kind::Line, format!("load + {:.0}% headroom", 100.0 * r.headroom)));
    for p in &r.policies {
        legend.push((policy_style(p.policy), Kind::Line, format!("capacity, {}", p.policy.name())));
    }
    let x = area.w + 10.0;
    let y = svg.legend(x, 70.0, &legend);
    svg.notes(
        x,
        y + 8.0,
        &[
            "each panel has its own QPS scale;".into(),
            "the last panel divides capacity by load".into(),
            "for every model and shows the smallest".into(),
        ],
    );
    svg.finish()
}

/// Servers per type over the day, one panel per policy, all on one scale.
fn servers(r: &ProvisionReport, day: &Day) -> String {
    let k = r.policies.len().max(1);
    let area = Rect { x: 0.0, y: 40.0, w: 330.0 * k as f64, h: 330.0 };
    let mut svg = Svg::new(
        area.w + 230.0,
        area.y + area.h + 10.0,
        &title(r, "Servers per type over the day, per policy (one scale)"),
    );
    let y_max =
        r.policies.iter().flat_map(|p| p.slots.iter().map(|s| s.servers as f64)).fold(0.0, f64::max).max(1.0)
            * 1.05;
    let cells = area.grid(k, k, (65.0, 28.0, 15.0, 42.0));
    let type_style = |t: usize| Style { color: color(t), width: 1.0, dash: None, marker: Marker::None };
    for (cell, p) in cells.iter().zip(&r.policies) {
        let panel = svg.panel(*cell, day.axis(), Axis::linear("servers", 0.0, y_max), p.policy.name());
        let mut below = vec![0.0; p.slots.len()];
        for (t, ty) in r.types.iter().enumerate() {
            let here: Vec<f64> =
                p.slots.iter().map(|s| s.servers_by_type.get(t).copied().unwrap_or(0) as f64).collect();
            if here.iter().all(|v| *v == 0.0) {
                continue;
            }
            let top: Vec<f64> = below.iter().zip(&here).map(|(b, h)| b + h).collect();
            let mut s = Series::new(
                format!("servers-{}-{}", p.policy.name(), ty.name),
                format!("{}, {}", ty.name, p.policy.name()),
                type_style(t),
                Kind::Band,
                day.steps(&top),
            );
            s.lower = day.steps(&below);
            svg.series(&panel, &s);
            below = top;
        }
    }
    let legend: Vec<_> =
        r.types.iter().enumerate().map(|(t, ty)| (type_style(t), Kind::Band, ty.name.clone())).collect();
    svg.legend(area.w + 10.0, 70.0, &legend);
    svg.finish()
}

/// Provisioned and estimated power per policy, two panels on one scale.
fn power(r: &ProvisionReport, day: &Day) -> String {
    let area = Rect { x: 0.0, y: 40.0, w: 900.0, h: 360.0 };
    let mut svg = Svg::new(
        area.w + 230.0,
        area.y + area.h + 10.0,
        &title(r, "Power over the day, per policy (one scale)"),
    );
    let kw = |f: fn(&crate::provision::SlotResult) -> f64| -> Vec<Vec<f64>> {
        r.policies.iter().map(|p| p.slots.iter().map(|s| f(s) / 1000.0).collect()).collect()
    };
    let prov = kw(|s| s.provisioned_watts);
    let est = kw(|s| s.estimated_watts);
    let y_max = max_of(prov.iter().chain(&est).flatten()).max(1e-9) * 1.05;
    let cells = area.grid(2, 2, (65.0, 28.0, 15.0, 42.0));
    for (cell, (what, data)) in cells.iter().zip([("provisioned", &prov), ("estimated", &est)]) {
        let heading = if what == "provisioned" {
            "provisioned (servers × peak watts)"
        } else {
            "estimated (at utilisation)"
        };
        let panel = svg.panel(*cell, day.axis(), Axis::linear("kW", 0.0, y_max), heading);
        for (p, v) in r.policies.iter().zip(data) {
            let s = Series::new(
                format!("{what}-{}", p.policy.name()),
                format!("{what}, {}", p.policy.name()),
                policy_style(p.policy),
                Kind::Line,
                day.steps(v),
            );
            svg.series(&panel, &s);
        }
    }
    let legend: Vec<_> = r
        .policies
        .iter()
        .map(|p| (policy_style(p.policy), Kind::Line, p.policy.name().to_string()))
        .collect();
    svg.legend(area.w + 10.0, 70.0, &legend);
    svg.finish()
}

impl Exporter<ProvisionReport> for SvgReport {
    fn extension(&self) -> &'static str {
        "svg"
    }

    /// `load_vs_capacity.svg`.
    fn render(&self, r: &ProvisionReport) -> String {
        Day::of(r).map_or_else(String::new, |day| load_vs_capacity(r, &day))
    }

    fn files(&self, r: &ProvisionReport, _stem: &str) -> Vec<(String, String)> {
        let Some(day) = Day::of(r) else { return vec![] };
        vec![
            ("load_vs_capacity.svg".to_string(), load_vs_capacity(r, &day)),
            ("servers.svg".to_string(), servers(r, &day)),
            ("power.svg".to_string(), power(r, &day)),
        ]
    }
}
