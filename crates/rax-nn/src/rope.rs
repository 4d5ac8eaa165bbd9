//! Rotary position embedding (RoPE) in f32, for both layouts found in checkpoints:
//! [`RopeLayout::Interleaved`] rotates adjacent pairs `(x[2i], x[2i+1])` (Megalodon, and
//! DeepSeek checkpoints with `rope_interleave`); [`RopeLayout::HalfSplit`] rotates
//! `(x[i], x[i + d/2])` (the `rotate_half` convention of Llama-style code).
//!
//! Frequencies are `ω_i = base^(−i/(d/2))`, `i = 0..d/2`, computed in f32 inside the traced
//! program (as `jnp.power` does); angles `pos·ω_i`, their cos/sin and the rotation are f32, and
//! the result is cast back to the input dtype. A table is built once per call and shared by
//! every layer; its cos/sin are materialised once (an `optimization_barrier`) rather than
//! recomputed inside every fusion that reads them.
//!
//! Depends on rax-core.

use rax_core::{optimization_barrier, DType, Error, Tensor};

/// Which pairs of the last axis a rotation mixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// Adjacent pairs `(2i, 2i+1)`.
    Interleaved,
    /// Pairs `(i, i + d/2)`.
    HalfSplit,
}

/// f32 cos/sin factors `[B or 1, T, 1, d/2]`, broadcast over heads.
#[derive(Clone, Debug)]
pub struct RopeTable {
    /// cos(pos·ω).
    pub cos: Tensor,
    /// sin(pos·ω).
    pub sin: Tensor,
}

/// The inverse frequencies `base^(−i/half)`, `i = 0..half`, as an f32 tensor `[half]`.
#[track_caller]
pub fn inverse_frequencies(dim: usize, base: f64) -> Tensor {
    let half = dim / 2;
    let exponent = Tensor::iota(&[half], 0, DType::F32) * (1.0 / half.max(1) as f64);
    Tensor::full(&[half], base, DType::F32).pow(&exponent.neg())
}

impl RopeTable {
    /// The table for integer `positions` `[T]` or `[B, T]` and inverse frequencies `[half]`.
    #[track_caller]
    pub fn from_positions(positions: &Tensor, inv_freq: &Tensor) -> RopeTable {
        let site = rax_core::CallSite::here();
        let half = inv_freq.dims().first().copied().unwrap_or(0);
        let pos = positions.cast(DType::F32);
        let pos = match pos.rank() {
            1 => pos.expand_dims(0),
            2 => pos,
            _ => {
                let e = Error::shape(
                    "rope::table",
                    "positions must be [T] or [B, T]",
                    &[positions.aval()],
                );
                return RopeTable::poisoned(e, positions.aval(), site);
            }
        };
        let (b, t) = (pos.dims()[0], pos.dims()[1]);
        let angles = pos.reshape(&[b, t, 1, 1]) * inv_freq.reshape(&[1, 1, 1, half]);
        // Materialised once: XLA's CPU fusion would otherwise copy the scalar libm `sin`/`cos`
        // into every fusion that reads the table (16 copies each in a 2-layer Megalodon step).
        let mut cs = optimization_barrier(&[angles.cos(), angles.sin()]).into_iter();
        match (cs.next(), cs.next()) {
            (Some(cos), Some(sin)) => RopeTable { cos, sin },
            _ => {
                let e = Error::shape("rope::table", "no cos/sin", &[angles.aval()]);
                RopeTable::poisoned(e, angles.aval(), site)
            }
        }
    }

    /// A table whose factors carry `e` (reported at `site` when the program is built).
    fn poisoned(e: Error, aval: rax_core::AVal, site: rax_core::CallSite) -> RopeTable {
        let t = rax_core::trace::apply_error(e, aval, site);
        RopeTable {
            cos: t.clone(),
            sin: t,
        }
    }

    /// The table for positions `start..start + len` (shared by the batch).
    #[track_caller]
    pub fn from_range(start: usize, len: usize, inv_freq: &Tensor) -> RopeTable {
        let pos = Tensor::iota(&[len], 0, DType::I32) + Tensor::scalar_of(start as f64, DType::I32);
        RopeTable::from_positions(&pos, inv_freq)
    }
}

/// Rotates `x [B, T, H, d]` by `table` (`[B or 1, T, 1, d/2]`) in f32 and casts back to x's dtype.
#[track_caller]
pub fn apply_rope(x: &Tensor, table: &RopeTable, layout: RopeLayout) -> Tensor {
    let site = rax_core::CallSite::here();
    let dims = x.dims();
    let ok = dims.len() == 4
        && dims[3].is_multiple_of(2)
        && table.cos.rank() == 4
        && table.cos.dims()[1] == dims[1]
        && table.cos.dims()[3] * 2 == dims[3]
        && (table.cos.dims()[0] == 1 || table.cos.dims()[0] == dims[0]);
    if !ok {
        let e = Error::shape(
            "apply_rope",
            "expects x [B, T, H, d] with d even and a table [B or 1, T, 1, d/2]",
            &[x.aval(), table.cos.aval()],
        );
        return rax_core::trace::apply_error(e, x.aval(), site);
    }
    let (b, t, h, d) = (dims[0], dims[1], dims[2], dims[3]);
    let half = d / 2;
    let xf = x.cast(DType::F32);
    let (x1, x2) = match layout {
        RopeLayout::Interleaved => {
            let p = xf.reshape(&[b, t, h, half, 2]);
            (
                p.slice_axis(4, 0, 1).reshape(&[b, t, h, half]),
                p.slice_axis(4, 1, 2).reshape(&[b, t, h, half]),
            )
        }
        RopeLayout::HalfSplit => (xf.slice_axis(3, 0, half), xf.slice_axis(3, half, d)),
    };
    let (c, s) = (&table.cos, &table.sin);
    let r1 = &x1 * c - &x2 * s;
    let r2 = &x2 * c + &x1 * s;
    let out = match layout {
        RopeLayout::Interleaved => Tensor::stack(&[r1, r2], 4).reshape(&[b, t, h, d]),
        RopeLayout::HalfSplit => Tensor::concat(&[r1, r2], 3),
    };
    out.cast(x.dtype())
}
