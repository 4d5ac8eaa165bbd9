//! Shared helpers of the autodiff tests: a deterministic RNG, host conversions, and the generic
//! VJP checker against central finite differences.
#![allow(dead_code)]

use num_complex::Complex32;
use rax_core::literal::Data;
use rax_core::{autodiff, DType, Literal, Tensor};

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn tensor(&mut self, dims: &[usize], dtype: DType, lo: f64, hi: f64) -> Tensor {
        let n: usize = dims.iter().product();
        if dtype == DType::C64 {
            let v: Vec<Complex32> = (0..n)
                .map(|_| Complex32::new(self.uniform(lo, hi) as f32, self.uniform(lo, hi) as f32))
                .collect();
            return Tensor::from_vec(dims.to_vec(), v).unwrap();
        }
        let v: Vec<f64> = (0..n).map(|_| self.uniform(lo, hi)).collect();
        Tensor::from_literal(Literal::from_f64s(dims.to_vec(), dtype, &v).unwrap())
    }
}

/// Elements as (re, im) pairs in f64.
pub fn host(t: &Tensor) -> Vec<(f64, f64)> {
    let l = t.to_literal().unwrap();
    match l.data() {
        Data::C64(v) => v.iter().map(|c| (c.re as f64, c.im as f64)).collect(),
        _ => l.to_f64_vec().into_iter().map(|x| (x, 0.0)).collect(),
    }
}

fn from_host(like: &Tensor, v: &[(f64, f64)]) -> Tensor {
    if like.dtype() == DType::C64 {
        let c: Vec<Complex32> = v
            .iter()
            .map(|(a, b)| Complex32::new(*a as f32, *b as f32))
            .collect();
        return Tensor::from_vec(like.dims(), c).unwrap();
    }
    let r: Vec<f64> = v.iter().map(|p| p.0).collect();
    Tensor::from_literal(Literal::from_f64s(like.dims(), like.dtype(), &r).unwrap())
}

/// Σ real(a·b) (the bilinear pairing under which JAX's complex VJPs are transposes).
fn pair(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.0 * y.0 - x.1 * y.1).sum()
}

/// Checks `f`'s VJP at `xs` against central finite differences: for a random output cotangent
/// `ct` and a random direction `dx`, `<vjp(ct), dx>` must equal
/// `<ct, (f(x + h dx) - f(x - h dx)) / 2h>`. Also checks that every cotangent has its primal's
/// type. Returns the input cotangents.
pub fn check_vjp<F>(name: &str, f: F, xs: &[Tensor], h: f64, tol: f64, seed: u64) -> Vec<Tensor>
where
    F: Fn(&[Tensor]) -> Vec<Tensor>,
{
    let mut rng = Rng(seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1);
    let (outs, pb) = autodiff::vjp(&f, xs).unwrap_or_else(|e| panic!("{name}: vjp failed: {e}"));
    let cts: Vec<Tensor> = outs
        .iter()
        .map(|o| {
            if o.dtype().is_inexact() {
                rng.tensor(&o.dims(), o.dtype(), -1.0, 1.0)
            } else {
                Tensor::zeros(&o.dims(), o.dtype())
            }
        })
        .collect();
    let in_cts = pb
        .call(&cts)
        .unwrap_or_else(|e| panic!("{name}: pullback failed: {e}"));
    assert_eq!(in_cts.len(), xs.len(), "{name}");
    for (c, x) in in_cts.iter().zip(xs) {
        assert_eq!(
            c.aval(),
            x.aval(),
            "{name}: a cotangent has its primal's type"
        );
    }
    let dxs: Vec<Tensor> = xs
        .iter()
        .map(|x| {
            if x.dtype().is_inexact() {
                rng.tensor(&x.dims(), x.dtype(), -1.0, 1.0)
            } else {
                Tensor::zeros(&x.dims(), x.dtype())
            }
        })
        .collect();
    let shifted = |sign: f64| -> Vec<Tensor> {
        xs.iter()
            .zip(&dxs)
            .map(|(x, d)| {
                if !x.dtype().is_inexact() {
                    return x.clone();
                }
                let v: Vec<(f64, f64)> = host(x)
                    .iter()
                    .zip(host(d))
                    .map(|(a, b)| (a.0 + sign * h * b.0, a.1 + sign * h * b.1))
                    .collect();
                from_host(x, &v)
            })
            .collect()
    };
    let (fp, fm) = (f(&shifted(1.0)), f(&shifted(-1.0)));
    let mut rhs = 0.0;
    for ((p, m), c) in fp.iter().zip(&fm).zip(&cts) {
        if !p.dtype().is_inexact() {
            continue;
        }
        let diff: Vec<(f64, f64)> = host(p)
            .iter()
            .zip(host(m))
            .map(|(a, b)| ((a.0 - b.0) / (2.0 * h), (a.1 - b.1) / (2.0 * h)))
            .collect();
        rhs += pair(&host(c), &diff);
    }
    let mut lhs = 0.0;
    for (c, d) in in_cts.iter().zip(&dxs) {
        lhs += pair(&host(c), &host(d));
    }
    let scale = 1.0 + lhs.abs().max(rhs.abs());
    assert!(
        (lhs - rhs).abs() <= tol * scale,
        "{name}: <vjp(ct), dx> = {lhs} but finite differences give {rhs}"
    );
    in_cts
}

/// Shorthand: f64 inputs, h = 1e-6, tolerance 1e-6.
pub fn check64<F>(name: &str, f: F, xs: &[Tensor]) -> Vec<Tensor>
where
    F: Fn(&[Tensor]) -> Vec<Tensor>,
{
    check_vjp(name, f, xs, 1e-6, 1e-6, name.len() as u64 * 7919)
}
