//! [`Executable`]: compilation of StableHLO text, execution on one device,
//! and compiled-program introspection (outputs, cost, memory).
use std::ffi::c_char;
use std::ptr;
use std::sync::Arc;

use crate::api::{pjrt_call, pjrt_fn, string_from_raw, Api};
use crate::buffer::Buffer;
use crate::client::{Client, ClientInner};
use crate::compile_options::CompileOptions;
use crate::element_type::ElementType;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::ffi;
use crate::named_value;
use crate::signature::{main_signature, ArgSpec};

/// Up to this many inputs/outputs, `execute` uses stack scratch space.
const INLINE: usize = 16;

/// `PJRT_Executable_GetCompiledMemoryStats`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompiledMemoryStats {
    /// Generated code size.
    pub generated_code_size_in_bytes: i64,
    /// Argument buffers.
    pub argument_size_in_bytes: i64,
    /// Output buffers.
    pub output_size_in_bytes: i64,
    /// Bytes shared between arguments and outputs (donation).
    pub alias_size_in_bytes: i64,
    /// Scratch space.
    pub temp_size_in_bytes: i64,
    /// Host-side generated code.
    pub host_generated_code_size_in_bytes: i64,
    /// Host-side arguments.
    pub host_argument_size_in_bytes: i64,
    /// Host-side outputs.
    pub host_output_size_in_bytes: i64,
    /// Host-side aliasing.
    pub host_alias_size_in_bytes: i64,
    /// Host-side scratch.
    pub host_temp_size_in_bytes: i64,
    /// Peak memory (0 when the plugin does not compute it).
    pub peak_memory_in_bytes: i64,
}

/// A compiled program loaded on one client.
pub struct Executable {
    loaded: *mut ffi::PJRT_LoadedExecutable,
    exec: *mut ffi::PJRT_Executable,
    client: Arc<ClientInner>,
    num_outputs: usize,
    signature: Option<Vec<ArgSpec>>,
}

// SAFETY: PJRT executables are thread-safe; the handles are owned here.
unsafe impl Send for Executable {}
// SAFETY: see above.
unsafe impl Sync for Executable {}

impl Client {
    /// Compiles StableHLO text (format `mlir`) with `options`.
    ///
    /// A malformed program returns [`Error::Pjrt`] carrying the compiler's
    /// diagnostic.
    pub fn compile(&self, mlir_text: &str, options: &CompileOptions) -> Result<Executable> {
        let api = self.inner.api();
        let encoded = options.encode()?;
        let format = "mlir";
        let mut program = ffi::PJRT_Program::new();
        program.code = mlir_text.as_ptr().cast::<c_char>().cast_mut();
        program.code_size = mlir_text.len();
        program.format = format.as_ptr().cast();
        program.format_size = format.len();
        let mut args = ffi::PJRT_Client_Compile_Args::new();
        args.client = self.inner.raw;
        args.program = &program;
        args.compile_options = encoded.as_ptr().cast();
        args.compile_options_size = encoded.len();
        pjrt_call!(api, PJRT_Client_Compile, &mut args)?;
        self.wrap_loaded(
            args.executable,
            "PJRT_Client_Compile",
            main_signature(mlir_text),
        )
    }

    /// Loads an executable from bytes [`Executable::serialize`] wrote
    /// (`PJRT_Executable_DeserializeAndLoad`). The bytes must come from the same plugin build
    /// on the same kind of host: the plugin checks little and a wrong build may fail to load
    /// (an `Err`). `mlir_text`, the program the bytes were compiled from, gives the parameter
    /// signature `execute` validates against (without it, only the argument count is checked
    /// by the plugin).
    pub fn deserialize_executable(
        &self,
        bytes: &[u8],
        mlir_text: Option<&str>,
    ) -> Result<Executable> {
        let api = self.inner.api();
        let mut args = ffi::PJRT_Executable_DeserializeAndLoad_Args::new();
        args.client = self.inner.raw;
        args.serialized_executable = bytes.as_ptr().cast();
        args.serialized_executable_size = bytes.len();
        pjrt_call!(api, PJRT_Executable_DeserializeAndLoad, &mut args)?;
        self.wrap_loaded(
            args.loaded_executable,
            "PJRT_Executable_DeserializeAndLoad",
            mlir_text.and_then(main_signature),
        )
    }

