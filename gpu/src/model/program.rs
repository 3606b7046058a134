//! One forward's device work as data: a [`Program`] of [`Op`]s, each the arguments of one kernel
//! launch or GEMM over the runner's buffers ([`Buf`]) at float offsets and row strides, lowered from a
//! model's [`Geometry`] for one batch size. Lowering checks every op's footprint (the floats the kernel
//! touches, derived from the same arguments it is launched with) against the buffer sizes the runner
//! allocates for its capacity, and that no op writes floats it also reads (apart from its declared
//! in-place operands), so the launches in `enqueue` rest on one checked fact instead of a promise per
//! call site. The tests also run every zoo model's programs through a host interpreter (`emulate`) and
//! compare with the CPU model, which checks the lowering's offsets and order without a device.

use super::geometry::{BlockGeo, Geometry, InteractionGeo};
use crate::error::{GpuError, Result};

/// A runner buffer. Each holds `cap` rows of its per-sample width ([`Geometry::floats`]), except
/// `Dense`, the batch's dense features inside the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Buf {
    Dense,
    X0,
    Pooled,
    Inter,
    /// The two ping-pong buffers of the MLPs.
    Mlp(usize),
    TopOut,
    Out,
    /// The four block scratch buffers.
    Scratch(usize),
}

/// A strided address: float `off` of `buf`, rows `ld` floats apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub(crate) buf: Buf,
    pub(crate) off: usize,
    pub(crate) ld: usize,
}

impl At {
    fn new(buf: Buf, off: usize, ld: usize) -> Self {
        Self { buf, off, ld }
    }

    /// `floats` further along (a column offset, or a whole number of rows).
    pub(crate) fn plus(self, floats: usize) -> Self {
        Self { off: self.off + floats, ..self }
    }

    /// The `rows` × `cols` floats from here.
    fn region(self, rows: usize, cols: usize) -> Region {
        Region { at: self, rows, cols }
    }
}

/// Packed rows from float `off` of `buf`: the operand of a kernel that is given no row stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pk {
    pub(crate) buf: Buf,
    pub(crate) off: usize,
}

impl Pk {
    fn new(buf: Buf, off: usize) -> Self {
        Self { buf, off }
    }

    /// The same floats as rows of `width` (for a GEMM operand).
    pub(crate) fn at(self, width: usize) -> At {
        At { buf: self.buf, off: self.off, ld: width }
    }

    /// `floats` further along.
    pub(crate) fn plus(self, floats: usize) -> Self {
        Self { off: self.off + floats, ..self }
    }

    /// `rows` packed rows of `cols`.
    fn region(self, rows: usize, cols: usize) -> Region {
        self.at(cols).region(rows, cols)
    }
}

/// The floats an operand covers: `rows` rows of `cols` at a strided address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) at: At,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl Region {
    fn is_empty(&self) -> bool {
        self.rows == 0 || self.cols == 0
    }

    /// One past the last float (0 when empty).
    pub(crate) fn end(&self) -> usize {
        if self.is_empty() {
            0
        } else {
            self.at.off + (self.rows - 1) * self.at.ld + self.cols
        }
    }

    /// Row r's floats.
    pub(crate) fn row(&self, r: usize) -> std::ops::Range<usize> {
        let s = self.at.off + r * self.at.ld;
        s..s + self.cols
    }

    /// Whether the two share a float.
    fn overlaps(&self, o: &Region) -> bool {
        if self.at.buf != o.at.buf || self.is_empty() || o.is_empty() {
            return false;
        }
        if self.end() <= o.at.off || o.end() <= self.at.off {
            return false;
        }
        // Rows of `o` meeting [s, e): off_o + r·ld_o < e and off_o + r·ld_o + cols_o > s.
        (0..self.rows).any(|r| {
            let (s, e) = (self.row(r).start, self.row(r).end);
            if o.rows == 1 || o.at.ld == 0 {
                return o.at.off < e && o.at.off + o.cols > s;
            }
            let ld = o.at.ld;
            let lo = (s + 1).saturating_sub(o.at.off + o.cols).div_ceil(ld);
            e > o.at.off && lo < o.rows && o.at.off + lo * ld < e
        })
    }
}

