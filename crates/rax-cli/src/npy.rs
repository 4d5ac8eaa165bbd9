//! NumPy `.npy` input and output of the `rax` program (through `ndarray-npy`): int32 token
//! arrays in, int32 tokens and f32 logits out.

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{read_npy, write_npy};
use rax_core::{Error, Literal, Result};
use std::path::Path;

fn io(path: &Path, msg: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// Reads an int32 `[B, T]` token array with `T >= min_len`.
pub fn read_tokens(path: &Path, what: &str, min_len: usize) -> Result<Literal> {
    let a: ArrayD<i32> = read_npy(path).map_err(|e| {
        io(
            path,
            format!("cannot read {what} as an int32 .npy array: {e}"),
        )
    })?;
    if a.ndim() != 2 {
        return Err(io(
            path,
            format!(
                "{what} must be an int32 array [batch, seq]; got rank {} shape {:?}",
                a.ndim(),
                a.shape()
            ),
        ));
    }
    let (b, t) = (a.shape()[0], a.shape()[1]);
    if b == 0 || t < min_len {
        return Err(io(
            path,
            format!("{what} has shape [{b}, {t}]; it needs at least one row and {min_len} tokens per row"),
        ));
    }
    let v: Vec<i32> = a.iter().copied().collect();
    Literal::from_vec([b, t], v)
}

/// Checks every token id is in `0..vocab`.
pub fn check_vocab(tokens: &Literal, vocab: usize, path: &Path) -> Result<()> {
    let v = tokens.as_slice::<i32>()?;
    if let Some((i, &bad)) = v
        .iter()
        .enumerate()
        .find(|(_, &x)| x < 0 || x as usize >= vocab)
    {
        let t = tokens.dims().get(1).copied().unwrap_or(1).max(1);
        return Err(io(
            path,
            format!(
                "token {bad} at [{}, {}] is outside the vocabulary 0..{vocab}",
                i / t,
                i % t
            ),
        ));
    }
    Ok(())
}

/// Writes a literal (int32 or f32) as `.npy`.
pub fn write(path: &Path, lit: &Literal) -> Result<()> {
    let dims = lit.dims().to_vec();
    let res = match lit.dtype() {
        rax_core::DType::I32 => {
            let a = ArrayD::from_shape_vec(IxDyn(&dims), lit.as_slice::<i32>()?.to_vec())
                .map_err(|e| io(path, e.to_string()))?;
            write_npy(path, &a)
        }
        _ => {
            let a = ArrayD::from_shape_vec(
                IxDyn(&dims),
                lit.convert(rax_core::DType::F32)
                    .as_slice::<f32>()?
                    .to_vec(),
            )
            .map_err(|e| io(path, e.to_string()))?;
            write_npy(path, &a)
        }
    };
    res.map_err(|e| io(path, format!("cannot write .npy: {e}")))
}
