//! `jit`: trace a function over pytrees once per signature, compile it on the runtime's
//! backend, cache the executable, and run it on concrete (host or device) arguments.
//!
//! A signature is the input tree's structure string (node kinds, lengths, field names and
//! static fields) plus each leaf's shape and dtype. The call path does no tracing and no
//! lowering once a signature is cached: it writes the structure into a reused buffer, hashes
//! it with the leaves' types (no allocation), finds the executable, and hands the leaves'
//! arrays to the backend. Results come back as device-backed `Tensor`s in the output tree;
//! `.to_literal()` fetches them.
//!
//! Donation: [`Jit::donate`] (by leaf path) or [`Jit::donate_args`] (whole top-level tuple
//! elements) marks inputs whose buffers the program may overwrite. Each donated leaf aliases
//! the first not yet aliased output leaf of the same type (`tf.aliasing_output`), so updated
//! parameters are written in place; the others become `jax.buffer_donor`s. A donated device
//! buffer is consumed by the call: passing it again is an error naming its leaf path.
//!
//! Called with traced arguments (inside another trace), a jitted function is inlined.
//!
//! Depends on `runtime`, `backend` and rax-core's tracer and pytrees.

use crate::backend::{is_donated, Donation, Executable};
use crate::runtime::Runtime;
use rax_core::lower::lower_module;
use rax_core::tree::{flatten, leaf_paths, unflatten};
use rax_core::{AVal, Array, Error, Result, Tensor, Tree, TreeResult};
use std::cell::{Cell, RefCell};
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

type DonatePred = Box<dyn Fn(&str) -> bool>;

/// A function [`Jit`] can trace: any `Fn(&In) -> R` whose `R` is a tree (`|x| x + 1.0`) or a
/// `Result` of one (`|p| { let (l, g) = value_and_grad(loss)(p)?; Ok((l, g)) }`, for bodies
/// that use fallible transforms with `?`); a returned error is the call's error.
pub trait TraceFn<In, Out> {
    /// Runs the function on traced (or, when inlined, concrete) inputs.
    fn run(&self, x: &In) -> Result<Out>;
}

impl<In, R, F> TraceFn<In, R::Tree> for F
where
    F: Fn(&In) -> R,
    R: TreeResult,
{
    fn run(&self, x: &In) -> Result<R::Tree> {
        (self)(x).into_result()
    }
}

/// A jitted function (see the module docs). Not `Send`: tensors are thread-local values.
pub struct Jit<In, Out, F> {
    rt: Runtime,
    f: F,
    donate: Option<DonatePred>,
    state: RefCell<State<Out>>,
    compiles: Cell<usize>,
    /// True while the user's function runs (tracing on a cache miss, or inlined into an outer
    /// trace): a call from inside it is recursion, which tracing cannot unroll.
    in_f: Cell<bool>,
    _in: PhantomData<fn(&In)>,
}

/// Resets [`Jit::in_f`] however the user's function returns.
struct InF<'a>(&'a Cell<bool>);

impl Drop for InF<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

struct State<Out> {
    entries: Vec<Entry<Out>>,
    /// Scratch buffers reused by every call (cleared after use, so no array is kept alive).
    structure: String,
    path: Vec<String>,
    args: Vec<Array>,
    outs: Vec<Array>,
}

struct Entry<Out> {
    hash: u64,
    structure: String,
    avals: Vec<AVal>,
    exe: Arc<dyn Executable>,
    template: Out,
    /// The traced graph, kept only in `debug_nans` mode to re-run op by op on the interpreter.
    graph: Option<Arc<rax_core::Graph>>,
}

/// FNV-1a: tiny inputs, no allocation, deterministic.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn signature_hash(structure: &str, args: &[Array]) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(structure.as_bytes());
    for a in args {
        match a {
            Array::Host(l) => {
                l.dtype().hash(&mut h);
                l.dims().hash(&mut h);
            }
            Array::Device(d) => {
                let v = d.aval();
                v.dtype.hash(&mut h);
                v.dims().hash(&mut h);
            }
        }
    }
    h.finish()
}

