//! The primitive catalogue and its conformance cases.
//!
//! `cases/<family>.json` hold golden inputs and outputs made with `jax[cpu]` by
//! `gen/<family>.py`; this crate loads them (`load_family`), turns each case into a traced
//! rax program (`build_case`, dispatched to `families::<family>`), and compares results with
//! per-dtype tolerances (`check_outputs`). Any backend can run the built graphs: the tests here
//! use the interpreter; the runtime's differential tests use the PJRT plugins.
//!
//! Depends on rax-core only.
#![warn(missing_docs)]

pub mod catalogue;
pub mod families;
pub mod fuzz;
pub mod tolerance;

use rax_core::{AVal, DType, Error, Graph, Literal, Result, Shape, Tensor};
use serde::Deserialize;
use std::path::PathBuf;

/// An array as stored in a case file: dtype name, shape, little-endian bytes in hex.
#[derive(Clone, Debug, Deserialize)]
pub struct StoredArray {
    /// Dtype name (`f32`, `bf16`, ...).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Hex of the little-endian bytes.
    pub hex: String,
}

impl StoredArray {
    /// Decodes to a literal.
    pub fn to_literal(&self) -> Result<Literal> {
        let dtype = DType::parse(&self.dtype)
            .ok_or_else(|| Error::data("case", format!("unknown dtype {}", self.dtype)))?;
        let bytes = decode_hex(&self.hex)?;
        Literal::from_bytes(&AVal::new(Shape::new(self.shape.clone()), dtype), &bytes)
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return Err(Error::data("case", "odd hex length"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| Error::data("case", e.to_string()))
        })
        .collect()
}

/// A tolerance override recorded by the generator, with its justification.
#[derive(Clone, Debug, Deserialize, Default)]
pub struct TolOverride {
    /// Allowed distance in units in the last place of the output dtype.
    pub ulps: Option<f64>,
    /// Absolute tolerance.
    pub atol: Option<f64>,
    /// Relative tolerance.
    pub rtol: Option<f64>,
}

/// One conformance case.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    /// Unique name, `op/dtype/what`.
    pub name: String,
    /// The catalogue op name.
    pub op: String,
    /// Static parameters, as the family's builder reads them.
    #[serde(default)]
    pub params: serde_json::Value,
    /// Inputs.
    pub inputs: Vec<StoredArray>,
    /// Golden outputs from JAX.
    pub outputs: Vec<StoredArray>,
    /// Optional tolerance override.
    #[serde(default)]
    pub tol: Option<TolOverride>,
    /// Why the override is needed.
    #[serde(default)]
    pub why: Option<String>,
}

#[derive(Deserialize)]
struct CaseFile {
    family: String,
    cases: Vec<Case>,
}

/// The directory holding the case files.
pub fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// The families that have a case file.
pub fn families() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(cases_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".json"))
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Loads `cases/<family>.json`.
pub fn load_family(family: &str) -> Result<Vec<Case>> {
    let path = cases_dir().join(format!("{family}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    let f: CaseFile = serde_json::from_str(&text).map_err(|e| Error::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    if f.family != family {
        return Err(Error::data(
            "case file",
            format!("{} says family {}", path.display(), f.family),
        ));
    }
    Ok(f.cases)
}

/// A case turned into a program: its graph and input literals.
pub struct BuiltCase {
    /// The traced program.
    pub graph: Graph,
    /// Input values.
    pub inputs: Vec<Literal>,
    /// Expected outputs.
    pub expected: Vec<Literal>,
}

/// Traces the rax program of a case.
pub fn build_case(family: &str, case: &Case) -> Result<BuiltCase> {
    let inputs: Vec<Literal> = case
        .inputs
        .iter()
        .map(|a| a.to_literal())
        .collect::<Result<_>>()?;
    let expected: Vec<Literal> = case
        .outputs
        .iter()
        .map(|a| a.to_literal())
        .collect::<Result<_>>()?;
    let avals: Vec<AVal> = inputs.iter().map(|l| l.aval()).collect();
    let mut build_err = None;
    let traced = rax_core::trace(&avals, |xs| {
        match families::build(family, &case.op, &case.params, xs) {
            Ok(v) => v,
            Err(e) => {
                build_err = Some(e);
                vec![]
            }
        }
    });
    if let Some(e) = build_err {
        return Err(e);
    }
    Ok(BuiltCase {
        graph: traced?.graph,
        inputs,
        expected,
    })
}

/// Reads a usize parameter.
pub fn p_usize(p: &serde_json::Value, key: &str) -> Result<usize> {
    p.get(key)
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
        .ok_or_else(|| Error::data("case params", format!("missing integer `{key}`")))
}

/// Reads a list-of-usize parameter.
pub fn p_usizes(p: &serde_json::Value, key: &str) -> Result<Vec<usize>> {
    p.get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64().map(|x| x as usize))
                .collect()
        })
        .ok_or_else(|| Error::data("case params", format!("missing integer list `{key}`")))
}

/// Reads a string parameter.
pub fn p_str<'a>(p: &'a serde_json::Value, key: &str) -> Result<&'a str> {
    p.get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::data("case params", format!("missing string `{key}`")))
}

/// Reads an optional bool parameter (default false).
pub fn p_bool(p: &serde_json::Value, key: &str) -> bool {
    p.get(key).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Compares outputs with the case's expectations; `Err` describes the first mismatch.
pub fn check_outputs(
    case: &Case,
    expected: &[Literal],
    got: &[Literal],
) -> std::result::Result<(), String> {
    if expected.len() != got.len() {
        return Err(format!(
            "{}: {} outputs expected, got {}",
            case.name,
            expected.len(),
            got.len()
        ));
    }
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        tolerance::check(e, g, case.tol.as_ref())
            .map_err(|m| format!("{} output {i}: {m}", case.name))?;
    }
    Ok(())
}

/// Convenience for builders: the tensor list must have `n` entries.
pub fn arity(op: &str, xs: &[Tensor], n: usize) -> Result<()> {
    if xs.len() != n {
        return Err(Error::data(
            "case",
            format!("{op} takes {n} inputs, case has {}", xs.len()),
        ));
    }
    Ok(())
}
