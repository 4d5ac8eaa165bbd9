//! 10,000 executions (plus periodic uploads/downloads) must keep RSS flat
//! after warm-up. Own test binary so nothing else runs in the process.
mod common;

use common::*;

/// Resident set size in bytes from `/proc/self/statm` (pages * 4 KiB).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn run(client: &rax_pjrt::Client, exe: &rax_pjrt::Executable, iters: usize) {
    let mut x = upload_f32(client, &[0.0; 8], &[8]);
    for i in 0..iters {
        let mut out = exe.execute(&[&x], &[]).expect("execute");
        x = out.remove(0);
        if i % 10 == 0 {
            let host = x.to_host().expect("to_host");
            let fresh = upload_f32(client, &bytes_f32(&host), &[8]);
            x = fresh;
        }
    }
    let host = bytes_f32(&x.to_host().expect("to_host"));
    assert_eq!(host[0], iters as f32);
}

#[test]
fn ten_thousand_executions_keep_rss_flat() {
    let Some(_) = rss_bytes() else {
        eprintln!("SKIP: /proc/self/statm unavailable");
        return;
    };
    // RAX_PJRT_LEAK_ITERS shrinks the run for valgrind (default 10,000).
    let iters: usize = std::env::var("RAX_PJRT_LEAK_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    for (label, _plugin, client) in clients() {
        let exe = compile(label, &client, ADD_ONE);
        run(&client, &exe, (iters / 5).max(1)); // warm-up: pools, thread stacks
        let before = rss_bytes().unwrap_or(0);
        run(&client, &exe, iters);
        let after = rss_bytes().unwrap_or(0);
        let growth = after.saturating_sub(before);
        eprintln!(
            "{label}: RSS before {} KiB, after {} KiB, growth {} KiB over {iters} executions",
            before / 1024,
            after / 1024,
            growth / 1024
        );
        // 10,000 leaked 32-byte buffers alone would be >= 320 KiB with
        // headers; allow 1 MiB of allocator noise.
        // Under valgrind RSS is the tool's, not ours: report only.
        let under_valgrind = std::env::var("LD_PRELOAD").is_ok_and(|v| v.contains("vgpreload"));
        if !under_valgrind {
            assert!(growth < 1 << 20, "{label}: RSS grew by {growth} bytes");
        }
    }
}
