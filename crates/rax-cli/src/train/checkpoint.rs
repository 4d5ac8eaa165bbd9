//! Training checkpoints: `DIR/checkpoints/step_NNNNNNNN/` holds `params.safetensors`,
//! `opt_state.safetensors` (tensors named by leaf path), `manifest.json` (step, data position,
//! PRNG key, the run's config and its identity, the run state of the diagnostics, the size and
//! FNV-1a 64 checksum of each file) and a `COMMIT` marker.
//!
//! A save is atomic: everything is written into `.tmp-step_NNNNNNNN`, each file fsynced, the
//! marker written last, the directory fsynced, renamed to its final name, and the parent
//! fsynced. A directory without its marker is a partial save: [`clean_partial`] removes those
//! at start. Loading checks the marker, the format, each file's size and checksum, and every
//! tensor's path, shape and dtype against the model, and refuses with the reason.

use rax_core::tree::{leaves_with_paths, unflatten};
use rax_core::{Error, Literal, Result, Tensor, Tree};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The manifest format tag.
pub const FORMAT: &str = "rax-train-checkpoint/1";

/// What a checkpoint records besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Optimizer steps done.
    pub step: u64,
    /// Windows of the data order consumed.
    pub data_position: u64,
    /// The run's PRNG key (u32[2]); step `s` uses `fold_in(s)` of it.
    pub prng_key: [u32; 2],
    /// FNV-1a 64 of the config identity (hex).
    pub config_identity: String,
    /// The run config (TOML).
    pub config: String,
    /// Diagnostics and counters to resume with (owned by the training loop).
    pub run_state: serde_json::Value,
    /// Size and checksum of each tensor file.
    pub files: BTreeMap<String, FileSum>,
}

/// Size and checksum of a file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileSum {
    /// Bytes.
    pub bytes: u64,
    /// FNV-1a 64 (hex).
    pub fnv64: String,
}

/// FNV-1a 64 of bytes, as 16 hex digits.
pub fn fnv64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

/// A tree's leaves as safetensors bytes (named by path; the tensors are fetched to the host).
pub fn to_safetensors<T: Tree>(tree: &T, what: &str) -> Result<Vec<u8>> {
    let mut lits = Vec::new();
    for (name, t) in leaves_with_paths(tree) {
        let name = if name.is_empty() {
            "_".to_string()
        } else {
            name
        };
        lits.push((name, t.to_literal()?));
    }
    rax_nn::checkpoint::serialize(&lits, None, Path::new(what))
}

/// Parses safetensors bytes into literals by name.
pub fn from_safetensors(bytes: &[u8], path: &Path) -> Result<BTreeMap<String, Literal>> {
    rax_nn::checkpoint::parse(path, bytes).map_err(|e| io(path, format!("corrupt: {e}")))
}

/// Fills a template tree from stored tensors: every path present, with the template's exact
/// shape and dtype (a resumed run must continue bit for bit), else an error naming the leaf.
pub fn fill<T: Tree>(
    template: &T,
    stored: &BTreeMap<String, Literal>,
    what: &str,
    path: &Path,
) -> Result<T> {
    let mut leaves = Vec::new();
    let want = leaves_with_paths(template);
    if want.len() != stored.len() {
        return Err(io(
            path,
            format!(
                "{what}: the checkpoint holds {} tensors, the model has {} (a checkpoint of another model?)",
                stored.len(),
                want.len()
            ),
        ));
    }
    for (name, t) in want {
        let key = if name.is_empty() {
            "_".to_string()
        } else {
            name
        };
        let lit = stored.get(&key).ok_or_else(|| {
            io(
                path,
                format!("{what}: no tensor `{key}` (a checkpoint of another model?)"),
            )
        })?;
        if lit.aval() != t.aval() {
            return Err(io(
                path,
                format!(
                    "{what} `{key}`: stored {}, the run expects {}",
                    lit.aval(),
                    t.aval()
                ),
            ));
        }
        leaves.push(Tensor::from_literal(lit.clone()));
    }
    unflatten(template, leaves)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

fn sync_dir(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(path, format!("fsync of the directory: {e}")))
}

/// Writes `bytes` to `path` atomically (temporary name, fsync, rename, fsync of the directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".tmp-{name}"));
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    sync_dir(dir)
}

