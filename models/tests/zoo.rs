//! The zoo parses and validates; every model builds and runs at a small row scale with finite outputs of
//! the right shape; bad specs give one-line errors naming the field; weights and inputs behave.

use hercules_models::inputs::{IndexDist, InputGen, Trace};
use hercules_models::spec::ModelSpec;
use hercules_models::stats::stats;
use hercules_models::weights::{materialize, params, save, Init, TensorFile, WeightSource};
use hercules_models::{zoo, ForwardOpts, InputPool, Model, Profile, Scale, Workspace};
use std::sync::Arc;

fn portable() -> WeightSource {
    WeightSource::Init { init: Init::Portable, seed: 1 }
}

#[test]
fn every_zoo_spec_parses_with_the_documented_widths() {
    let all = zoo::all().unwrap();
    assert_eq!(all.len(), 10);
    let want = [
        ("dlrm-rmc1", 288, 8),
        ("dlrm-rmc2", 2112, 32),
        ("dlrm-rmc3", 352, 10),
        ("wnd", 1376, 27),
        ("mt-wnd", 1888, 43),
        ("ncf", 128, 4),
        ("din", 128, 253),
        ("dien", 160, 43),
        ("mlperf-dlrm-v1", 479, 26),
        ("mlperf-dlrm-v2", 3456, 26),
    ];
    for (spec, (name, top_in, tables)) in all.iter().zip(want) {
        assert_eq!(spec.name, name);
        assert_eq!(spec.interaction_out(), top_in, "{name}");
        assert_eq!(spec.num_tables(), tables, "{name}");
    }
    let mlperf = zoo::builtin("mlperf-dlrm-v1").unwrap().unwrap();
    let gib = stats(&mlperf).table_bytes as f64 / (1u64 << 30) as f64;
    assert!((85.0..95.0).contains(&gib), "{gib}");
}

#[test]
fn stats_of_rmc1() {
    let s = stats(&zoo::builtin("dlrm-rmc1").unwrap().unwrap());
    assert_eq!(s.table_bytes, 8 * 4_000_000 * 32 * 4);
    assert_eq!(s.gathered_bytes_per_sample, 8 * 80 * 32 * 4);
    assert_eq!(s.macs_per_sample, 128 * 64 + 64 * 32 + 288 * 256 + 256 * 64 + 64);
}

/// Rows scale used per model: 0.01 for the DeepRecSys models; 0.001 for MLPerf DLRM, whose tables at
/// 0.01 would still be ~1 GiB, too slow to initialise in CI.
fn test_scale(name: &str) -> f64 {
    if name.starts_with("mlperf") {
        0.001
    } else {
        0.01
    }
}

#[test]
fn every_model_runs_scaled_with_finite_outputs() {
    let pool =
        hercules_kernels::PinnedPool::with_threads(2.min(hercules_kernels::pool::allowed_cores().len()))
            .unwrap();
    for spec in zoo::all().unwrap() {
        let scale = Scale { rows_scale: test_scale(&spec.name), max_rows: None };
        let model =
            Model::build(&spec, scale, &WeightSource::Init { init: Init::DeepRecSys, seed: 3 }).unwrap();
        let batch = 7;
        let mut pool_in = InputPool::new(&model.spec, batch, 2, IndexDist::Uniform, 5).unwrap();
        let mut ws = Workspace::new(&model, 16, pool.threads());
        let ow = model.output_width();
        let mut out = vec![f32::NAN; batch * ow];
        let mut prof = Profile::default();
        let input = pool_in.next().clone();
        model.forward(&mut ws, &input, None, ForwardOpts::default(), Some(&mut prof), &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()), "{}: non-finite output", spec.name);
        assert_eq!(prof.forwards, 1);
        let mut out2 = vec![0.0; out.len()];
        model.forward(&mut ws, &input, Some(&pool), ForwardOpts { inter_op: true }, None, &mut out2).unwrap();
        assert_eq!(out, out2, "{}: threads/inter-op change the result", spec.name);
        // A smaller batch reuses the same workspace.
        let mut gen = InputGen::new(IndexDist::Zipf { exponent: 1.05 }, 9);
        let small = gen.generate(&model.spec, 3).unwrap();
        model.forward(&mut ws, &small, Some(&pool), ForwardOpts::default(), None, &mut out2).unwrap();
        assert!(out2[..3 * ow].iter().all(|v| v.is_finite()));
    }
}

