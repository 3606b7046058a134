//! The schedule space of SPEC §5 as a grid of ordered knob values, so searches can step along a
//! knob on a log scale: instances, threads per instance, inter-op, sub-batch size, GPU threshold and
//! GPU stream count.

use hercules_results::Schedule;
use serde::{Deserialize, Serialize};

/// Number of knobs.
pub const KNOBS: usize = 6;
/// Knob indices into a [`Point`].
pub const INSTANCES: usize = 0;
/// Threads per instance.
pub const THREADS: usize = 1;
/// Inter-op off (0) / on (1).
pub const INTER_OP: usize = 2;
/// Sub-batch size.
pub const SUB_BATCH: usize = 3;
/// GPU offload threshold.
pub const GPU: usize = 4;
/// CUDA streams of the GPU lane (meaningful only with a threshold).
pub const GPU_STREAMS: usize = 5;

/// A point of the grid: one index per knob into that knob's value list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Point(pub [usize; KNOBS]);

/// The values each knob may take on this machine, ascending along the direction a search steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    /// Cores the schedules may use.
    pub cores: usize,
    /// Instance counts, ascending (powers of two and `cores`).
    pub instances: Vec<usize>,
    /// Threads per instance, ascending (powers of two and `cores`).
    pub threads: Vec<usize>,
    /// Whether inter-op `on` is explored (it needs at least two threads to mean anything).
    pub inter_op: bool,
    /// Sub-batch sizes, ascending, `None` (no split) last.
    pub sub_batches: Vec<Option<usize>>,
    /// GPU thresholds: `None` (CPU only) first, then descending sizes (more offload).
    pub gpu_thresholds: Vec<Option<usize>>,
    /// GPU-lane stream counts, ascending (`[1]` without a GPU lane).
    pub gpu_streams: Vec<usize>,
}

/// Powers of two below `n`, then `n`.
fn pow2_to(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..).map(|i| 1usize << i).take_while(|&x| x < n).collect();
    v.push(n);
    v
}

impl Space {
    /// The space for `cores` cores, splitting queries into `sub_batches` (plus no split), and offloading
    /// at `gpu_thresholds` with `gpu_streams` streams when a GPU lane exists (no thresholds: CPU only).
    pub fn new(cores: usize, sub_batches: &[usize], gpu_thresholds: &[usize], gpu_streams: &[usize]) -> Self {
        let mut streams: Vec<usize> = gpu_streams.iter().copied().filter(|&n| n > 0).collect();
        streams.sort_unstable();
        streams.dedup();
        if streams.is_empty() || gpu_thresholds.is_empty() {
            streams = vec![1];
        }
        let mut sb: Vec<usize> = sub_batches.to_vec();
        sb.sort_unstable();
        sb.dedup();
        let mut gpu: Vec<usize> = gpu_thresholds.to_vec();
        gpu.sort_unstable_by(|a, b| b.cmp(a));
        gpu.dedup();
        let cores = cores.max(1);
        Space {
            cores,
            instances: pow2_to(cores),
            threads: pow2_to(cores),
            inter_op: cores > 1,
            sub_batches: sb.into_iter().map(Some).chain([None]).collect(),
            gpu_thresholds: [None].into_iter().chain(gpu.into_iter().map(Some)).collect(),
            gpu_streams: streams,
        }
    }

    /// How many values knob `k` takes.
    pub fn len(&self, k: usize) -> usize {
        match k {
            INSTANCES => self.instances.len(),
            THREADS => self.threads.len(),
            INTER_OP => 1 + usize::from(self.inter_op),
            SUB_BATCH => self.sub_batches.len(),
            GPU => self.gpu_thresholds.len(),
            _ => self.gpu_streams.len(),
        }
    }

    /// Whether `p` is a distinct schedule that fits: instances × threads within the cores, inter-op
    /// only with at least two threads (with one it is the same schedule as inter-op off), and GPU
    /// streams beyond the first only with a GPU threshold.
    pub fn feasible(&self, p: &Point) -> bool {
        (0..KNOBS).all(|k| p.0[k] < self.len(k))
            && self.instances[p.0[INSTANCES]] * self.threads[p.0[THREADS]] <= self.cores
            && (p.0[INTER_OP] == 0 || self.threads[p.0[THREADS]] >= 2)
            && (p.0[GPU_STREAMS] == 0 || self.gpu_thresholds[p.0[GPU]].is_some())
    }

    /// The default schedule: one instance on every core, no inter-op, no split, CPU only.
    pub fn default_point(&self) -> Point {
        Point([0, self.threads.len() - 1, 0, self.sub_batches.len() - 1, 0, 0])
    }

    /// Where the gradient search starts: one single-threaded instance per core (the throughput-oriented
    /// layout), no inter-op, the sub-batch size in the middle of its log-scale range, CPU only.
    pub fn start_point(&self) -> Point {
        let mut p = [0; KNOBS];
        p[INSTANCES] = self.instances.len() - 1;
        p[SUB_BATCH] = (self.sub_batches.len() - 1) / 2;
        Point(p)
    }

