//! The typed SSA IR: a `Graph` is a list of `Node`s in program order over `Value`s typed by
//! `AVal`s; an `Op` names a primitive and its static parameters. Sub-graphs (loop bodies,
//! branches, reducers) are `Graph`s held by the op.
//!
//! Depends on `dtype`, `shape`, `literal`, `error`; the primitive catalogue (`prim`) gives each
//! `Op` its typing rule, lowering, kernel and VJP.

use crate::dtype::DType;
use crate::error::CallSite;
use crate::literal::Literal;
use crate::shape::{AVal, Shape};
use std::fmt;
use std::sync::Arc;

/// An SSA value: an index into its graph's value table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Value(pub u32);

impl Value {
    /// The index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Elementwise unary primitives: declared, each with its rule, lowering, kernel, VJP and
/// method, in one table (`prim/elementwise/unary_ops.rs`).
pub use crate::prim::elementwise::UnaryOp;

/// Elementwise binary primitives (operands of equal shape and dtype).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Max,
    Min,
    Atan2,
    And,
    Or,
    Xor,
    ShiftLeft,
    ShiftRightLogical,
    ShiftRightArithmetic,
    /// Builds a complex from real and imaginary parts (f32, f32 -> c64).
    Complex,
}

/// Comparison direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CmpDir {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The monoid of a reduction or a cumulative op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ReduceKind {
    Sum,
    Prod,
    Max,
    Min,
    And,
    Or,
}

/// Precision of a dot product on backends that can lower it (XLA's `precision_config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub enum Precision {
    #[default]
    Default,
    High,
    Highest,
}

/// Dimension numbers of `dot_general`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct DotDims {
    /// Batch dimensions of the left operand.
    pub lhs_batch: Vec<usize>,
    /// Batch dimensions of the right operand.
    pub rhs_batch: Vec<usize>,
    /// Contracting dimensions of the left operand.
    pub lhs_contract: Vec<usize>,
    /// Contracting dimensions of the right operand.
    pub rhs_contract: Vec<usize>,
}

/// Dimension numbers of `gather` (StableHLO semantics).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub struct GatherDims {
    pub offset_dims: Vec<usize>,
    pub collapsed_slice_dims: Vec<usize>,
    pub operand_batching_dims: Vec<usize>,
    pub start_indices_batching_dims: Vec<usize>,
    pub start_index_map: Vec<usize>,
    pub index_vector_dim: usize,
    pub slice_sizes: Vec<usize>,
    pub indices_are_sorted: bool,
}

/// Dimension numbers of `scatter` (StableHLO semantics); rax's scatter combines by addition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub struct ScatterDims {
    pub update_window_dims: Vec<usize>,
    pub inserted_window_dims: Vec<usize>,
    pub input_batching_dims: Vec<usize>,
    pub scatter_indices_batching_dims: Vec<usize>,
    pub scatter_dims_to_operand_dims: Vec<usize>,
    pub index_vector_dim: usize,
    pub indices_are_sorted: bool,
    pub unique_indices: bool,
}

/// The FFT variants of `stablehlo.fft`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum FftKind {
    Fft,
    Ifft,
    Rfft,
    Irfft,
}

