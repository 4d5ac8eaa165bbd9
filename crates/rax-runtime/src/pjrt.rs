//! The PJRT backend: lowers a graph to StableHLO text (`rax_core::lower::lower_module`, with
//! donation attributes), compiles it with a PJRT plugin through rax-pjrt, and runs it on the
//! plugin's first device. Results are [`PjrtArray`]s: device buffers that stay on the device
//! until `.to_literal()`. Arguments are validated in Rust (count, shape, dtype, donated or
//! repeated buffers) before any plugin call, so misuse is an `Err`, never a plugin abort.
//!
//! XLA flags: before loading the first plugin rax appends to `XLA_FLAGS` (each unless
//! `XLA_FLAGS` already mentions it) `--xla_cpu_enable_fast_min_max=false`, since the pip CPU
//! plugins default to XLA's "fast" min/max, which drop NaNs (`max(NaN, 0) = 0`), unlike jaxlib
//! and rax's interpreter; and `--xla_cpu_enable_concurrency_optimized_scheduler=false`, since
//! with that scheduler the API 0.115 plugin deadlocks on a large training step (see
//! [`NO_CONCURRENCY_SCHEDULER_FLAG`]). (rax-pjrt's `CompileOptions` cannot carry `DebugOptions`
//! yet; when it can, these should move there.)
//!
//! Compiled programs can be kept across processes: see [`crate::compile_cache`].
//!
//! Depends on `backend`, `compile_cache`, rax-core and rax-pjrt.

use crate::backend::{
    check_args, check_donated_unique, Backend, BackendInfo, Donation, Executable,
};
use crate::compile_cache::{CompileCache, CompileTarget};
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::{AVal, Array, DType, DeviceArray, Error, Graph, Literal, Result};
use rax_pjrt::{Buffer, Client, CompileOptions, Device, ElementType, Plugin, PluginCandidate};
use std::any::Any;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const NAME: &str = "pjrt";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Up to this many arguments, device-resident calls pass buffers from the stack.
const INLINE: usize = 8;

/// Whether programs for a plugin of this PJRT C API version declare donated inputs as aliases
/// of outputs. Measured: the API 0.81 plugin (xla-cpu-pjrt 0.0.1) computes wrong results for
/// the reference LM training step when f32 parameters are aliased to outputs
/// (`tf.aliasing_output`): the loss after one AdamW step is 5.369 instead of 5.3135 (JAX, the
/// interpreter, API 0.115 with aliasing, and 0.81 without aliasing all agree). Until that is
/// understood, plugins older than API 0.100 get no aliases; donated inputs are still consumed
/// at execution, so the user-visible contract holds. `None` (not a plugin) means yes.
pub fn aliases_supported(api_version: Option<(u32, u32)>) -> bool {
    api_version.is_none_or(|v| v >= (0, 100))
}

/// The PJRT element type of a rax dtype.
pub fn element_type(d: DType) -> ElementType {
    match d {
        DType::Bool => ElementType::Pred,
        DType::I8 => ElementType::S8,
        DType::I32 => ElementType::S32,
        DType::I64 => ElementType::S64,
        DType::U8 => ElementType::U8,
        DType::U32 => ElementType::U32,
        DType::F16 => ElementType::F16,
        DType::BF16 => ElementType::BF16,
        DType::F32 => ElementType::F32,
        DType::F64 => ElementType::F64,
        DType::F8E4M3FN => ElementType::F8E4M3FN,
        DType::F8E5M2 => ElementType::F8E5M2,
        DType::C64 => ElementType::C64,
    }
}

/// The XLA flag that makes CPU `maximum`/`minimum` propagate NaN (jaxlib's behaviour).
pub const NAN_MIN_MAX_FLAG: &str = "--xla_cpu_enable_fast_min_max=false";

/// The XLA flag that turns off the CPU backend's concurrency-optimized scheduler. With it on,
/// the API 0.115 plugin (lammps-jax-pjrt-cpu 0.11.2) deadlocks executing the 4-layer Megalodon
/// training step at batch 4 x 256 (every thread waits on a condition variable, forever;
/// `rax-models/tests/plugin_deadlock.rs`); with it off the program runs, on both plugins.
pub const NO_CONCURRENCY_SCHEDULER_FLAG: &str =
    "--xla_cpu_enable_concurrency_optimized_scheduler=false";

/// The flags rax adds to `XLA_FLAGS`, each unless the user's `XLA_FLAGS` names it already.
pub const RAX_XLA_FLAGS: [&str; 2] = [NAN_MIN_MAX_FLAG, NO_CONCURRENCY_SCHEDULER_FLAG];

static XLA_FLAGS_ONCE: std::sync::Once = std::sync::Once::new();

