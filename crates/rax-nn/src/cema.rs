//! ComplexEMA, Megalodon's multi-dimensional damped complex exponential moving average, on
//! inputs laid out `[B, D, L]`:
//!
//! `h[t] = q ⊙ h[t−1] + p ⊙ x[t]`, `y[t] = Re(Σₙ γ ⊙ h[t]) + ω ⊙ x[t]`, with per channel and
//! order `p = σ(α)`, `q = (1 − σ(α)σ(δ))·e^{iφ}`, `φ = k·σ(θ)·2π/N` (k = 1..N) and
//! `γ = (γ_re + iγ_im)/√N`.
//!
//! Every coefficient is computed in f32 (complex values as f32 real/imaginary pairs) whatever
//! the parameter or compute dtype; the output is cast back to the input dtype. Four paths, all
//! equal in exact arithmetic (tested against each other and against megalodon-jax):
//! - FFT convolution with the kernel `K[j] = Re(Σₙ γp·qʲ)` built in blocks of at most
//!   [`FFT_KERNEL_CHUNK`] exponents (each block rematerialised in the backward pass, so memory
//!   stays bounded for long sequences); powers `qʲ = |q|ʲ·e^{i·arg(q)·j}`;
//! - the FFT path continuing from a carried state `h₀` (adds `Re(Σ γ·h₀·q^{j+1})`) and returning
//!   the final state in closed form `q^L·h₀ + p·Σⱼ x[L−1−j]·qʲ`;
//! - the sequential recurrence (a `scan`), used for short continuations (decode);
//! - for packed sequences, a log-depth inclusive scan over affine pairs `(A, b)` with `A = 0`
//!   at segment starts (so no state crosses a document boundary), or the sequential recurrence
//!   with resets.
//!
//! Depends on rax-core and `segments`.

use crate::segments::{last_valid_index, SegmentMetadata};
use rax_core::autodiff::{checkpoint, custom_vjp};
use rax_core::ir::RematPolicy;
use rax_core::{optimization_barrier, DType, PrngKey, Sensitive, Tensor};
use rax_macros::Tree;

/// Largest number of kernel exponents built at once by the FFT path.
pub const FFT_KERNEL_CHUNK: usize = 4096;
/// Continuations shorter than this (with a carried state) use the sequential recurrence.
pub const FFT_RECURRENT_MIN_LENGTH: usize = 32;

/// ComplexEMA parameters (all sensitive: f32 whatever the policy).
#[derive(Clone, Debug, Tree)]
pub struct ComplexEma {
    /// Input coefficient logits `[D, N, 1]`.
    pub alpha: Sensitive<Tensor>,
    /// Damping logits `[D, N, 1]`.
    pub delta: Sensitive<Tensor>,
    /// Base angle logits `[D, 1, 1]`.
    pub theta: Sensitive<Tensor>,
    /// Output projection, real part `[D, N]`.
    pub gamma_real: Sensitive<Tensor>,
    /// Output projection, imaginary part `[D, N]`.
    pub gamma_imag: Sensitive<Tensor>,
    /// Residual weight `[D]`.
    pub omega: Sensitive<Tensor>,
}

/// A complex f32 tensor as its real and imaginary parts (same shape).
#[derive(Clone, Debug)]
pub struct Cplx {
    /// Real part.
    pub re: Tensor,
    /// Imaginary part.
    pub im: Tensor,
}

impl Cplx {
    /// From a c64 tensor.
    #[track_caller]
    pub fn from_c64(h: &Tensor) -> Cplx {
        Cplx {
            re: h.real(),
            im: h.imag(),
        }
    }
    /// As a c64 tensor.
    #[track_caller]
    pub fn to_c64(&self) -> Tensor {
        Tensor::complex(&self.re, &self.im)
    }
    #[track_caller]
    fn mul(&self, o: &Cplx) -> Cplx {
        Cplx {
            re: &self.re * &o.re - &self.im * &o.im,
            im: &self.re * &o.im + &self.im * &o.re,
        }
    }
    #[track_caller]
    fn add(&self, o: &Cplx) -> Cplx {
        Cplx {
            re: &self.re + &o.re,
            im: &self.im + &o.im,
        }
    }
    #[track_caller]
    fn scale(&self, s: &Tensor) -> Cplx {
        Cplx {
            re: &self.re * s,
            im: &self.im * s,
        }
    }
    #[track_caller]
    fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Cplx {
        Cplx {
            re: f(&self.re),
            im: f(&self.im),
        }
    }
}

