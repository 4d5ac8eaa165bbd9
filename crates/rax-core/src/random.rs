//! Functional pseudo-random numbers with the same bits as `jax.random` 0.10.2 under its
//! defaults: the threefry2x32 PRNG, raw `u32[2]` keys (`jax.random.PRNGKey(seed)`), and
//! `jax_threefry_partitionable = True` (the default since jax 0.5): the counter of element
//! `i` of an output of shape `s` is the 64-bit row-major index `i` split into `(hi, lo)` u32
//! words, and the 32 random bits are `bits1 ^ bits2` of the threefry pair.
//!
//! Everything is built from ordinary rax ops (add, xor, shifts, or, iota, bitcast...), so a
//! key may be concrete (eager) or traced, and the lowered program is plain StableHLO (no
//! custom call). The samplers follow `jax/_src/random/core.py` op for op:
//! - `uniform`: the top mantissa bits of random bits under the exponent of 1.0, minus 1,
//!   scaled and shifted, then `max(lo, ·)`; 16-bit-or-less floats with fewer than 8 mantissa
//!   bits (bf16, f8) use 8 random bits like JAX;
//! - `normal`: `sqrt(2) * erf_inv(uniform(nextafter(-1, 0), 1))`;
//! - `truncated_normal`: `sqrt(2) * erf_inv(uniform(erf(lo/sqrt2), erf(hi/sqrt2)))` clipped
//!   into the open interval;
//! - `bernoulli`: `uniform(f32) < p`;
//! - `randint`: two split keys give high and low random words reduced modulo the span
//!   (JAX's double-width modulus), for i8/u8 (sampled in i32 like JAX), i32 and u32.
//!
//! Seeds: `PrngKey::new(seed)` is `[seed >> 32, seed & 0xFFFFFFFF]`, as JAX with
//! `jax_enable_x64` (and without it for seeds below 2^31).
//!
//! Depends on `trace` (Tensor) and the elementwise and layout ops.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::literal::Literal;
use crate::shape::AVal;
use crate::trace::{apply_error, Tensor};

/// A threefry2x32 PRNG key: a `u32[2]` tensor (concrete or traced). Keys are values: every
/// sampler is a pure function of the key, and `split`/`fold_in` derive new keys.
#[derive(Clone, Debug)]
pub struct PrngKey {
    data: Tensor,
}

fn u32c(v: u32) -> Tensor {
    Tensor::scalar_of(v as f64, DType::U32)
}

#[track_caller]
fn rotl(x: &Tensor, d: u32) -> Tensor {
    &x.shift_left(&u32c(d)) | &x.shift_right_logical(&u32c(32 - d))
}

/// The threefry2x32 block cipher (20 rounds) on counters `(x1, x2)` with key `(k1, k2)`;
/// all u32, keys scalar (or broadcastable). Returns the two output words.
#[track_caller]
pub fn threefry2x32(k1: &Tensor, k2: &Tensor, x1: &Tensor, x2: &Tensor) -> (Tensor, Tensor) {
    const ROT: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];
    let ks = [k1.clone(), k2.clone(), &(k1 ^ k2) ^ &u32c(0x1BD1_1BDA)];
    let mut x0 = x1 + &ks[0];
    let mut x1 = x2 + &ks[1];
    for i in 0..5 {
        for &r in &ROT[i % 2] {
            x0 = &x0 + &x1;
            x1 = rotl(&x1, r);
            x1 = &x0 ^ &x1;
        }
        x0 = &x0 + &ks[(i + 1) % 3];
        x1 = &(&x1 + &ks[(i + 2) % 3]) + &u32c(i as u32 + 1);
    }
    (x0, x1)
}

/// Explicit mantissa bits of a float dtype.
fn nmant(d: DType) -> u32 {
    match d {
        DType::F16 => 10,
        DType::BF16 => 7,
        DType::F32 => 23,
        DType::F64 => 52,
        DType::F8E4M3FN => 3,
        DType::F8E5M2 => 2,
        _ => 0,
    }
}

