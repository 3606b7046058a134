//! Markdown: the report people read.

use super::{pct, pct_or_na, Exporter};
use crate::policy::Status;
use crate::provision::ProvisionReport;
use std::fmt::Write;

/// `report.md`.
pub struct MarkdownReport;

/// The worst gap: `–` for a policy without a solver, `n/a` when no slot has a gap (all infeasible or
/// unsolved: a 0 % there would claim a proof that does not exist).
fn gap_cell(t: &crate::provision::DayTotals) -> String {
    match (t.slots_proven_optimal, t.worst_gap) {
        (None, _) => "–".into(),
        (Some(_), g) => pct_or_na(g),
    }
}

/// The per-policy totals as a Markdown table (also what the CLI prints).
pub fn summary_table(r: &ProvisionReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| policy | peak servers | server-hours | peak provisioned kW | provisioned kWh | estimated kWh | short slots | slots at risk | worst gap | solve s |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in &r.policies {
        let t = &p.totals;
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.2} | {:.1} | {:.1} | {} | {} | {} | {:.2} |",
            p.policy.name(),
            t.peak_servers,
            t.server_hours,
            t.peak_provisioned_watts / 1000.0,
            t.provisioned_energy_kwh,
            t.estimated_energy_kwh,
            t.slots_short,
            t.slots_at_risk,
            gap_cell(t),
            t.solve_seconds
        );
    }
    s
}

