//! The README's first program is `examples/readme.rs` verbatim (so it keeps compiling), and the
//! README's test command is the one `.ci/run` runs.

#[test]
fn readme_program_is_the_readme_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = start + readme[start..].find("```").expect("closed block");
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/readme.rs"),
    )
    .unwrap();
    assert!(
        example.ends_with(&readme[start..end]),
        "README.md's first program and crates/rax-runtime/examples/readme.rs differ"
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
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
