//! The dtype policy (`Policy { param, compute, accum, softmax }`), its jmp-style string form
//! (`p=f32,c=bf16,a=f32,s=f32`), validation with explanations, loss scaling for f16 (static and
//! dynamic, as pure state), and the tree casts that follow the policy while keeping
//! precision-sensitive leaves in f32.
//!
//! Rules:
//! - every dtype is a real float of 16 bits or more; the defaults are all f32;
//! - `accum` (reductions, gradient accumulation, optimizer moments) must be f32;
//! - f16 anywhere needs a [`LossScale`] (its 5 exponent bits underflow small gradients);
//! - fp8 is reserved as a GEMM input format (scaled matmuls), never a policy dtype.
//!
//! Depends on `dtype`, `error`, `trace` (Tensor), `tree` and [`crate::precision`] (casts that skip
//! sensitive leaves, `all_finite`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::precision::{all_finite, cast_floating};
use crate::trace::Tensor;
use crate::tree::{tree_map, Tree};
use std::fmt;
use std::str::FromStr;

/// Which dtype each part of a training step uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Storage dtype of the trainable parameters (the masters; f32 is the safe choice).
    pub param: DType,
    /// Dtype of the forward/backward computation (bf16 is the speed setting).
    pub compute: DType,
    /// Dtype of reductions, gradient accumulation and optimizer moments (must be f32).
    pub accum: DType,
    /// Dtype of softmax / log-softmax / cross-entropy.
    pub softmax: DType,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            param: DType::F32,
            compute: DType::F32,
            accum: DType::F32,
            softmax: DType::F32,
        }
    }
}

impl Policy {
    /// All f32 (the default).
    pub fn f32() -> Policy {
        Policy::default()
    }

    /// f32 masters, bf16 compute, f32 accumulation and softmax (`p=f32,c=bf16,a=f32,s=f32`).
    pub fn bf16_compute() -> Policy {
        Policy {
            compute: DType::BF16,
            ..Policy::default()
        }
    }

