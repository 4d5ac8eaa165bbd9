//! Runtime reliability (docs/reliability.md), on the interpreter and both CPU plugins: a
//! program whose values cannot exist is an error before the plugin is called (no C++ exception,
//! no abort); a jitted function that calls itself is an error, not a stack overflow; a
//! truncated or non-PJRT plugin file given explicitly is an error, not a SIGBUS.
mod common;

use rax_core::{DType, Result, Tensor};
use rax_runtime::Runtime;
use std::cell::RefCell;
use std::rc::Rc;

#[test]
fn impossible_sizes_under_jit_are_errors_on_every_backend() {
    for (name, rt) in common::all_runtimes() {
        let x = Tensor::from_vec([1], vec![1.0f32]).unwrap();
        // 2^80 elements: refused at trace time.
        let f = rt.jit(|x: &Tensor| Tensor::iota(&[1 << 40, 1 << 40], 0, DType::F32).sum_all() + x);
        let e = f.call(&x).unwrap_err().to_string();
        assert!(e.contains("iota") && e.contains("2^63"), "{name}: {e}");
        // 2^40 elements (4 TiB) as a result: fits i64 but no memory; refused before compiling.
        let f = rt.jit(|x: &Tensor| Tensor::iota(&[1 << 20, 1 << 20], 0, DType::F32) + x);
        let e = f.call(&x).unwrap_err().to_string();
        assert!(e.contains("4398046511104 bytes"), "{name}: {e}");
    }
}

type Slot = Rc<RefCell<Option<Rc<dyn Fn(&Tensor) -> Result<Tensor>>>>>;

#[test]
fn a_jitted_function_calling_itself_is_an_error() {
    for (name, rt) in common::all_runtimes() {
        let slot: Slot = Rc::new(RefCell::new(None));
        let s2 = slot.clone();
        let j = Rc::new(rt.jit(move |x: &Tensor| {
            let f = s2.borrow().clone().expect("slot set");
            Ok(&f(x)? + 1.0)
        }));
        let j2 = j.clone();
        *slot.borrow_mut() = Some(Rc::new(move |x: &Tensor| j2.call(x)));
        let x = Tensor::from_vec([2], vec![1.0f32, 2.0]).unwrap();
        let e = j.call(&x).unwrap_err().to_string();
        assert!(e.contains("called itself"), "{name}: {e}");
        // And again (the guard is reset after the error).
        let e = j.call(&x).unwrap_err().to_string();
        assert!(e.contains("called itself"), "{name}: {e}");
        *slot.borrow_mut() = None; // break the cycle
    }
}

#[test]
fn a_truncated_or_foreign_plugin_is_an_error_not_a_crash() {
    let plugins = common::cpu_runtimes();
    let dir = std::env::temp_dir().join(format!("rax_bad_plugin_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, rt) in &plugins {
        let src = rt.info().plugin_path.clone().unwrap();
        let bytes = std::fs::read(&src).unwrap();
        for frac in [2usize, 10, 1000] {
            let p = dir.join(format!(
                "cut_{frac}_{}",
                std::path::Path::new(&src)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
            ));
            std::fs::write(&p, &bytes[..bytes.len() / frac]).unwrap();
            let e = Runtime::pjrt(&p).unwrap_err().to_string();
            assert!(
                e.contains("past the end") || e.contains("truncated"),
                "{name} 1/{frac}: {e}"
            );
        }
    }
    // A complete ELF shared library that is not a PJRT plugin.
    for lib in [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ] {
        if std::path::Path::new(lib).exists() {
            let e = Runtime::pjrt(lib).unwrap_err().to_string();
            assert!(e.contains("GetPjrtApi"), "{e}");
            break;
        }
    }
    let p = dir.join("empty.so");
    std::fs::write(&p, b"").unwrap();
    let e = Runtime::pjrt(&p).unwrap_err().to_string();
    assert!(e.contains("too short"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