    /// Every feasible point, in a fixed order.
    pub fn all(&self) -> Vec<Point> {
        let mut out = Vec::new();
        let mut idx = [0usize; KNOBS];
        loop {
            let p = Point(idx);
            if self.feasible(&p) {
                out.push(p);
            }
            // Odometer over the knobs, last knob fastest.
            let mut k = KNOBS;
            loop {
                if k == 0 {
                    return out;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < self.len(k) {
                    break;
                }
                idx[k] = 0;
            }
        }
    }

    /// The point `delta` steps along knob `k` from `p` (clamped to the knob's range), repaired to fit
    /// the cores: more instances take threads away and more threads take instances away, so a step
    /// along one knob keeps the core budget. `None` when the step leaves `p` unchanged or cannot fit.
    pub fn step(&self, p: &Point, k: usize, delta: isize) -> Option<Point> {
        let len = self.len(k) as isize;
        let to = (p.0[k] as isize + delta).clamp(0, len - 1) as usize;
        if to == p.0[k] {
            return None;
        }
        let mut q = *p;
        q.0[k] = to;
        let other = match k {
            INSTANCES => Some(THREADS),
            THREADS => Some(INSTANCES),
            _ => None,
        };
        if let Some(o) = other {
            while self.instances[q.0[INSTANCES]] * self.threads[q.0[THREADS]] > self.cores && q.0[o] > 0 {
                q.0[o] -= 1;
            }
            if self.threads[q.0[THREADS]] < 2 {
                q.0[INTER_OP] = 0;
            }
        }
        if k == GPU && self.gpu_thresholds[q.0[GPU]].is_none() {
            // Back to CPU only: the stream count means nothing there.
            q.0[GPU_STREAMS] = 0;
        }
        (q != *p && self.feasible(&q)).then_some(q)
    }

    /// The schedule at `p` (not yet placed on cores).
    pub fn schedule(&self, p: &Point) -> Schedule {
        let gpu = self.gpu_thresholds[p.0[GPU]];
        Schedule {
            instances: self.instances[p.0[INSTANCES]],
            threads_per_instance: self.threads[p.0[THREADS]],
            inter_op: p.0[INTER_OP] == 1,
            sub_batch: self.sub_batches[p.0[SUB_BATCH]],
            gpu_threshold: gpu,
            gpu_streams: gpu.map(|_| self.gpu_streams[p.0[GPU_STREAMS]]),
            cores: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cores_give_the_distinct_schedules() {
        let s = Space::new(2, &[32, 64, 128, 256, 512], &[], &[1]);
        let all = s.all();
        // (1x1, 2x1) × 6 splits + 1x2 × 2 inter-op × 6 splits.
        assert_eq!(all.len(), 24);
        let labels: std::collections::HashSet<String> =
            all.iter().map(|p| s.schedule(p).to_string()).collect();
        assert_eq!(labels.len(), 24, "every point is a distinct schedule");
        assert!(all.iter().all(|p| s.schedule(p).cores_needed() <= 2));
        let d = s.schedule(&s.default_point());
        assert_eq!((d.instances, d.threads_per_instance, d.inter_op, d.sub_batch), (1, 2, false, None));
        let s0 = s.schedule(&s.start_point());
        assert_eq!(
            (s0.instances, s0.threads_per_instance, s0.inter_op, s0.sub_batch),
            (2, 1, false, Some(128))
        );
    }

    #[test]
    fn steps_keep_the_core_budget() {
        let s = Space::new(8, &[64, 256], &[], &[1]);
        let d = s.default_point(); // 1 × 8
        let up = s.step(&d, INSTANCES, 1).unwrap();
        let sch = s.schedule(&up);
        assert_eq!((sch.instances, sch.threads_per_instance), (2, 4));
        let on = s.step(&d, INTER_OP, 1).unwrap();
        assert!(s.schedule(&on).inter_op);
        // Down to one thread drops inter-op, which means nothing there.
        let one = s.step(&on, THREADS, -3).unwrap();
        assert_eq!(s.schedule(&one).threads_per_instance, 1);
        assert!(!s.schedule(&one).inter_op);
        assert_eq!(s.step(&d, SUB_BATCH, 1), None, "already at no-split");
        assert_eq!(s.step(&d, GPU, 1), None, "no GPU lane");
        let gs = Space::new(2, &[64], &[128, 512], &[1]);
        let g = gs.step(&gs.default_point(), GPU, 1).unwrap();
        assert_eq!(gs.schedule(&g).gpu_threshold, Some(512));
        assert_eq!(gs.all().len(), 4 * 2 * 3);
    }

    #[test]
    fn gpu_streams_only_with_a_threshold() {
        let s = Space::new(2, &[64], &[128, 512], &[1, 2, 4]);
        // Without offload: 4 CPU layouts × 2 splits; with it: × 2 thresholds × 3 stream counts.
        assert_eq!(s.all().len(), 4 * 2 + 4 * 2 * 2 * 3);
        let labels: std::collections::HashSet<String> =
            s.all().iter().map(|p| s.schedule(p).to_string()).collect();
        assert_eq!(labels.len(), s.all().len(), "every point is a distinct schedule");
        let d = s.default_point();
        assert_eq!(s.step(&d, GPU_STREAMS, 1), None, "no streams knob without offload");
        let g = s.step(&d, GPU, 1).unwrap();
        let g2 = s.step(&g, GPU_STREAMS, 2).unwrap();
        assert_eq!(s.schedule(&g2).gpu_streams, Some(4));
        let back = s.step(&g2, GPU, -1).unwrap();
        assert_eq!((s.schedule(&back).gpu_threshold, s.schedule(&back).gpu_streams), (None, None));
        assert!(s.feasible(&back));
        // No thresholds: the stream list collapses to one value.
        assert_eq!(Space::new(2, &[64], &[], &[1, 2]).gpu_streams, vec![1]);
    }

    #[test]
    fn one_core_has_no_inter_op() {
        let s = Space::new(1, &[64], &[], &[1]);
        assert_eq!(s.all().len(), 2);
        assert!(!s.inter_op);
    }
}