/// The f32 coefficients `(p [D, N], q [D, N], γ [D, N])`.
#[derive(Clone, Debug)]
pub struct Coeffs {
    /// Real input coefficient σ(α).
    pub p: Tensor,
    /// Complex decay.
    pub q: Cplx,
    /// Complex output projection (scaled by 1/√N).
    pub gamma: Cplx,
}

/// Which path [`ComplexEma::apply`] takes for packed sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentScan {
    /// Log-depth scan over affine pairs.
    Associative,
    /// Sequential recurrence with resets.
    Sequential,
}

impl ComplexEma {
    /// Fresh parameters for `dim` channels and `ndim` orders (megalodon-jax's distributions:
    /// α, δ ~ N(0, 0.2²); θ the logit of a permuted frequency schedule `exp(−k·ln D / D)`;
    /// γ_re ~ N(0, 1), γ_im = 0; ω ~ 0.25·TruncNormal(±4)). The permutation is drawn from rax's
    /// PRNG (sorting uniform keys), so fresh values are not megalodon-jax's bit for bit.
    #[track_caller]
    pub fn init(dim: usize, ndim: usize, key: &PrngKey) -> ComplexEma {
        let k = key.split(5);
        let f32 = DType::F32;
        let step = (dim as f64).ln() / dim as f64;
        let freqs = ((Tensor::iota(&[dim], 0, f32) + 1.0) * (-step)).exp();
        let order = k[2].uniform(&[dim], f32, 0.0, 1.0).argsort(0, false);
        let freqs = freqs.take(&order, 0).clamp_scalar(1e-6, 1.0 - 1e-6);
        let theta = (&freqs / (1.0 - &freqs)).log().reshape(&[dim, 1, 1]);
        ComplexEma {
            alpha: Sensitive(k[0].normal(&[dim, ndim, 1], f32) * 0.2),
            delta: Sensitive(k[1].normal(&[dim, ndim, 1], f32) * 0.2),
            theta: Sensitive(theta),
            gamma_real: Sensitive(k[3].normal(&[dim, ndim], f32)),
            gamma_imag: Sensitive(Tensor::zeros(&[dim, ndim], f32)),
            omega: Sensitive(k[4].truncated_normal(-4.0, 4.0, &[dim], f32) * 0.25),
        }
    }

    /// Number of orders N.
    pub fn ndim(&self) -> usize {
        self.alpha.0.dims().get(1).copied().unwrap_or(1)
    }

    /// The coefficients in f32.
    #[track_caller]
    pub fn coeffs(&self) -> Coeffs {
        let n = self.ndim();
        let f = DType::F32;
        let d = self.alpha.0.dims().first().copied().unwrap_or(0);
        let theta = self.theta.0.cast(f).sigmoid() * (2.0 * std::f64::consts::PI / n as f64);
        let wavelets = (Tensor::iota(&[1, n, 1], 1, f) + 1.0).reshape(&[1, n, 1]);
        let phi = (wavelets * theta).reshape(&[d, n]);
        let alpha = self.alpha.0.cast(f).sigmoid();
        let delta = self.delta.0.cast(f).sigmoid();
        let p = alpha.reshape(&[d, n]);
        let mag = (1.0 - &alpha * &delta).reshape(&[d, n]);
        let q = Cplx {
            re: &mag * phi.cos(),
            im: &mag * phi.sin(),
        };
        let scale = Tensor::scalar_of((1.0 / n as f64).sqrt(), f);
        let gamma = Cplx {
            re: self.gamma_real.0.cast(f) * &scale,
            im: self.gamma_imag.0.cast(f) * &scale,
        };
        Coeffs { p, q, gamma }
    }

