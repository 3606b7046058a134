//! Runs the policies over every slot and gathers the plan, the day's totals, the savings and the replay.

use crate::cluster::{Capacity, Fleet};
use crate::instance::Instance;
use crate::load::Load;
use crate::policy::{greedy, solve_slot, Backend, OptimalOptions, Rank, Status};
use crate::replay::predict;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A provisioning policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Greedy by QPS per server.
    GreedyQps,
    /// Greedy by QPS per watt.
    GreedyEff,
    /// The MILP optimum.
    Optimal,
}

impl PolicyKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::GreedyQps => "greedy-qps",
            PolicyKind::GreedyEff => "greedy-eff",
            PolicyKind::Optimal => "optimal",
        }
    }
}

/// What the optimum minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Number of provisioned servers.
    Servers,
    /// Provisioned power: Σ servers × peak watts (a provisioned server is budgeted at its peak).
    Power,
}

/// Options of a provisioning run.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// Policies to run.
    pub policies: Vec<PolicyKind>,
    /// Objective of the optimum.
    pub objective: Objective,
    /// Capacity margin over the load (0.1 = 10 %).
    pub headroom: f64,
    /// Time budget of the optimal policy over all slots.
    pub time_limit: Duration,
    /// MILP solver.
    pub backend: Backend,
    /// Worker threads for the optimal policy's slots.
    pub threads: usize,
}

/// One (model, type) line of a slot's plan.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    /// Model.
    pub model: String,
    /// Server type.
    pub server_type: String,
    /// Servers provisioned.
    pub servers: u32,
    /// Schedule they run (the table's best).
    pub schedule: String,
    /// Latency-bounded QPS of one server.
    pub qps_per_server: f64,
    /// Load / provisioned capacity of the model (same on every server of the model).
    pub utilisation: f64,
    /// QPS each server is offered.
    pub offered_per_server: f64,
    /// Predicted tail latency (ms) at the SLA percentile, from the table's curve.
    pub predicted_tail_ms: Option<f64>,
    /// SLA percentile.
    pub sla_percentile: f64,
    /// SLA target, ms.
    pub sla_target_ms: f64,
    /// Over the target or beyond the measured curve.
    pub at_risk: bool,
}

/// The optimal policy's solver report for one slot.
#[derive(Debug, Clone, Serialize)]
pub struct SolverInfo {
    /// Optimal, time-limit, infeasible, or unsolved (the run's budget was spent before it).
    pub status: Status,
    /// Step that produced the plan.
    pub method: &'static str,
    /// Objective value.
    pub objective: f64,
    /// LP relaxation's optimum.
    pub lp_bound: Option<f64>,
    /// Best proven lower bound.
    pub bound: f64,
    /// Relative gap; `None` where it means nothing: an infeasible slot (no plan covers the load) or
    /// one left unsolved.
    pub gap: Option<f64>,
    /// Seconds.
    pub seconds: f64,
}

/// One slot of one policy.
#[derive(Debug, Clone, Serialize)]
pub struct SlotResult {
    /// Slot index.
    pub slot: usize,
    /// Start of the slot, hours from the start of the day.
    pub start_hour: f64,
    /// Load per model (model order of the report).
    pub load: Vec<f64>,
    /// Capacity provisioned per model.
    pub capacity: Vec<f64>,
    /// Uncovered load (QPS, headroom included) per model; all zero when the slot is feasible.
    pub shortfall: Vec<f64>,
    /// Non-zero lines of the plan.
    pub assignments: Vec<Assignment>,
    /// Servers per type (type order of the report).
    pub servers_by_type: Vec<u32>,
    /// All servers.
    pub servers: u32,
    /// Σ servers × peak watts.
    pub provisioned_watts: f64,
    /// Σ servers × (idle + (peak − idle) × utilisation): the power the plan would draw.
    pub estimated_watts: f64,
    /// Any assignment at risk, or a shortfall.
    pub at_risk: bool,
    /// Solver report (optimal policy only).
    pub solver: Option<SolverInfo>,
}

