//! A bounds-checked view of a plugin's `PJRT_Api` table.
//!
//! A plugin built against an older header has a shorter table; reading an
//! entry past its `struct_size` would read foreign memory. [`Api::check`]
//! verifies `offset + size <= struct_size` (and that the entry is non-null)
//! before any function pointer is read, and returns [`Error::Unsupported`]
//! naming the function and the plugin's API version otherwise.
use std::ffi::c_char;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorCode, Result};
use crate::ffi;

/// A checked handle to a `PJRT_Api` table.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    raw: *const ffi::PJRT_Api,
    struct_size: usize,
    version: (u32, u32),
    path: PathBuf,
}

// SAFETY: the table is immutable static data inside the plugin and PJRT
// functions are thread-safe.
unsafe impl Send for Api {}
// SAFETY: see above.
unsafe impl Sync for Api {}

/// Reads a function pointer from the table after the bounds check.
macro_rules! pjrt_fn {
    ($api:expr, $field:ident) => {{
        let api: &$crate::api::Api = $api;
        api.check(
            ::core::mem::offset_of!($crate::ffi::PJRT_Api, $field),
            ::core::mem::size_of::<Option<$crate::ffi::$field>>(),
            stringify!($field),
        )
        .and_then(|()| {
            // SAFETY: `check` proved the field lies inside the plugin's table.
            unsafe { (*api.raw()).$field }.ok_or_else(|| api.unsupported(stringify!($field)))
        })
    }};
}
pub(crate) use pjrt_fn;

/// Calls a checked function with an args struct and converts the returned
/// `PJRT_Error*` into a `Result`.
macro_rules! pjrt_call {
    ($api:expr, $field:ident, $args:expr) => {{
        let api: &$crate::api::Api = $api;
        match $crate::api::pjrt_fn!(api, $field) {
            Ok(f) => {
                // SAFETY: the args struct is a valid, initialized PJRT args
                // struct whose pointers outlive the call.
                let err = unsafe { f($args) };
                api.take_error(err, stringify!($field))
            }
            Err(e) => Err(e),
        }
    }};
}
pub(crate) use pjrt_call;

impl Api {
    /// Wraps a table returned by `GetPjrtApi`.
    ///
    /// # Safety
    /// `raw` must point to a `PJRT_Api` whose first `struct_size` bytes stay
    /// valid for the life of the process.
    pub(crate) unsafe fn from_raw(raw: *const ffi::PJRT_Api, path: &Path) -> Result<Self> {
        if raw.is_null() {
            return Err(Error::NotAPlugin {
                path: path.to_path_buf(),
                reason: "GetPjrtApi returned null".into(),
            });
        }
        // SAFETY: caller guarantees `raw` is valid; struct_size is the first
        // field of every version.
        let struct_size = unsafe { (*raw).struct_size };
        let mut api = Api {
            raw,
            struct_size,
            version: (0, 0),
            path: path.to_path_buf(),
        };
        let vfield = std::mem::offset_of!(ffi::PJRT_Api, pjrt_api_version);
        let vsize = std::mem::size_of::<ffi::PJRT_Api_Version>();
        if vfield + vsize > struct_size {
            return Err(Error::NotAPlugin {
                path: path.to_path_buf(),
                reason: format!("PJRT_Api struct_size {struct_size} is too small"),
            });
        }
        // SAFETY: bounds checked above.
        let v = unsafe { &(*raw).pjrt_api_version };
        api.version = (
            u32::try_from(v.major_version).unwrap_or(0),
            u32::try_from(v.minor_version).unwrap_or(0),
        );
        Ok(api)
    }

    /// A view of the same table that pretends it is only `struct_size`
    /// bytes long (never longer than the real one). Used to exercise the
    /// compatibility checks against a real plugin.
    pub(crate) fn truncated(&self, struct_size: usize) -> Api {
        let mut api = self.clone();
        api.struct_size = struct_size.min(self.struct_size);
        api
    }

    pub(crate) fn raw(&self) -> *const ffi::PJRT_Api {
        self.raw
    }

    /// `PJRT_Api.struct_size` as reported by the plugin.
    pub(crate) fn struct_size(&self) -> usize {
        self.struct_size
    }

    /// Plugin API version (major, minor).
    pub(crate) fn version(&self) -> (u32, u32) {
        self.version
    }

    /// Plugin path (for error context).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Fails unless `[offset, offset + size)` lies inside the table.
    pub(crate) fn check(&self, offset: usize, size: usize, function: &'static str) -> Result<()> {
        check_field(self.struct_size, offset, size)
            .then_some(())
            .ok_or_else(|| self.unsupported(function))
    }

    pub(crate) fn unsupported(&self, function: &'static str) -> Error {
        Error::Unsupported {
            function,
            path: self.path.clone(),
            version: self.version,
        }
    }

