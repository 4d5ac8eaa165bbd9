//! RAII wrapper over `PJRT_Event` (crate-internal: every public operation
//! awaits its events before returning).
use crate::api::{pjrt_call, pjrt_fn, Api};
use crate::error::Result;
use crate::ffi;

/// An owned event, destroyed on drop.
pub(crate) struct Event<'a> {
    raw: *mut ffi::PJRT_Event,
    api: &'a Api,
}

impl<'a> Event<'a> {
    /// Takes ownership of `raw` (which may be null: a null event is "ready").
    pub(crate) fn from_raw(api: &'a Api, raw: *mut ffi::PJRT_Event) -> Self {
        Event { raw, api }
    }

    /// Blocks until the event is ready; returns the event's error, if any.
    pub(crate) fn wait(self) -> Result<()> {
        if self.raw.is_null() {
            return Ok(());
        }
        let mut args = ffi::PJRT_Event_Await_Args::new();
        args.event = self.raw;
        pjrt_call!(self.api, PJRT_Event_Await, &mut args)
    }

    /// Non-blocking readiness check.
    #[allow(dead_code)]
    pub(crate) fn is_ready(&self) -> Result<bool> {
        if self.raw.is_null() {
            return Ok(true);
        }
        let mut args = ffi::PJRT_Event_IsReady_Args::new();
        args.event = self.raw;
        pjrt_call!(self.api, PJRT_Event_IsReady, &mut args)?;
        Ok(args.is_ready)
    }
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        if self.raw.is_null() {
            return;
        }
        if let Ok(f) = pjrt_fn!(self.api, PJRT_Event_Destroy) {
            let mut args = ffi::PJRT_Event_Destroy_Args::new();
            args.event = self.raw;
            // SAFETY: we own the event and destroy it exactly once.
            let err = unsafe { f(&mut args) };
            // Errors from destroy cannot be reported from Drop; free them.
            let _ = self.api.take_error(err, "PJRT_Event_Destroy");
        }
    }
}
