//! [`Buffer`]: an owned device buffer, plus host<->device transfers.
use std::fmt;
use std::sync::Arc;

use crate::api::{pjrt_call, pjrt_fn};
use crate::client::{Client, ClientInner};
use crate::device::Device;
use crate::element_type::ElementType;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::ffi;

/// A device buffer; destroyed on drop. Keeps its client alive.
pub struct Buffer {
    pub(crate) raw: *mut ffi::PJRT_Buffer,
    pub(crate) client: Arc<ClientInner>,
}

// SAFETY: PJRT buffers are thread-safe handles owned by this value.
unsafe impl Send for Buffer {}
// SAFETY: see above.
unsafe impl Sync for Buffer {}

/// Number of bytes a dense array of `dims` elements of `ty` occupies.
pub fn dense_byte_size(ty: ElementType, dims: &[i64]) -> Result<usize> {
    let mut n = ty.byte_size();
    for &d in dims {
        let d = usize::try_from(d)
            .map_err(|_| Error::InvalidArgument(format!("negative dimension {d} in {dims:?}")))?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| Error::InvalidArgument(format!("shape {dims:?} overflows usize")))?;
    }
    Ok(n)
}

impl Client {
    /// Copies `bytes` (dense, row-major) to a new buffer on `device`.
    ///
    /// Uses `kImmutableUntilTransferCompletes` and waits for the transfer,
    /// so `bytes` is free to change once this returns.
    pub fn buffer_from_host(
        &self,
        bytes: &[u8],
        ty: ElementType,
        dims: &[i64],
        device: &Device,
    ) -> Result<Buffer> {
        let expected = dense_byte_size(ty, dims)?;
        if bytes.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} bytes given for {:?}{:?}, which needs {expected}",
                bytes.len(),
                ty,
                dims
            )));
        }
        if !self.same_client(&device.client) {
            return Err(Error::InvalidArgument(
                "device belongs to a different client".into(),
            ));
        }
        let api = self.inner.api();
        let mut args = ffi::PJRT_Client_BufferFromHostBuffer_Args::new();
        args.client = self.inner.raw;
        args.data = bytes.as_ptr().cast();
        args.type_ = ty.to_raw();
        args.dims = dims.as_ptr();
        args.num_dims = dims.len();
        args.host_buffer_semantics = ffi::PJRT_HostBufferSemantics_kImmutableUntilTransferCompletes;
        args.device = device.raw;
        pjrt_call!(api, PJRT_Client_BufferFromHostBuffer, &mut args)?;
        // Own the buffer first so it is freed even if awaiting fails.
        let buffer = (!args.buffer.is_null()).then(|| Buffer {
            raw: args.buffer,
            client: Arc::clone(&self.inner),
        });
        Event::from_raw(api, args.done_with_host_buffer).wait()?;
        buffer.ok_or(Error::NullOutput {
            function: "PJRT_Client_BufferFromHostBuffer",
            what: "buffer",
        })
    }
}

impl Buffer {
    /// Element type.
    pub fn element_type(&self) -> Result<ElementType> {
        ElementType::from_raw(self.raw_element_type()?)
    }

    pub(crate) fn raw_element_type(&self) -> Result<i32> {
        let mut args = ffi::PJRT_Buffer_ElementType_Args::new();
        args.buffer = self.raw;
        pjrt_call!(self.client.api(), PJRT_Buffer_ElementType, &mut args)?;
        Ok(args.type_)
    }

    /// Dimensions.
    pub fn dims(&self) -> Result<Vec<i64>> {
        self.with_dims(<[i64]>::to_vec)
    }

    /// Runs `f` on the plugin-owned dims without copying them.
    pub(crate) fn with_dims<R>(&self, f: impl FnOnce(&[i64]) -> R) -> Result<R> {
        let mut args = ffi::PJRT_Buffer_Dimensions_Args::new();
        args.buffer = self.raw;
        pjrt_call!(self.client.api(), PJRT_Buffer_Dimensions, &mut args)?;
        if args.dims.is_null() || args.num_dims == 0 {
            return Ok(f(&[]));
        }
        // SAFETY: owned by the buffer, valid while it is alive.
        Ok(f(unsafe {
            std::slice::from_raw_parts(args.dims, args.num_dims)
        }))
    }

