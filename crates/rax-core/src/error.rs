//! The one error type of rax's array language, grouped by kind, each with its context
//! (the op, the shapes and dtypes involved, and the user's call site).
//!
//! Depends on `dtype` and `shape`; every fallible function in the crate returns [`Result`].

use crate::dtype::DType;
use crate::shape::AVal;
use std::fmt;
use std::panic::Location;

/// A user's call site, captured with `#[track_caller]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CallSite(pub &'static Location<'static>);

impl CallSite {
    /// The caller of the current `#[track_caller]` function.
    #[track_caller]
    pub fn here() -> CallSite {
        CallSite(Location::caller())
    }
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0.file(), self.0.line(), self.0.column())
    }
}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Formats an optional call site as ` at file:line:col`.
pub fn at(site: &Option<CallSite>) -> String {
    match site {
        Some(s) => format!(" at {s}"),
        None => String::new(),
    }
}

/// Formats a list of abstract values as `(f32[2, 3], f32[3])`.
pub fn avals(v: &[AVal]) -> String {
    let parts: Vec<String> = v.iter().map(|a| a.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// Every error the array language reports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    // ---- typing errors (raised at trace time) ----
    /// Two operands of an op have different dtypes (rax never promotes implicitly).
    #[error("{op}: dtype mismatch {lhs} vs {rhs}{}; rax does not promote implicitly, convert one operand with .cast()", at(.site))]
    DTypeMismatch {
        /// The op.
        op: String,
        /// First dtype.
        lhs: DType,
        /// Second dtype.
        rhs: DType,
        /// The user's call site.
        site: Option<CallSite>,
    },
    /// An op does not accept an operand's dtype.
    #[error("{op}: unsupported dtype {dtype} ({expected}){}", at(.site))]
    BadDType {
        /// The op.
        op: String,
        /// The dtype given.
        dtype: DType,
        /// What the op accepts.
        expected: String,
        /// The user's call site.
        site: Option<CallSite>,
    },
    /// Operand shapes do not fit the op.
    #[error("{op}: {msg}; operands {}{}", avals(.operands), at(.site))]
    Shape {
        /// The op.
        op: String,
        /// What is wrong.
        msg: String,
        /// The operands' abstract values.
        operands: Vec<AVal>,
        /// The user's call site.
        site: Option<CallSite>,
    },
    /// An op's static parameter is out of range (axis, permutation, slice bounds, k...).
    #[error("{op}: invalid argument: {msg}{}", at(.site))]
    InvalidArgument {
        /// The op.
        op: String,
        /// What is wrong.
        msg: String,
        /// The user's call site.
        site: Option<CallSite>,
    },
    /// A tensor from another trace was used where it cannot be captured.
    #[error("{op}: {msg}{}", at(.site))]
    Trace {
        /// The op.
        op: String,
        /// What is wrong.
        msg: String,
        /// The user's call site.
        site: Option<CallSite>,
    },
    /// A transformation does not support an op (e.g. differentiating a while loop).
    #[error("{transform} of {op}: {msg}{}", at(.site))]
    Transform {
        /// The transformation (grad, vmap, ...).
        transform: String,
        /// The op.
        op: String,
        /// Why.
        msg: String,
        /// The user's call site.
        site: Option<CallSite>,
    },
    // ---- data errors ----
    /// Host data does not match the declared shape or dtype.
    #[error("{context}: {msg}")]
    Data {
        /// Where.
        context: String,
        /// What is wrong.
        msg: String,
    },
    /// A runtime failure in a backend (interpreter or plugin).
    #[error("backend {backend}: {msg}")]
    Backend {
        /// Which backend.
        backend: String,
        /// What failed.
        msg: String,
    },
    /// A feature the current backend or lowering does not implement.
    #[error("{what} is not supported: {why}")]
    Unsupported {
        /// What.
        what: String,
        /// Why, and what to do instead.
        why: String,
    },
    /// A bug in rax itself: an invariant its own code should keep was broken (an op reached
    /// the wrong family, a transformation produced an ill-formed graph). Not the user's fault
    /// and not the backend's; please report it.
    #[error("internal error in rax (a bug; please report it): {msg}")]
    Internal {
        /// What invariant was broken.
        msg: String,
    },
    /// I/O or parse failure of a file rax reads.
    #[error("{path}: {msg}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        msg: String,
    },
}

impl Error {
    /// The call site the error names, if any.
    pub fn site(&self) -> Option<CallSite> {
        match self {
            Error::DTypeMismatch { site, .. }
            | Error::BadDType { site, .. }
            | Error::Shape { site, .. }
            | Error::InvalidArgument { site, .. }
            | Error::Trace { site, .. }
            | Error::Transform { site, .. } => *site,
            _ => None,
        }
    }

    /// Sets the call site if the error has a slot for one and none is set yet.
    pub fn with_site(mut self, s: CallSite) -> Error {
        match &mut self {
            Error::DTypeMismatch { site, .. }
            | Error::BadDType { site, .. }
            | Error::Shape { site, .. }
            | Error::InvalidArgument { site, .. }
            | Error::Trace { site, .. }
            | Error::Transform { site, .. }
                if site.is_none() =>
            {
                *site = Some(s)
            }
            _ => {}
        }
        self
    }

    /// A shape error without a call site (the tracer adds it).
    pub fn shape(op: &str, msg: impl Into<String>, operands: &[AVal]) -> Error {
        Error::Shape {
            op: op.to_string(),
            msg: msg.into(),
            operands: operands.to_vec(),
            site: None,
        }
    }

    /// An invalid-argument error without a call site.
    pub fn arg(op: &str, msg: impl Into<String>) -> Error {
        Error::InvalidArgument {
            op: op.to_string(),
            msg: msg.into(),
            site: None,
        }
    }

    /// A bad-dtype error without a call site.
    pub fn dtype(op: &str, dtype: DType, expected: impl Into<String>) -> Error {
        Error::BadDType {
            op: op.to_string(),
            dtype,
            expected: expected.into(),
            site: None,
        }
    }

    /// A backend error.
    pub fn backend(backend: &str, msg: impl Into<String>) -> Error {
        Error::Backend {
            backend: backend.to_string(),
            msg: msg.into(),
        }
    }

    /// An internal error: a bug in rax (see [`Error::Internal`]).
    pub fn internal(msg: impl Into<String>) -> Error {
        Error::Internal { msg: msg.into() }
    }

    /// A data error.
    pub fn data(context: &str, msg: impl Into<String>) -> Error {
        Error::Data {
            context: context.to_string(),
            msg: msg.into(),
        }
    }

    /// An unsupported-feature error.
    pub fn unsupported(what: impl Into<String>, why: impl Into<String>) -> Error {
        Error::Unsupported {
            what: what.into(),
            why: why.into(),
        }
    }
}

/// Result with rax's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