/// The neighbour of `x` (rounded to `dtype`) toward +inf (`up`) or -inf, like `nextafter`.
pub fn next_after(x: f64, dtype: DType, up: bool) -> f64 {
    let lit = Literal::full(&AVal::scalar(dtype), x);
    let xd = lit.to_f64_vec().first().copied().unwrap_or(x);
    if xd.is_nan() || (up && xd == f64::INFINITY) || (!up && xd == f64::NEG_INFINITY) {
        return xd;
    }
    let bytes = lit.to_bytes();
    let w = bytes.len();
    let mut b = [0u8; 8];
    b[..w].copy_from_slice(&bytes);
    let bits = u64::from_le_bytes(b);
    let sign = 1u64 << (8 * w - 1);
    let mag = bits & !sign;
    let neg = bits & sign != 0;
    let next = if mag == 0 {
        if up {
            1
        } else {
            sign | 1
        }
    } else if neg != up {
        bits + 1
    } else {
        bits - 1
    };
    let out = next.to_le_bytes();
    Literal::from_bytes(&AVal::scalar(dtype), &out[..w])
        .map(|l| l.to_f64_vec().first().copied().unwrap_or(xd))
        .unwrap_or(xd)
}

impl PrngKey {
    /// The key of an integer seed: `[seed >> 32, seed & 0xFFFFFFFF]` (`jax.random.PRNGKey`).
    pub fn new(seed: u64) -> PrngKey {
        let data = Tensor::from_literal(
            Literal::from_vec([2], vec![(seed >> 32) as u32, seed as u32])
                .unwrap_or_else(|_| Literal::zeros(&AVal::new([2], DType::U32))),
        );
        PrngKey { data }
    }

    /// Wraps raw key data (`jax.random.key_data`): must be a `u32[2]` tensor.
    #[track_caller]
    pub fn from_data(data: &Tensor) -> Result<PrngKey> {
        data.check()?;
        if data.aval() != AVal::new([2], DType::U32) {
            return Err(Error::arg(
                "PrngKey",
                format!("key data must be u32[2], got {}", data.aval()),
            )
            .with_site(CallSite::here()));
        }
        Ok(PrngKey { data: data.clone() })
    }

    /// The raw key data, `u32[2]`.
    pub fn data(&self) -> &Tensor {
        &self.data
    }

    #[track_caller]
    fn words(&self) -> (Tensor, Tensor) {
        let k1 = self.data.slice(&[0], &[1], &[1]).reshape(&[]);
        let k2 = self.data.slice(&[1], &[2], &[1]).reshape(&[]);
        (k1, k2)
    }

    /// The threefry pair of the partitionable counters of `shape` (`iota_2x32_shape`).
    #[track_caller]
    fn bits_pair(&self, shape: &[usize]) -> Result<(Tensor, Tensor)> {
        let n: usize = shape.iter().product();
        if n as u64 > u32::MAX as u64 {
            return Err(Error::unsupported(
                "random bits",
                format!("{n} elements: counters beyond 2^32 need u64"),
            ));
        }
        let (k1, k2) = self.words();
        let lo = Tensor::iota(&[n], 0, DType::U32).reshape(shape);
        let hi = Tensor::zeros(shape, DType::U32);
        Ok(threefry2x32(&k1, &k2, &hi, &lo))
    }

    /// `n` new keys as a `u32[n, 2]` tensor (`jax.random.split(key, n)`).
    #[track_caller]
    pub fn split_data(&self, n: usize) -> Tensor {
        let site = CallSite::here();
        match self.bits_pair(&[n]) {
            Ok((b1, b2)) => Tensor::stack(&[b1, b2], 1),
            Err(e) => apply_error(e, AVal::new([n, 2], DType::U32), site),
        }
    }

    /// `n` new keys (`jax.random.split(key, n)`).
    #[track_caller]
    pub fn split(&self, n: usize) -> Vec<PrngKey> {
        let all = self.split_data(n);
        (0..n)
            .map(|i| PrngKey {
                data: all.slice(&[i, 0], &[i + 1, 2], &[1, 1]).reshape(&[2]),
            })
            .collect()
    }

    /// A key derived from this one and an integer (`jax.random.fold_in`).
    #[track_caller]
    pub fn fold_in(&self, data: u32) -> PrngKey {
        let (k1, k2) = self.words();
        let (b1, b2) = threefry2x32(&k1, &k2, &u32c(0), &u32c(data));
        PrngKey {
            data: Tensor::stack(&[b1, b2], 0),
        }
    }