    /// Converts (and destroys) a `PJRT_Error*` returned by `function`.
    pub(crate) fn take_error(
        &self,
        err: *mut ffi::PJRT_Error,
        function: &'static str,
    ) -> Result<()> {
        if err.is_null() {
            return Ok(());
        }
        let (code, message) = self.describe_error(err);
        self.destroy_error(err);
        Err(Error::Pjrt {
            function,
            path: self.path.clone(),
            version: self.version,
            code,
            message,
        })
    }

    fn describe_error(&self, err: *mut ffi::PJRT_Error) -> (ErrorCode, String) {
        let mut message = String::from("<no message: PJRT_Error_Message unavailable>");
        if let Ok(f) = pjrt_fn!(self, PJRT_Error_Message) {
            let mut args = ffi::PJRT_Error_Message_Args::new();
            args.error = err;
            // SAFETY: valid args; the message lives as long as `err`.
            unsafe { f(&mut args) };
            // SAFETY: pointer/length pair returned by the plugin.
            message = unsafe { string_from_raw(args.message, args.message_size) };
        }
        let mut code = ErrorCode::Unknown;
        if let Ok(f) = pjrt_fn!(self, PJRT_Error_GetCode) {
            let mut args = ffi::PJRT_Error_GetCode_Args::new();
            args.error = err;
            // SAFETY: valid args.
            let inner = unsafe { f(&mut args) };
            if inner.is_null() {
                code = ErrorCode::from_raw(args.code);
            } else {
                self.destroy_error(inner);
            }
        }
        (code, message)
    }

    fn destroy_error(&self, err: *mut ffi::PJRT_Error) {
        if let Ok(f) = pjrt_fn!(self, PJRT_Error_Destroy) {
            let mut args = ffi::PJRT_Error_Destroy_Args::new();
            args.error = err;
            // SAFETY: `err` came from this plugin and is destroyed once.
            unsafe { f(&mut args) };
        }
    }
}

/// The pure bounds check behind [`Api::check`]: does a table of
/// `struct_size` bytes contain `size` bytes at `offset`?
pub fn check_field(struct_size: usize, offset: usize, size: usize) -> bool {
    offset
        .checked_add(size)
        .is_some_and(|end| end <= struct_size)
}

/// Copies a `(char*, size)` pair into a `String` (lossy UTF-8).
///
/// # Safety
/// `ptr` must be null or valid for `len` bytes.
pub(crate) unsafe fn string_from_raw(ptr: *const c_char, len: usize) -> String {
    if ptr.is_null() || len == 0 {
        return String::new();
    }
    // SAFETY: caller guarantees validity.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_table(struct_size: usize) -> Box<ffi::PJRT_Api> {
        // SAFETY: all-zero is valid for PJRT_Api (pointers, ints, Option<fn>).
        let mut t: Box<ffi::PJRT_Api> = Box::new(unsafe { std::mem::zeroed() });
        t.struct_size = struct_size;
        t.pjrt_api_version.major_version = 0;
        t.pjrt_api_version.minor_version = 42;
        t
    }

    #[test]
    fn call_beyond_struct_size_is_an_error_naming_function_and_version() {
        let size = std::mem::offset_of!(ffi::PJRT_Api, PJRT_Client_Create);
        let table = fake_table(size);
        // SAFETY: the box outlives `api`.
        let api = unsafe { Api::from_raw(&*table, Path::new("/fake/plugin.so")) }.unwrap();
        assert_eq!(api.version(), (0, 42));
        let mut args = ffi::PJRT_Client_Create_Args::new();
        let err = pjrt_call!(&api, PJRT_Client_Create, &mut args).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("PJRT_Client_Create"), "{text}");
        assert!(text.contains("0.42"), "{text}");
        assert!(matches!(err, Error::Unsupported { .. }));
    }

    #[test]
    fn null_entry_inside_table_is_unsupported_not_a_crash() {
        let table = fake_table(ffi::PJRT_Api_STRUCT_SIZE);
        // SAFETY: the box outlives `api`.
        let api = unsafe { Api::from_raw(&*table, Path::new("/fake/plugin.so")) }.unwrap();
        let mut args = ffi::PJRT_Plugin_Initialize_Args::new();
        let err = pjrt_call!(&api, PJRT_Plugin_Initialize, &mut args).unwrap_err();
        assert!(matches!(
            err,
            Error::Unsupported {
                function: "PJRT_Plugin_Initialize",
                ..
            }
        ));
    }

    #[test]
    fn check_field_bounds() {
        assert!(check_field(16, 8, 8));
        assert!(!check_field(16, 9, 8));
        assert!(!check_field(usize::MAX, usize::MAX, 8));
    }

    #[test]
    fn tiny_table_is_rejected() {
        let table = fake_table(8);
        // SAFETY: the box outlives the call.
        let r = unsafe { Api::from_raw(&*table, Path::new("/x.so")) };
        assert!(matches!(r, Err(Error::NotAPlugin { .. })));
    }
}
