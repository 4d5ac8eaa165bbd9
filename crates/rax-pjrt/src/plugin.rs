//! [`Plugin`]: a loaded PJRT plugin (`dlopen` + `GetPjrtApi` +
//! `PJRT_Plugin_Initialize`) and its self-description.
//!
//! Plugins are never unloaded: XLA plugins start threads and register
//! static state that does not survive `dlclose`. Each path is loaded and
//! initialized once per process; later loads return the same [`Arc`].
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::api::{pjrt_call, Api};
use crate::cuda;
use crate::discover::{PluginCandidate, PluginKind};
use crate::error::{Error, Result};
use crate::ffi;
use crate::named_value::{self, Value};

/// A loaded and initialized PJRT plugin.
#[derive(Debug)]
pub struct Plugin {
    api: Api,
    attributes: Vec<(String, Value)>,
}

/// What a plugin says about itself, for reports and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    /// Path of the shared library.
    pub path: PathBuf,
    /// PJRT C API version (major, minor).
    pub api_version: (u32, u32),
    /// `PJRT_Api.struct_size` (bytes of function table the plugin provides).
    pub api_struct_size: usize,
    /// `stablehlo_current_version` attribute, if reported.
    pub stablehlo_current_version: Option<Vec<i64>>,
    /// `stablehlo_minimum_version` attribute, if reported.
    pub stablehlo_minimum_version: Option<Vec<i64>>,
    /// All plugin attributes.
    pub attributes: Vec<(String, Value)>,
}

impl fmt::Display for PluginInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.api_version;
        write!(f, "{} (PJRT C API {major}.{minor}", self.path.display())?;
        if let Some(v) = &self.stablehlo_current_version {
            let v: Vec<String> = v.iter().map(i64::to_string).collect();
            write!(f, ", StableHLO {}", v.join("."))?;
        }
        write!(f, ")")
    }
}

type Registry = Mutex<Vec<(PathBuf, Arc<Plugin>)>>;
static REGISTRY: Registry = Mutex::new(Vec::new());

impl Plugin {
    /// Loads (once per process) the plugin at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<Plugin>> {
        Self::load_kind(path.as_ref(), PluginKind::Cpu)
    }

    /// Loads a discovered candidate; for CUDA plugins the `nvidia-*` pip
    /// libraries next to it are preloaded with `RTLD_GLOBAL` first.
    pub fn load_candidate(candidate: &PluginCandidate) -> Result<Arc<Plugin>> {
        Self::load_kind(&candidate.path, candidate.kind)
    }

    fn load_kind(path: &Path, kind: PluginKind) -> Result<Arc<Plugin>> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, plugin)) = registry.iter().find(|(p, _)| *p == key) {
            return Ok(Arc::clone(plugin));
        }
        if kind.is_gpu() {
            if let Some(site) = cuda::site_packages_of_plugin(&key) {
                cuda::preload(&site, kind)?;
            }
        }
        let plugin = Arc::new(Self::open(&key)?);
        registry.push((key, Arc::clone(&plugin)));
        Ok(plugin)
    }

    fn open(path: &Path) -> Result<Plugin> {
        // A truncated or corrupt file would kill the process inside dlopen (SIGBUS).
        crate::elf_check::validate(path).map_err(|reason| Error::NotAPlugin {
            path: path.to_path_buf(),
            reason,
        })?;
        // SAFETY: loading a shared library runs its initializers; PJRT
        // plugins are designed to be dlopen'ed.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|source| Error::Load {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: `GetPjrtApi` has this signature in every PJRT plugin.
        let get_api = unsafe { lib.get::<ffi::GetPjrtApiFn>(b"GetPjrtApi\0") }.map_err(|e| {
            Error::NotAPlugin {
                path: path.to_path_buf(),
                reason: format!("no GetPjrtApi symbol ({e})"),
            }
        })?;
        // SAFETY: calling the plugin's entry point; it returns a static table.
        let raw = unsafe { get_api() };
        // Never unload (see module docs); the table lives as long as the process.
        std::mem::forget(lib);
        // SAFETY: the table is static data of a library that is never unloaded.
        let api = unsafe { Api::from_raw(raw, path) }?;
        let mut init = ffi::PJRT_Plugin_Initialize_Args::new();
        match pjrt_call!(&api, PJRT_Plugin_Initialize, &mut init) {
            Ok(()) | Err(Error::Unsupported { .. }) => {}
            Err(e) => return Err(e),
        }
        let attributes = read_attributes(&api);
        Ok(Plugin { api, attributes })
    }

    /// A view of this plugin whose `PJRT_Api` table is treated as only
    /// `struct_size` bytes long, as if the plugin had been built against an
    /// older header. Calls to functions beyond it fail with
    /// [`Error::Unsupported`]. Meant for testing compatibility handling.
    pub fn with_api_struct_size(&self, struct_size: usize) -> Arc<Plugin> {
        Arc::new(Plugin {
            api: self.api.truncated(struct_size),
            attributes: self.attributes.clone(),
        })
    }

    pub(crate) fn api(&self) -> &Api {
        &self.api
    }

    /// Path of the shared library.
    pub fn path(&self) -> &Path {
        self.api.path()
    }

    /// PJRT C API version (major, minor) the plugin implements.
    pub fn api_version(&self) -> (u32, u32) {
        self.api.version()
    }

    /// `PJRT_Api.struct_size` reported by the plugin.
    pub fn api_struct_size(&self) -> usize {
        self.api.struct_size()
    }

    /// Attributes from `PJRT_Plugin_Attributes` (empty if unsupported).
    pub fn attributes(&self) -> &[(String, Value)] {
        &self.attributes
    }

    /// One attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// A summary for reports.
    pub fn info(&self) -> PluginInfo {
        let list = |name: &str| match self.attribute(name) {
            Some(Value::Int64List(v)) => Some(v.clone()),
            _ => None,
        };
        PluginInfo {
            path: self.path().to_path_buf(),
            api_version: self.api_version(),
            api_struct_size: self.api_struct_size(),
            stablehlo_current_version: list("stablehlo_current_version"),
            stablehlo_minimum_version: list("stablehlo_minimum_version"),
            attributes: self.attributes.clone(),
        }
    }
}

fn read_attributes(api: &Api) -> Vec<(String, Value)> {
    let mut args = ffi::PJRT_Plugin_Attributes_Args::new();
    if pjrt_call!(api, PJRT_Plugin_Attributes, &mut args).is_err() {
        return Vec::new();
    }
    // SAFETY: the attribute array has process lifetime.
    unsafe { named_value::decode(args.attributes, args.num_attributes) }
}
