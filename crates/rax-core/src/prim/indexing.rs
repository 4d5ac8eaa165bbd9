//! Indexing primitives: dynamic_slice, dynamic_update_slice, gather and scatter_add — rule,
//! lowering, kernel and `Tensor` methods side by side, with StableHLO semantics:
//! dynamic start indices are clamped so the slice fits; gather clamps each start index so its
//! slice fits; scatter skips an update window entirely when it does not fit (XLA's behaviour,
//! which JAX's `mode="drop"` relies on). The numpy-like helpers built on them, `take` and
//! `index_add`, are in `numpy::indexing`.
//!
//! Depends on `ir`, `literal`, `lower`, `trace`, `float8` and the layout/elementwise families.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::float8::{f32_to_f8, f8_to_f32, F8Format};
use crate::ir::{GatherDims, Op, ScatterDims};
use crate::literal::{Data, Literal};
use crate::lower::{i64_array, int_list, LowerCtx, V};
use crate::shape::AVal;
use crate::trace::{apply1, Tensor};
use half::{bf16, f16};

use super::layout::{ravel, remap, unravel};

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

fn need(op: &str, ins: &[AVal], n: usize) -> Result<()> {
    if ins.len() < n {
        return Err(Error::arg(
            op,
            format!("takes at least {n} operands, got {}", ins.len()),
        ));
    }
    Ok(())
}

/// Start indices of dynamic slices: one scalar per operand dim, all of one integer dtype.
fn check_starts(op: &str, x: &AVal, starts: &[AVal]) -> Result<()> {
    if starts.len() != x.rank() {
        return Err(Error::arg(
            op,
            format!("needs one start index per dim of {x}, got {}", starts.len()),
        ));
    }
    for (i, s) in starts.iter().enumerate() {
        if !s.dtype.is_int() {
            return Err(Error::dtype(op, s.dtype, "integer start indices"));
        }
        if s.rank() != 0 {
            return Err(Error::shape(
                op,
                format!("start index {i} must be a scalar, got {s}"),
                starts,
            ));
        }
        if s.dtype != starts[0].dtype {
            return Err(Error::DTypeMismatch {
                op: op.into(),
                lhs: starts[0].dtype,
                rhs: s.dtype,
                site: None,
            });
        }
    }
    Ok(())
}

fn check_sorted_unique(op: &str, what: &str, v: &[usize], bound: usize) -> Result<()> {
    for (i, &d) in v.iter().enumerate() {
        if d >= bound {
            return Err(Error::arg(
                op,
                format!("{what} {v:?}: {d} is out of range for rank {bound}"),
            ));
        }
        if i > 0 && v[i - 1] >= d {
            return Err(Error::arg(
                op,
                format!("{what} {v:?} must be sorted and unique"),
            ));
        }
    }
    Ok(())
}

fn check_unique(op: &str, what: &str, v: &[usize], bound: usize) -> Result<()> {
    for (i, &d) in v.iter().enumerate() {
        if d >= bound {
            return Err(Error::arg(
                op,
                format!("{what} {v:?}: {d} is out of range for rank {bound}"),
            ));
        }
        if v[..i].contains(&d) {
            return Err(Error::arg(op, format!("{what} {v:?} repeats {d}")));
        }
    }
    Ok(())
}

/// Checks of the index operand shared by gather and scatter; returns the batch shape (the
/// indices' dims without the index vector dim) and the index vector length.
#[allow(clippy::too_many_arguments)]
fn check_indices(
    op: &str,
    x: &AVal,
    idx: &AVal,
    ivd: usize,
    x_batching: &[usize],
    idx_batching: &[usize],
    start_map: &[usize],
    start_map_name: &str,
) -> Result<Vec<usize>> {
    let ops = [x.clone(), idx.clone()];
    if !idx.dtype.is_int() {
        return Err(Error::dtype(op, idx.dtype, "integer indices"));
    }
    let ir = idx.rank();
    if ivd > ir {
        return Err(Error::arg(
            op,
            format!("index_vector_dim {ivd} is out of range for indices of rank {ir}"),
        ));
    }
    check_unique(op, "indices batching dims", idx_batching, ir)?;
    if idx_batching.contains(&ivd) {
        return Err(Error::arg(
            op,
            format!("index_vector_dim {ivd} cannot be an indices batching dim"),
        ));
    }
    if x_batching.len() != idx_batching.len() {
        return Err(Error::arg(
            op,
            format!(
                "operand batching dims {x_batching:?} and indices batching dims {idx_batching:?} differ in length"
            ),
        ));
    }
    for (&a, &b) in x_batching.iter().zip(idx_batching) {
        if x.dims()[a] != idx.dims()[b] {
            return Err(Error::shape(
                op,
                format!(
                    "operand batching dim {a} ({}) and indices batching dim {b} ({}) differ",
                    x.dims()[a],
                    idx.dims()[b]
                ),
                &ops,
            ));
        }
    }
    let vec_len = if ivd < ir { idx.dims()[ivd] } else { 1 };
    if start_map.len() != vec_len {
        return Err(Error::shape(
            op,
            format!(
                "{start_map_name} {start_map:?} needs {vec_len} entries (the index vector length)"
            ),
            &ops,
        ));
    }
    check_unique(op, start_map_name, start_map, x.rank())?;
    if let Some(d) = start_map.iter().find(|d| x_batching.contains(d)) {
        return Err(Error::arg(
            op,
            format!("{start_map_name} {start_map:?} contains batching dim {d}"),
        ));
    }
    Ok((0..ir)
        .filter(|&d| d != ivd)
        .map(|d| idx.dims()[d])
        .collect())
}