fn same_avals(avals: &[AVal], args: &[Array]) -> bool {
    avals.len() == args.len()
        && avals.iter().zip(args).all(|(v, a)| match a {
            Array::Host(l) => l.dtype() == v.dtype && l.shape() == &v.shape,
            Array::Device(d) => d.aval() == v,
        })
}

enum Leaves {
    Concrete(Vec<Array>),
    Traced,
    Error(Error),
}

impl<In, Out, F> Jit<In, Out, F>
where
    In: Tree,
    Out: Tree,
    F: TraceFn<In, Out>,
{
    pub(crate) fn new(rt: Runtime, f: F) -> Self {
        Jit {
            rt,
            f,
            donate: None,
            state: RefCell::new(State {
                entries: Vec::new(),
                structure: String::new(),
                path: Vec::new(),
                args: Vec::new(),
                outs: Vec::new(),
            }),
            compiles: Cell::new(0),
            in_f: Cell::new(false),
            _in: PhantomData,
        }
    }

    /// Donates the input leaves whose dotted path (`0.layers.1.w`; `""` for a lone tensor)
    /// satisfies `pred`. Clears the executable cache.
    pub fn donate(mut self, pred: impl Fn(&str) -> bool + 'static) -> Self {
        self.donate = Some(Box::new(pred));
        self.state.get_mut().entries.clear();
        self
    }

    /// Donates every leaf of the given top-level tuple elements (`donate_args(&[0])` for the
    /// `params` of `|(params, batch)| ...`). For a function of one tensor, `&[0]` donates it.
    pub fn donate_args(self, indices: &[usize]) -> Self {
        let idx: Vec<String> = indices.iter().map(|i| i.to_string()).collect();
        let whole = indices.contains(&0);
        self.donate(move |path| {
            if path.is_empty() {
                return whole;
            }
            let first = path.split('.').next().unwrap_or("");
            idx.iter().any(|i| i == first)
        })
    }

    /// The runtime this function runs on.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// How many times the function was traced and compiled (once per signature).
    pub fn compile_count(&self) -> usize {
        self.compiles.get()
    }

    /// The StableHLO module for `x`'s signature (traced and lowered, not compiled), with the
    /// donation attributes the compiled program has.
    pub fn stablehlo(&self, x: &In) -> Result<String> {
        let args = self.concrete_leaves(x, "stablehlo")?;
        let avals: Vec<AVal> = args.iter().map(|a| a.aval()).collect();
        let (graph, _, donation) = self.trace(x, &avals)?;
        lower_module(&graph, &self.rt.backend().module_options(&donation))
    }

    /// The leaves' arrays of concrete example arguments (`method` names the caller in the error
    /// for traced ones).
    fn concrete_leaves(&self, x: &In, method: &str) -> Result<Vec<Array>> {
        match self.leaves(x) {
            Leaves::Concrete(a) => Ok(a),
            Leaves::Error(e) => Err(e),
            Leaves::Traced => Err(Error::arg(
                "jit",
                format!("{method}() needs concrete example arguments, not traced ones"),
            )),
        }
    }

    fn leaves(&self, x: &In) -> Leaves {
        let mut args = Vec::new();
        let mut traced = false;
        let mut error = None;
        let mut path = match self.state.try_borrow_mut() {
            Ok(mut s) => std::mem::take(&mut s.path),
            Err(_) => Vec::new(),
        };
        x.for_each_leaf(&mut path, &mut |_, t| match t.array() {
            Some(a) => args.push(a.clone()),
            None if t.is_traced() => traced = true,
            None => {
                if error.is_none() {
                    error = t.check().err();
                }
            }
        });
        if let Ok(mut s) = self.state.try_borrow_mut() {
            path.clear();
            s.path = path;
        }
        match (error, traced) {
            (Some(e), _) => Leaves::Error(e),
            (None, true) => Leaves::Traced,
            (None, false) => Leaves::Concrete(args),
        }
    }

    /// Runs the user's function, refusing re-entry (a jitted function that calls itself
    /// would trace forever and overflow the stack).
    fn run_f(&self, x: &In) -> Result<Out> {
        if self.in_f.get() {
            return Err(Error::arg(
                "jit",
                "a jitted function called itself (directly or through other functions); \
                 tracing cannot unroll recursion, use while_loop/scan for iteration",
            ));
        }
        self.in_f.set(true);
        let _reset = InF(&self.in_f);
        self.f.run(x)
    }

    /// Runs the function: compiled once per signature, then dispatched straight to the backend.
    pub fn call(&self, x: &In) -> Result<Out> {
        let mut guard = self
            .state
            .try_borrow_mut()
            .map_err(|_| Error::arg("jit", "a jitted function called itself while running"))?;
        let st = &mut *guard;
        // Gather the leaves' arrays into the reused argument buffer.
        let (mut traced, mut error) = (false, None);
        {
            let State { args, path, .. } = st;
            args.clear();
            x.for_each_leaf(path, &mut |_, t| match t.array() {
                Some(a) => args.push(a.clone()),
                None if t.is_traced() => traced = true,
                None => {
                    if error.is_none() {
                        error = t.check().err();
                    }
                }
            });
            path.clear();
        }
        if let Some(e) = error {
            st.args.clear();
            return Err(e);
        }
        if traced {
            st.args.clear();
            drop(guard);
            return self.run_f(x);
        }
        if let Some(i) = st.args.iter().position(is_donated) {
            st.args.clear();
            drop(guard);
            let path = leaf_paths(x).get(i).cloned().unwrap_or_default();
            return Err(crate::backend::donated_error(
                &self.rt.info().name,
                &format!("input leaf `{path}` (leaf {i})"),
            ));
        }
        st.structure.clear();
        x.write_structure(&mut st.structure);
        let hash = signature_hash(&st.structure, &st.args);
        {
            let State {
                entries,
                structure,
                args,
                outs,
                ..
            } = st;
            let found = entries.iter().find(|e| {
                e.hash == hash && &e.structure == structure && same_avals(&e.avals, args)
            });
            if let Some(e) = found {
                let r = run(e, args, outs);
                args.clear();
                return r;
            }
        }
        // Cache miss: trace, lower and compile without holding the state (f may call jits).
        let args = std::mem::take(&mut st.args);
        let structure = st.structure.clone();
        drop(guard);
        self.compile_entry(x, hash, structure, &args)?;
        let mut guard = self
            .state
            .try_borrow_mut()
            .map_err(|_| Error::arg("jit", "a jitted function called itself while compiling"))?;
        let st = &mut *guard;
        match st.entries.last() {
            Some(e) => run(e, &args, &mut st.outs),
            None => Err(Error::arg("jit", "cache insert failed")),
        }
    }

    /// Ahead of time: traces, lowers and compiles the function for `x`'s signature and caches
    /// the executable without running it (as `jax.jit(f).lower(x).compile()`), so the first
    /// `call` with that signature only runs. Returns `false` if it was already compiled.
    /// Nothing is consumed: donated arguments stay valid.
    pub fn compile(&self, x: &In) -> Result<bool> {
        let args = self.concrete_leaves(x, "compile")?;
        let mut structure = String::new();
        x.write_structure(&mut structure);
        let hash = signature_hash(&structure, &args);
        {
            let st = self
                .state
                .try_borrow()
                .map_err(|_| Error::arg("jit", "compile() called while the function runs"))?;
            let cached = st
                .entries
                .iter()
                .any(|e| e.hash == hash && e.structure == structure && same_avals(&e.avals, &args));
            if cached {
                return Ok(false);
            }
        }
        self.compile_entry(x, hash, structure, &args)?;
        Ok(true)
    }

    /// Traces, lowers and compiles for `args`' signature and appends the cache entry.
    fn compile_entry(&self, x: &In, hash: u64, structure: String, args: &[Array]) -> Result<()> {
        let avals: Vec<AVal> = args.iter().map(|a| a.aval()).collect();
        let (graph, template, donation) = self.trace(x, &avals)?;
        let exe = self.rt.backend().compile(&graph, &donation)?;
        let graph = rax_core::debug_nans::enabled().then(|| Arc::new(graph));
        self.compiles.set(self.compiles.get() + 1);
        let mut st = self
            .state
            .try_borrow_mut()
            .map_err(|_| Error::arg("jit", "a jitted function called itself while compiling"))?;
        st.entries.push(Entry {
            hash,
            structure,
            avals,
            exe,
            template,
            graph,
        });
        Ok(())
    }

    fn trace(&self, x: &In, avals: &[AVal]) -> Result<(rax_core::Graph, Out, Donation)> {
        let mut template = None;
        let mut build_err = None;
        let traced = rax_core::trace(avals, |xs| match unflatten(x, xs.to_vec()) {
            Ok(inp) => match self.run_f(&inp) {
                Ok(out) => {
                    let leaves = flatten(&out);
                    template = Some(out);
                    leaves
                }
                Err(e) => {
                    build_err = Some(e);
                    Vec::new()
                }
            },
            Err(e) => {
                build_err = Some(e);
                Vec::new()
            }
        });
        if let Some(e) = build_err {
            return Err(e);
        }
        let traced = traced?;
        if !traced.captures.is_empty() {
            return Err(Error::arg(
                "jit",
                "the function closes over tensors of an enclosing trace; pass them as arguments",
            ));
        }
        let template = template.ok_or_else(|| Error::arg("jit", "the function did not run"))?;
        let donation = match &self.donate {
            None => Donation::none(),
            Some(pred) => {
                let flags: Vec<bool> = leaf_paths(x).iter().map(|p| pred(p)).collect();
                Donation::assign(&traced.graph.in_avals(), &traced.graph.out_avals(), &flags)
            }
        };
        Ok((traced.graph, template, donation))
    }
}

