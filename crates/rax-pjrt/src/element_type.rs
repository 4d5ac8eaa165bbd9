//! [`ElementType`]: the byte-addressable subset of `PJRT_Buffer_Type`.
use crate::error::{Error, Result};

/// Element types rax exchanges with PJRT (values mirror `PJRT_Buffer_Type`).
/// Sub-byte types (S4, U4, S2, U2, F4E2M1FN) and TOKEN are not modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ElementType {
    /// Boolean, one byte.
    Pred = 1,
    /// Signed 8-bit integer.
    S8 = 2,
    /// Signed 16-bit integer.
    S16 = 3,
    /// Signed 32-bit integer.
    S32 = 4,
    /// Signed 64-bit integer.
    S64 = 5,
    /// Unsigned 8-bit integer.
    U8 = 6,
    /// Unsigned 16-bit integer.
    U16 = 7,
    /// Unsigned 32-bit integer.
    U32 = 8,
    /// Unsigned 64-bit integer.
    U64 = 9,
    /// IEEE half.
    F16 = 10,
    /// IEEE single.
    F32 = 11,
    /// IEEE double.
    F64 = 12,
    /// bfloat16.
    BF16 = 13,
    /// Complex of two f32.
    C64 = 14,
    /// Complex of two f64.
    C128 = 15,
    /// 8-bit float, 5 exponent bits.
    F8E5M2 = 16,
    /// 8-bit float, 4 exponent bits, finite + NaN.
    F8E4M3FN = 17,
}

impl ElementType {
    /// Every modelled type.
    pub const ALL: [ElementType; 17] = [
        Self::Pred,
        Self::S8,
        Self::S16,
        Self::S32,
        Self::S64,
        Self::U8,
        Self::U16,
        Self::U32,
        Self::U64,
        Self::F16,
        Self::F32,
        Self::F64,
        Self::BF16,
        Self::C64,
        Self::C128,
        Self::F8E5M2,
        Self::F8E4M3FN,
    ];

    /// Size of one element in bytes.
    pub const fn byte_size(self) -> usize {
        match self {
            Self::Pred | Self::S8 | Self::U8 | Self::F8E5M2 | Self::F8E4M3FN => 1,
            Self::S16 | Self::U16 | Self::F16 | Self::BF16 => 2,
            Self::S32 | Self::U32 | Self::F32 => 4,
            Self::S64 | Self::U64 | Self::F64 | Self::C64 => 8,
            Self::C128 => 16,
        }
    }

    /// The raw `PJRT_Buffer_Type` value.
    pub const fn to_raw(self) -> i32 {
        self as i32
    }

    /// Maps a raw `PJRT_Buffer_Type`.
    pub fn from_raw(raw: i32) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.to_raw() == raw)
            .ok_or(Error::UnsupportedElementType(raw))
    }

    /// The MLIR element type spelling (`f32`, `i1`, `complex<f32>`, ...).
    pub const fn mlir_name(self) -> &'static str {
        match self {
            Self::Pred => "i1",
            Self::S8 => "i8",
            Self::S16 => "i16",
            Self::S32 => "i32",
            Self::S64 => "i64",
            Self::U8 => "ui8",
            Self::U16 => "ui16",
            Self::U32 => "ui32",
            Self::U64 => "ui64",
            Self::F16 => "f16",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::BF16 => "bf16",
            Self::C64 => "complex<f32>",
            Self::C128 => "complex<f64>",
            Self::F8E5M2 => "f8E5M2",
            Self::F8E4M3FN => "f8E4M3FN",
        }
    }

    /// Parses an MLIR element type spelling.
    pub fn from_mlir(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.mlir_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_mlir_round_trip() {
        for t in ElementType::ALL {
            assert_eq!(ElementType::from_raw(t.to_raw()).ok(), Some(t));
            assert_eq!(ElementType::from_mlir(t.mlir_name()), Some(t));
        }
        assert!(ElementType::from_raw(21).is_err()); // S4
        assert_eq!(ElementType::C64.byte_size(), 8);
        assert_eq!(ElementType::Pred.byte_size(), 1);
    }
}
