//! The README's first program is `examples/train/main.rs` verbatim (so it keeps compiling and
//! running: the example fails unless its loss falls), and the README's test command is the one
//! `.ci/run` runs.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

#[test]
fn readme_program_is_the_train_example() {
    let readme = read("README.md");
    let start = readme.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = start + readme[start..].find("```").expect("closed block");
    let example = read("examples/train/main.rs");
    assert!(
        example.ends_with(&readme[start..end]),
        "README.md's first program and examples/train/main.rs (after its header) differ"
    );
}

#[test]
fn readme_test_command_is_the_ci_command() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let line = ci
        .lines()
        .find(|l| l.contains("# README test command"))
        .expect(".ci/run names the README test command");
    let cmd = line.split('#').next().unwrap_or("").trim();
    assert!(
        readme.contains(&format!("\n    {cmd}\n")),
        "README lacks `{cmd}`"
    );
}
