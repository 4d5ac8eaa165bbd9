//! Checkpoints in the safetensors format: tensors named by their leaf paths (`layers.0.wqkv`).
//! Loading keeps every stored dtype as is (an f32 norm scale stays f32); `load_into` fills a
//! parameter tree by path and refuses a conversion that could change a value (no silent
//! narrowing, no float into integer), naming the path. Loading validates the header first
//! (every error names the tensor, its offsets and the cause); saving is atomic (temporary
//! file, fsync, rename, fsync of the directory).
//!
//! Depends on rax-core and the `safetensors` crate (the format's reference implementation).

use rax_core::tree::{leaves_with_paths, unflatten};
use rax_core::{AVal, DType, Error, Literal, Result, Shape, Tensor, Tree};
use std::collections::BTreeMap;
use std::path::Path;

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

/// The safetensors dtype that stores `d` (`None` for complex, which the format lacks).
pub fn safetensors_dtype(d: DType) -> Option<safetensors::Dtype> {
    use safetensors::Dtype as S;
    Some(match d {
        DType::Bool => S::BOOL,
        DType::I8 => S::I8,
        DType::I32 => S::I32,
        DType::I64 => S::I64,
        DType::U8 => S::U8,
        DType::U32 => S::U32,
        DType::F16 => S::F16,
        DType::BF16 => S::BF16,
        DType::F32 => S::F32,
        DType::F64 => S::F64,
        DType::F8E4M3FN => S::F8_E4M3,
        DType::F8E5M2 => S::F8_E5M2,
        DType::C64 => return None,
    })
}

/// The rax dtype of a safetensors dtype (`None` for those rax has no dtype for).
pub fn dtype_of(d: safetensors::Dtype) -> Option<DType> {
    use safetensors::Dtype as S;
    Some(match d {
        S::BOOL => DType::Bool,
        S::I8 => DType::I8,
        S::I32 => DType::I32,
        S::I64 => DType::I64,
        S::U8 => DType::U8,
        S::U32 => DType::U32,
        S::F16 => DType::F16,
        S::BF16 => DType::BF16,
        S::F32 => DType::F32,
        S::F64 => DType::F64,
        S::F8_E4M3 => DType::F8E4M3FN,
        S::F8_E5M2 => DType::F8E5M2,
        _ => return None,
    })
}

/// The dtype a safetensors header names (`"F32"`, `"BF16"`, ...).
fn header_dtype(s: &str) -> Option<DType> {
    serde_json::from_value::<safetensors::Dtype>(serde_json::Value::from(s))
        .ok()
        .and_then(dtype_of)
}

/// Reads every tensor of a safetensors file. The header is validated before any tensor is
/// built: a truncated file, a header longer than the file, an unknown dtype, a shape whose
/// size overflows or exceeds the array limit, or data offsets outside the file or not
/// matching the shape are errors naming the file, the tensor, the offsets and the cause.
pub fn load(path: impl AsRef<Path>) -> Result<BTreeMap<String, Literal>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    parse(path, &bytes)
}

/// Reads every tensor of safetensors `bytes` (validated as [`load`] does); `path` names the
/// source in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Literal>> {
    let len = bytes.len();
    if len < 8 {
        return Err(io(
            path,
            format!("the file is {len} bytes, shorter than the 8-byte header length (truncated?)"),
        ));
    }
    let mut n8 = [0u8; 8];
    n8.copy_from_slice(&bytes[..8]);
    let n = u64::from_le_bytes(n8);
    let avail = (len - 8) as u64;
    if n > avail {
        return Err(io(
            path,
            format!(
                "the header length field says {n} bytes but only {avail} follow it \
                 (truncated or not a safetensors file)"
            ),
        ));
    }
    let n = n as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n])
            .map_err(|e| io(path, format!("the {n}-byte JSON header is invalid: {e}")))?;
    let data = &bytes[8 + n..];
    let mut out = BTreeMap::new();
    for (name, entry) in &header {
        if name == "__metadata__" {
            continue;
        }
        let bad = |msg: String| io(path, format!("tensor `{name}`: {msg}"));
        let dt = entry.get("dtype").and_then(|v| v.as_str()).unwrap_or("");
        let dtype = header_dtype(dt).ok_or_else(|| {
            bad(format!(
                "unsupported or missing dtype {:?}",
                entry.get("dtype")
            ))
        })?;
        let shape: Option<Vec<usize>> =
            entry.get("shape").and_then(|v| v.as_array()).and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect()
            });
        let shape = shape.ok_or_else(|| {
            bad(format!(
                "shape {:?} is not a list of sizes",
                entry.get("shape")
            ))
        })?;
        let offs: Option<Vec<usize>> = entry
            .get("data_offsets")
            .and_then(|v| v.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect()
            });
        let (begin, end) = match offs.as_deref() {
            Some(&[b, e]) => (b, e),
            _ => {
                return Err(bad(format!(
                    "data_offsets {:?} is not a pair [begin, end]",
                    entry.get("data_offsets")
                )))
            }
        };
        let aval = AVal::new(Shape::new(shape), dtype);
        let need =
            rax_core::limits::check_aval("checkpoint", &aval).map_err(|e| bad(e.to_string()))?;
        rax_core::limits::check_alloc("checkpoint", &aval).map_err(|e| bad(e.to_string()))?;
        if begin > end || end > data.len() {
            return Err(bad(format!(
                "data_offsets [{begin}, {end}] lie outside the {}-byte data section \
                 (truncated file?)",
                data.len()
            )));
        }
        if end - begin != need {
            return Err(bad(format!(
                "{aval} needs {need} bytes but data_offsets [{begin}, {end}] span {}",
                end - begin
            )));
        }
        let lit = Literal::from_bytes(&aval, &data[begin..end]).map_err(|e| bad(e.to_string()))?;
        out.insert(name.clone(), lit);
    }
    Ok(out)
}