    /// Takes ownership of a loaded executable the plugin returned from `function`.
    fn wrap_loaded(
        &self,
        loaded: *mut ffi::PJRT_LoadedExecutable,
        function: &'static str,
        signature: Option<Vec<ArgSpec>>,
    ) -> Result<Executable> {
        if loaded.is_null() {
            return Err(Error::NullOutput {
                function,
                what: "executable",
            });
        }
        let api = self.inner.api();
        let mut exe = Executable {
            loaded,
            exec: ptr::null_mut(),
            client: Arc::clone(&self.inner),
            num_outputs: 0,
            signature,
        };
        let mut get = ffi::PJRT_LoadedExecutable_GetExecutable_Args::new();
        get.loaded_executable = exe.loaded;
        pjrt_call!(api, PJRT_LoadedExecutable_GetExecutable, &mut get)?;
        exe.exec = get.executable;
        if exe.exec.is_null() {
            return Err(Error::NullOutput {
                function: "PJRT_LoadedExecutable_GetExecutable",
                what: "executable",
            });
        }
        let mut n = ffi::PJRT_Executable_NumOutputs_Args::new();
        n.executable = exe.exec;
        pjrt_call!(api, PJRT_Executable_NumOutputs, &mut n)?;
        exe.num_outputs = n.num_outputs;
        Ok(exe)
    }
}

impl Executable {
    fn api(&self) -> &Api {
        self.client.api()
    }

    /// Number of outputs per execution.
    pub fn num_outputs(&self) -> usize {
        self.num_outputs
    }

    /// Number of `@main` parameters, if the program text was understood.
    pub fn num_inputs(&self) -> Option<usize> {
        self.signature.as_ref().map(Vec::len)
    }

    /// The executable's name.
    pub fn name(&self) -> Result<String> {
        let mut args = ffi::PJRT_Executable_Name_Args::new();
        args.executable = self.exec;
        pjrt_call!(self.api(), PJRT_Executable_Name, &mut args)?;
        // SAFETY: owned by the executable.
        Ok(unsafe { string_from_raw(args.executable_name, args.executable_name_size) })
    }

    /// Element type of each output.
    pub fn output_element_types(&self) -> Result<Vec<ElementType>> {
        let mut args = ffi::PJRT_Executable_OutputElementTypes_Args::new();
        args.executable = self.exec;
        pjrt_call!(self.api(), PJRT_Executable_OutputElementTypes, &mut args)?;
        if args.output_types.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: owned by the executable, `num_output_types` entries.
        let raw = unsafe { std::slice::from_raw_parts(args.output_types, args.num_output_types) };
        raw.iter().map(|&t| ElementType::from_raw(t)).collect()
    }

    /// Dimensions of each output.
    pub fn output_dims(&self) -> Result<Vec<Vec<i64>>> {
        let mut args = ffi::PJRT_Executable_OutputDimensions_Args::new();
        args.executable = self.exec;
        pjrt_call!(self.api(), PJRT_Executable_OutputDimensions, &mut args)?;
        if args.dim_sizes.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: owned by the executable; `num_outputs` ranks.
        let ranks = unsafe { std::slice::from_raw_parts(args.dim_sizes, args.num_outputs) };
        let total: usize = ranks.iter().sum();
        let flat = if total == 0 || args.dims.is_null() {
            &[][..]
        } else {
            // SAFETY: owned by the executable; `total` dims.
            unsafe { std::slice::from_raw_parts(args.dims, total) }
        };
        let mut out = Vec::with_capacity(ranks.len());
        let mut at = 0;
        for &r in ranks {
            out.push(
                flat.get(at..at + r)
                    .map(<[i64]>::to_vec)
                    .unwrap_or_default(),
            );
            at += r;
        }
        Ok(out)
    }

