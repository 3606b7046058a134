//! The schedule searches of SPEC §5 behind one trait: exhaustive (the reference), DeepRecSched
//! (split sizes in order, stop at the first decline, then GPU thresholds), gradient (Hercules:
//! log-scale finite-difference steps along each knob, move along the best ascent, shrink the step
//! when nothing improves, stop at a local optimum; noise-aware by default, [`NoiseRule`]) and random
//! (the baseline with the same budget).
//!
//! A search only sees an [`Objective`]; the profile command backs it with latency-bounded-throughput
//! measurements, the tests with synthetic functions whose optimum is known.

use super::space::{Point, Space, GPU, INSTANCES, KNOBS, SUB_BATCH, THREADS};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// What a search calls to learn a point's value.
pub trait Objective {
    /// Latency-bounded QPS at `p`; `None` when the search must stop (budget spent, interrupted).
    fn eval(&mut self, p: &Point) -> anyhow::Result<Option<f64>>;
    /// An independent new measurement of `p`, for a search that must tell two close points apart;
    /// `None` where this objective cannot measure a point again (the search then decides on what
    /// it has).
    fn remeasure(&mut self, _p: &Point) -> anyhow::Result<Option<f64>> {
        Ok(None)
    }
}

/// A function is measured afresh on every call (the tests' noisy landscapes).
impl<F: FnMut(&Point) -> anyhow::Result<Option<f64>>> Objective for F {
    fn eval(&mut self, p: &Point) -> anyhow::Result<Option<f64>> {
        self(p)
    }
    fn remeasure(&mut self, p: &Point) -> anyhow::Result<Option<f64>> {
        self(p)
    }
}

/// One search's view of the objective: counts its measurements against its budget, answers a
/// point it has measured from memory (the geometric mean of its measurements), and measures a point
/// again only when the search asks ([`Tracked::remeasure`]).
pub struct Tracked<'a> {
    inner: &'a mut dyn Objective,
    budget: usize,
    /// Every measurement of each point.
    samples: BTreeMap<Point, Vec<f64>>,
    /// Distinct points in the order first measured, with their current estimates.
    order: Vec<(Point, f64)>,
    measurements: usize,
}

impl<'a> Tracked<'a> {
    /// Wraps `inner` with a budget of `budget` measurements (first measurements and repeats alike).
    pub fn new(inner: &'a mut dyn Objective, budget: usize) -> Self {
        Self { inner, budget, samples: BTreeMap::new(), order: Vec::new(), measurements: 0 }
    }

    /// The value at `p`: measured the first time, its estimate after.
    pub fn eval(&mut self, p: &Point) -> anyhow::Result<Option<f64>> {
        if let Some(v) = self.estimate(p) {
            return Ok(Some(v.0));
        }
        if self.measurements >= self.budget {
            return Ok(None);
        }
        let Some(v) = self.inner.eval(p)? else { return Ok(None) };
        self.measurements += 1;
        self.samples.insert(*p, vec![v]);
        self.order.push((*p, v));
        Ok(Some(v))
    }

    /// Measures `p` (already measured) once more; `false` when the budget is spent or the objective
    /// cannot measure again.
    pub fn remeasure(&mut self, p: &Point) -> anyhow::Result<bool> {
        if self.measurements >= self.budget || !self.samples.contains_key(p) {
            return Ok(false);
        }
        let Some(v) = self.inner.remeasure(p)? else { return Ok(false) };
        self.measurements += 1;
        if let Some(all) = self.samples.get_mut(p) {
            all.push(v);
        }
        let est = self.estimate(p).map_or(v, |e| e.0);
        if let Some(e) = self.order.iter_mut().find(|(q, _)| q == p) {
            e.1 = est;
        }
        Ok(true)
    }

