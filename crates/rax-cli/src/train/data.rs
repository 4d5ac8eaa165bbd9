//! Training data: a UTF-8 text file or directory read as bytes (vocab 256), an int32 `.npy` or
//! a raw little-endian int32 `.bin` read through a memory map, or the corpus embedded in the
//! program (`builtin`). The documents form one token stream; its tail is the held-out split.
//! Training sequences are windows of `seq_len + 1` tokens packed across document boundaries
//! with segment ids (the document index within the window) for models that mask by segment;
//! the window order is a permutation per epoch drawn from the seed, and the position in that
//! order (windows consumed) is what a checkpoint stores to resume the stream exactly.

use super::config::{DataConfig, DataFormat};
use rax_core::{Error, Literal, Result};
use std::path::{Path, PathBuf};

/// The corpus embedded in the program (a snapshot of the project's own documentation).
pub const BUILTIN: [(&str, &str); 4] = [
    (
        "README.md",
        include_str!("../../../../examples/data/corpus/README.md"),
    ),
    (
        "architecture.md",
        include_str!("../../../../examples/data/corpus/architecture.md"),
    ),
    (
        "performance.md",
        include_str!("../../../../examples/data/corpus/performance.md"),
    ),
    (
        "ops.md",
        include_str!("../../../../examples/data/corpus/ops.md"),
    ),
];

fn io(path: &Path, msg: impl Into<String>) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// Where the tokens live.
enum Tokens {
    /// Bytes (text).
    Bytes(Vec<u8>),
    /// int32 little-endian tokens in a mapped file from `offset`.
    Mapped { map: memmap2::Mmap, offset: usize },
}

/// A token stream with document boundaries and a train / held-out split.
pub struct Dataset {
    tokens: Tokens,
    len: usize,
    /// Start offsets of the documents (sorted, the first is 0).
    doc_starts: Vec<usize>,
    /// Tokens `[0, train_len)` are for training, the rest held out.
    train_len: usize,
    /// What it was read from (reports).
    pub source: String,
}

/// Reads the header of a mapped `.npy` file through `ndarray-npy` (which checks the magic,
/// version, dtype, order and that the data fits the file): returns the byte offset of the
/// data and the element count of an int32 little-endian C-order array.
pub fn npy_header(bytes: &[u8], path: &Path) -> Result<(usize, usize)> {
    use ndarray_npy::ViewNpyExt;
    let view = ndarray::ArrayViewD::<i32>::view_npy(bytes).map_err(|e| {
        io(
            path,
            format!("not an int32 little-endian C-order .npy array: {e}"),
        )
    })?;
    if !view.is_standard_layout() {
        return Err(io(path, "Fortran-order .npy arrays are not supported"));
    }
    let offset = view.as_ptr() as usize - bytes.as_ptr() as usize;
    Ok((offset, view.len()))
}

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            text_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