    /// The plugin's serialization of the compiled program (`PJRT_Executable_Serialize`), for
    /// [`Client::deserialize_executable`] in a later process. Not portable: only the same
    /// plugin build on the same kind of host loads it back.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let mut args = ffi::PJRT_Executable_Serialize_Args::new();
        args.executable = self.exec;
        pjrt_call!(self.api(), PJRT_Executable_Serialize, &mut args)?;
        let bytes = if args.serialized_bytes.is_null() || args.serialized_bytes_size == 0 {
            Vec::new()
        } else {
            // SAFETY: valid until the deleter runs below; `serialized_bytes_size` bytes.
            unsafe {
                std::slice::from_raw_parts(
                    args.serialized_bytes.cast::<u8>(),
                    args.serialized_bytes_size,
                )
            }
            .to_vec()
        };
        if let Some(delete) = args.serialized_executable_deleter {
            if !args.serialized_executable.is_null() {
                // SAFETY: the plugin's deleter, called once on its own object.
                unsafe { delete(args.serialized_executable) };
            }
        }
        if bytes.is_empty() {
            return Err(Error::NullOutput {
                function: "PJRT_Executable_Serialize",
                what: "serialized bytes",
            });
        }
        Ok(bytes)
    }

    /// The plugin's fingerprint of the compiled program, if it computes one.
    pub fn fingerprint(&self) -> Result<Option<String>> {
        let mut args = ffi::PJRT_Executable_Fingerprint_Args::new();
        args.executable = self.exec;
        match pjrt_call!(self.api(), PJRT_Executable_Fingerprint, &mut args) {
            Ok(()) => {}
            Err(Error::Pjrt {
                code: crate::ErrorCode::Unimplemented,
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        }
        if args.executable_fingerprint.is_null() {
            return Ok(None);
        }
        // SAFETY: owned by the executable.
        Ok(Some(unsafe {
            string_from_raw(
                args.executable_fingerprint,
                args.executable_fingerprint_size,
            )
        }))
    }

    /// Cost analysis properties (e.g. `flops`, `bytes accessed`) as numbers.
    pub fn cost_analysis(&self) -> Result<Vec<(String, f64)>> {
        let mut args = ffi::PJRT_Executable_GetCostAnalysis_Args::new();
        args.executable = self.exec;
        pjrt_call!(self.api(), PJRT_Executable_GetCostAnalysis, &mut args)?;
        // SAFETY: owned by the executable, `num_properties` entries.
        let values = unsafe { named_value::decode(args.properties, args.num_properties) };
        Ok(values
            .into_iter()
            .filter_map(|(n, v)| v.as_f64().map(|x| (n, x)))
            .collect())
    }

    /// Memory statistics of the compiled program.
    pub fn compiled_memory_stats(&self) -> Result<CompiledMemoryStats> {
        let mut a = ffi::PJRT_Executable_GetCompiledMemoryStats_Args::new();
        a.executable = self.exec;
        pjrt_call!(self.api(), PJRT_Executable_GetCompiledMemoryStats, &mut a)?;
        Ok(CompiledMemoryStats {
            generated_code_size_in_bytes: a.generated_code_size_in_bytes,
            argument_size_in_bytes: a.argument_size_in_bytes,
            output_size_in_bytes: a.output_size_in_bytes,
            alias_size_in_bytes: a.alias_size_in_bytes,
            temp_size_in_bytes: a.temp_size_in_bytes,
            host_generated_code_size_in_bytes: a.host_generated_code_size_in_bytes,
            host_argument_size_in_bytes: a.host_argument_size_in_bytes,
            host_output_size_in_bytes: a.host_output_size_in_bytes,
            host_alias_size_in_bytes: a.host_alias_size_in_bytes,
            host_temp_size_in_bytes: a.host_temp_size_in_bytes,
            peak_memory_in_bytes: a.peak_memory_in_bytes,
        })
    }

    /// Frees the compiled program's device resources now; later executions
    /// fail. The handle itself is released on drop.
    pub fn delete(&self) -> Result<()> {
        let mut args = ffi::PJRT_LoadedExecutable_Delete_Args::new();
        args.executable = self.loaded;
        pjrt_call!(self.api(), PJRT_LoadedExecutable_Delete, &mut args)
    }

    /// Runs the program on its device and waits for completion.
    ///
    /// `donated[i] == true` lets the program reuse input `i`'s memory for
    /// an output it aliases (`tf.aliasing_output`); that buffer is then
    /// deleted. `donated` must be empty (donate nothing) or have one entry
    /// per input.
    pub fn execute(&self, inputs: &[&Buffer], donated: &[bool]) -> Result<Vec<Buffer>> {
        self.validate_inputs(inputs, donated)?;
        let n_in = inputs.len();
        let n_out = self.num_outputs;

        let mut in_inline = [ptr::null_mut::<ffi::PJRT_Buffer>(); INLINE];
        let mut in_heap;
        let in_raw: &mut [*mut ffi::PJRT_Buffer] = if n_in <= INLINE {
            &mut in_inline[..n_in]
        } else {
            in_heap = vec![ptr::null_mut(); n_in];
            &mut in_heap
        };
        for (slot, b) in in_raw.iter_mut().zip(inputs) {
            *slot = b.raw;
        }

        let mut keep_inline = [0i64; INLINE];
        let mut keep_heap;
        let keep: &mut [i64] = if n_in <= INLINE {
            &mut keep_inline[..]
        } else {
            keep_heap = vec![0i64; n_in];
            &mut keep_heap
        };
        let mut n_keep = 0;
        for i in 0..n_in {
            if !donated.get(i).copied().unwrap_or(false) {
                keep[n_keep] = i as i64;
                n_keep += 1;
            }
        }

        let mut out_inline = [ptr::null_mut::<ffi::PJRT_Buffer>(); INLINE];
        let mut out_heap;
        let out_raw: &mut [*mut ffi::PJRT_Buffer] = if n_out <= INLINE {
            &mut out_inline[..n_out]
        } else {
            out_heap = vec![ptr::null_mut(); n_out];
            &mut out_heap
        };

        let mut options = ffi::PJRT_ExecuteOptions::new();
        options.non_donatable_input_indices = if n_keep == 0 {
            ptr::null()
        } else {
            keep.as_ptr()
        };
        options.num_non_donatable_input_indices = n_keep;

        let arg_list: *const *mut ffi::PJRT_Buffer = in_raw.as_ptr();
        let out_list: *mut *mut ffi::PJRT_Buffer = out_raw.as_mut_ptr();
        let mut done: *mut ffi::PJRT_Event = ptr::null_mut();

        let mut args = ffi::PJRT_LoadedExecutable_Execute_Args::new();
        args.executable = self.loaded;
        args.options = &mut options;
        args.argument_lists = &arg_list;
        args.num_devices = 1;
        args.num_args = n_in;
        args.output_lists = &out_list;
        args.device_complete_events = &mut done;
        let api = self.api();
        let status = pjrt_call!(api, PJRT_LoadedExecutable_Execute, &mut args);
        // Take ownership of whatever was produced before reporting errors.
        let done = Event::from_raw(api, done);
        let outputs: Vec<Buffer> = out_raw
            .iter()
            .filter(|p| !p.is_null())
            .map(|&raw| Buffer {
                raw,
                client: Arc::clone(&self.client),
            })
            .collect();
        status?;
        done.wait()?;
        if outputs.len() != n_out {
            return Err(Error::NullOutput {
                function: "PJRT_LoadedExecutable_Execute",
                what: "output buffer",
            });
        }
        Ok(outputs)
    }

    fn validate_inputs(&self, inputs: &[&Buffer], donated: &[bool]) -> Result<()> {
        if !donated.is_empty() && donated.len() != inputs.len() {
            return Err(Error::InvalidArgument(format!(
                "donated has {} entries for {} inputs",
                donated.len(),
                inputs.len()
            )));
        }
        if let Some(sig) = &self.signature {
            if sig.len() != inputs.len() {
                return Err(Error::InvalidArgument(format!(
                    "program takes {} inputs, {} given",
                    sig.len(),
                    inputs.len()
                )));
            }
        }
        for (i, b) in inputs.iter().enumerate() {
            if !Arc::ptr_eq(&b.client, &self.client) {
                return Err(Error::InvalidArgument(format!(
                    "input {i} belongs to a different client"
                )));
            }
            b.ensure_live()?;
            if donated.get(i).copied().unwrap_or(false)
                && inputs[..i].iter().any(|o| ptr::eq(o.raw, b.raw))
            {
                return Err(Error::InvalidArgument(format!(
                    "input {i} is donated but also passed as another input"
                )));
            }
            if let Some(spec) = self.signature.as_ref().and_then(|s| s.get(i)) {
                check_spec(i, b, spec)?;
            }
        }
        Ok(())
    }
}

fn check_spec(i: usize, b: &Buffer, spec: &ArgSpec) -> Result<()> {
    if let Some(want) = spec.element_type {
        let got = b.raw_element_type()?;
        if got != want.to_raw() {
            return Err(Error::InvalidArgument(format!(
                "input {i}: program expects {want:?}, buffer has {:?}",
                ElementType::from_raw(got)
                    .map_or_else(|_| format!("type {got}"), |t| format!("{t:?}"))
            )));
        }
    }
    let ok = b.with_dims(|dims| {
        dims.len() == spec.dims.len()
            && dims
                .iter()
                .zip(&spec.dims)
                .all(|(d, s)| s.is_none_or(|s| s == *d))
    })?;
    if !ok {
        return Err(Error::InvalidArgument(format!(
            "input {i}: program expects dims {:?}, buffer has {:?}",
            spec.dims,
            b.dims()?
        )));
    }
    Ok(())
}

impl Drop for Executable {
    fn drop(&mut self) {
        let api = self.client.api();
        if !self.exec.is_null() {
            if let Ok(f) = pjrt_fn!(api, PJRT_Executable_Destroy) {
                let mut args = ffi::PJRT_Executable_Destroy_Args::new();
                args.executable = self.exec;
                // SAFETY: owned, destroyed once.
                let err = unsafe { f(&mut args) };
                let _ = api.take_error(err, "PJRT_Executable_Destroy");
            }
        }
        if let Ok(f) = pjrt_fn!(api, PJRT_LoadedExecutable_Destroy) {
            let mut args = ffi::PJRT_LoadedExecutable_Destroy_Args::new();
            args.executable = self.loaded;
            // SAFETY: owned, destroyed once.
            let err = unsafe { f(&mut args) };
            let _ = api.take_error(err, "PJRT_LoadedExecutable_Destroy");
        }
    }
}

impl std::fmt::Debug for Executable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executable")
            .field("name", &self.name().ok())
            .field("num_outputs", &self.num_outputs)
            .field("num_inputs", &self.num_inputs())
            .finish()
    }
}
