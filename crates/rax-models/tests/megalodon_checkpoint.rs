//! megalodon-jax native checkpoints in rax: the config's canonical JSON and fingerprint equal
//! megalodon-jax's bytes, save → load round-trips exactly, every integrity check (format,
//! fingerprint, manifest, keys, shapes, dtypes) is an error naming what is wrong, a bf16 policy
//! keeps the sensitive set f32 (audited by path), f16 is refused, and `family::load` gives a
//! working `CausalLm`.
mod mega_common;
use mega_common::*;
use rax_core::{DType, Literal, Policy};
use rax_models::megalodon::checkpoint::{self, manifest};
use rax_models::megalodon::{MegalodonConfig, MegalodonForCausalLM};
use std::collections::HashMap;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rax_megalodon_ckpt_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn metadata(path: &str) -> serde_json::Map<String, serde_json::Value> {
    rax_models::family::safetensors_metadata(std::path::Path::new(path)).unwrap()
}

#[test]
fn config_json_and_fingerprint_equal_megalodon_jax_bytes() {
    for name in ["tiny", "options"] {
        let md = metadata(&data(&format!("{name}.safetensors")));
        let cj = md["config_json"].as_str().unwrap();
        let cfg = MegalodonConfig::from_json(cj).unwrap();
        assert_eq!(cfg.canonical_json().unwrap(), cj, "{name}");
        assert_eq!(
            cfg.fingerprint().unwrap(),
            md["config_fingerprint"].as_str().unwrap()
        );
    }
    assert_eq!(
        rax_models::megalodon::sha256::hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(rax_models::megalodon::pyjson::float_repr(1e-5), "1e-05");
    assert_eq!(
        rax_models::megalodon::pyjson::float_repr(10000.0),
        "10000.0"
    );
    assert_eq!(rax_models::megalodon::pyjson::float_repr(1e16), "1e+16");
    assert_eq!(rax_models::megalodon::pyjson::float_repr(0.0001), "0.0001");
    assert_eq!(rax_models::megalodon::pyjson::float_repr(123.25), "123.25");
}

#[test]
fn save_then_load_round_trips_and_keeps_metadata() {
    let (cfg, p) = model("tiny");
    let path = tmp("tiny_roundtrip.safetensors");
    checkpoint::save(&cfg, &p, &path).unwrap();
    let back = checkpoint::load(&path, None).unwrap();
    assert_eq!(back.config, cfg);
    for ((pa, a), (pb, b)) in rax_core::tree::leaves_with_paths(&p)
        .iter()
        .zip(rax_core::tree::leaves_with_paths(&back.params).iter())
    {
        assert_eq!(pa, pb);
        assert_eq!(
            a.to_literal().unwrap().to_bytes(),
            b.to_literal().unwrap().to_bytes(),
            "{pa}"
        );
    }
    let (m0, m1) = (
        metadata(&data("tiny.safetensors")),
        metadata(path.to_str().unwrap()),
    );
    assert_eq!(m0, m1, "rax writes megalodon-jax's metadata byte for byte");
    assert!(checkpoint::save(&cfg, &p, tmp("x.bin")).is_err());
}

/// Writes `tensors` with `md` (manifest recomputed unless `keep_manifest`).
fn write(
    path: &std::path::Path,
    tensors: &[(String, Literal)],
    mut md: HashMap<String, String>,
    keep_manifest: bool,
) {
    if !keep_manifest {
        md.insert(
            "parameter_manifest_sha256".into(),
            manifest(
                tensors
                    .iter()
                    .map(|(n, l)| (n.as_str(), l.dims(), l.dtype())),
            ),
        );
    }
    let bufs: Vec<_> = tensors
        .iter()
        .map(|(n, l)| (n.clone(), l.dtype(), l.dims().to_vec(), l.to_bytes()))
        .collect();
    let views: Vec<_> = bufs
        .iter()
        .map(|(n, d, s, b)| {
            let dt = match d {
                DType::F32 => safetensors::Dtype::F32,
                DType::BF16 => safetensors::Dtype::BF16,
                _ => safetensors::Dtype::F64,
            };
            (
                n.clone(),
                safetensors::tensor::TensorView::new(dt, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, &Some(md), path).unwrap();
}

#[test]
fn integrity_errors_name_what_is_wrong() {
    let src = data("tiny.safetensors");
    let md0: HashMap<String, String> = metadata(&src)
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
        .collect();
    let tensors: Vec<(String, Literal)> = rax_nn::checkpoint::load(&src)
        .unwrap()
        .into_iter()
        .collect();
    let err = |tensors: &[(String, Literal)], md: HashMap<String, String>, keep: bool| {
        let p = tmp("bad.safetensors");
        write(&p, tensors, md, keep);
        checkpoint::load(&p, None).unwrap_err().to_string()
    };
    // Fingerprint.
    let mut md = md0.clone();
    md.insert("config_fingerprint".into(), "0".repeat(64));
    assert!(err(&tensors, md, false).contains("config fingerprint is invalid"));
    // Manifest.
    let mut md = md0.clone();
    md.insert("parameter_manifest_sha256".into(), "f".repeat(64));
    assert!(err(&tensors, md, true).contains("parameter manifest does not match"));
    // Format version.
    let mut md = md0.clone();
    md.insert("format_version".into(), "2".into());
    assert!(err(&tensors, md, false).contains("legacy"));
    // A missing and an unexpected tensor.
    let mut ts = tensors.clone();
    let removed = ts.remove(3).0;
    ts.push((
        "model.extra".into(),
        Literal::from_vec([2], vec![0f32; 2]).unwrap(),
    ));
    let e = err(&ts, md0.clone(), false);
    assert!(e.contains(&removed) && e.contains("model.extra"), "{e}");
    // Wrong shape, wrong dtype.
    let mut ts = tensors.clone();
    let i = ts
        .iter()
        .position(|(n, _)| n == "model.layers.0.attn.wz.weight")
        .unwrap();
    ts[i].1 = Literal::from_vec([16, 31], vec![0f32; 16 * 31]).unwrap();
    let e = err(&ts, md0.clone(), false);
    assert!(e.contains("model.layers.0.attn.wz.weight has shape"), "{e}");
    let mut ts = tensors.clone();
    let i = ts
        .iter()
        .position(|(n, _)| n == "model.layers.1.attn.cema.alpha")
        .unwrap();
    ts[i].1 = ts[i].1.convert(DType::BF16);
    let e = err(&ts, md0.clone(), false);
    assert!(
        e.contains("model.layers.1.attn.cema.alpha has dtype bfloat16, expected float32"),
        "{e}"
    );
    // Not a checkpoint at all.
    let p = tmp("junk.safetensors");
    std::fs::write(&p, b"junk").unwrap();
    assert!(checkpoint::load(&p, None).is_err());
}

#[test]
fn bf16_policy_keeps_the_sensitive_set_f32_and_f16_is_refused() {
    let pol = Policy::parse("p=bf16,c=bf16").unwrap();
    let l = checkpoint::load(data("tiny.safetensors"), Some(&pol)).unwrap();
    assert_eq!(l.config.param_dtype, "bfloat16");
    let sens: Vec<String> = rax_core::tree::leaves_with_info(&l.params)
        .into_iter()
        .filter(|(_, _, i)| i.sensitive)
        .map(|(p, t, _)| {
            assert_eq!(t.dtype(), DType::F32, "{p}");
            p
        })
        .collect();
    // megalodon-jax's sensitive set: 6 EMA tensors, Q/K gamma/beta, timenorm/rmsnorm/ffn norm
    // weights and biases per layer (no ffn.alpha here), final norm weight and bias.
    assert_eq!(sens.len(), 2 * (6 + 2 + 2 + 1 + 2) + 2, "{sens:?}");
    assert!(sens.contains(&"model.layers.0.attn.cema.theta".to_string()));
    assert!(!sens
        .iter()
        .any(|p| p.ends_with("wz.bias") || p.contains("embed")));
    assert_eq!(l.params.model.layers[0].attn.wz.weight.dtype(), DType::BF16);
    assert!(rax_core::precision::audit(&l.params).is_empty());
    // A tree whose sensitive leaves were narrowed is reported by path and repaired by ensure.
    let narrowed = rax_core::precision::cast_floating(&l.params, DType::BF16, true);
    let bad = rax_core::precision::audit(&narrowed);
    assert!(bad.iter().any(|(p, _)| p == "model.norm.weight"), "{bad:?}");
    assert!(rax_core::precision::audit(&rax_core::precision::ensure(&narrowed)).is_empty());
    // bf16 params, saved and reloaded: megalodon-jax's bf16 dtype policy tag.
    let path = tmp("tiny_bf16.safetensors");
    checkpoint::save(&l.config, &l.params, &path).unwrap();
    assert_eq!(
        metadata(path.to_str().unwrap())["dtype_policy"],
        "bf16-ordinary-params-fp32-sensitive"
    );
    let back = checkpoint::load(&path, None).unwrap();
    assert_eq!(back.params.model.embed.weight.dtype(), DType::BF16);
    // f16 without a loss scale: refused with the reason.
    let e = checkpoint::load(
        data("tiny.safetensors"),
        Some(&Policy::parse("c=f16").unwrap()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("loss scal"), "{e}");
}

#[test]
fn family_load_gives_a_causal_lm() {
    let lm =
        rax_models::family::load(std::path::Path::new(&data("tiny.safetensors")), None).unwrap();
    assert_eq!(lm.family(), "megalodon");
    assert_eq!(lm.vocab_size(), 64);
    let (_, p) = model("tiny");
    assert_eq!(lm.param_count(), MegalodonForCausalLM::param_count(&p));
    let g = golden("tiny");
    let rt = rax_runtime::Runtime::interpreter();
    let loss = lm.loss(&rt, &g["tokens"]).unwrap();
    let want = g["loss"].to_f64_vec()[0];
    assert!((loss - want).abs() / want < 2e-5, "{loss} vs {want}");
    let logits = lm.logits(&rt, &g["tokens"]).unwrap();
    assert!(rel_err(&logits.to_f64_vec(), &g["logits"].to_f64_vec()) < 2e-5);
    let bad = Literal::from_vec([1, 3], vec![1i32, 70, 2]).unwrap();
    assert!(lm
        .logits(&rt, &bad)
        .unwrap_err()
        .to_string()
        .contains("out-of-bounds"));
}