impl Dataset {
    /// Reads the data of a config; `path` is already resolved (or `builtin`).
    pub fn open(cfg: &DataConfig, path: &Path, vocab: usize) -> Result<Dataset> {
        let fmt = match cfg.format {
            DataFormat::Auto => match path.extension().and_then(|e| e.to_str()) {
                Some("npy") => DataFormat::Npy,
                Some("bin") => DataFormat::Bin,
                _ => DataFormat::Text,
            },
            f => f,
        };
        let (tokens, len, doc_starts, source) = if cfg.path == "builtin" {
            let mut bytes = Vec::new();
            let mut starts = Vec::new();
            for (_, text) in BUILTIN {
                starts.push(bytes.len());
                bytes.extend_from_slice(text.as_bytes());
            }
            let n = bytes.len();
            (
                Tokens::Bytes(bytes),
                n,
                starts,
                "builtin corpus".to_string(),
            )
        } else {
            match fmt {
                DataFormat::Text | DataFormat::Auto => {
                    let files = if path.is_dir() {
                        let mut v = Vec::new();
                        text_files(path, &mut v)?;
                        v
                    } else {
                        vec![path.to_path_buf()]
                    };
                    let mut bytes = Vec::new();
                    let mut starts = Vec::new();
                    for f in &files {
                        let b = std::fs::read(f).map_err(|e| io(f, e.to_string()))?;
                        if let Err(e) = std::str::from_utf8(&b) {
                            return Err(io(
                                f,
                                format!("not UTF-8 text (byte {}): {e}", e.valid_up_to()),
                            ));
                        }
                        if !b.is_empty() {
                            starts.push(bytes.len());
                            bytes.extend_from_slice(&b);
                        }
                    }
                    if vocab < 256 {
                        return Err(Error::arg(
                            "data",
                            format!(
                                "text data are bytes (vocab 256) but the model's vocab is {vocab}"
                            ),
                        ));
                    }
                    let n = bytes.len();
                    (
                        Tokens::Bytes(bytes),
                        n,
                        starts,
                        format!("{} ({} files)", path.display(), files.len()),
                    )
                }
                DataFormat::Npy | DataFormat::Bin => {
                    let f = std::fs::File::open(path).map_err(|e| io(path, e.to_string()))?;
                    // SAFETY: the file is mapped read-only; rax does not write it, and the
                    // tokens are validated once below (a concurrent writer is the user's bug).
                    let map =
                        unsafe { memmap2::Mmap::map(&f) }.map_err(|e| io(path, e.to_string()))?;
                    let (offset, n) = if fmt == DataFormat::Npy {
                        npy_header(&map, path)?
                    } else {
                        if map.len() % 4 != 0 {
                            return Err(io(
                                path,
                                format!(
                                    "a raw .bin token file holds little-endian int32: {} bytes is not a multiple of 4",
                                    map.len()
                                ),
                            ));
                        }
                        (0, map.len() / 4)
                    };
                    (
                        Tokens::Mapped { map, offset },
                        n,
                        vec![0],
                        path.display().to_string(),
                    )
                }
            }
        };
        let held = ((len as f64) * cfg.heldout_fraction.0).round() as usize;
        let ds = Dataset {
            tokens,
            len,
            doc_starts,
            train_len: len - held,
            source,
        };
        if let Tokens::Mapped { .. } = ds.tokens {
            for i in 0..len {
                let t = ds.token(i);
                if t < 0 || t as usize >= vocab {
                    return Err(io(
                        path,
                        format!("token {i} is {t}, outside the model's vocab 0..{vocab}"),
                    ));
                }
            }
        }
        Ok(ds)
    }

    /// A dataset from bytes with document starts (tests).
    #[cfg(test)]
    pub fn from_bytes(bytes: Vec<u8>, doc_starts: Vec<usize>, heldout: usize) -> Dataset {
        let len = bytes.len();
        Dataset {
            tokens: Tokens::Bytes(bytes),
            len,
            doc_starts,
            train_len: len - heldout.min(len),
            source: "memory".into(),
        }
    }

    /// Token `i` of the stream.
    pub fn token(&self, i: usize) -> i32 {
        match &self.tokens {
            Tokens::Bytes(b) => b[i] as i32,
            Tokens::Mapped { map, offset } => {
                let o = offset + 4 * i;
                i32::from_le_bytes([map[o], map[o + 1], map[o + 2], map[o + 3]])
            }
        }
    }

    /// Tokens in the training split.
    pub fn train_len(&self) -> usize {
        self.train_len
    }

    /// Training windows of `seq + 1` tokens (consecutive windows share one token).
    pub fn train_windows(&self, seq: usize) -> usize {
        self.train_len.saturating_sub(1) / seq
    }

    /// Held-out windows.
    pub fn eval_windows(&self, seq: usize) -> usize {
        (self.len - self.train_len).saturating_sub(1) / seq
    }