/// The gather rule (StableHLO constraints C1-C22 of `gather`).
fn gather_rule(x: &AVal, idx: &AVal, g: &GatherDims) -> Result<AVal> {
    let op = "gather";
    let r = x.rank();
    check_sorted_unique(op, "collapsed_slice_dims", &g.collapsed_slice_dims, r)?;
    check_sorted_unique(op, "operand_batching_dims", &g.operand_batching_dims, r)?;
    if let Some(d) = g
        .collapsed_slice_dims
        .iter()
        .find(|d| g.operand_batching_dims.contains(d))
    {
        return Err(Error::arg(
            op,
            format!("dim {d} is both collapsed and an operand batching dim"),
        ));
    }
    let batch = check_indices(
        op,
        x,
        idx,
        g.index_vector_dim,
        &g.operand_batching_dims,
        &g.start_indices_batching_dims,
        &g.start_index_map,
        "start_index_map",
    )?;
    if g.slice_sizes.len() != r {
        return Err(Error::arg(
            op,
            format!(
                "slice_sizes {:?} must have one entry per dim of {x}",
                g.slice_sizes
            ),
        ));
    }
    for (d, (&s, &n)) in g.slice_sizes.iter().zip(x.dims()).enumerate() {
        if s > n {
            return Err(Error::shape(
                op,
                format!("slice size {s} exceeds operand dim {d} ({n})"),
                &[x.clone(), idx.clone()],
            ));
        }
    }
    for &d in g
        .collapsed_slice_dims
        .iter()
        .chain(&g.operand_batching_dims)
    {
        if g.slice_sizes[d] > 1 {
            return Err(Error::arg(
                op,
                format!(
                    "slice size of collapsed/batching dim {d} must be <= 1, got {}",
                    g.slice_sizes[d]
                ),
            ));
        }
    }
    let offset_sizes: Vec<usize> = (0..r)
        .filter(|d| !g.collapsed_slice_dims.contains(d) && !g.operand_batching_dims.contains(d))
        .map(|d| g.slice_sizes[d])
        .collect();
    if offset_sizes.len() != g.offset_dims.len() {
        return Err(Error::arg(
            op,
            format!(
                "operand rank {r} must equal #offset_dims ({}) + #collapsed_slice_dims ({}) + #operand_batching_dims ({})",
                g.offset_dims.len(),
                g.collapsed_slice_dims.len(),
                g.operand_batching_dims.len()
            ),
        ));
    }
    let out_rank = batch.len() + offset_sizes.len();
    check_sorted_unique(op, "offset_dims", &g.offset_dims, out_rank)?;
    let (mut bi, mut oi) = (0, 0);
    let out: Vec<usize> = (0..out_rank)
        .map(|d| {
            if g.offset_dims.contains(&d) {
                oi += 1;
                offset_sizes[oi - 1]
            } else {
                bi += 1;
                batch[bi - 1]
            }
        })
        .collect();
    Ok(AVal::new(out, x.dtype))
}

