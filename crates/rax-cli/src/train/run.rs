//! The training loop of `rax train`: set up (or resume) a run directory, then per step fetch
//! the next batch, run the jitted donated step, log the record, watch the diagnostics, and
//! evaluate / checkpoint on cadence; at the end save, evaluate, find the frozen parameters,
//! write the report and the charts, and return the summary.
//!
//! Run directory: `config.toml` (the resolved config), `policy.json` (the resolved policy and
//! every leaf's storage dtype), `init_params.safetensors`, `metrics.jsonl`,
//! `diagnostics.jsonl`, `checkpoints/`, `report.txt`, `charts.png`, `summary.json`.

use super::checkpoint::{self as ckpt, Manifest};
use super::config::{self, CastMode, RunConfig};
use super::data::{Dataset, Loader};
use super::diagnostics::{self as diag, DiagState, Frozen, GroupDesc, LeafDesc, StepVerdict};
use super::metrics::{MetricsWriter, StepRecord};
use super::model::{ModelVisitor, TrainModel};
use super::progress::Progress;
use super::{groups, step};
use rax_core::precision::{audit, cast_floating};
use rax_core::random::PrngKey;
use rax_core::tree::leaves_with_paths;
use rax_core::{Error, Result, Tensor};
use rax_optim::{GradientTransformation, LeafMeta};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

/// How to run.
pub struct RunOptions {
    /// The config (data path already resolved, overrides applied).
    pub cfg: RunConfig,
    /// The run directory.
    pub out: PathBuf,
    /// `--backend`.
    pub backend: String,
    /// Print progress messages (false in tests that only want the summary).
    pub quiet: bool,
}

/// What a run reports at the end (`--json` prints it as the last line).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Loss of the last step (f32, as computed).
    pub final_loss: f32,
    /// Steps done in total.
    pub steps: u64,
    /// Training tokens per second of this invocation's steps (step wall time, compile excluded).
    pub tokens_per_s: f64,
    /// Leaves none of whose elements changed during the run.
    pub frozen_params: Vec<String>,
    /// The frozen leaves with their causes.
    pub frozen: Vec<Frozen>,
    /// Steps skipped for non-finite values.
    pub nonfinite_steps_skipped: u64,
    /// Loss spikes flagged.
    pub loss_spikes: usize,
    /// Final held-out loss.
    pub eval_loss: Option<f64>,
    /// The step this invocation started from (0: a fresh run).
    pub resumed_from: u64,
    /// Backend name.
    pub backend: String,
    /// Run directory.
    pub out: String,
    /// The charts PNG (absent when they could not be drawn).
    pub charts: Option<String>,
    /// The end-of-run report table.
    #[serde(skip)]
    pub report: String,
}

/// The loop's state saved in each checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct RunState {
    diag: DiagState,
    last_loss_bits: u32,
    last_stats: Vec<u32>,
}

/// Runs the config's model.
pub struct Train(pub RunOptions);

