//! The `fft` primitive: discrete Fourier transforms over the trailing `lengths.len()` (1 to 3)
//! dimensions, with XLA's four variants — rule, lowering (`stablehlo.fft`), kernel and `Tensor`
//! methods side by side.
//!
//! - `Fft`   c64 -> c64, trailing dims equal to `lengths`, unnormalised forward transform.
//! - `Ifft`  c64 -> c64, inverse transform normalised by `1 / prod(lengths)` (like XLA/numpy).
//! - `Rfft`  f32 -> c64, trailing dims equal to `lengths`; the last output dim is `n / 2 + 1`
//!   (the non-negative frequencies of the Hermitian spectrum).
//! - `Irfft` c64 -> f32, `lengths` are the *real output* lengths; the input's last dim must be
//!   `n / 2 + 1`. As XLA: inverse complex transforms over the leading FFT dims, then a
//!   complex-to-real transform of the last dim that reads only the half spectrum — the imaginary
//!   parts of the DC term (and of the Nyquist term for even `n`) are ignored. Normalised by
//!   `1 / prod(lengths)`.
//!
//! The kernel runs `rustfft` in f64 on the exactly widened f32 data and rounds once to f32, so it
//! is more accurate than XLA's f32 transform, whose absolute error per output grows like
//! `eps · log2(n) · ‖x‖₂`; conformance cases compare with an absolute tolerance of that form.
//!
//! # Causal convolution with rfft/irfft (how `ComplexEMA` uses it)
//!
//! A long causal convolution `y[t] = Σ_{s<=t} k[s] · x[t-s]` of a sequence `x` (length `L`,
//! along the last axis) with a kernel `k` (length `L`) is computed in `O(L log L)` as:
//!
//! ```text
//! n  = 2 * L.next_power_of_two()          // >= 2L - 1: no circular wrap-around, radix-2 sizes
//! X  = pad(x, last axis to n).rfft()      // c64, last dim n/2 + 1
//! K  = pad(k, last axis to n).rfft()
//! y  = (X * K).irfft(n)                   // f32, last dim n
//! y  = slice(y, last axis 0..L)           // the first L outputs are the causal ones
//! ```
//!
//! Zero padding to at least `2L - 1` makes the circular convolution of the transforms equal to the
//! linear one, so no output wraps from the future into the past; `ComplexEMA` builds its kernel
//! `k[s] = Re(Σ_j c_j · q_j^s)` from its complex decay coefficients and then calls exactly these
//! ops (the irfft normalisation `1/n` is part of the primitive, no extra scaling is needed).
//!
//! Depends on `ir`, `literal`, `lower`, `trace`; `rustfft` for the kernel.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::{FftKind, Op};
use crate::literal::{Data, Literal};
use crate::lower::{i64_array, LowerCtx, V};
use crate::shape::AVal;
use crate::trace::{apply1, apply_error, Tensor};
use num_complex::Complex32;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

type C = Complex<f64>;

/// The StableHLO name of a variant.
pub fn kind_name(k: FftKind) -> &'static str {
    match k {
        FftKind::Fft => "FFT",
        FftKind::Ifft => "IFFT",
        FftKind::Rfft => "RFFT",
        FftKind::Irfft => "IRFFT",
    }
}

// ---------------------------------------------------------------------------------------------
// Rule
// ---------------------------------------------------------------------------------------------

