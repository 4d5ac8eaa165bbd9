//! `rax-pjrt`: a hand-written subset of the PJRT C API ([`ffi`]) and a safe
//! RAII runtime over it: [`Plugin`] → [`Client`] → [`Buffer`] /
//! [`Executable`], plus plugin [`discover`]y.
//!
//! Every call into a plugin first checks that the plugin's `PJRT_Api`
//! table is long enough to contain the function (older plugins have shorter
//! tables) and fails with [`Error::Unsupported`] instead of reading past it.
//!
//! ```no_run
//! use rax_pjrt::{Client, CompileOptions, ElementType, Plugin};
//! let plugin = Plugin::load("/path/to/xla_cpu_pjrt.so")?;
//! let client = Client::new(&plugin)?;
//! let device = client.default_device()?;
//! let x = client.buffer_from_host(&[0u8; 32], ElementType::F32, &[8], &device)?;
//! let exe = client.compile("module @m { ... }", &CompileOptions::default())?;
//! let out = exe.execute(&[&x], &[])?;
//! let bytes = out[0].to_host()?;
//! # Ok::<(), rax_pjrt::Error>(())
//! ```
#![warn(missing_docs)]

mod allocator;
mod api;
mod buffer;
mod client;
mod compile_options;
pub mod cuda;
mod device;
pub mod discover;
mod element_type;
pub mod elf_check;
mod error;
mod event;
mod executable;
pub mod ffi;
mod named_value;
mod plugin;
pub mod proto;
mod signature;

pub use allocator::allocator_name;
pub use api::check_field as api_table_contains;
pub use buffer::{dense_byte_size, Buffer};
pub use client::Client;
pub use compile_options::CompileOptions;
pub use device::Device;
pub use discover::{discover, CandidateSource, Decision, Discovery, PluginCandidate, PluginKind};
pub use element_type::ElementType;
pub use error::{Error, ErrorCode, Result};
pub use executable::{CompiledMemoryStats, Executable};
pub use named_value::Value;
pub use plugin::{Plugin, PluginInfo};
pub use signature::{main_signature, ArgSpec};