/// The scatter rule (StableHLO constraints of `scatter` with one input).
fn scatter_rule(x: &AVal, idx: &AVal, upd: &AVal, s: &ScatterDims) -> Result<AVal> {
    let op = "scatter_add";
    let ops = [x.clone(), idx.clone(), upd.clone()];
    if x.dtype.is_bool() {
        return Err(Error::dtype(op, x.dtype, "numeric"));
    }
    if upd.dtype != x.dtype {
        return Err(Error::DTypeMismatch {
            op: op.into(),
            lhs: x.dtype,
            rhs: upd.dtype,
            site: None,
        });
    }
    let r = x.rank();
    check_sorted_unique(op, "inserted_window_dims", &s.inserted_window_dims, r)?;
    check_sorted_unique(op, "input_batching_dims", &s.input_batching_dims, r)?;
    if let Some(d) = s
        .inserted_window_dims
        .iter()
        .find(|d| s.input_batching_dims.contains(d))
    {
        return Err(Error::arg(
            op,
            format!("dim {d} is both an inserted window dim and an input batching dim"),
        ));
    }
    let batch = check_indices(
        op,
        x,
        idx,
        s.index_vector_dim,
        &s.input_batching_dims,
        &s.scatter_indices_batching_dims,
        &s.scatter_dims_to_operand_dims,
        "scatter_dims_to_operand_dims",
    )?;
    check_sorted_unique(op, "update_window_dims", &s.update_window_dims, upd.rank())?;
    let window_operand_dims: Vec<usize> = (0..r)
        .filter(|d| !s.inserted_window_dims.contains(d) && !s.input_batching_dims.contains(d))
        .collect();
    if window_operand_dims.len() != s.update_window_dims.len() {
        return Err(Error::arg(
            op,
            format!(
                "operand rank {r} must equal #update_window_dims ({}) + #inserted_window_dims ({}) + #input_batching_dims ({})",
                s.update_window_dims.len(),
                s.inserted_window_dims.len(),
                s.input_batching_dims.len()
            ),
        ));
    }
    if upd.rank() != s.update_window_dims.len() + batch.len() {
        return Err(Error::shape(
            op,
            format!(
                "updates must have rank #update_window_dims + {} (the indices' batch rank)",
                batch.len()
            ),
            &ops,
        ));
    }
    let upd_batch: Vec<usize> = (0..upd.rank())
        .filter(|d| !s.update_window_dims.contains(d))
        .map(|d| upd.dims()[d])
        .collect();
    if upd_batch != batch {
        return Err(Error::shape(
            op,
            format!(
                "updates scatter dims {upd_batch:?} must equal the indices' batch dims {batch:?}"
            ),
            &ops,
        ));
    }
    for (&u, &d) in s.update_window_dims.iter().zip(&window_operand_dims) {
        if upd.dims()[u] > x.dims()[d] {
            return Err(Error::shape(
                op,
                format!(
                    "update window dim {u} ({}) exceeds operand dim {d} ({})",
                    upd.dims()[u],
                    x.dims()[d]
                ),
                &ops,
            ));
        }
    }
    Ok(x.clone())
}

/// The typing rule of the indexing family.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    let name = super::op_name(op);
    let out = match op {
        Op::DynamicSlice { sizes } => {
            need(name, ins, 1)?;
            let x = &ins[0];
            check_starts(name, x, &ins[1..])?;
            if sizes.len() != x.rank() || sizes.iter().zip(x.dims()).any(|(s, d)| s > d) {
                return Err(Error::shape(
                    name,
                    format!(
                        "slice sizes {sizes:?} must have one entry per dim, each <= the operand's"
                    ),
                    std::slice::from_ref(x),
                ));
            }
            AVal::new(sizes.clone(), x.dtype)
        }
        Op::DynamicUpdateSlice => {
            need(name, ins, 2)?;
            let (x, u) = (&ins[0], &ins[1]);
            if u.dtype != x.dtype {
                return Err(Error::DTypeMismatch {
                    op: name.into(),
                    lhs: x.dtype,
                    rhs: u.dtype,
                    site: None,
                });
            }
            if u.rank() != x.rank() || u.dims().iter().zip(x.dims()).any(|(a, b)| a > b) {
                return Err(Error::shape(
                    name,
                    "the update must have the operand's rank and fit inside it",
                    &[x.clone(), u.clone()],
                ));
            }
            check_starts(name, x, &ins[2..])?;
            x.clone()
        }
        Op::Gather(g) => {
            if ins.len() != 2 {
                return Err(Error::arg(
                    name,
                    format!("takes 2 operands, got {}", ins.len()),
                ));
            }
            gather_rule(&ins[0], &ins[1], g)?
        }
        Op::ScatterAdd(s) => {
            if ins.len() != 3 {
                return Err(Error::arg(
                    name,
                    format!("takes 3 operands, got {}", ins.len()),
                ));
            }
            scatter_rule(&ins[0], &ins[1], &ins[2], s)?
        }
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![out])
}

// ---------------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------------

/// `name = [a, b]` when the list is non-empty (the dimension-number printers omit empty lists).
fn dims_field(parts: &mut Vec<String>, name: &str, v: &[usize]) {
    if !v.is_empty() {
        parts.push(format!("{name} = {}", int_list(v)));
    }
}

