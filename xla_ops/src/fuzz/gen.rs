//! Random programs for the differential fuzzer: a program is a list of input types and values
//! and a list of [`Step`]s, each applying one primitive family (through the public `Tensor`
//! API) to earlier values of the pool. Steps are drawn at random with parameters that are
//! usually valid and sometimes not; every candidate is first traced alone on its operands'
//! types, so an ill-typed one is caught (it must be an error, never a panic) and left out of
//! the program, which stays well-typed.
//!
//! Everything is a pure function of the seed, so a program can be replayed and shrunk.

use super::Rng;
use rax_core::ir::{BinaryOp, CmpDir, Op, ReduceKind, UnaryOp};
use rax_core::{AVal, CallSite, DType, Literal, Tensor};

/// One primitive application; operands are indices into the value pool (inputs first).
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Step {
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    /// A weakly typed Rust scalar operand (`x op v`, or `v op x` when the flag is set).
    Scalar(BinaryOp, usize, f64, bool),
    Compare(CmpDir, usize, usize),
    Select(usize, usize, usize),
    Clamp(usize, usize, usize),
    Convert(usize, DType),
    Bitcast(usize, DType),
    Reshape(usize, Vec<usize>),
    Transpose(usize, Vec<usize>),
    Slice(usize, Vec<usize>, Vec<usize>, Vec<usize>),
    Concat(Vec<usize>, usize),
    Pad(usize, Vec<i64>, Vec<i64>, Vec<usize>),
    Reverse(usize, Vec<usize>),
    Broadcast(usize, Vec<usize>),
    Reduce(ReduceKind, usize, Vec<usize>),
    Arg(bool, usize, usize),
    Cumulative(ReduceKind, usize, usize, bool),
    Matmul(usize, usize),
    Sort(usize, usize, bool),
    TopK(usize, usize),
    DynSlice(usize, Vec<i64>, DType, Vec<usize>),
    DynUpdate(usize, usize, Vec<i64>, DType),
    Take(usize, Vec<i64>, DType, usize),
    IndexAdd(usize, usize, Vec<i64>, DType, usize),
    Iota(Vec<usize>, usize, DType),
    /// A counted `while_loop` of `n` iterations whose body maps the carry elementwise.
    While(usize, i32),
    /// `cond` on `sum(x) > 0` (or `any` for bool) between two elementwise branches.
    Cond(usize),
    /// `scan` over the leading axis: running sum as carry, `carry * x` as ys.
    Scan(usize),
    Fft(usize),
}

impl Step {
    /// The step's operand slots (indices into the value pool), in order.
    fn operand_slots(&mut self) -> Vec<&mut usize> {
        use Step::*;
        match self {
            Unary(_, a)
            | Scalar(_, a, _, _)
            | Convert(a, _)
            | Bitcast(a, _)
            | Reshape(a, _)
            | Transpose(a, _)
            | Slice(a, ..)
            | Pad(a, ..)
            | Reverse(a, _)
            | Broadcast(a, _)
            | Reduce(_, a, _)
            | Arg(_, a, _)
            | Cumulative(_, a, ..)
            | Sort(a, ..)
            | TopK(a, _)
            | DynSlice(a, ..)
            | Take(a, ..)
            | While(a, _)
            | Cond(a)
            | Scan(a)
            | Fft(a) => vec![a],
            Binary(_, a, b)
            | Compare(_, a, b)
            | Matmul(a, b)
            | DynUpdate(a, b, ..)
            | IndexAdd(a, b, ..) => vec![a, b],
            Select(a, b, c) | Clamp(a, b, c) => vec![a, b, c],
            Concat(v, _) => v.iter_mut().collect(),
            Iota(..) => vec![],
        }
    }

    /// The pool values the step reads.
    pub fn operands(&self) -> Vec<usize> {
        self.clone()
            .operand_slots()
            .into_iter()
            .map(|a| *a)
            .collect()
    }

    /// The step with its operands renumbered by `map`.
    pub fn remap(&self, map: &dyn Fn(usize) -> usize) -> Step {
        let mut s = self.clone();
        for a in s.operand_slots() {
            *a = map(*a);
        }
        s
    }

    /// True for steps whose float results sum many products or terms (their rounding depends
    /// on the order of accumulation, which backends choose freely).
    pub fn accumulates(&self) -> bool {
        matches!(
            self,
            Step::Reduce(ReduceKind::Sum | ReduceKind::Prod, ..)
                | Step::Cumulative(ReduceKind::Sum | ReduceKind::Prod, ..)
                | Step::Matmul(..)
                | Step::Scan(..)
                | Step::IndexAdd(..)
                | Step::Fft(..)
                | Step::While(..)
        )
    }
}