impl Exporter<ProvisionReport> for MarkdownReport {
    fn extension(&self) -> &'static str {
        "md"
    }

    /// `report.md`, whatever the stem: the name people open.
    fn files(&self, r: &ProvisionReport, _stem: &str) -> Vec<(String, String)> {
        vec![("report.md".into(), self.render(r))]
    }

    fn render(&self, r: &ProvisionReport) -> String {
        let mut s = String::new();
        macro_rules! w {
            ($($arg:tt)*) => {{ let _ = writeln!(s, $($arg)*); }};
        }
        w!("# Provisioning report\n");
        if r.synthetic {
            w!("> **SYNTHETIC** — some or all efficiency tables were made by `hercules-analysis synth`, not measured. These numbers say nothing about real hardware.\n");
        }
        let modelled: Vec<&str> =
            r.types.iter().filter(|t| t.modelled.is_some()).map(|t| t.name.as_str()).collect();
        if !modelled.is_empty() {
            w!(
                "> **MODELLED** — server types {} are projections by `hercules-analysis project` from measured tables, not measurements (see the tables column).\n",
                modelled.join(", ")
            );
        }
        w!(
            "{} models, {} server types, {} slots of {} min; load from {}; headroom {}; the optimum minimises {}.\n",
            r.models.len(),
            r.types.len(),
            r.policies.first().map_or(0, |p| p.slots.len()),
            r.slot_minutes,
            r.load_source,
            pct(r.headroom),
            match r.objective {
                crate::provision::Objective::Servers => "provisioned servers",
                crate::provision::Objective::Power => "provisioned power (servers × peak watts)",
            }
        );
        w!("## Server types\n");
        w!("| type | available | idle W | peak W | price | models with a table | tables |");
        w!("|---|---:|---:|---:|---:|---:|---|");
        for (i, t) in r.types.iter().enumerate() {
            let covered = r.tables.iter().filter(|row| row[i].is_some()).count();
            w!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                t.name,
                t.count,
                t.idle_watts,
                t.peak_watts,
                t.price.map(|p| p.to_string()).unwrap_or_else(|| "–".into()),
                covered,
                t.modelled.as_deref().unwrap_or("measured")
            );
        }
        w!("\n## The day\n");
        s.push_str(&summary_table(r));
        if !r.savings.is_empty() {
            w!("\n## Savings (fraction of the baseline saved; negative = costs more)\n");
            w!("| policy | vs | peak servers | server-hours | peak provisioned power | provisioned energy | estimated energy |");
            w!("|---|---|---:|---:|---:|---:|---:|");
            for v in &r.savings {
                w!(
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    v.policy.name(),
                    v.baseline.name(),
                    pct_or_na(v.peak_servers),
                    pct_or_na(v.server_hours),
                    pct_or_na(v.peak_provisioned_power),
                    pct_or_na(v.provisioned_energy),
                    pct_or_na(v.estimated_energy)
                );
            }
            for v in r
                .savings
                .iter()
                .filter_map(|v| v.not_comparable.as_ref())
                .collect::<std::collections::BTreeSet<_>>()
            {
                w!("\nn/a: {v}.");
            }
        }
        for p in &r.policies {
            if let Some(opt_slots) = p.totals.slots_proven_optimal {
                let mut also = String::new();
                if let Some(k) = p.totals.slots_infeasible.filter(|&k| k > 0) {
                    also.push_str(&format!(", {k} infeasible (not enough servers; see short slots)"));
                }
                if let Some(k) = p.totals.slots_unsolved.filter(|&k| k > 0) {
                    also.push_str(&format!(", {k} left to the greedy plan (time limit spent)"));
                }
                w!(
                    "\n**{}**: {} of {} slots proven optimal{also}; worst gap {}.",
                    p.policy.name(),
                    opt_slots,
                    p.slots.len(),
                    gap_cell(&p.totals)
                );
                let limited: Vec<String> = p
                    .slots
                    .iter()
                    .filter_map(|sl| sl.solver.as_ref().map(|i| (sl.slot, i)))
                    .filter(|(_, i)| i.status == Status::TimeLimit)
                    .map(|(t, i)| {
                        format!(
                            "{t} ({}; LP bound {:.1}, bound {:.1})",
                            pct_or_na(i.gap),
                            i.lp_bound.unwrap_or(f64::NAN),
                            i.bound
                        )
                    })
                    .take(20)
                    .collect();
                if !limited.is_empty() {
                    w!("Stopped by the time limit (gap reported): slots {}.", limited.join(", "));
                }
            }
        }
        w!("\n## Replay: slots at risk\n");
        let mut any = false;
        for p in &r.policies {
            for sl in p.slots.iter().filter(|sl| sl.at_risk) {
                any = true;
                let mut why: Vec<String> = sl
                    .assignments
                    .iter()
                    .filter(|a| a.at_risk)
                    .map(|a| match a.predicted_tail_ms {
                        Some(ms) => format!(
                            "{} on {}: p{} {:.1} ms > {} ms at {:.0}% utilisation",
                            a.model,
                            a.server_type,
                            a.sla_percentile,
                            ms,
                            a.sla_target_ms,
                            100.0 * a.utilisation
                        ),
                        None => format!("{} on {}: load beyond the measured curve", a.model, a.server_type),
                    })
                    .collect();
                for (m, &short) in sl.shortfall.iter().enumerate() {
                    if short > 0.0 {
                        why.push(format!("{}: short by {:.1} QPS", r.models[m], short));
                    }
                }
                w!("- {} slot {} ({:.1} h): {}", p.policy.name(), sl.slot, sl.start_hour, why.join("; "));
            }
        }
        if !any {
            w!("None: every server's share of its load is predicted within its SLA on its measured curve.");
        }
        w!("\n## Plots\n");
        w!("![load vs capacity per model](load_vs_capacity.svg)\n");
        w!("![servers per type, per policy](servers.svg)\n");
        w!("![power per policy](power.svg)\n");
        if let Some(p) = r
            .policies
            .iter()
            .find(|p| p.policy == crate::provision::PolicyKind::Optimal)
            .or(r.policies.first())
        {
            w!("## Plan at the peak slot ({})\n", p.policy.name());
            if let Some(sl) = p.slots.iter().max_by_key(|sl| sl.servers) {
                w!("Slot {} ({:.1} h), {} servers.\n", sl.slot, sl.start_hour, sl.servers);
                w!("| model | type | servers | schedule | utilisation | predicted tail ms | target ms |");
                w!("|---|---|---:|---|---:|---:|---:|");
                for a in &sl.assignments {
                    w!(
                        "| {} | {} | {} | {} | {:.0}% | {} | {} |",
                        a.model,
                        a.server_type,
                        a.servers,
                        a.schedule,
                        100.0 * a.utilisation,
                        a.predicted_tail_ms
                            .map(|x| format!("{x:.1}"))
                            .unwrap_or_else(|| "beyond curve".into()),
                        a.sla_target_ms
                    );
                }
            }
        }
        w!("\n## Notes\n");
        for n in &r.notes {
            w!("- {n}");
        }
        s
    }
}