fn fft_rule(x: &AVal, kind: FftKind, lengths: &[usize]) -> Result<AVal> {
    let op = "fft";
    let kn = kind_name(kind);
    if lengths.is_empty() || lengths.len() > 3 {
        return Err(Error::arg(
            op,
            format!("{kn} transforms 1 to 3 trailing dims, got lengths {lengths:?} for {x}"),
        ));
    }
    if lengths.contains(&0) {
        return Err(Error::arg(
            op,
            format!("{kn} lengths {lengths:?} must be positive"),
        ));
    }
    let (want_in, out_dtype) = match kind {
        FftKind::Fft | FftKind::Ifft | FftKind::Irfft => (DType::C64, None),
        FftKind::Rfft => (DType::F32, Some(DType::C64)),
    };
    if x.dtype != want_in {
        return Err(Error::dtype(op, x.dtype, format!("{kn} takes {want_in}")));
    }
    let r = x.rank();
    if r < lengths.len() {
        return Err(Error::shape(
            op,
            format!(
                "{kn} over {} trailing dims needs rank >= {}",
                lengths.len(),
                lengths.len()
            ),
            std::slice::from_ref(x),
        ));
    }
    let lead = r - lengths.len();
    let last = lengths.len() - 1;
    let mut expect = lengths.to_vec();
    if kind == FftKind::Irfft {
        expect[last] = lengths[last] / 2 + 1;
    }
    if x.dims()[lead..] != expect[..] {
        return Err(Error::shape(
            op,
            format!(
                "{kn} with lengths {lengths:?} needs trailing dims {expect:?}, got {:?}",
                &x.dims()[lead..]
            ),
            std::slice::from_ref(x),
        ));
    }
    let mut dims = x.dims().to_vec();
    let dtype = match kind {
        FftKind::Fft | FftKind::Ifft => DType::C64,
        FftKind::Rfft => {
            dims[r - 1] = lengths[last] / 2 + 1;
            out_dtype.unwrap_or(DType::C64)
        }
        FftKind::Irfft => {
            dims[r - 1] = lengths[last];
            DType::F32
        }
    };
    Ok(AVal::new(dims, dtype))
}