/// The `#stablehlo.gather<...>` attribute.
pub fn gather_dims_attr(g: &GatherDims) -> String {
    let mut p = Vec::new();
    dims_field(&mut p, "offset_dims", &g.offset_dims);
    dims_field(&mut p, "collapsed_slice_dims", &g.collapsed_slice_dims);
    dims_field(&mut p, "operand_batching_dims", &g.operand_batching_dims);
    dims_field(
        &mut p,
        "start_indices_batching_dims",
        &g.start_indices_batching_dims,
    );
    dims_field(&mut p, "start_index_map", &g.start_index_map);
    p.push(format!("index_vector_dim = {}", g.index_vector_dim));
    format!("#stablehlo.gather<{}>", p.join(", "))
}

/// The `#stablehlo.scatter<...>` attribute.
pub fn scatter_dims_attr(s: &ScatterDims) -> String {
    let mut p = Vec::new();
    dims_field(&mut p, "update_window_dims", &s.update_window_dims);
    dims_field(&mut p, "inserted_window_dims", &s.inserted_window_dims);
    dims_field(&mut p, "input_batching_dims", &s.input_batching_dims);
    dims_field(
        &mut p,
        "scatter_indices_batching_dims",
        &s.scatter_indices_batching_dims,
    );
    dims_field(
        &mut p,
        "scatter_dims_to_operand_dims",
        &s.scatter_dims_to_operand_dims,
    );
    p.push(format!("index_vector_dim = {}", s.index_vector_dim));
    format!("#stablehlo.scatter<{}>", p.join(", "))
}

/// The lowering of the indexing family.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    let out = outs
        .first()
        .cloned()
        .ok_or_else(|| super::unreachable_op(op))?;
    let refs: Vec<&V> = ins.iter().collect();
    let v = match op {
        Op::DynamicSlice { sizes } => cx.op1(
            "stablehlo.dynamic_slice",
            &refs,
            &format!("slice_sizes = {}", i64_array(sizes)),
            out,
        ),
        Op::DynamicUpdateSlice => cx.op1("stablehlo.dynamic_update_slice", &refs, "", out),
        Op::Gather(g) => cx.op1(
            "stablehlo.gather",
            &refs,
            &format!(
                "dimension_numbers = {}, indices_are_sorted = {}, slice_sizes = {}",
                gather_dims_attr(g),
                g.indices_are_sorted,
                i64_array(&g.slice_sizes)
            ),
            out,
        ),
        Op::ScatterAdd(s) => {
            let scalar = AVal::scalar(out.dtype);
            let region = cx.region(&[scalar.clone(), scalar.clone()], |cx, args| {
                Ok(vec![cx.op1(
                    "stablehlo.add",
                    &[&args[0], &args[1]],
                    "",
                    scalar.clone(),
                )])
            })?;
            let attrs = format!(
                "indices_are_sorted = {}, scatter_dimension_numbers = {}, unique_indices = {}",
                s.indices_are_sorted,
                scatter_dims_attr(s),
                s.unique_indices
            );
            cx.op_with_regions("stablehlo.scatter", &refs, &[region], &attrs, &[out])
                .remove(0)
        }
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![v])
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

/// Integer elements as i64 (u32 and u8 fit exactly).
fn int_values(l: &Literal) -> Result<Vec<i64>> {
    Ok(match l.data() {
        Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
        Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
        Data::I64(v) => v.clone(),
        Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
        Data::U32(v) => v.iter().map(|&x| x as i64).collect(),
        _ => return Err(Error::dtype("indexing", l.dtype(), "integer indices")),
    })
}

/// Dynamic start indices clamped to `[0, dim - size]`.
fn clamped_starts(starts: &[&Literal], dims: &[usize], sizes: &[usize]) -> Result<Vec<usize>> {
    starts
        .iter()
        .zip(dims.iter().zip(sizes))
        .map(|(s, (&d, &n))| {
            let v = int_values(s)?.first().copied().unwrap_or(0);
            Ok(v.clamp(0, (d - n) as i64) as usize)
        })
        .collect()
}

fn eval_dynamic_slice(ins: &[&Literal], sizes: &[usize], out: &AVal) -> Result<Literal> {
    let x = ins[0];
    let st = clamped_starts(&ins[1..], x.dims(), sizes)?;
    let xs = x.shape().strides();
    remap(x, out, |idx| {
        (0..idx.len()).map(|i| (st[i] + idx[i]) * xs[i]).sum()
    })
}

