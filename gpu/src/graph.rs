//! The CUDA-graph cache policy of a runner ([`GpuRunner`](crate::GpuRunner)): per (batch size, index width),
//! whether a forward's device work runs eagerly, is captured, or replays a captured graph, and which graph
//! is evicted (least recently used) beyond the limit. Generic over the graph type, so the policy is tested
//! without a device; the capture and the launches are in [`crate::model`].

use std::collections::{HashMap, HashSet};

/// What to do with the device work of one forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphStep {
    /// Launch eagerly (graphs off, batch above the limit, or the shape's first use).
    Eager,
    /// Replay the cached graph.
    Replay,
    /// Capture the work (then [`GraphCache::insert`] and replay it).
    Capture,
}

/// The bounded cache of captured graphs of a runner, keyed by (batch size, wide indices); generic over
/// the graph type so its policy is tested without a device. A shape is captured on its second use (the
/// first runs eagerly, so lazy loading and cuBLAS' first-call setup happen outside capture); the least
/// recently used graph is evicted beyond `max_graphs`.
#[derive(Debug)]
pub struct GraphCache<G> {
    enabled: bool,
    max_batch: usize,
    max_graphs: usize,
    cache: HashMap<(usize, bool), (G, u64)>,
    seen: HashSet<(usize, bool)>,
    tick: u64,
    failure: Option<String>,
}

impl<G> GraphCache<G> {
    /// An empty cache, off, with the default limits.
    pub fn new() -> Self {
        Self {
            enabled: false,
            max_batch: GRAPH_MAX_BATCH,
            max_graphs: GRAPH_CACHE,
            cache: HashMap::new(),
            seen: HashSet::new(),
            tick: 0,
            failure: None,
        }
    }

    /// Turns graphs on or off (off drops every graph); clears a recorded failure.
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.clear();
        }
        self.failure = None;
    }

    /// Whether graphs are on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Largest batch captured, and graphs kept (≥ 1).
    pub fn set_limits(&mut self, max_batch: usize, max_graphs: usize) {
        self.max_batch = max_batch;
        self.max_graphs = max_graphs.max(1);
        while self.cache.len() > self.max_graphs {
            self.evict_one();
        }
    }

    /// Graphs held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// No graph held.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Drops every graph and forgets the shapes seen (the buffers they read changed).
    pub fn clear(&mut self) {
        self.cache.clear();
        self.seen.clear();
    }

    /// Decides the step for a batch of `bsz` with (or without) wide indices; marks its use.
    pub fn step(&mut self, bsz: usize, wide: bool) -> GraphStep {
        if !self.enabled || bsz > self.max_batch {
            return GraphStep::Eager;
        }
        self.tick += 1;
        let key = (bsz, wide);
        if let Some(e) = self.cache.get_mut(&key) {
            e.1 = self.tick;
            return GraphStep::Replay;
        }
        if self.seen.insert(key) {
            return GraphStep::Eager;
        }
        GraphStep::Capture
    }

    /// The graph to replay for this shape (after [`GraphStep::Replay`]).
    pub fn get(&self, bsz: usize, wide: bool) -> Option<&G> {
        self.cache.get(&(bsz, wide)).map(|e| &e.0)
    }

    /// Keeps a captured graph, evicting the least recently used beyond the limit; returns it.
    pub fn insert(&mut self, bsz: usize, wide: bool, g: G) -> &G {
        while self.cache.len() >= self.max_graphs {
            self.evict_one();
        }
        let key = (bsz, wide);
        self.cache.insert(key, (g, self.tick));
        &self.cache[&key].0
    }

    /// Records a failed capture: graphs go off and stay off until [`GraphCache::set_enabled`].
    pub fn fail(&mut self, why: String) {
        self.enabled = false;
        self.failure = Some(why);
        self.clear();
    }

    /// Why graphs went off, if a capture failed.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn evict_one(&mut self) {
        if let Some(&k) = self.cache.iter().min_by_key(|(_, e)| e.1).map(|(k, _)| k) {
            self.cache.remove(&k);
            self.seen.remove(&k);
        }
    }
}

impl<G> Default for GraphCache<G> {
    fn default() -> Self {
        Self::new()
    }
}

/// Default largest batch a runner captures graphs for.
pub const GRAPH_MAX_BATCH: usize = 256;
/// Default number of captured graphs a runner keeps (least recently used evicted).
pub const GRAPH_CACHE: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_cache_policy() {
        let mut c: GraphCache<u32> = GraphCache::new();
        assert_eq!(c.step(1, false), GraphStep::Eager, "off by default");
        c.set_enabled(true);
        c.set_limits(8, 2);
        // First use eager, second captures, then replays.
        assert_eq!(c.step(1, false), GraphStep::Eager);
        assert_eq!(c.step(1, false), GraphStep::Capture);
        c.insert(1, false, 10);
        assert_eq!(c.step(1, false), GraphStep::Replay);
        assert_eq!(c.get(1, false), Some(&10));
        // Index width is part of the shape; batches above the limit stay eager.
        assert_eq!(c.step(1, true), GraphStep::Eager);
        assert_eq!(c.step(9, false), GraphStep::Eager);
        assert_eq!(c.step(9, false), GraphStep::Eager);
        for b in [2, 2] {
            let _ = c.step(b, false);
        }
        c.insert(2, false, 20);
        assert_eq!(c.step(1, false), GraphStep::Replay, "touch 1, so 2 is the least recently used");
        assert_eq!((c.step(3, false), c.step(3, false)), (GraphStep::Eager, GraphStep::Capture));
        c.insert(3, false, 30);
        assert_eq!(c.len(), 2);
        assert_eq!((c.get(1, false), c.get(2, false), c.get(3, false)), (Some(&10), None, Some(&30)));
        // The evicted shape starts over (eager, then capture).
        assert_eq!(c.step(2, false), GraphStep::Eager);
        c.set_limits(8, 1);
        assert_eq!(c.len(), 1);
        c.fail("capture failed".into());
        assert!(!c.enabled() && c.is_empty());
        assert_eq!(c.failure(), Some("capture failed"));
        assert_eq!(c.step(1, false), GraphStep::Eager);
        c.set_enabled(true);
        assert_eq!(c.failure(), None);
        c.set_enabled(false);
        assert!(c.is_empty());
    }
}
