//! Conformance builders and catalogue entries of the `control` family: each case op names a
//! small fixed program (mirroring `xla_ops/gen/control.py`) written with rax's `while_loop`,
//! `cond`, `switch`, `scan` and `optimization_barrier`.

use crate::catalogue::{Entry, Vjp};
use crate::{arity, p_bool};
use rax_core::{
    cond, optimization_barrier, scan, switch, while_loop, DType, Error, Result, Tensor,
};

fn scalar(v: f64, like: &Tensor) -> Tensor {
    like.scalar_like(v)
}

/// Builds a case's outputs.
pub fn build(op: &str, params: &serde_json::Value, xs: &[Tensor]) -> Result<Vec<Tensor>> {
    let out = match op {
        "while_count_double" => {
            arity(op, xs, 2)?;
            while_loop(
                xs,
                |c| c[0].lt(&scalar(10.0, &c[0])),
                |c| vec![&c[0] + 1, &c[1] * 2],
            )
        }
        "while_newton" => {
            arity(op, xs, 2)?;
            let a = xs[0].clone();
            let k0 = Tensor::scalar_of(0.0, DType::I32);
            let out = while_loop(
                &[k0, xs[1].clone()],
                |c| c[0].lt(&scalar(6.0, &c[0])),
                move |c| vec![&c[0] + 1, (&c[1] + &(&a / &c[1])) * 0.5],
            );
            out.into_iter().skip(1).collect()
        }
        "cond_pred" => {
            arity(op, xs, 2)?;
            cond(
                &xs[0],
                |o| vec![&o[0] + 1],
                |o| vec![&o[0] * &o[0]],
                &xs[1..],
            )
        }
        "switch3" => {
            arity(op, xs, 2)?;
            switch(
                &xs[0],
                vec![
                    Box::new(|o: &[Tensor]| vec![&o[0] + 1]),
                    Box::new(|o: &[Tensor]| vec![&o[0] * 2]),
                    Box::new(|o: &[Tensor]| vec![-&o[0]]),
                ],
                &xs[1..],
            )
        }
        "scan_cumsum" => {
            arity(op, xs, 2)?;
            let (c, y) = scan(
                |c, x| (vec![&c[0] + &x[0]], vec![&c[0] * &x[0]]),
                &xs[..1],
                &xs[1..],
                None,
                p_bool(params, "reverse"),
            );
            c.into_iter().chain(y).collect()
        }
        "scan_ema" => {
            arity(op, xs, 3)?;
            let alpha = xs[2].clone();
            let (c, y) = scan(
                move |c, x| {
                    let n = &(&alpha * &c[0]) + &x[0];
                    (vec![n.clone()], vec![n])
                },
                &xs[..1],
                &xs[1..2],
                None,
                false,
            );
            c.into_iter().chain(y).collect()
        }
        "scan_counter" => {
            arity(op, xs, 1)?;
            let (c, y) = scan(
                |c, _| (vec![&c[0] + 3], vec![c[0].clone()]),
                xs,
                &[],
                Some(4),
                false,
            );
            c.into_iter().chain(y).collect()
        }
        "optimization_barrier" => optimization_barrier(xs),
        _ => return Err(Error::data("case", format!("control: unknown op {op}"))),
    };
    Ok(out)
}

/// Catalogue entries.
pub fn catalogue() -> Vec<Entry> {
    vec![
        Entry {
            name: "while",
            stablehlo: "stablehlo.while",
            rule: "carry T... -> T...; cond: T... -> bool[], body: T... -> T... (captures join the carry)".into(),
            interp: true,
            vjp: Vjp::Missing,
        },
        Entry {
            name: "cond",
            stablehlo: "stablehlo.case (cond: convert pred to i32; switch: clamp index)",
            rule: "i32[] index, operands T... -> U...; every branch T... -> U... (captures unioned)".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
        Entry {
            name: "scan",
            stablehlo: "stablehlo.while + dynamic_slice/dynamic_update_slice",
            rule: "carry C..., xs [n, X]..., consts K... -> C..., [n, Y]...; body (C, X, K) -> (C, Y)".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
        Entry {
            name: "optimization_barrier",
            stablehlo: "stablehlo.optimization_barrier",
            rule: "T... -> T... (identity)".into(),
            interp: true,
            vjp: Vjp::Yes,
        },
    ]
}
