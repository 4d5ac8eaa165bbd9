//! Command-line flags of the example programs (benchmarks and demonstrations): `--name value`
//! pairs, bare switches, and the `--backend auto|interpreter|PLUGIN.so` runtime. Included by
//! each example with `#[path = "../common/flags.rs"] mod flags;`.
#![allow(dead_code)]

use rax::core::{Error, Result};
use rax::runtime::Runtime;

/// The process's arguments.
pub struct Flags(Vec<String>);

impl Flags {
    /// The arguments this process was started with.
    pub fn from_env() -> Flags {
        Flags(std::env::args().collect())
    }

    /// The value after `flag`, if given.
    pub fn get(&self, flag: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.0.get(i + 1))
            .cloned()
    }

    /// Whether the switch `flag` is present.
    pub fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }

    /// The unsigned integer after `flag`, or `default`; a value that does not parse is an
    /// error naming the flag.
    pub fn num(&self, flag: &str, default: usize) -> Result<usize> {
        self.get(flag).map_or(Ok(default), |s| {
            s.parse().map_err(|e| Error::arg(flag, format!("{s}: {e}")))
        })
    }

    /// The runtime `--backend` names: `auto` (the default), `interpreter`, or a plugin's path.
    pub fn runtime(&self) -> Result<Runtime> {
        match self.get("--backend").as_deref() {
            None | Some("auto") => Runtime::auto(),
            Some("interpreter") => Ok(Runtime::interpreter()),
            Some(path) => Runtime::pjrt(path),
        }
    }
}

/// Writes each `(name, StableHLO text)` part to `PREFIX.name.mlir` (the `--dump-parts PREFIX`
/// of the benchmarks, for `hlo_bench`); a failed write is an error naming the file.
pub fn write_parts(prefix: &str, parts: &[(&str, String)]) -> Result<()> {
    for (name, text) in parts {
        let path = format!("{prefix}.{name}.mlir");
        std::fs::write(&path, text)
            .map_err(|e| Error::data("--dump-parts", format!("{path}: {e}")))?;
    }
    Ok(())
}

/// The median of timings (NaN for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}
