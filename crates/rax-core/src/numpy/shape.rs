//! Shape manipulation built from primitives (`jax.numpy` style): `slice_axis`, `stack`,
//! `split`, `squeeze`, `expand_dims`, `swap_axes`, `moveaxis`, `flatten` (slices, reshapes,
//! transposes, concatenation). No `Op` of their own.
//!
//! Depends on `trace`, `prim` (layout).

use crate::error::{CallSite, Error};
use crate::ir::Op;
use crate::shape::Shape;
use crate::trace::{apply1, Tensor};

impl Tensor {
    /// `x[..., start:end, ...]` along one axis (unit stride), other dims whole.
    #[track_caller]
    pub fn slice_axis(&self, axis: usize, start: usize, end: usize) -> Tensor {
        let site = CallSite::here();
        if let Err(e) = crate::prim::check_axis("slice", axis, self.rank()) {
            return crate::trace::apply_error(e, self.aval(), site);
        }
        let mut lo = vec![0; self.rank()];
        let mut hi = self.dims();
        lo[axis] = start;
        hi[axis] = end;
        let strides = vec![1; self.rank()];
        apply1(
            Op::Slice {
                start: lo,
                limit: hi,
                strides,
            },
            &[self],
            site,
        )
    }

    /// Stacks tensors of one shape along a new axis `axis` (`0 ..= rank`).
    #[track_caller]
    pub fn stack(xs: &[Tensor], axis: usize) -> Tensor {
        let site = CallSite::here();
        let expanded: Vec<Tensor> = xs.iter().map(|x| x.expand_dims_at(axis, site)).collect();
        let refs: Vec<&Tensor> = expanded.iter().collect();
        apply1(Op::Concatenate { axis }, &refs, site)
    }

    /// Splits along `axis` into consecutive pieces of the given sizes (which must sum to the
    /// axis length).
    #[track_caller]
    pub fn split(&self, sizes: &[usize], axis: usize) -> Vec<Tensor> {
        let site = CallSite::here();
        let check = crate::prim::check_axis("split", axis, self.rank()).and_then(|_| {
            let total: usize = sizes.iter().sum();
            if total != self.dims()[axis] {
                return Err(Error::shape(
                    "split",
                    format!("sizes {sizes:?} do not sum to the length of axis {axis}"),
                    &[self.aval()],
                ));
            }
            Ok(())
        });
        if let Err(e) = check {
            let t = crate::trace::apply_error(e, self.aval(), site);
            return sizes.iter().map(|_| t.clone()).collect();
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                let mut lo = vec![0; self.rank()];
                let mut hi = self.dims();
                lo[axis] = start;
                hi[axis] = start + n;
                start += n;
                apply1(
                    Op::Slice {
                        start: lo,
                        limit: hi,
                        strides: vec![1; self.rank()],
                    },
                    &[self],
                    site,
                )
            })
            .collect()
    }

    /// Removes axis `axis`, which must have length 1.
    #[track_caller]
    pub fn squeeze(&self, axis: usize) -> Tensor {
        let site = CallSite::here();
        let check = crate::prim::check_axis("squeeze", axis, self.rank()).and_then(|_| {
            if self.dims()[axis] != 1 {
                return Err(Error::shape(
                    "squeeze",
                    format!("axis {axis} has length {}, not 1", self.dims()[axis]),
                    &[self.aval()],
                ));
            }
            Ok(())
        });
        if let Err(e) = check {
            return crate::trace::apply_error(e, self.aval(), site);
        }
        let mut dims = self.dims();
        dims.remove(axis);
        apply1(Op::Reshape(Shape::new(dims)), &[self], site)
    }

    /// Inserts a new axis of length 1 at position `axis` (`0 ..= rank`).
    #[track_caller]
    pub fn expand_dims(&self, axis: usize) -> Tensor {
        self.expand_dims_at(axis, CallSite::here())
    }

    fn expand_dims_at(&self, axis: usize, site: CallSite) -> Tensor {
        if axis > self.rank() {
            let e = Error::arg(
                "expand_dims",
                format!(
                    "axis {axis} is out of range for inserting into rank {}",
                    self.rank()
                ),
            );
            return crate::trace::apply_error(e, self.aval(), site);
        }
        let mut dims = self.dims();
        dims.insert(axis, 1);
        apply1(Op::Reshape(Shape::new(dims)), &[self], site)
    }

    /// Exchanges two axes (a transpose).
    #[track_caller]
    pub fn swap_axes(&self, a: usize, b: usize) -> Tensor {
        let site = CallSite::here();
        let r = self.rank();
        if let Err(e) = crate::prim::check_axis("swap_axes", a, r)
            .and_then(|_| crate::prim::check_axis("swap_axes", b, r))
        {
            return crate::trace::apply_error(e, self.aval(), site);
        }
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(a, b);
        apply1(Op::Transpose(perm), &[self], site)
    }

    /// Moves axis `from` to position `to`, keeping the order of the others.
    #[track_caller]
    pub fn moveaxis(&self, from: usize, to: usize) -> Tensor {
        let site = CallSite::here();
        let r = self.rank();
        if let Err(e) = crate::prim::check_axis("moveaxis", from, r)
            .and_then(|_| crate::prim::check_axis("moveaxis", to, r))
        {
            return crate::trace::apply_error(e, self.aval(), site);
        }
        let mut perm: Vec<usize> = (0..r).filter(|&i| i != from).collect();
        perm.insert(to, from);
        apply1(Op::Transpose(perm), &[self], site)
    }

    /// Reshapes to one dimension (row-major).
    #[track_caller]
    pub fn flatten(&self) -> Tensor {
        let n = self.shape().numel();
        if self.rank() == 1 {
            return self.clone();
        }
        apply1(Op::Reshape(Shape::new([n])), &[self], CallSite::here())
    }
}
