//! The process allocator: jemalloc, for rax and for the PJRT plugin it loads.
//!
//! A CPU plugin allocates each execution's temporaries (one block: 70 MB for the
//! Megalodon benchmark step, 234 MB for the DeepSeek one) with `malloc` on a worker
//! thread and frees it when the execution ends. glibc serves a block that large with a
//! fresh `mmap` and returns it with `munmap`, so every step faults in every 4 KiB page of
//! its temporaries again (about 18,000 faults and a quarter of the step's time in the
//! kernel, measured with `perf`; see docs/performance.md, "The allocator").
//!
//! With the `jemalloc` feature (on by default here and in `rax-runtime`, `rax-models` and
//! `rax`, which forward it) this crate makes jemalloc the global
//! allocator, with its `malloc`, `free`, `posix_memalign`, ... exported unprefixed, so the
//! plugin's own calls bind to it as well (the dynamic linker resolves the plugin's
//! `malloc` against the executable first). Configured by [`malloc_conf`], jemalloc keeps
//! freed pages for reuse: the next step's temporaries land on pages that are already
//! mapped. Turn the feature off (`default-features = false` on `rax`) to keep
//! the system allocator, e.g. when the binary installs its own `#[global_allocator]`.

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A C string pointer that may live in a `static` (it points at a constant).
#[cfg(all(feature = "jemalloc", target_os = "linux"))]
#[repr(transparent)]
pub struct ConfString(*const std::ffi::c_char);

// SAFETY: the pointer targets a `'static` constant byte string that is never written.
#[cfg(all(feature = "jemalloc", target_os = "linux"))]
unsafe impl Sync for ConfString {}

/// jemalloc's start-up options (its `const char *malloc_conf`), read once at its first
/// allocation.
///
/// `oversize_threshold:0`: no dedicated arena for large blocks (that arena purges a
/// freed block at once, so a step's temporaries would be faulted in again every step).
/// `dirty_decay_ms:-1,muzzy_decay_ms:-1`: freed pages are kept for reuse, never purged
/// (with the default 10 s decay jemalloc purges a share of them every step, and those
/// pages fault again), so the process holds the peak of its heap, as a caching
/// allocator does. `MALLOC_CONF` in the environment overrides any of these at start.
#[cfg(all(feature = "jemalloc", target_os = "linux"))]
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
pub static malloc_conf: ConfString =
    ConfString(c"oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1".as_ptr());

/// The name of the allocator this build uses, for diagnostics (`jemalloc` or `system`).
pub fn allocator_name() -> &'static str {
    if cfg!(feature = "jemalloc") {
        "jemalloc"
    } else {
        "system"
    }
}
