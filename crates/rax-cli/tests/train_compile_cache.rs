//! `rax train` with `RAX_COMPILATION_CACHE_DIR`: the second run loads the training step the
//! first compiled, says so, and logs bitwise the same losses.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rax_cc_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn train(out: &Path, cache: &Path) -> (String, String) {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs/smoke.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_rax"))
        .args(["train", "--config", cfg.to_str().unwrap(), "--out"])
        .arg(out)
        .args(["--steps", "4", "--json"])
        .env("RAX_COMPILATION_CACHE_DIR", cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    (stderr, metrics)
}

/// The `"loss":...` fields of a metrics file, exactly as written.
fn losses(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .map(|l| {
            l.split("\"loss\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn second_run_loads_the_step_from_the_cache() {
    let (cache, a, b) = (tmp("cache"), tmp("a"), tmp("b"));
    let (err1, m1) = train(&a, &cache);
    if !err1.contains("on pjrt") {
        // No plugin on this machine (not CI): the interpreter has nothing to cache.
        assert!(!rax_runtime::test_backends::ci(), "{err1}");
        return;
    }
    assert!(err1.contains("training step compiled in"), "{err1}");
    assert!(
        !err1.contains("loaded from the compilation cache"),
        "{err1}"
    );
    assert!(
        std::fs::read_dir(&cache).unwrap().count() >= 1,
        "nothing cached"
    );
    let (err2, m2) = train(&b, &cache);
    assert!(
        err2.contains("(loaded from the compilation cache)"),
        "{err2}"
    );
    assert_eq!(losses(&m1).len(), 4);
    assert_eq!(
        losses(&m1),
        losses(&m2),
        "the cached program computes the same losses"
    );
    for d in [cache, a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}