    /// 32 random bits per element, `u32[shape]` (`jax.random.bits(key, shape)`).
    #[track_caller]
    pub fn random_bits(&self, shape: &[usize]) -> Tensor {
        let site = CallSite::here();
        match self.bits_pair(shape) {
            Ok((b1, b2)) => &b1 ^ &b2,
            Err(e) => apply_error(e, AVal::new(shape, DType::U32), site),
        }
    }

    /// Uniform floats in `[0, 1)` of a float dtype, built from mantissa bits like JAX.
    #[track_caller]
    fn unit_floats(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let (b1, b2) = self.bits_pair(shape)?;
        if dtype == DType::F64 {
            // 64 random bits (b1 high, b2 low) >> 12 under the exponent of 1.0.
            let hi = &b1.shift_right_logical(&u32c(12)) | &u32c(0x3FF0_0000);
            let lo = &b1.shift_left(&u32c(20)) | &b2.shift_right_logical(&u32c(12));
            let f = Tensor::stack(&[lo, hi], shape.len()).bitcast(DType::F64);
            return Ok(&f - 1.0);
        }
        let nbits = (dtype.size_bytes() * 8) as u32;
        let nm = nmant(dtype);
        let rng_bits = if nm < 8 { 8 } else { nbits };
        let mut x = &b1 ^ &b2;
        if rng_bits < 32 {
            x = &x & &u32c(((1u64 << rng_bits) - 1) as u32);
        }
        let m = x.shift_right_logical(&u32c(rng_bits - nm));
        // 1.m as an f32 (exact for every narrower format), minus 1, then rounded exactly.
        let m = if nm < 23 {
            m.shift_left(&u32c(23 - nm))
        } else {
            m
        };
        let f = &(&m | &u32c(0x3F80_0000)).bitcast(DType::F32) - 1.0;
        Ok(f.cast(dtype))
    }

    #[track_caller]
    fn uniform_t(&self, shape: &[usize], dtype: DType, lo: &Tensor, hi: &Tensor) -> Result<Tensor> {
        let f = self.unit_floats(shape, dtype)?;
        let x = &(&f * &(hi - lo)) + lo;
        Ok(lo.maximum(&x))
    }

    /// Uniform samples in `[lo, hi)` of a float dtype (`jax.random.uniform`).
    #[track_caller]
    pub fn uniform(&self, shape: &[usize], dtype: DType, lo: f64, hi: f64) -> Tensor {
        let site = CallSite::here();
        let r = check_float("uniform", dtype).and_then(|_| {
            self.uniform_t(
                shape,
                dtype,
                &Tensor::scalar_of(lo, dtype),
                &Tensor::scalar_of(hi, dtype),
            )
        });
        finish(r, shape, dtype, site)
    }

    /// Standard normal samples of a float dtype (`jax.random.normal`):
    /// `sqrt(2) * erf_inv(u)` with `u` uniform in `[nextafter(-1, 0), 1)`.
    #[track_caller]
    pub fn normal(&self, shape: &[usize], dtype: DType) -> Tensor {
        let site = CallSite::here();
        let r = check_float("normal", dtype).and_then(|_| {
            let lo = Tensor::scalar_of(next_after(-1.0, dtype, true), dtype);
            let u = self.uniform_t(shape, dtype, &lo, &Tensor::scalar_of(1.0, dtype))?;
            Ok(&Tensor::scalar_of(std::f64::consts::SQRT_2, dtype) * &u.erf_inv())
        });
        finish(r, shape, dtype, site)
    }

    /// Normal samples truncated to the open interval `(lower, upper)`
    /// (`jax.random.truncated_normal`).
    #[track_caller]
    pub fn truncated_normal(
        &self,
        lower: f64,
        upper: f64,
        shape: &[usize],
        dtype: DType,
    ) -> Tensor {
        let site = CallSite::here();
        let r = check_float("truncated_normal", dtype).and_then(|_| {
            let sqrt2 = Tensor::scalar_of(std::f64::consts::SQRT_2, dtype);
            let lo = Tensor::scalar_of(lower, dtype);
            let hi = Tensor::scalar_of(upper, dtype);
            let a = (&lo / &sqrt2).erf();
            let b = (&hi / &sqrt2).erf();
            let u = self.uniform_t(shape, dtype, &a, &b)?;
            let out = &sqrt2 * &u.erf_inv();
            let min = Tensor::scalar_of(next_after(lower, dtype, true), dtype);
            let max = Tensor::scalar_of(next_after(upper, dtype, false), dtype);
            Ok(max.minimum(&min.maximum(&out)))
        });
        finish(r, shape, dtype, site)
    }