fn lit_index(v: &[i64], d: DType) -> Tensor {
    match Literal::from_f64s(
        [v.len()],
        d,
        &v.iter().map(|&x| x as f64).collect::<Vec<_>>(),
    ) {
        Ok(l) => Tensor::from_literal(l),
        Err(e) => Tensor::poison(AVal::new([v.len()], d), e),
    }
}

fn scalar_index(v: i64, d: DType) -> Tensor {
    Tensor::scalar_of(v as f64, d)
}

/// The elementwise map a loop or branch applies: stays in the dtype, defined everywhere.
fn wiggle(x: &Tensor, k: u32) -> Tensor {
    let d = x.dtype();
    if d == DType::Bool {
        return x.logical_not();
    }
    if d.is_int() {
        return if k.is_multiple_of(2) {
            x.neg()
        } else {
            x.abs()
        };
    }
    match k % 3 {
        0 => x.sin(),
        1 => x.tanh(),
        _ => x.neg(),
    }
}

/// Applies a step to the pool (traced or concrete tensors); results are appended by the caller.
pub fn apply(step: &Step, pool: &[Tensor]) -> Vec<Tensor> {
    use Step::*;
    let site = CallSite::here();
    let p = |i: usize| pool[i].clone();
    match step {
        Unary(u, a) => vec![rax_core::trace::apply1(Op::Unary(*u), &[&p(*a)], site)],
        Binary(b, x, y) => vec![rax_core::trace::apply1(
            Op::Binary(*b),
            &[&p(*x), &p(*y)],
            site,
        )],
        Scalar(b, x, v, left) => {
            let x = p(*x);
            let s = Tensor::scalar_for("fuzz scalar", *v, x.dtype()).broadcast_to(&x.dims());
            let (l, r) = if *left { (s, x) } else { (x, s) };
            vec![rax_core::trace::apply1(Op::Binary(*b), &[&l, &r], site)]
        }
        Compare(c, x, y) => vec![rax_core::trace::apply1(
            Op::Compare(*c),
            &[&p(*x), &p(*y)],
            site,
        )],
        Select(c, x, y) => vec![Tensor::select(&p(*c), &p(*x), &p(*y))],
        Clamp(x, lo, hi) => vec![p(*x).clamp(&p(*lo), &p(*hi))],
        Convert(x, d) => vec![rax_core::trace::apply1(Op::Convert(*d), &[&p(*x)], site)],
        Bitcast(x, d) => vec![p(*x).bitcast(*d)],
        Reshape(x, s) => vec![p(*x).reshape(s)],
        Transpose(x, perm) => vec![p(*x).transpose(perm)],
        Slice(x, lo, hi, st) => vec![p(*x).slice(lo, hi, st)],
        Concat(xs, axis) => vec![Tensor::concat(
            &xs.iter().map(|&i| p(i)).collect::<Vec<_>>(),
            *axis,
        )],
        Pad(x, lo, hi, interior) => {
            let x = p(*x);
            let v = Tensor::zeros(&[], x.dtype());
            vec![x.pad(&v, lo, hi, interior)]
        }
        Reverse(x, axes) => vec![p(*x).reverse(axes)],
        Broadcast(x, s) => vec![p(*x).broadcast_to(s)],
        Reduce(k, x, axes) => vec![p(*x).reduce(*k, axes)],
        Arg(is_max, x, axis) => vec![if *is_max {
            p(*x).argmax(*axis)
        } else {
            p(*x).argmin(*axis)
        }],
        Cumulative(k, x, axis, rev) => vec![p(*x).cumulative(*k, *axis, *rev)],
        Matmul(x, y) => vec![p(*x).matmul(&p(*y))],
        Sort(x, axis, desc) => vec![p(*x).sort(*axis, *desc)],
        TopK(x, k) => {
            let (v, i) = p(*x).top_k(*k);
            vec![v, i]
        }
        DynSlice(x, starts, d, sizes) => {
            let st: Vec<Tensor> = starts.iter().map(|&s| scalar_index(s, *d)).collect();
            vec![p(*x).dynamic_slice(&st, sizes)]
        }
        DynUpdate(x, u, starts, d) => {
            let st: Vec<Tensor> = starts.iter().map(|&s| scalar_index(s, *d)).collect();
            vec![p(*x).dynamic_update_slice(&p(*u), &st)]
        }
        Take(x, idx, d, axis) => vec![p(*x).take(&lit_index(idx, *d), *axis)],
        IndexAdd(x, u, idx, d, axis) => vec![p(*x).index_add(*axis, &lit_index(idx, *d), &p(*u))],
        Iota(s, dim, d) => vec![Tensor::iota(s, *dim, *d)],
        While(x, n) => {
            let n = *n;
            let init = [Tensor::scalar_of(0.0, DType::I32), p(*x)];
            let out = rax_core::while_loop(
                &init,
                |c| c[0].lt(&Tensor::scalar_of(n as f64, DType::I32)),
                |c| vec![&c[0] + 1, wiggle(&c[1], 0)],
            );
            vec![out[1].clone()]
        }
        Cond(x) => {
            let x = p(*x);
            let pred = if x.dtype() == DType::Bool {
                x.reduce(ReduceKind::Or, &(0..x.rank()).collect::<Vec<_>>())
            } else {
                let s = x.cast(DType::F32).sum_all();
                s.gt(&s.scalar_like(0.0))
            };

            rax_core::cond(
                &pred,
                |o| vec![wiggle(&o[0], 1)],
                |o| vec![wiggle(&o[0], 2)],
                &[x],
            )
        }
        Scan(x) => {
            let x = p(*x);
            let row: Vec<usize> = x.dims().into_iter().skip(1).collect();
            let init = [Tensor::zeros(&row, x.dtype())];
            let (c, ys) = rax_core::scan(
                |c, xs| {
                    let next = if x.dtype() == DType::Bool {
                        c[0].or(&xs[0])
                    } else {
                        &c[0] + &xs[0]
                    };
                    let y = if x.dtype() == DType::Bool {
                        next.and(&xs[0])
                    } else {
                        &next * &xs[0]
                    };
                    (vec![next], vec![y])
                },
                &init,
                std::slice::from_ref(&x),
                None,
                false,
            );
            // On an error (e.g. a scalar operand) the ys count is unknown: the poisoned carry
            // alone reports it.
            let mut v = c;
            v.extend(ys);
            v
        }
        Fft(x) => vec![p(*x).fft()],
    }
}

