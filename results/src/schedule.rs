//! A task schedule: how a model is laid out on the server's cores (SPEC §5), as the efficiency
//! table records it and as users write it: `instances=2,threads=1,inter-op=off,sub-batch=64,cores=0-1`.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Why a schedule string or a schedule's placement was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// A `key=value` pair whose key is not a schedule knob.
    #[error("schedule key `{}` is unknown (known: instances, threads, inter-op, sub-batch, gpu-threshold, gpu-streams, cores)", .0.escape_debug())]
    UnknownKey(String),
    /// A knob whose value does not parse or is out of range.
    #[error("schedule key `{key}`: {why}")]
    BadValue {
        /// The knob.
        key: String,
        /// What is wrong with its value.
        why: String,
    },
    /// A part of the string that is not `key=value`.
    #[error("schedule part `{}` is not key=value", .0.escape_debug())]
    NotKeyValue(String),
    /// The same knob twice.
    #[error("schedule key `{}` given twice", .0.escape_debug())]
    Duplicate(String),
    /// The schedule wants more cores than this process may use, or cores it may not use.
    #[error("schedule does not fit the cores: {0}")]
    DoesNotFit(String),
}

/// One point in the schedule space (SPEC §5): how a model is laid out on a server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Co-located model instances.
    pub instances: usize,
    /// Intra-op threads per instance.
    pub threads_per_instance: usize,
    /// Whether embedding and MLP branches run at once.
    pub inter_op: bool,
    /// Sub-batch size a query is split into, if split.
    pub sub_batch: Option<usize>,
    /// Queries of at least this size go to the GPU, if offloading.
    pub gpu_threshold: Option<usize>,
    /// CUDA streams used for offloaded queries.
    pub gpu_streams: Option<usize>,
    /// Cores the instances were pinned to.
    pub cores: Vec<usize>,
}

impl Schedule {
    /// A short human label, e.g. `4x2 inter sb64 gpu>=256/2`.
    pub fn label(&self) -> String {
        let mut s = format!("{}x{}", self.instances, self.threads_per_instance);
        if self.inter_op {
            s.push_str(" inter");
        }
        if let Some(b) = self.sub_batch {
            s.push_str(&format!(" sb{b}"));
        }
        if let Some(g) = self.gpu_threshold {
            s.push_str(&format!(" gpu>={g}"));
            if let Some(st) = self.gpu_streams {
                s.push_str(&format!("/{st}"));
            }
        }
        s
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            instances: 1,
            threads_per_instance: 1,
            inter_op: false,
            sub_batch: None,
            gpu_threshold: None,
            gpu_streams: None,
            cores: Vec::new(),
        }
    }
}

fn bad(key: &str, why: impl Into<String>) -> ScheduleError {
    ScheduleError::BadValue { key: key.into(), why: why.into() }
}

