//! Indexing built from primitives (`jax.numpy` style): `take` and `index_add` (gather and
//! scatter-add along one axis, negative indices wrapped) and `one_hot` (iota, compare, convert).
//! No `Op` of their own.
//!
//! Depends on `trace`, `prim` (indexing, layout, elementwise).

use crate::dtype::DType;
use crate::error::{CallSite, Error};
use crate::ir::{CmpDir, Op};
use crate::ir::{GatherDims, ScatterDims};
use crate::prim::indexing::{axis_offset_dims, wrap_negative};
use crate::shape::{AVal, Shape};
use crate::trace::{apply1, apply_error, Tensor};

impl Tensor {
    /// `x[:, ..., idx]` along `axis` (like `jnp.take(x, idx, axis, mode="clip")` after Python
    /// wrapping of negative indices, i.e. JAX's `x[idx]`): the result has shape
    /// `dims[..axis] ++ idx.dims ++ dims[axis+1..]`; out-of-range indices are clamped.
    #[track_caller]
    pub fn take(&self, indices: &Tensor, axis: usize) -> Tensor {
        let site = CallSite::here();
        let r = self.rank();
        if let Err(e) = crate::prim::check_axis("take", axis, r) {
            return apply_error(e, self.aval(), site);
        }
        if !indices.dtype().is_int() {
            return apply_error(
                Error::dtype("take", indices.dtype(), "integer indices"),
                self.aval(),
                site,
            );
        }
        let ir = indices.rank();
        let i = wrap_negative(indices, self.dims()[axis]);
        let mut ishape = i.dims();
        ishape.push(1);
        let i = i.broadcast_in_dim(&ishape, &(0..ir).collect::<Vec<_>>());
        let mut slice_sizes = self.dims();
        slice_sizes[axis] = 1;
        let g = GatherDims {
            offset_dims: axis_offset_dims(r, ir, axis),
            collapsed_slice_dims: vec![axis],
            start_index_map: vec![axis],
            index_vector_dim: ir,
            slice_sizes,
            ..Default::default()
        };
        apply1(Op::Gather(g), &[self, &i], site)
    }

    /// `x.at[:, ..., idx].add(updates)` along `axis`: adds each slice of `updates` (broadcast to
    /// `dims[..axis] ++ idx.dims ++ dims[axis+1..]`, same dtype) at its index; repeated indices
    /// accumulate, negative indices count from the end, out-of-range ones are dropped.
    #[track_caller]
    pub fn index_add(&self, axis: usize, indices: &Tensor, updates: &Tensor) -> Tensor {
        let site = CallSite::here();
        let r = self.rank();
        if let Err(e) = crate::prim::check_axis("index_add", axis, r) {
            return apply_error(e, self.aval(), site);
        }
        if !indices.dtype().is_int() {
            return apply_error(
                Error::dtype("index_add", indices.dtype(), "integer indices"),
                self.aval(),
                site,
            );
        }
        let ir = indices.rank();
        let dims = self.dims();
        let ushape: Vec<usize> = dims[..axis]
            .iter()
            .chain(&indices.dims())
            .chain(&dims[axis + 1..])
            .copied()
            .collect();
        let u = match crate::prim::layout::broadcast_shapes(&updates.dims(), &ushape) {
            Some(s) if s == ushape => updates.broadcast_to(&ushape),
            _ => {
                return apply_error(
                    Error::shape(
                        "index_add",
                        format!("updates do not broadcast to the indexed shape {ushape:?}"),
                        &[self.aval(), indices.aval(), updates.aval()],
                    ),
                    self.aval(),
                    site,
                )
            }
        };
        let i = wrap_negative(indices, dims[axis]);
        let mut ishape = i.dims();
        ishape.push(1);
        let i = i.broadcast_in_dim(&ishape, &(0..ir).collect::<Vec<_>>());
        let s = ScatterDims {
            update_window_dims: axis_offset_dims(r, ir, axis),
            inserted_window_dims: vec![axis],
            scatter_dims_to_operand_dims: vec![axis],
            index_vector_dim: ir,
            ..Default::default()
        };
        apply1(Op::ScatterAdd(s), &[self, &i, &u], site)
    }

    /// One-hot encoding of integer indices: a new trailing axis of length `n`, 1 where the
    /// index equals the position (out-of-range indices give all zeros), in `dtype`.
    #[track_caller]
    pub fn one_hot(&self, n: usize, dtype: DType) -> Tensor {
        let site = CallSite::here();
        if let Some(e) = self.error() {
            return Tensor::poison(self.aval(), e.clone());
        }
        let d = self.dtype();
        if !d.is_int() {
            return apply_error(
                Error::dtype("one_hot", d, "integer indices"),
                self.aval(),
                site,
            );
        }
        let mut shape = self.dims();
        let r = shape.len();
        shape.push(n);
        let iota = apply1(
            Op::Iota {
                aval: AVal::new(shape.clone(), d),
                dim: r,
            },
            &[],
            site,
        );
        let idx = apply1(
            Op::BroadcastInDim {
                shape: Shape::new(shape),
                dims: (0..r).collect(),
            },
            &[self],
            site,
        );
        let eq = apply1(Op::Compare(CmpDir::Eq), &[&idx, &iota], site);
        apply1(Op::Convert(dtype), &[&eq], site)
    }
}
