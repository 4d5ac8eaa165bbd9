//! Parameters stored below f32 (docs/optim.md, "Mixed precision"): [`with_master_weights`] keeps an
//! f32 master copy in the optimizer state and emits the update that moves the stored params to
//! the rounded new master; [`stochastic_rounding`] instead rounds θ + u to bf16 stochastically
//! (E[round(x)] = x), with a u32[2] PRNG key in the state.
//!
//! Both emit an update `u'` such that `apply_updates(θ, u')` (θ + u' in f32, cast to θ's dtype)
//! gives exactly the target low-precision value: θ and the target are both representable in the
//! narrow dtype, so their difference and the sum are exact in f32 (or round back to the target).

use crate::{check_lens, need_params, Boxed, GradientTransformation, LeafMeta, State};
use rax_core::{DType, Error, Result, Tensor};

fn low(meta: &[LeafMeta]) -> Vec<usize> {
    (0..meta.len())
        .filter(|&i| matches!(meta[i].dtype, DType::BF16 | DType::F16))
        .collect()
}

fn pick<T: Clone>(xs: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().filter_map(|&i| xs.get(i).cloned()).collect()
}

/// Keeps f32 masters of the f16/bf16 params: the inner transform sees the f32 masters as its
/// params, the masters are updated in f32, and the emitted update moves each stored param to
/// its master rounded to the storage dtype. State: `master` (per low-precision leaf), `inner`.
pub struct MasterWeights {
    inner: Boxed,
}

/// Builds [`MasterWeights`].
pub fn with_master_weights(inner: impl GradientTransformation + 'static) -> MasterWeights {
    MasterWeights {
        inner: Box::new(inner),
    }
}

impl GradientTransformation for MasterWeights {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        let l = low(meta);
        let masters: Vec<Tensor> = pick(params, &l)
            .iter()
            .map(|p| p.cast(DType::F32))
            .collect();
        let full: Vec<Tensor> = params.iter().map(crate::widen).collect();
        Ok(State::node(vec![
            ("master", State::per_leaf(masters, &pick(meta, &l))),
            ("inner", self.inner.init_flat(&full, meta)?),
        ]))
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        check_lens("with_master_weights", &updates, params, meta)?;
        let p = need_params("with_master_weights", params)?;
        let l = low(meta);
        let [master, inner] = state.into_fields(["master", "inner"])?;
        let masters = master.into_per_leaf(&pick(meta, &l))?;
        let mut full: Vec<Tensor> = p.iter().map(crate::widen).collect();
        for (&i, m) in l.iter().zip(&masters) {
            full[i] = m.clone();
        }
        let (mut u, inner) = self.inner.update_flat(updates, inner, Some(&full), meta)?;
        let mut new_masters = Vec::with_capacity(l.len());
        for (&i, m) in l.iter().zip(&masters) {
            let nm = m + &u[i].cast(DType::F32);
            u[i] = nm.cast(p[i].dtype()).cast(DType::F32) - p[i].cast(DType::F32);
            new_masters.push(nm);
        }
        Ok((
            u,
            State::node(vec![
                ("master", State::per_leaf(new_masters, &pick(meta, &l))),
                ("inner", inner),
            ]),
        ))
    }
}

/// Stochastic rounding of bf16 params: the target θ + u (in f32) gets uniform random bits added
/// below bf16's mantissa to its bit pattern, then its low 16 bits are truncated. f32 leaves are
/// updated as usual. State: `key` (u32[2]; the second word counts steps), `inner`.
pub struct StochasticRounding {
    inner: Boxed,
    seed: u32,
}

/// Builds [`StochasticRounding`] with a PRNG seed.
pub fn stochastic_rounding(
    inner: impl GradientTransformation + 'static,
    seed: u32,
) -> StochasticRounding {
    StochasticRounding {
        inner: Box::new(inner),
        seed,
    }
}

fn u32s(x: u32) -> Tensor {
    Tensor::scalar_of(x as f64, DType::U32)
}

/// A 32-bit integer hash (Wellons' lowbias32): a stateless counter-based generator.
fn hash(x: &Tensor) -> Tensor {
    let x = x ^ &x.shift_right_logical(&u32s(16));
    let x = &x * &u32s(0x7feb_352d);
    let x = &x ^ &x.shift_right_logical(&u32s(15));
    let x = &x * &u32s(0x846c_a68b);
    &x ^ &x.shift_right_logical(&u32s(16))
}

/// `n` pseudo-random u32 words (shape `dims`) from a u32[2] key and a stream id.
fn random_bits(key: &Tensor, stream: u32, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let k0 = key.slice_axis(0, 0, 1).reshape(&[]);
    let k1 = key.slice_axis(0, 1, 2).reshape(&[]);
    let ctr = Tensor::iota(&[n], 0, DType::U32);
    let h = hash(&(&(&ctr * &u32s(0x9e37_79b9)) ^ &k0));
    let salt = &(&k1 * &u32s(0x85eb_ca6b)) ^ &u32s(stream.wrapping_mul(0xc2b2_ae35));
    let h = hash(&(&h ^ &salt));
    h.reshape(dims)
}

/// Rounds f32 `x` to bf16 stochastically with random words `bits` (same shape).
pub fn round_bf16_stochastic(x: &Tensor, bits: &Tensor) -> Tensor {
    let b = x.cast(DType::F32).bitcast(DType::U32);
    let r = bits & &u32s(0xffff);
    let y = &(&b + &r) & &u32s(0xffff_0000);
    y.bitcast(DType::F32).cast(DType::BF16)
}

impl GradientTransformation for StochasticRounding {
    fn init_flat(&self, params: &[Tensor], meta: &[LeafMeta]) -> Result<State> {
        let key = Tensor::from_vec([2], vec![self.seed, 0u32])?;
        let full: Vec<Tensor> = params.iter().map(crate::widen).collect();
        Ok(State::node(vec![
            ("key", State::Leaf(key)),
            ("inner", self.inner.init_flat(&full, meta)?),
        ]))
    }
    fn update_flat(
        &self,
        updates: Vec<Tensor>,
        state: State,
        params: Option<&[Tensor]>,
        meta: &[LeafMeta],
    ) -> Result<(Vec<Tensor>, State)> {
        check_lens("stochastic_rounding", &updates, params, meta)?;
        let p = need_params("stochastic_rounding", params)?;
        let [key, inner] = state.into_fields(["key", "inner"])?;
        let key = key.tensor()?.clone();
        if key.dims() != [2] || key.dtype() != DType::U32 {
            return Err(Error::arg(
                "stochastic_rounding",
                format!("the key must be u32[2], found {}", key.aval()),
            ));
        }
        let full: Vec<Tensor> = p.iter().map(crate::widen).collect();
        let (mut u, inner) = self.inner.update_flat(updates, inner, Some(&full), meta)?;
        for (i, m) in meta.iter().enumerate() {
            if m.dtype == DType::BF16 {
                let target = &full[i] + &u[i].cast(DType::F32);
                let bits = random_bits(&key, i as u32, &m.dims);
                let r = round_bf16_stochastic(&target, &bits);
                u[i] = r.cast(DType::F32) - &full[i];
            }
        }
        let next = &key + &Tensor::from_vec([2], vec![0u32, 1])?;
        Ok((
            u,
            State::node(vec![("key", State::Leaf(next)), ("inner", inner)]),
        ))
    }
}