/// The typing rule of `fft`.
pub fn rule(op: &Op, ins: &[AVal]) -> Result<Vec<AVal>> {
    match op {
        Op::Fft { kind, lengths } => {
            if ins.len() != 1 {
                return Err(Error::arg(
                    "fft",
                    format!("takes 1 operand, got {}", ins.len()),
                ));
            }
            Ok(vec![fft_rule(&ins[0], *kind, lengths)?])
        }
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Lowering
// ---------------------------------------------------------------------------------------------

/// The lowering of `fft`: `"stablehlo.fft"(%x) {fft_type = #stablehlo<fft_type RFFT>, ...}`.
pub fn lower(op: &Op, cx: &mut LowerCtx, ins: &[V], outs: &[AVal]) -> Result<Vec<V>> {
    match op {
        Op::Fft { kind, lengths } => {
            let refs: Vec<&V> = ins.iter().collect();
            let attrs = format!(
                "fft_type = #stablehlo<fft_type {}>, fft_length = {}",
                kind_name(*kind),
                i64_array(lengths)
            );
            Ok(cx.op("stablehlo.fft", &refs, &attrs, outs))
        }
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel
// ---------------------------------------------------------------------------------------------

/// Transforms every line of `buf` (row-major `dims`) along `axis` in place; inverse transforms
/// are scaled by `1/n`.
fn transform_axis(
    planner: &mut FftPlanner<f64>,
    buf: &mut [C],
    dims: &[usize],
    axis: usize,
    inverse: bool,
) {
    let n = dims[axis];
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    if n == 0 || outer * inner == 0 {
        return;
    }
    let plan = if inverse {
        planner.plan_fft_inverse(n)
    } else {
        planner.plan_fft_forward(n)
    };
    let scale = if inverse { 1.0 / n as f64 } else { 1.0 };
    let mut line = vec![C::new(0.0, 0.0); n];
    for o in 0..outer {
        for i in 0..inner {
            let base = o * n * inner + i;
            for (j, l) in line.iter_mut().enumerate() {
                *l = buf[base + j * inner];
            }
            plan.process(&mut line);
            for (j, l) in line.iter().enumerate() {
                buf[base + j * inner] = l * scale;
            }
        }
    }
}

fn to_c64(v: &[C]) -> Data {
    Data::C64(
        v.iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect(),
    )
}

fn fft_eval(x: &Literal, kind: FftKind, lengths: &[usize], out: &AVal) -> Result<Literal> {
    let dims = x.dims().to_vec();
    let r = dims.len();
    let lead = r - lengths.len();
    let mut planner = FftPlanner::<f64>::new();
    let mut buf: Vec<C> = match x.data() {
        Data::C64(v) => v.iter().map(|z| C::new(z.re as f64, z.im as f64)).collect(),
        Data::F32(v) => v.iter().map(|&a| C::new(a as f64, 0.0)).collect(),
        _ => return Err(Error::dtype("fft", x.dtype(), "c64 or f32")),
    };
    match kind {
        FftKind::Fft | FftKind::Ifft => {
            for axis in lead..r {
                transform_axis(&mut planner, &mut buf, &dims, axis, kind == FftKind::Ifft);
            }
            Literal::new(out.shape.clone(), to_c64(&buf))
        }
        FftKind::Rfft => {
            for axis in lead..r {
                transform_axis(&mut planner, &mut buf, &dims, axis, false);
            }
            // Keep the non-negative frequencies of the last axis.
            let n = dims[r - 1];
            let m = out.dims()[r - 1];
            let rows = buf.len().checked_div(n).unwrap_or(0);
            let mut half = Vec::with_capacity(rows * m);
            for row in 0..rows {
                half.extend_from_slice(&buf[row * n..row * n + m]);
            }
            Literal::new(out.shape.clone(), to_c64(&half))
        }
        FftKind::Irfft => {
            for axis in lead..r - 1 {
                transform_axis(&mut planner, &mut buf, &dims, axis, true);
            }
            let m = dims[r - 1];
            let n = out.dims()[r - 1];
            let rows = buf.len().checked_div(m).unwrap_or(0);
            let plan = planner.plan_fft_inverse(n);
            let mut line = vec![C::new(0.0, 0.0); n];
            let mut res = Vec::with_capacity(rows * n);
            let scale = 1.0 / n as f64;
            for row in 0..rows {
                let h = &buf[row * m..row * m + m];
                // Hermitian extension of the half spectrum; DC and Nyquist are taken as real.
                for (k, l) in line.iter_mut().enumerate() {
                    *l = if k == 0 || 2 * k == n {
                        C::new(h[k].re, 0.0)
                    } else if k < m {
                        h[k]
                    } else {
                        h[n - k].conj()
                    };
                }
                plan.process(&mut line);
                res.extend(line.iter().map(|z| (z.re * scale) as f32));
            }
            Literal::new(out.shape.clone(), Data::F32(res))
        }
    }
}

/// The interpreter kernel of `fft`.
pub fn eval(op: &Op, ins: &[&Literal]) -> Result<Vec<Literal>> {
    let in_avals: Vec<AVal> = ins.iter().map(|l| l.aval()).collect();
    let out = rule(op, &in_avals)?.remove(0);
    match op {
        Op::Fft { kind, lengths } => Ok(vec![fft_eval(ins[0], *kind, lengths, &out)?]),
        _ => Err(super::unreachable_op(op)),
    }
}

// ---------------------------------------------------------------------------------------------
// Tensor API
// ---------------------------------------------------------------------------------------------

impl Tensor {
    /// An FFT variant over the trailing `lengths.len()` (1 to 3) dims, like `jax.lax.fft`
    /// (`fftn`/`rfftn`/`irfftn` style). For `Irfft`, `lengths` are the real output lengths.
    #[track_caller]
    pub fn fft_axes(&self, kind: FftKind, lengths: &[usize]) -> Tensor {
        apply1(
            Op::Fft {
                kind,
                lengths: lengths.to_vec(),
            },
            &[self],
            CallSite::here(),
        )
    }

    /// The length of the last axis, or a poisoned tensor naming `fft` for a scalar.
    fn last_len(&self, kind: FftKind, site: CallSite) -> std::result::Result<usize, Tensor> {
        match self.dims().last() {
            Some(&n) => Ok(n),
            None if self.error().is_some() => Err(self.clone()),
            None => Err(apply_error(
                Error::shape(
                    "fft",
                    format!("{} over the last axis needs rank >= 1", kind_name(kind)),
                    &[self.aval()],
                ),
                self.aval(),
                site,
            )),
        }
    }

    /// Forward complex FFT over the last axis (c64).
    #[track_caller]
    pub fn fft(&self) -> Tensor {
        let site = CallSite::here();
        match self.last_len(FftKind::Fft, site) {
            Ok(n) => apply1(
                Op::Fft {
                    kind: FftKind::Fft,
                    lengths: vec![n],
                },
                &[self],
                site,
            ),
            Err(t) => t,
        }
    }

    /// Inverse complex FFT over the last axis (c64), normalised by `1/n`.
    #[track_caller]
    pub fn ifft(&self) -> Tensor {
        let site = CallSite::here();
        match self.last_len(FftKind::Ifft, site) {
            Ok(n) => apply1(
                Op::Fft {
                    kind: FftKind::Ifft,
                    lengths: vec![n],
                },
                &[self],
                site,
            ),
            Err(t) => t,
        }
    }

    /// Real-input FFT over the last axis: f32 `[.., n]` -> c64 `[.., n/2 + 1]`.
    #[track_caller]
    pub fn rfft(&self) -> Tensor {
        let site = CallSite::here();
        match self.last_len(FftKind::Rfft, site) {
            Ok(n) => apply1(
                Op::Fft {
                    kind: FftKind::Rfft,
                    lengths: vec![n],
                },
                &[self],
                site,
            ),
            Err(t) => t,
        }
    }

    /// Inverse of `rfft` over the last axis: c64 `[.., n/2 + 1]` -> f32 `[.., n]`, normalised by
    /// `1/n`; the imaginary parts of the DC (and even-`n` Nyquist) terms are ignored.
    #[track_caller]
    pub fn irfft(&self, n: usize) -> Tensor {
        apply1(
            Op::Fft {
                kind: FftKind::Irfft,
                lengths: vec![n],
            },
            &[self],
            CallSite::here(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// VJP rules (JAX's FFT transpose rules; complex cotangents without conjugation)
// ---------------------------------------------------------------------------------------------

/// The VJP rules of the fft family: FFT and IFFT are symmetric linear maps (their own
/// transposes); RFFT's transpose zero-pads the cotangent to the full length, takes an FFT and
/// keeps the real part; IRFFT's is `conj(rfft(ct) * mask / prod(lengths))` with mask
/// `[1, 2, ..., 2, (1 if even)]` counting the Hermitian pairs.
pub fn vjp(
    op: &Op,
    ins: &[Tensor],
    _outs: &[Tensor],
    cts: &[Option<Tensor>],
) -> Result<Vec<Option<Tensor>>> {
    let Op::Fft { kind, lengths } = op else {
        return Err(super::unreachable_op(op));
    };
    let (Some(Some(g)), Some(x)) = (cts.first(), ins.first()) else {
        return Ok(vec![None]);
    };
    let ct = match kind {
        FftKind::Fft | FftKind::Ifft => g.fft_axes(*kind, lengths),
        FftKind::Rfft => {
            let gd = g.dims();
            let r = gd.len();
            let n = *lengths.last().ok_or_else(|| super::unreachable_op(op))?;
            let mut hi = vec![0i64; r];
            hi[r - 1] = n as i64 - gd[r - 1] as i64;
            let padded = g.pad(&g.scalar_like(0.0), &vec![0; r], &hi, &vec![0; r]);
            padded
                .fft_axes(FftKind::Fft, lengths)
                .real()
                .cast(x.dtype())
        }
        FftKind::Irfft => {
            let y = g.fft_axes(FftKind::Rfft, lengths);
            let m = *y.dims().last().ok_or_else(|| super::unreachable_op(op))?;
            let n = *lengths.last().ok_or_else(|| super::unreachable_op(op))?;
            let mut mask = vec![2.0f64; m];
            mask[0] = 1.0;
            if n % 2 == 0 {
                if let Some(l) = mask.last_mut() {
                    *l = 1.0;
                }
            }
            let scale = 1.0 / lengths.iter().product::<usize>() as f64;
            let mask: Vec<f64> = mask.iter().map(|v| v * scale).collect();
            let mt = Tensor::from_literal(Literal::from_f64s([m], DType::F32, &mask)?);
            let mc = Tensor::complex(&mt, &crate::autodiff::zeros_like(&mt));
            let yd = y.dims();
            let out = &y * &mc.broadcast_in_dim(&yd, &[yd.len() - 1]);
            crate::autodiff::conj(&out)
        }
    };
    Ok(vec![Some(ct)])
}

// ---------------------------------------------------------------------------------------------
// Batching rule (vmap)
// ---------------------------------------------------------------------------------------------

/// The batching rule of the fft family: the transform works on trailing dims, so it applies
/// as is to the batched operand.
pub fn batch(op: &Op, bx: &crate::vmap::Batch) -> Result<Vec<Tensor>> {
    match op {
        Op::Fft { .. } => crate::vmap::apply_checked(op.clone(), &[bx.arg(0)?]),
        _ => Err(super::unreachable_op(op)),
    }
}
