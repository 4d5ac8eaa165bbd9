//! The embedded backend: runs graphs with rax-core's reference interpreter
//! (`rax_core::interp::eval_graph_arc`). Its "device" arrays ([`InterpArray`]) are host
//! literals with a donation flag, so jitted programs behave alike on every backend: results
//! stay backend-owned until `.to_literal()`, and a donated argument cannot be used again.
//!
//! Depends on `backend` and rax-core.

use crate::backend::{
    check_args, check_donated_unique, Backend, BackendInfo, Donation, Executable,
};
use rax_core::{AVal, Array, DeviceArray, Error, Graph, Literal, Result};
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

const NAME: &str = "interpreter";

/// The embedded interpreter backend.
#[derive(Debug)]
pub struct Interpreter {
    info: BackendInfo,
}

impl Default for Interpreter {
    fn default() -> Self {
        Interpreter::new()
    }
}

impl Interpreter {
    /// The interpreter.
    pub fn new() -> Interpreter {
        Interpreter {
            info: BackendInfo {
                name: NAME.into(),
                platform: "host".into(),
                platform_version: format!("rax {}", env!("CARGO_PKG_VERSION")),
                api_version: None,
                plugin_path: None,
            },
        }
    }
}

/// An array owned by the interpreter backend.
#[derive(Debug)]
pub struct InterpArray {
    aval: AVal,
    value: Mutex<Option<Arc<Literal>>>,
    donated: AtomicBool,
}

impl InterpArray {
    /// Wraps a literal.
    pub fn new(lit: Arc<Literal>) -> InterpArray {
        InterpArray {
            aval: lit.aval(),
            value: Mutex::new(Some(lit)),
            donated: AtomicBool::new(false),
        }
    }

    /// True once donated to a call.
    pub fn is_donated(&self) -> bool {
        self.donated.load(Ordering::Acquire)
    }

    fn literal(&self) -> Result<Arc<Literal>> {
        let g = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        g.clone()
            .ok_or_else(|| crate::backend::donated_error(NAME, "this array"))
    }

    /// Marks the array donated and releases its memory.
    fn consume(&self) {
        self.donated.store(true, Ordering::Release);
        let mut g = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        *g = None;
    }
}

impl DeviceArray for InterpArray {
    fn aval(&self) -> &AVal {
        &self.aval
    }
    fn to_literal(&self) -> Result<Literal> {
        Ok((*self.literal()?).clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A graph ready to be interpreted.
#[derive(Debug)]
pub struct InterpExecutable {
    graph: Graph,
    in_avals: Vec<AVal>,
    out_avals: Vec<AVal>,
    donation: Donation,
    flags: Vec<bool>,
}

impl Backend for Interpreter {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn compile(&self, graph: &Graph, donation: &Donation) -> Result<Arc<dyn Executable>> {
        let in_avals = graph.in_avals();
        let out_avals = graph.out_avals();
        donation.validate(&in_avals, &out_avals)?;
        let flags = donation.flags(in_avals.len());
        Ok(Arc::new(InterpExecutable {
            graph: graph.clone(),
            in_avals,
            out_avals,
            donation: donation.clone(),
            flags,
        }))
    }

    fn to_device(&self, lit: &Literal) -> Result<Array> {
        Ok(Array::Device(Arc::new(InterpArray::new(Arc::new(
            lit.clone(),
        )))))
    }
}

impl Executable for InterpExecutable {
    fn in_avals(&self) -> &[AVal] {
        &self.in_avals
    }
    fn out_avals(&self) -> &[AVal] {
        &self.out_avals
    }
    fn donation(&self) -> &Donation {
        &self.donation
    }

    fn execute(&self, args: &[Array]) -> Result<Vec<Array>> {
        check_args(NAME, &self.in_avals, args)?;
        check_donated_unique(NAME, &self.flags, args)?;
        let mut lits = Vec::with_capacity(args.len());
        for a in args {
            lits.push(match a {
                Array::Host(l) => l.clone(),
                Array::Device(d) => match d.as_any().downcast_ref::<InterpArray>() {
                    Some(x) => x.literal()?,
                    None => Arc::new(d.to_literal()?),
                },
            });
        }
        // Donated arguments are consumed before running, so their memory can be released as
        // soon as the interpreter is done with them.
        for (a, &donated) in args.iter().zip(&self.flags) {
            if let (Array::Device(d), true) = (a, donated) {
                if let Some(x) = d.as_any().downcast_ref::<InterpArray>() {
                    x.consume();
                }
            }
        }
        let outs = rax_core::interp::eval_graph_arc(&self.graph, &lits)?;
        drop(lits);
        if outs.len() != self.out_avals.len() {
            return Err(Error::backend(NAME, "wrong number of results"));
        }
        Ok(outs
            .into_iter()
            .map(|l| Array::Device(Arc::new(InterpArray::new(Arc::new(l))) as Arc<dyn DeviceArray>))
            .collect())
    }
}
