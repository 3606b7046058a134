//! [`GpuModel::build`]: the spec lowered by `hercules-models` ([`ModelPlan`], the plan the CPU model
//! builds from) and its [`Geometry`]; every tensor the geometry names read from the same source and
//! uploaded, in the geometry's order; and the kernels the forward launches looked up.

use super::*;

impl GpuModel {
    /// Scales `spec`, checks it is supported and fits the device, and uploads its weights from `source`
    /// (the same tensors `hercules_models::Model::build` reads).
    pub fn build(dev: &Device, spec: &ModelSpec, scale: Scale, source: &WeightSource) -> Result<Self> {
        let plan = ModelPlan::lower(spec, scale)?;
        let geo = Geometry::from_plan(&plan)?;
        let name = geo.name.clone();
        let get = |n: &str| -> Result<std::borrow::Cow<'_, [f32]>> { Ok(plan.tensor(source, n)?) };
        let upload = |v: &[f32], what: &str| DevBuf::upload(dev.stream(), v, what);
        let specs: Vec<(TableShape, Pooling)> = plan
            .tables
            .iter()
            .map(|t| (TableShape { rows: t.rows, dim: t.dim, dtype: t.dtype.into() }, t.pooling.into()))
            .collect();
        let mut tables = GpuTables::zeroed(dev, &specs)?;
        for (t, ((shape, _), tp)) in specs.iter().zip(&plan.tables).enumerate() {
            let data = get(&tp.param)?;
            // The CPU path's own encoder, so quantised rows are identical on both sides.
            let cpu = EmbeddingTable::from_f32(shape.rows as usize, shape.dim, shape.dtype, &data)?;
            tables.upload_table(t, &cpu)?;
        }
        if tables.out_width() != geo.layout.pooled_width {
            return Err(GpuError::Unsupported(format!("model {name}: table widths do not add up")));
        }
        let linears = geo
            .linears
            .iter()
            .map(|l| {
                let b = l.bias.as_deref().map(get).transpose()?;
                GpuLinear::new(dev, &get(&l.weight)?, b.as_deref(), l.k, l.n, l.act)
            })
            .collect::<Result<Vec<_>>>()?;
        // Every unit's layer at one depth, stacked: one batched launch runs them all.
        let mut units = Vec::with_capacity(geo.units.len());
        for u in &geo.units {
            let (mut ws, mut bs) = (Vec::with_capacity(u.weights.len() * u.n * u.k), Vec::new());
            for (w, b) in u.weights.iter().zip(&u.biases) {
                ws.extend_from_slice(&get(w)?);
                bs.extend_from_slice(&get(b)?);
            }
            units.push(UnitLayer {
                w: upload(&ws, "upload attention weights")?,
                b: upload(&bs, "upload attention biases")?,
            });
        }
        let rnn_biases =
            geo.rnn_biases.iter().map(|b| upload(&get(b)?, "upload RNN bias")).collect::<Result<Vec<_>>>()?;
        let pairs = match &geo.interaction {
            InteractionGeo::Dot { pairs, .. } => {
                let s = dev.stream();
                let d = s
                    .clone_htod(if pairs.is_empty() { &[0u32, 0][..] } else { pairs })
                    .map_err(drv("upload pairs"))?;
                let ptr = d.device_ptr(s).0;
                Some(DevPairs { _mem: d, ptr })
            }
            _ => None,
        };
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
            lookups_per_sample: plan.lookups_per_sample,
            k,
            geo,
            tables,
            linears,
            units,
            rnn_biases,
            pairs,
            scale,
            spec: plan.spec.clone(),
        })
    }
}
