//! megalodon-jax 0.2.2 native checkpoints, both ways: one safetensors file whose tensors are
//! named by the parameter paths (`model.layers.0.attn.wz.weight`, weights `[out, in]`, norm
//! scales stored "plus one" i.e. as `scale − 1`) and whose metadata carries `format`
//! `megalodon-jax`, `format_version` `3`, the canonical `config_json`, its SHA-256
//! `config_fingerprint`, the SHA-256 `parameter_manifest_sha256` of the sorted
//! `[name, shape, dtype]` rows, and fixed convention tags (`rope_layout` `adjacent_pair`,
//! `normalization_storage` `plus_one`, `bias_schema` `upstream`, `initializer_schema`,
//! `tying`, `dtype_policy`).
//!
//! Loading checks all of it as megalodon-jax does, then requires the exact key set, shapes and
//! dtypes (sensitive tensors f32, the others the config's `param_dtype`), each mismatch an
//! error naming the tensor. Saving writes a file megalodon-jax's `load_checkpoint` accepts
//! (checked by the golden generator script), atomically (temporary file, then rename).
//!
//! Depends on rax-core, safetensors, `config`, `model`, `pyjson`, `sha256`.

use super::config::{dtype_name, MegalodonConfig};
use super::model::MegalodonForCausalLM;
use super::pyjson;
use super::sha256;
use rax_core::tree::{leaves_with_info, leaves_with_paths, unflatten};
use rax_core::{DType, Error, Literal, Policy, Result, Tensor};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// `format` metadata value.
pub const MODEL_FORMAT: &str = "megalodon-jax";
/// `format_version` metadata value.
pub const MODEL_FORMAT_VERSION: &str = "3";
const ROPE_LAYOUT: &str = "adjacent_pair";
const NORMALIZATION_STORAGE: &str = "plus_one";
const BIAS_SCHEMA: &str = "upstream";
const INITIALIZER_SCHEMA: &str = "split-boundary-internal-v1";
const DTYPE_POLICY_F32: &str = "fp32-params-fp32-or-bf16-compute";
const DTYPE_POLICY_BF16: &str = "bf16-ordinary-params-fp32-sensitive";

fn io(path: &Path, msg: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

fn dtype_policy(cfg: &MegalodonConfig) -> &'static str {
    if cfg.param() == DType::BF16 {
        DTYPE_POLICY_BF16
    } else {
        DTYPE_POLICY_F32
    }
}

fn numpy_name(d: DType) -> String {
    match d {
        DType::F32 => "float32".into(),
        DType::BF16 => "bfloat16".into(),
        DType::F16 => "float16".into(),
        DType::F64 => "float64".into(),
        DType::I32 => "int32".into(),
        DType::I64 => "int64".into(),
        DType::Bool => "bool".into(),
        other => other.to_string(),
    }
}

/// megalodon-jax's parameter manifest: SHA-256 of the compact JSON list of sorted
/// `[name, shape, dtype]` rows.
pub fn manifest<'a>(rows: impl IntoIterator<Item = (&'a str, &'a [usize], DType)>) -> String {
    let mut rows: Vec<(&str, &[usize], DType)> = rows.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let v = Value::Array(
        rows.iter()
            .map(|(n, s, d)| {
                Value::Array(vec![
                    Value::String(n.to_string()),
                    Value::Array(s.iter().map(|x| Value::from(*x as u64)).collect()),
                    Value::String(numpy_name(*d)),
                ])
            })
            .collect(),
    );
    sha256::hex(pyjson::dumps(&v).as_bytes())
}

/// A loaded checkpoint: its validated config and parameters.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The checkpoint's config (with a policy override applied, if any).
    pub config: MegalodonConfig,
    /// The parameters.
    pub params: MegalodonForCausalLM,
}