impl ModelVisitor for Train {
    type Out = Result<Summary>;
    fn visit<M: TrainModel>(self, model: M) -> Result<Summary> {
        train(model, self.0)
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

/// The initial parameters of a config, stored as the policy (or the blanket cast) says.
pub fn initial_params<M: TrainModel>(model: &M, cfg: &RunConfig) -> Result<M::Params> {
    let policy = cfg.policy.policy()?;
    let p = model.init(cfg.seed)?;
    Ok(match cfg.cast {
        CastMode::Blanket => cast_floating(&p, policy.param, true),
        CastMode::Policy => cast_floating(&p, policy.param, false),
    })
}

/// Leaf descriptions and group names of a parameter tree under a config.
pub fn describe<P: rax_core::Tree>(
    cfg: &RunConfig,
    p: &P,
) -> Result<(Vec<LeafMeta>, Vec<LeafDesc>, Vec<GroupDesc>)> {
    let meta = LeafMeta::of(p);
    let assignment = groups::assign(&cfg.optimizer.groups, &meta)?;
    let leaves = meta
        .iter()
        .zip(&assignment)
        .map(|(m, &g)| LeafDesc {
            path: m.path.clone(),
            numel: m.dims.iter().product(),
            dtype: m.dtype,
            group: g,
        })
        .collect();
    let gd = cfg
        .optimizer
        .groups
        .iter()
        .map(|g| GroupDesc {
            name: g.name.clone(),
            optimizer: g.optimizer.name().into(),
        })
        .collect();
    Ok((meta, leaves, gd))
}

fn write_policy_file<P: rax_core::Tree>(dir: &Path, cfg: &RunConfig, p: &P) -> Result<()> {
    let policy = cfg.policy.policy()?;
    let leaves: serde_json::Map<String, serde_json::Value> = leaves_with_paths(p)
        .into_iter()
        .map(|(k, t)| (k, serde_json::Value::String(t.dtype().to_string())))
        .collect();
    let audit: Vec<String> = audit(p)
        .into_iter()
        .map(|(k, d)| format!("{k}: {d}"))
        .collect();
    let v = serde_json::json!({
        "policy": cfg.policy.0,
        "param": policy.param.to_string(),
        "compute": policy.compute.to_string(),
        "accum": policy.accum.to_string(),
        "softmax": policy.softmax.to_string(),
        "cast": match cfg.cast { CastMode::Policy => "policy", CastMode::Blanket => "blanket" },
        "sensitive_not_f32": audit,
        "leaves": leaves,
    });
    ckpt::write_atomic(
        &dir.join("policy.json"),
        serde_json::to_string_pretty(&v)
            .unwrap_or_default()
            .as_bytes(),
    )
}

fn mean_eval<M: TrainModel>(
    ev: &step::EvalJit<M::Params>,
    p: &M::Params,
    batches: &[(rax_core::Literal, rax_core::Literal)],
) -> Result<f64> {
    let mut s = 0.0;
    for (t, sg) in batches {
        let l = ev.call(&(
            p.clone(),
            Tensor::from_literal(t.clone()),
            Tensor::from_literal(sg.clone()),
        ))?;
        s += l.to_vec::<f32>()?.first().copied().unwrap_or(f32::NAN) as f64;
    }
    Ok(s / batches.len().max(1) as f64)
}

/// Trains `model` as `o.cfg` says, in `o.out` (resuming from its newest checkpoint if any).
pub fn train<M: TrainModel>(model: M, o: RunOptions) -> Result<Summary> {
    let cfg = &o.cfg;
    let dir = &o.out;
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let rt = crate::backend::runtime(&o.backend)?;
    let say = |m: &str| {
        if !o.quiet {
            eprintln!("{m}");
        }
    };
    say(&format!(
        "rax train: {} on {}",
        cfg.model.family(),
        rt.description()
    ));
    let policy = cfg.policy.policy()?;
    let model = Rc::new(model);
    let params0 = initial_params(model.as_ref(), cfg)?;
    let (meta, leaves, gdesc) = describe(cfg, &params0)?;
    let (opt, _) = groups::build(
        &cfg.optimizer,
        &cfg.schedule,
        cfg.schedule.decay_steps.unwrap_or(cfg.steps),
        &meta,
        policy.compute,
    )?;
    let opt = Rc::new(opt);
    let state0 = opt.init(&params0)?;
    let identity = ckpt::fnv64(config::identity(cfg).as_bytes());

    // Resume from the newest committed checkpoint, or start fresh.
    let removed = ckpt::clean_partial(dir)?;
    if !removed.is_empty() {
        say(&format!(
            "removed {} partial checkpoint save(s) left by an interrupted run",
            removed.len()
        ));
    }
    let latest = ckpt::committed(dir).pop();
    let (mut params, mut state, start, position, mut rs) = match latest {
        Some((_, cdir)) => {
            let (m, files) = ckpt::read(&cdir).map_err(|e| {
                Error::data(
                    "rax train --resume",
                    format!("refusing checkpoint {}: {e}", cdir.display()),
                )
            })?;
            if m.config_identity != identity {
                let why = match config::parse(&m.config, "checkpoint config") {
                    Ok(old) => config::differing_keys(&old, cfg).join(", "),
                    Err(_) => "its config cannot be read".into(),
                };
                return Err(Error::data(
                    "rax train --resume",
                    format!(
                        "refusing checkpoint {}: it was written by a different config (differs in: {why})",
                        cdir.display()
                    ),
                ));
            }
            let get = |name: &str| {
                files
                    .get(name)
                    .ok_or_else(|| io(&cdir, format!("the manifest lists no `{name}`")))
            };
            let p = ckpt::fill(&params0, get("params.safetensors")?, "params", &cdir)?;
            let s = ckpt::fill(
                &state0,
                get("opt_state.safetensors")?,
                "optimizer state",
                &cdir,
            )?;
            let rs: RunState = serde_json::from_value(m.run_state.clone())
                .map_err(|e| io(&cdir, format!("corrupt run state in the manifest: {e}")))?;
            if rs.diag.grad_seen.len() != leaves.len() {
                return Err(io(&cdir, "the run state does not match the model's leaves"));
            }
            say(&format!(
                "resuming from {} (step {})",
                cdir.display(),
                m.step
            ));
            // The initial parameters (the reference of `frozen_params`) follow from the config
            // and seed: a run directory holding only a checkpoint gets them back.
            let init = dir.join("init_params.safetensors");
            if !init.exists() {
                ckpt::write_atomic(&init, &ckpt::to_safetensors(&params0, "params")?)?;
            }
            if !dir.join("policy.json").exists() {
                write_policy_file(dir, cfg, &params0)?;
            }
            (p, s, m.step, m.data_position, rs)
        }
        None => {
            ckpt::write_atomic(&dir.join("config.toml"), config::to_toml(cfg)?.as_bytes())?;
            write_policy_file(dir, cfg, &params0)?;
            ckpt::write_atomic(
                &dir.join("init_params.safetensors"),
                &ckpt::to_safetensors(&params0, "params")?,
            )?;
            let _ = std::fs::remove_file(dir.join("diagnostics.jsonl"));
            let rs = RunState {
                diag: DiagState::new(leaves.len()),
                ..RunState::default()
            };
            (params0.clone(), state0, 0, 0, rs)
        }
    };
    let mut metrics = MetricsWriter::open(dir, (start > 0).then_some(start))?;
    let data_path = PathBuf::from(&cfg.data.path);
    let ds = Dataset::open(&cfg.data, &data_path, cfg.model.vocab())?;
    let (bsz, seq, accum) = (
        cfg.batch.size.0 as usize,
        cfg.batch.seq_len.0 as usize,
        cfg.batch.grad_accum.0 as usize,
    );
    let mut loader = Loader::new(ds, cfg.seed, seq, bsz, accum, position)?;
    let eval_batches = loader.eval_batches(cfg.eval.batches.0 as usize)?;
    let key = PrngKey::new(cfg.seed);
    let key_data: Vec<u32> = key.data().to_vec::<u32>()?;
    let prng_key = [
        key_data.first().copied().unwrap_or(0),
        key_data.get(1).copied().unwrap_or(0),
    ];

    let stepf = step::jit(&rt, model.clone(), opt.clone(), accum);
    let evalf = step::eval_jit(&rt, model.clone());
    let total = cfg.steps;
    let mut last_stats: Vec<f32> = rs.last_stats.iter().map(|b| f32::from_bits(*b)).collect();
    let mut final_loss = f32::from_bits(rs.last_loss_bits);
    let mut eval_loss = None;
    let tokens_per_step = (accum * bsz * seq) as f64;
    let lr_sched = groups::group_lr(
        &cfg.optimizer.groups[0],
        &groups::multiplier(&cfg.schedule, cfg.schedule.decay_steps.unwrap_or(cfg.steps)),
    );
    let mut diag_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("diagnostics.jsonl"))
        .map_err(|e| io(dir, e))?;
    let save =
        |p: &M::Params, s: &rax_optim::State, stepn: u64, pos: u64, rs: &RunState| -> Result<()> {
            let m = Manifest {
                format: ckpt::FORMAT.into(),
                step: stepn,
                data_position: pos,
                prng_key,
                config_identity: identity.clone(),
                config: config::to_toml(cfg)?,
                run_state: serde_json::to_value(rs)
                    .map_err(|e| Error::data("checkpoint", e.to_string()))?,
                files: Default::default(),
            };
            ckpt::save(
                dir,
                m,
                &[
                    ("params.safetensors", ckpt::to_safetensors(p, "params")?),
                    (
                        "opt_state.safetensors",
                        ckpt::to_safetensors(s, "optimizer state")?,
                    ),
                ],
            )?;
            ckpt::keep_last(dir, cfg.checkpoint.keep.0 as usize)
        };
    let progress = Progress::new(start, total, cfg.diagnostics.log_every.0);
    let msg = |m: &str| {
        if !o.quiet {
            progress.message(m)
        }
    };
    let mut tokens_done = 0.0;
    let mut step_time = 0.0;
    let mut last_saved = start;
    if start < total {
        // Compile ahead of time so the first step's rate is the step's, not the compiler's.
        let b0 = Tensor::zeros(&[accum, bsz, seq + 1], rax_core::DType::I32);
        let hits_before = rt.compile_cache_stats().map(|c| c.hits);
        let t0 = Instant::now();
        stepf.compile(&(
            params.clone(),
            state.clone(),
            b0.clone(),
            b0,
            key.data().clone(),
        ))?;
        let hit = rt.compile_cache_stats().map(|c| c.hits) > hits_before;
        msg(&format!(
            "training step compiled in {:.2} s{}",
            t0.elapsed().as_secs_f64(),
            if hit {
                " (loaded from the compilation cache)"
            } else {
                ""
            }
        ));
    }
    let mut stop: Option<Error> = None;
    let mut done = start;
    for stepn in start + 1..=total {
        done = stepn;
        let batch = loader.next_batch()?;
        let t0 = Instant::now();
        // Step n's randomness: the run key folded with n (the same on a resumed run).
        let step_key = Tensor::from_literal(key.fold_in(stepn as u32).data().to_literal()?);
        let (p, s, head, stats) = stepf.call(&(
            params,
            state,
            Tensor::from_literal(batch.tokens),
            Tensor::from_literal(batch.segments),
            step_key,
        ))?;
        params = p;
        state = s;
        let head = head.to_vec::<f32>()?;
        let stats_v = stats.to_vec::<f32>()?;
        let dt = t0.elapsed().as_secs_f64();
        step_time += dt;
        let (loss, gnorm, finite) = (head[0], head[1], head[2] != 0.0);
        let tps = tokens_per_step / dt.max(1e-9);
        tokens_done += tokens_per_step;
        let count = (stepn - 1 - rs.diag.skipped) as i32;
        let lr = lr_sched.value(count)?;
        let verdict = rs.diag.observe(
            stepn,
            loss,
            finite,
            &stats_v,
            &leaves,
            cfg.diagnostics.spike_factor.0,
        );
        let (skipped, spike) = match &verdict {
            StepVerdict::Skipped(m) => {
                msg(&format!("warning: {m}"));
                (true, false)
            }
            StepVerdict::Ok { spike } => {
                if *spike {
                    msg(&format!("warning: loss spike at step {stepn}: {loss}"));
                }
                last_stats = stats_v.clone();
                final_loss = loss;
                (false, *spike)
            }
        };
        let due = |every: u64| every > 0 && stepn % every == 0;
        if let (Some(eb), true) = (&eval_batches, due(cfg.eval.every) || stepn == total) {
            let e = mean_eval::<M>(&evalf, &params, eb)?;
            eval_loss = Some(e);
        }
        let rec = StepRecord {
            step: stepn,
            loss,
            lr,
            grad_norm: gnorm,
            tokens_per_s: tps,
            eval_loss: if due(cfg.eval.every) || stepn == total {
                eval_loss
            } else {
                None
            },
            skipped,
            spike,
        };
        metrics.write(&rec)?;
        progress.step(stepn, loss, tps);
        if (due(cfg.diagnostics.every) || stepn == total) && !last_stats.is_empty() {
            let gs = diag::group_stats(&last_stats, &leaves, &gdesc);
            let line = serde_json::json!({"step": stepn, "groups": gs});
            use std::io::Write;
            let _ = writeln!(diag_file, "{line}");
            let parts: Vec<String> = gs
                .iter()
                .map(|g| {
                    format!(
                        "{}: upd/param {:.2e}, grad {:.2e}, moved {:.3}",
                        g.group, g.update_param_rms_ratio, g.grad_norm, g.frac_moved
                    )
                })
                .collect();
            msg(&format!("diagnostics step {stepn}: {}", parts.join("; ")));
        }
        rs.last_loss_bits = final_loss.to_bits();
        rs.last_stats = last_stats.iter().map(|x| x.to_bits()).collect();
        if rs.diag.consecutive >= cfg.diagnostics.max_consecutive_skips.0 {
            stop = Some(Error::data(
                "rax train",
                format!(
                    "stopped after {} consecutive non-finite steps ({}); lower the learning rate, \
                     clip gradients, or check the data",
                    rs.diag.consecutive,
                    rs.diag.last_nonfinite.clone().unwrap_or_default()
                ),
            ));
            break;
        }
        if due(cfg.checkpoint.every) && stepn < total {
            save(&params, &state, stepn, loader.position, &rs)?;
            last_saved = stepn;
        }
    }
    progress.finish();
    if stop.is_none() && last_saved < total && start < total {
        save(&params, &state, total, loader.position, &rs)?;
    }
    // Frozen parameters: leaves identical to the initial ones.
    let init = ckpt::from_safetensors(
        &std::fs::read(dir.join("init_params.safetensors"))
            .map_err(|e| io(&dir.join("init_params.safetensors"), e))?,
        &dir.join("init_params.safetensors"),
    )?;
    let mut frozen = Vec::new();
    for (i, (path, t)) in leaves_with_paths(&params).into_iter().enumerate() {
        let now = t.to_literal()?;
        if init
            .get(&path)
            .is_some_and(|l| l.to_bytes() == now.to_bytes())
        {
            let mut mags: Vec<f64> = now.to_f64_vec().iter().map(|x| x.abs()).collect();
            mags.sort_by(f64::total_cmp);
            let magnitude = mags.get(mags.len() / 2).copied().unwrap_or(0.0);
            let l = &leaves[i];
            frozen.push(Frozen {
                path: path.clone(),
                group: gdesc[l.group].name.clone(),
                cause: diag::frozen_cause(
                    l.dtype,
                    rs.diag.grad_seen[i],
                    f32::from_bits(rs.diag.max_update_bits[i]),
                    magnitude,
                ),
            });
        }
    }
    let last = if last_stats.is_empty() {
        vec![]
    } else {
        diag::group_stats(&last_stats, &leaves, &gdesc)
    };
    let report = diag::report(&leaves, &gdesc, &last, &frozen, &rs.diag, done);
    ckpt::write_atomic(&dir.join("report.txt"), report.as_bytes())?;
    let charts = match crate::plot::write_charts(dir) {
        Ok(p) => Some(p.display().to_string()),
        Err(e) => {
            say(&format!("warning: charts not written: {e}"));
            None
        }
    };
    let summary = Summary {
        final_loss,
        steps: done,
        tokens_per_s: if step_time > 0.0 {
            tokens_done / step_time
        } else {
            0.0
        },
        frozen_params: frozen.iter().map(|f| f.path.clone()).collect(),
        frozen,
        nonfinite_steps_skipped: rs.diag.skipped,
        loss_spikes: rs.diag.spikes.len(),
        eval_loss,
        resumed_from: start,
        backend: crate::backend::name(&rt),
        out: dir.display().to_string(),
        charts,
        report,
    };
    ckpt::write_atomic(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    match stop {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}