/// The checkpoints directory of a run.
pub fn root(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

fn step_name(step: u64) -> String {
    format!("step_{step:08}")
}

/// Saves a checkpoint atomically; returns its directory.
pub fn save(run_dir: &Path, mut manifest: Manifest, files: &[(&str, Vec<u8>)]) -> Result<PathBuf> {
    let root = root(run_dir);
    std::fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
    let name = step_name(manifest.step);
    let tmp = root.join(format!(".tmp-{name}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    for (f, bytes) in files {
        write_synced(&tmp.join(f), bytes)?;
        manifest.files.insert(
            f.to_string(),
            FileSum {
                bytes: bytes.len() as u64,
                fnv64: fnv64(bytes),
            },
        );
    }
    let m = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::data("checkpoint", e.to_string()))?;
    write_synced(&tmp.join("manifest.json"), &m)?;
    write_synced(&tmp.join("COMMIT"), format!("{}\n", fnv64(&m)).as_bytes())?;
    sync_dir(&tmp)?;
    let fin = root.join(&name);
    if fin.exists() {
        std::fs::remove_dir_all(&fin).map_err(|e| io(&fin, e))?;
    }
    std::fs::rename(&tmp, &fin).map_err(|e| io(&fin, e))?;
    sync_dir(&root)?;
    Ok(fin)
}

/// Committed checkpoints of a run, oldest first, as (step, directory).
pub fn committed(run_dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(root(run_dir))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let step = name.strip_prefix("step_")?.parse().ok()?;
            e.path().join("COMMIT").exists().then(|| (step, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Removes partial saves (temporary directories, directories without a marker); returns them.
pub fn clean_partial(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for e in std::fs::read_dir(root(run_dir))
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let partial =
            name.starts_with(".tmp-") || (name.starts_with("step_") && !p.join("COMMIT").exists());
        if partial {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
            } else {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
            }
            removed.push(p);
        }
    }
    Ok(removed)
}

/// Deletes all but the newest `keep` committed checkpoints.
pub fn keep_last(run_dir: &Path, keep: usize) -> Result<()> {
    let all = committed(run_dir);
    for (_, p) in all.iter().take(all.len().saturating_sub(keep)) {
        // Remove the marker first: an interrupted delete leaves a partial save, not a
        // half-deleted checkpoint that looks committed.
        let _ = std::fs::remove_file(p.join("COMMIT"));
        std::fs::remove_dir_all(p).map_err(|e| io(p, e))?;
    }
    Ok(())
}

/// Reads and checks a checkpoint directory: the marker matches the manifest, the format is
/// known, and each file has its recorded size and checksum. Returns the manifest and the
/// parsed tensor files.
/// Each tensor file of a checkpoint, by file name, as its tensors by name.
pub type Files = BTreeMap<String, BTreeMap<String, Literal>>;

pub fn read(dir: &Path) -> Result<(Manifest, Files)> {
    let mpath = dir.join("manifest.json");
    let commit = std::fs::read_to_string(dir.join("COMMIT")).map_err(|_| {
        io(
            dir,
            "not a committed checkpoint (no COMMIT marker: a partial save?)",
        )
    })?;
    let mbytes = std::fs::read(&mpath).map_err(|e| io(&mpath, e))?;
    if commit.trim() != fnv64(&mbytes) {
        return Err(io(
            &mpath,
            "corrupt: the manifest does not match its COMMIT checksum",
        ));
    }
    let m: Manifest = serde_json::from_slice(&mbytes)
        .map_err(|e| io(&mpath, format!("corrupt manifest: {e}")))?;
    if m.format != FORMAT {
        return Err(io(
            &mpath,
            format!("format `{}` is not `{FORMAT}`", m.format),
        ));
    }
    let mut files = BTreeMap::new();
    for (name, sum) in &m.files {
        let p = dir.join(name);
        let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
        if bytes.len() as u64 != sum.bytes || fnv64(&bytes) != sum.fnv64 {
            return Err(io(
                &p,
                format!(
                    "corrupt: {} bytes with checksum {}, the manifest recorded {} bytes with checksum {}",
                    bytes.len(),
                    fnv64(&bytes),
                    sum.bytes,
                    sum.fnv64
                ),
            ));
        }
        files.insert(name.clone(), from_safetensors(&bytes, &p)?);
    }
    Ok((m, files))
}

/// Resolves a checkpoint argument: a checkpoint directory, or a run directory (its newest).
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join("manifest.json").exists() {
        return Ok(path.to_path_buf());
    }
    if !path.exists() {
        return Err(io(path, "no such file or directory"));
    }
    committed(path).pop().map(|(_, p)| p).ok_or_else(|| {
        io(
            path,
            "neither a rax train checkpoint directory (no manifest.json) nor a run directory \
             with a committed checkpoint",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(step: u64) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            step,
            data_position: 3,
            prng_key: [0, 1],
            config_identity: "x".into(),
            config: String::new(),
            run_state: serde_json::Value::Null,
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn save_is_committed_partial_saves_are_cleaned_and_corruption_is_refused() {
        let dir = std::env::temp_dir().join(format!("rax_ckpt_test_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = Tensor::from_literal(Literal::from_vec([2], vec![1.0f32, 2.0]).unwrap());
        let bytes = to_safetensors(&vec![t.clone()], "params").unwrap();
        for s in [1, 2, 3] {
            save(&dir, manifest(s), &[("params.safetensors", bytes.clone())]).unwrap();
        }
        keep_last(&dir, 2).unwrap();
        assert_eq!(
            committed(&dir).iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![2, 3]
        );
        // A partial save (no marker) and a temporary directory are removed at start.
        std::fs::create_dir_all(root(&dir).join("step_00000009")).unwrap();
        std::fs::create_dir_all(root(&dir).join(".tmp-step_00000010")).unwrap();
        assert_eq!(clean_partial(&dir).unwrap().len(), 2);
        let (m, files) = read(&resolve(&dir).unwrap()).unwrap();
        assert_eq!(m.step, 3);
        let back: Vec<Tensor> = fill(
            &vec![t.clone()],
            &files["params.safetensors"],
            "params",
            &dir,
        )
        .unwrap();
        assert_eq!(back[0].to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
        // A flipped byte is refused with the reason.
        let p = root(&dir).join("step_00000003/params.safetensors");
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 1] ^= 1;
        std::fs::write(&p, b).unwrap();
        let e = read(&root(&dir).join("step_00000003"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("corrupt") && e.contains("checksum"), "{e}");
        // A wrong shape is refused naming the leaf.
        let other = vec![Tensor::from_literal(
            Literal::from_vec([3], vec![0f32; 3]).unwrap(),
        )];
        let (_, files) = read(&root(&dir).join("step_00000002")).unwrap();
        let e = fill(&other, &files["params.safetensors"], "params", &dir)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("params `0`") && e.contains("expects"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