const UNARY: &[UnaryOp] = &[
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sign,
    UnaryOp::Exp,
    UnaryOp::Expm1,
    UnaryOp::Log,
    UnaryOp::Log1p,
    UnaryOp::Sqrt,
    UnaryOp::Rsqrt,
    UnaryOp::Tanh,
    UnaryOp::Logistic,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Erf,
    UnaryOp::ErfInv,
    UnaryOp::Floor,
    UnaryOp::Ceil,
    UnaryOp::Round,
    UnaryOp::IsFinite,
    UnaryOp::Not,
    UnaryOp::Real,
    UnaryOp::Imag,
];

const BINARY: &[BinaryOp] = &[
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
    BinaryOp::Pow,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::Atan2,
    BinaryOp::And,
    BinaryOp::Or,
    BinaryOp::Xor,
    BinaryOp::ShiftLeft,
    BinaryOp::ShiftRightLogical,
    BinaryOp::ShiftRightArithmetic,
];

const CMP: &[CmpDir] = &[
    CmpDir::Eq,
    CmpDir::Ne,
    CmpDir::Lt,
    CmpDir::Le,
    CmpDir::Gt,
    CmpDir::Ge,
];

const REDUCE: &[ReduceKind] = &[
    ReduceKind::Sum,
    ReduceKind::Prod,
    ReduceKind::Max,
    ReduceKind::Min,
    ReduceKind::And,
    ReduceKind::Or,
];

/// A random shape: rank 0..=3, dims 0..=5 (a zero dim now and then).
pub fn shape(r: &mut Rng) -> Vec<usize> {
    let rank = r.below(4);
    (0..rank)
        .map(|_| if r.chance(0.06) { 0 } else { 1 + r.below(5) })
        .collect()
}

/// A random dtype: every dtype rax has, the common ones more often.
pub fn dtype(r: &mut Rng) -> DType {
    const COMMON: &[DType] = &[DType::F32, DType::F32, DType::I32, DType::BF16, DType::F16];
    if r.chance(0.5) {
        r.pick(COMMON)
    } else {
        r.pick(&DType::ALL)
    }
}