/// Totals over the day of one policy.
#[derive(Debug, Clone, Serialize)]
pub struct DayTotals {
    /// Most servers provisioned in any slot (what has to be bought).
    pub peak_servers: u32,
    /// Mean servers over the slots.
    pub mean_servers: f64,
    /// Server-hours.
    pub server_hours: f64,
    /// Most provisioned power in any slot, watts.
    pub peak_provisioned_watts: f64,
    /// Provisioned energy (Σ provisioned watts × slot hours), kWh.
    pub provisioned_energy_kwh: f64,
    /// Estimated energy drawn (utilisation-based power), kWh.
    pub estimated_energy_kwh: f64,
    /// Slots that could not be covered.
    pub slots_short: usize,
    /// Slots with an assignment at risk.
    pub slots_at_risk: usize,
    /// Largest optimality gap over the slots that have one (optimal policy only; `None` there when no
    /// slot has one, e.g. all are infeasible).
    pub worst_gap: Option<f64>,
    /// Slots proven optimal (optimal policy only).
    pub slots_proven_optimal: Option<usize>,
    /// Slots the solver found infeasible: not enough servers (optimal policy only).
    pub slots_infeasible: Option<usize>,
    /// Slots left to the greedy fallback because the time budget was spent (optimal policy only).
    pub slots_unsolved: Option<usize>,
    /// Total solve time, seconds.
    pub solve_seconds: f64,
}

/// A policy's results.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    /// Policy.
    pub policy: PolicyKind,
    /// Per slot.
    pub slots: Vec<SlotResult>,
    /// Over the day.
    pub totals: DayTotals,
}

/// Savings of one policy against a baseline, as fractions of the baseline (positive = saves). Every
/// figure is `None` when either plan leaves load uncovered (`not_comparable` says why): a plan that
/// does not carry the load is not cheaper, just short.
#[derive(Debug, Clone, Serialize)]
pub struct Savings {
    /// The policy.
    pub policy: PolicyKind,
    /// The baseline.
    pub baseline: PolicyKind,
    /// Peak servers.
    pub peak_servers: Option<f64>,
    /// Server-hours.
    pub server_hours: Option<f64>,
    /// Peak provisioned power.
    pub peak_provisioned_power: Option<f64>,
    /// Provisioned energy.
    pub provisioned_energy: Option<f64>,
    /// Estimated energy.
    pub estimated_energy: Option<f64>,
    /// Why the figures are missing, e.g. `infeasible: greedy-qps leaves 24 of 24 slots short`.
    pub not_comparable: Option<String>,
}

/// Everything a provisioning run produced.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionReport {
    /// Any input table synthetic: shown in every output.
    pub synthetic: bool,
    /// Objective of the optimum.
    pub objective: Objective,
    /// Capacity margin.
    pub headroom: f64,
    /// Slot length, minutes.
    pub slot_minutes: f64,
    /// Where the load came from.
    pub load_source: String,
    /// Models.
    pub models: Vec<String>,
    /// Server types.
    pub types: Vec<crate::cluster::TypeSpec>,
    /// Tables used, per model and type (`null` where the type has no table for the model).
    pub tables: Vec<Vec<Option<String>>>,
    /// Per policy.
    pub policies: Vec<PolicyResult>,
    /// Each policy against each greedy baseline.
    pub savings: Vec<Savings>,
    /// How the numbers are defined.
    pub notes: Vec<String>,
}

/// The numeric instance of slot `t`.
pub fn instance(fleet: &Fleet, load: &Load, t: usize, objective: Objective, headroom: f64) -> Instance {
    let qps = fleet
        .tables
        .iter()
        .map(|row| row.iter().map(|c| c.as_ref().map_or(0.0, |t| t.qps)).collect())
        .collect();
    let cost = fleet
        .types
        .iter()
        .map(|s| match objective {
            Objective::Servers => 1.0,
            Objective::Power => s.peak_watts,
        })
        .collect();
    Instance {
        qps,
        count: fleet.types.iter().map(|s| s.count).collect(),
        cost,
        demand: load.qps[t].iter().map(|q| q * (1.0 + headroom)).collect(),
    }
}

