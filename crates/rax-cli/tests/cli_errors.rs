//! The `rax` program's bad-input contract, independent of any model family: a bad path, a file
//! that is not a checkpoint, a token array of the wrong rank or dtype, bad sampling settings
//! and unknown or missing flags each end with a short error on stderr and a non-zero exit,
//! never a panic.
use ndarray::{ArrayD, IxDyn};
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli_errors");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write_i32(name: &str, shape: &[usize], v: Vec<i32>) -> PathBuf {
    let p = tmp(name);
    let a = ArrayD::from_shape_vec(IxDyn(shape), v).unwrap();
    ndarray_npy::write_npy(&p, &a).unwrap();
    p
}

/// Runs `rax args...` and returns (exit code, stderr); asserts the run failed cleanly.
fn fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rax"))
        .args(args)
        .env("RAX_BACKEND", "interpreter")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "rax {args:?} succeeded; stderr: {err}"
    );
    assert!(
        !err.contains("panicked") && out.status.code().is_some(),
        "rax {args:?} panicked or was killed: {:?}\n{err}",
        out.status
    );
    err
}

/// A failure whose message is one line naming `what`.
fn one_line_error(args: &[&str], what: &str) {
    let err = fails(args);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "rax {args:?}: expected one line, got:\n{err}"
    );
    assert!(lines[0].starts_with("rax: error: "), "{err}");
    assert!(
        err.contains(what),
        "rax {args:?}: {err:?} does not mention {what:?}"
    );
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_missing_checkpoint_is_a_one_line_error() {
    let toks = write_i32("ok_tokens.npy", &[1, 4], vec![1, 2, 3, 4]);
    let missing = tmp("no_such_checkpoint.safetensors");
    one_line_error(
        &["eval", "--checkpoint", s(&missing), "--tokens", s(&toks)],
        "no such file",
    );
    one_line_error(
        &[
            "generate",
            "--checkpoint",
            s(&missing),
            "--prompt",
            s(&toks),
            "--max-new-tokens",
            "2",
            "--out",
            s(&tmp("o.npy")),
        ],
        "no such file",
    );
}

#[test]
fn a_file_that_is_not_a_checkpoint_is_a_one_line_error() {
    let toks = write_i32("ok_tokens2.npy", &[1, 4], vec![1, 2, 3, 4]);
    let text = tmp("not_a_checkpoint.safetensors");
    std::fs::write(&text, "hello, I am not a checkpoint\n").unwrap();
    one_line_error(
        &["eval", "--checkpoint", s(&text), "--tokens", s(&toks)],
        "not a safetensors file",
    );
    // A directory without config.json.
    let dir = tmp("empty_dir");
    std::fs::create_dir_all(&dir).unwrap();
    one_line_error(
        &["eval", "--checkpoint", s(&dir), "--tokens", s(&toks)],
        "config.json",
    );
    // A valid safetensors file without megalodon-jax's metadata.
    let plain = tmp("plain.safetensors");
    let header = br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&1.0f32.to_le_bytes());
    std::fs::write(&plain, bytes).unwrap();
    one_line_error(
        &["eval", "--checkpoint", s(&plain), "--tokens", s(&toks)],
        "config_json",
    );
}

#[test]
fn bad_token_arrays_are_one_line_errors() {
    let ck = tmp("unused.safetensors");
    let rank1 = write_i32("rank1.npy", &[4], vec![1, 2, 3, 4]);
    one_line_error(
        &["eval", "--checkpoint", s(&ck), "--tokens", s(&rank1)],
        "rank 1",
    );
    let rank3 = write_i32("rank3.npy", &[1, 2, 2], vec![1, 2, 3, 4]);
    one_line_error(
        &["eval", "--checkpoint", s(&ck), "--tokens", s(&rank3)],
        "rank 3",
    );
    let short = write_i32("short.npy", &[2, 1], vec![1, 2]);
    one_line_error(
        &["eval", "--checkpoint", s(&ck), "--tokens", s(&short)],
        "at least one row and 2 tokens",
    );
    let f = tmp("floats.npy");
    ndarray_npy::write_npy(
        &f,
        &ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![1.0f32; 3]).unwrap(),
    )
    .unwrap();
    one_line_error(
        &["eval", "--checkpoint", s(&ck), "--tokens", s(&f)],
        "int32",
    );
    one_line_error(
        &[
            "generate",
            "--checkpoint",
            s(&ck),
            "--prompt",
            s(&rank1),
            "--max-new-tokens",
            "2",
            "--out",
            s(&tmp("o2.npy")),
        ],
        "rank 1",
    );
    let junk = tmp("junk.npy");
    std::fs::write(&junk, "not numpy").unwrap();
    one_line_error(
        &["eval", "--checkpoint", s(&ck), "--tokens", s(&junk)],
        "--tokens",
    );
}

#[test]
fn bad_sampling_settings_are_one_line_errors() {
    let ck = tmp("unused2.safetensors");
    let p = write_i32("prompt.npy", &[1, 2], vec![1, 2]);
    let out = tmp("o3.npy");
    let base = [
        "generate",
        "--checkpoint",
        s(&ck),
        "--prompt",
        s(&p),
        "--max-new-tokens",
        "2",
        "--out",
        s(&out),
    ];
    for (extra, what) in [
        (vec!["--temperature", "-1"], "--temperature"),
        (vec!["--temperature", "nan"], "--temperature"),
        (vec!["--top-p", "1.5"], "--top-p"),
        (vec!["--top-p", "0"], "--top-p"),
        (vec!["--top-k", "0"], "--top-k"),
    ] {
        let mut a: Vec<&str> = base.to_vec();
        a.extend(extra);
        one_line_error(&a, what);
    }
}

#[test]
fn bad_flags_fail_without_a_panic() {
    // Unknown flags, missing required flags, unparsable numbers, an unknown command, a plugin
    // that does not exist: clap's or rax's error, one line, non-zero exit.
    let toks = write_i32("ok_tokens3.npy", &[1, 4], vec![1, 2, 3, 4]);
    one_line_error(
        &["eval", "--checkpoint", "x", "--tokens", s(&toks), "--bogus"],
        "--bogus",
    );
    one_line_error(&["eval", "--checkpoint", "x"], "--tokens");
    one_line_error(
        &[
            "generate",
            "--checkpoint",
            "x",
            "--prompt",
            s(&toks),
            "--max-new-tokens",
            "many",
            "--out",
            "o.npy",
        ],
        "--max-new-tokens",
    );
    one_line_error(&["frobnicate"], "frobnicate");
    fails(&[]);
    let err = fails(&[
        "eval",
        "--checkpoint",
        "x",
        "--tokens",
        s(&toks),
        "--backend",
        "/no/such/plugin.so",
    ]);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn help_and_version_succeed() {
    for a in [
        &["--help"][..],
        &["--version"],
        &["eval", "--help"],
        &["generate", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rax"))
            .args(a)
            .output()
            .unwrap();
        assert!(out.status.success(), "rax {a:?}");
        assert!(!out.stdout.is_empty());
    }
}