    /// Window `w` of the training split (`eval`: of the held-out split): `seq + 1` tokens and
    /// their segment ids (0 for the document the window starts in, +1 at each new document).
    pub fn window(&self, w: usize, seq: usize, eval: bool) -> (Vec<i32>, Vec<i32>) {
        let start = if eval { self.train_len } else { 0 } + w * seq;
        let toks: Vec<i32> = (start..start + seq + 1).map(|i| self.token(i)).collect();
        let first = self.doc_starts.partition_point(|&s| s <= start);
        let seg = (start..start + seq + 1)
            .map(|i| (self.doc_starts.partition_point(|&s| s <= i) - first) as i32)
            .collect();
        (toks, seg)
    }
}

/// SplitMix64: the host generator of the data order.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The permutation of `n` windows for one epoch (Fisher–Yates from the seed and epoch).
pub fn epoch_order(seed: u64, epoch: u64, n: usize) -> Vec<usize> {
    let mut rng = SplitMix(seed ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0xDA7A);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Batches in a deterministic order; `position` (windows consumed) is checkpointed.
pub struct Loader {
    /// The data.
    pub ds: Dataset,
    seed: u64,
    seq: usize,
    batch: usize,
    accum: usize,
    /// Windows consumed so far (the data position).
    pub position: u64,
    cache: Option<(u64, Vec<usize>)>,
}

/// One step's tokens `[accum, batch, seq + 1]` and segment ids of the same shape.
pub struct Batch {
    /// int32 tokens.
    pub tokens: Literal,
    /// int32 segment ids (packed documents), for families that isolate documents
    /// (Megalodon); the reference LM and DeepSeek attend across documents, as the models
    /// they mirror do.
    pub segments: Literal,
}

impl Loader {
    /// A loader at data position `position`; errors when the split is too small for a batch.
    pub fn new(
        ds: Dataset,
        seed: u64,
        seq: usize,
        batch: usize,
        accum: usize,
        position: u64,
    ) -> Result<Loader> {
        let n = ds.train_windows(seq);
        if n == 0 {
            return Err(Error::data(
                "data",
                format!(
                    "{}: the training split has {} tokens, fewer than one sequence of seq_len + 1 = {}",
                    ds.source,
                    ds.train_len(),
                    seq + 1
                ),
            ));
        }
        Ok(Loader {
            ds,
            seed,
            seq,
            batch,
            accum,
            position,
            cache: None,
        })
    }

    /// The window at order position `k`.
    fn window_at(&mut self, k: u64) -> usize {
        let n = self.ds.train_windows(self.seq);
        let epoch = k / n as u64;
        if self.cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.cache = Some((epoch, epoch_order(self.seed, epoch, n)));
        }
        self.cache
            .as_ref()
            .map_or(0, |(_, o)| o[(k % n as u64) as usize])
    }

    /// The next step's batch; advances the position by `accum * batch` windows.
    pub fn next_batch(&mut self) -> Result<Batch> {
        let (a, b, t1) = (self.accum, self.batch, self.seq + 1);
        let mut toks = Vec::with_capacity(a * b * t1);
        let mut segs = Vec::with_capacity(a * b * t1);
        for _ in 0..a * b {
            let w = self.window_at(self.position);
            self.position += 1;
            let (t, s) = self.ds.window(w, self.seq, false);
            toks.extend(t);
            segs.extend(s);
        }
        Ok(Batch {
            tokens: Literal::from_vec([a, b, t1], toks)?,
            segments: Literal::from_vec([a, b, t1], segs)?,
        })
    }

    /// The fixed held-out batches `[batch, seq + 1]` with their segment ids (`None` without a
    /// held-out split).
    pub fn eval_batches(&self, n: usize) -> Result<Option<Vec<(Literal, Literal)>>> {
        let m = self.ds.eval_windows(self.seq);
        if m == 0 {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut toks = Vec::with_capacity(self.batch * (self.seq + 1));
            let mut segs = Vec::with_capacity(self.batch * (self.seq + 1));
            for j in 0..self.batch {
                let (t, s) = self.ds.window((i * self.batch + j) % m, self.seq, true);
                toks.extend(t);
                segs.extend(s);
            }
            let shape = [self.batch, self.seq + 1];
            out.push((
                Literal::from_vec(shape, toks)?,
                Literal::from_vec(shape, segs)?,
            ));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_pack_documents_with_segment_ids() {
        let ds = Dataset::from_bytes(b"abcdefghij".to_vec(), vec![0, 3, 7], 0);
        assert_eq!(ds.train_windows(4), 2);
        let (t, s) = ds.window(0, 4, false);
        assert_eq!(t, b"abcde".iter().map(|&b| b as i32).collect::<Vec<_>>());
        assert_eq!(s, vec![0, 0, 0, 1, 1]);
        let (t, s) = ds.window(1, 4, false);
        assert_eq!(t[0], b'e' as i32);
        assert_eq!(s, vec![0, 0, 0, 1, 1]);
    }

    #[test]
    fn order_is_a_seeded_permutation_and_position_resumes() {
        let o = epoch_order(7, 0, 50);
        let mut s = o.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_eq!(o, epoch_order(7, 0, 50));
        assert_ne!(o, epoch_order(8, 0, 50));
        assert_ne!(o, epoch_order(7, 1, 50));
        let bytes: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
        let mk = |pos| {
            Loader::new(
                Dataset::from_bytes(bytes.clone(), vec![0], 100),
                3,
                16,
                2,
                2,
                pos,
            )
            .unwrap()
        };
        let mut a = mk(0);
        let batches: Vec<Vec<f64>> = (0..60)
            .map(|_| a.next_batch().unwrap().tokens.to_f64_vec())
            .collect();
        let mut b = mk(4 * 30);
        for want in &batches[30..] {
            assert_eq!(&b.next_batch().unwrap().tokens.to_f64_vec(), want);
        }
        assert_eq!(a.position, b.position);
    }

    #[test]
    fn held_out_split_is_the_tail() {
        let bytes: Vec<u8> = (0..100u8).collect();
        let l = Loader::new(Dataset::from_bytes(bytes, vec![0], 20), 0, 4, 2, 1, 0).unwrap();
        let ev = l.eval_batches(1).unwrap().unwrap();
        assert_eq!(ev[0].0.to_f64_vec()[0], 80.0);
        assert_eq!(ev[0].1.dims(), &[2, 5]);
        assert_eq!(l.ds.train_windows(4), 19);
    }

    #[test]
    fn npy_and_bin_are_read_through_a_map_and_checked() {
        let dir = std::env::temp_dir().join(format!("rax_data_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toks: Vec<i32> = (0..40).map(|i| i % 7).collect();
        let arr = ndarray::Array1::from(toks.clone());
        let npy = dir.join("t.npy");
        ndarray_npy::write_npy(&npy, &arr).unwrap();
        let cfg = DataConfig {
            path: npy.display().to_string(),
            format: DataFormat::Auto,
            heldout_fraction: super::super::config::Fraction(0.0),
        };
        let ds = Dataset::open(&cfg, &npy, 8).unwrap();
        assert_eq!((0..40).map(|i| ds.token(i)).collect::<Vec<_>>(), toks);
        let e = Dataset::open(&cfg, &npy, 5).err().unwrap().to_string();
        assert!(
            e.contains("token 5 is 5") && e.contains("vocab 0..5"),
            "{e}"
        );
        let bin = dir.join("t.bin");
        let raw: Vec<u8> = toks.iter().flat_map(|t| t.to_le_bytes()).collect();
        std::fs::write(&bin, &raw).unwrap();
        let ds = Dataset::open(&cfg, &bin, 8).unwrap();
        assert_eq!(ds.token(39), toks[39]);
        std::fs::write(&bin, &raw[..7]).unwrap();
        let e = Dataset::open(&cfg, &bin, 8).err().unwrap().to_string();
        assert!(e.contains("multiple of 4"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
