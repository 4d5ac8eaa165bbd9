//! StableHLO text emission: `LowerCtx` hands out deterministic SSA names (`%0`, `%1`, ... in
//! emission order), prints ops in MLIR's generic form (`%3 = "stablehlo.add"(%1, %2) : ...`)
//! and nests regions; `lower_module` prints a whole `Graph` as `module { func.func @main }`.
//! Each primitive's own lowering lives with the primitive in `prim/`.
//!
//! Depends on `ir`, `literal`, `shape`; `prim::lower` is called for every node.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ir::{Graph, Value};
use crate::literal::{Data, Literal};
use crate::shape::AVal;
use std::fmt::Write;

/// A lowered SSA value: its textual name and its type.
#[derive(Clone, Debug)]
pub struct V {
    /// `%12`, `%arg0`, `%5#1`.
    pub name: String,
    /// Its type.
    pub aval: AVal,
}

impl V {
    /// The MLIR type.
    pub fn ty(&self) -> String {
        self.aval.mlir_type()
    }
}

/// Options of a lowered module.
#[derive(Clone, Debug, Default)]
pub struct ModuleOptions {
    /// The module's symbol name (`@name`); `rax` when empty.
    pub module_name: String,
    /// `(input index, output index)` pairs: the input buffer is donated to hold that output
    /// (`tf.aliasing_output` on the argument).
    pub aliases: Vec<(usize, usize)>,
    /// Inputs donated without a designated output (`jax.buffer_donor = true`).
    pub donors: Vec<usize>,
}

/// The text emitter.
pub struct LowerCtx {
    next: usize,
    bufs: Vec<String>,
    depth: usize,
}

impl Default for LowerCtx {
    fn default() -> Self {
        LowerCtx {
            next: 0,
            bufs: vec![String::new()],
            depth: 2,
        }
    }
}

/// Joins types as `(t1, t2)`.
fn tuple_ty(ts: &[String]) -> String {
    format!("({})", ts.join(", "))
}

/// Formats an i64 array attribute: `array<i64: 0, 1>`.
pub fn i64_array(v: &[usize]) -> String {
    if v.is_empty() {
        return "array<i64>".to_string();
    }
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("array<i64: {}>", parts.join(", "))
}

/// Formats a signed i64 array attribute.
pub fn i64_array_signed(v: &[i64]) -> String {
    if v.is_empty() {
        return "array<i64>".to_string();
    }
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("array<i64: {}>", parts.join(", "))
}