    /// Applies the EMA to `x [B, D, L]`. `h0` is a carried complex state `[B, D, N]`;
    /// `mask [B, L]` (true = valid) zeroes masked inputs before they enter the state;
    /// `segments` resets the state at every run start (incompatible with `h0`). Returns the
    /// output (x's dtype) and, when `return_state`, the final state (anchored at each row's
    /// last valid token with segments).
    #[track_caller]
    pub fn apply(
        &self,
        x: &Tensor,
        h0: Option<&Cplx>,
        return_state: bool,
        mask: Option<&Tensor>,
        segments: Option<(&SegmentMetadata, SegmentScan)>,
    ) -> (Tensor, Option<Cplx>) {
        let in_dtype = x.dtype();
        let dims = x.dims();
        let (b, d, l) = match dims[..] {
            [b, d, l] => (b, d, l),
            _ => {
                let e =
                    rax_core::Error::shape("ComplexEma::apply", "expects x [B, D, L]", &[x.aval()]);
                let t = rax_core::trace::apply_error(e, x.aval(), rax_core::CallSite::here());
                return (t, None);
            }
        };
        let n = self.ndim();
        let mut valid = mask.map(|m| m.cast(DType::Bool));
        if let Some((meta, _)) = segments {
            valid = Some(match valid {
                Some(v) => v.and(&meta.valid),
                None => meta.valid.clone(),
            });
        }
        let x = match &valid {
            Some(v) => Tensor::select(&v.reshape(&[b, 1, l]), x, &x.scalar_like(0.0)),
            None => x.clone(),
        };
        let xf = x.cast(DType::F32);
        let residual = &xf * self.omega.0.cast(DType::F32).reshape(&[1, d, 1]);
        let c = self.coeffs();
        if let Some((meta, how)) = segments {
            let (y, h) = match how {
                SegmentScan::Associative => segmented_scan(&xf, &c, meta),
                SegmentScan::Sequential => sequential(&xf, &c, None, Some(meta)),
            };
            return ((y + residual).cast(in_dtype), return_state.then_some(h));
        }
        if l == 0 {
            let h = return_state.then(|| h0.cloned().unwrap_or_else(|| zeros_state(b, d, n)));
            return (residual.cast(in_dtype), h);
        }
        if let (Some(h0), true) = (h0, l < FFT_RECURRENT_MIN_LENGTH) {
            let (y, h) = sequential(&xf, &c, Some(h0), None);
            return ((y + residual).cast(in_dtype), return_state.then_some(h));
        }
        let mut y = fft_conv(&xf, &c, FFT_KERNEL_CHUNK);
        if let Some(h0) = h0 {
            y = y + initial_state_bias(h0, &c, l, FFT_KERNEL_CHUNK);
        }
        let h = return_state.then(|| {
            if l < FFT_RECURRENT_MIN_LENGTH {
                sequential(&xf, &c, None, None).1
            } else {
                final_state_parallel(&xf, h0, &c, FFT_KERNEL_CHUNK)
            }
        });
        ((y + residual).cast(in_dtype), h)
    }
}

fn zeros_state(b: usize, d: usize, n: usize) -> Cplx {
    let z = Tensor::zeros(&[b, d, n], DType::F32);
    Cplx {
        re: z.clone(),
        im: z,
    }
}

/// Blocks of at most this many exponents are computed directly; longer ones are split.
const POWER_SPLIT_MIN: usize = 32;

