//! [`CompileOptions`] and its hand encoding as `xla.CompileOptionsProto`.
//!
//! Field numbers (xla/pjrt/compile_options.proto, xla/xla_data.proto):
//! `CompileOptionsProto.executable_build_options = 3`;
//! `ExecutableBuildOptionsProto { device_ordinal = 1, num_replicas = 4,
//! num_partitions = 5, use_spmd_partitioning = 6, device_assignment = 9 }`;
//! `DeviceAssignmentProto { replica_count = 1, computation_count = 2,
//! computation_devices = 3 { replica_device_ids = 1 } }`.
use crate::error::{Error, Result};
use crate::proto::ProtoWriter;

/// Options for [`crate::Client::compile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// Number of replicas (must be >= 1; the plugin aborts on 0).
    pub num_replicas: i64,
    /// Number of SPMD partitions (must be >= 1).
    pub num_partitions: i64,
    /// Device ordinal to build for; `None` leaves it unset (-1).
    pub device_ordinal: Option<i64>,
    /// Explicit device ids, indexed `[partition][replica]`; `None` lets the
    /// plugin pick its default assignment.
    pub device_assignment: Option<Vec<Vec<i64>>>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            num_replicas: 1,
            num_partitions: 1,
            device_ordinal: None,
            device_assignment: None,
        }
    }
}

// Field numbers.
const COMPILE_OPTIONS_EXECUTABLE_BUILD_OPTIONS: u32 = 3;
const BUILD_DEVICE_ORDINAL: u32 = 1;
const BUILD_NUM_REPLICAS: u32 = 4;
const BUILD_NUM_PARTITIONS: u32 = 5;
const BUILD_USE_SPMD_PARTITIONING: u32 = 6;
const BUILD_DEVICE_ASSIGNMENT: u32 = 9;
const DA_REPLICA_COUNT: u32 = 1;
const DA_COMPUTATION_COUNT: u32 = 2;
const DA_COMPUTATION_DEVICES: u32 = 3;
const CD_REPLICA_DEVICE_IDS: u32 = 1;

impl CompileOptions {
    /// Options targeting one device by id (sets a 1x1 device assignment).
    pub fn for_device(device_id: i64) -> Self {
        CompileOptions {
            device_assignment: Some(vec![vec![device_id]]),
            ..Self::default()
        }
    }

    /// Checks invariants the plugin would otherwise abort on.
    pub fn validate(&self) -> Result<()> {
        if self.num_replicas < 1 || self.num_partitions < 1 {
            return Err(Error::InvalidArgument(format!(
                "num_replicas ({}) and num_partitions ({}) must be >= 1",
                self.num_replicas, self.num_partitions
            )));
        }
        if let Some(da) = &self.device_assignment {
            let parts_ok = i64::try_from(da.len()).is_ok_and(|n| n == self.num_partitions);
            let reps_ok = da
                .iter()
                .all(|r| i64::try_from(r.len()).is_ok_and(|n| n == self.num_replicas));
            if !parts_ok || !reps_ok {
                return Err(Error::InvalidArgument(format!(
                    "device assignment must be {} partitions x {} replicas",
                    self.num_partitions, self.num_replicas
                )));
            }
        }
        Ok(())
    }

    /// Serializes as `xla.CompileOptionsProto`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut build = ProtoWriter::new();
        if let Some(ordinal) = self.device_ordinal {
            build.int64(BUILD_DEVICE_ORDINAL, ordinal);
        }
        build.int64(BUILD_NUM_REPLICAS, self.num_replicas);
        build.int64(BUILD_NUM_PARTITIONS, self.num_partitions);
        if self.num_partitions > 1 {
            build.bool(BUILD_USE_SPMD_PARTITIONING, true);
        }
        if let Some(da) = &self.device_assignment {
            let mut assignment = ProtoWriter::new();
            assignment.int64(DA_REPLICA_COUNT, self.num_replicas);
            assignment.int64(DA_COMPUTATION_COUNT, self.num_partitions);
            for replicas in da {
                let mut cd = ProtoWriter::new();
                cd.packed_int64(CD_REPLICA_DEVICE_IDS, replicas);
                assignment.message(DA_COMPUTATION_DEVICES, &cd);
            }
            build.message(BUILD_DEVICE_ASSIGNMENT, &assignment);
        }
        let mut options = ProtoWriter::new();
        options.message(COMPILE_OPTIONS_EXECUTABLE_BUILD_OPTIONS, &build);
        Ok(options.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_encoding() {
        let bytes = CompileOptions::default().encode().unwrap();
        // field 3 { num_replicas(4)=1, num_partitions(5)=1 }
        assert_eq!(bytes, vec![0x1a, 0x04, 0x20, 0x01, 0x28, 0x01]);
    }

    #[test]
    fn device_assignment_encoding() {
        let bytes = CompileOptions::for_device(0).encode().unwrap();
        assert_eq!(
            bytes,
            vec![
                0x1a, 0x0f, 0x20, 0x01, 0x28, 0x01, // replicas, partitions
                0x4a, 0x09, 0x08, 0x01, 0x10, 0x01, // assignment: counts
                0x1a, 0x03, 0x0a, 0x01, 0x00, // computation_devices [[0]]
            ]
        );
    }

    #[test]
    fn rejects_zero_replicas() {
        let o = CompileOptions {
            num_replicas: 0,
            ..CompileOptions::default()
        };
        assert!(o.encode().is_err());
    }
}
