//! Calls beyond a plugin's `PJRT_Api.struct_size` fail cleanly.
mod common;

use std::mem::offset_of;

use common::*;
use rax_pjrt::{ffi, Client, Error};

#[test]
fn function_beyond_struct_size_is_unsupported() {
    for (label, plugin, client) in clients() {
        // Pretend the plugin's table ends right before PJRT_Client_Create.
        let old = plugin.with_api_struct_size(offset_of!(ffi::PJRT_Api, PJRT_Client_Create));
        let err = Client::new(&old).unwrap_err();
        let text = err.to_string();
        let (major, minor) = plugin.api_version();
        assert!(
            matches!(
                err,
                Error::Unsupported {
                    function: "PJRT_Client_Create",
                    ..
                }
            ),
            "{label}"
        );
        assert!(
            text.contains(&format!("{major}.{minor}")),
            "{label}: {text}"
        );

        // Truncate just before GetCompiledMemoryStats: compile works, the
        // stats call reports Unsupported.
        let cut = offset_of!(ffi::PJRT_Api, PJRT_Executable_GetCompiledMemoryStats);
        let older = plugin.with_api_struct_size(cut);
        let c2 = Client::new(&older).unwrap();
        let exe = compile(label, &c2, ADD_ONE);
        let err = exe.compiled_memory_stats().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Unsupported {
                    function: "PJRT_Executable_GetCompiledMemoryStats",
                    ..
                }
            ),
            "{label}: {err}"
        );
        drop(client);
    }
}
