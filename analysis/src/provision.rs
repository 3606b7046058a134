//! Runs the policies over every slot and gathers the plan, the day's totals, the savings and the replay.

use crate::cluster::Fleet;
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
    /// Optimal, time-limit or infeasible.
    pub status: Status,
    /// Step that produced the plan.
    pub method: &'static str,
    /// Objective value.
    pub objective: f64,
    /// LP relaxation's optimum.
    pub lp_bound: Option<f64>,
    /// Best proven lower bound.
    pub bound: f64,
    /// Relative gap.
    pub gap: f64,
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
    /// Largest optimality gap over the slots (optimal policy only).
    pub worst_gap: Option<f64>,
    /// Slots proven optimal (optimal policy only).
    pub slots_proven_optimal: Option<usize>,
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

/// Savings of one policy against a baseline, as fractions of the baseline (positive = saves).
#[derive(Debug, Clone, Serialize)]
pub struct Savings {
    /// The policy.
    pub policy: PolicyKind,
    /// The baseline.
    pub baseline: PolicyKind,
    /// Peak servers.
    pub peak_servers: f64,
    /// Server-hours.
    pub server_hours: f64,
    /// Peak provisioned power.
    pub peak_provisioned_power: f64,
    /// Provisioned energy.
    pub provisioned_energy: f64,
    /// Estimated energy.
    pub estimated_energy: f64,
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
            PolicyKind::Optimal => solve_all(&insts, opts, progress),
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
        notes: vec![
            "Capacity of a server = its table's latency-bounded QPS at the best schedule; each model's \
             capacity must cover its load × (1 + headroom)."
                .into(),
            "Provisioned power = servers × peak watts (the power budget a provisioned server takes); \
             estimated power = servers × (idle + (peak − idle) × utilisation)."
                .into(),
            "The power objective minimises provisioned power.".into(),
            "Replay: load is spread over a model's servers in proportion to capacity; each server's \
             share is looked up on its table's measured QPS–latency curve (linear interpolation). At \
             risk = predicted tail over the SLA target, or a share beyond the last measured point."
                .into(),
        ],
    }
}

/// A slot's plan and, for the optimal policy, its solver report.
type PlanAndInfo = (Vec<Vec<u32>>, Option<SolverInfo>);

/// The optimal policy over all slots, on `opts.threads` workers sharing one time budget: each slot
/// gets the time left divided by the slots left (per worker), so early slots cannot starve late ones.
fn solve_all(
    insts: &[Instance],
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
                let left_slots = (insts.len() - t).div_ceil(workers).max(1) as u32;
                let per_slot = end.saturating_duration_since(Instant::now()) / left_slots;
                let o = OptimalOptions {
                    time_limit: per_slot.max(Duration::from_millis(10)),
                    backend: opts.backend,
                };
                let s = solve_slot(&insts[t], &o);
                let info = SolverInfo {
                    status: s.status,
                    method: s.method,
                    objective: s.objective,
                    lp_bound: s.lp_bound,
                    bound: s.bound,
                    gap: s.gap,
                    seconds: s.seconds,
                };
                out.lock().expect("no worker panics while holding the lock")[t] = Some((s.n, Some(info)));
                progress(done.fetch_add(1, Ordering::SeqCst) + 1);
            });
        }
    });
    out.into_inner().expect("workers joined").into_iter().map(|x| x.expect("every slot solved")).collect()
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
    let gaps: Vec<f64> = slots.iter().filter_map(|s| s.solver.as_ref()).map(|i| i.gap).collect();
    let solver = slots.iter().any(|s| s.solver.is_some());
    DayTotals {
        peak_servers: slots.iter().map(|s| s.servers).max().unwrap_or(0),
        mean_servers: slots.iter().map(|s| f64::from(s.servers)).sum::<f64>() / slots.len().max(1) as f64,
        server_hours: slots.iter().map(|s| f64::from(s.servers) * h).sum(),
        peak_provisioned_watts: slots.iter().map(|s| s.provisioned_watts).fold(0.0, f64::max),
        provisioned_energy_kwh: slots.iter().map(|s| s.provisioned_watts * h).sum::<f64>() / 1000.0,
        estimated_energy_kwh: slots.iter().map(|s| s.estimated_watts * h).sum::<f64>() / 1000.0,
        slots_short: slots.iter().filter(|s| s.shortfall.iter().any(|&x| x > 0.0)).count(),
        slots_at_risk: slots.iter().filter(|s| s.at_risk).count(),
        worst_gap: solver.then(|| gaps.iter().copied().fold(0.0, f64::max)),
        slots_proven_optimal: solver.then(|| {
            slots.iter().filter(|s| s.solver.as_ref().is_some_and(|i| i.status == Status::Optimal)).count()
        }),
        solve_seconds: seconds,
    }
}

fn savings(policies: &[PolicyResult]) -> Vec<Savings> {
    let frac = |base: f64, x: f64| if base > 0.0 { (base - x) / base } else { 0.0 };
    let mut out = Vec::new();
    for b in policies.iter().filter(|p| p.policy != PolicyKind::Optimal) {
        for p in policies.iter().filter(|p| p.policy != b.policy) {
            let (bt, pt) = (&b.totals, &p.totals);
            out.push(Savings {
                policy: p.policy,
                baseline: b.policy,
                peak_servers: frac(f64::from(bt.peak_servers), f64::from(pt.peak_servers)),
                server_hours: frac(bt.server_hours, pt.server_hours),
                peak_provisioned_power: frac(bt.peak_provisioned_watts, pt.peak_provisioned_watts),
                provisioned_energy: frac(bt.provisioned_energy_kwh, pt.provisioned_energy_kwh),
                estimated_energy: frac(bt.estimated_energy_kwh, pt.estimated_energy_kwh),
            });
        }
    }
    out
}
