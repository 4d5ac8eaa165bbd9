//! The process allocator (`src/allocator.rs`): with the `jemalloc` feature, `malloc` as a
//! dynamically loaded plugin resolves it is jemalloc's, defined in the executable, and jemalloc
//! runs with the settings rax gives it (large blocks in the ordinary arenas, freed pages kept).
#![cfg(all(feature = "jemalloc", target_os = "linux"))]

use std::ffi::{c_char, c_int, c_void, CStr};

use libloading::os::unix::Library;

// The global allocator comes with the crate; a binary that uses rax-pjrt links it. This test
// uses nothing else from it, so it names the crate to link it.
extern crate rax_pjrt;

#[repr(C)]
struct DlInfo {
    dli_fname: *const c_char,
    dli_fbase: *mut c_void,
    dli_sname: *const c_char,
    dli_saddr: *mut c_void,
}

extern "C" {
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    // jemalloc's control interface, linked statically with it (glibc has no such function).
    fn mallctl(
        name: *const c_char,
        old: *mut c_void,
        old_len: *mut usize,
        new: *mut c_void,
        new_len: usize,
    ) -> c_int;
}

/// The object that defines the symbol `name` as the global lookup scope finds it (the scope a
/// plugin opened with `dlopen` resolves its undefined symbols in).
fn defining_object(lib: &Library, name: &str) -> (String, *const c_void) {
    let cname = format!("{name}\0");
    // SAFETY: only the symbol's address is read, never called through this type.
    let sym = unsafe { lib.get::<*const c_void>(cname.as_bytes()) }
        .unwrap_or_else(|e| panic!("{name} not found in the global scope: {e}"));
    let addr = *sym;
    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only inspects the loader's tables for `addr`.
    assert_ne!(unsafe { dladdr(addr, &mut info) }, 0, "dladdr({name})");
    assert!(!info.dli_fname.is_null());
    // SAFETY: dladdr returned a NUL-terminated path owned by the loader.
    let file = unsafe { CStr::from_ptr(info.dli_fname) };
    (file.to_string_lossy().into_owned(), addr)
}

#[test]
fn plugins_resolve_malloc_to_jemalloc_in_the_executable() {
    let this = Library::this();
    let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
    for name in ["malloc", "free", "posix_memalign", "calloc", "realloc"] {
        let (file, _) = defining_object(&this, name);
        let file = std::path::Path::new(&file)
            .canonicalize()
            .unwrap_or_else(|_| file.clone().into());
        assert_eq!(
            file,
            exe,
            "`{name}` resolves to {}, not the executable",
            file.display()
        );
    }
    // The executable's allocator is jemalloc: its control interface answers.
    let version = read_opt::<usize>("version") as *const c_char;
    // SAFETY: jemalloc's `version` is a pointer to a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(version) }.to_string_lossy();
    assert!(version.starts_with("5."), "jemalloc version {version}");
}

fn read_opt<T: Default + Copy>(opt: &str) -> T {
    let name = format!("{opt}\0");
    let mut value = T::default();
    let mut len = std::mem::size_of::<T>();
    // SAFETY: `value` is a writable buffer of `len` bytes, the size jemalloc documents for
    // `opt`; nothing is written (`new` is null).
    let rc = unsafe {
        mallctl(
            name.as_ptr().cast(),
            (&mut value as *mut T).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    assert_eq!(rc, 0, "mallctl({opt})");
    value
}

#[test]
fn jemalloc_runs_with_rax_settings() {
    if std::env::var_os("MALLOC_CONF").is_some() {
        eprintln!("MALLOC_CONF is set: it overrides rax's settings by design; not checked");
        return;
    }
    assert_eq!(read_opt::<usize>("opt.oversize_threshold"), 0);
    assert_eq!(read_opt::<isize>("opt.dirty_decay_ms"), -1);
    assert_eq!(read_opt::<isize>("opt.muzzy_decay_ms"), -1);
}
