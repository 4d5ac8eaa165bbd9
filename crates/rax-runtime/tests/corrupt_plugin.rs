//! `Runtime::auto` skips a truncated plugin file (an interrupted pip install) and reports it,
//! instead of dying with SIGBUS inside dlopen. One test: it changes the process environment.
mod common;

use rax_runtime::Runtime;

#[test]
fn auto_skips_a_truncated_plugin_and_says_so() {
    let plugins = common::cpu_runtimes();
    let Some((_, best)) = plugins.first() else {
        eprintln!("no plugin installed: nothing to truncate");
        return;
    };
    let src = std::path::PathBuf::from(best.info().plugin_path.clone().unwrap());
    // The same pip layout under a fresh prefix searched first: lib/python3.X/site-packages/...
    let site = src
        .ancestors()
        .find(|a| a.ends_with("site-packages"))
        .unwrap()
        .to_path_buf();
    let rel = src.strip_prefix(&site).unwrap();
    let prefix = std::env::temp_dir().join(format!("rax_trunc_prefix_{}", std::process::id()));
    let copy = prefix.join("lib/python3.11/site-packages").join(rel);
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let bytes = std::fs::read(&src).unwrap();
    std::fs::write(&copy, &bytes[..bytes.len() / 3]).unwrap();

    std::env::remove_var("RAX_PJRT_PLUGIN");
    std::env::remove_var("RAX_BACKEND");
    let old = std::env::var("RAX_PJRT_SEARCH").unwrap_or_default();
    std::env::set_var("RAX_PJRT_SEARCH", format!("{}:{old}", prefix.display()));
    let rt = Runtime::auto().unwrap();
    let d = rt.description();
    assert!(rt.is_pjrt(), "{d}");
    assert!(d.contains(&format!("skipped {}", copy.display())), "{d}");
    assert!(d.contains("past the end") || d.contains("truncated"), "{d}");
    assert_ne!(
        rt.info().plugin_path.as_deref(),
        Some(copy.to_str().unwrap())
    );

    // Named explicitly, the same file is an error (the user asked for it), not a crash.
    std::env::set_var("RAX_PJRT_PLUGIN", &copy);
    let e = Runtime::auto().unwrap_err().to_string();
    assert!(
        e.contains("cannot be used") && e.contains("truncated"),
        "{e}"
    );
    std::env::remove_var("RAX_PJRT_PLUGIN");
    std::env::set_var("RAX_PJRT_SEARCH", old);
    let _ = std::fs::remove_dir_all(&prefix);
}
