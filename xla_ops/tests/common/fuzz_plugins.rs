//! The CPU PJRT plugins as fuzzing backends (shared by the fuzzer example and its test).
#![allow(dead_code)]

use rax_core::{Graph, Literal, Result};
use rax_runtime::{discover_plugins, Donation, Runtime};
use xla_ops::fuzz::Backend;

/// One plugin, named by its file and API version.
pub struct Plugin {
    /// File name and API version.
    pub name: String,
    /// The runtime on it.
    pub rt: Runtime,
}

impl Backend for Plugin {
    fn name(&self) -> &str {
        &self.name
    }
    fn run(&self, g: &Graph, inputs: &[Literal]) -> Result<Vec<Literal>> {
        let exe = self.rt.backend().compile(g, &Donation::none())?;
        let args: Vec<rax_core::Array> = inputs
            .iter()
            .map(|l| rax_core::Array::Host(l.clone().into()))
            .collect();
        exe.execute(&args)?.iter().map(|a| a.to_literal()).collect()
    }
}

/// Every discovered CPU plugin that loads (the others are reported on stderr).
pub fn plugins() -> Vec<Plugin> {
    let found = discover_plugins();
    let mut v = Vec::new();
    for c in found.cpu() {
        match Runtime::pjrt(&c.path) {
            Ok(rt) => {
                let file = c.path.file_name().map(|n| n.to_string_lossy().into_owned());
                let (a, b) = rt.info().api_version.unwrap_or((0, 0));
                v.push(Plugin {
                    name: format!("{} (API {a}.{b})", file.unwrap_or_default()),
                    rt,
                })
            }
            Err(e) => eprintln!("skipping {}: {e}", c.path.display()),
        }
    }
    v
}

/// [`plugins`], asserting under CI (`CI=true`) that both CPU plugins are there, so that a test
/// over them cannot pass by running on nothing.
pub fn plugins_required_under_ci() -> Vec<Plugin> {
    let found = plugins();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        found.len() >= 2 || !ci,
        "expected both CPU plugins under CI, found {}",
        found.len()
    );
    found
}
