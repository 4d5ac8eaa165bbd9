//! Checkpoints in the safetensors format: tensors named by their leaf paths (`layers.0.wqkv`).
//! Loading keeps every stored dtype as is (an f32 norm scale stays f32); `load_into` fills a
//! parameter tree by path and refuses a stored dtype narrower than the tree's (no silent
//! narrowing), naming the path.
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

fn st_dtype(d: safetensors::Dtype) -> Option<DType> {
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

fn to_st_dtype(d: DType) -> Option<safetensors::Dtype> {
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

/// Reads every tensor of a safetensors file.
pub fn load(path: impl AsRef<Path>) -> Result<BTreeMap<String, Literal>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| io(path, e))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let dtype = st_dtype(view.dtype()).ok_or_else(|| {
            io(
                path,
                format!("{name}: unsupported dtype {:?}", view.dtype()),
            )
        })?;
        let aval = AVal::new(Shape::new(view.shape().to_vec()), dtype);
        out.insert(name, Literal::from_bytes(&aval, view.data())?);
    }
    Ok(out)
}

/// Writes a tree's leaves, named by path, to a safetensors file (dtypes as stored).
pub fn save<T: Tree>(tree: &T, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut lits = Vec::new();
    for (name, t) in leaves_with_paths(tree) {
        lits.push((name, t.to_literal()?));
    }
    let mut views = Vec::new();
    for (name, l) in &lits {
        let dt = to_st_dtype(l.dtype())
            .ok_or_else(|| io(path, format!("{name}: {} cannot be stored", l.dtype())))?;
        views.push((name.clone(), (dt, l.dims().to_vec(), l.to_bytes())));
    }
    let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = views
        .iter()
        .map(|(n, (dt, shape, data))| {
            safetensors::tensor::TensorView::new(*dt, shape.clone(), data)
                .map(|v| (n.clone(), v))
                .map_err(|e| io(path, e))
        })
        .collect::<Result<_>>()?;
    safetensors::serialize_to_file(tensors, &None, path).map_err(|e| io(path, e))
}

/// Fills `template`'s leaves from a checkpoint by leaf path. Shapes must match; a stored dtype
/// is converted to the template's only when that does not narrow (f32 into bf16 is refused with
/// the path named: store at the precision you train at, or cast explicitly).
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
        if d != want.dtype
            && d.is_float()
            && want.dtype.is_float()
            && want.dtype.size_bytes() < d.size_bytes()
        {
            return Err(Error::data(
                "checkpoint",
                format!(
                    "`{name}`: loading {d} into a {} parameter would narrow it",
                    want.dtype
                ),
            ));
        }
        leaves.push(Tensor::from_literal(lit.convert(want.dtype)));
    }
    unflatten(template, leaves)
}
