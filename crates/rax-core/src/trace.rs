//! The tracer: `Tensor` is either a concrete array (eager mode, evaluated at once by the
//! interpreter) or a value being recorded into the innermost active trace (`Builder`).
//! Typing errors never panic: the first one is recorded with the user's call site, the op
//! returns a poisoned tensor, and the trace (or the eager value) reports the error.
//!
//! Depends on `ir`, `prim` (typing rules), `interp` (eager evaluation) and `literal`.

use crate::dtype::DType;
use crate::error::{CallSite, Error, Result};
use crate::ir::{Graph, Node, Op, Value};
use crate::literal::{Element, Literal};
use crate::shape::{AVal, Shape};
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An array living on a device (implemented by runtime backends such as PJRT).
pub trait DeviceArray: fmt::Debug + Send + Sync {
    /// Shape and dtype.
    fn aval(&self) -> &AVal;
    /// Copies the array to the host.
    fn to_literal(&self) -> Result<Literal>;
    /// For backends to downcast their own buffers.
    fn as_any(&self) -> &dyn Any;
}

/// A concrete array: on the host or on a device.
#[derive(Clone, Debug)]
pub enum Array {
    /// A host literal.
    Host(Arc<Literal>),
    /// A device buffer.
    Device(Arc<dyn DeviceArray>),
}

impl Array {
    /// Shape and dtype.
    pub fn aval(&self) -> AVal {
        match self {
            Array::Host(l) => l.aval(),
            Array::Device(d) => d.aval().clone(),
        }
    }

    /// The host value (copies from a device).
    pub fn to_literal(&self) -> Result<Literal> {
        match self {
            Array::Host(l) => Ok((**l).clone()),
            Array::Device(d) => d.to_literal(),
        }
    }

    /// The host value without copying when it already is on the host.
    pub fn to_host(&self) -> Result<Arc<Literal>> {
        match self {
            Array::Host(l) => Ok(l.clone()),
            Array::Device(d) => Ok(Arc::new(d.to_literal()?)),
        }
    }
}

static NEXT_BUILDER: AtomicU64 = AtomicU64::new(1);

/// A trace being recorded.
#[derive(Debug)]
pub struct Builder {
    id: u64,
    graph: Graph,
    /// Outer tensors used inside this trace, with the input value standing for each.
    captures: Vec<(Tensor, Value)>,
    capture_index: HashMap<CaptureKey, Value>,
    error: Option<Error>,
}

#[derive(Hash, PartialEq, Eq, Debug)]
enum CaptureKey {
    Traced(u64, Value),
    Concrete(usize),
}

type BuilderRef = Rc<RefCell<Builder>>;

thread_local! {
    static STACK: RefCell<Vec<BuilderRef>> = const { RefCell::new(Vec::new()) };
}

#[derive(Debug)]
enum Inner {
    Traced {
        builder_id: u64,
        value: Value,
        aval: AVal,
    },
    Concrete(Array),
    Poison {
        aval: AVal,
        error: Error,
        /// When the error arose (a per-process counter): an op with several poisoned
        /// operands propagates the earliest error, so the first failure is never overwritten.
        seq: u64,
    },
}

static NEXT_POISON: AtomicU64 = AtomicU64::new(1);

/// An array value: concrete (eager) or traced. Cheap to clone.
#[derive(Clone)]
pub struct Tensor(Rc<Inner>);

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Inner::Traced { value, aval, .. } => write!(f, "Tensor(traced v{} {aval})", value.0),
            Inner::Concrete(a) => write!(f, "Tensor(concrete {})", a.aval()),
            Inner::Poison { aval, error, .. } => write!(f, "Tensor(error {aval}: {error})"),
        }
    }
}

impl Tensor {
    /// A concrete tensor from a host literal.
    pub fn from_literal(lit: Literal) -> Tensor {
        Tensor(Rc::new(Inner::Concrete(Array::Host(Arc::new(lit)))))
    }

    /// A concrete tensor from an array.
    pub fn from_array(a: Array) -> Tensor {
        Tensor(Rc::new(Inner::Concrete(a)))
    }

    /// A concrete tensor from a typed vector; errors if the length does not match the shape.
    pub fn from_vec<T: Element>(shape: impl Into<Shape>, v: Vec<T>) -> Result<Tensor> {
        Ok(Tensor::from_literal(Literal::from_vec(shape, v)?))
    }

