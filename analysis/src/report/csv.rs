//! CSV: the plan (one row per slot, model and type), the day's totals, and the savings.

use super::Exporter;
use crate::provision::ProvisionReport;
use hercules_results::export::csv_field;

/// `plan.csv`, `totals.csv`, `savings.csv`.
pub struct CsvReport;

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// The day's totals per policy as CSV.
pub fn totals_csv(r: &ProvisionReport) -> String {
    let mut s = String::from(
        "synthetic,policy,peak_servers,mean_servers,server_hours,peak_provisioned_watts,provisioned_energy_kwh,\
estimated_energy_kwh,slots_short,slots_at_risk,worst_gap,slots_proven_optimal,solve_seconds,slots_infeasible,\
slots_unsolved\n",
    );
    for p in &r.policies {
        let t = &p.totals;
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.synthetic,
            p.policy.name(),
            t.peak_servers,
            t.mean_servers,
            t.server_hours,
            t.peak_provisioned_watts,
            t.provisioned_energy_kwh,
            t.estimated_energy_kwh,
            t.slots_short,
            t.slots_at_risk,
            opt(t.worst_gap),
            t.slots_proven_optimal.map(|x| x.to_string()).unwrap_or_default(),
            t.solve_seconds,
            t.slots_infeasible.map(|x| x.to_string()).unwrap_or_default(),
            t.slots_unsolved.map(|x| x.to_string()).unwrap_or_default()
        ));
    }
    s
}

impl Exporter<ProvisionReport> for CsvReport {
    fn extension(&self) -> &'static str {
        "csv"
    }

    /// `plan.csv`.
    fn render(&self, r: &ProvisionReport) -> String {
        self.files(r, "").into_iter().next().map_or_else(String::new, |(_, text)| text)
    }

    fn files(&self, r: &ProvisionReport, _stem: &str) -> Vec<(String, String)> {
        let mut plan = String::from(
            "synthetic,policy,slot,start_hour,model,server_type,servers,schedule,qps_per_server,load_qps,\
capacity_qps,shortfall_qps,utilisation,offered_per_server,predicted_tail_ms,sla_percentile,sla_target_ms,at_risk,\
modelled_type\n",
        );
        for p in &r.policies {
            for sl in &p.slots {
                for a in &sl.assignments {
                    let m = r.models.iter().position(|x| *x == a.model).unwrap_or(0);
                    let modelled = r.types.iter().any(|t| t.name == a.server_type && t.modelled.is_some());
                    plan.push_str(&format!(
                        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                        r.synthetic,
                        p.policy.name(),
                        sl.slot,
                        sl.start_hour,
                        csv_field(&a.model),
                        csv_field(&a.server_type),
                        a.servers,
                        csv_field(&a.schedule),
                        a.qps_per_server,
                        sl.load[m],
                        sl.capacity[m],
                        sl.shortfall[m],
                        a.utilisation,
                        a.offered_per_server,
                        opt(a.predicted_tail_ms),
                        a.sla_percentile,
                        a.sla_target_ms,
                        a.at_risk,
                        modelled
                    ));
                }
                // Models left entirely uncovered have no assignment row: list their shortfall too.
                for (m, &short) in sl.shortfall.iter().enumerate() {
                    if short > 0.0 && sl.capacity[m] == 0.0 {
                        plan.push_str(&format!(
                            "{},{},{},{},{},,0,,,{},0,{},,,,,,true,false\n",
                            r.synthetic,
                            p.policy.name(),
                            sl.slot,
                            sl.start_hour,
                            csv_field(&r.models[m]),
                            sl.load[m],
                            short
                        ));
                    }
                }
            }
        }
        let mut savings = String::from(
            "synthetic,policy,baseline,peak_servers,server_hours,peak_provisioned_power,provisioned_energy,estimated_energy,not_comparable\n",
        );
        for s in &r.savings {
            savings.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                r.synthetic,
                s.policy.name(),
                s.baseline.name(),
                opt(s.peak_servers),
                opt(s.server_hours),
                opt(s.peak_provisioned_power),
                opt(s.provisioned_energy),
                opt(s.estimated_energy),
                csv_field(s.not_comparable.as_deref().unwrap_or(""))
            ));
        }
        vec![("plan.csv".into(), plan), ("totals.csv".into(), totals_csv(r)), ("savings.csv".into(), savings)]
    }
}