/// `q^e` for exponents `start..start+size` as `[D, N, size]`: `|q|ʲ` (|q| clipped to 1) times
/// `e^{i·arg(q)·j}`, all in f32.
///
/// A long block is split: with `j = start + a·S + b` (`S ≈ √size`), `qʲ = q^{start+a·S}·q^b`,
/// so the powers and sines are taken for `S + size/S` exponents instead of `size` and the rest
/// is one complex product per element (XLA's CPU backend calls scalar libm routines for
/// `pow`, `sin` and `cos`: computing them for every exponent was a quarter of a Megalodon
/// training step). The product adds at most about one f32 rounding to each power.
#[track_caller]
pub fn power_block(q: &Cplx, start: usize, size: usize) -> Cplx {
    let exponents = |count: usize, stride: usize, first: usize| {
        let mut e = Tensor::iota(&[count], 0, DType::F32);
        if stride != 1 {
            e = e * stride as f64;
        }
        (e + first as f64).reshape(&[1, 1, count])
    };
    let direct = (size <= POWER_SPLIT_MIN).then(|| exponents(size, 1, start));
    let qd = q.re.dims();
    let (d, n) = (qd[0], qd[1]);
    let radius = (&q.re * &q.re + &q.im * &q.im)
        .sqrt()
        .minimum(&Tensor::scalar_of(1.0, DType::F32));
    let phase = q.im.atan2(&q.re);
    let polar =
        |e: Tensor| polar_powers(&radius.reshape(&[d, n, 1]), &phase.reshape(&[d, n, 1]), e);
    if let Some(e) = direct {
        return polar(e);
    }
    let s = (size as f64).sqrt().ceil() as usize;
    let a = size.div_ceil(s);
    let lo = polar(exponents(s, 1, 0)).map(|t| t.reshape(&[d, n, 1, s]));
    let hi = polar(exponents(a, s, start)).map(|t| t.reshape(&[d, n, a, 1]));
    hi.mul(&lo)
        .map(|t| t.reshape(&[d, n, a * s]).slice_axis(2, 0, size))
}

/// `rᵉ·e^{i·φ·e}` for `r, φ [D, N, 1]` and constant exponents `e [1, 1, E]`, as `[D, N, E]`.
///
/// The two parts are materialised (an `optimization_barrier`): XLA's CPU fusion otherwise
/// copies the `pow`, `sin` and `cos` into every fusion that reads them, and each copy calls
/// scalar libm again (a Megalodon step evaluated each of these four times). The VJP needs no
/// transcendental function: with `re = rᵉcos(φe)`, `im = rᵉsin(φe)`,
/// `∂L/∂r = Σₑ e·(ḡ_re·re + ḡ_im·im)/r` and `∂L/∂φ = Σₑ e·(ḡ_im·re − ḡ_re·im)`. At `r = 0`
/// the radius gradient is 0/0 = NaN, as it already is through `|q| = √(re² + im²)`.
#[track_caller]
fn polar_powers(r: &Tensor, phase: &Tensor, e: Tensor) -> Cplx {
    let site = rax_core::CallSite::here();
    let out_dims = [r.dims()[0], r.dims()[1], e.dims()[2]];
    let (ef, eb) = (e.clone(), e);
    let value = move |a: &[Tensor]| {
        let mag = a[0].pow(&ef);
        let ang = &a[1] * &ef;
        optimization_barrier(&[&mag * ang.cos(), mag * ang.sin()])
    };
    let value_fw = value.clone();
    let f = custom_vjp(
        value,
        move |a: &[Tensor]| {
            let out = value_fw(a);
            let res = vec![out[0].clone(), out[1].clone(), a[0].clone()];
            (out, res)
        },
        move |res: &[Tensor], ct: &[Tensor]| {
            let (re, im, r) = (&res[0], &res[1], &res[2]);
            let (g_re, g_im) = (&ct[0] * &eb, &ct[1] * &eb);
            let g_r = (&g_re * re + &g_im * im).sum_keepdims(&[2]) / r;
            let g_phase = (g_im * re - g_re * im).sum_keepdims(&[2]);
            vec![g_r, g_phase]
        },
    );
    match f(&[r.clone(), phase.clone()]) {
        Ok(v) if v.len() == 2 => Cplx {
            re: v[0].clone(),
            im: v[1].clone(),
        },
        other => {
            let e = match other {
                Err(e) => e,
                Ok(_) => {
                    rax_core::Error::shape("polar_powers", "expected two results", &[r.aval()])
                }
            };
            let aval = rax_core::AVal::new(out_dims, DType::F32);
            let t = rax_core::trace::apply_error(e, aval, site);
            Cplx {
                re: t.clone(),
                im: t,
            }
        }
    }
}

