//! A persistent cache of compiled programs, on disk, for the PJRT backend.
//!
//! XLA spends seconds compiling a training step (the Megalodon benchmark's: about 2.4 s on the
//! CPU plugin, nearly all of it XLA's code generation, one kernel per fusion), and every new
//! process pays it again: `rax train` after a resume, each `rax eval` or `rax generate`. With a
//! cache directory set, the first compile of a program stores the plugin's serialization of the
//! executable (`PJRT_Executable_Serialize`); a later process compiling the same program loads
//! it (`PJRT_Executable_DeserializeAndLoad`) instead of compiling.
//!
//! Turned on by `RAX_COMPILATION_CACHE_DIR=DIR` (read when a [`Pjrt`](crate::Pjrt) backend is
//! created) or [`Pjrt::with_compile_cache`](crate::Pjrt::with_compile_cache). Off by default,
//! as in JAX.
//!
//! The key is a SHA-256 over everything the compiled code depends on: the StableHLO text, the
//! encoded compile options, the plugin (path, size, modification time, PJRT API version,
//! platform name and version), `XLA_FLAGS` as the plugin read them, the host CPU (model and
//! feature flags: a CPU executable is machine code for this host), and rax's version. An entry
//! is `RAXEXEC1`, the SHA-256 of the payload, then the payload; it is written to a temporary
//! file and renamed, so concurrent writers and crashed processes never leave a torn entry. An
//! entry whose digest does not match, or that the plugin refuses to load, is removed and the
//! program compiled afresh. Failing to write an entry never fails the compile.
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that turns the cache on for new PJRT backends.
pub const CACHE_DIR_ENV: &str = "RAX_COMPILATION_CACHE_DIR";

const MAGIC: &[u8; 8] = b"RAXEXEC1";
const DIGEST: usize = 32;

/// Hits, misses and failures of a [`CompileCache`] since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Programs loaded from the cache.
    pub hits: u64,
    /// Programs compiled (no usable entry) and stored.
    pub misses: u64,
    /// Entries found unusable (digest mismatch, refused by the plugin) and removed.
    pub rejected: u64,
    /// Entries that could not be written (the compile still succeeded).
    pub write_errors: u64,
}

/// An on-disk cache of serialized executables (see the module documentation).
#[derive(Debug)]
pub struct CompileCache {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    write_errors: AtomicU64,
}

/// What a compiled program depends on besides its text: one plugin build on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileTarget {
    /// The plugin's shared library, its size and modification time.
    pub plugin: String,
    /// PJRT C API version, platform name and platform version.
    pub platform: String,
    /// `XLA_FLAGS` as the plugin read them.
    pub xla_flags: String,
    /// The host CPU's model and feature flags.
    pub host: String,
}

impl CompileTarget {
    /// The target for a plugin at `plugin_path` reporting `platform` (API version, name,
    /// version), on this host, with the current `XLA_FLAGS`.
    pub fn current(plugin_path: &str, platform: &str) -> CompileTarget {
        let meta = fs::metadata(plugin_path).ok();
        let size = meta.as_ref().map_or(0, |m| m.len());
        let mtime = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        CompileTarget {
            plugin: format!("{plugin_path} {size} {mtime}"),
            platform: platform.to_string(),
            xla_flags: std::env::var("XLA_FLAGS").unwrap_or_default(),
            host: host_cpu(),
        }
    }
}

/// The CPU model and feature flags of the first processor in `/proc/cpuinfo` (Linux), else
/// the architecture and the features the standard library detects.
fn host_cpu() -> String {
    let mut out = String::from(std::env::consts::ARCH);
    if let Ok(info) = fs::read_to_string("/proc/cpuinfo") {
        for key in ["vendor_id", "model name", "flags", "Features", "CPU part"] {
            if let Some(line) = info
                .lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            {
                out.push('\n');
                out.push_str(line.trim());
            }
        }
    }
    out
}

impl CompileCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> CompileCache {
        CompileCache {
            dir: dir.into(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        }
    }

