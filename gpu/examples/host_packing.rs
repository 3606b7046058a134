//! The host side of a GPU forward, with no GPU: checking and packing one batch's bags and indices
//! for the device, as `plan_bags` + a copy into the staging buffer (how the runner packed before)
//! against `plan_into` (straight into the buffer, what the runner does now). Alternates the two,
//! prints the median and range per round.
//!
//! ```text
//! cargo run --release -p hercules-gpu --example host_packing -- [MODEL] [BATCH] [ROUNDS]
//! ```

use hercules_gpu::plan::{bytes_of_indices, input_bags, plan_bags, plan_into, plan_sizes, TableShape};
use hercules_kernels::embedding::DType;
use hercules_models::inputs::{IndexDist, InputGen};
use hercules_models::{zoo, Scale};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| "dlrm-rmc1".into());
    let batch: usize = args.next().map_or(Ok(1024), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let spec = zoo::resolve(&model)?.scaled(Scale { rows_scale: 1.0, max_rows: None })?;
    let input = InputGen::new(IndexDist::Uniform, 1).generate(&spec, batch)?;
    let shapes: Vec<TableShape> = spec
        .table_groups()
        .iter()
        .map(|&g| TableShape { rows: spec.tables[g].rows, dim: spec.tables[g].dim, dtype: DType::F32 })
        .collect();
    let bags = input_bags(&input);
    let sizes = plan_sizes(&shapes, &bags);
    let mut staging = vec![0u8; 4 * (shapes.len() * batch + 1) + 8 * sizes.indices + 64];
    let reps = 50;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    println!(
        "{model} batch {batch}: {} tables, {} indices; ms per batch (median, min-max of {reps})",
        shapes.len(),
        sizes.indices
    );
    for round in 0..rounds {
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let t = Instant::now();
            let plan = plan_bags(&shapes, &bags)?;
            let idx = bytes_of_indices(&plan.indices);
            staging[..idx.len()].copy_from_slice(idx);
            old.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let (o, i) = staging.split_at_mut(4 * (shapes.len() * batch + 1));
            plan_into(&shapes, &bags, sizes, o, i)?;
            new.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (a, b) = (median(old), median(new));
        println!(
            "round {round}: plan_bags + copy {:.3} ({:.3}-{:.3})   plan_into {:.3} ({:.3}-{:.3})",
            a.0, a.1, a.2, b.0, b.1, b.2
        );
    }
    Ok(())
}
