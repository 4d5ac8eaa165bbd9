//! Static array shapes and the abstract value (`AVal` = shape + dtype) that types every IR value.
//!
//! Depends on `dtype`; used by the IR, the tracer and every primitive's shape rule.

use crate::dtype::DType;
use std::fmt;

/// A static shape: the size of each dimension, outermost first.
#[derive(
    Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// A shape from its dimensions.
    pub fn new(dims: impl Into<Vec<usize>>) -> Shape {
        Shape(dims.into())
    }

    /// The rank-0 shape.
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar, 0 if any dimension is 0), or `None` when the
    /// product overflows `usize`. A zero dimension anywhere makes the count 0 even when the
    /// other dimensions' product would overflow.
    pub fn checked_numel(&self) -> Option<usize> {
        if self.0.contains(&0) {
            return Some(0);
        }
        self.0.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Number of elements, saturating at `usize::MAX` (never panics, never wraps). Every
    /// shape that reaches a kernel or a plugin has been checked by
    /// [`crate::limits::check_aval`], so there the value is exact; use
    /// [`Shape::try_numel`] where a shape comes straight from the user.
    pub fn numel(&self) -> usize {
        self.checked_numel().unwrap_or(usize::MAX)
    }

    /// Number of elements, or an error naming the op and the shape when it overflows.
    pub fn try_numel(&self, op: &str) -> crate::error::Result<usize> {
        self.checked_numel().ok_or_else(|| {
            crate::error::Error::arg(
                op,
                format!("shape {self:?} has more than 2^64 elements (the element count overflows)"),
            )
        })
    }

    /// Size in bytes of an array of this shape and dtype, or `None` on overflow.
    pub fn checked_bytes(&self, dtype: DType) -> Option<usize> {
        self.checked_numel()?.checked_mul(dtype.size_bytes())
    }

    /// Row-major strides in elements (saturating; exact for any shape whose element count
    /// fits in `usize`).
    pub fn strides(&self) -> Vec<usize> {
        let mut s = vec![1usize; self.0.len()];
        for i in (0..self.0.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1].saturating_mul(self.0[i + 1]);
        }
        s
    }

    /// The MLIR tensor type for this shape and a dtype: `tensor<2x3xf32>`, `tensor<f32>`.
    pub fn mlir_type(&self, dtype: DType) -> String {
        let mut s = String::from("tensor<");
        for d in &self.0 {
            s.push_str(&d.to_string());
            s.push('x');
        }
        s.push_str(dtype.mlir());
        s.push('>');
        s
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape(v.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Self {
        Shape(v.to_vec())
    }
}

/// The abstract value of an IR value: its shape and dtype.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AVal {
    /// The shape.
    pub shape: Shape,
    /// The element type.
    pub dtype: DType,
}

impl AVal {
    /// An abstract value.
    pub fn new(shape: impl Into<Shape>, dtype: DType) -> AVal {
        AVal {
            shape: shape.into(),
            dtype,
        }
    }

    /// A scalar of the dtype.
    pub fn scalar(dtype: DType) -> AVal {
        AVal {
            shape: Shape::scalar(),
            dtype,
        }
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The MLIR tensor type, e.g. `tensor<4x8xbf16>`.
    pub fn mlir_type(&self) -> String {
        self.shape.mlir_type(self.dtype)
    }

    /// The same shape with another dtype.
    pub fn with_dtype(&self, dtype: DType) -> AVal {
        AVal {
            shape: self.shape.clone(),
            dtype,
        }
    }
}

impl fmt::Debug for AVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape.0)
    }
}

impl fmt::Display for AVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.shape.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_basics() {
        let s = Shape::new(vec![2, 3, 4]);
        assert_eq!(s.numel(), 24);
        assert_eq!(s.strides(), vec![12, 4, 1]);
        assert_eq!(s.mlir_type(DType::BF16), "tensor<2x3x4xbf16>");
        assert_eq!(Shape::scalar().mlir_type(DType::F32), "tensor<f32>");
        assert_eq!(Shape::scalar().numel(), 1);
        assert_eq!(Shape::new(vec![3, 0]).numel(), 0);
        assert_eq!(format!("{}", AVal::new([2, 3], DType::F32)), "f32[2, 3]");
    }

    #[test]
    fn numel_overflow_is_detected_not_wrapped() {
        let big = Shape::new(vec![1 << 40, 1 << 40]);
        assert_eq!(big.checked_numel(), None);
        assert_eq!(big.numel(), usize::MAX);
        assert!(big.try_numel("zeros").is_err());
        assert_eq!(
            Shape::new(vec![0, 1 << 40, 1 << 40]).checked_numel(),
            Some(0)
        );
        assert_eq!(
            Shape::new(vec![1, 1 << 40, 1 << 40]).strides()[0],
            usize::MAX
        );
        assert_eq!(Shape::new(vec![1 << 62]).checked_bytes(DType::F32), None);
    }
}
