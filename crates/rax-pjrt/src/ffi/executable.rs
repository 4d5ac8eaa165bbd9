//! `PJRT_LoadedExecutable_*` and `PJRT_Executable_*` args: execution,
//! output metadata, fingerprints, cost analysis and memory statistics.
use std::ffi::{c_char, c_int};

use super::{pjrt_struct, PJRT_Buffer, PJRT_Buffer_Type, PJRT_Device, PJRT_Error, PJRT_Event};
use super::{PJRT_Extension_Base, PJRT_NamedValue};

/// Opaque executable loaded on a client.
#[repr(C)]
pub struct PJRT_LoadedExecutable {
    _opaque: [u8; 0],
}

/// Opaque compiled (not necessarily loaded) executable.
#[repr(C)]
pub struct PJRT_Executable {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct PJRT_LoadedExecutable_Destroy_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_LoadedExecutable,
}
pub type PJRT_LoadedExecutable_Destroy =
    unsafe extern "C" fn(args: *mut PJRT_LoadedExecutable_Destroy_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_LoadedExecutable_GetExecutable_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub loaded_executable: *mut PJRT_LoadedExecutable,
    /// Out; the caller owns it and must call `PJRT_Executable_Destroy`.
    pub executable: *mut PJRT_Executable,
}
pub type PJRT_LoadedExecutable_GetExecutable =
    unsafe extern "C" fn(args: *mut PJRT_LoadedExecutable_GetExecutable_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_LoadedExecutable_Delete_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_LoadedExecutable,
}
pub type PJRT_LoadedExecutable_Delete =
    unsafe extern "C" fn(args: *mut PJRT_LoadedExecutable_Delete_Args) -> *mut PJRT_Error;

/// Send/recv callbacks are not used by rax; declared opaque.
#[repr(C)]
pub struct PJRT_SendCallbackInfo {
    _opaque: [u8; 0],
}

/// See [`PJRT_SendCallbackInfo`].
#[repr(C)]
pub struct PJRT_RecvCallbackInfo {
    _opaque: [u8; 0],
}

/// Opaque execute context.
#[repr(C)]
pub struct PJRT_ExecuteContext {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct PJRT_ExecuteOptions {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub send_callbacks: *mut *mut PJRT_SendCallbackInfo,
    pub recv_callbacks: *mut *mut PJRT_RecvCallbackInfo,
    pub num_send_ops: usize,
    pub num_recv_ops: usize,
    pub launch_id: c_int,
    /// Inputs listed here are never donated, even if the program aliases them.
    pub non_donatable_input_indices: *const i64,
    pub num_non_donatable_input_indices: usize,
    pub context: *mut PJRT_ExecuteContext,
    pub call_location: *const c_char,
    pub num_tasks: usize,
    pub task_ids: *mut c_int,
    pub incarnation_ids: *mut i64,
}

#[repr(C)]
pub struct PJRT_LoadedExecutable_Execute_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_LoadedExecutable,
    pub options: *mut PJRT_ExecuteOptions,
    /// `num_devices` lists of `num_args` buffers (`PJRT_Buffer* const* const*`).
    pub argument_lists: *const *const *mut PJRT_Buffer,
    pub num_devices: usize,
    pub num_args: usize,
    /// `num_devices` caller-allocated lists of `num_outputs` slots, filled by
    /// the plugin (`PJRT_Buffer** const*`).
    pub output_lists: *const *mut *mut PJRT_Buffer,
    /// Optional (may be null): `num_devices` slots filled with events.
    pub device_complete_events: *mut *mut PJRT_Event,
    /// Only for portable executables; null otherwise.
    pub execute_device: *mut PJRT_Device,
}
pub type PJRT_LoadedExecutable_Execute =
    unsafe extern "C" fn(args: *mut PJRT_LoadedExecutable_Execute_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_Destroy_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
}
pub type PJRT_Executable_Destroy =
    unsafe extern "C" fn(args: *mut PJRT_Executable_Destroy_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_Name_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
    pub executable_name: *const c_char,
    pub executable_name_size: usize,
}
pub type PJRT_Executable_Name =
    unsafe extern "C" fn(args: *mut PJRT_Executable_Name_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_NumOutputs_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
    pub num_outputs: usize,
}
pub type PJRT_Executable_NumOutputs =
    unsafe extern "C" fn(args: *mut PJRT_Executable_NumOutputs_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_Fingerprint_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
    pub executable_fingerprint: *const c_char,
    pub executable_fingerprint_size: usize,
}
pub type PJRT_Executable_Fingerprint =
    unsafe extern "C" fn(args: *mut PJRT_Executable_Fingerprint_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_GetCostAnalysis_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
    pub num_properties: usize,
    /// Owned by the executable.
    pub properties: *const PJRT_NamedValue,
}
pub type PJRT_Executable_GetCostAnalysis =
    unsafe extern "C" fn(args: *mut PJRT_Executable_GetCostAnalysis_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_GetCompiledMemoryStats_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
    pub generated_code_size_in_bytes: i64,
    pub argument_size_in_bytes: i64,
    pub output_size_in_bytes: i64,
    pub alias_size_in_bytes: i64,
    pub temp_size_in_bytes: i64,
    pub host_generated_code_size_in_bytes: i64,
    pub host_argument_size_in_bytes: i64,
    pub host_output_size_in_bytes: i64,
    pub host_alias_size_in_bytes: i64,
    pub host_temp_size_in_bytes: i64,
    pub peak_memory_in_bytes: i64,
}
pub type PJRT_Executable_GetCompiledMemoryStats =
    unsafe extern "C" fn(args: *mut PJRT_Executable_GetCompiledMemoryStats_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_OutputElementTypes_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
    pub output_types: *mut PJRT_Buffer_Type,
    pub num_output_types: usize,
}
pub type PJRT_Executable_OutputElementTypes =
    unsafe extern "C" fn(args: *mut PJRT_Executable_OutputElementTypes_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Executable_OutputDimensions_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *mut PJRT_Executable,
    pub num_outputs: usize,
    /// All outputs' dims concatenated.
    pub dims: *const i64,
    /// Rank of each output.
    pub dim_sizes: *const usize,
}
pub type PJRT_Executable_OutputDimensions =
    unsafe extern "C" fn(args: *mut PJRT_Executable_OutputDimensions_Args) -> *mut PJRT_Error;