fn float_max(d: DType) -> f64 {
    match d {
        DType::F16 => 65504.0,
        DType::BF16 => 3.3895313892515355e38,
        DType::F32 | DType::C64 => f32::MAX as f64,
        DType::F64 => f64::MAX,
        DType::F8E4M3FN => 448.0,
        DType::F8E5M2 => 57344.0,
        _ => 0.0,
    }
}

fn float_tiny(d: DType) -> f64 {
    // The smallest positive subnormal of each format.
    match d {
        DType::F16 => 2f64.powi(-24),
        DType::BF16 => 2f64.powi(-133),
        DType::F32 | DType::C64 => 2f64.powi(-149),
        DType::F64 => 5e-324,
        DType::F8E4M3FN => 2f64.powi(-9),
        DType::F8E5M2 => 2f64.powi(-16),
        _ => 0.0,
    }
}

fn int_range(d: DType) -> (f64, f64) {
    match d {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        DType::I64 => (-9.2e18, 9.2e18),
        _ => (0.0, 1.0),
    }
}

/// One random element of a dtype: usually ordinary, sometimes an edge value (signed zeros,
/// extremes, subnormals, infinities, NaN, integer limits) when `edges` is set.
pub fn element(r: &mut Rng, d: DType, edges: bool) -> f64 {
    if d == DType::Bool {
        return r.below(2) as f64;
    }
    if d.is_int() {
        let (lo, hi) = int_range(d);
        if edges && r.chance(0.2) {
            return r.pick(&[lo, hi, 0.0, 1.0, lo + 1.0, hi - 1.0]).max(lo);
        }
        let v = r.below(21) as f64 - 10.0;
        return v.clamp(lo, hi);
    }
    if edges && r.chance(0.2) {
        let m = float_max(d);
        let t = float_tiny(d);
        return r.pick(&[
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            m,
            -m,
            t,
            -t,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]);
    }
    // Ordinary values: quarters in [-4, 4] (exact in every float format but f8).
    (r.below(33) as f64 - 16.0) / 4.0
}

/// A random literal of an abstract value.
pub fn literal(r: &mut Rng, a: &AVal, edges: bool) -> Literal {
    let n = a.shape.numel();
    if a.dtype == DType::C64 {
        let mut bytes = Vec::with_capacity(8 * n);
        for _ in 0..2 * n {
            bytes.extend_from_slice(&(element(r, DType::F32, edges) as f32).to_le_bytes());
        }
        return Literal::from_bytes(a, &bytes).unwrap_or_else(|_| Literal::zeros(a));
    }
    let v: Vec<f64> = (0..n).map(|_| element(r, a.dtype, edges)).collect();
    if a.dtype.is_int() {
        // Through i64 so that large integers are exact (f64 -> u32/i64 converts exactly here).
        let l = Literal::from_vec(
            a.shape.clone(),
            v.iter().map(|&x| x as i64).collect::<Vec<_>>(),
        );
        return l
            .map(|l| l.convert(a.dtype))
            .unwrap_or_else(|_| Literal::zeros(a));
    }
    Literal::from_f64s(a.shape.clone(), a.dtype, &v).unwrap_or_else(|_| Literal::zeros(a))
}

fn axis(r: &mut Rng, rank: usize) -> usize {
    // Now and then one past the end (ill-typed).
    if r.chance(0.08) {
        rank
    } else {
        r.below(rank.max(1))
    }
}

fn factor_shape(r: &mut Rng, n: usize) -> Vec<usize> {
    if n == 0 {
        return vec![0, 1 + r.below(3)];
    }
    let mut dims = Vec::new();
    let mut rest = n;
    for f in [2usize, 3, 5, 7] {
        while rest.is_multiple_of(f) && r.chance(0.6) {
            dims.push(f);
            rest /= f;
        }
    }
    if rest > 1 {
        dims.push(rest);
    }
    let pos = r.below(dims.len() + 1);
    dims.insert(pos, 1);
    if r.chance(0.5) {
        dims.retain(|&d| d != 1 || r.chance(0.5));
    }
    // Merge everything left over so that the product is n.
    let p: usize = dims.iter().product();
    if p != n {
        return vec![n];
    }
    dims
}

fn indices(r: &mut Rng, n: usize, len: usize) -> Vec<i64> {
    (0..len)
        .map(|_| {
            let n = n as i64;
            match r.below(6) {
                0 => -(r.below(n.max(1) as usize) as i64) - 1, // negative, from the end
                1 => n + r.below(3) as i64,                    // out of range (clamped)
                _ => r.below(n.max(1) as usize) as i64,
            }
        })
        .collect()
}

