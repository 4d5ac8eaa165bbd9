//! [`Tensor::item`]: the value of a one-element concrete tensor as a Rust scalar
//! (`loss.item::<f32>()?`, as JAX's `loss.item()`).
//!
//! Depends on `trace` (Tensor), `literal` (Element) and `error`.

use crate::error::{Error, Result};
use crate::literal::Element;
use crate::trace::Tensor;

impl Tensor {
    /// The single element of a concrete tensor holding exactly one element (a scalar, or any
    /// shape of size 1), as `T`, which must be the tensor's dtype (`item::<f32>()` on an f32
    /// tensor; cast first for another type). An error, never a panic, for a tensor with more
    /// or fewer elements, another dtype, a traced tensor (its value exists only when the
    /// program runs) or a poisoned one (its error).
    pub fn item<T: Element>(&self) -> Result<T> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        let aval = self.aval();
        if self.is_traced() {
            return Err(Error::arg(
                "item",
                format!(
                    "{aval} is being traced: its value exists only when the program runs; \
                     return it from the jitted function and call item() on the result"
                ),
            ));
        }
        let n: usize = aval.dims().iter().product();
        if n != 1 {
            return Err(Error::arg(
                "item",
                format!("{aval} has {n} elements; item() reads a tensor of exactly one element"),
            ));
        }
        if aval.dtype != T::DTYPE {
            return Err(Error::arg(
                "item",
                format!(
                    "{aval} read as {}: read it as {}, or cast it first (`.cast(DType::{:?})`)",
                    T::DTYPE,
                    aval.dtype,
                    T::DTYPE
                ),
            ));
        }
        let lit = self.to_literal()?;
        let v = lit.as_slice::<T>()?;
        v.first()
            .copied()
            .ok_or_else(|| Error::arg("item", format!("{aval} has no element")))
    }
}