/// How an op uses an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Read,
    Write,
    /// In place: read, then written by the same thread.
    Update,
}

/// One kernel launch or GEMM: its arguments (buffers as [`At`] addresses; weights as indices of the
/// geometry's lists). `rows` is the batch unless stated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// `copy_cols`: dst[r, c] = src[r, c].
    Copy { src: At, dst: At, rows: usize, cols: usize },
    /// A dense layer (GEMM, bias, activation): y[m × n] = act(x[m × k] · Wᵀ + b).
    Linear { layer: usize, x: At, y: At, m: usize },
    /// The table-batched embedding bag: every table's pooled vectors, table t at column
    /// `col + table_cols[t]` of `rows` rows of `out`.
    Tables { out: At, col: usize, rows: usize },
    /// `din_unit_input`: per unit u and row r, [b, q, b + q] (3·dim packed) from the pooled rows
    /// (behaviour of unit u at `beh_col + u·dim`, query at `q_col`).
    DinInput { pooled: At, beh_col: usize, q_col: usize, dim: usize, units: usize, rows: usize, dst: Pk },
    /// Every unit's layer at one depth as one strided-batched GEMM over packed unit planes of `rows`
    /// rows (x planes rows·k apart, y planes rows·n apart); bias and activation by `UnitBiasAct`.
    UnitGemm { layer: usize, x: Pk, y: Pk, units: usize, rows: usize },
    /// `unit_bias_act`, in place over the planes of `UnitGemm`'s output.
    UnitBiasAct { layer: usize, y: Pk, units: usize, rows: usize },
    /// `sum_units`: dst[r, c] = Σ_u src plane u [r, c].
    SumUnits { src: Pk, units: usize, rows: usize, n: usize, dst: At },
    /// `gather_steps`: step t's row r (dim packed, planes of `rows`) from pooled column `col + t·dim`.
    GatherSteps { pooled: At, col: usize, dim: usize, steps: usize, rows: usize, dst: Pk },
    /// `rnn_step`: out = tanh(ih + (hh + b_hh)), hh absent at step 0; `rows` × h packed.
    RnnStep { bias: usize, ih: Pk, hh: Option<Pk>, out: Pk, rows: usize, h: usize },
    /// `softmax_add`: f = softmax(f) per row, o += f; `rows` × h packed, both in place.
    SoftmaxAdd { o: Pk, f: Pk, rows: usize, h: usize },
    /// `add_cols`: dst = a + b over rows × cols.
    AddCols { a: At, b: At, dst: At, rows: usize, cols: usize },
    /// `dot_interaction`: the first feature then the pairs' dots, `features` of `width` in x0's rows.
    Dot { x0: At, features: usize, width: usize, npairs: usize, out: At, rows: usize },
    /// `cross_update`: z += x0 ⊙ v over `rows` packed rows of `width`.
    CrossUpdate { x0: Pk, v: Pk, z: Pk, rows: usize, width: usize },
}

