//! Host arrays (`Literal`): typed storage for every dtype, with shape, byte (de)serialisation
//! and conversion helpers. Interpreter kernels, constants in the IR and host transfers use it.
//!
//! Depends on `dtype`, `shape`, `error` and `float8` (the f8 encodings).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::float8::{f32_to_f8, f8_to_f32, F8Format};
use crate::shape::{AVal, Shape};
use half::{bf16, f16};
use num_complex::Complex32;

/// Typed element storage, row-major. f8 values are stored as their bit patterns.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Data {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U32(Vec<u32>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    F8E4M3FN(Vec<u8>),
    F8E5M2(Vec<u8>),
    C64(Vec<Complex32>),
}

/// A host array: shape, dtype and row-major data.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    shape: Shape,
    data: Data,
}

/// A Rust element type that maps to one rax dtype.
pub trait Element: Copy + Send + Sync + 'static + std::fmt::Debug {
    /// The dtype.
    const DTYPE: DType;
    /// Wraps a vector in [`Data`].
    fn wrap(v: Vec<Self>) -> Data;
    /// Borrows the vector out of [`Data`] if the dtype matches.
    fn unwrap(d: &Data) -> Option<&[Self]>;
}

macro_rules! element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn wrap(v: Vec<Self>) -> Data {
                Data::$d(v)
            }
            fn unwrap(d: &Data) -> Option<&[Self]> {
                match d {
                    Data::$d(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
element!(bool, Bool);
element!(i8, I8);
element!(i32, I32);
element!(i64, I64);
element!(u8, U8);
element!(u32, U32);
element!(f16, F16);
element!(bf16, BF16);
element!(f32, F32);
element!(f64, F64);
element!(Complex32, C64);

impl Data {
    /// The dtype of the storage.
    pub fn dtype(&self) -> DType {
        match self {
            Data::Bool(_) => DType::Bool,
            Data::I8(_) => DType::I8,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::U8(_) => DType::U8,
            Data::U32(_) => DType::U32,
            Data::F16(_) => DType::F16,
            Data::BF16(_) => DType::BF16,
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::F8E4M3FN(_) => DType::F8E4M3FN,
            Data::F8E5M2(_) => DType::F8E5M2,
            Data::C64(_) => DType::C64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::Bool(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::U8(v) | Data::F8E4M3FN(v) | Data::F8E5M2(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::F16(v) => v.len(),
            Data::BF16(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::C64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` zeros of a dtype.
    pub fn zeros(dtype: DType, n: usize) -> Data {
        match dtype {
            DType::Bool => Data::Bool(vec![false; n]),
            DType::I8 => Data::I8(vec![0; n]),
            DType::I32 => Data::I32(vec![0; n]),
            DType::I64 => Data::I64(vec![0; n]),
            DType::U8 => Data::U8(vec![0; n]),
            DType::U32 => Data::U32(vec![0; n]),
            DType::F16 => Data::F16(vec![f16::ZERO; n]),
            DType::BF16 => Data::BF16(vec![bf16::ZERO; n]),
            DType::F32 => Data::F32(vec![0.0; n]),
            DType::F64 => Data::F64(vec![0.0; n]),
            DType::F8E4M3FN => Data::F8E4M3FN(vec![0; n]),
            DType::F8E5M2 => Data::F8E5M2(vec![0; n]),
            DType::C64 => Data::C64(vec![Complex32::new(0.0, 0.0); n]),
        }
    }

    /// Picks the elements at the given flat indices (used by layout kernels for every dtype).
    pub fn gather_flat(&self, idx: &[usize]) -> Data {
        macro_rules! pick {
            ($v:expr, $c:ident) => {
                Data::$c(idx.iter().map(|&i| $v[i]).collect())
            };
        }
        match self {
            Data::Bool(v) => pick!(v, Bool),
            Data::I8(v) => pick!(v, I8),
            Data::I32(v) => pick!(v, I32),
            Data::I64(v) => pick!(v, I64),
            Data::U8(v) => pick!(v, U8),
            Data::U32(v) => pick!(v, U32),
            Data::F16(v) => pick!(v, F16),
            Data::BF16(v) => pick!(v, BF16),
            Data::F32(v) => pick!(v, F32),
            Data::F64(v) => pick!(v, F64),
            Data::F8E4M3FN(v) => pick!(v, F8E4M3FN),
            Data::F8E5M2(v) => pick!(v, F8E5M2),
            Data::C64(v) => pick!(v, C64),
        }
    }

    /// Element `i` as f64 (complex: the real part; bool: 0/1).
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            Data::Bool(v) => v[i] as u8 as f64,
            Data::I8(v) => v[i] as f64,
            Data::I32(v) => v[i] as f64,
            Data::I64(v) => v[i] as f64,
            Data::U8(v) => v[i] as f64,
            Data::U32(v) => v[i] as f64,
            Data::F16(v) => v[i].to_f64(),
            Data::BF16(v) => v[i].to_f64(),
            Data::F32(v) => v[i] as f64,
            Data::F64(v) => v[i],
            Data::F8E4M3FN(v) => f8_to_f32(v[i], F8Format::E4M3FN) as f64,
            Data::F8E5M2(v) => f8_to_f32(v[i], F8Format::E5M2) as f64,
            Data::C64(v) => v[i].re as f64,
        }
    }
}

impl Literal {
    /// A literal from a shape and data; errors if the element count does not match.
    pub fn new(shape: impl Into<Shape>, data: Data) -> Result<Literal> {
        let shape = shape.into();
        let Some(n) = shape.checked_numel() else {
            return Err(Error::data(
                "Literal::new",
                format!("shape {shape} has more than 2^64 elements (the element count overflows)"),
            ));
        };
        if n != data.len() {
            return Err(Error::data(
                "Literal::new",
                format!("shape {shape} needs {n} elements, got {}", data.len()),
            ));
        }
        Ok(Literal { shape, data })
    }

    /// A literal from a typed vector.
    pub fn from_vec<T: Element>(shape: impl Into<Shape>, v: Vec<T>) -> Result<Literal> {
        Literal::new(shape, T::wrap(v))
    }

    /// A rank-0 literal.
    pub fn scalar<T: Element>(v: T) -> Literal {
        Literal {
            shape: Shape::scalar(),
            data: T::wrap(vec![v]),
        }
    }

    /// Zeros of an abstract value.
    pub fn zeros(aval: &AVal) -> Literal {
        Literal {
            shape: aval.shape.clone(),
            data: Data::zeros(aval.dtype, aval.shape.numel()),
        }
    }

    /// Zeros of an abstract value, or an error naming `op` and the byte count when the array
    /// is too large to allocate (see [`crate::limits`]).
    pub fn try_zeros(op: &str, aval: &AVal) -> Result<Literal> {
        crate::limits::check_alloc(op, aval)?;
        Ok(Literal::zeros(aval))
    }

    /// A literal filled with `value`, or an error naming `op` when the array is too large to
    /// allocate or when the dtype cannot represent `value` exactly (see [`exact_scalar`]).
    pub fn try_full(op: &str, aval: &AVal, value: f64) -> Result<Literal> {
        exact_scalar(op, value, aval.dtype)?;
        crate::limits::check_alloc(op, aval)?;
        Ok(Literal::full(aval, value))
    }

    /// A literal of a dtype from f64 values (rounded to the dtype as a convert would).
    pub fn from_f64s(shape: impl Into<Shape>, dtype: DType, v: &[f64]) -> Result<Literal> {
        let lit = Literal::from_vec(shape, v.to_vec())?;
        Ok(lit.convert(dtype))
    }

    /// A literal filled with one value converted to the dtype.
    pub fn full(aval: &AVal, value: f64) -> Literal {
        let v = vec![value; aval.shape.numel()];
        Literal {
            shape: aval.shape.clone(),
            data: Data::F64(v),
        }
        .convert(aval.dtype)
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The abstract value.
    pub fn aval(&self) -> AVal {
        AVal::new(self.shape.clone(), self.dtype())
    }

    /// The storage.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Consumes the literal, returning its storage.
    pub fn into_data(self) -> Data {
        self.data
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Typed view of the elements; errors on a dtype mismatch.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        T::unwrap(&self.data).ok_or_else(|| {
            Error::data(
                "Literal::as_slice",
                format!("literal is {}, asked for {}", self.dtype(), T::DTYPE),
            )
        })
    }

    /// The same data with another shape of equal element count.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Literal> {
        Literal::new(shape, self.data.clone())
    }

    /// All elements as f64 (complex: real parts).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.numel()).map(|i| self.data.get_f64(i)).collect()
    }

    /// Element-type conversion with StableHLO `convert` semantics: floats round to nearest even,
    /// float to int truncates toward zero (saturating; NaN becomes 0), int to int wraps,
    /// to bool is `!= 0`, real to complex has zero imaginary part, complex to real keeps the real part.
    pub fn convert(&self, to: DType) -> Literal {
        let data = convert_data(&self.data, to);
        Literal {
            shape: self.shape.clone(),
            data,
        }
    }

    /// Little-endian bytes of the elements (bool as one byte 0/1), as PJRT expects.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.numel() * self.dtype().size_bytes());
        match &self.data {
            Data::Bool(v) => out.extend(v.iter().map(|&b| b as u8)),
            Data::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
            Data::U8(v) | Data::F8E4M3FN(v) | Data::F8E5M2(v) => out.extend_from_slice(v),
            Data::I32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::I64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::U32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::F16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::BF16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::F64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Data::C64(v) => v.iter().for_each(|x| {
                out.extend_from_slice(&x.re.to_le_bytes());
                out.extend_from_slice(&x.im.to_le_bytes())
            }),
        }
        out
    }

    /// A literal from little-endian bytes; errors if the byte count does not fit the shape.
    pub fn from_bytes(aval: &AVal, bytes: &[u8]) -> Result<Literal> {
        let w = aval.dtype.size_bytes();
        let Some(need) = aval.shape.checked_bytes(aval.dtype) else {
            return Err(Error::data(
                "Literal::from_bytes",
                format!("{aval} has more than 2^64 bytes (the size overflows)"),
            ));
        };
        if bytes.len() != need {
            return Err(Error::data(
                "Literal::from_bytes",
                format!("{aval} needs {need} bytes, got {}", bytes.len()),
            ));
        }
        macro_rules! rd {
            ($t:ty, $c:ident) => {
                Data::$c(
                    bytes
                        .chunks_exact(w)
                        .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or_default()))
                        .collect(),
                )
            };
        }
        let data = match aval.dtype {
            DType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
            DType::I8 => Data::I8(bytes.iter().map(|&b| b as i8).collect()),
            DType::U8 => Data::U8(bytes.to_vec()),
            DType::F8E4M3FN => Data::F8E4M3FN(bytes.to_vec()),
            DType::F8E5M2 => Data::F8E5M2(bytes.to_vec()),
            DType::I32 => rd!(i32, I32),
            DType::I64 => rd!(i64, I64),
            DType::U32 => rd!(u32, U32),
            DType::F16 => rd!(f16, F16),
            DType::BF16 => rd!(bf16, BF16),
            DType::F32 => rd!(f32, F32),
            DType::F64 => rd!(f64, F64),
            DType::C64 => Data::C64(
                bytes
                    .chunks_exact(8)
                    .map(|c| {
                        let re = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        let im = f32::from_le_bytes([c[4], c[5], c[6], c[7]]);
                        Complex32::new(re, im)
                    })
                    .collect(),
            ),
        };
        Literal::new(aval.shape.clone(), data)
    }
}

/// Checks that a Rust scalar keeps its value in `dtype`: for an integer dtype it must be a
/// finite whole number in the dtype's range, for bool 0 or 1. Floating dtypes take any value
/// (rounding to the nearest representable value is their ordinary semantics). rax never
/// promotes implicitly, so `i32_tensor + 0.5` is this error rather than adding 0.
pub fn exact_scalar(op: &str, value: f64, dtype: DType) -> Result<()> {
    let range = match dtype {
        DType::Bool => Some((0.0, 1.0)),
        DType::I8 => Some((i8::MIN as f64, i8::MAX as f64)),
        DType::U8 => Some((0.0, u8::MAX as f64)),
        DType::I32 => Some((i32::MIN as f64, i32::MAX as f64)),
        DType::U32 => Some((0.0, u32::MAX as f64)),
        // 2^63 is the first f64 above i64::MAX.
        DType::I64 => Some((i64::MIN as f64, 9.223372036854775e18)),
        _ => None,
    };
    if let Some((lo, hi)) = range {
        let ok = value.is_finite() && value.fract() == 0.0 && value >= lo && value <= hi;
        if !ok {
            return Err(Error::arg(
                op,
                format!(
                    "the Rust scalar {value:?} cannot be represented exactly in {dtype} \
                     (whole numbers in [{lo}, {hi}]); rax does not promote implicitly, \
                     cast the tensor to a float dtype or pass a value of its dtype"
                ),
            ));
        }
    }
    Ok(())
}

fn f64_to_int<T>(x: f64, min: f64, max: f64, cast: impl Fn(f64) -> T) -> T {
    if x.is_nan() {
        cast(0.0)
    } else {
        cast(x.trunc().clamp(min, max))
    }
}

/// Converts storage to another dtype (see [`Literal::convert`]).
pub fn convert_data(d: &Data, to: DType) -> Data {
    if d.dtype() == to {
        return d.clone();
    }
    // Complex source: keep the real part (complex to complex is identity above).
    if let Data::C64(v) = d {
        let re = Data::F32(v.iter().map(|c| c.re).collect());
        return convert_data(&re, to);
    }
    // Integer and bool sources convert exactly through i64 when the target is an integer.
    let int_src: Option<Vec<i64>> = match d {
        Data::Bool(v) => Some(v.iter().map(|&b| b as i64).collect()),
        Data::I8(v) => Some(v.iter().map(|&x| x as i64).collect()),
        Data::I32(v) => Some(v.iter().map(|&x| x as i64).collect()),
        Data::I64(v) => Some(v.clone()),
        Data::U8(v) => Some(v.iter().map(|&x| x as i64).collect()),
        Data::U32(v) => Some(v.iter().map(|&x| x as i64).collect()),
        _ => None,
    };
    if let Some(iv) = &int_src {
        match to {
            DType::Bool => return Data::Bool(iv.iter().map(|&x| x != 0).collect()),
            DType::I8 => return Data::I8(iv.iter().map(|&x| x as i8).collect()),
            DType::I32 => return Data::I32(iv.iter().map(|&x| x as i32).collect()),
            DType::I64 => return Data::I64(iv.clone()),
            DType::U8 => return Data::U8(iv.iter().map(|&x| x as u8).collect()),
            DType::U32 => return Data::U32(iv.iter().map(|&x| x as u32).collect()),
            // i64 -> f32 must round once (not through f64 then f32), like XLA.
            DType::F32 => return Data::F32(iv.iter().map(|&x| x as f32).collect()),
            DType::C64 => {
                return Data::C64(iv.iter().map(|&x| Complex32::new(x as f32, 0.0)).collect())
            }
            _ => {}
        }
    }
    // Float sources: read exactly as f64 (every narrower float is exact in f64).
    let n = d.len();
    let f: Vec<f64> = (0..n).map(|i| d.get_f64(i)).collect();
    // f32 sources going to 16/8-bit floats round from f32 directly (f32 -> f64 is exact, and
    // f64 -> f16 of an exact f32 value equals f32 -> f16); keep everything through f64.
    match to {
        DType::Bool => Data::Bool(f.iter().map(|&x| x != 0.0).collect()),
        DType::I8 => Data::I8(
            f.iter()
                .map(|&x| f64_to_int(x, i8::MIN as f64, i8::MAX as f64, |y| y as i8))
                .collect(),
        ),
        DType::I32 => Data::I32(
            f.iter()
                .map(|&x| f64_to_int(x, i32::MIN as f64, i32::MAX as f64, |y| y as i32))
                .collect(),
        ),
        DType::I64 => Data::I64(
            f.iter()
                .map(|&x| f64_to_int(x, i64::MIN as f64, i64::MAX as f64, |y| y as i64))
                .collect(),
        ),
        DType::U8 => Data::U8(
            f.iter()
                .map(|&x| f64_to_int(x, 0.0, u8::MAX as f64, |y| y as u8))
                .collect(),
        ),
        DType::U32 => Data::U32(
            f.iter()
                .map(|&x| f64_to_int(x, 0.0, u32::MAX as f64, |y| y as u32))
                .collect(),
        ),
        DType::F16 => Data::F16(f.iter().map(|&x| f16::from_f64(x)).collect()),
        DType::BF16 => Data::BF16(f.iter().map(|&x| bf16::from_f64(x)).collect()),
        DType::F32 => Data::F32(f.iter().map(|&x| x as f32).collect()),
        DType::F64 => Data::F64(f),
        DType::F8E4M3FN => Data::F8E4M3FN(
            f.iter()
                .map(|&x| f32_to_f8(x as f32, F8Format::E4M3FN))
                .collect(),
        ),
        DType::F8E5M2 => Data::F8E5M2(
            f.iter()
                .map(|&x| f32_to_f8(x as f32, F8Format::E5M2))
                .collect(),
        ),
        DType::C64 => Data::C64(f.iter().map(|&x| Complex32::new(x as f32, 0.0)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_every_dtype() {
        for d in DType::ALL {
            let aval = AVal::new([2, 3], d);
            let lit = Literal::from_f64s([2, 3], d, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
            let back = Literal::from_bytes(&aval, &lit.to_bytes()).unwrap();
            assert_eq!(lit, back, "{d}");
        }
    }

    #[test]
    fn convert_semantics() {
        let x = Literal::from_vec([4], vec![1.5f32, -2.7, f32::NAN, 1e10]).unwrap();
        assert_eq!(
            x.convert(DType::I32).as_slice::<i32>().unwrap(),
            &[1, -2, 0, i32::MAX]
        );
        let b = Literal::from_vec([2], vec![1.0f32 + 1.0 / 512.0, 1.0 + 3.0 / 512.0]).unwrap();
        // bf16 spacing at 1.0 is 2^-7; 1+2^-9 rounds down, 1+3*2^-9 rounds up to 1+2^-7.
        let bb = b.convert(DType::BF16).to_f64_vec();
        assert_eq!(bb, vec![1.0, 1.0 + 1.0 / 128.0]);
        let i = Literal::from_vec([1], vec![300i32]).unwrap();
        assert_eq!(i.convert(DType::U8).as_slice::<u8>().unwrap(), &[44]);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        assert!(Literal::from_vec([2, 2], vec![1.0f32]).is_err());
        assert!(Literal::from_bytes(&AVal::new([2], DType::F32), &[0u8; 7]).is_err());
    }
}
