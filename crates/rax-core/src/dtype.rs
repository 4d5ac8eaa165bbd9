//! Element types of rax arrays and their properties (size, MLIR spelling, kind).
//!
//! Depends on nothing else in the crate; everything else depends on it.

use std::fmt;

/// The element type of an array. There is no implicit promotion between dtypes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// Boolean (`i1` in StableHLO).
    Bool,
    /// Signed 8-bit integer.
    I8,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 32-bit integer.
    U32,
    /// IEEE half precision.
    F16,
    /// bfloat16: 8 exponent bits, 8 significant bits.
    BF16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
    /// 8-bit float, 4 exponent bits, 3 mantissa bits, finite only (no inf), one NaN pattern.
    F8E4M3FN,
    /// 8-bit float, 5 exponent bits, 2 mantissa bits (IEEE-like, has inf).
    F8E5M2,
    /// Complex number of two f32 (complex64).
    C64,
}

impl DType {
    /// Every dtype, in a fixed order.
    pub const ALL: [DType; 13] = [
        DType::Bool,
        DType::I8,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U32,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::F8E4M3FN,
        DType::F8E5M2,
        DType::C64,
    ];

    /// Bytes per element on the host and device.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 | DType::F8E4M3FN | DType::F8E5M2 => 1,
            DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::F64 | DType::C64 => 8,
        }
    }

    /// The element type as spelled in MLIR / StableHLO (`f32`, `ui32`, `i1`, `complex<f32>`).
    pub fn mlir(self) -> &'static str {
        match self {
            DType::Bool => "i1",
            DType::I8 => "i8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "ui8",
            DType::U32 => "ui32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F8E4M3FN => "f8E4M3FN",
            DType::F8E5M2 => "f8E5M2",
            DType::C64 => "complex<f32>",
        }
    }

    /// The short user-facing name (`f32`, `bf16`, `bool`, `c64`), as in JAX/numpy.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "i8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U32 => "u32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F8E4M3FN => "f8e4m3fn",
            DType::F8E5M2 => "f8e5m2",
            DType::C64 => "c64",
        }
    }

    /// Parses a short name (`f32`, `bfloat16`, `float32`, `int32`, `complex64`, ...).
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "bool" | "pred" | "i1" => DType::Bool,
            "i8" | "int8" | "s8" => DType::I8,
            "i32" | "int32" | "s32" => DType::I32,
            "i64" | "int64" | "s64" => DType::I64,
            "u8" | "uint8" | "ui8" => DType::U8,
            "u32" | "uint32" | "ui32" => DType::U32,
            "f16" | "float16" | "half" => DType::F16,
            "bf16" | "bfloat16" => DType::BF16,
            "f32" | "float32" | "float" => DType::F32,
            "f64" | "float64" | "double" => DType::F64,
            "f8e4m3fn" | "float8_e4m3fn" => DType::F8E4M3FN,
            "f8e5m2" | "float8_e5m2" => DType::F8E5M2,
            "c64" | "complex64" => DType::C64,
            _ => return None,
        })
    }

    /// Real floating point (not complex).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 | DType::F8E4M3FN | DType::F8E5M2
        )
    }

    /// Complex.
    pub fn is_complex(self) -> bool {
        matches!(self, DType::C64)
    }

    /// Real or complex floating point: the dtypes that carry gradients.
    pub fn is_inexact(self) -> bool {
        self.is_float() || self.is_complex()
    }

    /// Signed or unsigned integer (not bool).
    pub fn is_int(self) -> bool {
        self.is_signed_int() || self.is_unsigned_int()
    }

    /// Signed integer.
    pub fn is_signed_int(self) -> bool {
        matches!(self, DType::I8 | DType::I32 | DType::I64)
    }

    /// Unsigned integer.
    pub fn is_unsigned_int(self) -> bool {
        matches!(self, DType::U8 | DType::U32)
    }

    /// Bool.
    pub fn is_bool(self) -> bool {
        self == DType::Bool
    }

    /// The real dtype of a complex dtype's parts; itself otherwise.
    pub fn real_dtype(self) -> DType {
        match self {
            DType::C64 => DType::F32,
            d => d,
        }
    }

    /// Number of bits.
    pub fn bits(self) -> usize {
        if self == DType::Bool {
            1
        } else {
            self.size_bytes() * 8
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name()), Some(d), "{d}");
        }
        assert_eq!(DType::parse("bfloat16"), Some(DType::BF16));
        assert_eq!(DType::parse("f31"), None);
    }

    #[test]
    fn kinds_partition_dtypes() {
        for d in DType::ALL {
            let kinds = [d.is_bool(), d.is_int(), d.is_float(), d.is_complex()];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{d}");
        }
        assert_eq!(DType::C64.real_dtype(), DType::F32);
        assert_eq!(DType::BF16.size_bytes(), 2);
        assert_eq!(DType::Bool.mlir(), "i1");
        assert_eq!(DType::U32.mlir(), "ui32");
    }
}