/// Reads and validates the metadata and tensors of a native checkpoint.
fn read(path: &Path) -> Result<(MegalodonConfig, BTreeMap<String, Literal>)> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e.to_string()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| io(path, format!("not a readable safetensors file: {e}")))?;
    let md: HashMap<String, String> = meta.metadata().clone().unwrap_or_default();
    if md.get("format").map(String::as_str) != Some(MODEL_FORMAT)
        || md.get("format_version").map(String::as_str) != Some(MODEL_FORMAT_VERSION)
    {
        return Err(io(
            path,
            format!(
                "incompatible or legacy checkpoint: expected format {MODEL_FORMAT} version \
                 {MODEL_FORMAT_VERSION}, found format {:?} version {:?}",
                md.get("format"),
                md.get("format_version")
            ),
        ));
    }
    let required = [
        "config_json",
        "config_fingerprint",
        "parameter_manifest_sha256",
        "rope_layout",
        "normalization_storage",
        "bias_schema",
        "initializer_schema",
        "tying",
        "dtype_policy",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| !md.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(io(
            path,
            format!("checkpoint metadata is incomplete: missing {missing:?}"),
        ));
    }
    for (k, want) in [
        ("rope_layout", ROPE_LAYOUT),
        ("normalization_storage", NORMALIZATION_STORAGE),
        ("bias_schema", BIAS_SCHEMA),
        ("initializer_schema", INITIALIZER_SCHEMA),
    ] {
        if md[k] != want {
            return Err(io(
                path,
                format!("checkpoint {k} is {:?}, expected {want:?}", md[k]),
            ));
        }
    }
    let cfg =
        MegalodonConfig::from_json(&md["config_json"]).map_err(|e| io(path, e.to_string()))?;
    if md["dtype_policy"] != dtype_policy(&cfg) {
        return Err(io(
            path,
            format!(
                "checkpoint dtype_policy {:?} disagrees with its param_dtype {:?}",
                md["dtype_policy"], cfg.param_dtype
            ),
        ));
    }
    let fp = cfg.fingerprint()?;
    if fp != md["config_fingerprint"] {
        return Err(io(
            path,
            format!(
            "checkpoint config fingerprint is invalid: metadata {} but config_json hashes to {fp}",
            md["config_fingerprint"]
        ),
        ));
    }
    let tying = if cfg.share_emb { "tied" } else { "untied" };
    if md["tying"] != tying {
        return Err(io(
            path,
            format!(
                "checkpoint tying {:?} disagrees with share_emb={}",
                md["tying"], cfg.share_emb
            ),
        ));
    }
    let out = rax_nn::checkpoint::parse(path, &bytes)?;
    let m = manifest(out.iter().map(|(n, l)| (n.as_str(), l.dims(), l.dtype())));
    if m != md["parameter_manifest_sha256"] {
        return Err(io(
            path,
            format!(
                "checkpoint parameter manifest does not match its metadata ({m} vs {})",
                md["parameter_manifest_sha256"]
            ),
        ));
    }
    Ok((cfg, out))
}

/// Fills the config's parameter template from `tensors`, requiring the exact key set, shapes
/// and dtypes (errors name the tensor).
pub fn from_tensors(
    cfg: &MegalodonConfig,
    tensors: &BTreeMap<String, Literal>,
) -> Result<MegalodonForCausalLM> {
    let template = MegalodonForCausalLM::template(cfg)?;
    let want = leaves_with_paths(&template);
    let expected: std::collections::BTreeSet<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|n| !tensors.contains_key(*n))
        .collect();
    let unexpected: Vec<&str> = tensors
        .keys()
        .map(String::as_str)
        .filter(|n| !expected.contains(n))
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(Error::data(
            "megalodon checkpoint",
            format!(
                "strict checkpoint key mismatch: missing={missing:?}, unexpected={unexpected:?}"
            ),
        ));
    }
    let mut leaves = Vec::with_capacity(want.len());
    for (name, t) in &want {
        let lit = &tensors[name];
        if lit.dims() != t.dims().as_slice() {
            return Err(Error::data(
                "megalodon checkpoint",
                format!(
                    "checkpoint tensor {name} has shape {:?}, expected {:?}",
                    lit.dims(),
                    t.dims()
                ),
            ));
        }
        if lit.dtype() != t.dtype() {
            return Err(Error::data(
                "megalodon checkpoint",
                format!(
                    "checkpoint tensor {name} has dtype {}, expected {}",
                    numpy_name(lit.dtype()),
                    numpy_name(t.dtype())
                ),
            ));
        }
        leaves.push(Tensor::from_literal(lit.clone()));
    }
    unflatten(&template, leaves)
}

