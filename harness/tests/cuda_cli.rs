//! End-to-end tests of `hercules roofline|kernels --device cuda` (the bag, the layers, whole models): without a CUDA device, exit status 1
//! and exactly one stderr line, "error: no CUDA device: <reason>" (no panic); with one (decided by
//! whether `hercules_gpu::Device::open(0)` succeeds), a quick run that writes its JSON and CSV.

use std::process::{Command, Output};

fn hercules(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hercules")).args(args).output().expect("running hercules")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Runs `cmd --device cuda --quick` with JSON and CSV outputs and checks the outcome against
/// whether this machine has a CUDA device.
fn check(cmd: &[&str], kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (j, c) = (dir.path().join("out.json"), dir.path().join("out.csv"));
    let mut args = cmd.to_vec();
    args.extend(["--device", "cuda", "--quick", "--json", j.to_str().unwrap(), "--csv", c.to_str().unwrap()]);
    let o = hercules(&args);
    match hercules_gpu::Device::open(0) {
        Err(e) => {
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: one stderr line, got {err:?}");
            assert!(err.starts_with("error: no CUDA device: "), "{err:?}");
            assert_eq!(err.trim_end(), format!("error: {e}"));
            assert!(!err.contains("panicked"), "{err}");
            assert!(!j.exists() && !c.exists(), "no output without a device");
        }
        Ok(dev) => {
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
            let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
            assert_eq!(d["kind"], kind);
            if kind == "kernels-cuda" {
                assert_eq!(d["complete"], true, "{d}");
            }
            assert_eq!(d["device"]["name"], dev.info().name.as_str());
            assert!(d["ceilings"]["copy"]["median"].as_f64().unwrap() > 0.0, "{d}");
            assert!(!d["host"]["gpus"].as_array().unwrap().is_empty(), "{d}");
            assert!(std::fs::read_to_string(&c).unwrap().lines().count() > 1);
        }
    }
}

#[test]
fn cuda_roofline_needs_a_device() {
    check(&["roofline"], "roofline-cuda");
}

#[test]
fn cuda_kernels_need_a_device() {
    check(
        &["kernels", "--op", "mlp", "--m", "16", "--k", "64", "--n", "64", "--repeats", "2"],
        "kernels-cuda",
    );
}

#[test]
fn cuda_model_sweep_needs_a_device() {
    check(
        &[
            "kernels",
            "--op",
            "model",
            "--model",
            "ncf",
            "--rows-scale",
            "0.001",
            "--batch",
            "4",
            "--repeats",
            "2",
        ],
        "kernels-cuda",
    );
}

#[test]
fn cpu_only_flags_are_refused_with_cuda() {
    let o = hercules(&["kernels", "--device", "cuda", "--threads", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim_end(),
        "error: --threads applies to --device cpu (with --device cuda: to --op model's CPU side)"
    );
}

/// A schedule with a GPU threshold: a zoo model's GPU lane needs a device (one-line error without
/// one; offloaded queries with one), and a built-in test model's lane is a labelled host stand-in.
#[test]
fn gpu_lane_serves_queries_at_or_above_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("run.json");
    let run = |model: &str| {
        hercules(&[
            "run",
            "--model",
            model,
            "--rows-scale",
            "0.01",
            "--schedule",
            "instances=1,threads=1,gpu-threshold=100,gpu-streams=2",
            "--sizes",
            "lognormal:4.6:0.8",
            "--qps",
            "100",
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--json",
            j.to_str().unwrap(),
        ])
    };
    let read =
        || -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap() };

    let o = run("sleep:50");
    assert!(o.status.success(), "{}", stderr(&o));
    let d = read();
    assert!(d["gpu_lane"].as_str().unwrap().starts_with("host stand-in"), "{d}");
    let (gpu, all) =
        (d["result"]["gpu_queries"].as_u64().unwrap(), d["result"]["measured_queries"].as_u64().unwrap());
    // Median 100 at threshold 100: about half the queries go to the lane.
    assert!(gpu > 0 && gpu < all + d["result"]["warmup_queries"].as_u64().unwrap(), "{gpu} of {all}");
    std::fs::remove_file(&j).unwrap();

    let o = run("dlrm-rmc1");
    match hercules_gpu::Device::open(0) {
        Err(e) => {
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{err}");
            let last = err.lines().last().unwrap();
            assert_eq!(last, format!("error: --schedule: gpu-threshold: {e}"), "{err}");
            assert!(!err.contains("panicked") && !j.exists(), "{err}");
        }
        Ok(_) => {
            assert!(o.status.success(), "{}", stderr(&o));
            let d = read();
            assert!(d["gpu_lane"].as_str().unwrap().contains("CUDA"), "{d}");
            assert!(d["result"]["gpu_queries"].as_u64().unwrap() > 0, "{d}");
        }
    }
}
