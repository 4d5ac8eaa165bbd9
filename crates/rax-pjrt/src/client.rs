//! [`Client`]: a `PJRT_Client` with its plugin kept alive by an [`Arc`].
//!
//! Buffers, devices and executables hold an `Arc` to the client's inner
//! state, so the client is destroyed only after everything created from it.
use std::ffi::c_char;
use std::sync::Arc;

use crate::api::{pjrt_call, pjrt_fn, string_from_raw, Api};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ffi;
use crate::named_value::Value;
use crate::plugin::Plugin;

/// Shared state behind [`Client`], [`Device`], `Buffer` and `Executable`.
pub(crate) struct ClientInner {
    pub(crate) plugin: Arc<Plugin>,
    pub(crate) raw: *mut ffi::PJRT_Client,
}

// SAFETY: PJRT clients are thread-safe; the pointer is owned and only
// destroyed in Drop.
unsafe impl Send for ClientInner {}
// SAFETY: see above.
unsafe impl Sync for ClientInner {}

impl ClientInner {
    pub(crate) fn api(&self) -> &Api {
        self.plugin.api()
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        let api = self.plugin.api();
        if let Ok(f) = pjrt_fn!(api, PJRT_Client_Destroy) {
            let mut args = ffi::PJRT_Client_Destroy_Args::new();
            args.client = self.raw;
            // SAFETY: every object created from the client holds an Arc to
            // this inner value, so nothing uses the client after this.
            let err = unsafe { f(&mut args) };
            let _ = api.take_error(err, "PJRT_Client_Destroy");
        }
    }
}

/// A PJRT client: the entry point for devices, buffers and compilation.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("plugin", &self.inner.plugin.path())
            .finish()
    }
}

impl Client {
    /// Creates a client with default options.
    pub fn new(plugin: &Arc<Plugin>) -> Result<Client> {
        Self::with_options(plugin, &[])
    }

    /// Creates a client with plugin-specific create options
    /// (e.g. `("cpu_device_count", Value::Int64(4))`).
    pub fn with_options(plugin: &Arc<Plugin>, options: &[(&str, Value)]) -> Result<Client> {
        let api = plugin.api();
        let named: Vec<ffi::PJRT_NamedValue> = options.iter().map(|(n, v)| encode(n, v)).collect();
        let mut args = ffi::PJRT_Client_Create_Args::new();
        args.create_options = if named.is_empty() {
            std::ptr::null()
        } else {
            named.as_ptr()
        };
        args.num_options = named.len();
        pjrt_call!(api, PJRT_Client_Create, &mut args)?;
        if args.client.is_null() {
            return Err(Error::NullOutput {
                function: "PJRT_Client_Create",
                what: "client",
            });
        }
        Ok(Client {
            inner: Arc::new(ClientInner {
                plugin: Arc::clone(plugin),
                raw: args.client,
            }),
        })
    }

    /// The plugin this client runs on.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.inner.plugin
    }

    /// Platform name, e.g. `cpu`.
    pub fn platform_name(&self) -> Result<String> {
        let mut args = ffi::PJRT_Client_PlatformName_Args::new();
        args.client = self.inner.raw;
        pjrt_call!(self.inner.api(), PJRT_Client_PlatformName, &mut args)?;
        // SAFETY: owned by the client, which is alive.
        Ok(unsafe { string_from_raw(args.platform_name, args.platform_name_size) })
    }

    /// Platform version string.
    pub fn platform_version(&self) -> Result<String> {
        let mut args = ffi::PJRT_Client_PlatformVersion_Args::new();
        args.client = self.inner.raw;
        pjrt_call!(self.inner.api(), PJRT_Client_PlatformVersion, &mut args)?;
        // SAFETY: owned by the client, which is alive.
        Ok(unsafe { string_from_raw(args.platform_version, args.platform_version_size) })
    }

    /// All devices (including non-addressable ones in multi-process setups).
    pub fn devices(&self) -> Result<Vec<Device>> {
        let mut args = ffi::PJRT_Client_Devices_Args::new();
        args.client = self.inner.raw;
        pjrt_call!(self.inner.api(), PJRT_Client_Devices, &mut args)?;
        Ok(self.wrap_devices(args.devices, args.num_devices))
    }

    /// Devices this process can put buffers on and run executables on.
    pub fn addressable_devices(&self) -> Result<Vec<Device>> {
        let mut args = ffi::PJRT_Client_AddressableDevices_Args::new();
        args.client = self.inner.raw;
        pjrt_call!(self.inner.api(), PJRT_Client_AddressableDevices, &mut args)?;
        Ok(self.wrap_devices(args.addressable_devices, args.num_addressable_devices))
    }

    /// The first addressable device.
    pub fn default_device(&self) -> Result<Device> {
        self.addressable_devices()?
            .into_iter()
            .next()
            .ok_or_else(|| Error::InvalidArgument("client has no addressable device".into()))
    }

    fn wrap_devices(&self, ptr: *const *mut ffi::PJRT_Device, n: usize) -> Vec<Device> {
        if ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: the array is owned by the client and has `n` entries.
        let raw = unsafe { std::slice::from_raw_parts(ptr, n) };
        raw.iter()
            .filter(|d| !d.is_null())
            .map(|&d| Device::new(d, Arc::clone(&self.inner)))
            .collect()
    }

    pub(crate) fn same_client(&self, other: &Arc<ClientInner>) -> bool {
        Arc::ptr_eq(&self.inner, other)
    }
}

/// Borrows `value` into a `PJRT_NamedValue`; `value` must outlive the use.
fn encode(name: &str, value: &Value) -> ffi::PJRT_NamedValue {
    let mut nv = ffi::PJRT_NamedValue::new();
    nv.name = name.as_ptr().cast::<c_char>();
    nv.name_size = name.len();
    match value {
        Value::String(s) => {
            nv.type_ = ffi::PJRT_NamedValue_kString;
            nv.value.string_value = s.as_ptr().cast::<c_char>();
            nv.value_size = s.len();
        }
        Value::Int64(v) => {
            nv.type_ = ffi::PJRT_NamedValue_kInt64;
            nv.value.int64_value = *v;
            nv.value_size = 1;
        }
        Value::Int64List(v) => {
            nv.type_ = ffi::PJRT_NamedValue_kInt64List;
            nv.value.int64_array_value = v.as_ptr();
            nv.value_size = v.len();
        }
        Value::Float(v) => {
            nv.type_ = ffi::PJRT_NamedValue_kFloat;
            nv.value.float_value = *v;
            nv.value_size = 1;
        }
        Value::Bool(v) => {
            nv.type_ = ffi::PJRT_NamedValue_kBool;
            nv.value.bool_value = *v;
            nv.value_size = 1;
        }
    }
    nv
}
