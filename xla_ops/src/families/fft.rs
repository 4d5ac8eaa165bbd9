//! Conformance builders and catalogue entries of the `fft` family: one op `fft` with params
//! `kind` (`FFT`, `IFFT`, `RFFT`, `IRFFT`, as `jax.lax.fft`) and `lengths`.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_str, p_usizes};
use rax_core::ir::FftKind;
use rax_core::{Error, Result, Tensor};

/// Builds a case's outputs.
pub fn build(op: &str, params: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    match op {
        "fft" => {
            arity(op, xs, 1)?;
            let kind = match p_str(params, "kind")? {
                "FFT" => FftKind::Fft,
                "IFFT" => FftKind::Ifft,
                "RFFT" => FftKind::Rfft,
                "IRFFT" => FftKind::Irfft,
                k => return Err(Error::data("case", format!("fft: unknown kind {k}"))),
            };
            Ok(vec![xs[0].fft_axes(kind, &p_usizes(params, "lengths")?)])
        }
        _ => Err(Error::data("case", format!("fft: unknown op {op}"))),
    }
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    vec![Entry {
        name: "fft",
        stablehlo: "stablehlo.fft",
        rule: "over 1-3 trailing dims: FFT/IFFT c64 -> c64; RFFT f32[.., n] -> c64[.., n/2+1]; IRFFT c64[.., n/2+1] -> f32[.., n]".into(),
        interp: true,
        vjp: Vjp::Yes,
    }]
}
