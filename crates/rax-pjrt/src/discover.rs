//! Finding PJRT plugins on this machine without running Python.
//!
//! Order: the explicit `RAX_PJRT_PLUGIN` path first, then plugins that pip
//! installed into Python environments found under common prefixes
//! (`$VIRTUAL_ENV`, `$CONDA_PREFIX`, `~/.pyenv/versions/*`, `~/.local`,
//! `/usr`, `/usr/local`, conda dirs), ranked GPU (CUDA 13, 12) > CPU
//! (`lammps_jax_pjrt_cpu`, API 0.115) > CPU (`xla_cpu_pjrt`, API 0.81). Every inspected path is
//! recorded with the reason it was accepted or rejected. Nothing is cached.
use std::fmt;
use std::path::{Path, PathBuf};

use crate::cuda;

/// The environment variable naming an explicit plugin path.
pub const PLUGIN_ENV: &str = "RAX_PJRT_PLUGIN";

/// What a plugin runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// Host CPU.
    Cpu,
    /// NVIDIA GPU, CUDA 12 wheels.
    Cuda12,
    /// NVIDIA GPU, CUDA 13 wheels.
    Cuda13,
}

impl PluginKind {
    /// Whether this is a GPU plugin.
    pub fn is_gpu(self) -> bool {
        !matches!(self, PluginKind::Cpu)
    }

    /// Guesses the kind from a plugin path.
    pub fn from_path(path: &Path) -> PluginKind {
        let s = path.to_string_lossy();
        if s.contains("cuda13") {
            PluginKind::Cuda13
        } else if s.contains("cuda") {
            PluginKind::Cuda12
        } else {
            PluginKind::Cpu
        }
    }
}

/// Where a candidate came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateSource {
    /// The `RAX_PJRT_PLUGIN` environment variable.
    EnvVar,
    /// A pip install in this `site-packages`/`dist-packages` directory.
    PythonEnv {
        /// The packages directory.
        site_packages: PathBuf,
    },
}

/// A plugin that may be loaded, best first in [`Discovery::candidates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCandidate {
    /// Path of the shared library.
    pub path: PathBuf,
    /// What it runs on.
    pub kind: PluginKind,
    /// How it was found.
    pub source: CandidateSource,
}

/// Why a path was accepted or rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The inspected path.
    pub path: PathBuf,
    /// Whether it became a candidate.
    pub accepted: bool,
    /// Human-readable reason.
    pub reason: String,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.accepted {
            "accepted"
        } else {
            "rejected"
        };
        write!(f, "{verdict}: {} ({})", self.path.display(), self.reason)
    }
}

/// The result of [`discover`].
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Usable plugins, best first.
    pub candidates: Vec<PluginCandidate>,
    /// Every inspected path, in inspection order.
    pub decisions: Vec<Decision>,
}

impl Discovery {
    /// The preferred candidate.
    pub fn best(&self) -> Option<&PluginCandidate> {
        self.candidates.first()
    }

    /// CPU candidates, best first.
    pub fn cpu(&self) -> impl Iterator<Item = &PluginCandidate> {
        self.candidates.iter().filter(|c| c.kind == PluginKind::Cpu)
    }

    /// One line per decision, for "why was this backend chosen" reports.
    pub fn report(&self) -> String {
        if self.decisions.is_empty() {
            return "no PJRT plugin paths inspected".into();
        }
        let lines: Vec<String> = self.decisions.iter().map(ToString::to_string).collect();
        lines.join("\n")
    }
}

/// Inputs to discovery, separated from the process so it can be tested.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryEnv {
    /// Value of `RAX_PJRT_PLUGIN`.
    pub plugin_override: Option<PathBuf>,
    /// Python prefixes whose `lib/python3*/{site,dist}-packages` are searched,
    /// in order.
    pub prefixes: Vec<PathBuf>,
    /// Whether an NVIDIA GPU is visible.
    pub gpu_present: bool,
}