    /// A tensor that carries an error (what an op returns when its typing rule fails).
    pub fn poison(aval: AVal, error: Error) -> Tensor {
        let seq = NEXT_POISON.fetch_add(1, Ordering::Relaxed);
        Tensor(Rc::new(Inner::Poison { aval, error, seq }))
    }

    /// The earliest error among poisoned tensors, with its sequence number.
    fn first_poison(ts: &[&Tensor]) -> Option<(Error, u64)> {
        ts.iter()
            .filter_map(|t| match &*t.0 {
                Inner::Poison { error, seq, .. } => Some((error, *seq)),
                _ => None,
            })
            .min_by_key(|(_, s)| *s)
            .map(|(e, s)| (e.clone(), s))
    }

    /// Shape and dtype.
    pub fn aval(&self) -> AVal {
        match &*self.0 {
            Inner::Traced { aval, .. } | Inner::Poison { aval, .. } => aval.clone(),
            Inner::Concrete(a) => a.aval(),
        }
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.aval().shape
    }

    /// The dimensions.
    pub fn dims(&self) -> Vec<usize> {
        self.aval().shape.0
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.aval().dtype
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.aval().rank()
    }

    /// True for a tensor being traced.
    pub fn is_traced(&self) -> bool {
        matches!(&*self.0, Inner::Traced { .. })
    }

