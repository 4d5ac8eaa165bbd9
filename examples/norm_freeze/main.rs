//! The bf16 norm-freeze demonstration (the experiment is `rax_examples::norm_freeze`).
//!
//!     cargo run --release -p rax-examples --example norm_freeze -- --json [--steps 300] [--png norm_freeze.png]
//!
//! Prints `{"blanket_bf16": {...}, "policy": {...}}` with `norm_moved_frac`, `audit_flagged`
//! and `final_loss` per run, and writes a PNG chart of both loss curves (titled, with axes and a
//! legend: red blanket bf16, blue policy p=f32,c=bf16).
mod chart;
#[path = "../common/flags.rs"]
mod flags;
use flags::Flags;
use rax::prelude::*;
use rax_examples::norm_freeze::{run, RunResult, Setup};

fn main() -> Result<()> {
    let flags = Flags::from_env();
    let get = |flag: &str| flags.get(flag);
    let mut setup = Setup::default();
    if let Some(s) = get("--steps") {
        setup.steps = s
            .parse()
            .map_err(|e| Error::arg("--steps", format!("{e}")))?;
    }
    let png = get("--png").unwrap_or_else(|| "norm_freeze.png".to_string());
    let rt = Runtime::auto()?;
    let policy = Policy::parse("p=f32,c=bf16,a=f32,s=f32")?;
    let blanket = run(&rt, &setup, true, &policy)?;
    let pol = run(&rt, &setup, false, &policy)?;
    chart::loss_curves(
        &png,
        "norm freeze: AdamW lr 3e-4",
        &[
            ("blanket bf16", &blanket.losses[..]),
            ("policy p=f32,c=bf16", &pol.losses[..]),
        ],
    )?;
    let obj = |r: &RunResult| serde_json::json!({"norm_moved_frac": r.norm_moved_frac, "audit_flagged": r.audit_flagged, "final_loss": r.final_loss});
    let out = serde_json::json!({"blanket_bf16": obj(&blanket), "policy": obj(&pol)});
    if flags.has("--json") {
        println!("{out}");
    } else {
        eprintln!("backend: {}", rt.description());
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        eprintln!("loss curves written to {png}");
    }
    Ok(())
}