    /// Parses the jmp-style form `p=f32,c=bf16,a=f32,s=f32`. Keys: `p`/`param`/`params`,
    /// `c`/`compute`, `a`/`accum`, `s`/`softmax`; dtypes as [`DType::parse`] accepts them
    /// (`bf16`, `bfloat16`, `float32`, ...). Missing keys keep their f32 default. A bare dtype
    /// (`f32`, `bf16`) sets all four. Parsing does not validate: call [`Policy::validate`].
    pub fn parse(s: &str) -> Result<Policy> {
        if !s.contains('=') && !s.contains(',') {
            if let Some(d) = DType::parse(s.trim()) {
                return Ok(Policy {
                    param: d,
                    compute: d,
                    accum: d,
                    softmax: d,
                });
            }
        }
        let mut p = Policy::default();
        let mut seen = Vec::new();
        for part in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                Error::arg(
                    "Policy::parse",
                    format!(
                        "`{part}` in `{s}` is not `key=dtype` (e.g. `p=f32,c=bf16,a=f32,s=f32`)"
                    ),
                )
            })?;
            let d = DType::parse(v).ok_or_else(|| {
                Error::arg(
                    "Policy::parse",
                    format!("unknown dtype `{}` in `{s}`", v.trim()),
                )
            })?;
            let key = match k.trim().to_ascii_lowercase().as_str() {
                "p" | "param" | "params" => "p",
                "c" | "compute" => "c",
                "a" | "accum" | "accumulation" => "a",
                "s" | "softmax" => "s",
                other => {
                    return Err(Error::arg(
                        "Policy::parse",
                        format!("unknown key `{other}` in `{s}` (expected p, c, a or s)"),
                    ))
                }
            };
            if seen.contains(&key) {
                return Err(Error::arg(
                    "Policy::parse",
                    format!("key `{key}` given twice in `{s}`"),
                ));
            }
            seen.push(key);
            match key {
                "p" => p.param = d,
                "c" => p.compute = d,
                "a" => p.accum = d,
                _ => p.softmax = d,
            }
        }
        Ok(p)
    }

    /// Parses and validates (without a loss scale: f16 is rejected).
    pub fn parse_valid(s: &str, loss_scale: Option<&LossScale>) -> Result<Policy> {
        let p = Policy::parse(s)?;
        p.validate(loss_scale)?;
        Ok(p)
    }

    fn fields(&self) -> [(&'static str, DType); 4] {
        [
            ("param", self.param),
            ("compute", self.compute),
            ("accum", self.accum),
            ("softmax", self.softmax),
        ]
    }

    /// Checks the policy, explaining what is wrong and what to do:
    /// every dtype a real float of 16 bits or more (fp8 is reserved as a GEMM input format);
    /// `accum` f32; f16 anywhere only with a loss scale.
    pub fn validate(&self, loss_scale: Option<&LossScale>) -> Result<()> {
        for (name, d) in self.fields() {
            if matches!(d, DType::F8E4M3FN | DType::F8E5M2) {
                return Err(Error::arg(
                    "Policy",
                    format!(
                        "{name}={d}: fp8 is reserved as a GEMM input format (scaled matmuls with \
                         per-tensor scales), not a storage or compute dtype; use bf16 or f32 here"
                    ),
                ));
            }
            if !d.is_float() {
                return Err(Error::arg(
                    "Policy",
                    format!(
                        "{name}={d}: a policy dtype must be a real float (f32, bf16, f16, f64)"
                    ),
                ));
            }
        }
        if self.accum != DType::F32 {
            return Err(Error::arg(
                "Policy",
                format!(
                    "accum={}: accumulation (reductions, gradient sums, optimizer moments) must be \
                     f32; narrower accumulators lose small addends and wider ones are not needed",
                    self.accum
                ),
            ));
        }
        if loss_scale.is_none() {
            if let Some((name, _)) = self.fields().into_iter().find(|(_, d)| *d == DType::F16) {
                return Err(Error::arg(
                    "Policy",
                    format!(
                        "{name}=f16 needs loss scaling: f16 has 5 exponent bits, so gradients \
                         below about 6e-8 flush to zero; pass a LossScale (LossScale::dynamic() \
                         or LossScale::Static), or use bf16, which has f32's exponent range"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Casts the floating leaves of a tree to `compute`, keeping sensitive leaves f32.
    #[track_caller]
    pub fn cast_to_compute<T: Tree>(&self, t: &T) -> T {
        cast_floating(t, self.compute, false)
    }

    /// Casts the floating leaves of a tree to `param`, keeping sensitive leaves f32.
    #[track_caller]
    pub fn cast_to_param<T: Tree>(&self, t: &T) -> T {
        cast_floating(t, self.param, false)
    }

    /// Casts the floating leaves of a tree to `accum` (f32).
    #[track_caller]
    pub fn cast_to_accum<T: Tree>(&self, t: &T) -> T {
        cast_floating(t, self.accum, false)
    }

    /// Casts one tensor to the softmax dtype (when floating).
    #[track_caller]
    pub fn cast_to_softmax(&self, x: &Tensor) -> Tensor {
        if x.dtype().is_float() {
            x.cast(self.softmax)
        } else {
            x.clone()
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p={},c={},a={},s={}",
            self.param, self.compute, self.accum, self.softmax
        )
    }
}

impl FromStr for Policy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Policy> {
        Policy::parse(s)
    }
}

/// Loss scaling for f16 training (static, or dynamic as pure state: see [`LossScaleState`]).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossScale {
    /// A fixed scale S: loss·S forward, gradients / S backward; never adjusted.
    Static {
        /// The scale (a power of two keeps the unscaling exact).
        scale: f32,
    },
    /// A scale that doubles (times `factor`) after `period` consecutive finite steps and halves
    /// (divides by `factor`, not below `floor`) on a non-finite step, which is skipped.
    Dynamic {
        /// The initial scale.
        initial: f32,
        /// Finite steps before growing.
        period: u32,
        /// Growth / shrink factor.
        factor: f32,
        /// The smallest scale.
        floor: f32,
    },
}

impl LossScale {
    /// Dynamic scaling with the usual constants (2^15, period 2000, factor 2, floor 1).
    pub fn dynamic() -> LossScale {
        LossScale::Dynamic {
            initial: 32768.0,
            period: 2000,
            factor: 2.0,
            floor: 1.0,
        }
    }

    /// The initial state (f32 scale, i32 count of consecutive finite steps).
    pub fn init(&self) -> LossScaleState {
        let s = match self {
            LossScale::Static { scale } => *scale,
            LossScale::Dynamic { initial, .. } => *initial,
        };
        LossScaleState {
            scale: Tensor::scalar_of(s as f64, DType::F32),
            good_steps: Tensor::scalar_of(0.0, DType::I32),
        }
    }

    /// loss · S (in the loss's dtype).
    #[track_caller]
    pub fn scale_loss(&self, state: &LossScaleState, loss: &Tensor) -> Tensor {
        loss * &state.scale.cast(loss.dtype())
    }

    /// Gradients / S, computed in f32 and cast back to each leaf's dtype.
    #[track_caller]
    pub fn unscale<T: Tree>(&self, state: &LossScaleState, grads: &T) -> T {
        let inv = 1.0 / &state.scale;
        tree_map(grads, |g| {
            if g.dtype().is_float() {
                (g.cast(DType::F32) * &inv).cast(g.dtype())
            } else {
                g.clone()
            }
        })
    }

    /// The next state given whether this step's gradients were all finite (a bool scalar).
    #[track_caller]
    pub fn adjust(&self, state: &LossScaleState, finite: &Tensor) -> LossScaleState {
        match self {
            LossScale::Static { .. } => state.clone(),
            LossScale::Dynamic {
                period,
                factor,
                floor,
                ..
            } => {
                let s = &state.scale;
                let one = Tensor::scalar_of(1.0, DType::I32);
                let zero = Tensor::scalar_of(0.0, DType::I32);
                let next = &state.good_steps + &one;
                let grow = next.ge(&Tensor::scalar_of(*period as f64, DType::I32));
                let grown = Tensor::select(&grow, &(s * *factor as f64), s);
                let good = Tensor::select(&grow, &zero, &next);
                let shrunk = (s / *factor as f64).maximum(&s.scalar_like(*floor as f64));
                LossScaleState {
                    scale: Tensor::select(finite, &grown, &shrunk),
                    good_steps: Tensor::select(finite, &good, &zero),
                }
            }
        }
    }

    /// Unscales the gradients, checks them, and returns `(grads, finite, next_state)`; callers
    /// skip the step with [`crate::precision::select_tree`] when `finite` is false.
    #[track_caller]
    pub fn unscale_and_adjust<T: Tree>(
        &self,
        state: &LossScaleState,
        grads: &T,
    ) -> (T, Tensor, LossScaleState) {
        let g = self.unscale(state, grads);
        let finite = all_finite(&g);
        let next = self.adjust(state, &finite);
        (g, finite, next)
    }
}

/// The state of a loss scale: a pytree, so it can live in a jitted step and be donated.
#[derive(Clone, Debug)]
pub struct LossScaleState {
    /// The current scale (f32 scalar).
    pub scale: Tensor,
    /// Consecutive finite steps since the last change (i32 scalar).
    pub good_steps: Tensor,
}

impl Tree for LossScaleState {
    fn for_each_leaf(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        crate::tree::with_segment(path, "scale", |p| f(p, &self.scale));
        crate::tree::with_segment(path, "good_steps", |p| f(p, &self.good_steps));
    }
    fn map_leaves(
        &self,
        path: &mut Vec<String>,
        f: &mut dyn FnMut(&[String], &Tensor) -> Tensor,
    ) -> Self {
        LossScaleState {
            scale: crate::tree::with_segment(path, "scale", |p| f(p, &self.scale)),
            good_steps: crate::tree::with_segment(path, "good_steps", |p| f(p, &self.good_steps)),
        }
    }
    fn write_structure(&self, out: &mut String) {
        out.push_str("LossScaleState{scale,good_steps}");
    }
}