fn eval_dynamic_update_slice(ins: &[&Literal], out: &AVal) -> Result<Literal> {
    let (x, u) = (ins[0], ins[1]);
    let st = clamped_starts(&ins[2..], x.dims(), u.dims())?;
    let n = x.numel();
    let both = super::elementwise::concat_data(x.data(), u.data());
    let whole = Literal::new([both.len()], both)?;
    let (xs, us) = (x.shape().strides(), u.shape().strides());
    let ud = u.dims().to_vec();
    remap(&whole, out, |idx| {
        let inside = (0..idx.len()).all(|i| idx[i] >= st[i] && idx[i] < st[i] + ud[i]);
        if inside {
            n + (0..idx.len())
                .map(|i| (idx[i] - st[i]) * us[i])
                .sum::<usize>()
        } else {
            ravel(idx, &xs)
        }
    })
}

/// Reads the index vector at a batch position (`batch` = indices' dims without `ivd`).
struct IndexReader {
    vals: Vec<i64>,
    strides: Vec<usize>,
    ivd: usize,
    rank: usize,
}

impl IndexReader {
    fn new(idx: &Literal, ivd: usize) -> Result<IndexReader> {
        Ok(IndexReader {
            vals: int_values(idx)?,
            strides: idx.shape().strides(),
            ivd,
            rank: idx.dims().len(),
        })
    }

    /// Component `k` of the index vector at batch position `batch`.
    fn get(&self, batch: &[usize], k: usize) -> i64 {
        let mut flat = 0;
        let mut b = 0;
        for d in 0..self.rank {
            let i = if d == self.ivd {
                k
            } else {
                b += 1;
                batch[b - 1]
            };
            flat += i * self.strides[d];
        }
        self.vals[flat]
    }

    /// The position in `batch` of indices dim `d` (which is not the index vector dim).
    fn batch_pos(&self, d: usize) -> usize {
        if d < self.ivd {
            d
        } else {
            d - 1
        }
    }
}

fn eval_gather(x: &Literal, idx: &Literal, g: &GatherDims, out: &AVal) -> Result<Literal> {
    let rd = IndexReader::new(idx, g.index_vector_dim)?;
    let xd = x.dims().to_vec();
    let xs = x.shape().strides();
    let offset_operand_dims: Vec<usize> = (0..xd.len())
        .filter(|d| !g.collapsed_slice_dims.contains(d) && !g.operand_batching_dims.contains(d))
        .collect();
    let mut batch = Vec::new();
    let mut full = vec![0usize; xd.len()];
    remap(x, out, |o| {
        batch.clear();
        batch.extend(
            (0..o.len())
                .filter(|d| !g.offset_dims.contains(d))
                .map(|d| o[d]),
        );
        full.iter_mut().for_each(|f| *f = 0);
        for (k, &d) in g.start_index_map.iter().enumerate() {
            let hi = (xd[d] - g.slice_sizes[d]) as i64;
            full[d] = rd.get(&batch, k).clamp(0, hi) as usize;
        }
        for (&od, &sd) in g
            .operand_batching_dims
            .iter()
            .zip(&g.start_indices_batching_dims)
        {
            full[od] += batch[rd.batch_pos(sd)];
        }
        for (j, &od) in g.offset_dims.iter().enumerate() {
            full[offset_operand_dims[j]] += o[od];
        }
        ravel(&full, &xs)
    })
}

/// `out[r] += upd[u]` for each `(r, u)` in order, in the dtype's arithmetic: integers wrap,
/// 16- and 8-bit floats add in f32 and round once per addition.
fn add_pairs(out: &mut Data, upd: &Data, pairs: &[(usize, usize)]) -> Result<()> {
    macro_rules! each {
        ($o:expr, $u:expr, |$a:ident, $b:ident| $e:expr) => {
            for &(r, k) in pairs {
                let ($a, $b) = ($o[r], $u[k]);
                $o[r] = $e;
            }
        };
    }
    match (out, upd) {
        (Data::I8(o), Data::I8(u)) => each!(o, u, |a, b| a.wrapping_add(b)),
        (Data::I32(o), Data::I32(u)) => each!(o, u, |a, b| a.wrapping_add(b)),
        (Data::I64(o), Data::I64(u)) => each!(o, u, |a, b| a.wrapping_add(b)),
        (Data::U8(o), Data::U8(u)) => each!(o, u, |a, b| a.wrapping_add(b)),
        (Data::U32(o), Data::U32(u)) => each!(o, u, |a, b| a.wrapping_add(b)),
        (Data::F16(o), Data::F16(u)) => {
            each!(o, u, |a, b| f16::from_f32(a.to_f32() + b.to_f32()))
        }
        (Data::BF16(o), Data::BF16(u)) => {
            each!(o, u, |a, b| bf16::from_f32(a.to_f32() + b.to_f32()))
        }
        (Data::F32(o), Data::F32(u)) => each!(o, u, |a, b| a + b),
        (Data::F64(o), Data::F64(u)) => each!(o, u, |a, b| a + b),
        (Data::F8E4M3FN(o), Data::F8E4M3FN(u)) => {
            let f = F8Format::E4M3FN;
            each!(o, u, |a, b| f32_to_f8(f8_to_f32(a, f) + f8_to_f32(b, f), f))
        }
        (Data::F8E5M2(o), Data::F8E5M2(u)) => {
            let f = F8Format::E5M2;
            each!(o, u, |a, b| f32_to_f8(f8_to_f32(a, f) + f8_to_f32(b, f), f))
        }
        (Data::C64(o), Data::C64(u)) => each!(o, u, |a, b| a + b),
        (o, _) => return Err(Error::dtype("scatter_add", o.dtype(), "numeric")),
    }
    Ok(())
}

