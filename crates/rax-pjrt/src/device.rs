//! [`Device`]: a device owned by a client (id, kind, description).
use std::fmt;
use std::sync::Arc;

use crate::api::{pjrt_call, string_from_raw};
use crate::client::ClientInner;
use crate::error::{Error, Result};
use crate::ffi;

/// A device of a [`crate::Client`]; keeps the client alive.
#[derive(Clone)]
pub struct Device {
    pub(crate) raw: *mut ffi::PJRT_Device,
    pub(crate) client: Arc<ClientInner>,
}

// SAFETY: devices are immutable plugin objects owned by the (thread-safe)
// client, which this handle keeps alive.
unsafe impl Send for Device {}
// SAFETY: see above.
unsafe impl Sync for Device {}

impl Device {
    pub(crate) fn new(raw: *mut ffi::PJRT_Device, client: Arc<ClientInner>) -> Self {
        Device { raw, client }
    }

    fn description(&self) -> Result<*mut ffi::PJRT_DeviceDescription> {
        let mut args = ffi::PJRT_Device_GetDescription_Args::new();
        args.device = self.raw;
        pjrt_call!(self.client.api(), PJRT_Device_GetDescription, &mut args)?;
        if args.device_description.is_null() {
            return Err(Error::NullOutput {
                function: "PJRT_Device_GetDescription",
                what: "device_description",
            });
        }
        Ok(args.device_description)
    }

    /// Global device id.
    pub fn id(&self) -> Result<i32> {
        let mut args = ffi::PJRT_DeviceDescription_Id_Args::new();
        args.device_description = self.description()?;
        pjrt_call!(self.client.api(), PJRT_DeviceDescription_Id, &mut args)?;
        Ok(args.id)
    }

    /// Device kind, e.g. `cpu`.
    pub fn kind(&self) -> Result<String> {
        let mut args = ffi::PJRT_DeviceDescription_Kind_Args::new();
        args.device_description = self.description()?;
        pjrt_call!(self.client.api(), PJRT_DeviceDescription_Kind, &mut args)?;
        // SAFETY: owned by the device description, alive with the client.
        Ok(unsafe { string_from_raw(args.device_kind, args.device_kind_size) })
    }

    /// Verbose description string.
    pub fn debug_string(&self) -> Result<String> {
        let mut args = ffi::PJRT_DeviceDescription_DebugString_Args::new();
        args.device_description = self.description()?;
        pjrt_call!(
            self.client.api(),
            PJRT_DeviceDescription_DebugString,
            &mut args
        )?;
        // SAFETY: owned by the device description, alive with the client.
        Ok(unsafe { string_from_raw(args.debug_string, args.debug_string_size) })
    }

    /// Local hardware id (ordinal on this host).
    pub fn local_hardware_id(&self) -> Result<i32> {
        let mut args = ffi::PJRT_Device_LocalHardwareId_Args::new();
        args.device = self.raw;
        pjrt_call!(self.client.api(), PJRT_Device_LocalHardwareId, &mut args)?;
        Ok(args.local_hardware_id)
    }

    /// Kind of the device's default memory space (e.g. `device`).
    pub fn default_memory_kind(&self) -> Result<String> {
        let mut args = ffi::PJRT_Device_DefaultMemory_Args::new();
        args.device = self.raw;
        pjrt_call!(self.client.api(), PJRT_Device_DefaultMemory, &mut args)?;
        let mut kind = ffi::PJRT_Memory_Kind_Args::new();
        kind.memory = args.memory;
        pjrt_call!(self.client.api(), PJRT_Memory_Kind, &mut kind)?;
        // SAFETY: owned by the memory, alive with the client.
        Ok(unsafe { string_from_raw(kind.kind, kind.kind_size) })
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id().ok())
            .field("kind", &self.kind().ok())
            .finish()
    }
}