impl DiscoveryEnv {
    /// Reads the real environment and filesystem.
    pub fn from_process() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let mut prefixes = Vec::new();
        prefixes.extend(var("VIRTUAL_ENV"));
        prefixes.extend(var("CONDA_PREFIX"));
        let home = var("HOME");
        let pyenv_root = var("PYENV_ROOT").or_else(|| home.as_ref().map(|h| h.join(".pyenv")));
        if let Some(root) = pyenv_root {
            prefixes.extend(sorted_children(&root.join("versions")));
        }
        if let Some(h) = &home {
            prefixes.push(h.join(".local"));
            for conda in ["miniconda3", "anaconda3", "miniforge3", "mambaforge"] {
                prefixes.push(h.join(conda));
            }
        }
        for p in ["/usr/local", "/usr", "/opt/conda"] {
            prefixes.push(PathBuf::from(p));
        }
        DiscoveryEnv {
            plugin_override: var(PLUGIN_ENV),
            prefixes,
            gpu_present: Path::new("/dev/nvidiactl").exists()
                || Path::new("/proc/driver/nvidia/version").exists(),
        }
    }
}

/// Known pip layouts: (path inside site-packages, kind, rank; lower = better).
const KNOWN: &[(&str, PluginKind, u8)] = &[
    (
        "jax_plugins/xla_cuda13/xla_cuda_plugin.so",
        PluginKind::Cuda13,
        0,
    ),
    (
        "jax_plugins/xla_cuda12/xla_cuda_plugin.so",
        PluginKind::Cuda12,
        1,
    ),
    // The newer XLA first. Measured on the reference LM step (bench_lm, 2-core AVX-512/AMX
    // machine): bf16 step 0.155 s on API 0.115 against 0.195 s on API 0.81 (its bf16 GEMMs are
    // not offloaded), f32 0.165 s against 0.171 s; and API 0.81 computes wrong results when f32
    // parameters are aliased, so rax cannot update them in place there.
    (
        "lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so",
        PluginKind::Cpu,
        2,
    ),
    (
        "xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so",
        PluginKind::Cpu,
        3,
    ),
];

/// Discovers plugins using the real environment.
pub fn discover() -> Discovery {
    discover_with(&DiscoveryEnv::from_process())
}