fn rmc1_text() -> String {
    zoo::ZOO[0].1.to_string()
}

fn parse_err(text: &str) -> String {
    let e = ModelSpec::parse(text, "bad.json").unwrap_err().to_string();
    assert!(!e.contains('\n'), "multi-line error: {e}");
    e
}

#[test]
fn bad_specs_name_the_field() {
    let base = rmc1_text();
    let cases: Vec<(String, &str)> = vec![
        (base.replace("\"dim\": 32", "\"dim\": 32, \"colour\": 1"), "colour"),
        (base.replace("\"rows\": 4000000", "\"rows\": 0"), "tables[0].rows"),
        (base.replace("\"count\": 8", "\"count\": 0"), "tables[0].count"),
        (base.replace("\"rows\": 4000000", "\"rows\": 400000000000000"), "tables[0].rows"),
        (base.replace("\"lookups\": 80", "\"lookups\": 0"), "tables[0].lookups"),
        (
            base.replace("[288, 256, 64, 1]", "[300, 256, 64, 1]"),
            "top_mlp.widths[0]: input width 300 does not match the interaction output 288",
        ),
        (base.replace("[128, 64, 32]", "[100, 64, 32]"), "bottom_mlp.widths[0]"),
        (base.replace("[128, 64, 32]", "[128, 0, 32]"), "bottom_mlp.widths[1]"),
        (base.replace("\"sigmoid\"", "\"softplus\""), "softplus"),
        (base.replace("\"cat\"", "\"dot\""), "interaction"),
    ];
    for (text, want) in cases {
        let e = parse_err(&text);
        assert!(e.contains(want), "wanted {want:?} in: {e}");
    }
    let din = zoo::ZOO.iter().find(|(n, _)| *n == "din").unwrap().1;
    let e = parse_err(&din.replace("\"query\": \"ad\"", "\"query\": \"adz\""));
    assert!(e.contains("blocks[0].query") && e.contains("adz"), "{e}");
    let e = parse_err(&din.replace("[96, 1, 32]", "[64, 1, 32]"));
    assert!(e.contains("blocks[0].mlp.widths[0]"), "{e}");
    // TOML works too.
    let spec = zoo::builtin("wnd").unwrap().unwrap();
    let toml_text = toml::to_string(&spec).unwrap();
    assert_eq!(ModelSpec::parse(&toml_text, "wnd.toml").unwrap(), spec);
}

#[test]
fn scaling_keeps_rows_at_least_the_lookups_and_checks_memory() {
    let spec = zoo::builtin("dlrm-rmc2").unwrap().unwrap();
    let s = spec.scaled(Scale { rows_scale: 1e-9, max_rows: None }).unwrap();
    assert!(s.tables.iter().all(|g| g.rows == 120));
    let s = spec.scaled(Scale { rows_scale: 1.0, max_rows: Some(1000) }).unwrap();
    assert!(s.tables.iter().all(|g| g.rows == 1000));
    assert!(spec
        .scaled(Scale { rows_scale: 0.0, max_rows: None })
        .unwrap_err()
        .to_string()
        .contains("rows_scale"));
    let mut huge = spec.clone();
    huge.tables[0].rows = 1 << 34;
    let e = hercules_models::model::check_memory(&huge).unwrap_err().to_string();
    assert!(e.starts_with("dlrm-rmc2: needs") && e.contains("available"), "{e}");
}

