//! Decoding `PJRT_NamedValue` lists (plugin attributes, cost analysis).
use crate::api::string_from_raw;
use crate::ffi;

/// An owned copy of a `PJRT_NamedValue`'s value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `kString`.
    String(String),
    /// `kInt64`.
    Int64(i64),
    /// `kInt64List`.
    Int64List(Vec<i64>),
    /// `kFloat`.
    Float(f32),
    /// `kBool`.
    Bool(bool),
}

impl Value {
    /// The value as a number, if it is scalar numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int64(v) => Some(*v as f64),
            Value::Float(v) => Some(f64::from(*v)),
            Value::Bool(v) => Some(f64::from(u8::from(*v))),
            Value::String(_) | Value::Int64List(_) => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            Value::Int64(v) => write!(f, "{v}"),
            Value::Int64List(v) => write!(f, "{v:?}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// Copies `count` named values; entries of unknown type are skipped.
///
/// # Safety
/// `ptr` must be null or point to `count` valid `PJRT_NamedValue`s.
pub(crate) unsafe fn decode(
    ptr: *const ffi::PJRT_NamedValue,
    count: usize,
) -> Vec<(String, Value)> {
    if ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: guaranteed by the caller.
    let items = unsafe { std::slice::from_raw_parts(ptr, count) };
    let mut out = Vec::with_capacity(count);
    for nv in items {
        // SAFETY: name/value pointers come from the plugin with their sizes;
        // the union member read is selected by `type_`.
        let decoded = unsafe {
            let name = string_from_raw(nv.name, nv.name_size);
            let value = match nv.type_ {
                ffi::PJRT_NamedValue_kString => Some(Value::String(string_from_raw(
                    nv.value.string_value,
                    nv.value_size,
                ))),
                ffi::PJRT_NamedValue_kInt64 => Some(Value::Int64(nv.value.int64_value)),
                ffi::PJRT_NamedValue_kInt64List => {
                    let p = nv.value.int64_array_value;
                    let list = if p.is_null() || nv.value_size == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(p, nv.value_size).to_vec()
                    };
                    Some(Value::Int64List(list))
                }
                ffi::PJRT_NamedValue_kFloat => Some(Value::Float(nv.value.float_value)),
                ffi::PJRT_NamedValue_kBool => {
                    // Read as a byte so a non-0/1 value is never UB.
                    let byte = *std::ptr::addr_of!(nv.value).cast::<u8>();
                    Some(Value::Bool(byte != 0))
                }
                _ => None,
            };
            value.map(|v| (name, v))
        };
        if let Some(item) = decoded {
            out.push(item);
        }
    }
    out
}
