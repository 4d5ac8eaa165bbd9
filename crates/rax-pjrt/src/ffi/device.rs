//! `PJRT_Device_*`, `PJRT_DeviceDescription_*` and `PJRT_Memory_*` args.
use std::ffi::{c_char, c_int};

use super::{pjrt_struct, PJRT_Error, PJRT_Extension_Base};

/// Opaque device (owned by the client).
#[repr(C)]
pub struct PJRT_Device {
    _opaque: [u8; 0],
}

/// Opaque device description (owned by the device).
#[repr(C)]
pub struct PJRT_DeviceDescription {
    _opaque: [u8; 0],
}

/// Opaque memory space (owned by the client).
#[repr(C)]
pub struct PJRT_Memory {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct PJRT_Device_GetDescription_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub device: *mut PJRT_Device,
    pub device_description: *mut PJRT_DeviceDescription,
}
pub type PJRT_Device_GetDescription =
    unsafe extern "C" fn(args: *mut PJRT_Device_GetDescription_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Device_LocalHardwareId_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub device: *mut PJRT_Device,
    pub local_hardware_id: c_int,
}
pub type PJRT_Device_LocalHardwareId =
    unsafe extern "C" fn(args: *mut PJRT_Device_LocalHardwareId_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Device_DefaultMemory_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub device: *mut PJRT_Device,
    pub memory: *mut PJRT_Memory,
}
pub type PJRT_Device_DefaultMemory =
    unsafe extern "C" fn(args: *mut PJRT_Device_DefaultMemory_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_DeviceDescription_Id_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub device_description: *mut PJRT_DeviceDescription,
    pub id: c_int,
}
pub type PJRT_DeviceDescription_Id =
    unsafe extern "C" fn(args: *mut PJRT_DeviceDescription_Id_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_DeviceDescription_Kind_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub device_description: *mut PJRT_DeviceDescription,
    pub device_kind: *const c_char,
    pub device_kind_size: usize,
}
pub type PJRT_DeviceDescription_Kind =
    unsafe extern "C" fn(args: *mut PJRT_DeviceDescription_Kind_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_DeviceDescription_DebugString_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub device_description: *mut PJRT_DeviceDescription,
    pub debug_string: *const c_char,
    pub debug_string_size: usize,
}
pub type PJRT_DeviceDescription_DebugString =
    unsafe extern "C" fn(args: *mut PJRT_DeviceDescription_DebugString_Args) -> *mut PJRT_Error;

#[repr(C)]
pub struct PJRT_Memory_Kind_Args {
    pub struct_size: usize,
    pub extension_start: *mut PJRT_Extension_Base,
    pub memory: *mut PJRT_Memory,
    pub kind: *const c_char,
    pub kind_size: usize,
}
pub type PJRT_Memory_Kind =
    unsafe extern "C" fn(args: *mut PJRT_Memory_Kind_Args) -> *mut PJRT_Error;

pjrt_struct! {
    PJRT_Device_GetDescription_Args => device_description,
    PJRT_Device_LocalHardwareId_Args => local_hardware_id,
    PJRT_Device_DefaultMemory_Args => memory,
    PJRT_DeviceDescription_Id_Args => id,
    PJRT_DeviceDescription_Kind_Args => device_kind_size,
    PJRT_DeviceDescription_DebugString_Args => debug_string_size,
    PJRT_Memory_Kind_Args => kind_size,
}