fn run<Out: Tree>(e: &Entry<Out>, args: &[Array], outs: &mut Vec<Array>) -> Result<Out> {
    outs.clear();
    match &e.graph {
        Some(g) if rax_core::debug_nans::enabled() => debug_nans_run(e, g, args, outs)?,
        _ => e.exe.execute_into(args, outs)?,
    }
    let mut it = outs.drain(..);
    let mut missing = false;
    let out = e
        .template
        .map_leaves(&mut Vec::new(), &mut |_, t| match it.next() {
            Some(a) => Tensor::from_array(a),
            None => {
                missing = true;
                t.clone()
            }
        });
    if missing || it.next().is_some() {
        return Err(Error::backend(
            "jit",
            "the program's results do not match the output tree",
        ));
    }
    Ok(out)
}

/// `debug_nans` on a compiled program: the inputs are copied to the host first (donation may
/// consume them), the program runs, and when a result is non-finite the graph is re-run op by
/// op on the interpreter, whose check names the first op and its call site.
fn debug_nans_run<Out>(
    e: &Entry<Out>,
    g: &rax_core::Graph,
    args: &[Array],
    outs: &mut Vec<Array>,
) -> Result<()> {
    let host: Vec<Arc<rax_core::Literal>> =
        args.iter().map(|a| a.to_host()).collect::<Result<_>>()?;
    e.exe.execute_into(args, outs)?;
    let mode = rax_core::debug_nans::mode();
    for (k, o) in outs.iter().enumerate() {
        let lit = o.to_host()?;
        if let Some((i, x)) = rax_core::debug_nans::first_bad(&lit, mode) {
            rax_core::interp::eval_graph_arc(g, &host)?;
            return Err(Error::backend(
                "debug_nans",
                format!(
                    "result {k} of the compiled program has {x} at element {i}, but the \
                     interpreter's op-by-op re-run produced no non-finite value (the backend \
                     and the interpreter disagree)"
                ),
            ));
        }
    }
    Ok(())
}

impl<In, Out, F> std::fmt::Debug for Jit<In, Out, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Jit({}, {} compiled)",
            self.rt.info(),
            self.compiles.get()
        )
    }
}