/// Writes a tree's leaves, named by path, to a safetensors file (dtypes as stored).
///
/// Atomic: the bytes go to a temporary file in the same directory, which is flushed to disk
/// (`fsync`) and renamed over `path`, then the directory is flushed. A crash or SIGKILL at any
/// point leaves either the old file or the new one, never a truncated mix.
pub fn save<T: Tree>(tree: &T, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut lits = Vec::new();
    for (name, t) in leaves_with_paths(tree) {
        lits.push((name, t.to_literal()?));
    }
    write_atomic(path, &serialize(&lits, None, path)?)
}

/// Writes named literals (and optional string metadata) to a safetensors file, atomically as
/// [`save`] does.
pub fn save_map(
    path: &Path,
    tensors: &BTreeMap<String, Literal>,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<()> {
    let named: Vec<(String, Literal)> = tensors
        .iter()
        .map(|(n, l)| (n.clone(), l.clone()))
        .collect();
    write_atomic(path, &serialize(&named, metadata, path)?)
}

/// The safetensors bytes of named literals (dtypes as stored) with optional string metadata;
/// `path` names the destination in errors (a dtype the format cannot store names the tensor).
pub fn serialize(
    tensors: &[(String, Literal)],
    metadata: Option<std::collections::HashMap<String, String>>,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut bufs = Vec::new();
    for (name, l) in tensors {
        let dt = safetensors_dtype(l.dtype())
            .ok_or_else(|| io(path, format!("{name}: {} cannot be stored", l.dtype())))?;
        bufs.push((name.clone(), dt, l.dims().to_vec(), l.to_bytes()));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bufs
        .iter()
        .map(|(n, dt, shape, data)| {
            safetensors::tensor::TensorView::new(*dt, shape.clone(), data)
                .map(|v| (n.clone(), v))
                .map_err(|e| io(path, format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<_>>()?;
    safetensors::serialize(views, &metadata).map_err(|e| io(path, e))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, `fsync`,
/// rename over `path`, `fsync` of the directory. The temporary is removed on error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io(path, "the path names no file"))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable (the directory entry).
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path, format!("saving (through {}): {e}", tmp.display()))
    })
}

/// True when every value of `from` is exactly representable in `to`, so `load_into` may
/// convert a stored tensor without changing it.
fn converts_exactly(from: DType, to: DType) -> bool {
    use DType::*;
    if from == to {
        return true;
    }
    match from {
        Bool => to != C64,
        I8 => matches!(to, I32 | I64 | F16 | BF16 | F32 | F64),
        U8 => matches!(to, I32 | I64 | U32 | F16 | BF16 | F32 | F64),
        I32 | U32 => matches!(to, I64 | F64),
        I64 => false,
        F8E4M3FN | F8E5M2 => matches!(to, F16 | BF16 | F32 | F64),
        F16 | BF16 => matches!(to, F32 | F64),
        F32 => to == F64,
        F64 | C64 => false,
    }
}

/// Fills `template`'s leaves from a checkpoint by leaf path. Shapes must match; a stored dtype
/// is converted to the template's only when every value converts exactly (f32 into bf16, f32
/// into i32 or bool, i64 into f32 are refused with the path named: store at the precision you
/// train at, or cast explicitly).
pub fn load_into<T: Tree>(template: &T, ckpt: &BTreeMap<String, Literal>) -> Result<T> {
    let mut leaves = Vec::new();
    for (name, t) in leaves_with_paths(template) {
        let lit = ckpt
            .get(&name)
            .ok_or_else(|| Error::data("checkpoint", format!("missing tensor `{name}`")))?;
        let want = t.aval();
        if lit.dims() != want.dims() {
            return Err(Error::data(
                "checkpoint",
                format!("`{name}`: stored {}, model expects {want}", lit.aval()),
            ));
        }
        let d = lit.dtype();
        if !converts_exactly(d, want.dtype) {
            return Err(Error::data(
                "checkpoint",
                format!(
                    "`{name}`: loading {d} into a {} parameter would narrow it or change \
                     values (every stored value must convert exactly); cast explicitly",
                    want.dtype
                ),
            ));
        }
        leaves.push(Tensor::from_literal(lit.convert(want.dtype)));
    }
    unflatten(template, leaves)
}
