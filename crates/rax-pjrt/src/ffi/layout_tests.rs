//! Layout regression test: `STRUCT_SIZE` and `size_of` of every declared
//! struct, as printed by a C program compiled against the 0.81 header
//! (`PJRT_<name>_STRUCT_SIZE`, `sizeof`) on x86_64 Linux.
use super::*;

macro_rules! expect_layout {
    ($($t:ident: $size:expr, $sizeof:expr;)*) => {
        $(
            assert_eq!(<$t as PjrtStruct>::STRUCT_SIZE, $size, stringify!($t));
            assert_eq!(std::mem::size_of::<$t>(), $sizeof, stringify!($t));
        )*
    };
}

#[test]
fn layouts_match_c_header() {
    expect_layout! {
        PJRT_Api_Version: 24, 24;
        PJRT_Buffer_Delete_Args: 24, 24;
        PJRT_Buffer_Destroy_Args: 24, 24;
        PJRT_Buffer_Device_Args: 32, 32;
        PJRT_Buffer_Dimensions_Args: 40, 40;
        PJRT_Buffer_ElementType_Args: 28, 32;
        PJRT_Buffer_IsDeleted_Args: 25, 32;
        PJRT_Buffer_OnDeviceSizeInBytes_Args: 32, 32;
        PJRT_Buffer_ReadyEvent_Args: 32, 32;
        PJRT_Buffer_ToHostBuffer_Args: 56, 56;
        PJRT_Client_AddressableDevices_Args: 40, 40;
        PJRT_Client_BufferFromHostBuffer_Args: 120, 120;
        PJRT_Client_Compile_Args: 56, 56;
        PJRT_Client_Create_Args: 88, 88;
        PJRT_Client_Destroy_Args: 24, 24;
        PJRT_Client_Devices_Args: 40, 40;
        PJRT_Client_PlatformName_Args: 40, 40;
        PJRT_Client_PlatformVersion_Args: 40, 40;
        PJRT_DeviceDescription_DebugString_Args: 40, 40;
        PJRT_DeviceDescription_Id_Args: 28, 32;
        PJRT_DeviceDescription_Kind_Args: 40, 40;
        PJRT_Device_DefaultMemory_Args: 32, 32;
        PJRT_Device_GetDescription_Args: 32, 32;
        PJRT_Device_LocalHardwareId_Args: 28, 32;
        PJRT_Error_Destroy_Args: 24, 24;
        PJRT_Error_GetCode_Args: 28, 32;
        PJRT_Error_Message_Args: 40, 40;
        PJRT_Event_Await_Args: 24, 24;
        PJRT_Event_Destroy_Args: 24, 24;
        PJRT_Event_Error_Args: 24, 24;
        PJRT_Event_IsReady_Args: 25, 32;
        PJRT_Event_OnReady_Args: 40, 40;
        PJRT_Executable_Destroy_Args: 24, 24;
        PJRT_Executable_Fingerprint_Args: 40, 40;
        PJRT_Executable_GetCompiledMemoryStats_Args: 112, 112;
        PJRT_Executable_GetCostAnalysis_Args: 40, 40;
        PJRT_Executable_Name_Args: 40, 40;
        PJRT_Executable_NumOutputs_Args: 32, 32;
        PJRT_Executable_OutputDimensions_Args: 48, 48;
        PJRT_Executable_OutputElementTypes_Args: 40, 40;
        PJRT_ExecuteOptions: 112, 112;
        PJRT_LoadedExecutable_Delete_Args: 24, 24;
        PJRT_LoadedExecutable_Destroy_Args: 24, 24;
        PJRT_LoadedExecutable_Execute_Args: 80, 80;
        PJRT_LoadedExecutable_GetExecutable_Args: 32, 32;
        PJRT_Memory_Kind_Args: 40, 40;
        PJRT_NamedValue: 56, 56;
        PJRT_Plugin_Attributes_Args: 32, 32;
        PJRT_Plugin_Initialize_Args: 16, 16;
        PJRT_Program: 48, 48;
    }
    assert_eq!(PJRT_Api_STRUCT_SIZE, 984);
}

/// The serialization structs, from the header's declarations (`DeserializeAndLoad` with the
/// two override fields later headers add; a plugin accepts a struct larger than its own).
#[test]
fn serialization_layouts() {
    expect_layout! {
        PJRT_Executable_Serialize_Args: 56, 56;
        PJRT_Executable_DeserializeAndLoad_Args: 64, 64;
    }
}
