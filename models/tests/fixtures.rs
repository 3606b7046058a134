//! Exactness against the PyTorch reference: every zoo model at a tiny scale, on the weights and inputs in
//! `models/fixtures/<model>.safetensors` (written by `models/reference/make_fixtures.py`, expected
//! outputs computed in float64), must agree to a relative error ≤ 1e-5 (max |ours − expected| over
//! max |expected|). Runs without PyTorch.

use hercules_models::weights::{init_tensor, params, save, Init, TensorFile, WeightSource};
use hercules_models::{zoo, ForwardOpts, InputSet, Model, Scale, Workspace};
use std::path::PathBuf;

const TOLERANCE: f64 = 1e-5;

fn fixture(name: &str) -> TensorFile {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("{name}.safetensors"));
    TensorFile::open(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// Builds the model of a fixture and its input set; tensors too large to commit are regenerated with
/// the portable init and checked against the sums the fixture stores.
fn load(name: &str) -> (Model, InputSet, Vec<f64>, usize) {
    let f = fixture(name);
    let meta = |k: &str| f.i64(k).unwrap()[0];
    let (max_rows, batch, seed) =
        (meta("meta.max_rows") as u64, meta("meta.batch") as usize, meta("meta.seed") as u64);
    let spec = zoo::builtin(name).unwrap().unwrap();
    let scale = Scale { rows_scale: 1.0, max_rows: Some(max_rows) };
    let scaled = spec.scaled(scale).unwrap();
    let mut tensors = Vec::new();
    for p in params(&scaled) {
        let data = match f.f32(&p.name) {
            Ok(d) => d.into_owned(),
            Err(_) => {
                let d = init_tensor(Init::Portable, seed, &p);
                let sums =
                    f.f64(&format!("sum.{}", p.name)).unwrap_or_else(|e| panic!("{name}: {}: {e}", p.name));
                let s: f64 = d.iter().map(|&v| f64::from(v)).sum();
                let s2: f64 = d.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
                assert!(
                    (s - sums[0]).abs() <= 1e-9 * s2.sqrt().max(1.0),
                    "{name}: {}: sum {s} vs {}",
                    p.name,
                    sums[0]
                );
                assert!(
                    (s2 - sums[1]).abs() <= 1e-9 * s2,
                    "{name}: {}: sum of squares {s2} vs {}",
                    p.name,
                    sums[1]
                );
                d
            }
        };
        tensors.push((p.name, p.shape, data));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    save(&path, &tensors).unwrap();
    let model = Model::build(&spec, scale, &WeightSource::File(TensorFile::open(&path).unwrap())).unwrap();
    let dense = f.f32("input.dense").unwrap().into_owned();
    let tables = (0..scaled.num_tables())
        .map(|t| {
            let idx = f.i64(&format!("input.idx.{t}")).unwrap().into_iter().map(|v| v as u64).collect();
            let off = f.i64(&format!("input.off.{t}")).unwrap().into_iter().map(|v| v as usize).collect();
            (idx, off)
        })
        .collect();
    let input = InputSet::new(&scaled, batch, dense, tables).unwrap();
    let expected = f.f64("expected").unwrap();
    (model, input, expected, batch)
}

fn rel_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |a, &b| a.max(b.abs())).max(1e-30);
    got.iter().zip(want).map(|(&g, &w)| (f64::from(g) - w).abs()).fold(0.0, f64::max) / scale
}

fn check(name: &str) {
    let (model, input, expected, batch) = load(name);
    let mut ws = Workspace::new(&model, batch, 2);
    let mut out = vec![0.0f32; batch * model.output_width()];
    model.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut out).unwrap();
    let err = rel_error(&out, &expected);
    eprintln!("{name}: relative error {err:.2e} over {} outputs", out.len());
    assert!(err <= TOLERANCE, "{name}: relative error {err:.3e} exceeds {TOLERANCE:e}");
    // Two workers, with and without inter-op, give the same bits.
    let pool =
        hercules_kernels::PinnedPool::with_threads(2.min(hercules_kernels::pool::allowed_cores().len()))
            .unwrap();
    for inter_op in [false, true] {
        let mut out2 = vec![0.0f32; out.len()];
        model.forward(&mut ws, &input, Some(&pool), ForwardOpts { inter_op }, None, &mut out2).unwrap();
        assert_eq!(out, out2, "{name}: 2 threads (inter_op {inter_op}) differ from 1 thread");
    }
}

macro_rules! fixture_tests {
    ($($fn:ident => $name:literal),* $(,)?) => { $( #[test] fn $fn() { check($name); } )* };
}

fixture_tests! {
    rmc1 => "dlrm-rmc1",
    rmc2 => "dlrm-rmc2",
    rmc3 => "dlrm-rmc3",
    wnd => "wnd",
    mt_wnd => "mt-wnd",
    ncf => "ncf",
    din => "din",
    dien => "dien",
    mlperf_v1 => "mlperf-dlrm-v1",
    mlperf_v2 => "mlperf-dlrm-v2",
}
