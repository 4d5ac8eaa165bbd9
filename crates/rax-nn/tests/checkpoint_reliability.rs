//! Checkpoint reliability (docs/reliability.md): corrupt or hostile headers are errors naming
//! the tensor, its offsets and the cause; `load_into` refuses any conversion that changes
//! values; saving over an existing file survives SIGKILL at any moment (the old or the new
//! version is intact).

use rax_core::{DType, Literal, Tensor};
use rax_nn::checkpoint;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rax_ckpt_rel_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file with a hand-written header and `data` bytes.
fn raw(path: &Path, header: &str, data: &[u8]) {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

fn tree(v: f32, n: usize) -> BTreeMap<String, Tensor> {
    let mut m = BTreeMap::new();
    m.insert("a.w".to_string(), Tensor::full(&[n], v as f64, DType::F32));
    m.insert("b".to_string(), Tensor::full(&[4], v as f64, DType::F32));
    m
}

#[test]
fn corrupt_headers_name_the_tensor_offsets_and_cause() {
    let d = scratch("hdr");
    let p = d.join("x.safetensors");
    checkpoint::save(&tree(1.0, 1000), &p).unwrap();
    // Truncated: the data of `a.w` (4000 bytes) is cut off.
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..full.len() - 100]).unwrap();
    let e = checkpoint::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("`") && e.contains("data_offsets") && e.contains("truncated"),
        "{e}"
    );
    // Shorter than the length field, and a length field longer than the file.
    std::fs::write(&p, [1u8, 2, 3]).unwrap();
    let e = checkpoint::load(&p).unwrap_err().to_string();
    assert!(e.contains("3 bytes") && e.contains("header length"), "{e}");
    std::fs::write(&p, 1000u64.to_le_bytes()).unwrap();
    let e = checkpoint::load(&p).unwrap_err().to_string();
    assert!(e.contains("says 1000 bytes but only 0"), "{e}");
    // A shape whose size overflows: an error, not a panic or a wrapped size.
    raw(
        &p,
        r#"{"t":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]}}"#,
        &[],
    );
    let e = checkpoint::load(&p).unwrap_err().to_string();
    assert!(e.contains("tensor `t`") && e.contains("2^63"), "{e}");
    // Offsets that do not match the shape.
    raw(
        &p,
        r#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
        &[0; 8],
    );
    let e = checkpoint::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("tensor `t`") && e.contains("needs 12 bytes") && e.contains("[0, 8]"),
        "{e}"
    );
    // An unknown dtype and invalid JSON.
    raw(
        &p,
        r#"{"t":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}"#,
        &[0],
    );
    let e = checkpoint::load(&p).unwrap_err().to_string();
    assert!(e.contains("tensor `t`") && e.contains("dtype"), "{e}");
    raw(&p, "{not json", &[]);
    let e = checkpoint::load(&p).unwrap_err().to_string();
    assert!(e.contains("JSON header is invalid"), "{e}");
    // A zero dimension next to huge ones is a valid empty tensor.
    raw(
        &p,
        r#"{"t":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}"#,
        &[],
    );
    let m = checkpoint::load(&p).unwrap();
    assert_eq!(m["t"].numel(), 0);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn load_into_refuses_conversions_that_change_values() {
    let mut ck = BTreeMap::new();
    ck.insert(
        "w".to_string(),
        Literal::from_vec([2], vec![0.5f32, 2.0]).unwrap(),
    );
    for to in [DType::I32, DType::Bool, DType::BF16, DType::U8] {
        let mut t = BTreeMap::new();
        t.insert("w".to_string(), Tensor::zeros(&[2], to));
        let e = checkpoint::load_into(&t, &ck).unwrap_err().to_string();
        assert!(e.contains("`w`") && e.contains("would narrow"), "{to}: {e}");
    }
    // Widening is exact and allowed.
    let mut t = BTreeMap::new();
    t.insert("w".to_string(), Tensor::zeros(&[2], DType::F64));
    let r = checkpoint::load_into(&t, &ck).unwrap();
    assert_eq!(r["w"].to_vec::<f64>().unwrap(), vec![0.5, 2.0]);
    let mut ck = BTreeMap::new();
    ck.insert(
        "w".to_string(),
        Literal::from_vec([1], vec![1i64 << 40]).unwrap(),
    );
    let mut t = BTreeMap::new();
    t.insert("w".to_string(), Tensor::zeros(&[1], DType::F32));
    assert!(checkpoint::load_into(&t, &ck).is_err());
}

const CHILD_ENV: &str = "RAX_CKPT_SIGKILL_TARGET";

/// The helper process of `save_survives_sigkill`: saves versions 1, 2, 3, ... over one file
/// until it is killed.
#[test]
#[ignore = "helper process, run by save_survives_sigkill"]
fn child_saves_forever() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut v = 1.0f32;
    loop {
        checkpoint::save(&tree(v, 1 << 21), Path::new(&path)).unwrap();
        v += 1.0;
    }
}

#[test]
fn save_survives_sigkill() {
    let d = scratch("kill");
    let path = d.join("ckpt.safetensors");
    // An existing version 0 (8 MiB).
    checkpoint::save(&tree(0.0, 1 << 21), &path).unwrap();
    let exe = std::env::current_exe().unwrap();
    for delay_ms in [30u64, 75, 120, 180, 260, 350] {
        let mut child = std::process::Command::new(&exe)
            .args(["--ignored", "--exact", "child_saves_forever", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever moment the kill hit, the file is one complete version.
        let m = checkpoint::load(&path)
            .unwrap_or_else(|e| panic!("after SIGKILL at {delay_ms} ms: {e}"));
        let w = m["a.w"].to_f64_vec();
        let b = m["b"].to_f64_vec();
        assert_eq!(w.len(), 1 << 21);
        let v = w[0];
        assert!(
            w.iter().chain(&b).all(|&x| x == v),
            "mixed versions after {delay_ms} ms"
        );
    }
    // The temporaries of killed saves are the only leftovers; the next save replaces the file.
    checkpoint::save(&tree(9.0, 4), &path).unwrap();
    assert_eq!(
        checkpoint::load(&path).unwrap()["b"].to_f64_vec(),
        vec![9.0; 4]
    );
    let _ = std::fs::remove_dir_all(&d);
}