/// The convolution kernel `K [D, L]`, built in blocks of at most `block` exponents (each block
/// rematerialised under differentiation).
#[track_caller]
pub fn kernel(c: &Coeffs, l: usize, block: usize) -> Tensor {
    let gp = c.gamma.scale(&c.p);
    let build = |gp: &Cplx, q: &Cplx, start: usize, size: usize| {
        let pw = power_block(q, start, size);
        let dn = gp.re.dims();
        let g = gp.map(|t| t.reshape(&[dn[0], dn[1], 1]));
        (&g.re * &pw.re - &g.im * &pw.im).sum(&[1])
    };
    if l <= block {
        return build(&gp, &c.q, 0, l);
    }
    let nb = l.div_ceil(block);
    let bs = l.div_ceil(nb);
    let mut parts = Vec::with_capacity(nb);
    for i in 0..nb {
        let f = checkpoint(
            move |a: &[Tensor]| {
                let gp = Cplx {
                    re: a[0].clone(),
                    im: a[1].clone(),
                };
                let q = Cplx {
                    re: a[2].clone(),
                    im: a[3].clone(),
                };
                vec![build(&gp, &q, i * bs, bs)]
            },
            RematPolicy::NothingSaveable,
        );
        let args = [gp.re.clone(), gp.im.clone(), c.q.re.clone(), c.q.im.clone()];
        match f(&args) {
            Ok(mut v) => parts.push(v.remove(0)),
            Err(e) => {
                let d = c.p.dims()[0];
                let aval = rax_core::AVal::new([d, bs], DType::F32);
                parts.push(rax_core::trace::apply_error(
                    e,
                    aval,
                    rax_core::CallSite::here(),
                ));
            }
        }
    }
    Tensor::concat(&parts, 1).slice_axis(1, 0, l)
}

fn fft_len(l: usize) -> usize {
    let m = 2 * l - 1;
    1usize << (usize::BITS - m.leading_zeros())
}

fn pad_last(x: &Tensor, to: usize) -> Tensor {
    let r = x.rank();
    let cur = x.dims()[r - 1];
    let mut hi = vec![0i64; r];
    hi[r - 1] = (to - cur) as i64;
    x.pad(&x.scalar_like(0.0), &vec![0; r], &hi, &vec![0; r])
}

/// The driven response `Σⱼ K[j]·x[t−j]` of `x [B, D, L]` (f32) by FFT convolution.
#[track_caller]
pub fn fft_conv(x: &Tensor, c: &Coeffs, block: usize) -> Tensor {
    let l = x.dims()[2];
    let k = kernel(c, l, block);
    let n = fft_len(l);
    let xf = pad_last(x, n).rfft();
    let kf = pad_last(&k, n).rfft();
    let kd = kf.dims();
    let y = (xf * kf.reshape(&[1, kd[0], kd[1]])).irfft(n);
    y.slice_axis(2, 0, l)
}

/// `Re(Σₙ γ·h₀·q^{j+1})` for `j = 0..L`, `[B, D, L]`.
#[track_caller]
pub fn initial_state_bias(h0: &Cplx, c: &Coeffs, l: usize, block: usize) -> Tensor {
    let hd = h0.re.dims();
    let (b, d, n) = (hd[0], hd[1], hd[2]);
    let g = c.gamma.map(|t| t.reshape(&[1, d, n]));
    let q = c.q.map(|t| t.reshape(&[1, d, n]));
    let proj = h0.mul(&g).mul(&q).map(|t| t.reshape(&[b, d, n, 1]));
    let mut parts = Vec::new();
    let mut start = 0;
    while start < l {
        let size = block.min(l - start);
        let pw = power_block(&c.q, start, size).map(|t| t.reshape(&[1, d, n, size]));
        parts.push((&proj.re * &pw.re - &proj.im * &pw.im).sum(&[2]));
        start += size;
    }
    Tensor::concat(&parts, 2)
}