    /// The estimate at `p` (geometric mean of its measurements) and how many there are.
    pub fn estimate(&self, p: &Point) -> Option<(f64, usize)> {
        self.samples.get(p).map(|v| match v.as_slice() {
            [one, ..] if v.iter().all(|x| x == one) => (*one, v.len()),
            _ => ((v.iter().map(|x| ln(*x)).sum::<f64>() / v.len() as f64).exp(), v.len()),
        })
    }

    /// The spread of one measurement on a log scale (the standard deviation of ln QPS), pooled over
    /// every point measured more than once; `None` until there are 3 degrees of freedom.
    pub fn pooled_sigma(&self) -> Option<f64> {
        let (mut ss, mut df) = (0.0, 0usize);
        for v in self.samples.values().filter(|v| v.len() > 1) {
            let l: Vec<f64> = v.iter().map(|x| ln(*x)).collect();
            let m = l.iter().sum::<f64>() / l.len() as f64;
            ss += l.iter().map(|x| (x - m).powi(2)).sum::<f64>();
            df += l.len() - 1;
        }
        (df >= 3).then(|| (ss / df as f64).sqrt())
    }

    /// Measurements taken so far (first ones and repeats).
    #[cfg(test)]
    pub fn measurements(&self) -> usize {
        self.measurements
    }

    /// Distinct points evaluated, in order, with their current estimates.
    pub fn trace(&self) -> &[(Point, f64)] {
        &self.order
    }

    /// The best point so far (the first of equals).
    pub fn best(&self) -> Option<(Point, f64)> {
        self.order.iter().copied().fold(None, |b, (p, v)| match b {
            Some((_, bv)) if bv >= v => b,
            _ => Some((p, v)),
        })
    }
}

/// ln of a measured QPS; a zero (an SLA met at no rate) counts as the smallest positive number.
fn ln(x: f64) -> f64 {
    x.max(f64::MIN_POSITIVE).ln()
}

/// A schedule search.
pub trait Search {
    /// Its name in tables and traces.
    fn name(&self) -> &'static str;
    /// Searches `space`, asking `f` for values; stops early when `f` says so.
    fn run(&self, space: &Space, f: &mut Tracked<'_>) -> anyhow::Result<()>;
}

/// Every feasible point: the reference optimum.
#[derive(Debug, Default)]
pub struct Exhaustive;

impl Search for Exhaustive {
    fn name(&self) -> &'static str {
        "exhaustive"
    }

