//! Hand-written `#[repr(C)]` subset of the PJRT C API (`pjrt_c_api.h`).
//!
//! Layouts follow the header of PJRT C API 0.81 (the `xla-cpu-pjrt` wheel
//! ships it as `include/pjrt_c_api.h`). Only the structs rax uses are
//! declared; type and field names mirror the header so they can be checked
//! against it line by line. Every args struct implements [`PjrtStruct`],
//! whose `STRUCT_SIZE` is computed like the header's `PJRT_STRUCT_SIZE`
//! macro (offset of the last field plus its size).
//!
//! C enums are declared as plain integer aliases (never Rust enums) so a
//! value written by a newer plugin can never be an invalid Rust value.
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs
)]

mod api;
mod buffer;
mod client;
mod core;
mod device;
mod executable;
#[cfg(test)]
mod layout_tests;

pub use self::api::*;
pub use self::buffer::*;
pub use self::client::*;
pub use self::core::*;
pub use self::device::*;
pub use self::executable::*;

/// A PJRT struct whose first field is `size_t struct_size`.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, start with a `usize` `struct_size`
/// field, and be valid when all bytes are zero (pointers, integers, `bool`,
/// `Option<fn>` only).
pub unsafe trait PjrtStruct: Sized {
    /// `offsetof(last_field) + sizeof(last_field)`, as in the header.
    const STRUCT_SIZE: usize;

    /// A zeroed struct with `struct_size` set to [`Self::STRUCT_SIZE`].
    fn new() -> Self {
        // SAFETY: the trait contract guarantees all-zero is a valid value and
        // that the first field is a `usize`.
        unsafe {
            let mut value = std::mem::MaybeUninit::<Self>::zeroed();
            value.as_mut_ptr().cast::<usize>().write(Self::STRUCT_SIZE);
            value.assume_init()
        }
    }
}

/// `PJRT_STRUCT_SIZE(type, field)`: offset of `field` plus its size.
#[macro_export]
#[doc(hidden)]
macro_rules! pjrt_struct_size {
    ($t:ty, $f:ident) => {{
        const fn pointee_size<T>(_: *const T) -> usize {
            ::core::mem::size_of::<T>()
        }
        let probe = ::core::mem::MaybeUninit::<$t>::uninit();
        let base = probe.as_ptr();
        // SAFETY: only the address of the field is taken; nothing is read.
        ::core::mem::offset_of!($t, $f) + pointee_size(unsafe { ::core::ptr::addr_of!((*base).$f) })
    }};
}

/// Implements [`PjrtStruct`] for `$t` whose last field is `$last`.
macro_rules! pjrt_struct {
    ($($t:ident => $last:ident),* $(,)?) => {
        $(
            // SAFETY: every struct listed here is repr(C), starts with
            // `struct_size: usize` and contains only zeroable fields.
            unsafe impl $crate::ffi::PjrtStruct for $t {
                const STRUCT_SIZE: usize = $crate::pjrt_struct_size!($t, $last);
            }

            impl $t {
                /// Zeroed, with `struct_size` set to our header's size.
                pub fn new() -> Self {
                    <Self as $crate::ffi::PjrtStruct>::new()
                }
            }

            impl Default for $t {
                fn default() -> Self {
                    Self::new()
                }
            }
        )*
    };
}
pub(crate) use pjrt_struct;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sets_struct_size_and_zeroes() {
        let args = PJRT_Buffer_Destroy_Args::new();
        assert_eq!(args.struct_size, 24);
        assert!(args.buffer.is_null());
    }
}
