//! The primitive catalogue: one entry per primitive with its StableHLO op, typing rule,
//! interpreter support and VJP support. `docs/ops.md` is generated from it (see the
//! `ops_doc_is_current` test) so coverage is visible.
//!
//! Each family contributes its entries from `families::<family>::catalogue()`.

/// VJP status of a primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vjp {
    /// A VJP rule exists and is tested.
    Yes,
    /// Not differentiable (integer/bool outputs, comparisons): gradients are zero / absent.
    NotDifferentiable,
    /// Differentiable in principle; no rule yet.
    Missing,
}

/// One catalogue entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// rax name.
    pub name: &'static str,
    /// The StableHLO/CHLO op(s) it lowers to.
    pub stablehlo: &'static str,
    /// The typing rule in one line.
    pub rule: std::borrow::Cow<'static, str>,
    /// The interpreter implements it.
    pub interp: bool,
    /// VJP status.
    pub vjp: Vjp,
}

/// All entries, by family.
pub fn all() -> Vec<(&'static str, Vec<Entry>)> {
    crate::families::catalogue()
}

/// Renders the catalogue as Markdown (the content of docs/ops.md).
pub fn markdown() -> String {
    let mut s = String::from(
        "# rax primitive catalogue\n\nGenerated from `xla_ops/src/catalogue.rs` by `cargo test -p xla-ops` \
         (set `RAX_BLESS=1` to rewrite). Conformance cases: `xla_ops/cases/<family>.json`.\n",
    );
    for (family, entries) in all() {
        s.push_str(&format!("\n## {family}\n\n| primitive | StableHLO | typing rule | interpreter | VJP |\n|---|---|---|---|---|\n"));
        for e in entries {
            let vjp = match e.vjp {
                Vjp::Yes => "yes",
                Vjp::NotDifferentiable => "n/a (zero)",
                Vjp::Missing => "missing",
            };
            s.push_str(&format!(
                "| `{}` | `{}` | {} | {} | {} |\n",
                e.name,
                e.stablehlo,
                e.rule,
                if e.interp { "yes" } else { "no" },
                vjp
            ));
        }
    }
    s
}