/// Runs every policy asked for. `progress` is told each finished slot of the optimal policy.
pub fn provision(
    fleet: &Fleet,
    load: &Load,
    opts: &ProvisionOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> ProvisionReport {
    let slots = load.qps.len();
    let insts: Vec<Instance> =
        (0..slots).map(|t| instance(fleet, load, t, opts.objective, opts.headroom)).collect();
    let watts: Vec<f64> = fleet.types.iter().map(|s| s.peak_watts).collect();
    let mut policies = Vec::new();
    for &p in &opts.policies {
        let started = Instant::now();
        let plans: Vec<PlanAndInfo> = match p {
            PolicyKind::GreedyQps => {
                insts.iter().map(|i| (greedy(i, &watts, Rank::QpsPerServer), None)).collect()
            }
            PolicyKind::GreedyEff => {
                insts.iter().map(|i| (greedy(i, &watts, Rank::QpsPerWatt), None)).collect()
            }
            PolicyKind::Optimal => solve_all(&insts, &watts, opts, progress),
        };
        let seconds = started.elapsed().as_secs_f64();
        let results: Vec<SlotResult> = plans
            .into_iter()
            .enumerate()
            .map(|(t, (n, solver))| slot_result(fleet, load, &insts[t], t, &n, solver))
            .collect();
        let totals = totals(&results, load.slot_minutes, seconds);
        policies.push(PolicyResult { policy: p, slots: results, totals });
    }
    let savings = savings(&policies);
    let tables = fleet
        .tables
        .iter()
        .map(|row| row.iter().map(|c| c.as_ref().map(|t| t.path.display().to_string())).collect())
        .collect();
    ProvisionReport {
        synthetic: fleet.synthetic,
        objective: opts.objective,
        headroom: opts.headroom,
        slot_minutes: load.slot_minutes,
        load_source: load.source.clone(),
        models: fleet.models.clone(),
        types: fleet.types.clone(),
        tables,
        policies,
        savings,
        notes: [
            match fleet.capacity {
                Capacity::Low => {
                    "Capacity of a server = the lower end of its table's confidence interval of \
                     latency-bounded QPS at the best schedule (the single measurement where a table has no \
                     interval); each model's capacity must cover its load × (1 + headroom)."
                }
                Capacity::Median => {
                    "Capacity of a server = its table's median latency-bounded QPS at the \
                     best schedule (`--capacity median`); each model's capacity must cover its load × \
                     (1 + headroom)."
                }
            }
            .to_string(),
            "Provisioned power = servers × peak watts (the power budget a provisioned server takes); \
             estimated power = servers × (idle + (peak − idle) × utilisation)."
                .into(),
            "The power objective minimises provisioned power.".into(),
            "Replay: load is spread over a model's servers in proportion to capacity; each server's \
             share is looked up on its table's measured QPS–latency curve (linear interpolation). At \
             risk = predicted tail over the SLA target, or a share beyond the last measured point."
                .into(),
        ]
        .into_iter()
        .chain(fleet.warnings.iter().map(|w| format!("Warning: {w}")))
        .collect(),
    }
}

/// A slot's plan and, for the optimal policy, its solver report.
type PlanAndInfo = (Vec<Vec<u32>>, Option<SolverInfo>);

/// The optimal policy over all slots, on `opts.threads` workers sharing one time budget: each slot
/// gets the time left divided by the slots left (per worker), so early slots cannot starve late ones.
/// Once the budget is spent, the slots left get the cheaper greedy plan (marked [`Status::Unsolved`]),
/// so the limit holds however many slots there are.
fn solve_all(
    insts: &[Instance],
    watts: &[f64],
    opts: &ProvisionOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<PlanAndInfo> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<PlanAndInfo>>> = Mutex::new(vec![None; insts.len()]);
    let end = Instant::now() + opts.time_limit;
    let workers = opts.threads.max(1).min(insts.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let t = next.fetch_add(1, Ordering::SeqCst);
                if t >= insts.len() {
                    break;
                }
                let left = end.saturating_duration_since(Instant::now());
                let answer = if left.is_zero() {
                    fallback(&insts[t], watts)
                } else {
                    let left_slots = (insts.len() - t).div_ceil(workers).max(1) as u32;
                    let o = OptimalOptions {
                        time_limit: (left / left_slots).max(Duration::from_millis(10)),
                        backend: opts.backend,
                    };
                    let s = solve_slot(&insts[t], &o);
                    let info = SolverInfo {
                        status: s.status,
                        method: s.method,
                        objective: s.objective,
                        lp_bound: s.lp_bound,
                        bound: s.bound,
                        gap: (s.status != Status::Infeasible).then_some(s.gap),
                        seconds: s.seconds,
                    };
                    (s.n, Some(info))
                };
                out.lock().expect("no worker panics while holding the lock")[t] = Some(answer);
                progress(done.fetch_add(1, Ordering::SeqCst) + 1);
            });
        }
    });
    out.into_inner().expect("workers joined").into_iter().map(|x| x.expect("every slot solved")).collect()
}

/// The slot's plan once the budget is spent: the cheaper of the two greedy plans (the one with less
/// shortfall first), in time linear in the instance.
fn fallback(inst: &Instance, watts: &[f64]) -> PlanAndInfo {
    let started = Instant::now();
    let short = |n: &[Vec<u32>]| inst.shortfall(n).iter().sum::<f64>();
    let n = [Rank::QpsPerServer, Rank::QpsPerWatt]
        .into_iter()
        .map(|r| greedy(inst, watts, r))
        .min_by(|a, b| short(a).total_cmp(&short(b)).then(inst.cost_of(a).total_cmp(&inst.cost_of(b))))
        .expect("two plans");
    let info = SolverInfo {
        status: Status::Unsolved,
        method: "greedy (time limit spent)",
        objective: inst.cost_of(&n),
        lp_bound: None,
        bound: f64::NAN,
        gap: None,
        seconds: started.elapsed().as_secs_f64(),
    };
    (n, Some(info))
}