/// Loads a megalodon-jax native checkpoint. `policy` overrides the config's dtypes: ordinary
/// parameters are cast to `policy.param`, sensitive ones stay f32; f16 is refused.
pub fn load(path: impl AsRef<Path>, policy: Option<&Policy>) -> Result<Loaded> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(io(path, "no such checkpoint file"));
    }
    let (cfg, tensors) = read(path)?;
    let params = from_tensors(&cfg, &tensors).map_err(|e| io(path, e.to_string()))?;
    match policy {
        None => Ok(Loaded {
            config: cfg,
            params,
        }),
        Some(p) => {
            let config = cfg.with_policy(p)?;
            let params = rax_core::precision::cast_floating(&params, config.param(), false);
            Ok(Loaded { config, params })
        }
    }
}

/// Saves `params` as a megalodon-jax native checkpoint at `path` (must end in `.safetensors`).
/// Sensitive leaves must be f32 and the others `cfg.param_dtype` (checked, naming the tensor).
pub fn save(
    cfg: &MegalodonConfig,
    params: &MegalodonForCausalLM,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(io(
            path,
            "native checkpoints must use the .safetensors suffix",
        ));
    }
    cfg.validate()?;
    dtype_name(cfg.param())?;
    let mut lits = Vec::new();
    for (name, t, info) in leaves_with_info(params) {
        let want = if info.sensitive {
            DType::F32
        } else {
            cfg.param()
        };
        if t.dtype() != want {
            return Err(io(path, format!(
                "tensor {name} is {} but the checkpoint stores it as {} (sensitive={}); cast it first",
                t.dtype(), want, info.sensitive
            )));
        }
        lits.push((name, t.to_literal()?));
    }
    let expected = leaves_with_paths(&MegalodonForCausalLM::template(cfg)?);
    if expected.len() != lits.len()
        || expected
            .iter()
            .zip(&lits)
            .any(|((a, t), (b, l))| a != b || t.dims().as_slice() != l.dims())
    {
        return Err(io(
            path,
            "parameters do not match the config's structure and shapes",
        ));
    }
    let rows = lits.iter().map(|(n, l)| (n.as_str(), l.dims(), l.dtype()));
    let mut md = HashMap::new();
    md.insert("format".to_string(), MODEL_FORMAT.to_string());
    md.insert("format_version".into(), MODEL_FORMAT_VERSION.into());
    md.insert("config_json".into(), cfg.canonical_json()?);
    md.insert("config_fingerprint".into(), cfg.fingerprint()?);
    md.insert("parameter_manifest_sha256".into(), manifest(rows));
    md.insert("rope_layout".into(), ROPE_LAYOUT.into());
    md.insert("normalization_storage".into(), NORMALIZATION_STORAGE.into());
    md.insert("bias_schema".into(), BIAS_SCHEMA.into());
    md.insert("initializer_schema".into(), INITIALIZER_SCHEMA.into());
    md.insert(
        "tying".into(),
        if cfg.share_emb { "tied" } else { "untied" }.into(),
    );
    md.insert("dtype_policy".into(), dtype_policy(cfg).into());
    // Written atomically (temporary file, fsync, rename, fsync of the directory).
    let bytes = rax_nn::checkpoint::serialize(&lits, Some(md), path)?;
    rax_nn::checkpoint::write_atomic(path, &bytes)
}
