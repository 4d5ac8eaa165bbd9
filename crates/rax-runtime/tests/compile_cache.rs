//! The persistent compilation cache on both CPU plugins: a second backend (a fresh client, as
//! in a new process) loads the program the first one compiled and gives bitwise the same
//! results, donation included; damaged or unloadable entries are recompiled, never fatal.
mod common;

use common::*;
use rax_core::Tensor;
use rax_runtime::{discover_plugins, is_donated, CacheStats, Pjrt, Runtime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn cache_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rax-cc-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A runtime on `plugin` caching in `dir`, and the backend to read its counters from.
fn cached(plugin: &Path, dir: &Path) -> (Runtime, Arc<Pjrt>) {
    let p = Arc::new(Pjrt::load(plugin).unwrap().with_compile_cache(dir));
    (Runtime::from_backend(p.clone(), "test"), p)
}

/// The one entry in `dir`.
fn only_entry(dir: &Path) -> PathBuf {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{}: {entries:?}", dir.display());
    entries.remove(0)
}

/// Runs the steps on a fresh cached backend, checks they give `plain`'s bits, and returns the
/// cache's counters.
fn rerun(plugin: &Path, dir: &Path, plain: &(Vec<f32>, Vec<f32>), label: &str) -> CacheStats {
    let (rt, p) = cached(plugin, dir);
    assert_eq!(&run_steps(&rt), plain, "{label}");
    p.compile_cache().unwrap().stats()
}

/// A small training-like step: params donated and updated, plus a loss.
fn run_steps(rt: &Runtime) -> (Vec<f32>, Vec<f32>) {
    let step = rt
        .jit(|(w, x): &(Tensor, Tensor)| {
            let y = x.matmul(w);
            let loss = (&y * &y).mean(&[0, 1]);
            (w * 0.9 + &y.sum(&[0]) * 0.01, loss)
        })
        .donate_args(&[0]);
    let x = Tensor::from_vec(vec![3, 4], (0..12).map(|i| i as f32 * 0.25 - 1.0).collect()).unwrap();
    let mut w = rt
        .put(
            &Tensor::from_vec(vec![4, 4], (0..16).map(|i| (i as f32).sin()).collect())
                .unwrap()
                .to_literal()
                .unwrap(),
        )
        .unwrap();
    let mut losses = Vec::new();
    for _ in 0..3 {
        let old = w.clone();
        let (nw, loss) = step.call(&(w, x.clone())).unwrap();
        assert!(
            is_donated(old.array().unwrap()),
            "the donated parameter was consumed"
        );
        losses.push(loss.to_vec::<f32>().unwrap()[0]);
        w = nw;
    }
    assert_eq!(step.compile_count(), 1);
    (w.to_vec::<f32>().unwrap(), losses)
}

#[test]
fn second_backend_loads_what_the_first_compiled() {
    let plugins = discover_plugins();
    let cpu: Vec<_> = plugins.cpu().collect();
    // Under CI both CPU plugins (API 0.81 and 0.115) must be there, as for every plugin test.
    assert!(
        !ci() || cpu.len() >= 2,
        "CI needs both CPU plugins, found {}",
        cpu.len()
    );
    if cpu.is_empty() {
        eprintln!("WARNING (not CI): no CPU plugin, nothing to cache");
        return;
    }
    for c in cpu {
        let label = c.path.display().to_string();
        let dir = cache_dir(&format!(
            "{}",
            c.path.file_stem().unwrap().to_string_lossy()
        ));
        let plain = run_steps(&Runtime::pjrt(&c.path).unwrap());

        // The cache on changes nothing; the first backend compiles and writes one entry.
        let s1 = rerun(&c.path, &dir, &plain, &label);
        assert_eq!(
            (s1.hits, s1.misses, s1.rejected),
            (0, 1, 0),
            "{label}: {s1:?}"
        );
        let entry = only_entry(&dir);

        // A second backend loads it, and the loaded program computes the same bits.
        let s2 = rerun(&c.path, &dir, &plain, &label);
        assert_eq!((s2.hits, s2.misses), (1, 0), "{label}: {s2:?}");

        // Each unusable entry below is rejected (removed), the step compiled and stored again.
        let recompiled = CacheStats {
            hits: 0,
            misses: 1,
            rejected: 1,
            write_errors: 0,
        };
        // An entry with an intact digest whose payload the plugin refuses.
        let key = entry.file_stem().unwrap().to_string_lossy().into_owned();
        rax_runtime::CompileCache::new(&dir)
            .put(&key, b"not an executable")
            .unwrap();
        assert_eq!(rerun(&c.path, &dir, &plain, &label), recompiled, "{label}");

        // A torn file: rejected by its digest.
        std::fs::write(&entry, b"RAXEXEC1 torn").unwrap();
        assert_eq!(rerun(&c.path, &dir, &plain, &label), recompiled, "{label}");

        // Another program's intact entry under this program's key (it loads, but has one
        // output where the step has two): rejected, the step compiled afresh.
        let other = cache_dir(&format!("{label}-other").replace('/', "_"));
        let (rt5, _) = cached(&c.path, &other);
        let one = rt5.jit(|(w, x): &(Tensor, Tensor)| x.matmul(w).sum(&[0, 1]));
        let w0 = Tensor::from_vec(vec![4, 4], vec![0.5f32; 16]).unwrap();
        let x0 = Tensor::from_vec(vec![3, 4], vec![1.0f32; 12]).unwrap();
        one.call(&(w0, x0)).unwrap();
        std::fs::copy(only_entry(&other), &entry).unwrap();
        assert_eq!(rerun(&c.path, &dir, &plain, &label), recompiled, "{label}");
        let _ = std::fs::remove_dir_all(&other);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