fn slot_result(
    fleet: &Fleet,
    load: &Load,
    inst: &Instance,
    t: usize,
    n: &[Vec<u32>],
    solver: Option<SolverInfo>,
) -> SlotResult {
    let capacity: Vec<f64> = (0..inst.models()).map(|m| inst.capacity(n, m)).collect();
    let shortfall = inst.shortfall(n);
    let mut assignments = Vec::new();
    let mut estimated = 0.0;
    for (m, row) in n.iter().enumerate() {
        // Over-subscribed capacity shows as utilisation above 1, which the replay flags.
        let util = if capacity[m] > 0.0 { load.qps[t][m] / capacity[m] } else { 0.0 };
        for (s, &k) in row.iter().enumerate() {
            if k == 0 {
                continue;
            }
            let table = fleet.tables[m][s].as_ref().expect("servers only go where a table exists");
            let pred = predict(table, util);
            let ty = &fleet.types[s];
            estimated += f64::from(k) * (ty.idle_watts + (ty.peak_watts - ty.idle_watts) * util.min(1.0));
            assignments.push(Assignment {
                model: fleet.models[m].clone(),
                server_type: ty.name.clone(),
                servers: k,
                schedule: table.schedule.clone(),
                qps_per_server: table.qps,
                utilisation: util,
                offered_per_server: pred.offered_per_server,
                predicted_tail_ms: pred.tail_ms,
                sla_percentile: table.percentile,
                sla_target_ms: table.target_ms,
                at_risk: pred.at_risk,
            });
        }
    }
    let servers_by_type: Vec<u32> = (0..inst.types()).map(|s| n.iter().map(|r| r[s]).sum()).collect();
    let provisioned: f64 =
        servers_by_type.iter().zip(&fleet.types).map(|(&k, ty)| f64::from(k) * ty.peak_watts).sum();
    let at_risk = assignments.iter().any(|a| a.at_risk) || shortfall.iter().any(|&s| s > 0.0);
    SlotResult {
        slot: t,
        start_hour: t as f64 * load.slot_minutes / 60.0,
        load: load.qps[t].clone(),
        capacity,
        shortfall,
        assignments,
        servers: servers_by_type.iter().sum(),
        servers_by_type,
        provisioned_watts: provisioned,
        estimated_watts: estimated,
        at_risk,
        solver,
    }
}

fn totals(slots: &[SlotResult], slot_minutes: f64, seconds: f64) -> DayTotals {
    let h = slot_minutes / 60.0;
    let gaps: Vec<f64> = slots.iter().filter_map(|s| s.solver.as_ref()?.gap).collect();
    let solver = slots.iter().any(|s| s.solver.is_some());
    let with_status =
        |st: Status| slots.iter().filter(|s| s.solver.as_ref().is_some_and(|i| i.status == st)).count();
    DayTotals {
        peak_servers: slots.iter().map(|s| s.servers).max().unwrap_or(0),
        mean_servers: slots.iter().map(|s| f64::from(s.servers)).sum::<f64>() / slots.len().max(1) as f64,
        server_hours: slots.iter().map(|s| f64::from(s.servers) * h).sum(),
        peak_provisioned_watts: slots.iter().map(|s| s.provisioned_watts).fold(0.0, f64::max),
        provisioned_energy_kwh: slots.iter().map(|s| s.provisioned_watts * h).sum::<f64>() / 1000.0,
        estimated_energy_kwh: slots.iter().map(|s| s.estimated_watts * h).sum::<f64>() / 1000.0,
        slots_short: slots.iter().filter(|s| s.shortfall.iter().any(|&x| x > 0.0)).count(),
        slots_at_risk: slots.iter().filter(|s| s.at_risk).count(),
        worst_gap: (solver && !gaps.is_empty()).then(|| gaps.iter().copied().fold(0.0, f64::max)),
        slots_proven_optimal: solver.then(|| with_status(Status::Optimal)),
        slots_infeasible: solver.then(|| with_status(Status::Infeasible)),
        slots_unsolved: solver.then(|| with_status(Status::Unsolved)),
        solve_seconds: seconds,
    }
}

