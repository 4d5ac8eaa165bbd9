//! `Runtime::auto` under different environments (one test: the environment is process-wide).
mod common;

use rax_runtime::Runtime;

#[test]
fn auto_order_and_reports() {
    // Safe: this test binary has a single test, so nothing else reads the environment.
    std::env::remove_var("RAX_PJRT_PLUGIN");
    std::env::remove_var("RAX_BACKEND");
    let plugins = common::cpu_runtimes();
    let rt = Runtime::auto().unwrap();
    eprintln!("auto: {}", rt.description());
    if plugins.is_empty() {
        assert_eq!(rt.info().name, "interpreter");
        assert!(rt.description().contains("no usable PJRT plugin"));
    } else {
        assert!(rt.is_pjrt(), "{}", rt.description());
        assert!(
            rt.description().contains("pip-installed"),
            "{}",
            rt.description()
        );
        // The best CPU plugin is lammps-jax-pjrt-cpu (API 0.115) when both are there.
        assert_eq!(rt.info().plugin_path, plugins[0].1.info().plugin_path);
    }

    std::env::set_var("RAX_BACKEND", "interpreter");
    let rt = Runtime::auto().unwrap();
    assert_eq!(rt.info().name, "interpreter");
    assert!(rt.description().contains("RAX_BACKEND=interpreter"));
    std::env::set_var("RAX_BACKEND", "tpu");
    assert!(Runtime::auto().is_err());
    std::env::remove_var("RAX_BACKEND");

    // An explicit plugin that does not exist is an error, not a silent fallback.
    std::env::set_var("RAX_PJRT_PLUGIN", "/nonexistent/plugin.so");
    let e = Runtime::auto().unwrap_err().to_string();
    assert!(
        e.contains("RAX_PJRT_PLUGIN=/nonexistent/plugin.so cannot be used"),
        "{e}"
    );
    // An explicit plugin that exists is used first.
    if let Some((_, last)) = plugins.last() {
        let path = last.info().plugin_path.clone().unwrap_or_default();
        std::env::set_var("RAX_PJRT_PLUGIN", &path);
        let rt = Runtime::auto().unwrap();
        assert_eq!(rt.info().plugin_path.as_deref(), Some(path.as_str()));
        assert!(rt.description().contains("explicit plugin RAX_PJRT_PLUGIN"));
    }
    std::env::remove_var("RAX_PJRT_PLUGIN");
}