    /// Bernoulli samples (bool) with mean `p`, sampled in f32 like `jax.random.bernoulli`
    /// with a Python float `p`: `uniform(f32) < p`.
    #[track_caller]
    pub fn bernoulli(&self, p: f64, shape: &[usize]) -> Tensor {
        let site = CallSite::here();
        let r = self
            .uniform_t(
                shape,
                DType::F32,
                &Tensor::scalar_of(0.0, DType::F32),
                &Tensor::scalar_of(1.0, DType::F32),
            )
            .map(|u| u.lt(&Tensor::scalar_of(p, DType::F32)));
        finish(r, shape, DType::Bool, site)
    }

    /// Uniform integers in `[lo, hi)` (`jax.random.randint`) of dtype i8, u8, i32 or u32;
    /// bounds are clipped to the dtype's range like JAX, and `hi <= lo` gives `lo`.
    #[track_caller]
    pub fn randint(&self, shape: &[usize], lo: i64, hi: i64, dtype: DType) -> Tensor {
        let site = CallSite::here();
        let r = self.randint_impl(shape, lo, hi, dtype);
        finish(r, shape, dtype, site)
    }

    #[track_caller]
    fn randint_impl(&self, shape: &[usize], lo: i64, hi: i64, dtype: DType) -> Result<Tensor> {
        let (dmin, dmax): (i64, i64) = match dtype {
            DType::I8 => (i8::MIN as i64, i8::MAX as i64),
            DType::U8 => (0, u8::MAX as i64),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::U32 => (0, u32::MAX as i64),
            _ => {
                return Err(Error::dtype(
                    "randint",
                    dtype,
                    "i8, u8, i32 or u32 (i64 would need 64-bit unsigned arithmetic)",
                ))
            }
        };
        // Narrow dtypes sample in i32 with bounds clipped to the dtype (maxval up to max+1).
        let (sdtype, lo, hi) = if dtype.size_bytes() < 4 {
            (
                DType::I32,
                (lo as i32 as i64).clamp(dmin, dmax),
                (hi as i32 as i64).clamp(dmin, dmax + 1),
            )
        } else {
            (dtype, lo, hi)
        };
        let (smin, smax) = if sdtype == DType::I32 {
            (i32::MIN as i64, i32::MAX as i64)
        } else {
            (0, u32::MAX as i64)
        };
        let out_of_range = hi > smax;
        let minc = lo.clamp(smin, smax);
        let maxc = hi.clamp(smin, smax);
        let mut span = (maxc - minc) as u32;
        if maxc <= minc {
            span = 1;
        }
        if out_of_range && maxc > minc {
            span = span.wrapping_add(1);
        }
        let rem = |a: u32, b: u32| if b == 0 { a } else { a % b };
        let mult = rem(1 << 16, span);
        let mult = rem(mult.wrapping_mul(mult), span);
        let keys = self.split(2);
        let higher = keys[0].random_bits(shape);
        let lower = keys[1].random_bits(shape);
        let sp = u32c(span);
        let off = &(&higher.rem(&sp) * &u32c(mult)) + &lower.rem(&sp);
        let off = off.rem(&sp);
        let r = &Tensor::scalar_of(minc as f64, sdtype) + &off.cast(sdtype);
        Ok(r.cast(dtype))
    }
}

fn check_float(op: &str, dtype: DType) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::dtype(op, dtype, "a real float dtype"));
    }
    Ok(())
}

fn finish(r: Result<Tensor>, shape: &[usize], dtype: DType, site: CallSite) -> Tensor {
    match r {
        Ok(t) => t,
        Err(e) => apply_error(e, AVal::new(shape, dtype), site),
    }
}
