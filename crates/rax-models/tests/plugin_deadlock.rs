//! A plugin deadlock that rax works around: with XLA's concurrency-optimized CPU scheduler on
//! (its default), the API 0.115 plugin never finishes executing the gradient of a 4-layer
//! Megalodon (the benchmark's model at batch 4 x 256): every thread waits on a condition
//! variable. rax turns the scheduler off through `XLA_FLAGS` before the first plugin loads
//! (`rax_runtime::pjrt::NO_CONCURRENCY_SCHEDULER_FLAG`). Each backend's run gets two minutes
//! (it takes a few seconds); a hang is a failure naming the backend, not a stuck test binary.
mod backends;

use rax_core::{PrngKey, Tensor};
use rax_models::lm::random_tokens;
use rax_models::megalodon::{lm_loss, MegalodonConfig, MegalodonForCausalLM};
use std::sync::mpsc;
use std::time::Duration;

fn config() -> MegalodonConfig {
    MegalodonConfig {
        vocab_size: 256,
        model_dim: 128,
        num_layers: 4,
        num_heads: 1,
        z_dim: 64,
        value_dim: 256,
        ffn_hidden_dim: 512,
        cema_ndim: 16,
        chunk_size: 64,
        norm_num_groups: 8,
        ..MegalodonConfig::default()
    }
}

#[test]
fn a_four_layer_megalodon_gradient_finishes_on_every_plugin() {
    for (name, _) in backends::cpu_runtimes() {
        let (tx, rx) = mpsc::channel();
        let label = name.clone();
        std::thread::spawn(move || {
            let run = || -> rax_core::Result<f64> {
                let rt = backends::cpu_runtimes()
                    .into_iter()
                    .find(|(n, _)| *n == label)
                    .map(|(_, rt)| rt)
                    .ok_or_else(|| rax_core::Error::arg("test", "the plugin went away"))?;
                let cfg = config();
                let p = MegalodonForCausalLM::init(&cfg, &PrngKey::new(0))?;
                let toks = random_tokens(256, 4, 255, 0)?;
                let c = cfg.clone();
                let f = rt.jit(move |(p, x): &(MegalodonForCausalLM, Tensor)| {
                    rax_core::value_and_grad(|p: &MegalodonForCausalLM| {
                        lm_loss(p, &c, x).unwrap_or_else(|e| {
                            rax_core::trace::apply_error(
                                e,
                                rax_core::AVal::scalar(rax_core::DType::F32),
                                rax_core::CallSite::here(),
                            )
                        })
                    })(p)
                });
                let (l, _g) = f.call(&(p, toks))?;
                Ok(l.to_f64_vec()?[0])
            };
            let _ = tx.send(run());
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(l)) => assert!(l.is_finite() && l > 0.0, "{name}: loss {l}"),
            Ok(Err(e)) => panic!("{name}: {e}"),
            Err(_) => panic!("{name}: the 4-layer gradient did not finish within 120 s (deadlock)"),
        }
    }
}