fn eval_scatter_add(x: &Literal, idx: &Literal, upd: &Literal, s: &ScatterDims) -> Result<Literal> {
    let rd = IndexReader::new(idx, s.index_vector_dim)?;
    let xd = x.dims().to_vec();
    let xs = x.shape().strides();
    let (ud, us) = (upd.dims().to_vec(), upd.shape().strides());
    let window_operand_dims: Vec<usize> = (0..xd.len())
        .filter(|d| !s.inserted_window_dims.contains(d) && !s.input_batching_dims.contains(d))
        .collect();
    let scatter_dims: Vec<usize> = (0..ud.len())
        .filter(|d| !s.update_window_dims.contains(d))
        .collect();
    let batch_shape: Vec<usize> = scatter_dims.iter().map(|&d| ud[d]).collect();
    let window_shape: Vec<usize> = s.update_window_dims.iter().map(|&d| ud[d]).collect();
    // Window extent in each operand dim (1 for inserted and batching dims).
    let mut extent = vec![1usize; xd.len()];
    for (&od, &n) in window_operand_dims.iter().zip(&window_shape) {
        extent[od] = n;
    }
    let n_batch: usize = batch_shape.iter().product();
    let n_window: usize = window_shape.iter().product();
    let mut pairs = Vec::with_capacity(upd.numel());
    let (mut bi, mut wi) = (
        vec![0usize; batch_shape.len()],
        vec![0usize; window_shape.len()],
    );
    let mut start = vec![0i64; xd.len()];
    let mut ui = vec![0usize; ud.len()];
    let mut ri = vec![0usize; xd.len()];
    // Scatter indices in row-major order, each window in row-major order (as XLA's loop).
    for b in 0..n_batch {
        unravel(b, &batch_shape, &mut bi);
        start.iter_mut().for_each(|v| *v = 0);
        for (k, &d) in s.scatter_dims_to_operand_dims.iter().enumerate() {
            start[d] = rd.get(&bi, k);
        }
        for (&od, &sd) in s
            .input_batching_dims
            .iter()
            .zip(&s.scatter_indices_batching_dims)
        {
            start[od] += bi[rd.batch_pos(sd)] as i64;
        }
        // The whole window must fit, or the update is skipped.
        let fits = (0..xd.len())
            .all(|d| start[d] >= 0 && start[d].saturating_add(extent[d] as i64) <= xd[d] as i64);
        if !fits {
            continue;
        }
        for (j, &d) in scatter_dims.iter().enumerate() {
            ui[d] = bi[j];
        }
        for w in 0..n_window {
            unravel(w, &window_shape, &mut wi);
            for d in 0..xd.len() {
                ri[d] = start[d] as usize;
            }
            for (j, (&od, &udim)) in window_operand_dims
                .iter()
                .zip(&s.update_window_dims)
                .enumerate()
            {
                ri[od] += wi[j];
                ui[udim] = wi[j];
            }
            pairs.push((ravel(&ri, &xs), ravel(&ui, &us)));
        }
    }
    let mut data = x.data().clone();
    add_pairs(&mut data, upd.data(), &pairs)?;
    Literal::new(x.shape().clone(), data)
}

/// The interpreter kernels of the indexing family.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let in_avals: Vec<AVal> = ins.iter().map(|l| l.aval()).collect();
    let out = rule(op, &in_avals)?.remove(0);
    let lit = match op {
        Op::DynamicSlice { sizes } => eval_dynamic_slice(ins, sizes, &out)?,
        Op::DynamicUpdateSlice => eval_dynamic_update_slice(ins, &out)?,
        Op::Gather(g) => eval_gather(ins[0], ins[1], g, &out)?,
        Op::ScatterAdd(s) => eval_scatter_add(ins[0], ins[1], ins[2], s)?,
        _ => return Err(super::unreachable_op(op)),
    };
    Ok(vec![lit])
}