fn index_dtype(r: &mut Rng) -> DType {
    r.pick(&[
        DType::I32,
        DType::I32,
        DType::I8,
        DType::U8,
        DType::I64,
        DType::U32,
    ])
}

/// Draws a candidate step over the pool's types (it may be ill-typed).
pub fn step(r: &mut Rng, pool: &[AVal]) -> Step {
    let n = pool.len();
    let a = r.below(n);
    let av = &pool[a];
    let rank = av.rank();
    let dims = av.dims().to_vec();
    // A second operand: usually of the same type (well-typed), else any value.
    let partner = |r: &mut Rng, want: &AVal| -> usize {
        let same: Vec<usize> = (0..n).filter(|&i| &pool[i] == want).collect();
        if !same.is_empty() && r.chance(0.85) {
            r.pick(&same)
        } else {
            r.below(n)
        }
    };
    match r.below(31) {
        0..=3 => Step::Unary(r.pick(UNARY), a),
        4..=7 => {
            let b = partner(r, av);
            Step::Binary(r.pick(BINARY), a, b)
        }
        8 => {
            let v = element(r, av.dtype, true);
            let v = if r.chance(0.2) { v + 0.5 } else { v };
            Step::Scalar(r.pick(&BINARY[..8]), a, v, r.chance(0.3))
        }
        9 => {
            let b = partner(r, av);
            Step::Compare(r.pick(CMP), a, b)
        }
        10 => {
            let want = AVal::new(dims.clone(), DType::Bool);
            let c = partner(r, &want);
            let b = partner(r, av);
            Step::Select(c, a, b)
        }
        11 => {
            let lo = partner(r, av);
            let hi = partner(r, av);
            Step::Clamp(a, lo, hi)
        }
        12 => Step::Convert(a, dtype(r)),
        13 => Step::Bitcast(a, dtype(r)),
        14 => {
            let s = if r.chance(0.1) {
                shape(r)
            } else {
                factor_shape(r, av.shape.numel())
            };
            Step::Reshape(a, s)
        }
        15 => {
            let mut perm: Vec<usize> = (0..rank).collect();
            for i in (1..perm.len()).rev() {
                let j = r.below(i + 1);
                perm.swap(i, j);
            }
            if r.chance(0.08) && rank > 0 {
                perm[0] = rank;
            }
            Step::Transpose(a, perm)
        }
        16 => {
            let mut lo = Vec::new();
            let mut hi = Vec::new();
            let mut st = Vec::new();
            for &d in &dims {
                let s = r.below(d + 1);
                let e = s + r.below(d - s + 1);
                lo.push(s);
                hi.push(if r.chance(0.05) { d + 1 } else { e });
                st.push(1 + r.below(2));
            }
            Step::Slice(a, lo, hi, st)
        }
        17 => {
            let b = partner(r, av);
            let k = if r.chance(0.3) { 3 } else { 2 };
            let mut xs = vec![a, b];
            if k == 3 {
                xs.push(partner(r, av));
            }
            Step::Concat(xs, axis(r, rank))
        }
        18 => {
            let lo = (0..rank).map(|_| r.below(4) as i64 - 1).collect();
            let hi = (0..rank).map(|_| r.below(4) as i64 - 1).collect();
            let interior = (0..rank).map(|_| r.below(2)).collect();
            Step::Pad(a, lo, hi, interior)
        }
        19 => {
            let axes = (0..rank).filter(|_| r.chance(0.5)).collect();
            Step::Reverse(a, axes)
        }
        20 => {
            let mut s: Vec<usize> = (0..r.below(2)).map(|_| 1 + r.below(3)).collect();
            s.extend(
                dims.iter()
                    .map(|&d| if d == 1 && r.chance(0.5) { 3 } else { d }),
            );
            Step::Broadcast(a, s)
        }
        21 => {
            let axes = (0..rank).filter(|_| r.chance(0.5)).collect();
            Step::Reduce(r.pick(REDUCE), a, axes)
        }
        22 => Step::Arg(r.chance(0.5), a, axis(r, rank)),
        23 => Step::Cumulative(r.pick(REDUCE), a, axis(r, rank), r.chance(0.3)),
        24 => {
            // matmul-compatible partner when one exists.
            let want_k = dims.last().copied().unwrap_or(0);
            let cands: Vec<usize> = (0..n)
                .filter(|&i| {
                    pool[i].dtype == av.dtype && pool[i].rank() == 2 && pool[i].dims()[0] == want_k
                })
                .collect();
            let b = if !cands.is_empty() && r.chance(0.85) {
                r.pick(&cands)
            } else {
                r.below(n)
            };
            Step::Matmul(a, b)
        }
        25 => {
            if r.chance(0.5) {
                Step::Sort(a, axis(r, rank), r.chance(0.5))
            } else {
                let last = dims.last().copied().unwrap_or(1);
                Step::TopK(a, r.below(last + 2))
            }
        }
        26 => {
            let d = index_dtype(r);
            let starts = dims.iter().map(|&n| indices(r, n, 1)[0]).collect();
            let sizes = dims.iter().map(|&n| r.below(n + 1)).collect();
            if r.chance(0.4) {
                let want = AVal::new(
                    dims.iter().map(|&n| r.below(n + 1)).collect::<Vec<_>>(),
                    av.dtype,
                );
                let u = partner(r, &want);
                Step::DynUpdate(a, u, dims.iter().map(|&n| indices(r, n, 1)[0]).collect(), d)
            } else {
                Step::DynSlice(a, starts, d, sizes)
            }
        }
        27 => {
            let ax = axis(r, rank);
            let len = dims.get(ax).copied().unwrap_or(1);
            let k = 1 + r.below(4);
            let d = index_dtype(r);
            let idx = indices(r, len, k);
            if r.chance(0.3) {
                let mut ushape = dims.clone();
                if ax < ushape.len() {
                    ushape[ax] = k;
                }
                let u = partner(r, &AVal::new(ushape, av.dtype));
                Step::IndexAdd(a, u, idx, d, ax)
            } else {
                Step::Take(a, idx, d, ax)
            }
        }
        28 => {
            let s = shape(r);
            let dim = axis(r, s.len());
            Step::Iota(s, dim, dtype(r))
        }
        29 => match r.below(3) {
            0 => Step::While(a, r.below(4) as i32),
            1 => Step::Cond(a),
            _ => Step::Scan(a),
        },
        _ => Step::Fft(a),
    }
}

