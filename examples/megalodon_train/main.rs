//! Trains a tiny byte-level Megalodon on a text file and saves it as a megalodon-jax native
//! checkpoint, with token arrays for `rax eval` and `rax generate` (the README's Megalodon
//! walk-through).
//!
//!     cargo run --release -p rax-examples --example megalodon_train -- [--data README.md]
//!         [--steps 300] [--out target/megalodon_tiny] [--backend auto|interpreter|PATH.so]
//!
//! Model: vocab 256 (bytes), model_dim 64, 2 layers, 1 head, z_dim 32, value_dim 128,
//! ffn_hidden_dim 256, cema_ndim 8, chunk 32, norm groups 4. Batches of 8 random windows of 129
//! bytes; one jitted, donated step: `compute_loss(x, x)`, clip_by_global_norm(1.0),
//! AdamW(1e-3, wd 0.01). Writes `OUT/model.safetensors` (megalodon-jax's `load_checkpoint`
//! reads it), `OUT/tokens.npy` (int32 [2, 129] held-out windows) and `OUT/prompt.npy` (int32
//! [2, 32], their first 32 bytes).
#[path = "../common/flags.rs"]
mod flags;
use flags::Flags;
use ndarray::Array2;
use rax::core::autodiff::value_and_grad;
use rax::core::{DType, Error, PrngKey, Result, Tensor};
use rax::models::megalodon::{checkpoint, lm_loss, MegalodonConfig, MegalodonForCausalLM};
use rax::optim::{adamw, apply_updates, chain, clip_by_global_norm, GradientTransformation, State};
use std::cell::RefCell;
use std::path::PathBuf;

const BATCH: usize = 8;
const WINDOW: usize = 129;

/// A small xorshift generator for the window offsets (reproducible, no dependency).
struct Offsets(u64);

impl Offsets {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn windows(bytes: &[u8], starts: &[usize]) -> Vec<i32> {
    starts
        .iter()
        .flat_map(|&s| bytes[s..s + WINDOW].iter().map(|&b| b as i32))
        .collect()
}

fn write_npy(path: &PathBuf, rows: usize, v: Vec<i32>) -> Result<()> {
    let a = Array2::from_shape_vec((rows, v.len() / rows), v)
        .map_err(|e| Error::data("megalodon_train", e.to_string()))?;
    ndarray_npy::write_npy(path, &a)
        .map_err(|e| Error::data(&path.display().to_string(), e.to_string()))
}

fn main() -> Result<()> {
    let flags = Flags::from_env();
    let get = |flag: &str| flags.get(flag);
    let data = get("--data").unwrap_or_else(|| "README.md".into());
    let out = PathBuf::from(get("--out").unwrap_or_else(|| "target/megalodon_tiny".into()));
    let steps: usize = match get("--steps") {
        Some(s) => s
            .parse()
            .map_err(|e| Error::arg("--steps", format!("{s}: {e}")))?,
        None => 300,
    };
    let rt = flags.runtime()?;
    let bytes = std::fs::read(&data).map_err(|e| Error::data(&data, e.to_string()))?;
    // The last tenth is held out for tokens.npy.
    let split = bytes.len() * 9 / 10;
    if bytes.len() < 20 * WINDOW {
        return Err(Error::data(
            &data,
            format!(
                "{} bytes is too short: need at least {} for training and held-out windows",
                bytes.len(),
                20 * WINDOW
            ),
        ));
    }
    let cfg = MegalodonConfig {
        vocab_size: 256,
        model_dim: 64,
        num_layers: 2,
        num_heads: 1,
        z_dim: 32,
        value_dim: 128,
        ffn_hidden_dim: 256,
        cema_ndim: 8,
        chunk_size: 32,
        norm_num_groups: 4,
        ..MegalodonConfig::default()
    };
    cfg.validate()?;
    let params = MegalodonForCausalLM::init(&cfg, &PrngKey::new(0))?;
    let opt = chain((clip_by_global_norm(1.0), adamw(1e-3, 0.01)));
    let state = opt.init(&params)?;
    let c = cfg.clone();
    let step = rt
        .jit(move |(p, s, x): &(MegalodonForCausalLM, State, Tensor)| {
            let err = RefCell::new(None);
            let (l, g) = value_and_grad(|p: &MegalodonForCausalLM| match lm_loss(p, &c, x) {
                Ok(l) => l,
                Err(e) => {
                    *err.borrow_mut() = Some(e);
                    Tensor::scalar_of(f64::NAN, DType::F32)
                }
            })(p)?;
            if let Some(e) = err.into_inner() {
                return Err(e);
            }
            let (u, s) = opt.update(&g, s.clone(), Some(p))?;
            Ok((apply_updates(p, &u)?, s, l))
        })
        .donate_args(&[0, 1]);
    let mut rng = Offsets(0x9E37_79B9_7F4A_7C15);
    let (mut p, mut s) = (params, state);
    let t0 = std::time::Instant::now();
    for i in 0..steps {
        let starts: Vec<usize> = (0..BATCH).map(|_| rng.next(split - WINDOW)).collect();
        let x = Tensor::from_vec([BATCH, WINDOW], windows(&bytes, &starts))?;
        let (np, ns, l) = step.call(&(p, s, x))?;
        (p, s) = (np, ns);
        if i % 50 == 0 || i + 1 == steps {
            let loss = l.to_f64_vec()?[0];
            println!(
                "step {i:4}  loss {loss:.4}  ({:.1} s)",
                t0.elapsed().as_secs_f64()
            );
        }
    }
    std::fs::create_dir_all(&out).map_err(|e| Error::data("--out", e.to_string()))?;
    let model = out.join("model.safetensors");
    checkpoint::save(&cfg, &p, &model)?;
    let held = [split, bytes.len() - WINDOW];
    let toks = windows(&bytes, &held);
    let prompt: Vec<i32> = toks.chunks(WINDOW).flat_map(|r| r[..32].to_vec()).collect();
    write_npy(&out.join("tokens.npy"), 2, toks)?;
    write_npy(&out.join("prompt.npy"), 2, prompt)?;
    println!(
        "wrote {} ({} parameters), tokens.npy [2, {WINDOW}], prompt.npy [2, 32]",
        model.display(),
        p.param_count()
    );
    Ok(())
}
