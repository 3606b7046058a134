//! Criterion benches of the kernels, each beside its peer in the same group: embedding bag per dtype
//! (with and without prefetch) on a table beyond the LLC, and the fused MLP layer beside the `gemm`
//! crate, and DLRM's dot interaction beside the `gemm` crate computing each sample's Gram matrix (as
//! PyTorch's bmm does), and DIEN's element-wise tanh and softmax per ISA (the scalar one is the loop
//! they replaced). `hercules kernels` is the full sweep with ceilings; these are for quick A/B while
//! tuning.
//! Table size: HERCULES_BENCH_TABLE_MIB (default 1024).

#[path = "../peers/gemm.rs"]
mod peer;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hercules_kernels::elementwise::Elementwise;
use hercules_kernels::embedding::{self, Bags, DType, EmbeddingOpts, EmbeddingTable, Indices, Pooling};
use hercules_kernels::interaction::DotInteraction;
use hercules_kernels::mlp::{Activation, Linear};
use hercules_kernels::Isa;
use rand::{Rng, SeedableRng};

fn embedding(c: &mut Criterion) {
    let mib: usize =
        std::env::var("HERCULES_BENCH_TABLE_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let (batch, lookups) = (2048, 80);
    let mut g = c.benchmark_group("embedding_bag");
    g.sample_size(10);
    for dim in [32, 128] {
        let rows = (mib << 20) / (4 * dim);
        let sets: Vec<_> = (0..16).map(|s| embedding::random_bags(rows, batch, lookups, s)).collect();
        for dtype in [DType::F32, DType::F16, DType::Int8] {
            let table = EmbeddingTable::random(rows, dim, dtype, 1).expect("table");
            g.throughput(Throughput::Elements((batch * lookups) as u64));
            let mut out = vec![0.0f32; batch * dim];
            for (name, prefetch) in [("prefetch", None), ("no-prefetch", Some(0))] {
                let mut opts = EmbeddingOpts::for_table(&table);
                if let Some(p) = prefetch {
                    opts.prefetch_distance = p;
                }
                let mut i = 0;
                g.bench_function(
                    BenchmarkId::new(format!("{dtype}/{name}"), format!("D{dim}_{mib}MiB")),
                    |b| {
                        b.iter(|| {
                            let (idx, off) = &sets[i % sets.len()];
                            i += 1;
                            embedding::embedding_bag(
                                &table,
                                Indices::U32(idx),
                                Bags::Offsets(off),
                                None,
                                Pooling::Sum,
                                &mut out,
                                &opts,
                            )
                            .expect("embedding bag")
                        })
                    },
                );
            }
        }
    }
    g.finish();
}

fn mlp_layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear_relu");
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for (m, k, n) in [(16, 512, 256), (64, 512, 512), (256, 1024, 1024), (1024, 479, 1024)] {
        let w: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let x: Vec<f32> = (0..m * k).map(|_| rng.gen_range(0.0..1.0)).collect();
        let mut y = vec![0.0f32; m * n];
        let layer = Linear::new(&w, Some(&b), k, n, Activation::Relu).expect("layer");
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let id = format!("{m}x{k}x{n}");
        g.bench_function(BenchmarkId::new("hercules", &id), |bch| {
            bch.iter(|| layer.forward(&x, m, &mut y).expect("forward"))
        });
        g.bench_function(BenchmarkId::new("gemm-crate", &id), |bch| {
            bch.iter(|| peer::gemm_crate_linear(&x, &w, Some(&b), m, k, n, Activation::Relu, &mut y, 1))
        });
    }
    g.finish();
}

fn dot_interaction(c: &mut Criterion) {
    let mut g = c.benchmark_group("dot_interaction");
    // MLPerf DLRM v1: 27 features of 128; 16 samples (in L2) and 1024 (14 MB, from memory).
    let (n, d) = (27, 128);
    for rows in [16, 1024] {
        let x: Vec<f32> = (0..rows * n * d).map(|i| (i % 13) as f32 * 0.05).collect();
        let k = DotInteraction::new(n, d, false).expect("shape");
        let mut out = vec![0.0f32; rows * k.pairs()];
        let mut gram = vec![0.0f32; n * n];
        g.throughput(Throughput::Elements((rows * k.pairs() * d * 2) as u64));
        g.bench_function(BenchmarkId::new("hercules", rows), |b| {
            b.iter(|| k.forward(|f| &x[f * d..], n * d, rows, &mut out, k.pairs(), 0).expect("forward"))
        });
        g.bench_function(BenchmarkId::new("gemm-crate-gram", rows), |b| {
            b.iter(|| {
                for xs in x.chunks_exact(n * d) {
                    peer::gemm_crate_plain(xs, xs, n, d, n, &mut gram, 1);
                }
            })
        });
    }
    g.finish();
}

fn elementwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("elementwise");
    // One DIEN RNN step: 1024 samples × 64; the scalar path is the loops the model had before.
    let len = 1024 * 64;
    let a: Vec<f32> = (0..len).map(|i| (i % 401) as f32 * 0.01 - 2.0).collect();
    let (mut out, mut x, mut o) = (vec![0.0f32; len], a.clone(), vec![0.0f32; len]);
    g.throughput(Throughput::Elements(len as u64));
    for isa in Isa::available() {
        let ew = Elementwise::with_isa(isa).expect("isa");
        g.bench_function(BenchmarkId::new("tanh_of_sum", isa), |b| {
            b.iter(|| ew.tanh_of_sum(&a, &a, &mut out).expect("tanh"))
        });
        g.bench_function(BenchmarkId::new("add_softmax_rows", isa), |b| {
            b.iter(|| ew.add_softmax_rows(&mut x, &mut o, 64).expect("softmax"))
        });
    }
    g.finish();
}

criterion_group!(benches, embedding, mlp_layer, dot_interaction, elementwise);
criterion_main!(benches);
