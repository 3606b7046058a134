//! perf_event_open through the `perf-event2` crate. Counters observe this whole process
//! (`inherit`): open them before the engine and generator threads start so those threads are
//! counted too.

use super::{CounterMap, CounterValue};
use perf_event::events::{Cache, CacheId, CacheOp, CacheResult, Event, Hardware, Software};
use perf_event::{Builder, Counter, Group};
use std::io;

/// Sets a builder's event (events are different types, so they are kept as closures).
type SetEvent = Box<dyn Fn(&mut Builder<'_>)>;

/// Hardware events, by the name they are reported under.
fn hardware_events() -> Vec<(&'static str, SetEvent)> {
    fn ev<E: Event + Clone + 'static>(e: E) -> SetEvent {
        Box::new(move |b: &mut Builder<'_>| {
            b.event(e.clone());
        })
    }
    let llc = |result| Cache { which: CacheId::LL, operation: CacheOp::READ, result };
    vec![
        ("cycles", ev(Hardware::CPU_CYCLES)),
        ("instructions", ev(Hardware::INSTRUCTIONS)),
        ("llc_loads", ev(llc(CacheResult::ACCESS))),
        ("llc_load_misses", ev(llc(CacheResult::MISS))),
        ("branch_misses", ev(Hardware::BRANCH_MISSES)),
    ]
}

/// Software events (kernel-counted, present without a PMU), and whether they only ever happen in
/// kernel mode.
const SOFTWARE: &[(&str, Software, bool)] = &[
    ("task_clock_ns", Software::TASK_CLOCK, false),
    ("context_switches", Software::CONTEXT_SWITCHES, true),
    ("cpu_migrations", Software::CPU_MIGRATIONS, true),
    ("page_faults", Software::PAGE_FAULTS, false),
];

/// Turns an open error into a reason people can act on.
fn reason(e: &io::Error, what: &str) -> String {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let hint = match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV) => {
            "no hardware PMU exposed to this OS (typical in a VM)".to_string()
        }
        Some(libc::EACCES) | Some(libc::EPERM) => format!("not permitted (perf_event_paranoid = {paranoid})"),
        _ => "perf_event_open failed".to_string(),
    };
    format!("{what}: {hint}: {e}")
}

/// A reading of (count, time enabled, time running).
type Raw = (u64, u64, u64);

enum Hw {
    Group { group: Group, members: Vec<(&'static str, Counter)>, start: Vec<Raw> },
    Unavailable(String),
}

/// The process's counters.
pub struct PerfCounters {
    hw: Hw,
    sw: Vec<(&'static str, Result<Counter, String>, Raw)>,
}

impl std::fmt::Debug for PerfCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerfCounters")
    }
}

fn builder<'a>() -> Builder<'a> {
    let mut b = Builder::new(Software::DUMMY);
    b.observe_self().any_cpu().inherit(true).exclude_kernel(true).exclude_hv(true);
    b
}

impl PerfCounters {
    /// Opens every counter it can and starts them.
    pub fn open() -> Self {
        let hw = match Self::open_hw() {
            Ok(hw) => hw,
            Err(r) => Hw::Unavailable(r),
        };
        let mut sw = Vec::new();
        for &(name, ev, kernel_only) in SOFTWARE {
            let open = |exclude_kernel: bool| {
                let mut b = builder();
                b.event(ev).exclude_kernel(exclude_kernel);
                b.build().and_then(|mut c| c.enable().map(|()| c))
            };
            // Kernel-side counting needs perf_event_paranoid <= 1 or CAP_PERFMON. Without it,
            // user-only counts are still meaningful for time and faults, but context switches and
            // migrations happen only in the kernel: a user-only count would be a false zero.
            let c = match open(false) {
                Ok(c) => Ok(c),
                Err(e) if kernel_only => Err(reason(&e, name)),
                Err(_) => open(true).map_err(|e| reason(&e, name)),
            };
            sw.push((name, c, (0, 0, 0)));
        }
        let mut me = Self { hw, sw };
        me.start();
        me
    }

    fn open_hw() -> Result<Hw, String> {
        let mut gb = Group::builder();
        gb.observe_self().any_cpu().inherit(true).exclude_kernel(true).exclude_hv(true);
        let mut group = gb.build_group().map_err(|e| reason(&e, "hardware group"))?;
        let mut members = Vec::new();
        for (name, set) in hardware_events() {
            let mut b = builder();
            set(&mut b);
            let c = group.add(&b).map_err(|e| reason(&e, name))?;
            members.push((name, c));
        }
        group.enable().map_err(|e| reason(&e, "hardware group"))?;
        Ok(Hw::Group { group, members, start: Vec::new() })
    }