/// Formats a list of integers as `[0, 1]` (for dimension-number attributes).
pub fn int_list(v: &[usize]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl LowerCtx {
    fn line(&mut self, s: &str) {
        let indent = "  ".repeat(self.depth);
        if let Some(b) = self.bufs.last_mut() {
            b.push_str(&indent);
            b.push_str(s);
            b.push('\n');
        }
    }

    fn fresh(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        format!("%{n}")
    }

    /// Emits `results = "name"(operands) ({regions}) {attrs} : (types) -> types`.
    pub fn op_with_regions(
        &mut self,
        name: &str,
        operands: &[&V],
        regions: &[String],
        attrs: &str,
        results: &[AVal],
    ) -> Vec<V> {
        let base = self.fresh();
        let mut s = String::new();
        let outs: Vec<V> = match results.len() {
            0 => vec![],
            1 => vec![V {
                name: base.clone(),
                aval: results[0].clone(),
            }],
            n => (0..n)
                .map(|i| V {
                    name: format!("{base}#{i}"),
                    aval: results[i].clone(),
                })
                .collect(),
        };
        match results.len() {
            0 => {}
            1 => {
                let _ = write!(s, "{base} = ");
            }
            n => {
                let _ = write!(s, "{base}:{n} = ");
            }
        }
        let ops: Vec<&str> = operands.iter().map(|v| v.name.as_str()).collect();
        let _ = write!(s, "\"{name}\"({})", ops.join(", "));
        if !regions.is_empty() {
            let _ = write!(s, " ({})", regions.join(", "));
        }
        if !attrs.is_empty() {
            let _ = write!(s, " {{{attrs}}}");
        }
        let in_tys: Vec<String> = operands.iter().map(|v| v.ty()).collect();
        let out_tys: Vec<String> = results.iter().map(|a| a.mlir_type()).collect();
        let out = if out_tys.len() == 1 {
            out_tys[0].clone()
        } else {
            tuple_ty(&out_tys)
        };
        let _ = write!(s, " : {} -> {}", tuple_ty(&in_tys), out);
        self.line(&s);
        outs
    }

    /// Emits an op without regions.
    pub fn op(&mut self, name: &str, operands: &[&V], attrs: &str, results: &[AVal]) -> Vec<V> {
        self.op_with_regions(name, operands, &[], attrs, results)
    }

    /// Emits an op with exactly one result.
    pub fn op1(&mut self, name: &str, operands: &[&V], attrs: &str, result: AVal) -> V {
        let mut v = self.op(name, operands, attrs, &[result]);
        v.remove(0)
    }

    /// Emits `"stablehlo.return"` (or another terminator) of the values.
    pub fn ret(&mut self, terminator: &str, vals: &[&V]) {
        let names: Vec<&str> = vals.iter().map(|v| v.name.as_str()).collect();
        let tys: Vec<String> = vals.iter().map(|v| v.ty()).collect();
        self.line(&format!(
            "\"{terminator}\"({}) : {} -> ()",
            names.join(", "),
            tuple_ty(&tys)
        ));
    }

    /// Builds a region text `{ ^bb0(args): body; stablehlo.return }` whose body `f` emits ops
    /// and returns the values to yield.
    pub fn region<F>(&mut self, arg_avals: &[AVal], f: F) -> Result<String>
    where
        F: FnOnce(&mut LowerCtx, &[V]) -> Result<Vec<V>>,
    {
        let args: Vec<V> = arg_avals
            .iter()
            .map(|a| V {
                name: self.fresh(),
                aval: a.clone(),
            })
            .collect();
        self.bufs.push(String::new());
        self.depth += 1;
        let res = f(self, &args);
        let yielded = match res {
            Ok(v) => v,
            Err(e) => {
                self.depth -= 1;
                self.bufs.pop();
                return Err(e);
            }
        };
        let refs: Vec<&V> = yielded.iter().collect();
        self.ret("stablehlo.return", &refs);
        self.depth -= 1;
        let body = self.bufs.pop().unwrap_or_default();
        let sig: Vec<String> = args
            .iter()
            .map(|a| format!("{}: {}", a.name, a.ty()))
            .collect();
        let indent = "  ".repeat(self.depth);
        Ok(format!(
            "{{\n{indent}^bb0({}):\n{body}{indent}}}",
            sig.join(", ")
        ))
    }

    /// A region that runs a graph on its block arguments and yields the graph's outputs.
    pub fn graph_region(&mut self, g: &Graph) -> Result<String> {
        let in_avals = g.in_avals();
        self.region(&in_avals, |cx, args| cx.inline_graph(g, args))
    }

    /// Emits a graph's nodes inline with `args` bound to its inputs; returns its outputs.
    pub fn inline_graph(&mut self, g: &Graph, args: &[V]) -> Result<Vec<V>> {
        if args.len() != g.inputs.len() {
            return Err(Error::internal(format!(
                "graph takes {} inputs, lowering passed {}",
                g.inputs.len(),
                args.len()
            )));
        }
        let mut env: Vec<Option<V>> = vec![None; g.avals.len()];
        for (v, a) in g.inputs.iter().zip(args) {
            env[v.index()] = Some(a.clone());
        }
        let get = |env: &Vec<Option<V>>, v: Value| -> Result<V> {
            env[v.index()].clone().ok_or_else(|| {
                Error::internal(format!("lowering: value v{} used before definition", v.0))
            })
        };
        for node in &g.nodes {
            let ins: Vec<V> = node
                .inputs
                .iter()
                .map(|v| get(&env, *v))
                .collect::<Result<_>>()?;
            let out_avals: Vec<AVal> = node.outputs.iter().map(|v| g.aval(*v).clone()).collect();
            let outs = crate::prim::lower(&node.op, self, &ins, &out_avals)?;
            if outs.len() != node.outputs.len() {
                return Err(Error::internal(format!(
                    "lowering of {} gave {} results, expected {}",
                    crate::prim::op_name(&node.op),
                    outs.len(),
                    node.outputs.len()
                )));
            }
            for (v, o) in node.outputs.iter().zip(outs) {
                env[v.index()] = Some(o);
            }
        }
        g.outputs.iter().map(|v| get(&env, *v)).collect()
    }

    /// Emits a constant.
    pub fn constant(&mut self, lit: &Literal) -> V {
        let aval = lit.aval();
        let attr = format!("value = {} : {}", dense_attr(lit), aval.mlir_type());
        self.op1("stablehlo.constant", &[], &attr, aval)
    }

    /// Emits a scalar constant of a dtype broadcast to `aval`'s shape (splat).
    pub fn splat(&mut self, value: f64, aval: &AVal) -> V {
        let lit = Literal::full(&AVal::scalar(aval.dtype), value);
        let attr = format!("value = {} : {}", dense_attr(&lit), aval.mlir_type());
        self.op1("stablehlo.constant", &[], &attr, aval.clone())
    }
}

/// The `dense<...>` attribute of a literal: raw little-endian hex (exact for every float,
/// NaN payloads and -0.0), nested lists for bool and for empty arrays.
pub fn dense_attr(lit: &Literal) -> String {
    if lit.numel() == 0 {
        // `dense<>` is MLIR's empty elements attribute for any rank (`dense<[]>` is rank 1 only).
        return "dense<>".to_string();
    }
    if lit.dtype() == DType::Bool {
        return format!("dense<{}>", nested(lit));
    }
    let bytes = lit.to_bytes();
    // A single element's worth of bytes is a splat; use it when all elements are equal.
    let w = lit.dtype().size_bytes();
    let splat = bytes.chunks_exact(w).all(|c| c == &bytes[..w]);
    let data = if splat { &bytes[..w] } else { &bytes[..] };
    let mut s = String::with_capacity(data.len() * 2 + 12);
    s.push_str("dense<\"0x");
    for b in data {
        let _ = write!(s, "{b:02X}");
    }
    s.push_str("\">");
    s
}

fn nested(lit: &Literal) -> String {
    let dims = lit.dims().to_vec();
    let elems: Vec<String> = match lit.data() {
        Data::Bool(v) => v.iter().map(|b| b.to_string()).collect(),
        _ => lit.to_f64_vec().iter().map(|x| format!("{x:e}")).collect(),
    };
    if dims.is_empty() {
        return elems.first().cloned().unwrap_or_default();
    }
    fn rec(dims: &[usize], elems: &[String], pos: &mut usize) -> String {
        if dims.is_empty() {
            let e = elems.get(*pos).cloned().unwrap_or_default();
            *pos += 1;
            return e;
        }
        let parts: Vec<String> = (0..dims[0]).map(|_| rec(&dims[1..], elems, pos)).collect();
        format!("[{}]", parts.join(", "))
    }
    let mut pos = 0;
    rec(&dims, &elems, &mut pos)
}

/// Lowers a graph to a StableHLO module with one public `@main` function.
pub fn lower_module(g: &Graph, opts: &ModuleOptions) -> Result<String> {
    if crate::verify::ENABLED {
        g.verify()?;
    }
    let mut cx = LowerCtx::default();
    let args: Vec<V> = g
        .in_avals()
        .into_iter()
        .enumerate()
        .map(|(i, a)| V {
            name: format!("%arg{i}"),
            aval: a,
        })
        .collect();
    let outs = cx.inline_graph(g, &args)?;
    let refs: Vec<&V> = outs.iter().collect();
    cx.ret("func.return", &refs);
    let body = cx.bufs.pop().unwrap_or_default();
    let mut sig = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        let mut attrs = Vec::new();
        if let Some((_, o)) = opts.aliases.iter().find(|(inp, _)| *inp == i) {
            attrs.push(format!("tf.aliasing_output = {o} : i32"));
        } else if opts.donors.contains(&i) {
            attrs.push("jax.buffer_donor = true".to_string());
        }
        if attrs.is_empty() {
            sig.push(format!("{}: {}", a.name, a.ty()));
        } else {
            sig.push(format!("{}: {} {{{}}}", a.name, a.ty(), attrs.join(", ")));
        }
    }
    let out_tys: Vec<String> = outs.iter().map(|v| v.ty()).collect();
    let name = if opts.module_name.is_empty() {
        "rax"
    } else {
        opts.module_name.as_str()
    };
    let mut s = String::new();
    let _ = writeln!(s, "module @{name} attributes {{mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32}} {{");
    let _ = writeln!(
        s,
        "  func.func public @main({}) -> ({}) {{",
        sig.join(", "),
        out_tys.join(", ")
    );
    s.push_str(&body);
    s.push_str("  }\n}\n");
    Ok(s)
}