    /// Bytes the buffer occupies on the device (including padding).
    pub fn on_device_size(&self) -> Result<usize> {
        self.ensure_live()?;
        let mut args = ffi::PJRT_Buffer_OnDeviceSizeInBytes_Args::new();
        args.buffer = self.raw;
        pjrt_call!(
            self.client.api(),
            PJRT_Buffer_OnDeviceSizeInBytes,
            &mut args
        )?;
        Ok(args.on_device_size_in_bytes)
    }

    /// The device holding the buffer.
    pub fn device(&self) -> Result<Device> {
        let mut args = ffi::PJRT_Buffer_Device_Args::new();
        args.buffer = self.raw;
        pjrt_call!(self.client.api(), PJRT_Buffer_Device, &mut args)?;
        if args.device.is_null() {
            return Err(Error::NullOutput {
                function: "PJRT_Buffer_Device",
                what: "device",
            });
        }
        Ok(Device::new(args.device, Arc::clone(&self.client)))
    }

    /// Whether the buffer was deleted or donated to an execution.
    pub fn is_deleted(&self) -> Result<bool> {
        let mut args = ffi::PJRT_Buffer_IsDeleted_Args::new();
        args.buffer = self.raw;
        pjrt_call!(self.client.api(), PJRT_Buffer_IsDeleted, &mut args)?;
        Ok(args.is_deleted)
    }

    pub(crate) fn ensure_live(&self) -> Result<()> {
        if self.is_deleted()? {
            return Err(Error::BufferDeleted);
        }
        Ok(())
    }

    /// Frees the device memory now; the handle stays valid but any further
    /// use reports [`Error::BufferDeleted`].
    pub fn delete(&self) -> Result<()> {
        let mut args = ffi::PJRT_Buffer_Delete_Args::new();
        args.buffer = self.raw;
        pjrt_call!(self.client.api(), PJRT_Buffer_Delete, &mut args)
    }

    /// Waits until the buffer's contents are computed.
    pub fn block_until_ready(&self) -> Result<()> {
        self.ensure_live()?;
        let api = self.client.api();
        let mut args = ffi::PJRT_Buffer_ReadyEvent_Args::new();
        args.buffer = self.raw;
        pjrt_call!(api, PJRT_Buffer_ReadyEvent, &mut args)?;
        Event::from_raw(api, args.event).wait()
    }

    /// Copies the buffer to a new host vector (dense, row-major), waiting
    /// for the transfer to finish.
    pub fn to_host(&self) -> Result<Vec<u8>> {
        self.ensure_live()?;
        let size = self.dense_size()?;
        let mut out = vec![0u8; size];
        self.copy_to_host(&mut out)?;
        Ok(out)
    }

    /// Copies the buffer into `dst`, which must have exactly the dense size.
    pub fn to_host_into(&self, dst: &mut [u8]) -> Result<()> {
        self.ensure_live()?;
        let expected = self.dense_size()?;
        if dst.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "destination has {} bytes, buffer needs {expected}",
                dst.len()
            )));
        }
        self.copy_to_host(dst)
    }

    fn dense_size(&self) -> Result<usize> {
        let ty = self.element_type()?;
        self.with_dims(|d| dense_byte_size(ty, d))?
    }

    fn copy_to_host(&self, dst: &mut [u8]) -> Result<()> {
        let api = self.client.api();
        let mut args = ffi::PJRT_Buffer_ToHostBuffer_Args::new();
        args.src = self.raw;
        args.dst = dst.as_mut_ptr().cast();
        args.dst_size = dst.len();
        pjrt_call!(api, PJRT_Buffer_ToHostBuffer, &mut args)?;
        Event::from_raw(api, args.event).wait()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let api = self.client.api();
        if let Ok(f) = pjrt_fn!(api, PJRT_Buffer_Destroy) {
            let mut args = ffi::PJRT_Buffer_Destroy_Args::new();
            args.buffer = self.raw;
            // SAFETY: we own the buffer and destroy it exactly once.
            let err = unsafe { f(&mut args) };
            let _ = api.take_error(err, "PJRT_Buffer_Destroy");
        }
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("element_type", &self.element_type().ok())
            .field("dims", &self.dims().ok())
            .field("deleted", &self.is_deleted().ok())
            .finish()
    }
}
