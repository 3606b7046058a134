//! The optimal policy: a MILP per slot that minimises provisioned servers or provisioned power.
//!
//! Variables n[m][s] ≥ 0 integer (servers of type s serving model m); constraints
//! Σ_s n[m][s]·qps[m][s] ≥ demand[m] (load plus headroom) and Σ_m n[m][s] ≤ count[s]; objective
//! Σ n[m][s]·cost[s]. The model is built with good_lp; the steps below exploit its structure (it splits
//! into one small covering knapsack per model once the counts are priced out), cheapest first:
//!
//! 1. The LP relaxation (good_lp + microlp): the bound the report quotes as `lp_bound`.
//! 2. Decomposition and Lagrangian relaxation: with prices λ[s] ≥ 0 on the counts, each model's cover
//!    is solved exactly by a small branch and bound; the sum minus Σ λ·count bounds the optimum (at
//!    least as tightly as the LP at good prices). λ = 0 is the plain decomposition: when its covers
//!    respect every count they are optimal. Subgradient steps move λ; each round's covers are repaired
//!    into a feasible plan.
//! 3. An exact branch and bound over models, each node bounded by both the decomposition and the
//!    Lagrangian bound of what is left, warm-started with the best plan so far.
//! 4. If the time limit stopped step 3, the MILP itself (microlp on small slots, HiGHS with the `highs`
//!    feature on any) for the time left.
//!
//! The reported gap is (plan − best proven bound) / plan. A slot that cannot be covered at all (not
//! enough servers) is re-solved with a shortfall variable per model, penalised above any plan's cost,
//! to give the best partial plan.

use crate::instance::{cover_tolerance, servers_to_cover, Instance};
use good_lp::{
    constraint, variable, Expression, ProblemVariables, ResolutionError, Solution, SolutionStatus,
    SolverModel, Variable, WithInitialSolution, WithTimeLimit,
};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Which MILP solver runs step 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Pure-Rust microlp (always built).
    Microlp,
    /// HiGHS (only with the `highs` feature).
    Highs,
}

/// How a slot's plan was obtained, and how good it is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Proven optimal.
    Optimal,
    /// Feasible; the time limit stopped the proof (see the gap).
    TimeLimit,
    /// Not enough servers: the best partial plan, with a shortfall.
    Infeasible,
    /// The run's time budget was spent before this slot: the cheaper greedy plan, nothing proven.
    Unsolved,
}

/// Options of the optimal policy.
#[derive(Debug, Clone)]
pub struct OptimalOptions {
    /// Time limit of the MILP of one slot.
    pub time_limit: Duration,
    /// MILP solver.
    pub backend: Backend,
}

impl Default for OptimalOptions {
    fn default() -> Self {
        Self { time_limit: Duration::from_secs(10), backend: Backend::Microlp }
    }
}

