//! SVG plots (plotters, SVG backend only: text is emitted as SVG `<text>`, no system fonts needed).

use super::ReportExporter;
use crate::provision::ProvisionReport;
use plotters::prelude::*;

/// `load_vs_capacity.svg`, `power.svg`, `servers_<policy>.svg`.
pub struct SvgReport;

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn title(r: &ProvisionReport, what: &str) -> String {
    if r.synthetic {
        format!("{what} — SYNTHETIC tables")
    } else {
        what.to_string()
    }
}

/// A line chart of several series over the slots' start hours.
fn lines(caption: &str, y_label: &str, hours: &[f64], series: &[(String, Vec<f64>)]) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 500)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let x_max = hours.last().copied().unwrap_or(0.0) + hours.get(1).map_or(1.0, |h| h - hours[0]);
        let y_max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0, f64::max).max(1e-9) * 1.08;
        let chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max);
        let Ok(mut chart) = chart else { return out_fallback(caption) };
        let _ = chart
            .configure_mesh()
            .x_desc("hour")
            .y_desc(y_label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw();
        for (i, (name, ys)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            // Steps: a slot's value holds over the whole slot.
            let pts: Vec<(f64, f64)> = hours
                .iter()
                .zip(ys)
                .enumerate()
                .flat_map(|(k, (&h, &y))| {
                    let end = hours.get(k + 1).copied().unwrap_or(x_max);
                    [(h, y), (end, y)]
                })
                .collect();
            if let Ok(a) = chart.draw_series(LineSeries::new(pts, color.stroke_width(2))) {
                a.label(name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        // Diurnal curves leave the bottom of the chart free.
        let _ = chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    out
}

fn out_fallback(caption: &str) -> String {
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"60\"><text x=\"10\" y=\"30\">{caption}: nothing to plot</text></svg>")
}

/// Stacked areas of servers per type.
fn stacked(caption: &str, hours: &[f64], names: &[String], per_slot: &[Vec<u32>]) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 500)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let x_max = hours.last().copied().unwrap_or(0.0) + hours.get(1).map_or(1.0, |h| h - hours[0]);
        let y_max = per_slot.iter().map(|v| v.iter().sum::<u32>()).max().unwrap_or(0).max(1) as f64 * 1.08;
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        else {
            return out_fallback(caption);
        };
        let _ = chart
            .configure_mesh()
            .x_desc("hour")
            .y_desc("servers")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw();
        // Draw the cumulative sums top-down so each type's band is visible.
        for s in (0..names.len()).rev() {
            let color = PALETTE[s % PALETTE.len()];
            let pts: Vec<(f64, f64)> = hours
                .iter()
                .enumerate()
                .flat_map(|(k, &h)| {
                    let y = per_slot[k][..=s].iter().sum::<u32>() as f64;
                    let end = hours.get(k + 1).copied().unwrap_or(x_max);
                    [(h, y), (end, y)]
                })
                .collect();
            if let Ok(a) = chart.draw_series(AreaSeries::new(pts, 0.0, color.mix(0.85)).border_style(color)) {
                a.label(names[s].clone())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
            }
        }
        let _ = chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    out
}

impl ReportExporter for SvgReport {
    fn render(&self, r: &ProvisionReport) -> Vec<(String, String)> {
        let Some(first) = r.policies.first() else { return vec![] };
        let hours: Vec<f64> = first.slots.iter().map(|s| s.start_hour).collect();
        let total_load: Vec<f64> = first.slots.iter().map(|s| s.load.iter().sum()).collect();
        let mut cap = vec![("load".to_string(), total_load)];
        for p in &r.policies {
            cap.push((
                format!("capacity, {}", p.policy.name()),
                p.slots.iter().map(|s| s.capacity.iter().sum()).collect(),
            ));
        }
        let power: Vec<(String, Vec<f64>)> = r
            .policies
            .iter()
            .flat_map(|p| {
                [
                    (
                        format!("provisioned, {}", p.policy.name()),
                        p.slots.iter().map(|s| s.provisioned_watts / 1000.0).collect(),
                    ),
                    (
                        format!("estimated, {}", p.policy.name()),
                        p.slots.iter().map(|s| s.estimated_watts / 1000.0).collect(),
                    ),
                ]
            })
            .collect();
        let mut files = vec![
            (
                "load_vs_capacity.svg".to_string(),
                lines(&title(r, "Load vs provisioned capacity (QPS, all models)"), "QPS", &hours, &cap),
            ),
            ("power.svg".to_string(), lines(&title(r, "Power over the day"), "kW", &hours, &power)),
        ];
        let names: Vec<String> = r.types.iter().map(|t| t.name.clone()).collect();
        for p in &r.policies {
            let per: Vec<Vec<u32>> = p.slots.iter().map(|s| s.servers_by_type.clone()).collect();
            files.push((
                format!("servers_{}.svg", p.policy.name()),
                stacked(&title(r, &format!("Servers per type, {}", p.policy.name())), &hours, &names, &per),
            ));
        }
        files
    }
}
