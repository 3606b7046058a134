//! Tests only: a host interpreter of [`Program`]s, each op computed as its kernel does (`cu/*.cu`), on
//! host buffers of exactly the runner's sizes filled with NaN, so a read of a float nothing wrote shows
//! in the output. Comparing its output with the CPU model checks the lowering (offsets, strides, order,
//! which tensor each layer uses) for every zoo model without a device; the device tests then check the
//! kernels themselves.

use super::geometry::{Geometry, InteractionGeo};
use super::program::{At, Buf, Op, Program};
use crate::plan::input_bags;
use hercules_kernels::embedding::{embedding_bag_reference, EmbeddingTable};
use hercules_kernels::mlp::Activation;
use hercules_models::inputs::InputSet;
use hercules_models::{ModelPlan, WeightSource};
use std::collections::HashMap;

/// Runs `prog` on `input`, the weights read by name from `source`; returns batch × out_width outputs.
pub(crate) fn run(
    g: &Geometry,
    plan: &ModelPlan,
    source: &WeightSource,
    input: &InputSet,
    prog: &Program,
) -> Vec<f32> {
    let mut h = Host { g, plan, source, bufs: HashMap::new(), cap: prog.cap, batch: prog.batch };
    h.bufs.insert(Buf::Dense, input.dense.clone());
    for op in &prog.ops {
        h.op(op, input);
    }
    let out = h.buf(Buf::Out);
    out[..prog.batch * g.out_width].to_vec()
}

struct Host<'a> {
    g: &'a Geometry,
    plan: &'a ModelPlan,
    source: &'a WeightSource,
    bufs: HashMap<Buf, Vec<f32>>,
    cap: usize,
    batch: usize,
}