/// A primitive with its static parameters.
#[derive(Clone, Debug)]
pub enum Op {
    /// Elementwise unary.
    Unary(UnaryOp),
    /// Elementwise binary.
    Binary(BinaryOp),
    /// Elementwise comparison to bool. Floats compare with IEEE semantics; integers by signedness.
    Compare(CmpDir),
    /// `select(pred, on_true, on_false)`.
    Select,
    /// `clamp(min, x, max)`.
    Clamp,
    /// Element type conversion.
    Convert(DType),
    /// Reinterpretation of the bits (same element width; otherwise a trailing dim appears/vanishes).
    BitcastConvert(DType),
    /// Broadcast: operand dim i goes to output dim `dims[i]`.
    BroadcastInDim {
        /// The output shape.
        shape: Shape,
        /// Where each operand dimension goes.
        dims: Vec<usize>,
    },
    /// Reshape to a shape of the same element count (row-major).
    Reshape(Shape),
    /// Permutation of dimensions.
    Transpose(Vec<usize>),
    /// Static strided slice.
    Slice {
        /// Start per dim.
        start: Vec<usize>,
        /// Exclusive limit per dim.
        limit: Vec<usize>,
        /// Stride per dim.
        strides: Vec<usize>,
    },
    /// Slice at dynamic start indices (one scalar integer operand per dim, clamped in range).
    DynamicSlice {
        /// Slice sizes.
        sizes: Vec<usize>,
    },
    /// Writes an update at dynamic start indices (clamped in range).
    DynamicUpdateSlice,
    /// Concatenation along an axis.
    Concatenate {
        /// The axis.
        axis: usize,
    },
    /// Edge (possibly negative) and interior padding with a scalar padding value operand.
    Pad {
        /// Low padding per dim.
        lo: Vec<i64>,
        /// High padding per dim.
        hi: Vec<i64>,
        /// Interior padding per dim.
        interior: Vec<usize>,
    },
    /// Reverses the listed axes.
    Reverse {
        /// Axes.
        axes: Vec<usize>,
    },
    /// `0, 1, 2, ...` along one dimension of a shape.
    Iota {
        /// The output.
        aval: AVal,
        /// The counting dimension.
        dim: usize,
    },
    /// A constant array.
    Constant(Arc<Literal>),
    /// Gather (StableHLO).
    Gather(GatherDims),
    /// Scatter with addition as the combiner (StableHLO scatter with an add region).
    ScatterAdd(ScatterDims),
    /// Generalised dot product; `out` is the result (accumulation) dtype.
    DotGeneral {
        /// Dimension numbers.
        dims: DotDims,
        /// Precision hint.
        precision: Precision,
        /// The result element type (`preferred_element_type`).
        out: DType,
    },
    /// Reduction over axes with a monoid.
    Reduce {
        /// The monoid.
        kind: ReduceKind,
        /// Reduced axes (removed from the shape).
        axes: Vec<usize>,
    },
    /// Index of the max (or min) along an axis, first occurrence on ties; NaN counts as the extreme.
    ArgReduce {
        /// Max or min.
        is_max: bool,
        /// The axis (removed).
        axis: usize,
        /// Index dtype.
        index_dtype: DType,
    },
    /// Inclusive cumulative reduction along an axis.
    Cumulative {
        /// Sum, prod, max or min.
        kind: ReduceKind,
        /// The axis.
        axis: usize,
        /// Accumulate from the end.
        reverse: bool,
    },
    /// Stable sort of several operands along an axis by the first `num_keys` operands (lexicographic).
    Sort {
        /// The axis.
        axis: usize,
        /// Descending order.
        descending: bool,
        /// How many leading operands are keys.
        num_keys: usize,
    },
    /// Top-k along the last axis: values and i32 indices.
    TopK {
        /// k.
        k: usize,
    },
    /// FFT over the trailing `lengths.len()` dims.
    Fft {
        /// The variant.
        kind: FftKind,
        /// FFT lengths (for irfft the real output lengths).
        lengths: Vec<usize>,
    },
    /// `while cond(carry) { carry = body(carry) }`; operands and results are the carry.
    While {
        /// Carry -> bool scalar.
        cond: Arc<Graph>,
        /// Carry -> carry.
        body: Arc<Graph>,
    },
    /// `branches[index](operands)`, with an i32 index first (clamped like `stablehlo.case`).
    Cond {
        /// The branches: same input and output types.
        branches: Vec<Arc<Graph>>,
    },
    /// Scan over the leading axis: body(carry..., x_slices..., consts...) -> (carry..., y_slices...).
    /// Operands: carry inits, then xs (stacked), then loop-invariant consts.
    Scan {
        /// The body.
        body: Arc<Graph>,
        /// Trip count.
        length: usize,
        /// Iterate from the end.
        reverse: bool,
        /// Number of carried values.
        num_carry: usize,
        /// Number of loop-invariant consts (the last operands).
        num_consts: usize,
    },
    /// Identity that blocks reordering across it (used by remat).
    OptimizationBarrier,
    /// Calls `body` on the operands (inlined when lowered and interpreted). `kind` says how
    /// transformations treat it: `stop_gradient`, `checkpoint_name`, `checkpoint` (remat) and
    /// `custom_vjp` are calls (see `autodiff`).
    Call {
        /// The callee.
        body: Arc<Graph>,
        /// What the call means to transformations.
        kind: CallKind,
    },
}

/// Which values a `checkpoint` (remat) keeps from the forward pass; the others are recomputed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RematPolicy {
    /// Save nothing: recompute the whole body in the backward pass.
    NothingSaveable,
    /// Save the results of `dot_general`s (no batch dims, like `dots_with_no_batch_dims_saveable`
    /// is not distinguished: every dot is saved).
    DotsSaveable,
    /// Save the values named with `checkpoint_name` in this list.
    SaveNames(Vec<String>),
    /// Save everything (no recomputation; the same as not checkpointing).
    Everything,
}