#[test]
fn weights_round_trip_and_bad_tensors_are_named() {
    let spec = zoo::builtin("ncf").unwrap().unwrap();
    let scale = Scale { rows_scale: 0.001, max_rows: None };
    let scaled = spec.scaled(scale).unwrap();
    let src = WeightSource::Init { init: Init::DeepRecSys, seed: 11 };
    let mut tensors = materialize(&scaled, &src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ncf.safetensors");
    save(&path, &tensors).unwrap();
    let a = Model::build(&spec, scale, &src).unwrap();
    let b = Model::build(&spec, scale, &WeightSource::File(TensorFile::open(&path).unwrap())).unwrap();
    let input = InputGen::new(IndexDist::Uniform, 2).generate(&a.spec, 4).unwrap();
    let run = |m: &Model| {
        let mut ws = Workspace::new(m, 4, 1);
        let mut out = vec![0.0; 4 * m.output_width()];
        m.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut out).unwrap();
        out
    };
    assert_eq!(run(&a), run(&b));

    let i = tensors.iter().position(|t| t.0 == "top.0.weight").unwrap();
    tensors[i].2[5] = f32::NAN;
    save(&path, &tensors).unwrap();
    let e = Model::build(&spec, scale, &WeightSource::File(TensorFile::open(&path).unwrap()))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("tensor top.0.weight") && e.contains("non-finite"), "{e}");
    tensors[i].1 = vec![64, 127];
    tensors[i].2.truncate(64 * 127);
    save(&path, &tensors).unwrap();
    let e = Model::build(&spec, scale, &WeightSource::File(TensorFile::open(&path).unwrap()))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("tensor top.0.weight") && e.contains("shape"), "{e}");
    tensors.remove(i);
    save(&path, &tensors).unwrap();
    let e = Model::build(&spec, scale, &WeightSource::File(TensorFile::open(&path).unwrap()))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("tensor top.0.weight") && e.contains("missing"), "{e}");
    assert_eq!(params(&scaled).len(), 4 + 2 * 4 + 2);
    let _ = portable();
}

#[test]
fn inputs_are_unique_in_bags_and_traces_replay() {
    let spec = zoo::builtin("dlrm-rmc2")
        .unwrap()
        .unwrap()
        .scaled(Scale { rows_scale: 0.0005, max_rows: None })
        .unwrap();
    for dist in [IndexDist::Uniform, IndexDist::Zipf { exponent: 1.2 }] {
        let set = InputGen::new(dist, 4).generate(&spec, 9).unwrap();
        for t in &set.tables {
            for w in t.offsets.windows(2) {
                let mut bag: Vec<u64> = (w[0]..w[1]).map(|i| t.indices.get(i)).collect();
                let n = bag.len();
                bag.sort_unstable();
                bag.dedup();
                assert_eq!(bag.len(), n);
                assert_eq!(n, 120);
            }
        }
    }
    let small =
        zoo::builtin("ncf").unwrap().unwrap().scaled(Scale { rows_scale: 0.001, max_rows: None }).unwrap();
    let trace = Trace::parse("# t idx...\n0 1 2\n1 3\n2 4 5 6\n3 7\n0 100000\n", "t.txt").unwrap();
    // 100000 is past the scaled table: an error naming the line, unless wrapping is asked for.
    let e = InputGen::new(IndexDist::Trace(Arc::new(trace.clone())), 0)
        .generate(&small, 2)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("trace t.txt:6: index 100000 is past table 0 of ncf"), "{e}");
    let set =
        InputGen::new(IndexDist::Trace(Arc::new(trace.with_wrap(true))), 0).generate(&small, 2).unwrap();
    assert_eq!(set.tables[0].offsets, vec![0, 2, 3]);
    assert_eq!(set.tables[0].indices.get(2), 100000 % small.tables[0].rows);
    let e = Trace::parse("0 1 x\n", "t.txt").unwrap_err().to_string();
    assert_eq!(e, "trace t.txt:1: \"x\" is not an index");
    let e = InputGen::new(IndexDist::Trace(Arc::new(Trace::parse("0 1\n", "t.txt").unwrap())), 0)
        .generate(&small, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no bags for table 1"), "{e}");
}

