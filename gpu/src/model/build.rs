//! [`GpuModel::build`]: the spec lowered by `hercules-models` ([`ModelPlan`], the plan the CPU model
//! builds from), every weight read from the same source, uploaded, and the kernels the forward
//! launches looked up.

use super::*;

impl GpuModel {
    /// Scales `spec`, checks it is supported and fits the device, and uploads its weights from `source`
    /// (the same tensors `hercules_models::Model::build` reads).
    pub fn build(dev: &Device, spec: &ModelSpec, scale: Scale, source: &WeightSource) -> Result<Self> {
        let plan = ModelPlan::lower(spec, scale)?;
        let spec = &plan.spec;
        let layout = feature_layout(spec)?;
        let name = spec.name.clone();
        let get = |n: &str| -> Result<std::borrow::Cow<'_, [f32]>> { Ok(plan.tensor(source, n)?) };
        let linear = |l: &LinearPlan| -> Result<GpuLinear> {
            let b = l.bias.as_deref().map(get).transpose()?;
            GpuLinear::new(dev, &get(&l.weight)?, b.as_deref(), l.k, l.n, act(l.act))
        };
        let mlp = |ls: &[LinearPlan]| ls.iter().map(linear).collect::<Result<Vec<_>>>();
        let upload = |v: &[f32], what: &str| -> Result<(CudaSlice<f32>, u64)> {
            let s = dev.stream();
            let d = s.clone_htod(v).map_err(drv(what))?;
            let p = d.device_ptr(s).0;
            Ok((d, p))
        };
        let specs: Vec<(TableShape, Pooling)> = plan
            .tables
            .iter()
            .map(|t| {
                let dtype = match t.dtype {
                    DTypeSpec::F32 => DType::F32,
                    DTypeSpec::F16 => DType::F16,
                    DTypeSpec::Int8 => DType::Int8,
                };
                let pooling = match t.pooling {
                    PoolingSpec::Sum => Pooling::Sum,
                    PoolingSpec::Mean => Pooling::Mean,
                };
                (TableShape { rows: t.rows, dim: t.dim, dtype }, pooling)
            })
            .collect();
        let mut tables = GpuTables::zeroed(dev, &specs)?;
        for (t, ((shape, _), tp)) in specs.iter().zip(&plan.tables).enumerate() {
            let data = get(&tp.param)?;
            // The CPU path's own encoder, so quantised rows are identical on both sides.
            let cpu = EmbeddingTable::from_f32(shape.rows as usize, shape.dim, shape.dtype, &data)?;
            tables.upload_table(t, &cpu)?;
        }
        if tables.out_width() != layout.pooled_width {
            return Err(GpuError::Unsupported(format!("model {name}: table widths do not add up")));
        }
        let bottom = mlp(&plan.bottom)?;
        let feats = spec.features();
        let feat_col = |f: Feature| -> Result<usize> {
            feats
                .iter()
                .position(|&x| x == f)
                .map(|i| layout.cols[i])
                .ok_or_else(|| GpuError::Invalid(format!("model {name}: {f:?} is not a feature")))
        };
        let widest = |ls: &[GpuLinear]| ls.iter().map(|l| l.n().max(l.k())).max().unwrap_or(0);
        let mut scratch = [0usize; 4];
        let mut need = |i: usize, v: usize| scratch[i] = scratch[i].max(v);
        let mut buf_width = widest(&bottom);
        let mut blocks = Vec::with_capacity(plan.blocks.len());
        for (b, block) in plan.blocks.iter().enumerate() {
            let col = feat_col(Feature::Block(b))?;
            blocks.push(match block {
                BlockPlan::Attention { first, query, dim, units: unit_layers } => {
                    let (units, dim) = (unit_layers.len(), *dim);
                    let depth = unit_layers.first().map_or(0, Vec::len);
                    let mut layers = Vec::with_capacity(depth);
                    let mut wmax = 3 * dim;
                    for i in 0..depth {
                        let (k, n) = (unit_layers[0][i].k, unit_layers[0][i].n);
                        wmax = wmax.max(k).max(n);
                        // Every unit's layer i, stacked: one batched launch runs them all.
                        let mut ws = Vec::with_capacity(units * n * k);
                        let mut bs = Vec::with_capacity(units * n);
                        for u in unit_layers {
                            let l = &u[i];
                            if (l.k, l.n) != (k, n) {
                                return Err(GpuError::Invalid(format!(
                                    "model {name}: attention units differ at layer {i}"
                                )));
                            }
                            ws.extend_from_slice(&get(&l.weight)?);
                            let bias = l.bias.as_deref().ok_or_else(|| {
                                GpuError::Invalid(format!("model {name}: attention layer {i} has no bias"))
                            })?;
                            bs.extend_from_slice(&get(bias)?);
                        }
                        let (w_dev, w_ptr) = upload(&ws, "upload attention weights")?;
                        let (b_dev, b_ptr) = upload(&bs, "upload attention biases")?;
                        let a = act_code(act(unit_layers[0][i].act));
                        layers.push(UnitLayer { _w: w_dev, _b: b_dev, w_ptr, b_ptr, k, n, act: a });
                    }
                    need(0, units * wmax);
                    need(1, units * wmax);
                    GpuBlock::Attention {
                        beh_col: layout.table_cols[*first],
                        q_col: layout.table_cols[*query],
                        dim,
                        units,
                        layers,
                        col,
                    }
                }
                BlockPlan::Rnn { first, steps, dim, layers: rnn, fcs } => {
                    let mut layers = Vec::with_capacity(rnn.len());
                    for l in rnn {
                        let h = l.hh.n;
                        // The recurrent bias is added in the step kernel, after the projection.
                        let bias = l.hh.bias.as_deref().ok_or_else(|| {
                            GpuError::Invalid(format!("model {name}: {} has no bias", l.hh.weight))
                        })?;
                        let (b_dev, b_hh_ptr) = upload(&get(bias)?, "upload RNN bias")?;
                        let hh = GpuLinear::new(dev, &get(&l.hh.weight)?, None, h, h, Activation::None)?;
                        layers.push(RnnLayer { ih: linear(&l.ih)?, hh, _b_hh: b_dev, b_hh_ptr, h });
                    }
                    let hmax = rnn.iter().map(|l| l.hh.n).max().unwrap_or(0);
                    need(0, steps * hmax.max(*dim));
                    need(1, steps * hmax.max(*dim));
                    need(2, steps * hmax);
                    need(3, hmax);
                    GpuBlock::Rnn {
                        seq_col: layout.table_cols[*first],
                        steps: *steps,
                        dim: *dim,
                        layers,
                        fcs: mlp(fcs)?,
                        col,
                    }
                }
                BlockPlan::Ncf { mf, mlp_tables, dim, mlp_dims, mlp: m } => {
                    let layers = mlp(m)?;
                    buf_width = buf_width.max(widest(&layers));
                    need(0, mlp_dims[0] + mlp_dims[1]);
                    GpuBlock::Ncf {
                        mf_cols: mf.map(|t| layout.table_cols[t]),
                        dim: *dim,
                        mlp_cols: mlp_tables.map(|t| layout.table_cols[t]),
                        mlp_dims: *mlp_dims,
                        mlp: layers,
                        col,
                    }
                }
            });
        }
        let top = mlp(&plan.top)?;
        let heads = plan.heads.iter().map(|h| mlp(h)).collect::<Result<Vec<_>>>()?;
        buf_width = buf_width.max(widest(&top)).max(heads.iter().map(|h| widest(h)).max().unwrap_or(0));
        let dense_out = spec.dense_out();
        let x0_width = layout.x0_width;
        let interaction = match &plan.interaction {
            InteractionPlan::Dot { width, self_interaction } => {
                let pairs = dot_pairs(feats.len(), *self_interaction);
                let flat: Vec<u32> = pairs.iter().flat_map(|&(i, j)| [i, j]).collect();
                let npairs = pairs.len();
                let s = dev.stream();
                let d = s
                    .clone_htod(if flat.is_empty() { &[0u32, 0][..] } else { &flat })
                    .map_err(drv("upload pairs"))?;
                let pairs_ptr = d.device_ptr(s).0;
                GpuInteraction::Dot { _pairs: d, pairs_ptr, npairs, width: *width }
            }
            InteractionPlan::Cross { layers, rank } => {
                let cl =
                    layers.iter().map(|(u, v)| Ok((linear(u)?, linear(v)?))).collect::<Result<Vec<_>>>()?;
                need(0, *rank);
                need(1, x0_width);
                GpuInteraction::Cross { layers: cl, rank: *rank }
            }
            InteractionPlan::Cat => GpuInteraction::Cat,
        };
        let lookups_per_sample = plan.lookups_per_sample;
        dev.stream().synchronize().map_err(drv("upload model"))?;
        let f = |src, n| dev.function(src, n);
        let k = Kernels {
            copy_cols: f(Source::Ops, "copy_cols")?,
            dot: f(Source::Ops, "dot_interaction")?,
            din_input: f(Source::Blocks, "din_unit_input")?,
            unit_bias_act: f(Source::Blocks, "unit_bias_act")?,
            sum_units: f(Source::Blocks, "sum_units")?,
            gather_steps: f(Source::Blocks, "gather_steps")?,
            rnn_step: f(Source::Blocks, "rnn_step")?,
            softmax_add: f(Source::Blocks, "softmax_add")?,
            add_cols: f(Source::Blocks, "add_cols")?,
            cross_update: f(Source::Blocks, "cross_update")?,
        };
        Ok(Self {
            shapes: specs.iter().map(|s| s.0).collect(),
            dense_in: spec.dense_features,
            dense_out,
            x0_width,
            inter_out: spec.interaction_out(),
            out_width: spec.output_width(),
            lookups_per_sample,
            scratch,
            buf_width,
            k,
            layout,
            tables,
            bottom,
            blocks,
            top,
            heads,
            interaction,
            scale,
            spec: plan.spec.clone(),
        })
    }
}