/// How transformations treat an `Op::Call`.
#[derive(Clone, Debug)]
pub enum CallKind {
    /// The identity whose cotangent is zero (`stop_gradient`); body is the identity.
    StopGradient,
    /// The identity naming a value for remat policies (`checkpoint_name`).
    Name(String),
    /// Rematerialized call: the backward pass recomputes the body (values allowed by the policy
    /// are taken from the forward pass), behind an `optimization_barrier`.
    Checkpoint(RematPolicy),
    /// User-defined VJP: `fwd(operands) -> (outputs..., residuals...)` and
    /// `bwd(operands..., residuals..., output cotangents...) -> operand cotangents`.
    CustomVjp {
        /// Forward with residuals.
        fwd: Arc<Graph>,
        /// Backward.
        bwd: Arc<Graph>,
    },
}

/// One operation: an op applied to input values, defining output values.
#[derive(Clone, Debug)]
pub struct Node {
    /// The primitive.
    pub op: Op,
    /// Operands.
    pub inputs: Vec<Value>,
    /// Results.
    pub outputs: Vec<Value>,
    /// The user's call site that created it.
    pub site: Option<CallSite>,
}

/// A function in SSA form: typed values, nodes in program order, inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Abstract value of each `Value` by index.
    pub avals: Vec<AVal>,
    /// Nodes in a valid execution order.
    pub nodes: Vec<Node>,
    /// The parameters.
    pub inputs: Vec<Value>,
    /// The results (may repeat values or name inputs).
    pub outputs: Vec<Value>,
}

impl Graph {
    /// The abstract value of a value.
    pub fn aval(&self, v: Value) -> &AVal {
        &self.avals[v.index()]
    }

    /// Abstract values of the inputs.
    pub fn in_avals(&self) -> Vec<AVal> {
        self.inputs.iter().map(|v| self.aval(*v).clone()).collect()
    }

    /// Abstract values of the outputs.
    pub fn out_avals(&self) -> Vec<AVal> {
        self.outputs.iter().map(|v| self.aval(*v).clone()).collect()
    }

    /// Adds a fresh value of the given type.
    pub fn new_value(&mut self, aval: AVal) -> Value {
        self.avals.push(aval);
        Value((self.avals.len() - 1) as u32)
    }

    /// Number of nodes including those of sub-graphs.
    pub fn deep_node_count(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| {
                1 + match &n.op {
                    Op::While { cond, body } => cond.deep_node_count() + body.deep_node_count(),
                    Op::Cond { branches } => branches.iter().map(|b| b.deep_node_count()).sum(),
                    Op::Scan { body, .. } | Op::Call { body, .. } => body.deep_node_count(),
                    _ => 0,
                }
            })
            .sum()
    }
}

impl fmt::Display for Graph {
    /// A compact jaxpr-like listing, for debugging and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ins: Vec<String> = self
            .inputs
            .iter()
            .map(|v| format!("v{}:{}", v.0, self.aval(*v)))
            .collect();
        writeln!(f, "{{ lambda {} .", ins.join(", "))?;
        for n in &self.nodes {
            let outs: Vec<String> = n
                .outputs
                .iter()
                .map(|v| format!("v{}:{}", v.0, self.aval(*v)))
                .collect();
            let ins: Vec<String> = n.inputs.iter().map(|v| format!("v{}", v.0)).collect();
            let name = crate::prim::op_name(&n.op);
            writeln!(f, "  {} = {}({})", outs.join(", "), name, ins.join(", "))?;
        }
        let outs: Vec<String> = self.outputs.iter().map(|v| format!("v{}", v.0)).collect();
        write!(f, "  in ({}) }}", outs.join(", "))
    }
}

/// Dead-code elimination: drops the nodes none of whose results reach the outputs (ops have no
/// side effects). Values a transformation computed but did not use — e.g. the recomputation of
/// a value a `checkpoint` policy saved — disappear, as XLA would remove them.
pub fn dce(g: &Graph) -> Graph {
    let mut live = vec![false; g.avals.len()];
    for v in &g.outputs {
        live[v.index()] = true;
    }
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|v| live[v.index()]) {
            keep[i] = true;
            for v in &n.inputs {
                live[v.index()] = true;
            }
        }
    }
    let mut out = g.clone();
    out.nodes = g
        .nodes
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(n, _)| n.clone())
        .collect();
    out
}