/// Opaque owner of a serialization's bytes.
#[repr(C)]
pub struct PJRT_SerializedExecutable {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct PJRT_Executable_Serialize_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub executable: *const PJRT_Executable,
    /// Out; valid until `serialized_executable_deleter(serialized_executable)`.
    pub serialized_bytes: *const c_char,
    pub serialized_bytes_size: usize,
    /// Out; backs `serialized_bytes`.
    pub serialized_executable: *mut PJRT_SerializedExecutable,
    /// Out; must be called once on `serialized_executable`.
    pub serialized_executable_deleter:
        Option<unsafe extern "C" fn(exec: *mut PJRT_SerializedExecutable)>,
}
pub type PJRT_Executable_Serialize =
    unsafe extern "C" fn(args: *mut PJRT_Executable_Serialize_Args) -> *mut PJRT_Error;

/// Declared with the two trailing option fields of later headers (null here: the options
/// stored in the serialization are used), so the size is at least what any plugin expects.
#[repr(C)]
pub struct PJRT_Executable_DeserializeAndLoad_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub client: *mut super::PJRT_Client,
    pub serialized_executable: *const c_char,
    pub serialized_executable_size: usize,
    /// Out.
    pub loaded_executable: *mut PJRT_LoadedExecutable,
    pub overridden_serialized_compile_options: *const c_char,
    pub overridden_serialized_compile_options_size: usize,
}
pub type PJRT_Executable_DeserializeAndLoad =
    unsafe extern "C" fn(args: *mut PJRT_Executable_DeserializeAndLoad_Args) -> *mut PJRT_Error;

pjrt_struct! {
    PJRT_Executable_Serialize_Args => serialized_executable_deleter,
    PJRT_Executable_DeserializeAndLoad_Args => overridden_serialized_compile_options_size,
    PJRT_LoadedExecutable_Destroy_Args => executable,
    PJRT_LoadedExecutable_GetExecutable_Args => executable,
    PJRT_LoadedExecutable_Delete_Args => executable,
    PJRT_ExecuteOptions => incarnation_ids,
    PJRT_LoadedExecutable_Execute_Args => execute_device,
    PJRT_Executable_Destroy_Args => executable,
    PJRT_Executable_Name_Args => executable_name_size,
    PJRT_Executable_NumOutputs_Args => num_outputs,
    PJRT_Executable_Fingerprint_Args => executable_fingerprint_size,
    PJRT_Executable_GetCostAnalysis_Args => properties,
    PJRT_Executable_GetCompiledMemoryStats_Args => peak_memory_in_bytes,
    PJRT_Executable_OutputElementTypes_Args => num_output_types,
    PJRT_Executable_OutputDimensions_Args => dim_sizes,
}