impl Op {
    /// The kernel (or library call) it launches, for messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Copy { .. } => "copy_cols",
            Op::Linear { .. } => "linear",
            Op::Tables { .. } => "tbe",
            Op::DinInput { .. } => "din_unit_input",
            Op::UnitGemm { .. } => "unit_gemm",
            Op::UnitBiasAct { .. } => "unit_bias_act",
            Op::SumUnits { .. } => "sum_units",
            Op::GatherSteps { .. } => "gather_steps",
            Op::RnnStep { .. } => "rnn_step",
            Op::SoftmaxAdd { .. } => "softmax_add",
            Op::AddCols { .. } => "add_cols",
            Op::Dot { .. } => "dot_interaction",
            Op::CrossUpdate { .. } => "cross_update",
        }
    }

    /// Every float operand and how it is used: exactly the floats the kernel indexes with these
    /// arguments (see `cu/*.cu`).
    pub(crate) fn operands(&self, g: &Geometry) -> Vec<(Region, Use)> {
        use Use::*;
        match *self {
            Op::Copy { src, dst, rows, cols } => {
                vec![(src.region(rows, cols), Read), (dst.region(rows, cols), Write)]
            }
            Op::Linear { layer, x, y, m } => {
                let l = &g.linears[layer];
                vec![(x.region(m, l.k), Read), (y.region(m, l.n), Write)]
            }
            Op::Tables { out, col, rows } => vec![(out.plus(col).region(rows, g.layout.pooled_width), Write)],
            Op::DinInput { pooled, beh_col, q_col, dim, units, rows, dst } => vec![
                (pooled.plus(beh_col).region(rows, units * dim), Read),
                (pooled.plus(q_col).region(rows, dim), Read),
                (dst.region(units * rows, 3 * dim), Write),
            ],
            Op::UnitGemm { layer, x, y, units, rows } => {
                let u = &g.units[layer];
                vec![(x.region(units * rows, u.k), Read), (y.region(units * rows, u.n), Write)]
            }
            Op::UnitBiasAct { layer, y, units, rows } => {
                vec![(y.region(units * rows, g.units[layer].n), Update)]
            }
            Op::SumUnits { src, units, rows, n, dst } => {
                vec![(src.region(units * rows, n), Read), (dst.region(rows, n), Write)]
            }
            Op::GatherSteps { pooled, col, dim, steps, rows, dst } => vec![
                (pooled.plus(col).region(rows, steps * dim), Read),
                (dst.region(steps * rows, dim), Write),
            ],
            Op::RnnStep { ih, hh, out, rows, h, .. } => {
                let mut v = vec![(ih.region(rows, h), Read), (out.region(rows, h), Write)];
                v.extend(hh.map(|hh| (hh.region(rows, h), Read)));
                v
            }
            Op::SoftmaxAdd { o, f, rows, h } => {
                vec![(o.region(rows, h), Update), (f.region(rows, h), Update)]
            }
            Op::AddCols { a, b, dst, rows, cols } => vec![
                (a.region(rows, cols), Read),
                (b.region(rows, cols), Read),
                (dst.region(rows, cols), Write),
            ],
            Op::Dot { x0, features, width, npairs, out, rows } => {
                vec![(x0.region(rows, features * width), Read), (out.region(rows, width + npairs), Write)]
            }
            Op::CrossUpdate { x0, v, z, rows, width } => vec![
                (x0.region(rows, width), Read),
                (v.region(rows, width), Read),
                (z.region(rows, width), Update),
            ],
        }
    }
}

impl Geometry {
    /// Floats of `buf` in a runner of capacity `cap` running a batch of `batch` (the runner allocates
    /// exactly this for every buffer but `Dense`, whose input layout is made per batch).
    pub(crate) fn floats(&self, buf: Buf, cap: usize, batch: usize) -> usize {
        let per_sample = match buf {
            Buf::Dense => return batch * self.dense_in,
            Buf::X0 => self.x0_width,
            Buf::Pooled if self.layout.direct => 0,
            Buf::Pooled => self.layout.pooled_width,
            Buf::Inter => self.inter_out,
            Buf::Mlp(_) => self.buf_width,
            Buf::TopOut => self.top_width,
            Buf::Out => self.out_width,
            Buf::Scratch(i) => self.scratch.get(i).copied().unwrap_or(0),
        };
        cap.saturating_mul(per_sample)
    }
}

/// The checked work of one forward (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Program {
    pub(crate) batch: usize,
    pub(crate) cap: usize,
    pub(crate) ops: Vec<Op>,
}

impl Program {
    /// Lowers and checks a batch of `batch` for a runner of capacity `cap`.
    pub(crate) fn lower(g: &Geometry, batch: usize, cap: usize) -> Result<Self> {
        if batch == 0 || batch > cap {
            return Err(GpuError::Invalid(format!(
                "batch {batch} is outside 1..={cap} (the runner's capacity)"
            )));
        }
        let prog = Self { batch, cap, ops: Lowering { g, bsz: batch, ops: Vec::new() }.run() };
        prog.check(g)?;
        Ok(prog)
    }