/// `cur` with each of [`RAX_XLA_FLAGS`] the user has not set appended.
fn with_rax_flags(cur: &str) -> String {
    let mut v = cur.trim().to_string();
    for flag in RAX_XLA_FLAGS {
        let name = flag
            .trim_start_matches('-')
            .split('=')
            .next()
            .unwrap_or(flag);
        if !cur.contains(name) {
            if !v.is_empty() {
                v.push(' ');
            }
            v.push_str(flag);
        }
    }
    v
}

/// Adds [`RAX_XLA_FLAGS`] to `XLA_FLAGS` once, before any plugin reads it.
fn ensure_xla_flags() {
    XLA_FLAGS_ONCE.call_once(|| {
        let cur = std::env::var("XLA_FLAGS").unwrap_or_default();
        let v = with_rax_flags(&cur);
        if v != cur {
            std::env::set_var("XLA_FLAGS", v);
        }
    });
}

fn err(context: &str, e: rax_pjrt::Error) -> Error {
    Error::backend(NAME, format!("{context}: {e}"))
}

/// A PJRT plugin with a client on its first device.
pub struct Pjrt {
    shared: Arc<Shared>,
    info: BackendInfo,
    cache: Option<Arc<CompileCache>>,
    target: CompileTarget,
}

struct Shared {
    id: u64,
    client: Client,
    device: Device,
}

impl fmt::Debug for Pjrt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pjrt({})", self.info)
    }
}

impl Pjrt {
    /// Loads the plugin at `path` and opens a client on it.
    pub fn load(path: impl AsRef<Path>) -> Result<Pjrt> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::backend(
                NAME,
                format!("no PJRT plugin at {}: file not found", path.display()),
            ));
        }
        ensure_xla_flags();
        let plugin = Plugin::load(path).map_err(|e| err("loading the plugin", e))?;
        Pjrt::from_plugin(plugin)
    }

    /// Loads a discovered plugin (CUDA plugins get their `nvidia-*` libraries preloaded).
    pub fn load_candidate(c: &PluginCandidate) -> Result<Pjrt> {
        ensure_xla_flags();
        let plugin = Plugin::load_candidate(c).map_err(|e| err("loading the plugin", e))?;
        Pjrt::from_plugin(plugin)
    }

    /// Opens a client on a loaded plugin. (Prefer [`Pjrt::load`]: it also sets the XLA flag
    /// for NaN-propagating min/max before the plugin is loaded.)
    pub fn from_plugin(plugin: Arc<Plugin>) -> Result<Pjrt> {
        let path = plugin.path().display().to_string();
        let ctx = |what: &str| format!("{what} ({path})");
        let client = Client::new(&plugin).map_err(|e| err(&ctx("creating a client"), e))?;
        let device = client
            .default_device()
            .map_err(|e| err(&ctx("finding a device"), e))?;
        let platform = client
            .platform_name()
            .map_err(|e| err(&ctx("reading the platform name"), e))?;
        let platform_version = client.platform_version().unwrap_or_default();
        let (major, minor) = plugin.api_version();
        let target = CompileTarget::current(
            &path,
            &format!("{major}.{minor} {platform} {platform_version}"),
        );
        let info = BackendInfo {
            name: NAME.into(),
            platform,
            platform_version,
            api_version: Some(plugin.api_version()),
            plugin_path: Some(path),
        };
        Ok(Pjrt {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                client,
                device,
            }),
            info,
            cache: CompileCache::from_env().map(Arc::new),
            target,
        })
    }

    /// Uses the persistent compilation cache in `dir` (see [`crate::compile_cache`]) instead
    /// of the one `RAX_COMPILATION_CACHE_DIR` names, if any.
    pub fn with_compile_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Pjrt {
        self.cache = Some(Arc::new(CompileCache::new(dir)));
        self
    }

    /// Turns the persistent compilation cache off for this backend.
    pub fn without_compile_cache(mut self) -> Pjrt {
        self.cache = None;
        self
    }

    /// The persistent compilation cache in use, if any (its directory and hit counts).
    pub fn compile_cache(&self) -> Option<&CompileCache> {
        self.cache.as_deref()
    }

    /// Compiles `text`, or loads it from the compilation cache when an intact entry for this
    /// program, plugin and host is there (storing it after a compile). A loaded entry that the
    /// plugin refuses, or whose output count is not `outputs`, is removed and compiled afresh.
    fn compile_text(
        &self,
        text: &str,
        options: &CompileOptions,
        outputs: usize,
    ) -> Result<rax_pjrt::Executable> {
        let client = &self.shared.client;
        let compile = || {
            client
                .compile(text, options)
                .map_err(|e| err("compiling the lowered StableHLO", e))
        };
        let Some(cache) = &self.cache else {
            return compile();
        };
        let encoded = options
            .encode()
            .map_err(|e| err("encoding the compile options", e))?;
        let key = cache.key(text, &encoded, &self.target);
        if let Some(bytes) = cache.get(&key) {
            match client.deserialize_executable(&bytes, Some(text)) {
                Ok(exe) if exe.num_outputs() == outputs => {
                    cache.hit();
                    return Ok(exe);
                }
                _ => cache.reject(&key),
            }
        }
        cache.miss();
        let exe = compile()?;
        if let Ok(bytes) = exe.serialize() {
            // A failed write is counted and reported by the cache; the program still runs.
            let _ = cache.put(&key, &bytes);
        }
        Ok(exe)
    }

    /// The rax-pjrt client (for raw access, e.g. benchmarks).
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The device programs run on.
    pub fn device(&self) -> &Device {
        &self.shared.device
    }

    fn upload(&self, lit: &Literal) -> Result<Buffer> {
        upload(&self.shared, lit)
    }
}