fn positive(key: &str, v: &str) -> Result<usize, ScheduleError> {
    match v.parse::<usize>() {
        Ok(0) => Err(bad(key, "must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(bad(key, format!("`{}` is not a positive integer", v.escape_debug()))),
    }
}

/// Highest core number a schedule may name, and so also the most instances, threads per instance and
/// cores in one list: far above any host, low enough that a range is cheap to expand.
pub const MAX_CORE: usize = 4096;

/// Parses a core list: ranges and single cores joined by `+`, e.g. `0-3+8+10-11`. Every core number
/// must be at most [`MAX_CORE`], checked before a range is expanded, and the list may hold at most
/// `MAX_CORE + 1` cores (a longer one repeats a core).
pub fn parse_core_list(v: &str) -> Result<Vec<usize>, ScheduleError> {
    let mut out = Vec::new();
    for part in v.split('+') {
        let num = |s: &str| match s.trim().parse::<usize>() {
            Ok(n) if n <= MAX_CORE => Ok(n),
            Ok(n) => Err(bad("cores", format!("core {n} is past the highest core number {MAX_CORE}"))),
            Err(_) => Err(bad("cores", format!("`{}` is not a core number", s.escape_debug()))),
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if b < a {
            return Err(bad("cores", format!("range `{}` runs backwards", part.escape_debug())));
        }
        // Both ends are at most MAX_CORE, so this neither overflows nor grows the list far past it.
        if out.len() + (b - a) + 1 > MAX_CORE + 1 {
            return Err(bad("cores", format!("lists more than {} cores", MAX_CORE + 1)));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

/// A positive count of cores (instances or threads per instance), at most [`MAX_CORE`].
fn core_count(key: &str, v: &str) -> Result<usize, ScheduleError> {
    let n = positive(key, v)?;
    if n > MAX_CORE {
        return Err(bad(key, format!("{n} exceeds {MAX_CORE}, the most cores a schedule may use")));
    }
    Ok(n)
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut sched = Schedule::default();
        let mut seen: Vec<String> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| ScheduleError::NotKeyValue(part.into()))?;
            let (k, v) = (k.trim().to_ascii_lowercase().replace('_', "-"), v.trim());
            // Accept the JSON field names too, so a schedule copied from a results file parses.
            let k = match k.as_str() {
                "threads-per-instance" => "threads".to_string(),
                _ => k,
            };
            if seen.contains(&k) {
                return Err(ScheduleError::Duplicate(k));
            }
            seen.push(k.clone());
            match k.as_str() {
                "instances" => sched.instances = core_count(&k, v)?,
                "threads" => sched.threads_per_instance = core_count(&k, v)?,
                "inter-op" => {
                    sched.inter_op = match v.to_ascii_lowercase().as_str() {
                        "on" | "true" | "yes" | "1" => true,
                        "off" | "false" | "no" | "0" => false,
                        _ => return Err(bad(&k, format!("`{}` is not on/off", v.escape_debug()))),
                    }
                }
                "sub-batch" => {
                    sched.sub_batch = if v == "none" || v == "off" { None } else { Some(positive(&k, v)?) }
                }
                "gpu-threshold" => {
                    sched.gpu_threshold =
                        if v == "none" || v == "off" { None } else { Some(positive(&k, v)?) }
                }
                "gpu-streams" => sched.gpu_streams = Some(positive(&k, v)?),
                "cores" => sched.cores = parse_core_list(v)?,
                _ => return Err(ScheduleError::UnknownKey(k)),
            }
        }
        Ok(sched)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instances={},threads={},inter-op={}",
            self.instances,
            self.threads_per_instance,
            if self.inter_op { "on" } else { "off" }
        )?;
        if let Some(s) = self.sub_batch {
            write!(f, ",sub-batch={s}")?;
        }
        if let Some(g) = self.gpu_threshold {
            write!(f, ",gpu-threshold={g}")?;
        }
        if let Some(g) = self.gpu_streams {
            write!(f, ",gpu-streams={g}")?;
        }
        if !self.cores.is_empty() {
            let list: Vec<String> = self.cores.iter().map(ToString::to_string).collect();
            write!(f, ",cores={}", list.join("+"))?;
        }
        Ok(())
    }
}

impl Schedule {
    /// Cores the schedule needs: instances × threads per instance (saturating: a schedule read from a
    /// file is not bounded by the parser).
    pub fn cores_needed(&self) -> usize {
        self.instances.saturating_mul(self.threads_per_instance)
    }

    /// Checks the schedule against the cores this process may use (`allowed`) and fills `cores`
    /// from `preferred` (allowed cores in placement order) when the schedule names none.
    pub fn place(&mut self, allowed: &[usize], preferred: &[usize]) -> Result<(), ScheduleError> {
        let need = self.cores_needed();
        if need > allowed.len() {
            return Err(ScheduleError::DoesNotFit(format!(
                "{} instances × {} threads = {need} cores, but this process may use only {} ({allowed:?})",
                self.instances,
                self.threads_per_instance,
                allowed.len()
            )));
        }
        if self.cores.is_empty() {
            self.cores = preferred.iter().copied().filter(|c| allowed.contains(c)).take(need).collect();
            if self.cores.len() < need {
                return Err(ScheduleError::DoesNotFit(format!("only {} placeable cores", self.cores.len())));
            }
            return Ok(());
        }
        if self.cores.len() != need {
            return Err(ScheduleError::DoesNotFit(format!(
                "cores lists {} cores but instances × threads = {need}",
                self.cores.len()
            )));
        }
        for (i, c) in self.cores.iter().enumerate() {
            if !allowed.contains(c) {
                return Err(ScheduleError::DoesNotFit(format!(
                    "core {c} is not usable by this process (allowed: {allowed:?})"
                )));
            }
            if self.cores[..i].contains(c) {
                return Err(ScheduleError::DoesNotFit(format!("core {c} given twice")));
            }
        }
        Ok(())
    }

    /// The cores of instance `i` (after [`Schedule::place`]).
    pub fn instance_cores(&self, i: usize) -> &[usize] {
        let t = self.threads_per_instance;
        &self.cores[i * t..(i + 1) * t]
    }

    /// How a query of `n` items is split into sub-batches: their sizes, in order.
    pub fn split(&self, n: usize) -> impl Iterator<Item = usize> {
        let s = self.sub_batch.unwrap_or(n.max(1)).max(1);
        let parts = n.div_ceil(s).max(1);
        (0..parts).map(move |i| if i + 1 == parts { n - s * (parts - 1) } else { s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_knob() {
        let s: Schedule =
            "instances=2, threads=4,inter-op=on,sub-batch=64,gpu-threshold=256,gpu-streams=2,cores=0-3+8-11"
                .parse()
                .unwrap();
        assert_eq!(s.instances, 2);
        assert_eq!(s.threads_per_instance, 4);
        assert!(s.inter_op);
        assert_eq!(s.sub_batch, Some(64));
        assert_eq!(s.gpu_threshold, Some(256));
        assert_eq!(s.gpu_streams, Some(2));
        assert_eq!(s.cores, vec![0, 1, 2, 3, 8, 9, 10, 11]);
        let again: Schedule = s.to_string().parse().unwrap();
        assert_eq!(again, s);
        let d: Schedule = "".parse().unwrap();
        assert_eq!(d, Schedule::default());
    }

    #[test]
    fn errors_name_the_key() {
        let e = |s: &str| s.parse::<Schedule>().unwrap_err().to_string();
        assert!(e("instances=0").contains("`instances`"), "{}", e("instances=0"));
        assert!(e("threads=two").contains("`threads`"));
        assert!(e("inter-op=maybe").contains("`inter-op`"));
        assert!(e("sub-batch=-1").contains("`sub-batch`"));
        assert!(e("cores=3-1").contains("`cores`"));
        assert!(e("colour=red").contains("`colour`"));
        assert!(e("threads").contains("not key=value"));
        assert!(e("threads=1,threads=2").contains("twice"));
    }

    #[test]
    fn core_ranges_are_bounded_before_they_expand() {
        let e = |s: &str| s.parse::<Schedule>().unwrap_err().to_string();
        // Would overflow `a..=b`'s length, or expand to billions of cores, before the host check.
        assert_eq!(
            e("instances=1,threads=1,cores=0-18446744073709551615"),
            "schedule key `cores`: core 18446744073709551615 is past the highest core number 4096"
        );
        assert_eq!(
            e("instances=1,threads=1,cores=0-4000000000"),
            "schedule key `cores`: core 4000000000 is past the highest core number 4096"
        );
        assert_eq!(parse_core_list("0-4096").unwrap().len(), MAX_CORE + 1);
        assert_eq!(
            parse_core_list("0-4096+0").unwrap_err().to_string(),
            "schedule key `cores`: lists more than 4097 cores"
        );
        assert_eq!(parse_core_list("4096").unwrap(), vec![4096]);
        assert_eq!(
            e("instances=4097"),
            "schedule key `instances`: 4097 exceeds 4096, the most cores a schedule may use"
        );
        assert!(e("threads=18446744073709551615").contains("exceeds 4096"));
        // A schedule read from JSON is not bounded by the parser: the product saturates.
        let s = Schedule { instances: usize::MAX, threads_per_instance: 2, ..Schedule::default() };
        assert_eq!(s.cores_needed(), usize::MAX);
        assert!(s.clone().place(&[0], &[0]).is_err());
    }

    #[test]
    fn user_text_in_errors_stays_on_one_line() {
        for s in ["a\nb", "colour\n=red", "threads=1,threads\r=2", "cores=1+\nx", "inter-op=\n"] {
            let e = s.parse::<Schedule>().unwrap_err().to_string();
            assert!(!e.contains('\n') && !e.contains('\r'), "{e:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any text: the schedule parser never panics and its errors are one line.
        #[test]
        fn schedule_parser_survives_any_text(s in "\\PC{0,60}|([a-z=0-9,+\n-]|18446744073709551615){0,20}") {
            if let Err(e) = s.parse::<Schedule>() {
                let m = e.to_string();
                proptest::prop_assert!(!m.contains('\n') && !m.contains('\r'), "{:?}", m);
            }
            if let Err(e) = parse_core_list(&s) {
                proptest::prop_assert!(!e.to_string().contains('\n'));
            }
        }

        /// Random ranges: a parsed list is never longer than MAX_CORE + 1 and never names a core past it.
        #[test]
        fn core_lists_stay_bounded(parts in proptest::collection::vec((0usize..10_000, 0usize..10_000), 1..6)) {
            let s: Vec<String> = parts.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            if let Ok(list) = parse_core_list(&s.join("+")) {
                proptest::prop_assert!(list.len() <= MAX_CORE + 1);
                proptest::prop_assert!(list.iter().all(|&c| c <= MAX_CORE));
            }
        }
    }

    #[test]
    fn placement_checks_the_cores() {
        let allowed = [0, 1];
        let mut s: Schedule = "instances=2,threads=1".parse().unwrap();
        s.place(&allowed, &allowed).unwrap();
        assert_eq!(s.cores, vec![0, 1]);
        assert_eq!(s.instance_cores(1), &[1]);
        let mut s: Schedule = "instances=2,threads=2".parse().unwrap();
        let e = s.place(&allowed, &allowed).unwrap_err().to_string();
        assert!(e.contains("4 cores") && e.contains("only 2"), "{e}");
        let mut s: Schedule = "threads=1,cores=7".parse().unwrap();
        assert!(s.place(&allowed, &allowed).unwrap_err().to_string().contains("core 7"));
        let mut s: Schedule = "threads=2,cores=1+1".parse().unwrap();
        assert!(s.place(&allowed, &allowed).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn splits_into_sub_batches() {
        let s: Schedule = "sub-batch=64".parse().unwrap();
        assert_eq!(s.split(150).collect::<Vec<_>>(), vec![64, 64, 22]);
        assert_eq!(s.split(64).collect::<Vec<_>>(), vec![64]);
        assert_eq!(s.split(1).collect::<Vec<_>>(), vec![1]);
        let whole = Schedule::default();
        assert_eq!(whole.split(300).collect::<Vec<_>>(), vec![300]);
    }
}
