//! CUDA plugin support: find the `nvidia-*` pip wheels' libraries next to a
//! CUDA PJRT plugin and preload them with `RTLD_GLOBAL` before
//! `GetPjrtApi`, as `jax_plugins/xla_cuda12/__init__.py` does.
//!
//! Only the discovery logic is unit-tested here (there is no GPU in CI).
use std::path::{Path, PathBuf};

use crate::discover::PluginKind;
use crate::error::{Error, Result};

/// `(nvidia package dir, library file)` in dependency order for CUDA 12.
const CUDA12_LIBS: &[(&str, &str)] = &[
    ("cuda_runtime", "libcudart.so.12"),
    ("cuda_nvrtc", "libnvrtc.so.12"),
    ("nvjitlink", "libnvJitLink.so.12"),
    ("cublas", "libcublasLt.so.12"),
    ("cublas", "libcublas.so.12"),
    ("nccl", "libnccl.so.2"),
    ("cuda_cupti", "libcupti.so.12"),
    ("cusparse", "libcusparse.so.12"),
    ("cusolver", "libcusolver.so.11"),
    ("cufft", "libcufft.so.11"),
    ("cudnn", "libcudnn.so.9"),
];

/// Same for CUDA 13 (most libraries live in the single `cu13` wheel).
const CUDA13_LIBS: &[(&str, &str)] = &[
    ("cu13", "libcudart.so.13"),
    ("cu13", "libnvrtc.so.13"),
    ("cu13", "libnvJitLink.so.13"),
    ("cu13", "libcublasLt.so.13"),
    ("cu13", "libcublas.so.13"),
    ("nccl", "libnccl.so.2"),
    ("cu13", "libcupti.so.13"),
    ("cu13", "libcusparse.so.12"),
    ("cu13", "libcusolver.so.12"),
    ("cu13", "libcufft.so.12"),
    ("cudnn", "libcudnn.so.9"),
];

fn table(kind: PluginKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        PluginKind::Cuda12 => CUDA12_LIBS,
        PluginKind::Cuda13 => CUDA13_LIBS,
        PluginKind::Cpu => &[],
    }
}

/// The `site-packages` directory of a plugin installed as
/// `<site>/jax_plugins/<pkg>/<lib>.so`.
pub fn site_packages_of_plugin(plugin: &Path) -> Option<PathBuf> {
    plugin.ancestors().nth(3).map(Path::to_path_buf)
}

/// Every `<site>/nvidia/*/lib` directory, sorted.
pub fn nvidia_lib_dirs(site_packages: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(site_packages.join("nvidia")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("lib"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The libraries to preload for `kind`, in load order, that exist under
/// `site_packages`; missing ones are skipped.
pub fn preload_plan(site_packages: &Path, kind: PluginKind) -> Vec<PathBuf> {
    let dirs = nvidia_lib_dirs(site_packages);
    table(kind)
        .iter()
        .map(|(pkg, file)| {
            site_packages
                .join("nvidia")
                .join(pkg)
                .join("lib")
                .join(file)
        })
        .filter(|p| dirs.iter().any(|d| p.starts_with(d)) && p.is_file())
        .collect()
}

/// Whether the CUDA runtime library for `kind` is installed next to the plugin.
pub fn has_cuda_runtime(site_packages: &Path, kind: PluginKind) -> bool {
    table(kind).first().is_some_and(|(pkg, file)| {
        site_packages
            .join("nvidia")
            .join(pkg)
            .join("lib")
            .join(file)
            .is_file()
    })
}

/// `dlopen`s each library of [`preload_plan`] with `RTLD_NOW | RTLD_GLOBAL`
/// and keeps it loaded; returns what was loaded.
pub fn preload(site_packages: &Path, kind: PluginKind) -> Result<Vec<PathBuf>> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    let plan = preload_plan(site_packages, kind);
    for lib in &plan {
        // SAFETY: loading NVIDIA's shared libraries runs their initializers,
        // exactly as the Python plugin loader does.
        let handle =
            unsafe { Library::open(Some(lib), RTLD_NOW | RTLD_GLOBAL) }.map_err(|source| {
                Error::Preload {
                    path: lib.clone(),
                    source,
                }
            })?;
        // Keep it loaded for the life of the process.
        std::mem::forget(handle);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::test_util::TempTree;

    #[test]
    fn finds_nvidia_dirs_and_orders_plan() {
        let t = TempTree::new("cuda");
        let site = t.path().join("lib/python3.11/site-packages");
        t.touch("lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12");
        t.touch("lib/python3.11/site-packages/nvidia/cublas/lib/libcublasLt.so.12");
        t.touch("lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12");
        t.touch("lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9");
        t.touch("lib/python3.11/site-packages/nvidia/cudnn/include/cudnn.h");
        t.touch("lib/python3.11/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so");

        let dirs = nvidia_lib_dirs(&site);
        assert_eq!(dirs.len(), 3);
        let plan = preload_plan(&site, PluginKind::Cuda12);
        let names: Vec<_> = plan
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert_eq!(
            names,
            [
                "libcudart.so.12",
                "libcublasLt.so.12",
                "libcublas.so.12",
                "libcudnn.so.9"
            ]
        );
        assert!(has_cuda_runtime(&site, PluginKind::Cuda12));
        assert!(!has_cuda_runtime(&site, PluginKind::Cuda13));
        assert!(preload_plan(&site, PluginKind::Cuda13)
            .iter()
            .all(|p| p.ends_with("libcudnn.so.9")));
        let plugin = site.join("jax_plugins/xla_cuda12/xla_cuda_plugin.so");
        assert_eq!(
            site_packages_of_plugin(&plugin).as_deref(),
            Some(site.as_path())
        );
    }

    #[test]
    fn no_nvidia_dir_means_empty_plan() {
        let t = TempTree::new("cuda-empty");
        assert!(nvidia_lib_dirs(t.path()).is_empty());
        assert!(preload_plan(t.path(), PluginKind::Cuda12).is_empty());
        assert!(preload(t.path(), PluginKind::Cuda12).is_ok_and(|v| v.is_empty()));
    }
}