fn upload(s: &Shared, lit: &Literal) -> Result<Buffer> {
    let dims: Vec<i64> = lit.dims().iter().map(|&d| d as i64).collect();
    s.client
        .buffer_from_host(&lit.to_bytes(), element_type(lit.dtype()), &dims, &s.device)
        .map_err(|e| err("copying to the device", e))
}

/// A device buffer of a PJRT backend.
pub struct PjrtArray {
    buffer: Buffer,
    aval: Arc<AVal>,
    donated: AtomicBool,
    owner: u64,
}

impl fmt::Debug for PjrtArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PjrtArray({}", self.aval)?;
        if self.is_donated() {
            write!(f, ", donated")?;
        }
        write!(f, ")")
    }
}

impl PjrtArray {
    /// True once donated to a call (the buffer then belongs to that call's result).
    pub fn is_donated(&self) -> bool {
        self.donated.load(Ordering::Acquire)
    }

    /// The rax-pjrt buffer.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }
}

impl DeviceArray for PjrtArray {
    fn aval(&self) -> &AVal {
        &self.aval
    }

    fn to_literal(&self) -> Result<Literal> {
        if self.is_donated() {
            return Err(crate::backend::donated_error(NAME, "this array"));
        }
        let bytes = self
            .buffer
            .to_host()
            .map_err(|e| err("copying to the host", e))?;
        Literal::from_bytes(&self.aval, &bytes)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A program compiled by a PJRT plugin.
pub struct PjrtExecutable {
    exe: rax_pjrt::Executable,
    shared: Arc<Shared>,
    in_avals: Vec<AVal>,
    out_avals: Vec<AVal>,
    out_shared: Vec<Arc<AVal>>,
    donation: Donation,
    flags: Vec<bool>,
    text: String,
}

impl fmt::Debug for PjrtExecutable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PjrtExecutable")
            .field("in_avals", &self.in_avals)
            .field("out_avals", &self.out_avals)
            .field("donation", &self.donation)
            .finish()
    }
}

impl PjrtExecutable {
    /// The rax-pjrt executable (memory statistics, cost analysis, ...).
    pub fn raw(&self) -> &rax_pjrt::Executable {
        &self.exe
    }
}

impl Backend for Pjrt {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    /// No donation attributes for plugins older than [`aliases_supported`] allows.
    fn module_options(&self, donation: &Donation) -> ModuleOptions {
        if aliases_supported(self.info.api_version) {
            donation.module_options()
        } else {
            Donation::none().module_options()
        }
    }

    fn compile(&self, graph: &Graph, donation: &Donation) -> Result<Arc<dyn Executable>> {
        let in_avals = graph.in_avals();
        let out_avals = graph.out_avals();
        donation.validate(&in_avals, &out_avals)?;
        // The plugin allocates every result: refuse one larger than an array may be before
        // XLA tries (its allocation failure or size overflow aborts the process).
        for (i, a) in out_avals.iter().enumerate() {
            rax_core::limits::check_alloc(&format!("jit (result {i})"), a)?;
        }
        let text = lower_module(graph, &self.module_options(donation))?;
        let exe = self.compile_text(&text, &CompileOptions::default(), out_avals.len())?;
        if exe.num_outputs() != out_avals.len() {
            return Err(Error::backend(
                NAME,
                format!(
                    "the compiled program has {} outputs, the graph {}",
                    exe.num_outputs(),
                    out_avals.len()
                ),
            ));
        }
        let flags = if donation.aliases.is_empty() && donation.donors.is_empty() {
            Vec::new()
        } else {
            donation.flags(in_avals.len())
        };
        Ok(Arc::new(PjrtExecutable {
            exe,
            shared: self.shared.clone(),
            out_shared: out_avals.iter().cloned().map(Arc::new).collect(),
            in_avals,
            out_avals,
            donation: donation.clone(),
            flags,
            text,
        }))
    }

