//! `--backend auto|interpreter|PLUGIN.so`: the runtime a command runs on.

use rax_core::Result;
use rax_runtime::Runtime;

/// The runtime named by a `--backend` value.
pub fn runtime(spec: &str) -> Result<Runtime> {
    match spec {
        "auto" => Runtime::auto(),
        "interpreter" => Ok(Runtime::interpreter()),
        path => Runtime::with_plugin(path),
    }
}

/// A short name of the backend for JSON output.
pub fn name(rt: &Runtime) -> String {
    rt.info().name.clone()
}