fn savings(policies: &[PolicyResult]) -> Vec<Savings> {
    // A zero baseline saves nothing against an equal plan and is undefined against any other.
    let frac = |base: f64, x: f64| {
        if base > 0.0 {
            Some((base - x) / base)
        } else {
            (x == base).then_some(0.0)
        }
    };
    let mut out = Vec::new();
    for b in policies.iter().filter(|p| p.policy != PolicyKind::Optimal) {
        for p in policies.iter().filter(|p| p.policy != b.policy) {
            let (bt, pt) = (&b.totals, &p.totals);
            let short: Vec<String> = [p, b]
                .iter()
                .filter(|x| x.totals.slots_short > 0)
                .map(|x| {
                    format!(
                        "{} leaves {} of {} slots short",
                        x.policy.name(),
                        x.totals.slots_short,
                        x.slots.len()
                    )
                })
                .collect();
            let ok = short.is_empty();
            let f = |base: f64, x: f64| if ok { frac(base, x) } else { None };
            out.push(Savings {
                policy: p.policy,
                baseline: b.policy,
                peak_servers: f(f64::from(bt.peak_servers), f64::from(pt.peak_servers)),
                server_hours: f(bt.server_hours, pt.server_hours),
                peak_provisioned_power: f(bt.peak_provisioned_watts, pt.peak_provisioned_watts),
                provisioned_energy: f(bt.provisioned_energy_kwh, pt.provisioned_energy_kwh),
                estimated_energy: f(bt.estimated_energy_kwh, pt.estimated_energy_kwh),
                not_comparable: (!ok).then(|| format!("infeasible: {}", short.join(", "))),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{TableRef, TypeSpec};

    /// One model, one type of `count` servers of 100 QPS each, and `load` QPS in each of two slots.
    fn case(count: u32, load: f64) -> (Fleet, Load) {
        let table = TableRef {
            path: "t.json".into(),
            qps: 100.0,
            schedule: "1x1".into(),
            percentile: 95.0,
            target_ms: 10.0,
            curve: Vec::new(),
            synthetic: true,
        };
        let fleet = Fleet {
            types: vec![TypeSpec {
                name: "t".into(),
                count,
                idle_watts: 50.0,
                peak_watts: 100.0,
                price: None,
                modelled: None,
            }],
            models: vec!["m".into()],
            tables: vec![vec![Some(table)]],
            synthetic: true,
            capacity: Capacity::Low,
            warnings: Vec::new(),
        };
        let load = Load {
            models: vec!["m".into()],
            slot_minutes: 60.0,
            qps: vec![vec![load]; 2],
            source: "test".into(),
        };
        (fleet, load)
    }

    fn opts(time_limit: Duration) -> ProvisionOptions {
        ProvisionOptions {
            policies: vec![PolicyKind::GreedyQps, PolicyKind::GreedyEff, PolicyKind::Optimal],
            objective: Objective::Servers,
            headroom: 0.0,
            time_limit,
            backend: Backend::Microlp,
            threads: 1,
        }
    }

    #[test]
    fn an_infeasible_day_has_no_savings_and_no_gap() {
        let (fleet, load) = case(2, 1000.0);
        let r = provision(&fleet, &load, &opts(Duration::from_secs(5)), &|_| {});
        let t = &r.policies[2].totals;
        assert_eq!((t.slots_short, t.slots_infeasible, t.worst_gap), (2, Some(2), None));
        assert!(r.policies[2].slots.iter().all(|s| s.solver.as_ref().unwrap().gap.is_none()));
        for s in &r.savings {
            assert_eq!(s.peak_servers, None);
            assert!(s.not_comparable.as_deref().unwrap().starts_with("infeasible: "), "{s:?}");
        }
        // Feasible: figures, and no reason.
        let (fleet, load) = case(20, 1000.0);
        let r = provision(&fleet, &load, &opts(Duration::from_secs(5)), &|_| {});
        assert_eq!(r.policies[2].totals.worst_gap, Some(0.0));
        assert!(r.savings.iter().all(|s| s.peak_servers == Some(0.0) && s.not_comparable.is_none()));
    }

    #[test]
    fn slots_past_the_budget_get_the_greedy_plan_marked_unsolved() {
        let (fleet, load) = case(20, 1000.0);
        let r = provision(&fleet, &load, &opts(Duration::ZERO), &|_| {});
        let p = &r.policies[2];
        assert_eq!(p.totals.slots_unsolved, Some(2));
        assert_eq!((p.totals.slots_short, p.totals.worst_gap, p.slots[0].servers), (0, None, 10));
        assert_eq!(p.slots[0].solver.as_ref().unwrap().status, Status::Unsolved);
    }
}