    /// Every operand inside its buffer, with rows that do not overlap one another, and no op writing a
    /// float it also reads or writes through another operand.
    pub(crate) fn check(&self, g: &Geometry) -> Result<()> {
        for (i, op) in self.ops.iter().enumerate() {
            let bad = |why: String| {
                GpuError::Invalid(format!(
                    "model {} batch {}: op {i} ({}) {why}",
                    g.name,
                    self.batch,
                    op.name()
                ))
            };
            let operands = op.operands(g);
            for (k, (r, _)) in operands.iter().enumerate() {
                let size = g.floats(r.at.buf, self.cap, self.batch);
                if r.end() > size {
                    return Err(bad(format!(
                        "operand {k} reaches float {} of {:?}, which holds {size}",
                        r.end(),
                        r.at.buf
                    )));
                }
                if r.rows > 1 && r.cols > r.at.ld {
                    return Err(bad(format!("operand {k} has rows of {} floats {} apart", r.cols, r.at.ld)));
                }
                if u32::try_from(r.end()).is_err() {
                    return Err(bad(format!("operand {k} is beyond the kernels' 32-bit sizes")));
                }
            }
            for (a, (ra, ua)) in operands.iter().enumerate() {
                for (rb, ub) in &operands[a + 1..] {
                    if (*ua != Use::Read || *ub != Use::Read) && ra.overlaps(rb) {
                        return Err(bad(format!("overlaps its own output in {:?}", ra.at.buf)));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The lowering of one batch (the same order of work as the CPU forward in `hercules-models`).
struct Lowering<'g> {
    g: &'g Geometry,
    bsz: usize,
    ops: Vec<Op>,
}

impl Lowering<'_> {
    fn run(mut self) -> Vec<Op> {
        let g = self.g;
        let (bsz, x0w) = (self.bsz, g.x0_width);
        let x0 = At::new(Buf::X0, 0, x0w);
        // 1. Bottom MLP into x0's first columns (or the dense features copied there).
        let dense = At::new(Buf::Dense, 0, g.dense_in);
        if !g.bottom.is_empty() {
            self.mlp(&g.bottom, dense, x0);
        } else if g.dense_in > 0 {
            self.ops.push(Op::Copy { src: dense, dst: x0, rows: bsz, cols: g.dense_in });
        }
        // 2. All tables in one launch, into x0's table columns or the pooled matrix.
        let pooled = At::new(Buf::Pooled, 0, g.layout.pooled_width);
        if g.layout.direct {
            let col = if g.dense_in > 0 { g.dense_out } else { 0 };
            self.ops.push(Op::Tables { out: x0, col, rows: bsz });
        } else {
            self.ops.push(Op::Tables { out: pooled, col: 0, rows: bsz });
            for &(src, dst, w) in &g.layout.copies {
                self.ops.push(Op::Copy { src: pooled.plus(src), dst: x0.plus(dst), rows: bsz, cols: w });
            }
        }
        // 3. Blocks, each into its x0 columns.
        for b in &g.blocks {
            self.block(b, pooled, x0);
        }
        // 4. Interaction.
        let top_in = match &g.interaction {
            InteractionGeo::Cat => x0,
            InteractionGeo::Dot { pairs, features, width } => {
                let out = At::new(Buf::Inter, 0, g.inter_out);
                let (features, width, npairs) = (*features, *width, pairs.len() / 2);
                self.ops.push(Op::Dot { x0, features, width, npairs, out, rows: bsz });
                out
            }
            InteractionGeo::Cross { layers, rank } => {
                let z = Pk::new(Buf::Inter, 0);
                let (u, v) = (Pk::new(Buf::Scratch(0), 0), Pk::new(Buf::Scratch(1), 0));
                self.ops.push(Op::Copy { src: x0, dst: z.at(x0w), rows: bsz, cols: x0w });
                for &(lu, lv) in layers {
                    self.ops.push(Op::Linear { layer: lu, x: z.at(x0w), y: u.at(*rank), m: bsz });
                    self.ops.push(Op::Linear { layer: lv, x: u.at(*rank), y: v.at(x0w), m: bsz });
                    let x0 = Pk::new(Buf::X0, 0);
                    self.ops.push(Op::CrossUpdate { x0, v, z, rows: bsz, width: x0w });
                }
                z.at(x0w)
            }
        };
        // 5. Top MLP and heads, the last layers writing into the output.
        let out = At::new(Buf::Out, 0, g.out_width);
        if g.heads.is_empty() {
            self.mlp(&g.top, top_in, out);
        } else {
            let top_out = At::new(Buf::TopOut, 0, g.top_width);
            self.mlp(&g.top, top_in, top_out);
            let hw = g.out_width / g.heads.len();
            for (k, head) in g.heads.iter().enumerate() {
                self.mlp(head, top_out, out.plus(k * hw));
            }
        }
        self.ops
    }

    /// `layers` from `x` through the ping-pong buffers (alternating, so no layer reads what it
    /// writes), the last writing into `last`.
    fn mlp(&mut self, layers: &[usize], x: At, last: At) {
        let mut cur = x;
        for (i, &layer) in layers.iter().enumerate() {
            let y = if i + 1 == layers.len() {
                last
            } else {
                Pk::new(Buf::Mlp(i % 2), 0).at(self.g.linears[layer].n)
            };
            self.ops.push(Op::Linear { layer, x: cur, y, m: self.bsz });
            cur = y;
        }
    }

    fn block(&mut self, block: &BlockGeo, pooled: At, x0: At) {
        let bsz = self.bsz;
        let scratch = |i| Pk::new(Buf::Scratch(i), 0);
        match *block {
            BlockGeo::Attention { beh_col, q_col, dim, units, ref layers, col } => {
                // Unit u's rows are plane u (bsz rows) of the two alternating scratch buffers.
                let (mut cur, mut other) = (scratch(0), scratch(1));
                self.ops.push(Op::DinInput { pooled, beh_col, q_col, dim, units, rows: bsz, dst: cur });
                let mut width = 3 * dim;
                for &layer in layers {
                    self.ops.push(Op::UnitGemm { layer, x: cur, y: other, units, rows: bsz });
                    self.ops.push(Op::UnitBiasAct { layer, y: other, units, rows: bsz });
                    std::mem::swap(&mut cur, &mut other);
                    width = self.g.units[layer].n;
                }
                self.ops.push(Op::SumUnits { src: cur, units, rows: bsz, n: width, dst: x0.plus(col) });
            }
            BlockGeo::Rnn { seq_col, steps, dim, ref layers, ref fcs, col } => {
                // Step t's rows are plane t (bsz rows): the sequence and every layer's outputs alternate
                // between scratch 0 and 1; scratch 2 holds the input projections, scratch 3 one step's
                // recurrent product.
                let (mut cur, mut other, ih, hh) = (scratch(0), scratch(1), scratch(2), scratch(3));
                self.ops.push(Op::GatherSteps { pooled, col: seq_col, dim, steps, rows: bsz, dst: cur });
                let mut width = dim;
                for (l, layer) in layers.iter().enumerate() {
                    let (h, sn) = (layer.h, bsz * layer.h);
                    // All steps' input projections at once (steps × bsz rows).
                    self.ops.push(Op::Linear {
                        layer: layer.ih,
                        x: cur.at(width),
                        y: ih.at(h),
                        m: steps * bsz,
                    });
                    for t in 0..steps {
                        let hh = (t > 0).then(|| {
                            let prev = other.plus((t - 1) * sn).at(h);
                            self.ops.push(Op::Linear { layer: layer.hh, x: prev, y: hh.at(h), m: bsz });
                            hh
                        });
                        let (ih, out) = (ih.plus(t * sn), other.plus(t * sn));
                        self.ops.push(Op::RnnStep { bias: layer.bias, ih, hh, out, rows: bsz, h });
                    }
                    if let Some(&fc) = fcs.get(l) {
                        self.ops.push(Op::Linear { layer: fc, x: other.at(h), y: ih.at(h), m: steps * bsz });
                        self.ops.push(Op::SoftmaxAdd { o: other, f: ih, rows: steps * bsz, h });
                    }
                    std::mem::swap(&mut cur, &mut other);
                    width = h;
                }
                let last = cur.plus((steps - 1) * bsz * width).at(width);
                self.ops.push(Op::Copy { src: last, dst: x0.plus(col), rows: bsz, cols: width });
            }
            BlockGeo::Ncf { mf_cols, dim, mlp_cols, mlp_dims, ref mlp, col } => {
                // The two MLP-branch tables side by side in scratch 0, then the branch into x0.
                let a = scratch(0).at(mlp_dims[0] + mlp_dims[1]);
                self.ops.push(Op::Copy {
                    src: pooled.plus(mlp_cols[0]),
                    dst: a,
                    rows: bsz,
                    cols: mlp_dims[0],
                });
                let dst = a.plus(mlp_dims[0]);
                self.ops.push(Op::Copy { src: pooled.plus(mlp_cols[1]), dst, rows: bsz, cols: mlp_dims[1] });
                self.mlp(mlp, a, x0.plus(col + dim));
                let (pa, pb) = (pooled.plus(mf_cols[0]), pooled.plus(mf_cols[1]));
                self.ops.push(Op::AddCols { a: pa, b: pb, dst: x0.plus(col), rows: bsz, cols: dim });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hercules_models::{zoo, ModelPlan, Scale};
    use std::collections::HashMap;

    /// A zoo model's geometry; "mt-wnd-3" is multi-task Wide & Deep with three heads (the zoo's has
    /// one).
    fn geometry(name: &str) -> Geometry {
        let scale = Scale { rows_scale: 0.001, max_rows: Some(2_000) };
        let mut spec = zoo::resolve(name.trim_end_matches("-3")).unwrap();
        if name == "mt-wnd-3" {
            spec.heads.as_mut().unwrap().tasks = 3;
        }
        let plan = ModelPlan::lower(&spec, scale).unwrap();
        Geometry::from_plan(&plan).unwrap()
    }

    /// Replays the program's operands in order: every float an op reads was written before (the
    /// dense input counts as written), and the batch's output rows are written in full. Returns the
    /// first violation.
    fn dataflow(g: &Geometry, prog: &Program) -> std::result::Result<(), String> {
        let mut written: HashMap<Buf, Vec<bool>> = HashMap::new();
        fn marks<'w>(
            w: &'w mut HashMap<Buf, Vec<bool>>,
            g: &Geometry,
            p: &Program,
            b: Buf,
        ) -> &'w mut Vec<bool> {
            w.entry(b).or_insert_with(|| vec![b == Buf::Dense; g.floats(b, p.cap, p.batch)])
        }
        for (i, op) in prog.ops.iter().enumerate() {
            let operands = op.operands(g);
            for (r, u) in &operands {
                if *u == Use::Write {
                    continue;
                }
                let m = marks(&mut written, g, prog, r.at.buf);
                if let Some(row) = (0..r.rows).find(|&row| r.row(row).any(|f| !m[f])) {
                    return Err(format!(
                        "op {i} ({}) reads unwritten floats of {:?} in row {row}",
                        op.name(),
                        r.at.buf
                    ));
                }
            }
            for (r, u) in &operands {
                if *u != Use::Read {
                    let m = marks(&mut written, g, prog, r.at.buf);
                    (0..r.rows).flat_map(|row| r.row(row)).for_each(|f| m[f] = true);
                }
            }
        }
        let out = marks(&mut written, g, prog, Buf::Out);
        match out[..prog.batch * g.out_width].iter().position(|w| !w) {
            Some(f) => Err(format!("output float {f} is never written")),
            None => Ok(()),
        }
    }

    #[test]
    fn every_zoo_program_is_in_bounds_and_reads_only_what_it_wrote() {
        for name in zoo::names().into_iter().chain(["mt-wnd-3"]) {
            let g = geometry(name);
            for (batch, cap) in [(1, 1), (1, 64), (17, 64), (64, 64), (300, 512)] {
                let prog = Program::lower(&g, batch, cap).unwrap_or_else(|e| panic!("{name}: {e}"));
                dataflow(&g, &prog).unwrap_or_else(|e| panic!("{name} batch {batch}: {e}"));
                // Every uploaded layer is launched, so the geometry's upload order has no stray entry.
                let mut used = (
                    vec![false; g.linears.len()],
                    vec![false; g.units.len()],
                    vec![false; g.rnn_biases.len()],
                );
                for op in &prog.ops {
                    match *op {
                        Op::Linear { layer, .. } => used.0[layer] = true,
                        Op::UnitGemm { layer, .. } => used.1[layer] = true,
                        Op::RnnStep { bias, .. } => used.2[bias] = true,
                        _ => {}
                    }
                }
                assert!(
                    used.0.iter().chain(&used.1).chain(&used.2).all(|&u| u),
                    "{name}: an uploaded layer is never used"
                );
                assert_eq!(prog.ops.iter().filter(|o| matches!(o, Op::Tables { .. })).count(), 1, "{name}");
            }
            assert!(
                matches!(Program::lower(&g, 65, 64), Err(GpuError::Invalid(_))),
                "{name}: batch over capacity"
            );
            assert!(Program::lower(&g, 0, 64).is_err(), "{name}: empty batch");
        }
    }

    #[test]
    fn checks_catch_what_a_wrong_lowering_would_do() {
        let g = geometry("dien");
        let good = Program::lower(&g, 8, 8).unwrap();
        let broken = |edit: &dyn Fn(&mut Op) -> bool| {
            let mut p = good.clone();
            assert!(p.ops.iter_mut().any(edit), "nothing to break");
            p
        };
        let err = |p: &Program| p.check(&g).unwrap_err().to_string();
        // One float past the output's last row.
        let p = broken(&|op| match op {
            Op::Linear { y, .. } if y.buf == Buf::Out => {
                y.off += 1;
                true
            }
            _ => false,
        });
        assert!(err(&p).contains("reaches float"), "{}", err(&p));
        // An RNN step writing the projection it reads.
        let p = broken(&|op| match op {
            Op::RnnStep { ih, out, .. } => {
                *out = *ih;
                true
            }
            _ => false,
        });
        assert!(err(&p).contains("overlaps"), "{}", err(&p));
        // Rows wider than their stride.
        let p = broken(&|op| match op {
            Op::Copy { src, .. } => {
                src.ld = 1;
                true
            }
            _ => false,
        });
        assert!(err(&p).contains("apart"), "{}", err(&p));
        // In bounds but out of order: the block reads the pooled tables before the embedding launch.
        let mut p = good.clone();
        let t = p.ops.iter().position(|o| matches!(o, Op::Tables { .. })).unwrap();
        let tables = p.ops.remove(t);
        p.ops.push(tables);
        p.check(&g).unwrap();
        assert!(dataflow(&g, &p).unwrap_err().contains("unwritten"));
        // A head that skips its output columns.
        let g = geometry("mt-wnd-3");
        let mut p = Program::lower(&g, 4, 4).unwrap();
        let last =
            p.ops.iter().rposition(|o| matches!(o, Op::Linear { y, .. } if y.buf == Buf::Out)).unwrap();
        p.ops.remove(last);
        assert!(dataflow(&g, &p).unwrap_err().contains("never written"));
    }

    #[test]
    fn overlap_is_exact_for_strided_regions() {
        let r = |off, ld, rows, cols| At::new(Buf::X0, off, ld).region(rows, cols);
        // Interleaved columns of the same rows: disjoint.
        assert!(!r(0, 10, 5, 4).overlaps(&r(4, 10, 5, 6)));
        assert!(r(0, 10, 5, 5).overlaps(&r(4, 10, 5, 6)));
        // A packed block against one column strip.
        assert!(!r(0, 3, 4, 3).overlaps(&r(12, 10, 3, 2)));
        assert!(r(0, 3, 5, 3).overlaps(&r(12, 10, 3, 2)));
        assert!(r(0, 3, 4, 3).overlaps(&r(11, 10, 3, 2)));
        // A row falling between another's rows, and other buffers.
        assert!(!r(4, 10, 1, 6).overlaps(&r(0, 10, 3, 4)));
        assert!(!r(0, 10, 2, 10).overlaps(&At::new(Buf::Inter, 0, 10).region(2, 10)));
        assert!(!r(0, 10, 0, 10).overlaps(&r(0, 10, 2, 10)));
        // Against a brute-force float set on small random shapes.
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..2000 {
            let mut pick = || {
                let (rows, cols) = (next(4), 1 + next(5));
                r(next(12), cols + next(4), rows, cols)
            };
            let (a, b) = (pick(), pick());
            let floats =
                |x: &Region| (0..x.rows).flat_map(|k| x.row(k)).collect::<std::collections::HashSet<_>>();
            let want = !floats(&a).is_disjoint(&floats(&b));
            assert_eq!(a.overlaps(&b), want, "{a:?} {b:?}");
        }
    }
}