#[test]
fn runner_measures_and_profiles() {
    use hercules_models::runner::{measure, InferConfig};
    let spec = zoo::builtin("dien").unwrap().unwrap();
    let model = Model::build(&spec, Scale { rows_scale: 0.001, max_rows: None }, &portable()).unwrap();
    let cfg = InferConfig {
        batch: 8,
        threads: 2.min(hercules_kernels::pool::allowed_cores().len()),
        inter_op: false,
        warmup: 1,
        min_iters: 5,
        min_time: std::time::Duration::ZERO,
        pool_sets: 2,
        dist: IndexDist::Uniform,
        seed: 1,
        profile_iters: 3,
    };
    let r = measure(&model, &cfg).unwrap();
    assert_eq!(r.forwards, 5);
    assert_eq!(r.profile.forwards, 3);
    assert!(r.samples_per_s > 0.0 && r.latency.p50_ms <= r.latency.p99_ms);
    let total: f64 = r.profile.shares().iter().map(|s| s.1).sum();
    assert!((total - 1.0).abs() < 1e-9);
    // DIEN's time goes mostly to the RNN.
    let rnn = r.profile.shares()[2].1;
    assert!(rnn > 0.3, "rnn share {rnn}");
}

/// The eight DeepRecSys models at full size, one at a time (~2.6–6 GiB each): run with `--ignored` on a
/// machine with the memory; MLPerf DLRM with its default row cap.
#[test]
#[ignore]
fn full_size_models_build_and_run() {
    for spec in zoo::all().unwrap() {
        let t = std::time::Instant::now();
        let scale = Scale { rows_scale: 1.0, max_rows: spec.default_max_rows };
        let model =
            Model::build(&spec, scale, &WeightSource::Init { init: Init::DeepRecSys, seed: 1 }).unwrap();
        let input = InputGen::new(IndexDist::Uniform, 1).generate(&model.spec, 16).unwrap();
        let mut ws = Workspace::new(&model, 16, 1);
        let mut out = vec![0.0; 16 * model.output_width()];
        model.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        eprintln!(
            "{}: {:.2} GiB of tables, built and ran in {:.1} s",
            spec.name,
            model.table_bytes() as f64 / (1u64 << 30) as f64,
            t.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn threads_and_inter_op_do_not_change_results() {
    let pool =
        hercules_kernels::PinnedPool::with_threads(2.min(hercules_kernels::pool::allowed_cores().len()))
            .unwrap();
    // Batch 64 is above the thresholds at which embeddings, blocks and the dot interaction go parallel.
    for name in ["dlrm-rmc2", "din", "dien", "ncf", "mlperf-dlrm-v1", "mlperf-dlrm-v2", "mt-wnd"] {
        let spec = zoo::builtin(name).unwrap().unwrap();
        let model = Model::build(&spec, Scale { rows_scale: 0.0005, max_rows: None }, &portable()).unwrap();
        let input = InputGen::new(IndexDist::Uniform, 8).generate(&model.spec, 64).unwrap();
        let mut ws = Workspace::new(&model, 64, pool.threads());
        let mut outs = Vec::new();
        for (p, inter_op) in [(None, false), (Some(&pool), false), (Some(&pool), true)] {
            let mut out = vec![0.0f32; 64 * model.output_width()];
            model.forward(&mut ws, &input, p, ForwardOpts { inter_op }, None, &mut out).unwrap();
            outs.push(out);
        }
        assert_eq!(outs[0], outs[1], "{name}: 2 threads differ from 1");
        assert_eq!(outs[0], outs[2], "{name}: inter-op differs");
    }
}