/// The final state `q^L·h₀ + p·Σⱼ x[L−1−j]·qʲ` of `x [B, D, L]`, reduced block by block.
#[track_caller]
pub fn final_state_parallel(x: &Tensor, h0: Option<&Cplx>, c: &Coeffs, block: usize) -> Cplx {
    let xd = x.dims();
    let (b, d, l) = (xd[0], xd[1], xd[2]);
    let n = c.p.dims()[1];
    let rev = x.reverse(&[2]);
    let mut acc: Option<Cplx> = None;
    let mut start = 0;
    while start < l {
        let size = block.min(l - start);
        let v = rev
            .slice_axis(2, start, start + size)
            .reshape(&[b, d, 1, size]);
        let pw = power_block(&c.q, start, size).map(|t| t.reshape(&[1, d, n, size]));
        let part = pw.map(|t| (&v * t).sum(&[3]));
        acc = Some(match acc {
            Some(a) => a.add(&part),
            None => part,
        });
        start += size;
    }
    let driven = acc.unwrap_or_else(|| zeros_state(b, d, n));
    let mut h = driven.scale(&c.p.reshape(&[1, d, n]));
    if let Some(h0) = h0 {
        let ql = power_block(&c.q, l, 1).map(|t| t.reshape(&[1, d, n]));
        h = h.add(&ql.mul(h0));
    }
    h
}

/// The recurrence as a `scan` over time; with segments the state is zeroed at run starts and
/// the returned state is the one at each row's last valid token.
#[track_caller]
pub fn sequential(
    x: &Tensor,
    c: &Coeffs,
    h0: Option<&Cplx>,
    segments: Option<&SegmentMetadata>,
) -> (Tensor, Cplx) {
    let xd = x.dims();
    let (b, d) = (xd[0], xd[1]);
    let n = c.p.dims()[1];
    let h0 = h0.cloned().unwrap_or_else(|| zeros_state(b, d, n));
    let xs_t = x.transpose(&[2, 0, 1]); // [L, B, D]
    let (p, q, g) = (
        c.p.reshape(&[1, d, n]),
        c.q.map(|t| t.reshape(&[1, d, n])),
        c.gamma.map(|t| t.reshape(&[1, d, n])),
    );
    let step = move |h: &Cplx, xt: &Tensor| {
        let xt = xt.reshape(&[b, d, 1]);
        let hn = Cplx {
            re: &q.re * &h.re - &q.im * &h.im + &p * &xt,
            im: &q.re * &h.im + &q.im * &h.re,
        };
        let y = (&hn.re * &g.re - &hn.im * &g.im).sum(&[2]);
        (hn, y)
    };
    match segments {
        None => {
            let (carry, ys) = rax_core::scan(
                |cr: &[Tensor], xs: &[Tensor]| {
                    let h = Cplx {
                        re: cr[0].clone(),
                        im: cr[1].clone(),
                    };
                    let (hn, y) = step(&h, &xs[0]);
                    (vec![hn.re, hn.im], vec![y])
                },
                &[h0.re.clone(), h0.im.clone()],
                &[xs_t],
                None,
                false,
            );
            let y = ys[0].transpose(&[1, 2, 0]);
            (
                y,
                Cplx {
                    re: carry[0].clone(),
                    im: carry[1].clone(),
                },
            )
        }
        Some(meta) => {
            let reset = meta.boundaries.transpose(&[1, 0]);
            let valid = meta.valid.transpose(&[1, 0]);
            let (carry, ys) = rax_core::scan(
                |cr: &[Tensor], xs: &[Tensor]| {
                    let zero = Tensor::scalar_of(0.0, DType::F32);
                    let r = xs[1].reshape(&[b, 1, 1]);
                    let h = Cplx {
                        re: Tensor::select(&r, &zero, &cr[0]),
                        im: Tensor::select(&r, &zero, &cr[1]),
                    };
                    let (hn, y) = step(&h, &xs[0]);
                    let v = xs[2].reshape(&[b, 1, 1]);
                    let ar = Tensor::select(&v, &hn.re, &cr[2]);
                    let ai = Tensor::select(&v, &hn.im, &cr[3]);
                    (vec![hn.re, hn.im, ar, ai], vec![y])
                },
                &[h0.re.clone(), h0.im.clone(), h0.re.clone(), h0.im.clone()],
                &[xs_t, reset, valid],
                None,
                false,
            );
            let y = ys[0].transpose(&[1, 2, 0]);
            (
                y,
                Cplx {
                    re: carry[2].clone(),
                    im: carry[3].clone(),
                },
            )
        }
    }
}

