//! `rax train` resumes bit for bit: a run killed with SIGKILL mid-run and continued with
//! `--resume` logs exactly the losses of an uninterrupted run; checkpoints of another config
//! and corrupt checkpoint files are refused with the reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rax() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rax"))
}

fn smoke() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs/smoke.toml")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rax_train_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The (step, loss text) pairs of a run's metrics, the loss exactly as written.
fn losses(dir: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let loss = l
                .split("\"loss\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .to_string();
            (v["step"].as_u64().unwrap(), loss)
        })
        .collect()
}

fn run_ok(args: &[&str]) -> serde_json::Value {
    let out = rax().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rax {args:?} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn sigkill_mid_run_then_resume_logs_the_uninterrupted_losses() {
    let cfg = smoke();
    let cfg = cfg.to_str().unwrap();
    let (full, killed) = (tmp("full"), tmp("killed"));
    let steps = "36";
    let s = run_ok(&[
        "train",
        "--config",
        cfg,
        "--out",
        full.to_str().unwrap(),
        "--steps",
        steps,
        "--checkpoint-every",
        "4",
        "--json",
    ]);
    assert_eq!(s["steps"], 36);
    let want = losses(&full);
    assert_eq!(want.len(), 36);

    let mut child = rax()
        .args([
            "train",
            "--config",
            cfg,
            "--out",
            killed.to_str().unwrap(),
            "--steps",
            steps,
            "--checkpoint-every",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once more than two checkpoints' worth of steps are logged (the kill can land
    // inside a checkpoint save: that partial save must be cleaned up on resume).
    let t0 = Instant::now();
    loop {
        let n = std::fs::read_to_string(killed.join("metrics.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= 10 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the run did not get going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(
        !killed.join("summary.json").exists(),
        "the run finished before the kill"
    );
    let logged = losses(&killed).len();
    assert!(logged < 36, "killed at {logged} steps");

    let s = run_ok(&["train", "--resume", killed.to_str().unwrap(), "--json"]);
    assert!(s["resumed_from"].as_u64().unwrap() >= 4, "{s}");
    assert_eq!(s["steps"], 36);
    let got = losses(&killed);
    assert_eq!(
        got, want,
        "resumed losses differ from the uninterrupted run"
    );
    assert_eq!(s["final_loss"], run_summary(&full)["final_loss"]);
    eprintln!(
        "killed after {logged} logged steps, resumed from step {}, 36 losses identical",
        s["resumed_from"]
    );
    let _ = std::fs::remove_dir_all(&full);
    let _ = std::fs::remove_dir_all(&killed);
}

fn run_summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn run_err(args: &[&str]) -> String {
    let out = rax().args(args).output().unwrap();
    assert!(!out.status.success(), "rax {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn other_config_and_corrupt_checkpoints_are_refused_with_the_reason() {
    let dir = tmp("refuse");
    let d = dir.to_str().unwrap();
    let cfg = smoke();
    run_ok(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        d,
        "--steps",
        "6",
        "--checkpoint-every",
        "3",
        "--json",
    ]);
    // Another config into the same directory.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("seed = 0", "seed = 1");
    let other = dir.join("other.toml");
    std::fs::write(
        &other,
        text.replace(
            "../data/corpus",
            cfg.parent()
                .unwrap()
                .join("../data/corpus")
                .to_str()
                .unwrap(),
        ),
    )
    .unwrap();
    let e = run_err(&["train", "--config", other.to_str().unwrap(), "--out", d]);
    assert!(
        e.contains("different config") && e.contains("seed (0 vs 1)"),
        "{e}"
    );
    // The saved config edited behind the checkpoint's back.
    let saved = dir.join("config.toml");
    let orig = std::fs::read_to_string(&saved).unwrap();
    std::fs::write(&saved, orig.replace("width = 32", "width = 64")).unwrap();
    let e = run_err(&["train", "--resume", d, "--steps", "9"]);
    assert!(
        e.contains("written by a different config") && e.contains("width"),
        "{e}"
    );
    std::fs::write(&saved, &orig).unwrap();
    // A flipped byte in the newest checkpoint's parameters.
    let ck = dir.join("checkpoints/step_00000006/params.safetensors");
    let mut b = std::fs::read(&ck).unwrap();
    let n = b.len();
    b[n - 3] ^= 0x40;
    std::fs::write(&ck, b).unwrap();
    let e = run_err(&["train", "--resume", d, "--steps", "9"]);
    assert!(
        e.contains("corrupt") && e.contains("params.safetensors"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