// ---------------------------------------------------------------------------------------------
// Tensor API
// ---------------------------------------------------------------------------------------------

/// Python-style wrapping of negative indices: `i < 0 ? i + n : i` (signed dtypes only), as JAX
/// does for `x[idx]`, `x.at[idx]` and `lax.dynamic_slice`.
/// The index arithmetic is done in a dtype wide enough for the axis (`widen_index`), so an i8
/// index on an axis of 300 wraps `-1` to 299, not to a saturated 127.
#[track_caller]
pub(crate) fn wrap_negative(i: &Tensor, n: usize) -> Tensor {
    let i = widen_index(i, n);
    if !i.dtype().is_signed_int() {
        return i;
    }
    let neg = i.lt(&i.scalar_like(0.0));
    Tensor::select(&neg, &i.add(&i.scalar_like(n as f64)), &i)
}

/// `i` converted to i32 (or i64) when its integer dtype cannot hold `n`, the largest index
/// bound of the op (an axis length): clamping and wrapping then never saturate.
#[track_caller]
pub(crate) fn widen_index(i: &Tensor, n: usize) -> Tensor {
    let max = match i.dtype() {
        DType::I8 => i8::MAX as u64,
        DType::U8 => u8::MAX as u64,
        DType::I32 => i32::MAX as u64,
        DType::U32 => u32::MAX as u64,
        _ => return i.clone(),
    };
    if (n as u64) <= max {
        return i.clone();
    }
    if n as u64 <= i32::MAX as u64 && i.dtype() != DType::U32 {
        i.cast(DType::I32)
    } else {
        i.cast(DType::I64)
    }
}

/// The dimension numbers JAX uses for `x[:, ..., idx]` along `axis` (indices of rank `ir`,
/// expanded with a trailing index vector dim), operand of rank `r`: output dims before `axis`
/// and after `axis + ir` are the slice (offset) dims.
pub(crate) fn axis_offset_dims(r: usize, ir: usize, axis: usize) -> Vec<usize> {
    (0..axis).chain(axis + ir..r - 1 + ir).collect()
}

