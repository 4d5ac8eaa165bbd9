//! The crate's error type: one enum, grouped by where the failure happened
//! (loading, API compatibility, plugin-reported errors, argument validation,
//! discovery), each variant carrying enough context to act on.
use std::path::PathBuf;

/// A PJRT error code (`PJRT_Error_Code`, the absl status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Operation was cancelled.
    Cancelled,
    /// Unknown error.
    Unknown,
    /// Bad argument (e.g. malformed program).
    InvalidArgument,
    /// Deadline exceeded.
    DeadlineExceeded,
    /// Entity not found.
    NotFound,
    /// Entity already exists.
    AlreadyExists,
    /// Permission denied.
    PermissionDenied,
    /// Out of memory or similar.
    ResourceExhausted,
    /// System not in a state required for the operation.
    FailedPrecondition,
    /// Operation aborted.
    Aborted,
    /// Out of range.
    OutOfRange,
    /// Not implemented by this plugin.
    Unimplemented,
    /// Internal plugin error.
    Internal,
    /// Service unavailable.
    Unavailable,
    /// Data loss.
    DataLoss,
    /// Unauthenticated.
    Unauthenticated,
    /// A code this crate does not know (or 0 = OK reported as an error).
    Other(i32),
}

impl ErrorCode {
    /// Maps a raw `PJRT_Error_Code`.
    pub fn from_raw(code: i32) -> Self {
        match code {
            1 => Self::Cancelled,
            2 => Self::Unknown,
            3 => Self::InvalidArgument,
            4 => Self::DeadlineExceeded,
            5 => Self::NotFound,
            6 => Self::AlreadyExists,
            7 => Self::PermissionDenied,
            8 => Self::ResourceExhausted,
            9 => Self::FailedPrecondition,
            10 => Self::Aborted,
            11 => Self::OutOfRange,
            12 => Self::Unimplemented,
            13 => Self::Internal,
            14 => Self::Unavailable,
            15 => Self::DataLoss,
            16 => Self::Unauthenticated,
            other => Self::Other(other),
        }
    }
}

/// Everything that can go wrong in `rax-pjrt`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ----- loading a plugin -----
    /// `dlopen` failed.
    #[error("cannot load PJRT plugin {path}: {source}")]
    Load {
        /// Plugin path.
        path: PathBuf,
        /// Loader error.
        #[source]
        source: libloading::Error,
    },
    /// The library has no `GetPjrtApi` symbol, or it returned null.
    #[error("{path} is not a PJRT plugin: {reason}")]
    NotAPlugin {
        /// Plugin path.
        path: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// Preloading a CUDA dependency failed.
    #[error("cannot preload CUDA library {path}: {source}")]
    Preload {
        /// Library path.
        path: PathBuf,
        /// Loader error.
        #[source]
        source: libloading::Error,
    },

    // ----- API compatibility -----
    /// The plugin's `PJRT_Api` table does not contain the function (it was
    /// built against an older header), or the entry is null.
    #[error(
        "{function} is not available in PJRT plugin {path} (PJRT C API {}.{}); \
         a newer plugin is needed",
        version.0, version.1
    )]
    Unsupported {
        /// The C function name, e.g. `PJRT_Client_Create`.
        function: &'static str,
        /// Plugin path.
        path: PathBuf,
        /// Plugin API version (major, minor).
        version: (u32, u32),
    },

    // ----- errors reported by the plugin -----
    /// A PJRT function returned a `PJRT_Error`.
    #[error(
        "{function} failed ({code:?}) in PJRT plugin {path} (API {}.{}): {message}",
        version.0, version.1
    )]
    Pjrt {
        /// The C function name.
        function: &'static str,
        /// Plugin path.
        path: PathBuf,
        /// Plugin API version (major, minor).
        version: (u32, u32),
        /// PJRT error code.
        code: ErrorCode,
        /// The plugin's message (e.g. the MLIR compiler diagnostic).
        message: String,
    },
    /// A PJRT function succeeded but left an out-parameter unset.
    #[error("{function} returned no {what}")]
    NullOutput {
        /// The C function name.
        function: &'static str,
        /// The missing output.
        what: &'static str,
    },

    // ----- argument validation (checked before calling the plugin) -----
    /// An argument was rejected before reaching the plugin.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The buffer was deleted or donated to an execution.
    #[error("buffer has been deleted or donated to an execution")]
    BufferDeleted,
    /// An element type this crate does not model (e.g. sub-byte types).
    #[error("unsupported PJRT element type {0}")]
    UnsupportedElementType(i32),

    // ----- discovery -----
    /// No usable plugin was found; `reasons` explains each candidate.
    #[error("no PJRT plugin found:\n{reasons}")]
    NoPlugin {
        /// One line per inspected candidate.
        reasons: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