    fn run(&self, space: &Space, f: &mut Tracked<'_>) -> anyhow::Result<()> {
        for p in space.all() {
            if f.eval(&p)?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

/// DeepRecSched (Gupta et al., ISCA 2020), on this grid: one single-threaded instance per core (its
/// CPU setup), sub-batch sizes from small to none until the first decline, then GPU thresholds from
/// none to small until the first decline. Noise-aware by default: a decline counts only once the
/// previous point still beats the next after both were re-measured ([`NoiseRule::beats`]).
#[derive(Debug)]
pub struct DeepRecSched {
    /// The noise-aware comparison; `None` stops at the first single-measurement decline (the paper's rule).
    pub noise: Option<NoiseRule>,
}

impl Default for DeepRecSched {
    fn default() -> Self {
        Self { noise: Some(NoiseRule::default()) }
    }
}

impl DeepRecSched {
    /// Walks knob `k` upward from `start`, stopping at the first decline; returns the best point.
    fn walk(
        &self,
        space: &Space,
        f: &mut Tracked<'_>,
        start: Point,
        k: usize,
    ) -> anyhow::Result<Option<(Point, f64)>> {
        let Some(v0) = f.eval(&start)? else { return Ok(None) };
        let (mut best, mut prev) = ((start, v0), v0);
        let mut p = start;
        while let Some(q) = space.step(&p, k, 1) {
            let Some(v) = f.eval(&q)? else { return Ok(Some(best)) };
            let declined = match self.noise {
                Some(rule) => rule.beats(f, &p, &q, 0.0)?,
                None => v < prev,
            };
            if declined {
                break;
            }
            // Estimates after any re-measurement, so the best is not the luckiest single trial.
            let v = f.estimate(&q).map_or(v, |e| e.0);
            if v > f.estimate(&best.0).map_or(best.1, |e| e.0) {
                best = (q, v);
            }
            prev = v;
            p = q;
        }
        Ok(Some(best))
    }
}

impl Search for DeepRecSched {
    fn name(&self) -> &'static str {
        "deeprecsched"
    }

    fn run(&self, space: &Space, f: &mut Tracked<'_>) -> anyhow::Result<()> {
        let mut start = [0; KNOBS];
        start[INSTANCES] = space.instances.len() - 1;
        start[THREADS] = 0;
        let Some((best, _)) = self.walk(space, f, Point(start), SUB_BATCH)? else { return Ok(()) };
        if space.len(GPU) > 1 {
            self.walk(space, f, best, GPU)?;
        }
        Ok(())
    }
}

/// How a search tells two measured points apart when measurements are noisy: on a log scale, the
/// gap between their estimates against `z` standard errors; while the gap is inside that band, both
/// points are measured again (up to `rounds` times each), and then the estimates decide.
#[derive(Debug, Clone, Copy)]
pub struct NoiseRule {
    /// Standard errors a gap must exceed to count (1.645: a one-sided 95% test).
    pub z: f64,
    /// The spread of one measurement (standard deviation of ln QPS) until the search has measured
    /// enough repeats to pool its own ([`Tracked::pooled_sigma`]).
    pub prior_sigma: f64,
    /// Most extra measurements of each point per comparison.
    pub rounds: usize,
}

impl Default for NoiseRule {
    fn default() -> Self {
        Self { z: 1.645, prior_sigma: 0.10, rounds: 2 }
    }
}

/// Points a noise-aware search measures again at its end, best estimates first.
const FINALISTS: usize = 3;

impl NoiseRule {
    /// Measures the `n` best points so far `rounds` more times each (as the budget allows), so the
    /// point reported best is not merely the luckiest single measurement.
    pub fn settle_finalists(&self, f: &mut Tracked<'_>, n: usize) -> anyhow::Result<()> {
        let mut top: Vec<(Point, f64)> = f.trace().to_vec();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (p, _) in top.into_iter().take(n) {
            for _ in 0..self.rounds {
                if !f.remeasure(&p)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Whether `a` beats `b` by more than `min_gain` (relative), re-measuring both while the gap is
    /// within the noise. Ends early when the budget runs out or the objective cannot re-measure.
    pub fn beats(&self, f: &mut Tracked<'_>, a: &Point, b: &Point, min_gain: f64) -> anyhow::Result<bool> {
        let need = (1.0 + min_gain).ln();
        let mut round = 0;
        loop {
            let (Some((va, na)), Some((vb, nb))) = (f.estimate(a), f.estimate(b)) else { return Ok(false) };
            let gap = ln(va) - ln(vb);
            let sigma = f.pooled_sigma().unwrap_or(self.prior_sigma);
            let se = sigma * (1.0 / na as f64 + 1.0 / nb as f64).sqrt();
            if round == self.rounds || (gap - need).abs() > self.z * se {
                return Ok(gap > need);
            }
            round += 1;
            // Both or neither: a one-sided repeat would leave the pair unequally measured.
            if !(f.remeasure(a)? && f.remeasure(b)?) {
                round = self.rounds;
            }
        }
    }
}

/// Hercules's gradient search: from [`Space::start_point`], try a step up and down along every knob
/// (in index units of its log-scale value list, starting at half the knob's range), move to the best
/// neighbour when it beats the current point by more than `min_gain` — by [`NoiseRule::beats`] when
/// `noise` is set, re-measuring both while the gap is within the noise — halve the steps when none
/// does, and stop at a local optimum with unit steps. Optional restarts from seeded random points.
#[derive(Debug)]
pub struct Gradient {
    /// Relative improvement a move needs (measurement noise should not steer the search).
    pub min_gain: f64,
    /// Extra climbs from random feasible points after the first.
    pub restarts: usize,
    /// Seed for the restarts' starting points.
    pub seed: u64,
    /// The noise-aware comparison; `None` compares single estimates (noise-blind).
    pub noise: Option<NoiseRule>,
}

impl Default for Gradient {
    fn default() -> Self {
        Self { min_gain: 0.01, restarts: 0, seed: 1, noise: Some(NoiseRule::default()) }
    }
}

impl Gradient {
    /// The same search deciding on single measurements (the baseline of the noise tests).
    #[cfg(test)]
    pub fn noise_blind() -> Self {
        Self { noise: None, ..Self::default() }
    }
}

impl Gradient {
    /// One climb from `x`; `false` when the objective said stop.
    fn climb(&self, space: &Space, f: &mut Tracked<'_>, mut x: Point) -> anyhow::Result<bool> {
        let Some(mut fx) = f.eval(&x)? else { return Ok(false) };
        let mut steps: [usize; KNOBS] =
            std::array::from_fn(|k| space.len(k).saturating_sub(1).div_ceil(2).max(1));
        loop {
            let mut best: Option<(Point, f64)> = None;
            for (k, &step) in steps.iter().enumerate() {
                for dir in [-1isize, 1] {
                    let Some(y) = space.step(&x, k, dir * step as isize) else { continue };
                    let Some(v) = f.eval(&y)? else { return Ok(false) };
                    if best.is_none_or(|(_, bv)| v > bv) {
                        best = Some((y, v));
                    }
                }
            }
            let moves = match (best, self.noise) {
                (Some((y, _)), Some(rule)) => rule.beats(f, &y, &x, self.min_gain)?,
                (Some((_, v)), None) => v > fx * (1.0 + self.min_gain),
                (None, _) => false,
            };
            match best {
                Some((y, _)) if moves => {
                    x = y;
                    fx = f.estimate(&x).map_or(fx, |e| e.0);
                }
                _ if steps.iter().any(|&s| s > 1) => steps = steps.map(|s| s.div_ceil(2)),
                _ => return Ok(true),
            }
        }
    }
}

impl Search for Gradient {
    fn name(&self) -> &'static str {
        "gradient"
    }

    fn run(&self, space: &Space, f: &mut Tracked<'_>) -> anyhow::Result<()> {
        if self.climb(space, f, space.start_point())? {
            let all = space.all();
            let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
            for _ in 0..self.restarts {
                let start = all[rng.gen_range(0..all.len())];
                if !self.climb(space, f, start)? {
                    break;
                }
            }
        }
        if let Some(rule) = self.noise {
            rule.settle_finalists(f, FINALISTS)?;
        }
        Ok(())
    }
}

/// The baseline a reviewer asks for: feasible points in a seeded random order until the budget is
/// spent (with no budget, the whole grid in random order).
#[derive(Debug)]
pub struct RandomSearch {
    /// Seed of the order.
    pub seed: u64,
}

impl Default for RandomSearch {
    fn default() -> Self {
        Self { seed: 1 }
    }
}

impl Search for RandomSearch {
    fn name(&self) -> &'static str {
        "random"
    }

    fn run(&self, space: &Space, f: &mut Tracked<'_>) -> anyhow::Result<()> {
        let mut all = space.all();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        // Fisher-Yates, so the order depends on the seed alone.
        for i in (1..all.len()).rev() {
            all.swap(i, rng.gen_range(0..=i));
        }
        for p in all {
            if f.eval(&p)?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

/// The search called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Search>> {
    match name {
        "exhaustive" | "grid" => Some(Box::new(Exhaustive)),
        "deeprecsched" => Some(Box::new(DeepRecSched::default())),
        "gradient" | "hercules" => Some(Box::new(Gradient::default())),
        "random" => Some(Box::new(RandomSearch::default())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::space::INTER_OP;
    use super::*;

    /// A smooth unimodal landscape in log-scale index space with its peak at `peak` (feasible).
    fn bowl(space: &Space, peak: Point) -> impl FnMut(&Point) -> anyhow::Result<Option<f64>> + '_ {
        move |p: &Point| {
            assert!(space.feasible(p), "searches only ask for feasible points");
            let d2: f64 = (0..KNOBS).map(|k| (p.0[k] as f64 - peak.0[k] as f64).powi(2)).sum();
            Ok(Some(1000.0 / (1.0 + 0.3 * d2)))
        }
    }

    fn run(search: &dyn Search, space: &Space, f: &mut dyn Objective, budget: usize) -> (Point, f64, usize) {
        let mut t = Tracked::new(f, budget);
        search.run(space, &mut t).unwrap();
        let (p, v) = t.best().unwrap();
        (p, v, t.trace().len())
    }

    #[test]
    fn exhaustive_finds_the_known_optimum() {
        let space = Space::new(16, &[32, 64, 128, 256, 512], &[], &[1]);
        let peak = Point([2, 1, 1, 2, 0, 0]); // 4 instances × 2 threads, inter-op, sub-batch 128
        assert!(space.feasible(&peak));
        let mut f = bowl(&space, peak);
        let (p, v, n) = run(&Exhaustive, &space, &mut f, usize::MAX);
        assert_eq!((p, v), (peak, 1000.0));
        assert_eq!(n, space.all().len());
    }

    #[test]
    fn gradient_finds_it_with_far_fewer_evaluations() {
        let space = Space::new(16, &[32, 64, 128, 256, 512], &[], &[1]);
        let total = space.all().len();
        for peak in space.all().into_iter().step_by(7) {
            let mut f = bowl(&space, peak);
            let (p, v, n) = run(&Gradient::default(), &space, &mut f, usize::MAX);
            // Unimodal along each knob: the climb must reach the peak, using at most 40% of the grid.
            assert_eq!(v, 1000.0, "peak {peak:?}: stopped at {p:?} = {v}");
            assert!(n * 10 <= total * 4, "peak {peak:?}: {n} of {total} evaluations");
        }
    }

    #[test]
    fn gradient_on_this_machines_two_core_grid() {
        let space = Space::new(2, &[32, 64, 128, 256, 512], &[], &[1]);
        let mut worst = 0;
        for peak in space.all() {
            let mut f = bowl(&space, peak);
            let (p, v, n) = run(&Gradient::default(), &space, &mut f, usize::MAX);
            assert!(v >= 950.0, "peak {peak:?}: stopped at {p:?} = {v}");
            worst = worst.max(n);
        }
        assert!(worst < space.all().len(), "{worst}");
    }

    #[test]
    fn gradient_searches_gpu_thresholds_and_streams() {
        let space = Space::new(4, &[32, 64, 128, 256, 512], &[64, 256, 1024], &[1, 2, 4]);
        let total = space.all().len();
        let mut worst = 0;
        for peak in space.all().into_iter().filter(|p| p.0[GPU] > 0) {
            let mut f = bowl(&space, peak);
            let (p, v, n) = run(&Gradient::default(), &space, &mut f, usize::MAX);
            assert!(v >= 950.0, "peak {peak:?}: stopped at {p:?} = {v}");
            worst = worst.max(n);
        }
        assert!(worst * 2 < total, "{worst} of {total}");
    }

    #[test]
    fn deeprecsched_walks_split_sizes_then_gpu_thresholds() {
        let space = Space::new(4, &[32, 64, 128, 256, 512], &[64, 256, 1024], &[1]);
        // Single-threaded instances on every core; best split 128, best GPU threshold 256.
        let mut peak = [0; KNOBS];
        peak[INSTANCES] = space.instances.len() - 1;
        peak[SUB_BATCH] = 2;
        peak[GPU] = 2;
        let mut f = bowl(&space, Point(peak));
        let mut t = Tracked::new(&mut f, usize::MAX);
        DeepRecSched::default().run(&space, &mut t).unwrap();
        let (best, _) = t.best().unwrap();
        assert_eq!(best, Point(peak));
        let s = space.schedule(&best);
        assert_eq!(
            (s.instances, s.threads_per_instance, s.sub_batch, s.gpu_threshold),
            (4, 1, Some(128), Some(256))
        );
        // Splits 32, 64, 128, 256 (first decline), then thresholds 1024, 256, 64 (decline).
        assert_eq!(t.trace().len(), 4 + 3);
        assert!(t.trace().iter().all(|(p, _)| p.0[THREADS] == 0 && p.0[INTER_OP] == 0));
    }

    #[test]
    fn budgets_and_stops_are_honoured() {
        let space = Space::new(8, &[32, 64, 128, 256, 512], &[], &[1]);
        let peak = space.default_point();
        for s in ["exhaustive", "gradient", "deeprecsched", "random"].map(|n| by_name(n).unwrap()) {
            let mut f = bowl(&space, peak);
            let (_, _, n) = run(s.as_ref(), &space, &mut f, 3);
            assert!(n <= 3, "{}: {n}", s.name());
        }
        // An objective that stops after two answers ends every search cleanly.
        let mut calls = 0;
        let mut stop = |_: &Point| {
            calls += 1;
            Ok(if calls <= 2 { Some(1.0) } else { None })
        };
        let (_, _, n) = run(&Gradient::default(), &space, &mut stop, usize::MAX);
        assert_eq!(n, 2);
        assert!(by_name("annealing").is_none());
    }

    #[test]
    fn random_search_is_a_seeded_order_of_distinct_points() {
        let space = Space::new(8, &[32, 64, 128, 256, 512], &[], &[1]);
        let peak = space.all()[11];
        let order = |seed| {
            let mut f = bowl(&space, peak);
            let mut t = Tracked::new(&mut f, 20);
            RandomSearch { seed }.run(&space, &mut t).unwrap();
            t.trace().iter().map(|(p, _)| *p).collect::<Vec<_>>()
        };
        let (a, b, c) = (order(1), order(1), order(2));
        assert_eq!(a.len(), 20);
        assert_eq!(a, b, "one seed, one order");
        assert_ne!(a, c, "another seed, another order");
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), a.len());
        // Without a budget it covers the grid.
        let mut f = bowl(&space, peak);
        let (p, _, n) = run(&RandomSearch::default(), &space, &mut f, usize::MAX);
        assert_eq!((p, n), (peak, space.all().len()));
    }

    #[test]
    fn gradient_restarts_reuse_measured_points() {
        let space = Space::new(8, &[32, 64, 128, 256, 512], &[], &[1]);
        let peak = space.all()[5];
        let mut f = bowl(&space, peak);
        let g = Gradient { restarts: 3, ..Gradient::default() };
        let (p, _, n) = run(&g, &space, &mut f, usize::MAX);
        assert_eq!(p, peak);
        assert!(n <= space.all().len());
    }

    /// A landscape with its peak at `peak` and every measurement off by lognormal noise of spread
    /// `sigma` (10% here): the true value of a point is `truth(p)`.
    fn truth(peak: &Point, p: &Point) -> f64 {
        let d: f64 = (0..KNOBS).map(|k| (p.0[k] as f64 - peak.0[k] as f64).abs()).sum();
        1000.0 * (-0.04 * d * d).exp().max(0.2)
    }

    fn noisy<'a>(
        space: &'a Space,
        peak: Point,
        sigma: f64,
        seed: u64,
    ) -> impl FnMut(&Point) -> anyhow::Result<Option<f64>> + 'a {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        move |p: &Point| {
            assert!(space.feasible(p));
            // Box-Muller: one standard normal per measurement.
            let (u1, u2): (f64, f64) = (rng.gen_range(f64::MIN_POSITIVE..1.0), rng.gen_range(0.0..1.0));
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            Ok(Some(truth(&peak, p) * (sigma * z).exp()))
        }
    }

    /// Seeds on which `search` returned a best point within 5% of the true optimum, and the most
    /// measurements it took.
    fn successes(search: &Gradient, space: &Space, peak: Point, budget: usize) -> (usize, usize) {
        let best_true = space.all().iter().map(|p| truth(&peak, p)).fold(0.0, f64::max);
        let (mut ok, mut most) = (0, 0);
        for seed in 0..10 {
            let mut f = noisy(space, peak, 0.10, seed);
            let mut t = Tracked::new(&mut f, budget);
            search.run(space, &mut t).unwrap();
            let (p, _) = t.best().unwrap();
            ok += usize::from(truth(&peak, &p) >= 0.95 * best_true);
            most = most.max(t.measurements());
        }
        (ok, most)
    }

    /// Seeds (of 10) on which DeepRecSched with `noise` ended within 5% of the true optimum of a
    /// landscape peaked at `peak` (on its own line), and the most measurements it took.
    fn deeprecsched_successes(noise: Option<NoiseRule>, space: &Space, peak: Point) -> (usize, usize) {
        let best_true = space.all().iter().map(|p| truth(&peak, p)).fold(0.0, f64::max);
        let (mut ok, mut most) = (0, 0);
        for seed in 0..10 {
            let mut f = noisy(space, peak, 0.10, seed);
            let mut t = Tracked::new(&mut f, usize::MAX);
            DeepRecSched { noise }.run(space, &mut t).unwrap();
            let (p, _) = t.best().unwrap();
            ok += usize::from(truth(&peak, &p) >= 0.95 * best_true);
            most = most.max(t.measurements());
        }
        (ok, most)
    }

    #[test]
    fn noise_aware_deeprecsched_stops_at_a_decline_only_outside_the_noise() {
        let space = Space::new(16, &[32, 64, 128, 256, 512], &[], &[1]);
        let last = space.instances.len() - 1;
        let (mut aware_all, mut blind_all) = (0, 0);
        for split in [3, 4, 5] {
            let peak = Point([last, 0, 0, split, 0, 0]);
            let (aware, used) = deeprecsched_successes(Some(NoiseRule::default()), &space, peak);
            let (blind, _) = deeprecsched_successes(None, &space, peak);
            println!(
                "peak {peak:?}: noise-aware {aware}/10 (at most {used} measurements), noise-blind {blind}/10"
            );
            assert!(aware >= 9, "peak {peak:?}: noise-aware found it on {aware} of 10 seeds");
            (aware_all, blind_all) = (aware_all + aware, blind_all + blind);
        }
        // A peak at the walk's end needs no stopping rule; the ones before it are where noise stops
        // the paper's rule early.
        assert!(blind_all + 3 <= aware_all, "noise-blind {blind_all}/30, noise-aware {aware_all}/30");
    }

    #[test]
    fn noise_aware_gradient_beats_the_noise_blind_one_under_ten_percent_noise() {
        let space = Space::new(16, &[32, 64, 128, 256, 512], &[], &[1]);
        let total = space.all().len();
        let budget = total / 2;
        let peaks = [Point([2, 1, 1, 2, 0, 0]), Point([4, 0, 0, 1, 0, 0]), Point([1, 2, 1, 3, 0, 0])];
        for peak in peaks {
            assert!(space.feasible(&peak));
            let (aware, used) = successes(&Gradient::default(), &space, peak, budget);
            let (blind, _) = successes(&Gradient::noise_blind(), &space, peak, budget);
            println!(
                "peak {peak:?}: noise-aware {aware}/10 (at most {used} of {total}), noise-blind {blind}/10"
            );
            assert!(aware >= 9, "peak {peak:?}: noise-aware found it on {aware} of 10 seeds");
            assert!(used * 2 <= total, "{used} measurements of a {total}-point grid");
            assert!(blind < aware, "peak {peak:?}: noise-blind {blind}, noise-aware {aware}");
        }
    }
}
