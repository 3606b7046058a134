//! [`GpuModel::build`]: the spec scaled and checked, every weight read from the same source as the CPU
//! model, uploaded, and the kernels the forward launches looked up.

use super::*;

impl GpuModel {
    /// Scales `spec`, checks it is supported and fits the device, and uploads its weights from `source`
    /// (the same tensors `hercules_models::Model::build` reads).
    pub fn build(dev: &Device, spec: &ModelSpec, scale: Scale, source: &WeightSource) -> Result<Self> {
        let spec = spec.scaled(scale)?;
        spec.validate()?;
        let layout = feature_layout(&spec)?;
        let name = spec.name.clone();
        let plist = params(&spec);
        let by_name: HashMap<&str, usize> =
            plist.iter().enumerate().map(|(i, p)| (p.name.as_str(), i)).collect();
        let get = |n: &str| -> Result<std::borrow::Cow<'_, [f32]>> {
            let i =
                by_name.get(n).ok_or_else(|| GpuError::Invalid(format!("model {name}: no parameter {n}")))?;
            Ok(source.tensor(&name, &plist[*i])?)
        };
        let mlp = |prefix: &str, m: &Mlp| -> Result<Vec<GpuLinear>> {
            m.widths
                .windows(2)
                .enumerate()
                .map(|(i, w)| {
                    let l = names::layer(prefix, i);
                    let (wt, b) = (get(&names::weight(&l))?, get(&names::bias(&l))?);
                    GpuLinear::new(dev, &wt, Some(&b), w[0], w[1], act(m.act(i)))
                })
                .collect()
        };
        let upload = |v: &[f32], what: &str| -> Result<(CudaSlice<f32>, u64)> {
            let s = dev.stream();
            let d = s.clone_htod(v).map_err(drv(what))?;
            let p = d.device_ptr(s).0;
            Ok((d, p))
        };
        let groups = spec.table_groups();
        let mut specs = Vec::with_capacity(groups.len());
        for &g in &groups {
            let grp = &spec.tables[g];
            let dtype = match grp.dtype {
                DTypeSpec::F32 => DType::F32,
                DTypeSpec::F16 => DType::F16,
                DTypeSpec::Int8 => DType::Int8,
            };
            let pooling = match grp.pooling {
                PoolingSpec::Sum => Pooling::Sum,
                PoolingSpec::Mean => Pooling::Mean,
            };
            specs.push((TableShape { rows: grp.rows, dim: grp.dim, dtype }, pooling));
        }
        let mut tables = GpuTables::zeroed(dev, &specs)?;
        for (t, (shape, _)) in specs.iter().enumerate() {
            let data = get(&names::table(t))?;
            // The CPU path's own encoder, so quantised rows are identical on both sides.
            let cpu = EmbeddingTable::from_f32(shape.rows as usize, shape.dim, shape.dtype, &data)?;
            tables.upload_table(t, &cpu)?;
        }
        if tables.out_width() != layout.pooled_width {
            return Err(GpuError::Unsupported(format!("model {name}: table widths do not add up")));
        }
        let bottom = match &spec.bottom_mlp {
            Some(m) => mlp(names::BOTTOM, m)?,
            None => Vec::new(),
        };
        let feats = spec.features();
        let feat_col = |f: Feature| -> Result<usize> {
            feats
                .iter()
                .position(|&x| x == f)
                .map(|i| layout.cols[i])
                .ok_or_else(|| GpuError::Invalid(format!("model {name}: {f:?} is not a feature")))
        };
        let start = |g: &str| -> Result<(usize, usize)> {
            let gi = spec
                .group(g)
                .ok_or_else(|| GpuError::Invalid(format!("model {name}: no table group {g}")))?;
            Ok((spec.group_start(gi), gi))
        };
        let widest = |ls: &[GpuLinear]| ls.iter().map(|l| l.n().max(l.k())).max().unwrap_or(0);
        let mut scratch = [0usize; 4];
        let mut need = |i: usize, v: usize| scratch[i] = scratch[i].max(v);
        let mut buf_width = widest(&bottom);
        let mut blocks = Vec::with_capacity(spec.blocks.len());
        for (b, block) in spec.blocks.iter().enumerate() {
            let col = feat_col(Feature::Block(b))?;
            blocks.push(match block {
                Block::Attention { behaviour, query, mlp: m } => {
                    let (first, g) = start(behaviour)?;
                    let (q, _) = start(query)?;
                    let (units, dim) = (spec.tables[g].count, spec.tables[g].dim);
                    let mut layers = Vec::new();
                    for (i, w) in m.widths.windows(2).enumerate() {
                        let (k, n) = (w[0], w[1]);
                        let mut ws = Vec::with_capacity(units * n * k);
                        let mut bs = Vec::with_capacity(units * n);
                        for u in 0..units {
                            let l = names::layer(&names::attention(b, u), i);
                            let (wt, bt) = (get(&names::weight(&l))?, get(&names::bias(&l))?);
                            if wt.len() != n * k || bt.len() != n {
                                return Err(GpuError::Invalid(format!(
                                    "model {name}: attention unit {u} layer {i} is not {k}→{n}"
                                )));
                            }
                            ws.extend_from_slice(&wt);
                            bs.extend_from_slice(&bt);
                        }
                        let (w_dev, w_ptr) = upload(&ws, "upload attention weights")?;
                        let (b_dev, b_ptr) = upload(&bs, "upload attention biases")?;
                        let a = act_code(act(m.act(i)));
                        layers.push(UnitLayer { _w: w_dev, _b: b_dev, w_ptr, b_ptr, k, n, act: a });
                    }
                    let wmax = m.widths.iter().copied().max().unwrap_or(0).max(3 * dim);
                    need(0, units * wmax);
                    need(1, units * wmax);
                    GpuBlock::Attention {
                        beh_col: layout.table_cols[first],
                        q_col: layout.table_cols[q],
                        dim,
                        units,
                        layers,
                        col,
                    }
                }
                Block::Rnn { sequence, hidden } => {
                    let (first, g) = start(sequence)?;
                    let (steps, dim) = (spec.tables[g].count, spec.tables[g].dim);
                    if steps == 0 {
                        return Err(GpuError::Invalid(format!("model {name}: RNN over an empty sequence")));
                    }
                    let mut input = dim;
                    let mut layers = Vec::new();
                    let mut fcs = Vec::new();
                    for (l, &h) in hidden.iter().enumerate() {
                        let n = names::rnn(b, l);
                        let (wih, bih) = (get(&n.weight_ih)?, get(&n.bias_ih)?);
                        let (whh, bhh) = (get(&n.weight_hh)?, get(&n.bias_hh)?);
                        if bhh.len() != h {
                            return Err(GpuError::Invalid(format!(
                                "model {name}: {} is not {h} long",
                                n.bias_hh
                            )));
                        }
                        let (b_dev, b_hh_ptr) = upload(&bhh, "upload RNN bias")?;
                        layers.push(RnnLayer {
                            ih: GpuLinear::new(dev, &wih, Some(&bih), input, h, Activation::None)?,
                            hh: GpuLinear::new(dev, &whh, None, h, h, Activation::None)?,
                            _b_hh: b_dev,
                            b_hh_ptr,
                            h,
                        });
                        if l + 1 < hidden.len() {
                            let fc = names::rnn_fc(b, l);
                            let (w, bb) = (get(&names::weight(&fc))?, get(&names::bias(&fc))?);
                            fcs.push(GpuLinear::new(dev, &w, Some(&bb), h, h, Activation::None)?);
                        }
                        input = h;
                    }
                    let hmax = hidden.iter().copied().max().unwrap_or(0);
                    need(0, steps * hmax.max(dim));
                    need(1, steps * hmax.max(dim));
                    need(2, steps * hmax);
                    need(3, hmax);
                    GpuBlock::Rnn { seq_col: layout.table_cols[first], steps, dim, layers, fcs, col }
                }
                Block::Ncf { mf, mlp_tables, mlp: m } => {
                    let (a, ga) = start(&mf[0])?;
                    let (bb, _) = start(&mf[1])?;
                    let (c, gc) = start(&mlp_tables[0])?;
                    let (d, gd) = start(&mlp_tables[1])?;
                    let mlp_dims = [spec.tables[gc].dim, spec.tables[gd].dim];
                    let layers = mlp(&names::ncf(b), m)?;
                    buf_width = buf_width.max(widest(&layers));
                    need(0, mlp_dims[0] + mlp_dims[1]);
                    GpuBlock::Ncf {
                        mf_cols: [layout.table_cols[a], layout.table_cols[bb]],
                        dim: spec.tables[ga].dim,
                        mlp_cols: [layout.table_cols[c], layout.table_cols[d]],
                        mlp_dims,
                        mlp: layers,
                        col,
                    }
                }
            });
        }
        let top = mlp(names::TOP, &spec.top_mlp)?;
        let heads = match &spec.heads {
            Some(h) => (0..h.tasks).map(|k| mlp(&names::head(k), &h.mlp)).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        buf_width = buf_width.max(widest(&top)).max(heads.iter().map(|h| widest(h)).max().unwrap_or(0));
        let dense_out = spec.dense_out();
        let x0_width = layout.x0_width;
        let interaction = match spec.interaction {
            Interaction::Dot { self_interaction } => {
                let width = spec.feature_width(feats[0]);
                if feats.iter().any(|&f| spec.feature_width(f) != width) {
                    return Err(GpuError::Invalid(format!(
                        "model {name}: dot interaction over unequal widths"
                    )));
                }
                let pairs = dot_pairs(feats.len(), self_interaction);
                let flat: Vec<u32> = pairs.iter().flat_map(|&(i, j)| [i, j]).collect();
                let npairs = pairs.len();
                let s = dev.stream();
                let d = s
                    .clone_htod(if flat.is_empty() { &[0u32, 0][..] } else { &flat })
                    .map_err(drv("upload pairs"))?;
                let pairs_ptr = d.device_ptr(s).0;
                GpuInteraction::Dot { _pairs: d, pairs_ptr, npairs, width }
            }
            Interaction::Cross { layers, low_rank } => {
                let cl = (0..layers)
                    .map(|l| {
                        let (u, v) = names::cross(l);
                        let (u, v, vb) =
                            (get(&names::weight(&u))?, get(&names::weight(&v))?, get(&names::bias(&v))?);
                        Ok((
                            GpuLinear::new(dev, &u, None, x0_width, low_rank, Activation::None)?,
                            GpuLinear::new(dev, &v, Some(&vb), low_rank, x0_width, Activation::None)?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                need(0, low_rank);
                need(1, x0_width);
                GpuInteraction::Cross { layers: cl, rank: low_rank }
            }
            Interaction::Cat {} => GpuInteraction::Cat,
        };
        let lookups_per_sample = spec.tables.iter().map(|g| g.count * g.lookups).sum();
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
            spec,
        })
    }
}
