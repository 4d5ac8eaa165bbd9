//! Rust scalars and operators on tensors: `scalar_of` / `scalar_for` / `scalar_like` (Rust
//! numbers are weakly typed and take the tensor's dtype, as in JAX; a value the dtype cannot
//! hold exactly is an error), and `+ - * / %`, unary `-`, `!`, `& | ^` for tensors and
//! tensor-scalar pairs.
//!
//! Depends on `literal`, `trace`.

use crate::dtype::DType;
use crate::error::CallSite;
use crate::literal::Literal;
use crate::shape::AVal;
use crate::trace::Tensor;

impl Tensor {
    /// A concrete scalar of a dtype (Rust numbers are weakly typed: they take this dtype).
    /// An error tensor when the dtype cannot represent the value exactly (0.5 or NaN for an
    /// integer dtype, -1 for u8, 300 for i8): rax does not promote implicitly.
    #[track_caller]
    pub fn scalar_of(value: f64, dtype: DType) -> Tensor {
        Tensor::scalar_for("scalar_of", value, dtype)
    }

    /// [`Tensor::scalar_of`] for the operand of `op` (the name the error gives).
    #[track_caller]
    pub fn scalar_for(op: &str, value: f64, dtype: DType) -> Tensor {
        let aval = AVal::scalar(dtype);
        match Literal::try_full(op, &aval, value) {
            Ok(l) => Tensor::from_literal(l),
            Err(e) => crate::trace::apply_error(e, aval, CallSite::here()),
        }
    }

    /// A scalar of this tensor's dtype.
    #[track_caller]
    pub fn scalar_like(&self, value: f64) -> Tensor {
        Tensor::scalar_of(value, self.dtype())
    }
}

// Operators: tensor (op) tensor, and tensor (op) Rust scalar / scalar (op) tensor.
macro_rules! impl_ops {
    ($tr:ident, $f:ident, $m:ident) => {
        impl std::ops::$tr<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: &Tensor) -> Tensor {
                self.$m(rhs)
            }
        }
        impl std::ops::$tr<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: Tensor) -> Tensor {
                (&self).$m(&rhs)
            }
        }
        impl std::ops::$tr<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: &Tensor) -> Tensor {
                (&self).$m(rhs)
            }
        }
        impl std::ops::$tr<Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $f(self, rhs: Tensor) -> Tensor {
                self.$m(&rhs)
            }
        }
        impl_ops!(@scalar $tr, $f, $m, f64, i32);
    };
    (@scalar $tr:ident, $f:ident, $m:ident, $($s:ty),*) => {
        $(
            impl std::ops::$tr<$s> for &Tensor {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: $s) -> Tensor {
                    self.$m(&Tensor::scalar_for(stringify!($m), rhs as f64, self.dtype()))
                }
            }
            impl std::ops::$tr<$s> for Tensor {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: $s) -> Tensor {
                    (&self).$m(&Tensor::scalar_for(stringify!($m), rhs as f64, self.dtype()))
                }
            }
            impl std::ops::$tr<&Tensor> for $s {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: &Tensor) -> Tensor {
                    Tensor::scalar_for(stringify!($m), self as f64, rhs.dtype()).$m(rhs)
                }
            }
            impl std::ops::$tr<Tensor> for $s {
                type Output = Tensor;
                #[track_caller]
                fn $f(self, rhs: Tensor) -> Tensor {
                    Tensor::scalar_for(stringify!($m), self as f64, rhs.dtype()).$m(&rhs)
                }
            }
        )*
    };
}

impl_ops!(Add, add, add);
impl_ops!(Sub, sub, sub);
impl_ops!(Mul, mul, mul);
impl_ops!(Div, div, div);
impl_ops!(Rem, rem, rem);

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl std::ops::Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}

impl std::ops::Not for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn not(self) -> Tensor {
        self.logical_not()
    }
}

impl std::ops::BitAnd for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn bitand(self, rhs: &Tensor) -> Tensor {
        self.and(rhs)
    }
}

impl std::ops::BitOr for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn bitor(self, rhs: &Tensor) -> Tensor {
        self.or(rhs)
    }
}

impl std::ops::BitXor for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn bitxor(self, rhs: &Tensor) -> Tensor {
        self.xor(rhs)
    }
}