    /// The error carried by a poisoned tensor.
    pub fn error(&self) -> Option<&Error> {
        match &*self.0 {
            Inner::Poison { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Ok(self) unless the tensor carries an error.
    pub fn check(&self) -> Result<&Tensor> {
        match self.error() {
            Some(e) => Err(e.clone()),
            None => Ok(self),
        }
    }

    /// The concrete array, if this tensor is concrete.
    pub fn array(&self) -> Option<&Array> {
        match &*self.0 {
            Inner::Concrete(a) => Some(a),
            _ => None,
        }
    }

    /// The host value of a concrete tensor; an error for a traced or poisoned one.
    pub fn to_literal(&self) -> Result<Literal> {
        match &*self.0 {
            Inner::Concrete(a) => a.to_literal(),
            Inner::Poison { error, .. } => Err(error.clone()),
            Inner::Traced { aval, .. } => Err(Error::Trace {
                op: "to_literal".into(),
                msg: format!("{aval} is an abstract value being traced; its value exists only when the program runs"),
                site: None,
            }),
        }
    }

    /// The elements as a typed vector (concrete tensors only).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.to_literal()?.as_slice::<T>()?.to_vec())
    }

    /// The elements as f64 (concrete tensors only).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(self.to_literal()?.to_f64_vec())
    }

    /// The traced value and its builder id, if traced.
    pub fn traced_value(&self) -> Option<(u64, Value)> {
        match &*self.0 {
            Inner::Traced {
                builder_id, value, ..
            } => Some((*builder_id, *value)),
            _ => None,
        }
    }

    /// Pointer identity (two clones of one tensor are the same).
    pub fn same(&self, other: &Tensor) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// Applies a primitive to tensors: records it in the innermost trace, or evaluates it eagerly
/// when no trace is active. Typing errors come back as poisoned outputs (never a panic).
pub fn apply(op: Op, inputs: &[&Tensor], site: CallSite) -> Vec<Tensor> {
    match try_apply(&op, inputs, site) {
        Ok(v) => v,
        Err(e) => {
            // Propagate the earliest operand error as is (poison never cascades into a newer
            // error); otherwise this op's error, with its call site.
            let n = crate::prim::num_outputs(&op, inputs.len());
            let aval = inputs
                .first()
                .map(|t| t.aval())
                .unwrap_or_else(|| AVal::scalar(DType::F32));
            let (e, seq) = match Tensor::first_poison(inputs) {
                Some(p) => p,
                None => {
                    let e = e.with_site(site);
                    record_error(&e);
                    (e, NEXT_POISON.fetch_add(1, Ordering::Relaxed))
                }
            };
            (0..n)
                .map(|_| {
                    Tensor(Rc::new(Inner::Poison {
                        aval: aval.clone(),
                        error: e.clone(),
                        seq,
                    }))
                })
                .collect()
        }
    }
}

/// Applies a primitive expecting exactly one output.
pub fn apply1(op: Op, inputs: &[&Tensor], site: CallSite) -> Tensor {
    let mut v = apply(op, inputs, site);
    match v.len() {
        1 => v.remove(0),
        _ => Tensor::poison(
            AVal::scalar(DType::F32),
            Error::Trace {
                op: "apply1".into(),
                msg: "op has more than one output".into(),
                site: Some(site),
            },
        ),
    }
}

fn record_error(e: &Error) {
    STACK.with(|s| {
        if let Some(b) = s.borrow().last() {
            let mut b = b.borrow_mut();
            if b.error.is_none() {
                b.error = Some(e.clone());
            }
        }
    })
}

fn try_apply(op: &Op, inputs: &[&Tensor], site: CallSite) -> Result<Vec<Tensor>> {
    for t in inputs {
        t.check()?;
    }
    let in_avals: Vec<AVal> = inputs.iter().map(|t| t.aval()).collect();
    let out_avals = crate::prim::rule(op, &in_avals)?;
    let top = STACK.with(|s| s.borrow().last().cloned());
    match top {
        None => eager(op, inputs, &out_avals),
        Some(b) => {
            let mut vals = Vec::with_capacity(inputs.len());
            for t in inputs {
                vals.push(value_in(&b, t, site)?);
            }
            let id = b.borrow().id;
            let mut bm = b.borrow_mut();
            let outs: Vec<Value> = out_avals
                .iter()
                .map(|a| bm.graph.new_value(a.clone()))
                .collect();
            bm.graph.nodes.push(Node {
                op: op.clone(),
                inputs: vals,
                outputs: outs.clone(),
                site: Some(site),
            });
            drop(bm);
            Ok(outs
                .into_iter()
                .zip(out_avals)
                .map(|(value, aval)| {
                    Tensor(Rc::new(Inner::Traced {
                        builder_id: id,
                        value,
                        aval,
                    }))
                })
                .collect())
        }
    }
}

fn eager(op: &Op, inputs: &[&Tensor], out_avals: &[AVal]) -> Result<Vec<Tensor>> {
    let mut lits = Vec::with_capacity(inputs.len());
    for t in inputs {
        match &*t.0 {
            Inner::Concrete(a) => lits.push(a.to_host()?),
            Inner::Traced { aval, .. } => {
                return Err(Error::Trace {
                    op: crate::prim::op_name(op).into(),
                    msg: format!("a traced {aval} escaped its trace (was it stored outside the traced function?)"),
                    site: None,
                })
            }
            Inner::Poison { error, .. } => return Err(error.clone()),
        }
    }
    for a in out_avals {
        crate::limits::check_alloc(crate::prim::op_name(op), a)?;
    }
    let refs: Vec<&Literal> = lits.iter().map(|l| &**l).collect();
    let outs = crate::prim::eval(op, &refs)?;
    if crate::debug_nans::enabled() {
        crate::debug_nans::check(op, &outs, None)?;
    }
    debug_assert_eq!(outs.len(), out_avals.len());
    Ok(outs.into_iter().map(Tensor::from_literal).collect())
}

/// The value standing for `t` inside builder `b`: its own value, a capture of an outer
/// trace's value, or a constant for a concrete array.
fn value_in(b: &BuilderRef, t: &Tensor, site: CallSite) -> Result<Value> {
    let id = b.borrow().id;
    match &*t.0 {
        Inner::Traced {
            builder_id,
            value,
            aval,
            ..
        } => {
            if *builder_id == id {
                return Ok(*value);
            }
            let on_stack = STACK.with(|s| s.borrow().iter().any(|x| x.borrow().id == *builder_id));
            if !on_stack {
                return Err(Error::Trace {
                    op: "trace".into(),
                    msg: format!("a traced {aval} escaped its trace (was it stored outside the traced function?)"),
                    site: Some(site),
                });
            }
            let key = CaptureKey::Traced(*builder_id, *value);
            let mut bm = b.borrow_mut();
            if let Some(v) = bm.capture_index.get(&key) {
                return Ok(*v);
            }
            let v = bm.graph.new_value(aval.clone());
            bm.graph.inputs.push(v);
            bm.captures.push((t.clone(), v));
            bm.capture_index.insert(key, v);
            Ok(v)
        }
        Inner::Concrete(a) => {
            let key = CaptureKey::Concrete(Rc::as_ptr(&t.0) as *const () as usize);
            let mut bm = b.borrow_mut();
            if let Some(v) = bm.capture_index.get(&key) {
                return Ok(*v);
            }
            let lit = a.to_host()?;
            let v = bm.graph.new_value(lit.aval());
            bm.graph.nodes.push(Node {
                op: Op::Constant(lit),
                inputs: vec![],
                outputs: vec![v],
                site: Some(site),
            });
            // Keep the tensor alive so its address is not reused while this key exists.
            bm.captures_keepalive(t.clone());
            bm.capture_index.insert(key, v);
            Ok(v)
        }
        Inner::Poison { error, .. } => Err(error.clone()),
    }
}

impl Builder {
    fn captures_keepalive(&mut self, t: Tensor) {
        // Concrete captures are constants, not inputs; remember them with a sentinel value.
        self.captures.push((t, Value(u32::MAX)));
    }
}

/// The result of tracing a function.
#[derive(Debug)]
pub struct Traced {
    /// The graph: inputs are the declared inputs followed by one per captured outer tensor.
    pub graph: Graph,
    /// Outer traced tensors the function closed over, in the order of the extra graph inputs.
    pub captures: Vec<Tensor>,
}

/// Traces `f` on abstract inputs of the given types. Inside `f`, ops record into a new graph;
/// tensors of enclosing traces are captured as extra inputs; concrete tensors become constants.
pub fn trace<F>(in_avals: &[AVal], f: F) -> Result<Traced>
where
    F: FnOnce(&[Tensor]) -> Vec<Tensor>,
{
    for a in in_avals {
        crate::limits::check_aval("trace", a)?;
    }
    let id = NEXT_BUILDER.fetch_add(1, Ordering::Relaxed);
    let b: BuilderRef = Rc::new(RefCell::new(Builder {
        id,
        graph: Graph::default(),
        captures: Vec::new(),
        capture_index: HashMap::new(),
        error: None,
    }));
    let args: Vec<Tensor> = {
        let mut bm = b.borrow_mut();
        in_avals
            .iter()
            .map(|a| {
                let v = bm.graph.new_value(a.clone());
                bm.graph.inputs.push(v);
                Tensor(Rc::new(Inner::Traced {
                    builder_id: id,
                    value: v,
                    aval: a.clone(),
                }))
            })
            .collect()
    };
    STACK.with(|s| s.borrow_mut().push(b.clone()));
    let guard = PopGuard;
    let outs = f(&args);
    // Resolve outputs while the builder is still active (so captures/constants are recorded).
    let mut out_vals = Vec::with_capacity(outs.len());
    let out_refs: Vec<&Tensor> = outs.iter().collect();
    let mut first_err: Option<Error> = Tensor::first_poison(&out_refs).map(|(e, _)| e);
    drop(out_refs);
    for t in &outs {
        match value_in(&b, t, CallSite::here()) {
            Ok(v) => out_vals.push(v),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    drop(guard);
    drop(args);
    drop(outs);
    let mut bm = b.borrow_mut();
    if let Some(e) = bm.error.take() {
        return Err(e);
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    bm.graph.outputs = out_vals;
    let graph = std::mem::take(&mut bm.graph);
    if crate::verify::ENABLED {
        graph.verify()?;
    }
    let captures = bm
        .captures
        .drain(..)
        .filter(|(_, v)| v.0 != u32::MAX)
        .map(|(t, _)| t)
        .collect();
    Ok(Traced { graph, captures })
}

struct PopGuard;

impl Drop for PopGuard {
    fn drop(&mut self) {
        // Never panics: try_with fails only during thread teardown, where there is nothing to pop.
        let _ = STACK.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.pop();
            }
        });
    }
}

/// True when some trace is active on this thread.
pub fn tracing() -> bool {
    STACK.with(|s| !s.borrow().is_empty())
}

/// Returns a poisoned tensor for an error found before a primitive was applied (e.g. by a
/// broadcasting helper), recording the error in the active trace.
pub fn apply_error(e: Error, aval: AVal, site: CallSite) -> Tensor {
    let e = e.with_site(site);
    record_error(&e);
    Tensor::poison(aval, e)
}