    /// The cache named by `RAX_COMPILATION_CACHE_DIR`, if that is set and not empty.
    pub fn from_env() -> Option<CompileCache> {
        std::env::var_os(CACHE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(CompileCache::new)
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counts since the cache was opened.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }

    /// The entry key (64 hex digits) of `program` compiled with `options` for `target`.
    pub fn key(&self, program: &str, options: &[u8], target: &CompileTarget) -> String {
        let mut h = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION").as_bytes(),
            target.plugin.as_bytes(),
            target.platform.as_bytes(),
            target.xla_flags.as_bytes(),
            target.host.as_bytes(),
            options,
            program.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.raxexe"))
    }

    /// The stored payload for `key`, if there is an intact entry. A damaged entry is removed
    /// (and counted as rejected).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.path(key);
        let bytes = fs::read(&path).ok()?;
        let intact = bytes.len() > MAGIC.len() + DIGEST
            && &bytes[..MAGIC.len()] == MAGIC
            && Sha256::digest(&bytes[MAGIC.len() + DIGEST..]).as_slice()
                == &bytes[MAGIC.len()..MAGIC.len() + DIGEST];
        if !intact {
            self.reject(key);
            return None;
        }
        Some(bytes[MAGIC.len() + DIGEST..].to_vec())
    }

    /// Removes the entry for `key` (damaged, or refused by the plugin).
    pub fn reject(&self, key: &str) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let _ = fs::remove_file(self.path(key));
    }

    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores `payload` under `key`: written to a temporary file in the directory, then
    /// renamed over the entry. An error is counted, reported once on stderr, and returned.
    pub fn put(&self, key: &str, payload: &[u8]) -> std::io::Result<()> {
        let r = self.write(key, payload);
        if let Err(e) = &r {
            if self.write_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!(
                    "rax: compilation cache: cannot write to {}: {e} (programs still compile)",
                    self.dir.display()
                );
            }
        }
        r
    }

    fn write(&self, key: &str, payload: &[u8]) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".{key}.{}.{}.tmp",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&Sha256::digest(payload))?;
            f.write_all(payload)?;
            f.sync_all()
        })();
        let done = written.and_then(|()| fs::rename(&tmp, self.path(key)));
        if done.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        done
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> CompileTarget {
        CompileTarget {
            plugin: "p.so 1 2".into(),
            platform: "0.115 cpu x".into(),
            xla_flags: String::new(),
            host: "h".into(),
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rax-cc-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn key_depends_on_every_part() {
        let c = CompileCache::new(tmpdir("key"));
        let t = target();
        let k = c.key("prog", b"opts", &t);
        assert_eq!(k.len(), 64);
        assert_eq!(k, c.key("prog", b"opts", &t), "deterministic");
        assert_ne!(k, c.key("prog2", b"opts", &t));
        assert_ne!(k, c.key("prog", b"opts2", &t));
        for edit in 0..4 {
            let mut t2 = t.clone();
            match edit {
                0 => t2.plugin.push('x'),
                1 => t2.platform.push('x'),
                2 => t2.xla_flags.push('x'),
                _ => t2.host.push('x'),
            }
            assert_ne!(k, c.key("prog", b"opts", &t2), "part {edit}");
        }
        // Length-prefixed parts: moving a byte between neighbours changes the key.
        assert_ne!(c.key("ab", b"c", &t), c.key("a", b"bc", &t));
    }

    #[test]
    fn round_trip_and_damaged_entries() {
        let dir = tmpdir("rt");
        let c = CompileCache::new(&dir);
        let k = c.key("prog", b"", &target());
        assert_eq!(c.get(&k), None, "empty cache");
        c.put(&k, b"payload bytes").unwrap();
        assert_eq!(c.get(&k).as_deref(), Some(&b"payload bytes"[..]));
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Flip one payload byte: the digest no longer matches, the entry is dropped.
        let path = c.path(&k);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(c.get(&k), None);
        assert!(!path.exists(), "damaged entry removed");
        assert_eq!(c.stats().rejected, 1);
        // A truncated entry too.
        c.put(&k, b"payload bytes").unwrap();
        fs::write(&path, &MAGIC[..]).unwrap();
        assert_eq!(c.get(&k), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn unwritable_directory_is_an_error_not_a_panic() {
        let dir = tmpdir("ro");
        fs::write(&dir, b"a file, not a directory").unwrap();
        let c = CompileCache::new(dir.join("sub"));
        assert!(c.put("k", b"x").is_err());
        assert_eq!(c.stats().write_errors, 1);
        let _ = fs::remove_file(&dir);
    }
}