/// Inclusive log-depth (Hillis–Steele) scan along axis 0 of affine maps `h ↦ A·h + b`,
/// composing earlier maps first; returns the composed `b` (the state from a zero start).
#[track_caller]
pub fn affine_scan(a: &Cplx, bv: &Cplx) -> Cplx {
    let l = a.re.dims()[0];
    let (mut a, mut bv) = (a.clone(), bv.clone());
    let mut off = 1;
    while off < l {
        let shift = |t: &Tensor, fill: f64| {
            let mut pd = t.dims();
            pd[0] = off;
            let head = Tensor::full(&pd, fill, t.dtype());
            Tensor::concat(&[head, t.slice_axis(0, 0, l - off)], 0)
        };
        let a_prev = Cplx {
            re: shift(&a.re, 1.0),
            im: shift(&a.im, 0.0),
        };
        let b_prev = Cplx {
            re: shift(&bv.re, 0.0),
            im: shift(&bv.im, 0.0),
        };
        bv = a.mul(&b_prev).add(&bv);
        a = a.mul(&a_prev);
        off *= 2;
    }
    bv
}

/// The segmented EMA by [`affine_scan`]: `A = q` except `0` at run starts, `b = p·x`.
#[track_caller]
pub fn segmented_scan(x: &Tensor, c: &Coeffs, meta: &SegmentMetadata) -> (Tensor, Cplx) {
    let xd = x.dims();
    let (b, d, l) = (xd[0], xd[1], xd[2]);
    let n = c.p.dims()[1];
    let reset = meta.boundaries.transpose(&[1, 0]).reshape(&[l, b, 1, 1]);
    let zero = Tensor::scalar_of(0.0, DType::F32);
    let full = |t: &Tensor| t.reshape(&[1, 1, d, n]).broadcast_to(&[l, b, d, n]);
    let a = Cplx {
        re: Tensor::select(&reset, &zero, &full(&c.q.re)),
        im: Tensor::select(&reset, &zero, &full(&c.q.im)),
    };
    let xt = x.transpose(&[2, 0, 1]).reshape(&[l, b, d, 1]);
    let bre = &xt * c.p.reshape(&[1, 1, d, n]);
    let bv = Cplx {
        im: Tensor::zeros(&bre.dims(), DType::F32),
        re: bre,
    };
    let h = affine_scan(&a, &bv); // [L, B, D, N]
    let g = c.gamma.map(|t| t.reshape(&[1, 1, d, n]));
    let y = (&h.re * &g.re - &h.im * &g.im)
        .sum(&[3])
        .transpose(&[1, 2, 0]);
    let last = last_valid_index(&meta.valid); // [B]
    let pick = last
        .maximum(&Tensor::scalar_of(0.0, DType::I32))
        .one_hot(l, DType::F32)
        .transpose(&[1, 0])
        .reshape(&[l, b, 1, 1]);
    let has = last
        .ge(&Tensor::scalar_of(0.0, DType::I32))
        .reshape(&[b, 1, 1]);
    let hf = h.map(|t| Tensor::select(&has, &(t * &pick).sum(&[0]), &zero));
    (y, hf)
}
