//! Schedules: functions of the i32 step count (held in a transform's state) giving an f32
//! scalar, built from tensor ops so they trace. Formulas follow docs/optim.md and optax 0.2.8
//! (`linear_schedule`, `cosine_decay_schedule`, `warmup_cosine_decay_schedule`,
//! `join_schedules`); `cyclic` is the triangular cyclic rate.

use rax_core::{DType, Tensor};
use std::sync::Arc;

/// A schedule: step count (i32 scalar) → value (f32 scalar).
#[derive(Clone)]
pub struct Schedule(Arc<dyn Fn(&Tensor) -> Tensor>);

impl Schedule {
    /// A schedule from a function of the count.
    pub fn new(f: impl Fn(&Tensor) -> Tensor + 'static) -> Schedule {
        Schedule(Arc::new(f))
    }

    /// The value at a step count (an i32 scalar; other dtypes are cast).
    pub fn at(&self, count: &Tensor) -> Tensor {
        (self.0)(&count.cast(DType::I32)).cast(DType::F32)
    }

    /// The value at a concrete step (eager; for logging and tests).
    pub fn value(&self, step: i32) -> rax_core::Result<f32> {
        let v = self.at(&Tensor::scalar_of(step as f64, DType::I32));
        v.check()?;
        Ok(v.to_vec::<f32>()?.first().copied().unwrap_or(f32::NAN))
    }
}

fn f(x: f64) -> Tensor {
    Tensor::scalar_of(x, DType::F32)
}

fn count_f32(c: &Tensor) -> Tensor {
    c.cast(DType::F32)
}

/// The same value at every step.
pub fn constant(value: f64) -> Schedule {
    Schedule::new(move |_| f(value))
}

/// From `init` to `end` linearly over `steps` steps, constant afterwards (optax
/// `linear_schedule` with `transition_begin = 0`).
pub fn linear(init: f64, end: f64, steps: u32) -> Schedule {
    let steps = steps.max(1) as f64;
    Schedule::new(move |c| {
        let t = count_f32(c).clamp(&f(0.0), &f(steps));
        let frac = 1.0 - t / steps;
        (frac * (init - end)) + end
    })
}

/// `init·((1−α)·½(1+cos(π·min(t,n)/n)) + α)` (optax `cosine_decay_schedule`, exponent 1).
pub fn cosine_decay(init: f64, decay_steps: u32, alpha: f64) -> Schedule {
    let n = decay_steps.max(1) as f64;
    Schedule::new(move |c| {
        let t = count_f32(c).minimum(&f(n));
        let cosine = 0.5 * (1.0 + (t * (std::f64::consts::PI / n)).cos());
        init * ((1.0 - alpha) * cosine + alpha)
    })
}

/// Linear 0 → `peak` over `warmup` steps, then cosine from `peak` to `end` at step `total`
/// (optax `warmup_cosine_decay_schedule(0, peak, warmup, total, end)`; `total` includes the
/// warmup).
pub fn warmup_cosine(peak: f64, warmup: u32, total: u32, end: f64) -> Schedule {
    let alpha = if peak == 0.0 { 0.0 } else { end / peak };
    join(
        vec![
            linear(0.0, peak, warmup),
            cosine_decay(peak, total.saturating_sub(warmup), alpha),
        ],
        vec![warmup],
    )
}

/// `schedules[i]` from `boundaries[i-1]` on, evaluated at `count − boundaries[i-1]` (optax
/// `join_schedules`). Extra schedules or boundaries are ignored.
pub fn join(schedules: Vec<Schedule>, boundaries: Vec<u32>) -> Schedule {
    Schedule::new(move |c| {
        let mut out = match schedules.first() {
            Some(s) => s.at(c),
            None => f(0.0),
        };
        for (b, s) in boundaries.iter().zip(schedules.iter().skip(1)) {
            let bt = Tensor::scalar_of(*b as f64, DType::I32);
            out = Tensor::select(&c.lt(&bt), &out, &s.at(&(c - &bt)));
        }
        out
    })
}

/// Triangular cyclic rate: `lo` at the start of each period of `period` steps, rising linearly
/// to `hi` at mid-period and back to `lo`: `lo + (hi−lo)·(1 − |2·(t mod P)/P − 1|)`.
pub fn cyclic(lo: f64, hi: f64, period: u32) -> Schedule {
    let p = period.max(1);
    Schedule::new(move |c| {
        let pos = count_f32(&(c % p as i32)) / p as f64;
        let tri = 1.0 - (pos * 2.0 - 1.0).abs();
        tri * (hi - lo) + lo
    })
}
