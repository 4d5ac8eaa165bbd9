//! HF checkpoint directories: single-file and sharded loading, HF → rax → HF bitwise, the MTP
//! layers skipped with a notice and carried through, name-by-name errors, refused config
//! fields. With RAX_DEEPSEEK_SAVE_DIR set, also leaves rax-saved copies there for the
//! generator's `--check` (transformers `from_pretrained` on a rax-saved directory).
mod ds_common;
use ds_common::data;
use rax_models::deepseek::checkpoint::{load_dir, read_dir_tensors, HfCheckpoint};
use rax_models::deepseek::config::DeepseekConfig;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rax_ds_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn assert_bitwise(a: &Path, b: &Path) {
    let (x, y) = (
        read_dir_tensors(a).expect("a"),
        read_dir_tensors(b).expect("b"),
    );
    assert_eq!(
        x.keys().collect::<Vec<_>>(),
        y.keys().collect::<Vec<_>>(),
        "same tensor names"
    );
    for (k, v) in &x {
        let w = &y[k];
        assert_eq!(v.dtype(), w.dtype(), "{k} dtype");
        assert_eq!(v.dims(), w.dims(), "{k} shape");
        assert!(v.to_bytes() == w.to_bytes(), "{k}: bytes differ");
    }
    let ca: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("config.json")).unwrap()).unwrap();
    let cb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(ca, cb, "config.json");
}

#[test]
fn round_trip_is_bitwise_single_and_sharded() {
    for (dir, shard) in [("v3_single", None), ("v2_sharded", Some(40_000usize))] {
        let src = data().join(dir);
        let ck: HfCheckpoint = load_dir(&src).expect("load");
        let out = tmp(dir);
        ck.save(&out, shard).expect("save");
        if shard.is_some() {
            assert!(
                out.join("model.safetensors.index.json").exists(),
                "sharded save writes an index"
            );
        }
        assert_bitwise(&src, &out);
        if let Ok(keep) = std::env::var("RAX_DEEPSEEK_SAVE_DIR") {
            let k = Path::new(&keep).join(dir);
            ck.save(&k, shard).expect("save copy");
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn mtp_layers_are_skipped_with_a_notice_and_kept() {
    let ck = load_dir(&data().join("v3_single")).expect("load");
    assert_eq!(ck.extras.len(), 4, "{:?}", ck.extras.keys());
    assert!(
        ck.notices
            .iter()
            .any(|n| n.contains("multi-token-prediction")),
        "{:?}",
        ck.notices
    );
    // The router, norms and correction bias are f32 in rax (V2's are bf16 on disk).
    let v2 = load_dir(&data().join("v2_sharded")).expect("load v2");
    let moe = v2.params.layers[1].moe.as_ref().expect("moe layer");
    assert_eq!(moe.router.0.dtype(), rax_core::DType::F32);
    assert_eq!(
        v2.disk_dtypes["model.layers.1.mlp.gate.weight"],
        rax_core::DType::BF16
    );
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

#[test]
fn missing_extra_and_misshaped_tensors_are_named() {
    use rax_models::deepseek::checkpoint::{from_tensors, read_safetensors};
    let src = data().join("v3_single");
    let cfg = DeepseekConfig::from_dir(&src).unwrap();
    let base = read_safetensors(&src.join("model.safetensors")).unwrap();
    let mut m = base.clone();
    m.remove("model.layers.2.self_attn.kv_b_proj.weight");
    let e = from_tensors(cfg.clone(), m).unwrap_err().to_string();
    assert!(
        e.contains("missing tensor `model.layers.2.self_attn.kv_b_proj.weight`"),
        "{e}"
    );
    let mut m = base.clone();
    m.insert(
        "model.layers.0.mlp.bogus.weight".into(),
        base["model.norm.weight"].clone(),
    );
    let e = from_tensors(cfg.clone(), m).unwrap_err().to_string();
    assert!(
        e.contains("unexpected tensor `model.layers.0.mlp.bogus.weight`"),
        "{e}"
    );
    let mut m = base.clone();
    m.insert(
        "model.layers.1.mlp.gate.weight".into(),
        base["model.norm.weight"].clone(),
    );
    let e = from_tensors(cfg, m).unwrap_err().to_string();
    assert!(
        e.contains("`model.layers.1.mlp.gate.weight`: stored shape [32]"),
        "{e}"
    );
}

#[test]
fn unknown_and_unsupported_config_fields_are_refused_by_name() {
    let text = std::fs::read_to_string(data().join("v3_single/config.json")).unwrap();
    let base: serde_json::Value = serde_json::from_str(&text).unwrap();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().insert(k.into(), v);
        DeepseekConfig::from_json(&c)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(with("sliding_window", 128.into()).contains("`sliding_window`"));
    assert!(with("hidden_act", "gelu".into()).contains("`hidden_act`"));
    assert!(with("attention_bias", true.into()).contains("`attention_bias`"));
    assert!(with("num_key_value_heads", 2.into()).contains("`num_key_value_heads`"));
    assert!(with("topk_group", 5.into()).contains("`n_group`"));
    assert!(
        with("mlp_bias", false.into()).contains("`mlp_bias`"),
        "a V2 field in a V3 config"
    );
    let mut c = base.clone();
    c["rope_parameters"]["rope_type"] = "longrope".into();
    let e = DeepseekConfig::from_json(&c).unwrap_err().to_string();
    assert!(e.contains("rope_parameters.rope_type"), "{e}");
    // Defaults are transformers': a config without routing fields gets V3's.
    let mut c = base.clone();
    for k in ["routed_scaling_factor", "norm_topk_prob", "rope_interleave"] {
        c.as_object_mut().unwrap().remove(k);
    }
    let cfg = DeepseekConfig::from_json(&c).unwrap();
    assert_eq!(
        (
            cfg.routed_scaling_factor,
            cfg.norm_topk_prob,
            cfg.rope_interleave
        ),
        (2.5, true, true)
    );
    // A broken copy of the directory: the error names the file.
    let d = tmp("broken");
    copy_dir(&data().join("v2_sharded"), &d);
    std::fs::remove_file(d.join("model-00002-of-00002.safetensors")).unwrap();
    assert!(load_dir(&d).is_err());
    let _ = std::fs::remove_dir_all(&d);
}
