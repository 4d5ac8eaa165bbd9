//! Helpers shared by the `rax` program's end-to-end tests: running the built binary, the
//! `--backend` values to run on (the interpreter and each CPU plugin, both required under CI),
//! scratch paths.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch path `name` under this test binary's directory `group` of the target tmp dir.
pub fn tmp(group: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(group);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `--backend` values: the interpreter and each discovered CPU plugin. Fewer than both plugins
/// fails under CI and warns elsewhere.
pub fn plugin_backends() -> Vec<String> {
    let mut v = vec!["interpreter".to_string()];
    let found = rax_runtime::discover_plugins();
    v.extend(found.cpu().map(|c| c.path.display().to_string()));
    if v.len() < 3 {
        let msg = format!(
            "expected both CPU plugins, found {}: run `bash scripts/test.sh`.\n{}",
            v.len() - 1,
            found.report()
        );
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "{msg}");
        eprintln!("WARNING (not CI, continuing): {msg}");
    }
    v
}

/// Runs the built `rax` binary.
pub fn rax(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rax"))
        .args(args)
        .output()
        .expect("run rax")
}

/// Runs `rax args`, which must succeed, and returns its stdout.
pub fn succeeds(args: &[&str]) -> String {
    let out = rax(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rax {args:?} failed: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
