//! The two 8-bit float encodings (f8e4m3fn, f8e5m2): exact decode and round-to-nearest-even
//! encode from f32, with the overflow behaviour of XLA / ml_dtypes (e4m3fn has no infinity:
//! out-of-range values become NaN; e5m2 overflows to infinity).
//!
//! Depends on nothing; used by `literal` conversions.

/// Which 8-bit encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F8Format {
    /// 1 sign, 4 exponent (bias 7), 3 mantissa bits; no inf; NaN = S.1111.111.
    E4M3FN,
    /// 1 sign, 5 exponent (bias 15), 2 mantissa bits; IEEE-like inf and NaN.
    E5M2,
}

impl F8Format {
    fn params(self) -> (i32, i32, i32) {
        match self {
            F8Format::E4M3FN => (4, 3, 7),
            F8Format::E5M2 => (5, 2, 15),
        }
    }
}

/// Decodes an 8-bit float to f32 (exact).
pub fn f8_to_f32(bits: u8, fmt: F8Format) -> f32 {
    let (eb, mb, bias) = fmt.params();
    let sign = if bits & 0x80 != 0 { -1.0f32 } else { 1.0 };
    let e = ((bits as i32) >> mb) & ((1 << eb) - 1);
    let m = (bits as i32) & ((1 << mb) - 1);
    match fmt {
        F8Format::E4M3FN if e == 15 && m == 7 => return f32::NAN,
        F8Format::E5M2 if e == 31 => {
            return if m == 0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            };
        }
        _ => {}
    }
    if e == 0 {
        sign * (m as f32) * 2f32.powi(1 - bias - mb)
    } else {
        sign * (1.0 + m as f32 / (1 << mb) as f32) * 2f32.powi(e - bias)
    }
}

/// Encodes an f32 as an 8-bit float, rounding to nearest even.
pub fn f32_to_f8(x: f32, fmt: F8Format) -> u8 {
    let sign: u8 = if x.is_sign_negative() { 0x80 } else { 0 };
    let nan = match fmt {
        F8Format::E4M3FN => 0x7f,
        F8Format::E5M2 => 0x7e,
    };
    if x.is_nan() {
        return sign | nan;
    }
    // Search the 128 non-negative codes for the nearest value; ties go to the even code.
    let a = x.abs();
    let mut best: u8 = 0;
    let mut best_err = f32::INFINITY;
    let mut max_finite = 0u8;
    for code in 0u8..0x80 {
        let v = f8_to_f32(code, fmt);
        if !v.is_finite() {
            continue;
        }
        max_finite = code;
        let err = (v - a).abs();
        if err < best_err || (err == best_err && code % 2 == 0) {
            best = code;
            best_err = err;
        }
    }
    // Values beyond max + half an ulp overflow.
    let maxv = f8_to_f32(max_finite, fmt);
    let below = f8_to_f32(max_finite - 1, fmt);
    let half_ulp = (maxv - below) / 2.0;
    if a > maxv + half_ulp || (a == maxv + half_ulp && max_finite % 2 == 1) || a.is_infinite() {
        return match fmt {
            F8Format::E4M3FN => sign | nan,
            F8Format::E5M2 => sign | 0x7c,
        };
    }
    sign | best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(f8_to_f32(0x7e, F8Format::E4M3FN), 448.0);
        assert_eq!(f8_to_f32(0x7b, F8Format::E5M2), 57344.0);
        assert_eq!(f8_to_f32(0x01, F8Format::E4M3FN), 2f32.powi(-9));
        assert_eq!(f32_to_f8(1.0, F8Format::E4M3FN), 0x38);
        assert!(f8_to_f32(f32_to_f8(1000.0, F8Format::E4M3FN), F8Format::E4M3FN).is_nan());
        assert_eq!(
            f8_to_f32(f32_to_f8(1e6, F8Format::E5M2), F8Format::E5M2),
            f32::INFINITY
        );
        for code in 0u8..=255 {
            for fmt in [F8Format::E4M3FN, F8Format::E5M2] {
                let v = f8_to_f32(code, fmt);
                if v.is_finite() && v != 0.0 {
                    assert_eq!(f32_to_f8(v, fmt), code, "{fmt:?} {code:#x}");
                }
            }
        }
    }
}