impl Tensor {
    /// `lax.dynamic_slice`: a slice of static `sizes` at dynamic scalar integer `starts` (one per
    /// dim). Negative starts count from the end (like JAX); starts are then clamped so that the
    /// slice fits (StableHLO).
    #[track_caller]
    pub fn dynamic_slice(&self, starts: &[Tensor], sizes: &[usize]) -> Tensor {
        let dims = self.dims();
        let st: Vec<Tensor> = starts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                // One index dtype for all starts, wide enough for the largest dim.
                let s = widen_index(s, dims.iter().copied().max().unwrap_or(0));
                wrap_negative(&s, dims.get(i).copied().unwrap_or(0))
            })
            .collect();
        let mut ins = vec![self];
        ins.extend(st.iter());
        apply1(
            Op::DynamicSlice {
                sizes: sizes.to_vec(),
            },
            &ins,
            CallSite::here(),
        )
    }

    /// `lax.dynamic_update_slice`: writes `update` at dynamic scalar `starts` (negative count
    /// from the end; then clamped so that the update fits).
    #[track_caller]
    pub fn dynamic_update_slice(&self, update: &Tensor, starts: &[Tensor]) -> Tensor {
        let dims = self.dims();
        let st: Vec<Tensor> = starts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                // One index dtype for all starts, wide enough for the largest dim.
                let s = widen_index(s, dims.iter().copied().max().unwrap_or(0));
                wrap_negative(&s, dims.get(i).copied().unwrap_or(0))
            })
            .collect();
        let mut ins = vec![self, update];
        ins.extend(st.iter());
        apply1(Op::DynamicUpdateSlice, &ins, CallSite::here())
    }

    /// StableHLO `gather` with full dimension numbers; start indices are clamped so each slice
    /// fits in the operand.
    #[track_caller]
    pub fn gather(&self, indices: &Tensor, dims: &GatherDims) -> Tensor {
        let n = self.dims().into_iter().max().unwrap_or(0);
        let i = widen_index(indices, n);
        apply1(Op::Gather(dims.clone()), &[self, &i], CallSite::here())
    }

    /// StableHLO `scatter` with an add combiner: `updates` windows are added into a copy of
    /// `self`; a window that does not fit entirely is skipped.
    #[track_caller]
    pub fn scatter_add(&self, indices: &Tensor, updates: &Tensor, dims: &ScatterDims) -> Tensor {
        let n = self.dims().into_iter().max().unwrap_or(0);
        let i = widen_index(indices, n);
        apply1(
            Op::ScatterAdd(dims.clone()),
            &[self, &i, updates],
            CallSite::here(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// VJP rules
// ---------------------------------------------------------------------------------------------

/// The VJP rules of the indexing family: dynamic_slice scatters its cotangent into zeros with
/// dynamic_update_slice (same clamped start); dynamic_update_slice splits its cotangent into the
/// part outside the update and the slice under it; gather's cotangent is a scatter-add of the
/// output cotangent, scatter-add's update cotangent a gather of it (JAX's rules). Index
/// operands get no cotangent.
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    _outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    use crate::autodiff::{op1, zeros_like};
    let Some(Some(g)) = cts.first() else {
        return Ok(vec![None; ins.len()]);
    };
    let x = ins.first().ok_or_else(|| super::unreachable_op(op))?;
    let mut r: Vec<Option<Tensor>> = vec![None; ins.len()];
    match op {
        Op::DynamicSlice { .. } => {
            let z = zeros_like(x);
            let mut args: Vec<&Tensor> = vec![&z, g];
            args.extend(ins[1..].iter());
            r[0] = Some(op1(Op::DynamicUpdateSlice, &args));
        }
        Op::DynamicUpdateSlice => {
            let u = ins.get(1).ok_or_else(|| super::unreachable_op(op))?;
            let zu = zeros_like(u);
            let mut args: Vec<&Tensor> = vec![g, &zu];
            args.extend(ins[2..].iter());
            r[0] = Some(op1(Op::DynamicUpdateSlice, &args));
            let mut sargs: Vec<&Tensor> = vec![g];
            sargs.extend(ins[2..].iter());
            r[1] = Some(op1(Op::DynamicSlice { sizes: u.dims() }, &sargs));
        }
        Op::Gather(d) => {
            let idx = ins.get(1).ok_or_else(|| super::unreachable_op(op))?;
            let sd = ScatterDims {
                update_window_dims: d.offset_dims.clone(),
                inserted_window_dims: d.collapsed_slice_dims.clone(),
                input_batching_dims: d.operand_batching_dims.clone(),
                scatter_indices_batching_dims: d.start_indices_batching_dims.clone(),
                scatter_dims_to_operand_dims: d.start_index_map.clone(),
                index_vector_dim: d.index_vector_dim,
                indices_are_sorted: d.indices_are_sorted,
                unique_indices: false,
            };
            let z = zeros_like(x);
            r[0] = Some(op1(Op::ScatterAdd(sd), &[&z, idx, g]));
        }
        Op::ScatterAdd(s) => {
            let (idx, upd) = match (ins.get(1), ins.get(2)) {
                (Some(i), Some(u)) => (i, u),
                _ => return Err(super::unreachable_op(op)),
            };
            r[0] = Some(g.clone());
            let ud = upd.dims();
            let mut slice_sizes = Vec::new();
            let mut pos = 0;
            for i in 0..x.rank() {
                if s.inserted_window_dims.contains(&i) || s.input_batching_dims.contains(&i) {
                    slice_sizes.push(1);
                } else {
                    slice_sizes.push(ud[s.update_window_dims[pos]]);
                    pos += 1;
                }
            }
            let gd = GatherDims {
                offset_dims: s.update_window_dims.clone(),
                collapsed_slice_dims: s.inserted_window_dims.clone(),
                operand_batching_dims: s.input_batching_dims.clone(),
                start_indices_batching_dims: s.scatter_indices_batching_dims.clone(),
                start_index_map: s.scatter_dims_to_operand_dims.clone(),
                index_vector_dim: s.index_vector_dim,
                slice_sizes,
                indices_are_sorted: s.indices_are_sorted,
            };
            r[2] = Some(op1(Op::Gather(gd), &[g, idx]));
        }
        _ => return Err(super::unreachable_op(op)),
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Batching rule (vmap)
// ---------------------------------------------------------------------------------------------

/// The batching rule of the indexing family: no vectorised rule yet (JAX's would fold the
/// batch into the gather/scatter batching dims); every op loops over the batch.
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<Tensor>> {
    match op {
        Op::DynamicSlice { .. } | Op::DynamicUpdateSlice | Op::Gather(_) | Op::ScatterAdd(_) => {
            bx.loop_over(op)
        }
        _ => Err(super::unreachable_op(op)),
    }
}