    fn compile_cache_stats(&self) -> Option<crate::CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    fn to_device(&self, lit: &Literal) -> Result<Array> {
        let buffer = self.upload(lit)?;
        Ok(Array::Device(Arc::new(PjrtArray {
            buffer,
            aval: Arc::new(lit.aval()),
            donated: AtomicBool::new(false),
            owner: self.shared.id,
        })))
    }
}

/// Our own buffer inside an argument, if it is one of this client's arrays.
fn own(a: &Array, owner: u64) -> Option<&PjrtArray> {
    match a {
        Array::Device(d) => d
            .as_any()
            .downcast_ref::<PjrtArray>()
            .filter(|p| p.owner == owner),
        Array::Host(_) => None,
    }
}

impl Executable for PjrtExecutable {
    fn in_avals(&self) -> &[AVal] {
        &self.in_avals
    }
    fn out_avals(&self) -> &[AVal] {
        &self.out_avals
    }
    fn donation(&self) -> &Donation {
        &self.donation
    }
    fn text(&self) -> Option<&str> {
        Some(&self.text)
    }

    fn execute(&self, args: &[Array]) -> Result<Vec<Array>> {
        let mut out = Vec::with_capacity(self.out_shared.len());
        self.execute_into(args, &mut out)?;
        Ok(out)
    }

    fn execute_into(&self, args: &[Array], out: &mut Vec<Array>) -> Result<()> {
        check_args(NAME, &self.in_avals, args)?;
        check_donated_unique(NAME, &self.flags, args)?;
        let owner = self.shared.id;
        let all_own = args.iter().all(|a| own(a, owner).is_some());
        let result = match (all_own, args.first().and_then(|a| own(a, owner))) {
            // The common case (device arguments, few of them): no staging, no allocation.
            (true, Some(first)) if args.len() <= INLINE => {
                let mut refs: [&Buffer; INLINE] = [&first.buffer; INLINE];
                for (slot, a) in refs.iter_mut().zip(args) {
                    if let Some(p) = own(a, owner) {
                        *slot = &p.buffer;
                    }
                }
                self.exe.execute(&refs[..args.len()], &self.flags)
            }
            _ => {
                // Host arguments (and other backends' arrays) are copied in first.
                let mut temps: Vec<Buffer> = Vec::new();
                for a in args {
                    if own(a, owner).is_none() {
                        let lit = a.to_host()?;
                        temps.push(upload(&self.shared, &lit)?);
                    }
                }
                let mut next_temp = temps.iter();
                let mut refs: Vec<&Buffer> = Vec::with_capacity(args.len());
                for a in args {
                    match own(a, owner) {
                        Some(p) => refs.push(&p.buffer),
                        None => match next_temp.next() {
                            Some(b) => refs.push(b),
                            None => return Err(Error::backend(NAME, "argument staging failed")),
                        },
                    }
                }
                self.exe.execute(&refs, &self.flags)
            }
        };
        // Whether or not the call succeeded, donated buffers may have been consumed.
        for (a, &d) in args.iter().zip(&self.flags) {
            if let (true, Some(p)) = (d, own(a, owner)) {
                p.donated.store(true, Ordering::Release);
            }
        }
        let outs = result.map_err(|e| err("executing", e))?;
        if outs.len() != self.out_shared.len() {
            return Err(Error::backend(NAME, "wrong number of results"));
        }
        out.extend(
            outs.into_iter()
                .zip(&self.out_shared)
                .map(|(buffer, aval)| {
                    Array::Device(Arc::new(PjrtArray {
                        buffer,
                        aval: aval.clone(),
                        donated: AtomicBool::new(false),
                        owner,
                    }) as Arc<dyn DeviceArray>)
                }),
        );
        Ok(())
    }
}

#[cfg(test)]
mod flag_tests {
    use super::with_rax_flags;

    #[test]
    fn rax_flags_are_appended_unless_the_user_set_them() {
        assert_eq!(
            with_rax_flags(""),
            "--xla_cpu_enable_fast_min_max=false \
             --xla_cpu_enable_concurrency_optimized_scheduler=false"
        );
        // A user's own setting of either flag wins; other user flags are kept.
        assert_eq!(
            with_rax_flags("--xla_cpu_enable_fast_min_max=true --xla_dump_to=/tmp/d"),
            "--xla_cpu_enable_fast_min_max=true --xla_dump_to=/tmp/d \
             --xla_cpu_enable_concurrency_optimized_scheduler=false"
        );
        let both = "--xla_cpu_enable_concurrency_optimized_scheduler=true \
                    --xla_cpu_enable_fast_min_max=false";
        assert_eq!(with_rax_flags(both), both);
    }
}
