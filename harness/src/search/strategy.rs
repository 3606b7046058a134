//! The three schedule searches of SPEC §5 behind one trait: exhaustive (the reference), DeepRecSched
//! (split sizes in order, stop at the first decline, then GPU thresholds) and gradient (Hercules:
//! log-scale finite-difference steps along each knob, move along the best ascent, shrink the step
//! when nothing improves, stop at a local optimum).
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
}

impl<F: FnMut(&Point) -> anyhow::Result<Option<f64>>> Objective for F {
    fn eval(&mut self, p: &Point) -> anyhow::Result<Option<f64>> {
        self(p)
    }
}

/// One search's view of the objective: counts the distinct points it asks for (its evaluations),
/// answers repeats from memory, and enforces its evaluation budget.
pub struct Tracked<'a> {
    inner: &'a mut dyn Objective,
    budget: usize,
    values: BTreeMap<Point, f64>,
    order: Vec<(Point, f64)>,
}

impl<'a> Tracked<'a> {
    /// Wraps `inner` with a budget of `budget` distinct evaluations.
    pub fn new(inner: &'a mut dyn Objective, budget: usize) -> Self {
        Self { inner, budget, values: BTreeMap::new(), order: Vec::new() }
    }

    /// The value at `p`, measured at most once.
    pub fn eval(&mut self, p: &Point) -> anyhow::Result<Option<f64>> {
        if let Some(&v) = self.values.get(p) {
            return Ok(Some(v));
        }
        if self.order.len() >= self.budget {
            return Ok(None);
        }
        let Some(v) = self.inner.eval(p)? else { return Ok(None) };
        self.values.insert(*p, v);
        self.order.push((*p, v));
        Ok(Some(v))
    }

    /// Distinct points evaluated, in order, with their values.
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
/// none to small until the first decline.
#[derive(Debug, Default)]
pub struct DeepRecSched;

impl DeepRecSched {
    /// Walks knob `k` upward from `start`, stopping at the first decline; returns the best point.
    fn walk(
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
            if v < prev {
                break;
            }
            if v > best.1 {
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
        let Some((best, _)) = Self::walk(space, f, Point(start), SUB_BATCH)? else { return Ok(()) };
        if space.len(GPU) > 1 {
            Self::walk(space, f, best, GPU)?;
        }
        Ok(())
    }
}

/// Hercules's gradient search: from [`Space::start_point`], try a step up and down along every knob
/// (in index units of its log-scale value list, starting at half the knob's range), move to the best
/// neighbour when it beats the current point by more than `min_gain`, halve the steps when none does,
/// and stop at a local optimum with unit steps. Optional restarts from seeded random points.
#[derive(Debug)]
pub struct Gradient {
    /// Relative improvement a move needs (measurement noise should not steer the search).
    pub min_gain: f64,
    /// Extra climbs from random feasible points after the first.
    pub restarts: usize,
    /// Seed for the restarts' starting points.
    pub seed: u64,
}

impl Default for Gradient {
    fn default() -> Self {
        Self { min_gain: 0.01, restarts: 0, seed: 1 }
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
            match best {
                Some((y, v)) if v > fx * (1.0 + self.min_gain) => (x, fx) = (y, v),
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
        if !self.climb(space, f, space.start_point())? {
            return Ok(());
        }
        let all = space.all();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        for _ in 0..self.restarts {
            let start = all[rng.gen_range(0..all.len())];
            if !self.climb(space, f, start)? {
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
        "deeprecsched" => Some(Box::new(DeepRecSched)),
        "gradient" | "hercules" => Some(Box::new(Gradient::default())),
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
        DeepRecSched.run(&space, &mut t).unwrap();
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
        for s in
            [by_name("exhaustive").unwrap(), by_name("gradient").unwrap(), by_name("deeprecsched").unwrap()]
        {
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
    fn gradient_restarts_reuse_measured_points() {
        let space = Space::new(8, &[32, 64, 128, 256, 512], &[], &[1]);
        let peak = space.all()[5];
        let mut f = bowl(&space, peak);
        let g = Gradient { restarts: 3, ..Gradient::default() };
        let (p, _, n) = run(&g, &space, &mut f, usize::MAX);
        assert_eq!(p, peak);
        assert!(n <= space.all().len());
    }
}