/// A generated program: typed inputs with values, and well-typed steps.
#[derive(Clone, Debug)]
pub struct Program {
    /// The input values (their types are the program's parameters).
    pub inputs: Vec<Literal>,
    /// The steps in order; step `k`'s results follow the inputs and earlier steps' results.
    pub steps: Vec<Step>,
}

impl Program {
    /// The input types.
    pub fn in_avals(&self) -> Vec<AVal> {
        self.inputs.iter().map(|l| l.aval()).collect()
    }

    /// Traces the program; its outputs are every step's results, in order.
    pub fn trace(&self) -> rax_core::Result<rax_core::Graph> {
        let t = rax_core::trace(&self.in_avals(), |xs| {
            let mut pool: Vec<Tensor> = xs.to_vec();
            for s in &self.steps {
                let outs = apply(s, &pool);
                pool.extend(outs);
            }
            pool.split_off(xs.len())
        })?;
        Ok(t.graph)
    }

    /// Which step made each pool value (`None` for inputs), pool order.
    pub fn producers(&self, n_outputs_per_step: &[usize]) -> Vec<Option<usize>> {
        let mut v: Vec<Option<usize>> = vec![None; self.inputs.len()];
        for (k, &m) in n_outputs_per_step.iter().enumerate() {
            v.extend(std::iter::repeat_n(Some(k), m));
        }
        v
    }

    /// A readable listing (for failure reports and replays); complex values print as
    /// `(re, im)` pairs so that a listing reproduces its program.
    pub fn listing(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.inputs.iter().enumerate() {
            s.push_str(&format!("  v{i} = input {} {}\n", l.aval(), values(l)));
        }
        for (k, st) in self.steps.iter().enumerate() {
            s.push_str(&format!("  step {k}: {st:?}\n"));
        }
        s
    }
}

/// A literal's values, readable: a list of numbers, complex elements as `(re, im)` pairs.
pub fn values(l: &Literal) -> String {
    match l.data() {
        rax_core::Data::C64(v) => {
            let p: Vec<String> = v
                .iter()
                .map(|z| format!("({:?}, {:?})", z.re, z.im))
                .collect();
            format!("[{}]", p.join(", "))
        }
        _ => format!("{:?}", l.to_f64_vec()),
    }
}