/// Discovers plugins using `env`.
pub fn discover_with(env: &DiscoveryEnv) -> Discovery {
    let mut out = Discovery::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    if let Some(path) = &env.plugin_override {
        if path.is_file() {
            seen.push(canonical(path));
            out.candidates.push(PluginCandidate {
                path: path.clone(),
                kind: PluginKind::from_path(path),
                source: CandidateSource::EnvVar,
            });
            out.decisions
                .push(accept(path, format!("explicit {PLUGIN_ENV}")));
        } else {
            out.decisions.push(reject(
                path,
                format!("{PLUGIN_ENV} points to a missing file"),
            ));
        }
    }
    let mut ranked: Vec<(u8, PluginCandidate)> = Vec::new();
    for site in python_package_dirs(&env.prefixes) {
        for &(rel, kind, rank) in KNOWN {
            let path = site.join(rel);
            if !path.is_file() {
                continue;
            }
            let key = canonical(&path);
            if seen.contains(&key) {
                out.decisions
                    .push(reject(&path, "duplicate of an earlier candidate".into()));
                continue;
            }
            seen.push(key);
            if kind.is_gpu() {
                if !env.gpu_present {
                    out.decisions
                        .push(reject(&path, "no NVIDIA GPU visible".into()));
                    continue;
                }
                if !cuda::has_cuda_runtime(&site, kind) {
                    out.decisions.push(reject(
                        &path,
                        "nvidia CUDA runtime wheel not installed".into(),
                    ));
                    continue;
                }
            }
            out.decisions
                .push(accept(&path, format!("pip-installed {kind:?} plugin")));
            ranked.push((
                rank,
                PluginCandidate {
                    path,
                    kind,
                    source: CandidateSource::PythonEnv {
                        site_packages: site.clone(),
                    },
                },
            ));
        }
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    out.candidates.extend(ranked.into_iter().map(|(_, c)| c));
    out
}

/// `lib/python3*/{site,dist}-packages` under each prefix (deduplicated).
pub fn python_package_dirs(prefixes: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut keys: Vec<PathBuf> = Vec::new();
    for prefix in prefixes {
        for lib in ["lib", "lib64"] {
            for py in sorted_children(&prefix.join(lib)) {
                let is_py3 = py
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"));
                if !is_py3 {
                    continue;
                }
                for pkgs in ["site-packages", "dist-packages"] {
                    let dir = py.join(pkgs);
                    if dir.is_dir() {
                        let key = canonical(&dir);
                        if !keys.contains(&key) {
                            keys.push(key);
                            out.push(dir);
                        }
                    }
                }
            }
        }
    }
    out
}

fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    v.sort();
    v
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn accept(path: &Path, reason: String) -> Decision {
    Decision {
        path: path.to_path_buf(),
        accepted: true,
        reason,
    }
}

fn reject(path: &Path, reason: String) -> Decision {
    Decision {
        path: path.to_path_buf(),
        accepted: false,
        reason,
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A scratch directory removed on drop.
    pub(crate) struct TempTree(PathBuf);

    impl TempTree {
        pub(crate) fn new(tag: &str) -> Self {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("rax-pjrt-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempTree(dir)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }

        pub(crate) fn touch(&self, rel: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
            p
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::TempTree;
    use super::*;

    #[test]
    fn ranks_gpu_then_cpu_and_explains() {
        let t = TempTree::new("disc");
        let venv = t.path().join("venv");
        let sys = t.path().join("usr");
        let lammps = t
            .touch("usr/lib/python3.10/dist-packages/lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so");
        let xla =
            t.touch("venv/lib/python3.11/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so");
        let cuda =
            t.touch("venv/lib/python3.11/site-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so");
        t.touch("venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12");
        t.touch("venv/lib/python2.7/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so");

        let mut env = DiscoveryEnv {
            plugin_override: None,
            prefixes: vec![sys.clone(), venv.clone()],
            gpu_present: true,
        };
        let d = discover_with(&env);
        let paths: Vec<_> = d.candidates.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, vec![cuda.clone(), lammps.clone(), xla.clone()]);
        assert_eq!(d.best().map(|c| c.kind), Some(PluginKind::Cuda12));
        assert_eq!(d.cpu().count(), 2);

        env.gpu_present = false;
        let d = discover_with(&env);
        assert_eq!(d.best().map(|c| c.path.clone()), Some(lammps.clone()));
        assert!(d
            .decisions
            .iter()
            .any(|x| !x.accepted && x.path == cuda && x.reason.contains("GPU")));
        assert!(d.report().contains("rejected"));
    }

    #[test]
    fn env_var_comes_first_or_is_explained() {
        let t = TempTree::new("disc-env");
        let xla =
            t.touch("p/lib/python3.12/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so");
        let mine = t.touch("custom/libmy_pjrt.so");
        let env = DiscoveryEnv {
            plugin_override: Some(mine.clone()),
            prefixes: vec![t.path().join("p")],
            gpu_present: false,
        };
        let d = discover_with(&env);
        assert_eq!(d.candidates[0].path, mine);
        assert_eq!(d.candidates[0].source, CandidateSource::EnvVar);
        assert_eq!(d.candidates[1].path, xla);

        let env = DiscoveryEnv {
            plugin_override: Some(t.path().join("missing.so")),
            ..env
        };
        let d = discover_with(&env);
        assert_eq!(d.candidates.len(), 1);
        assert!(!d.decisions[0].accepted);
    }

    #[test]
    fn gpu_without_nvidia_wheels_is_rejected() {
        let t = TempTree::new("disc-cuda");
        let cuda =
            t.touch("p/lib/python3.11/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so");
        let env = DiscoveryEnv {
            plugin_override: None,
            prefixes: vec![t.path().join("p")],
            gpu_present: true,
        };
        let d = discover_with(&env);
        assert!(d.candidates.is_empty());
        assert!(d
            .decisions
            .iter()
            .any(|x| x.path == cuda && x.reason.contains("runtime")));
        assert_eq!(PluginKind::from_path(&cuda), PluginKind::Cuda13);
    }
}