/// The optimal policy's answer for one slot.
#[derive(Debug, Clone, Serialize)]
pub struct SlotSolution {
    /// Servers per model and type.
    pub n: Vec<Vec<u32>>,
    /// Objective value of `n`.
    pub objective: f64,
    /// The LP relaxation's optimum (a lower bound); `None` when the LP is infeasible.
    pub lp_bound: Option<f64>,
    /// Best proven lower bound on the optimum (≥ `lp_bound`).
    pub bound: f64,
    /// Relative gap (objective − bound) / objective; 0 when proven optimal.
    pub gap: f64,
    /// Optimal, stopped by the time limit, or infeasible.
    pub status: Status,
    /// Which step produced the plan: `decomposition`, `milp`, `rounding`, or `partial`.
    pub method: &'static str,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Solves one slot.
pub fn solve_slot(inst: &Instance, opts: &OptimalOptions) -> SlotSolution {
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let lp = solve_lp(inst);
    let lp_bound = lp.as_ref().map(|(_, obj)| *obj);
    // With integer costs (servers, or whole watts) the optimum is an integer, so any bound rounds up.
    let integral = inst.cost.iter().all(|c| (c - c.round()).abs() < 1e-9);
    let tighten = |b: f64| if integral { (b - 1e-6).ceil() } else { b };
    let finish = |n: Vec<Vec<u32>>, bound: f64, status, method| {
        let objective = inst.cost_of(&n);
        // A bound a hair above the objective is float noise from the LP.
        let bound = bound.min(objective);
        let gap = if objective > 0.0 { ((objective - bound) / objective).max(0.0) } else { 0.0 };
        let status = if status == Status::TimeLimit && gap < 1e-9 { Status::Optimal } else { status };
        SlotSolution {
            n,
            objective,
            lp_bound,
            bound,
            gap,
            status,
            method,
            seconds: started.elapsed().as_secs_f64(),
        }
    };
    let Some((x, lp_obj)) = lp else {
        let n = solve_partial(inst, opts);
        return finish(n, f64::NAN, Status::Infeasible, "partial");
    };
    // Step 2: decomposition, then Lagrangian prices on the counts.
    let lag = lagrangian(inst, deadline, started + opts.time_limit.mul_f64(0.5));
    let mut bound = tighten(lp_obj.max(lag.bound));
    let mut best = round_lp(inst, &x);
    let mut method = "rounding";
    if let Some(inc) = lag.incumbent {
        if best.as_ref().is_none_or(|b| inst.cost_of(&inc) <= inst.cost_of(b)) {
            best = Some(inc);
            method = if lag.iterations == 0 { "decomposition" } else { "lagrangian" };
        }
    }
    if let Some(b) = &best {
        if inst.cost_of(b) <= bound + 1e-9 * bound.abs().max(1.0) {
            return finish(best.unwrap(), bound, Status::Optimal, method);
        }
    }
    // Step 3: exact branch and bound over models, for most of the time left.
    if opts.backend == Backend::Microlp {
        // Leave a fifth of the time to the MILP solver only where step 4 will run.
        let share = if columns(inst).len() <= MICROLP_MAX_COLUMNS { 0.8 } else { 1.0 };
        let bb_deadline = Instant::now() + deadline.saturating_duration_since(Instant::now()).mul_f64(share);
        let (plan, proven) = branch_and_bound(inst, best.clone(), &lag.lambda, bb_deadline);
        if let Some(p) = plan {
            if best.as_ref().is_none_or(|b| inst.cost_of(&p) < inst.cost_of(b) - 1e-9) {
                method = "branch-and-bound";
                best = Some(p);
            }
        }
        if proven {
            return match best {
                Some(n) => finish(n, f64::INFINITY, Status::Optimal, method),
                None => finish(solve_partial(inst, opts), f64::NAN, Status::Infeasible, "partial"),
            };
        }
    }
    // Step 4: the MILP solver, warm-started from the best plan so far, for the time left.
    let remaining = deadline.saturating_duration_since(Instant::now());
    // microlp's branch and bound (no cuts) makes no progress on thousands of integer variables in the
    // fraction of a second a large run leaves per slot; HiGHS gets whatever time is left.
    let small = columns(inst).len() <= MICROLP_MAX_COLUMNS;
    if remaining > Duration::from_millis(20) && (small || opts.backend == Backend::Highs) {
        if let Ok((n, proven, milp_bound)) = solve_milp(inst, opts.backend, remaining, best.as_ref()) {
            if let Some(b) = milp_bound {
                bound = bound.max(tighten(b));
            }
            if proven {
                bound = f64::INFINITY;
            }
            if best.as_ref().is_none_or(|b| inst.cost_of(&n) < inst.cost_of(b)) || proven {
                best = Some(n);
                method = "milp";
            }
        }
    }
    match best {
        Some(n) => finish(n, bound, Status::TimeLimit, method),
        // The LP was feasible but no integer plan was found: treat as a shortage.
        None => finish(solve_partial(inst, opts), f64::NAN, Status::Infeasible, "partial"),
    }
}

/// Largest slot (in integer variables) handed to microlp's own branch and bound in step 4.
const MICROLP_MAX_COLUMNS: usize = 400;

/// Most subgradient rounds of the Lagrangian relaxation per slot.
const LAGRANGIAN_ROUNDS: usize = 1000;

/// What the Lagrangian relaxation found.
struct Lagrangian {
    /// Best Lagrangian lower bound.
    bound: f64,
    /// Best feasible plan found by price-guided repair.
    incumbent: Option<Vec<Vec<u32>>>,
    /// Subgradient iterations after the first (0: the plain decomposition was already optimal).
    iterations: usize,
    /// The prices that gave `bound`.
    lambda: Vec<f64>,
}

/// Lagrangian relaxation of the count constraints: with prices λ[s] ≥ 0 on each type, the problem
/// splits into one exact covering knapsack per model, and Σ_m cover_m(cost + λ) − Σ_s λ[s]·count[s]
/// bounds the optimum from below (at least as tightly as the LP, at the best λ). Prices follow the
/// subgradient; each round's covers are repaired into a feasible plan, model by model, within the
/// counts left. Stops at a proven optimum, at `soft_deadline`, or after a fixed number of rounds.
fn lagrangian(inst: &Instance, deadline: Instant, soft_deadline: Instant) -> Lagrangian {
    let ns = inst.types();
    let mut lambda = vec![0.0; ns];
    let mut best_lambda = lambda.clone();
    let mut best_bound = f64::NEG_INFINITY;
    let mut incumbent: Option<(Vec<Vec<u32>>, f64)> = None;
    let mut theta = 2.0;
    let mut since_improved = 0;
    let scale = inst.cost.iter().copied().fold(0.0, f64::max).max(1e-9);
    for iter in 0..LAGRANGIAN_ROUNDS {
        let priced: Vec<f64> = (0..ns).map(|s| inst.cost[s] + lambda[s]).collect();
        let mut n = inst.zero_plan();
        let mut value = -(0..ns).map(|s| lambda[s] * f64::from(inst.count[s])).sum::<f64>();
        for (m, slot) in n.iter_mut().enumerate() {
            match cover_exact(&inst.qps[m], &priced, &inst.count, inst.demand[m], 50_000) {
                Some((row, c)) => {
                    *slot = row;
                    value += c;
                }
                // A model no type can cover even alone, or the search grew too large: no bound here.
                None => {
                    return Lagrangian {
                        bound: best_bound,
                        incumbent: incumbent.map(|i| i.0),
                        iterations: iter,
                        lambda: best_lambda,
                    }
                }
            }
        }
        if value > best_bound + 1e-9 * value.abs().max(1.0) {
            best_bound = value;
            best_lambda.clone_from(&lambda);
            since_improved = 0;
        } else {
            since_improved += 1;
            if since_improved >= 15 {
                theta *= 0.5;
                since_improved = 0;
            }
        }
        let used: Vec<f64> = (0..ns).map(|s| n.iter().map(|r| f64::from(r[s])).sum()).collect();
        let g: Vec<f64> = (0..ns).map(|s| used[s] - f64::from(inst.count[s])).collect();
        if g.iter().all(|&x| x <= 0.0) {
            // Feasible; optimal too when every priced type is used to its count (complementary slackness).
            let cost = inst.cost_of(&n);
            if incumbent.as_ref().is_none_or(|i| cost < i.1) {
                incumbent = Some((n.clone(), cost));
            }
        } else if let Some(plan) = repair(inst, &priced, &n) {
            let cost = inst.cost_of(&plan);
            if incumbent.as_ref().is_none_or(|i| cost < i.1) {
                incumbent = Some((plan, cost));
            }
        }
        let ub = incumbent.as_ref().map(|i| i.1);
        if let Some(ub) = ub {
            if ub <= best_bound + 1e-9 * ub.abs().max(1.0) {
                return Lagrangian {
                    bound: best_bound,
                    incumbent: incumbent.map(|i| i.0),
                    iterations: iter,
                    lambda: best_lambda,
                };
            }
        }
        let now = Instant::now();
        if now >= soft_deadline || now >= deadline || theta < 1e-4 {
            return Lagrangian {
                bound: best_bound,
                incumbent: incumbent.map(|i| i.0),
                iterations: iter + 1,
                lambda: best_lambda,
            };
        }
        // Polyak step towards the incumbent's value (or a guess above the bound when there is none).
        let target = ub.unwrap_or(best_bound.abs() * 1.05 + scale);
        let norm: f64 =
            g.iter().enumerate().map(|(s, &x)| if lambda[s] > 0.0 || x > 0.0 { x * x } else { 0.0 }).sum();
        if norm <= 0.0 {
            break;
        }
        let step = theta * (target - value).max(1e-9 * scale) / norm;
        for s in 0..ns {
            lambda[s] = (lambda[s] + step * g[s]).max(0.0);
        }
    }
    Lagrangian {
        bound: best_bound,
        incumbent: incumbent.map(|i| i.0),
        iterations: LAGRANGIAN_ROUNDS,
        lambda: best_lambda,
    }
}

/// Turns per-model covers that overuse some types into a feasible plan: keep the models that touch no
/// overused type, then re-cover the others one at a time (largest demand first) at the given prices
/// within the counts left; finally improve each model's cover at the true costs, one model at a time,
/// until nothing changes. `None` when some model cannot be covered with what is left.
fn repair(inst: &Instance, priced: &[f64], n: &[Vec<u32>]) -> Option<Vec<Vec<u32>>> {
    let ns = inst.types();
    let used: Vec<u32> = (0..ns).map(|s| n.iter().map(|r| r[s]).sum()).collect();
    let over: Vec<bool> = (0..ns).map(|s| used[s] > inst.count[s]).collect();
    let mut plan = n.to_vec();
    let mut redo: Vec<usize> =
        (0..inst.models()).filter(|&m| (0..ns).any(|s| over[s] && n[m][s] > 0)).collect();
    for &m in &redo {
        plan[m] = vec![0; ns];
    }
    redo.sort_by(|&a, &b| inst.demand[b].total_cmp(&inst.demand[a]));
    let mut left: Vec<u32> =
        (0..ns).map(|s| inst.count[s] - plan.iter().map(|r| r[s]).sum::<u32>()).collect();
    for m in redo {
        let (row, _) = cover_exact(&inst.qps[m], priced, &left, inst.demand[m], 20_000)?;
        for s in 0..ns {
            left[s] -= row[s];
        }
        plan[m] = row;
    }
    improve(inst, &mut plan, &mut left);
    Some(plan)
}

/// One-model-at-a-time local search at the true costs: re-cover each model optimally given what the
/// others leave, until no model improves (bounded number of passes).
fn improve(inst: &Instance, plan: &mut [Vec<u32>], left: &mut [u32]) {
    for _ in 0..3 {
        let mut changed = false;
        for (m, row_m) in plan.iter_mut().enumerate() {
            let avail: Vec<u32> = (0..inst.types()).map(|s| left[s] + row_m[s]).collect();
            if let Some((row, c)) = cover_exact(&inst.qps[m], &inst.cost, &avail, inst.demand[m], 20_000) {
                let now: f64 = row_m.iter().zip(&inst.cost).map(|(&k, &c)| f64::from(k) * c).sum();
                if c < now - 1e-9 {
                    for (s, l) in left.iter_mut().enumerate() {
                        *l = avail[s] - row[s];
                    }
                    *row_m = row;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// Exact search: models in order (largest demand first); at each node, the per-model optimal covers of
/// the remaining models within the counts left bound the remaining cost from below (a relaxation that
/// drops only the coupling among them); the current model then tries every minimal cover that fits
/// under the incumbent, cheapest first. Returns the best plan found and whether the search finished
/// (proving it optimal) before `deadline`.
fn branch_and_bound(
    inst: &Instance,
    incumbent: Option<Vec<Vec<u32>>>,
    lambda: &[f64],
    deadline: Instant,
) -> (Option<Vec<Vec<u32>>>, bool) {
    struct Bb<'a> {
        inst: &'a Instance,
        lambda: Vec<f64>,
        priced: Vec<f64>,
        order: Vec<usize>,
        left: Vec<u32>,
        plan: Vec<Vec<u32>>,
        best: Option<(Vec<Vec<u32>>, f64)>,
        deadline: Instant,
        nodes: u64,
        aborted: bool,
        inexact: bool,
    }
    impl Bb<'_> {
        fn eps(&self) -> f64 {
            1e-9 * self.best.as_ref().map_or(1.0, |b| b.1.abs().max(1.0))
        }
        fn go(&mut self, depth: usize, spent: f64) {
            self.nodes += 1;
            if self.nodes.is_multiple_of(64) && Instant::now() >= self.deadline {
                self.aborted = true;
            }
            if self.aborted {
                return;
            }
            let inst = self.inst;
            if depth == self.order.len() {
                if self.best.as_ref().is_none_or(|b| spent < b.1 - self.eps()) {
                    self.best = Some((self.plan.clone(), spent));
                }
                return;
            }
            // Two bounds on what the remaining models cost within what is left: each covered alone
            // (decomposition), and the same at the root's Lagrangian prices minus the prices of the
            // counts left (valid for any prices ≥ 0, and much tighter when counts bind).
            let mut lbs = Vec::with_capacity(self.order.len() - depth);
            let mut lags: Vec<f64> = Vec::with_capacity(self.order.len() - depth);
            for &m in &self.order[depth..] {
                for (costs, out) in [(&inst.cost, &mut lbs), (&self.priced, &mut lags)] {
                    match cover_search(&inst.qps[m], costs, &self.left, inst.demand[m], 100_000) {
                        Ok(Some((_, c))) => out.push(c),
                        // No cover within what is left: nothing below this node is feasible.
                        Ok(None) => return,
                        // Too large to settle: prune, but the search no longer proves anything.
                        Err(NodeLimit) => {
                            self.inexact = true;
                            return;
                        }
                    }
                }
            }
            let left_price: f64 = self.left.iter().zip(&self.lambda).map(|(&k, &l)| f64::from(k) * l).sum();
            let rest: f64 = lbs.iter().sum();
            let mut rest_lag: f64 = lags.iter().sum::<f64>() - left_price;
            let best = self.best.as_ref().map_or(f64::INFINITY, |b| b.1);
            if spent + rest.max(rest_lag) >= best - self.eps() {
                return;
            }
            // Near the root, subtrees are large: re-fit the prices to what is left, and use them
            // below (restored on the way back up).
            let mut saved = None;
            if (1..=REPRICE_DEPTH).contains(&depth) && best.is_finite() {
                if let Some((lam, new_lags, value)) = self.reprice(depth, best - spent, rest_lag) {
                    let priced = inst.cost.iter().zip(&lam).map(|(c, l)| c + l).collect();
                    saved = Some((
                        std::mem::replace(&mut self.lambda, lam),
                        std::mem::replace(&mut self.priced, priced),
                    ));
                    lags = new_lags;
                    rest_lag = value;
                    if spent + rest_lag >= best - self.eps() {
                        if let Some((l, p)) = saved {
                            self.lambda = l;
                            self.priced = p;
                        }
                        return;
                    }
                }
            }
            self.expand(depth, spent, &lbs, &lags, rest, rest_lag);
            if let Some((l, p)) = saved {
                self.lambda = l;
                self.priced = p;
            }
        }

        /// A few subgradient rounds on the remaining models within what is left, from the current
        /// prices. Returns better prices, their per-model priced covers and bound, if found.
        fn reprice(&self, depth: usize, target: f64, current: f64) -> Option<(Vec<f64>, Vec<f64>, f64)> {
            let inst = self.inst;
            let ns = inst.types();
            let mut lam = self.lambda.clone();
            let mut best_val = current;
            let mut found = None;
            let mut theta = 1.0;
            let mut stale = 0;
            for _ in 0..REPRICE_ROUNDS {
                let priced: Vec<f64> = inst.cost.iter().zip(&lam).map(|(c, l)| c + l).collect();
                let mut costs = Vec::with_capacity(self.order.len() - depth);
                let mut used = vec![0u32; ns];
                for &m in &self.order[depth..] {
                    let (row, c) =
                        cover_search(&inst.qps[m], &priced, &self.left, inst.demand[m], 100_000).ok()??;
                    for s in 0..ns {
                        used[s] += row[s];
                    }
                    costs.push(c);
                }
                let left_price: f64 = self.left.iter().zip(&lam).map(|(&k, &l)| f64::from(k) * l).sum();
                let value = costs.iter().sum::<f64>() - left_price;
                if value > best_val + 1e-9 * value.abs().max(1.0) {
                    best_val = value;
                    found = Some((lam.clone(), costs));
                    stale = 0;
                } else {
                    stale += 1;
                    if stale >= 3 {
                        theta *= 0.5;
                        stale = 0;
                    }
                }
                if value >= target {
                    break;
                }
                let g: Vec<f64> = (0..ns).map(|s| f64::from(used[s]) - f64::from(self.left[s])).collect();
                let norm: f64 =
                    (0..ns).map(|s| if lam[s] > 0.0 || g[s] > 0.0 { g[s] * g[s] } else { 0.0 }).sum();
                if norm <= 0.0 {
                    break;
                }
                let step = theta * (target - value).max(1e-9) / norm;
                for s in 0..ns {
                    lam[s] = (lam[s] + step * g[s]).max(0.0);
                }
            }
            found.map(|(l, c)| (l, c, best_val))
        }

        /// Branches on the covers of the model at `depth`, given the node's bounds.
        fn expand(&mut self, depth: usize, spent: f64, lbs: &[f64], lags: &[f64], rest: f64, rest_lag: f64) {
            let inst = self.inst;
            let best = self.best.as_ref().map_or(f64::INFINITY, |b| b.1);
            let m = self.order[depth];
            let limit = best - spent - (rest - lbs[0]) - self.eps();
            // After choosing `row` for m, the rest costs at least this plus (cost + λ)·row.
            let lag_excl = rest_lag - lags[0];
            // Enumerate at the Lagrangian prices (the tighter filter), then check the plain one.
            let limit_priced = best - spent - lag_excl - self.eps();
            let found = enumerate_covers(
                &inst.qps[m],
                &self.priced,
                &self.left,
                inst.demand[m],
                limit_priced,
                COVER_CAP,
            );
            if found.len() >= COVER_CAP {
                // Truncated enumeration: the search can still improve the plan but proves nothing.
                self.inexact = true;
            }
            let cost_of =
                |row: &[u32]| -> f64 { row.iter().zip(&inst.cost).map(|(&k, &c)| f64::from(k) * c).sum() };
            let mut covers: Vec<(Vec<u32>, f64, f64)> = found
                .into_iter()
                .map(|(r, p)| {
                    let c = cost_of(&r);
                    (r, c, p)
                })
                .filter(|(_, c, _)| *c <= limit)
                .collect();
            // Cheapest at the Lagrangian prices first: those leave the most for the others.
            covers.sort_by(|a, b| a.2.total_cmp(&b.2));
            for (row, c, p) in covers {
                let best = self.best.as_ref().map_or(f64::INFINITY, |b| b.1);
                if spent + c + (rest - lbs[0]) >= best - self.eps()
                    || spent + p + lag_excl >= best - self.eps()
                {
                    continue;
                }
                for (s, &k) in row.iter().enumerate() {
                    self.left[s] -= k;
                }
                self.plan[m] = row;
                self.go(depth + 1, spent + c);
                for (s, &k) in self.plan[m].iter().enumerate() {
                    self.left[s] += k;
                }
                self.plan[m] = vec![0; inst.types()];
                if self.aborted {
                    return;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..inst.models()).filter(|&m| inst.demand[m] > 0.0).collect();
    // Biggest consumers first (in servers of their best type, not QPS, which differs in scale between
    // models): their choices constrain the others most, so deciding them early prunes most.
    let need = |m: usize| inst.demand[m] / inst.qps[m].iter().copied().fold(f64::MIN_POSITIVE, f64::max);
    order.sort_by(|&a, &b| need(b).total_cmp(&need(a)));
    let best = incumbent.map(|p| {
        let c = inst.cost_of(&p);
        (p, c)
    });
    let mut bb = Bb {
        inst,
        lambda: lambda.to_vec(),
        priced: inst.cost.iter().zip(lambda).map(|(c, l)| c + l).collect(),
        order,
        left: inst.count.clone(),
        plan: inst.zero_plan(),
        best,
        deadline,
        nodes: 0,
        aborted: false,
        inexact: false,
    };
    bb.go(0, 0.0);
    let proven = !bb.aborted && !bb.inexact;
    (bb.best.map(|b| b.0), proven)
}

/// Depth (in models decided) down to which the exact search re-fits the Lagrangian prices.
const REPRICE_DEPTH: usize = 2;

/// Subgradient rounds of one re-fit.
const REPRICE_ROUNDS: usize = 25;

/// Most covers of one model the exact search enumerates at one node.
const COVER_CAP: usize = 20_000;

/// Every minimal cover of one model (no server can be removed without losing coverage) within `ub`
/// and costing at most `limit`; at most `cap` of them (the cheapest are not guaranteed beyond that,
/// so a search hitting `cap` is not exact; `cap` is generous for the gaps seen in practice).
fn enumerate_covers(
    qps: &[f64],
    cost: &[f64],
    ub: &[u32],
    demand: f64,
    limit: f64,
    cap: usize,
) -> Vec<(Vec<u32>, f64)> {
    // Types in order of cost per QPS, so the fractional bound of types[i..] is one linear scan.
    let mut types: Vec<usize> = (0..qps.len()).filter(|&s| qps[s] > 0.0 && ub[s] > 0).collect();
    types.sort_by(|&a, &b| (cost[a] / qps[a]).total_cmp(&(cost[b] / qps[b])).then(a.cmp(&b)));
    let mut out = Vec::new();
    let tol = 1e-9 * demand.max(1.0);
    // Cheapest way to cover `need` with types[i..] fractionally: prunes branches that cannot fit.
    let frac = |i: usize, mut need: f64| -> f64 {
        let mut c = 0.0;
        for &s in &types[i..] {
            if need <= tol {
                break;
            }
            let take = (f64::from(ub[s]) * qps[s]).min(need);
            c += take / qps[s] * cost[s];
            need -= take;
        }
        if need > tol {
            f64::INFINITY
        } else {
            c
        }
    };
    #[allow(clippy::too_many_arguments)]
    fn go(
        i: usize,
        need: f64,
        spent: f64,
        cur: &mut Vec<u32>,
        types: &[usize],
        qps: &[f64],
        cost: &[f64],
        ub: &[u32],
        limit: f64,
        tol: f64,
        cap: usize,
        out: &mut Vec<(Vec<u32>, f64)>,
        frac: &dyn Fn(usize, f64) -> f64,
    ) {
        if out.len() >= cap {
            return;
        }
        if need <= tol {
            // Only minimal covers: one with a removable server costs at least as much as the cover
            // without it, which is enumerated too.
            if types.iter().all(|&s| cur[s] == 0 || need + qps[s] > tol) {
                out.push((cur.clone(), spent));
            }
            return;
        }
        if i == types.len() || spent + frac(i, need) > limit {
            return;
        }
        let s = types[i];
        let max_k = servers_to_cover(need, qps[s]).min(u64::from(ub[s])) as u32;
        for k in (0..=max_k).rev() {
            cur[s] = k;
            go(
                i + 1,
                need - f64::from(k) * qps[s],
                spent + f64::from(k) * cost[s],
                cur,
                types,
                qps,
                cost,
                ub,
                limit,
                tol,
                cap,
                out,
                frac,
            );
            cur[s] = 0;
        }
    }
    let mut cur = vec![0; qps.len()];
    go(0, demand, 0.0, &mut cur, &types, qps, cost, ub, limit, tol, cap, &mut out, &frac);
    out
}

/// The variables of the model: (m, s) pairs where type s can serve model m, with a useful upper bound.
fn columns(inst: &Instance) -> Vec<(usize, usize, u32)> {
    let mut cols = Vec::new();
    for m in 0..inst.models() {
        for s in 0..inst.types() {
            let q = inst.qps[m][s];
            if q > 0.0 && inst.count[s] > 0 && inst.demand[m] > 0.0 {
                // More than ceil(demand/q) servers of one type for one model is never needed.
                let ub = servers_to_cover(inst.demand[m], q).min(u64::from(inst.count[s])) as u32;
                if ub > 0 {
                    cols.push((m, s, ub));
                }
            }
        }
    }
    cols
}

/// LP relaxation: fractional n per column and the optimum, or `None` when even the LP cannot cover.
fn solve_lp(inst: &Instance) -> Option<(Vec<Vec<f64>>, f64)> {
    let cols = columns(inst);
    let mut vars = ProblemVariables::new();
    let v: Vec<Variable> = cols.iter().map(|&(_, _, ub)| vars.add(variable().min(0).max(ub))).collect();
    let objective: Expression = cols.iter().zip(&v).map(|(&(_, s, _), &x)| inst.cost[s] * x).sum();
    let mut model = vars.minimise(objective).using(good_lp::microlp);
    for c in constraints(inst, &cols, &v, None) {
        model = model.with(c);
    }
    let sol = match model.solve() {
        Ok(s) => s,
        Err(_) => {
            // Nothing to provision when there is no demand at all: the LP has no variables.
            return (cols.is_empty() && inst.demand.iter().all(|&d| d <= 0.0))
                .then(|| (vec![vec![0.0; inst.types()]; inst.models()], 0.0));
        }
    };
    let mut x = vec![vec![0.0; inst.types()]; inst.models()];
    let mut obj = 0.0;
    for (&(m, s, _), &var) in cols.iter().zip(&v) {
        x[m][s] = sol.value(var).max(0.0);
        obj += x[m][s] * inst.cost[s];
    }
    Some((x, obj))
}

/// Coverage (scaled to 1 per model, for numerics) and count constraints; with `slack`, a shortfall
/// fraction per model relaxes its coverage.
fn constraints(
    inst: &Instance,
    cols: &[(usize, usize, u32)],
    v: &[Variable],
    slack: Option<&[Variable]>,
) -> Vec<good_lp::Constraint> {
    let mut cover: Vec<Expression> = vec![Expression::from(0.0); inst.models()];
    let mut used: Vec<Expression> = vec![Expression::from(0.0); inst.types()];
    let mut used_any = vec![false; inst.types()];
    for (&(m, s, _), &x) in cols.iter().zip(v) {
        cover[m] += (inst.qps[m][s] / inst.demand[m]) * x;
        used[s] += x;
        used_any[s] = true;
    }
    let mut out = Vec::new();
    for (m, e) in cover.into_iter().enumerate() {
        if inst.demand[m] <= 0.0 {
            continue;
        }
        match slack {
            Some(sv) => out.push(constraint!(e + sv[m] >= 1.0)),
            None => out.push(constraint!(e >= 1.0)),
        }
    }
    for (s, e) in used.into_iter().enumerate() {
        if used_any[s] {
            out.push(constraint!(e <= f64::from(inst.count[s])));
        }
    }
    out
}

/// Backend-specific access to the best proven bound.
trait BoundOf {
    fn best_bound(self) -> Option<f64>;
}

impl BoundOf for good_lp::solvers::microlp::MicroLpSolution {
    fn best_bound(self) -> Option<f64> {
        self.into_inner().stats().best_bound
    }
}

#[cfg(feature = "highs")]
impl BoundOf for good_lp::solvers::highs::HighsSolution {
    fn best_bound(self) -> Option<f64> {
        // good_lp does not expose HiGHS's dual bound; the LP bound stands in.
        None
    }
}

/// A MILP answer: the plan, whether optimality was proven, and the solver's best bound.
type MilpAnswer = (Vec<Vec<u32>>, bool, Option<f64>);

/// Full MILP. Returns the plan, whether optimality was proven, and the solver's best bound.
fn solve_milp(
    inst: &Instance,
    backend: Backend,
    time_limit: Duration,
    warm: Option<&Vec<Vec<u32>>>,
) -> Result<MilpAnswer, ResolutionError> {
    match backend {
        Backend::Microlp => milp_with(inst, good_lp::microlp, time_limit, warm),
        #[cfg(feature = "highs")]
        Backend::Highs => milp_with(inst, good_lp::highs, time_limit, warm),
        #[cfg(not(feature = "highs"))]
        Backend::Highs => Err(ResolutionError::Str(
            "this build has no HiGHS: rebuild with `--features highs` (needs cmake and a C++ compiler)"
                .into(),
        )),
    }
}

fn milp_with<M, F>(
    inst: &Instance,
    solver: F,
    time_limit: Duration,
    warm: Option<&Vec<Vec<u32>>>,
) -> Result<MilpAnswer, ResolutionError>
where
    F: FnMut(good_lp::variable::UnsolvedProblem) -> M,
    M: SolverModel<Error = ResolutionError> + WithTimeLimit + WithInitialSolution,
    M::Solution: BoundOf,
{
    let cols = columns(inst);
    let mut vars = ProblemVariables::new();
    let v: Vec<Variable> =
        cols.iter().map(|&(_, _, ub)| vars.add(variable().integer().min(0).max(ub))).collect();
    let objective: Expression = cols.iter().zip(&v).map(|(&(_, s, _), &x)| inst.cost[s] * x).sum();
    let mut model =
        vars.minimise(objective).using(solver).with_time_limit(time_limit.as_secs_f64().max(0.01));
    if let Some(w) = warm {
        let init: Vec<(Variable, f64)> =
            cols.iter().zip(&v).map(|(&(m, s, _), &x)| (x, f64::from(w[m][s]))).collect();
        model = model.with_initial_solution(init);
    }
    for c in constraints(inst, &cols, &v, None) {
        model = model.with(c);
    }
    let sol = model.solve()?;
    let proven = matches!(sol.status(), SolutionStatus::Optimal);
    let mut n = inst.zero_plan();
    for (&(m, s, _), &x) in cols.iter().zip(&v) {
        n[m][s] = sol.value(x).round().max(0.0) as u32;
    }
    let bound = sol.best_bound();
    if !inst.is_feasible(&n) {
        return Err(ResolutionError::Str("solver returned an infeasible plan".into()));
    }
    Ok((n, proven, bound))
}

/// Best partial plan when the demand cannot be covered: minimise the shortfall (as a fraction of each
/// model's demand) first, then cost. Solved as an LP and rounded down, then topped up greedily, so it
/// never exceeds a count.
fn solve_partial(inst: &Instance, opts: &OptimalOptions) -> Vec<Vec<u32>> {
    let cols = columns(inst);
    let mut vars = ProblemVariables::new();
    let v: Vec<Variable> =
        cols.iter().map(|&(_, _, ub)| vars.add(variable().integer().min(0).max(ub))).collect();
    let sv: Vec<Variable> = (0..inst.models()).map(|_| vars.add(variable().min(0).max(1))).collect();
    // Any plan costs at most Σ count·cost; a penalty above that makes covering more load always win
    // over saving servers, to the resolution of whole servers.
    let penalty: f64 = inst.count.iter().zip(&inst.cost).map(|(&k, &c)| f64::from(k) * c).sum::<f64>() + 1.0;
    let objective: Expression =
        cols.iter().zip(&v).map(|(&(_, s, _), &x)| inst.cost[s] * x).sum::<Expression>()
            + sv.iter().map(|&x| penalty * x).sum::<Expression>();
    let mut model = vars
        .minimise(objective)
        .using(good_lp::microlp)
        .with_time_limit(opts.time_limit.as_secs_f64().max(0.01));
    for c in constraints(inst, &cols, &v, Some(&sv)) {
        model = model.with(c);
    }
    let mut n = inst.zero_plan();
    if let Ok(sol) = model.solve() {
        for (&(m, s, _), &x) in cols.iter().zip(&v) {
            n[m][s] = sol.value(x).round().max(0.0) as u32;
        }
    }
    if !inst.within_counts(&n) {
        n = inst.zero_plan();
    }
    top_up(inst, &mut n);
    n
}

/// Adds servers to models still short, cheapest cost per QPS first, within the counts left.
fn top_up(inst: &Instance, n: &mut [Vec<u32>]) {
    let mut left: Vec<u32> =
        (0..inst.types()).map(|s| inst.count[s] - n.iter().map(|r| r[s]).sum::<u32>()).collect();
    let short = inst.shortfall(n);
    let mut order: Vec<usize> = (0..inst.models()).filter(|&m| short[m] > 0.0).collect();
    order.sort_by(|&a, &b| short[b].total_cmp(&short[a]));
    for m in order {
        let mut need = inst.demand[m] - inst.capacity(n, m);
        while need > cover_tolerance(inst.demand[m]) {
            // The type that covers the rest at least cost, counting whole servers.
            let best = (0..inst.types())
                .filter(|&s| inst.qps[m][s] > 0.0 && left[s] > 0)
                .map(|s| {
                    // At least one: `left[s] > 0` and `need` is above the tolerance, so the loop ends.
                    let k = servers_to_cover(need, inst.qps[m][s]).min(u64::from(left[s])) as u32;
                    let covered = (f64::from(k) * inst.qps[m][s]).min(need);
                    (s, k, f64::from(k) * inst.cost[s] / covered.max(f64::MIN_POSITIVE))
                })
                .min_by(|a, b| a.2.total_cmp(&b.2));
            let Some((s, k, _)) = best else { break };
            n[m][s] += k;
            left[s] -= k;
            need -= f64::from(k) * inst.qps[m][s];
        }
    }
}

/// Rounds an LP solution to an integer plan: floor everything, top up what is short, then drop any
/// server whose removal keeps its model covered (most expensive first). `None` if no plan is found.
fn round_lp(inst: &Instance, x: &[Vec<f64>]) -> Option<Vec<Vec<u32>>> {
    let mut n: Vec<Vec<u32>> =
        x.iter().map(|row| row.iter().map(|&v| (v + 1e-7).floor().max(0.0) as u32).collect()).collect();
    top_up(inst, &mut n);
    let mut by_cost: Vec<usize> = (0..inst.types()).collect();
    by_cost.sort_by(|&a, &b| inst.cost[b].total_cmp(&inst.cost[a]));
    for m in 0..inst.models() {
        for &s in &by_cost {
            while n[m][s] > 0 && inst.capacity(&n, m) - inst.qps[m][s] >= inst.demand[m] * (1.0 - 1e-12) {
                n[m][s] -= 1;
            }
        }
    }
    inst.is_feasible(&n).then_some(n)
}

/// The per-model search hit its node limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimit;

/// [`cover_search`], with "no cover" and "node limit" both as `None`, for callers that only want a
/// plan when there is a cheap one.
pub fn cover_exact(
    qps: &[f64],
    cost: &[f64],
    ub: &[u32],
    demand: f64,
    node_limit: u64,
) -> Option<(Vec<u32>, f64)> {
    cover_search(qps, cost, ub, demand, node_limit).ok().flatten()
}

/// Exact minimum-cost cover for one model: min Σ cost[s]·k[s] subject to Σ qps[s]·k[s] ≥ demand and
/// 0 ≤ k[s] ≤ ub[s]. Depth-first branch and bound over types in order of cost per QPS, pruned by the
/// fractional (LP) bound. `Ok(None)` when no cover exists, `Err` when the node limit is hit.
pub fn cover_search(
    qps: &[f64],
    cost: &[f64],
    ub: &[u32],
    demand: f64,
    node_limit: u64,
) -> Result<Option<(Vec<u32>, f64)>, NodeLimit> {
    let mut order: Vec<usize> = (0..qps.len()).filter(|&s| qps[s] > 0.0 && ub[s] > 0).collect();
    if demand <= 0.0 {
        return Ok(Some((vec![0; qps.len()], 0.0)));
    }
    order.sort_by(|&a, &b| (cost[a] / qps[a]).total_cmp(&(cost[b] / qps[b])).then(a.cmp(&b)));
    struct Search<'a> {
        qps: &'a [f64],
        cost: &'a [f64],
        ub: &'a [u32],
        order: Vec<usize>,
        cur: Vec<u32>,
        best: Option<(Vec<u32>, f64)>,
        nodes: u64,
        limit: u64,
        tol: f64,
    }
    impl Search<'_> {
        /// Fractional bound on covering `need` with types order[i..]; `None` when they cannot cover it.
        fn bound(&self, i: usize, mut need: f64) -> Option<f64> {
            let mut c = 0.0;
            for &s in &self.order[i..] {
                if need <= self.tol {
                    return Some(c);
                }
                let cap = f64::from(self.ub[s]) * self.qps[s];
                let take = cap.min(need);
                c += take / self.qps[s] * self.cost[s];
                need -= take;
            }
            (need <= self.tol).then_some(c)
        }
        fn go(&mut self, i: usize, need: f64, spent: f64) -> bool {
            self.nodes += 1;
            if self.nodes > self.limit {
                return false;
            }
            if need <= self.tol {
                if self.best.as_ref().is_none_or(|b| spent < b.1 - 1e-9) {
                    self.best = Some((self.cur.clone(), spent));
                }
                return true;
            }
            let Some(lb) = self.bound(i, need) else { return true };
            if let Some(b) = &self.best {
                // Costs are sums of whole servers: prune anything that cannot beat the incumbent.
                if spent + lb >= b.1 - 1e-9 {
                    return true;
                }
            }
            let s = self.order[i];
            let max_k = servers_to_cover(need, self.qps[s]).min(u64::from(self.ub[s])) as u32;
            let last = i + 1 == self.order.len();
            let lo = if last { max_k } else { 0 };
            for k in (lo..=max_k).rev() {
                self.cur[s] = k;
                let ok =
                    self.go(i + 1, need - f64::from(k) * self.qps[s], spent + f64::from(k) * self.cost[s]);
                self.cur[s] = 0;
                if !ok {
                    return false;
                }
            }
            true
        }
    }
    if order.is_empty() {
        return Ok(None);
    }
    let mut search = Search {
        qps,
        cost,
        ub,
        order,
        cur: vec![0; qps.len()],
        best: None,
        nodes: 0,
        limit: node_limit,
        tol: 1e-9 * demand.max(1.0),
    };
    if !search.go(0, demand, 0.0) {
        return Err(NodeLimit);
    }
    Ok(search.best)
}