fn activate(v: f32, act: Activation) -> f32 {
    match act {
        Activation::None => v,
        Activation::Relu => v.max(0.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
    }
}

impl Host<'_> {
    fn buf(&mut self, b: Buf) -> &mut Vec<f32> {
        let n = self.g.floats(b, self.cap, self.batch);
        self.bufs.entry(b).or_insert_with(|| vec![f32::NAN; n])
    }

    fn get(&mut self, a: At, r: usize, c: usize) -> f32 {
        self.buf(a.buf)[a.off + r * a.ld + c]
    }

    fn set(&mut self, a: At, r: usize, c: usize, v: f32) {
        self.buf(a.buf)[a.off + r * a.ld + c] = v;
    }

    fn tensor(&self, name: &str) -> Vec<f32> {
        self.plan.tensor(self.source, name).unwrap_or_else(|e| panic!("{name}: {e}")).into_owned()
    }

    /// y[m × n] = x[m × k] · Wᵀ (+ b), accumulated in f64 (cuBLAS' order is its own).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &mut self,
        w: &[f32],
        b: Option<&[f32]>,
        x: At,
        y: At,
        m: usize,
        k: usize,
        n: usize,
        act: Activation,
    ) {
        for r in 0..m {
            let xr: Vec<f32> = (0..k).map(|c| self.get(x, r, c)).collect();
            for c in 0..n {
                let dot: f64 =
                    xr.iter().zip(&w[c * k..(c + 1) * k]).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                let v = dot as f32 + b.map_or(0.0, |b| b[c]);
                self.set(y, r, c, activate(v, act));
            }
        }
    }

    fn op(&mut self, op: &Op, input: &InputSet) {
        let g = self.g;
        match *op {
            Op::Copy { src, dst, rows, cols } => {
                for r in 0..rows {
                    for c in 0..cols {
                        let v = self.get(src, r, c);
                        self.set(dst, r, c, v);
                    }
                }
            }
            Op::Linear { layer, x, y, m } => {
                let l = &g.linears[layer];
                let (w, b) = (self.tensor(&l.weight), l.bias.as_deref().map(|b| self.tensor(b)));
                self.gemm(&w, b.as_deref(), x, y, m, l.k, l.n, l.act);
            }
            Op::Tables { out, col, rows } => {
                for (t, (tp, bags)) in self.plan.tables.iter().zip(input_bags(input)).enumerate() {
                    let data = self.tensor(&tp.param);
                    let table =
                        EmbeddingTable::from_f32(tp.rows as usize, tp.dim, tp.dtype.into(), &data).unwrap();
                    let pooled =
                        embedding_bag_reference(&table, bags.indices, bags.bags, None, tp.pooling.into())
                            .unwrap();
                    let at = out.plus(col + g.layout.table_cols[t]);
                    for r in 0..rows {
                        for c in 0..tp.dim {
                            self.set(at, r, c, pooled[r * tp.dim + c]);
                        }
                    }
                }
            }
            Op::DinInput { pooled, beh_col, q_col, dim, units, rows, dst } => {
                let dst = dst.at(3 * dim);
                for u in 0..units {
                    for r in 0..rows {
                        for j in 0..dim {
                            let b = self.get(pooled, r, beh_col + u * dim + j);
                            let q = self.get(pooled, r, q_col + j);
                            let row = u * rows + r;
                            self.set(dst, row, j, b);
                            self.set(dst, row, dim + j, q);
                            self.set(dst, row, 2 * dim + j, b + q);
                        }
                    }
                }
            }
            Op::UnitGemm { layer, x, y, units, rows } => {
                let l = &g.units[layer];
                for u in 0..units {
                    let w = self.tensor(&l.weights[u]);
                    let (xu, yu) = (x.plus(u * rows * l.k).at(l.k), y.plus(u * rows * l.n).at(l.n));
                    self.gemm(&w, None, xu, yu, rows, l.k, l.n, Activation::None);
                }
            }
            Op::UnitBiasAct { layer, y, units, rows } => {
                let l = &g.units[layer];
                let y = y.at(l.n);
                for u in 0..units {
                    let b = self.tensor(&l.biases[u]);
                    for r in u * rows..(u + 1) * rows {
                        for (c, &bc) in b.iter().enumerate() {
                            let v = self.get(y, r, c) + bc;
                            self.set(y, r, c, activate(v, l.act));
                        }
                    }
                }
            }
            Op::SumUnits { src, units, rows, n, dst } => {
                let src = src.at(n);
                for r in 0..rows {
                    for c in 0..n {
                        let v = (0..units).fold(0f32, |acc, u| acc + self.get(src, u * rows + r, c));
                        self.set(dst, r, c, v);
                    }
                }
            }
            Op::GatherSteps { pooled, col, dim, steps, rows, dst } => {
                let dst = dst.at(dim);
                for t in 0..steps {
                    for r in 0..rows {
                        for j in 0..dim {
                            let v = self.get(pooled, r, col + t * dim + j);
                            self.set(dst, t * rows + r, j, v);
                        }
                    }
                }
            }
            Op::RnnStep { bias, ih, hh, out, rows, h } => {
                let b = self.tensor(&g.rnn_biases[bias]);
                let (ih, hh, out) = (ih.at(h), hh.map(|hh| hh.at(h)), out.at(h));
                for r in 0..rows {
                    for (c, &bc) in b.iter().enumerate().take(h) {
                        let rec = hh.map_or(0.0, |hh| self.get(hh, r, c)) + bc;
                        let v = hercules_kernels::elementwise::tanh(self.get(ih, r, c) + rec);
                        self.set(out, r, c, v);
                    }
                }
            }
            Op::SoftmaxAdd { o, f, rows, h } => {
                let (o, f) = (o.at(h), f.at(h));
                for r in 0..rows {
                    let row: Vec<f32> = (0..h).map(|c| self.get(f, r, c)).collect();
                    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
                    let inv = 1.0 / e.iter().sum::<f32>();
                    for (c, e) in e.into_iter().enumerate() {
                        self.set(f, r, c, e);
                        let v = self.get(o, r, c) + e * inv;
                        self.set(o, r, c, v);
                    }
                }
            }
            Op::AddCols { a, b, dst, rows, cols } => {
                for r in 0..rows {
                    for c in 0..cols {
                        let v = self.get(a, r, c) + self.get(b, r, c);
                        self.set(dst, r, c, v);
                    }
                }
            }
            Op::Dot { x0, features: _, width: d, npairs, out, rows } => {
                let InteractionGeo::Dot { pairs, .. } = &g.interaction else {
                    panic!("a dot op in a model without a dot interaction")
                };
                for r in 0..rows {
                    for c in 0..d {
                        let v = self.get(x0, r, c);
                        self.set(out, r, c, v);
                    }
                    for p in 0..npairs {
                        let (i, j) = (pairs[2 * p] as usize, pairs[2 * p + 1] as usize);
                        let v: f32 =
                            (0..d).map(|k| self.get(x0, r, i * d + k) * self.get(x0, r, j * d + k)).sum();
                        self.set(out, r, d + p, v);
                    }
                }
            }
            Op::CrossUpdate { x0, v, z, rows, width } => {
                let (x0, v, z) = (x0.at(width), v.at(width), z.at(width));
                for r in 0..rows {
                    for c in 0..width {
                        let u = self.get(z, r, c) + self.get(x0, r, c) * self.get(v, r, c);
                        self.set(z, r, c, u);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hercules_models::inputs::{IndexDist, InputGen};
    use hercules_models::{zoo, ForwardOpts, Init, Model, Scale, Workspace};

    /// Every zoo model's program, run on the host, gives the CPU model's outputs: the lowering reads
    /// the right columns of the right buffers with the right tensors, in the right order.
    #[test]
    fn emulated_programs_match_the_cpu_model() {
        let scale = Scale { rows_scale: 0.001, max_rows: Some(2_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 11 };
        // The zoo, plus multi-task Wide & Deep with three heads (the zoo's has one).
        let mut specs: Vec<_> = zoo::names().into_iter().map(|n| zoo::resolve(n).unwrap()).collect();
        let mut mt = zoo::resolve("mt-wnd").unwrap();
        mt.heads.as_mut().unwrap().tasks = 3;
        mt.name = "mt-wnd-3".into();
        specs.push(mt);
        for spec in specs {
            let name = spec.name.clone();
            let plan = ModelPlan::lower(&spec, scale).unwrap();
            let g = Geometry::from_plan(&plan).unwrap();
            let cpu = Model::build(&spec, scale, &source).unwrap();
            let mut gen = InputGen::new(IndexDist::Uniform, 3);
            for (batch, cap) in [(1, 4), (5, 8)] {
                let input = gen.generate(&cpu.spec, batch).unwrap();
                let mut want = vec![0f32; batch * cpu.output_width()];
                let mut ws = Workspace::new(&cpu, batch, 1);
                cpu.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut want).unwrap();
                let prog = Program::lower(&g, batch, cap).unwrap();
                let got = run(&g, &plan, &source, &input, &prog);
                assert!(
                    !got.iter().any(|v| v.is_nan()),
                    "{name} batch {batch}: a float nothing wrote was read"
                );
                let num = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
                let den = want.iter().map(|w| w.abs()).fold(1e-30f32, f32::max);
                let e = num / den;
                println!("{name} batch {batch}: relative error {e:.2e}");
                // f64 sums here, the CPU kernels' f32 order there: rounding apart.
                assert!(e <= 1e-5, "{name} batch {batch}: relative error {e:e}");
            }
        }
    }
}