    fn read_hw(group: &mut Group, members: &[(&'static str, Counter)]) -> io::Result<Vec<Raw>> {
        let data = group.read()?;
        let en = data.time_enabled().map_or(0, |d| d.as_nanos() as u64);
        let run = data.time_running().map_or(0, |d| d.as_nanos() as u64);
        Ok(members.iter().map(|(_, c)| (data.get(c).map_or(0, |e| e.value()), en, run)).collect())
    }

    /// Marks the start of a window.
    pub fn start(&mut self) {
        if let Hw::Group { group, members, start } = &mut self.hw {
            *start = Self::read_hw(group, members).unwrap_or_default();
        }
        for (_, c, start) in &mut self.sw {
            if let Ok(c) = c {
                if let Ok(ct) = c.read_count_and_time() {
                    *start = (ct.count, ct.time_enabled, ct.time_running);
                }
            }
        }
    }

    /// Readings since the last [`PerfCounters::start`].
    pub fn read(&mut self) -> CounterMap {
        let scaled = |a: Raw, b: Raw| -> CounterValue {
            let (dv, de, dr) = (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1), b.2.saturating_sub(a.2));
            if dr == 0 {
                if de == 0 {
                    return CounterValue::value(dv as f64);
                }
                return CounterValue::null("never scheduled on the PMU during the window (multiplexed out)");
            }
            // Multiplexing: the kernel counted for `dr` of the `de` ns; extrapolate.
            CounterValue::value(dv as f64 * de as f64 / dr as f64)
        };
        let mut out = CounterMap::new();
        match &mut self.hw {
            Hw::Group { group, members, start } => match Self::read_hw(group, members) {
                Ok(now) => {
                    for (i, (name, _)) in members.iter().enumerate() {
                        let s = start.get(i).copied().unwrap_or((0, 0, 0));
                        out.insert((*name).to_string(), scaled(s, now[i]));
                    }
                }
                Err(e) => {
                    for (name, _) in members.iter() {
                        out.insert((*name).to_string(), CounterValue::null(reason(&e, "reading the group")));
                    }
                }
            },
            Hw::Unavailable(r) => {
                for (name, _) in hardware_events() {
                    out.insert(name.to_string(), CounterValue::null(r.clone()));
                }
            }
        }
        for (name, c, start) in &mut self.sw {
            let v = match c {
                Ok(c) => match c.read_count_and_time() {
                    Ok(ct) => scaled(*start, (ct.count, ct.time_enabled, ct.time_running)),
                    Err(e) => CounterValue::null(reason(&e, name)),
                },
                Err(r) => CounterValue::null(r.clone()),
            };
            out.insert((*name).to_string(), v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_counters_read_real_values() {
        let mut c = PerfCounters::open();
        c.start();
        // Work on this thread and on a child thread (counted through inherit), plus a few
        // voluntary context switches.
        // Spin for 30 ms of this thread's CPU time (not wall time: the machine is shared).
        let spin = || {
            let cpu_ns = || {
                let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                // SAFETY: clock_gettime writes one timespec.
                unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
                ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
            };
            let t = cpu_ns();
            let mut x = 0u64;
            while cpu_ns() - t < 30_000_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            x
        };
        let h = std::thread::spawn(spin);
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        spin();
        h.join().unwrap();
        let m = c.read();
        let task =
            m["task_clock_ns"].value.unwrap_or_else(|| panic!("task clock null: {:?}", m["task_clock_ns"]));
        assert!(task >= 55e6, "task clock {task} ns for 60 ms of CPU time on two threads");
        match m["context_switches"].value {
            Some(cs) => assert!(cs >= 5.0, "{cs} context switches"),
            // Unprivileged with perf_event_paranoid >= 2: null, and the reason says so.
            None => assert!(m["context_switches"].reason.as_deref().unwrap_or("").contains("paranoid")),
        }
        for name in ["cycles", "instructions", "llc_loads", "llc_load_misses", "branch_misses"] {
            let v = &m[name];
            // Either a real count or null with a reason: never a silent zero without a PMU.
            assert!(v.value.is_some() != v.reason.is_some(), "{name}: {v:?}");
        }
    }

    /// This VM exposes no PMU (SPEC §8): hardware counters must be null with a reason. Elsewhere
    /// they must be real numbers.
    #[test]
    fn hardware_counters_are_honest() {
        let mut c = PerfCounters::open();
        let m = c.read();
        let pmu = std::path::Path::new("/sys/bus/event_source/devices/cpu/events").exists()
            || std::path::Path::new("/sys/bus/event_source/devices/cpu_core").exists();
        let cycles = &m["cycles"];
        if pmu {
            assert!(
                cycles.value.is_some() || cycles.reason.as_deref().is_some_and(|r| r.contains("paranoid"))
            );
        } else {
            assert!(cycles.value.is_none(), "{cycles:?}");
            assert!(cycles.reason.as_deref().unwrap_or("").contains("PMU"), "{cycles:?}");
        }
    }
}
