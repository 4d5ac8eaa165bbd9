//! Backends, jit caching, donation and argument validation on the interpreter and on every
//! CPU PJRT plugin found (both are required under CI).
mod common;

use common::*;
use rax_core::{AVal, Array, DType, Literal, Tensor};
use rax_runtime::{is_donated, Donation, PjrtArray, Runtime};
use std::collections::BTreeMap;

fn f32s(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

#[test]
fn jit_compiles_once_per_signature() {
    for (label, rt) in all_runtimes() {
        let f = rt.jit(|x: &Tensor| x * 2.0 + 1.0);
        let a = f32s(&[4], vec![0.0, 1.0, 2.0, 3.0]);
        for _ in 0..3 {
            let y = f.call(&a).unwrap();
            assert_eq!(
                y.to_vec::<f32>().unwrap(),
                vec![1.0, 3.0, 5.0, 7.0],
                "{label}"
            );
        }
        assert_eq!(f.compile_count(), 1, "{label}");
        // Same signature, other values: no recompilation.
        f.call(&f32s(&[4], vec![9.0; 4])).unwrap();
        assert_eq!(f.compile_count(), 1, "{label}");
        // New shape, new dtype: one compilation each, then cached.
        f.call(&f32s(&[2], vec![1.0, 2.0])).unwrap();
        f.call(&Tensor::full(&[4], 1.0, DType::BF16)).unwrap();
        f.call(&Tensor::full(&[4], 1.0, DType::BF16)).unwrap();
        f.call(&f32s(&[2], vec![1.0, 2.0])).unwrap();
        assert_eq!(f.compile_count(), 3, "{label}");
        // Device results feed back without recompiling.
        let y = f.call(&a).unwrap();
        let z = f.call(&y).unwrap();
        assert_eq!(
            z.to_vec::<f32>().unwrap(),
            vec![3.0, 7.0, 11.0, 15.0],
            "{label}"
        );
        assert_eq!(f.compile_count(), 3, "{label}");
        if rt.is_pjrt() {
            assert!(
                matches!(y.array(), Some(Array::Device(_))),
                "{label}: result on device"
            );
        }
    }
}

#[test]
fn compile_ahead_of_time_caches_without_running_or_consuming() {
    for (label, rt) in all_runtimes() {
        let step = rt
            .jit(|(w, x): &(Tensor, Tensor)| (w - x, x * 2.0))
            .donate_args(&[0]);
        let w = rt
            .put(&Literal::from_vec([3], vec![1.0f32, 2.0, 3.0]).unwrap())
            .unwrap();
        let x = f32s(&[3], vec![0.5; 3]);
        let args = (w, x.clone());
        assert!(step.compile(&args).unwrap(), "{label}: first compile");
        assert!(!step.compile(&args).unwrap(), "{label}: cached");
        assert_eq!(step.compile_count(), 1, "{label}");
        // The donated input was not consumed by compiling; the call runs the cached program.
        let (w2, y) = step.call(&args).unwrap();
        assert_eq!(step.compile_count(), 1, "{label}");
        assert_eq!(w2.to_vec::<f32>().unwrap(), vec![0.5, 1.5, 2.5], "{label}");
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0; 3], "{label}");
        // Another signature compiles again.
        assert!(step
            .compile(&(f32s(&[2], vec![1.0; 2]), f32s(&[2], vec![1.0; 2])))
            .unwrap());
        assert_eq!(step.compile_count(), 2, "{label}");
    }
}

#[test]
fn tree_structure_is_part_of_the_signature() {
    for (label, rt) in all_runtimes() {
        let f = rt.jit(|xs: &Vec<Tensor>| {
            let mut acc = Tensor::zeros(&[2], DType::F32);
            for x in xs {
                acc = acc + x;
            }
            (acc.clone(), acc * 10.0)
        });
        let x = f32s(&[2], vec![1.0, 2.0]);
        let (s, t) = f.call(&vec![x.clone(), x.clone()]).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![2.0, 4.0], "{label}");
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![20.0, 40.0], "{label}");
        let (s, _) = f.call(&vec![x.clone(), x.clone(), x.clone()]).unwrap();
        assert_eq!(s.to_vec::<f32>().unwrap(), vec![3.0, 6.0], "{label}");
        f.call(&vec![x.clone(), x.clone()]).unwrap();
        assert_eq!(f.compile_count(), 2, "{label}");

        let g = rt.jit(|m: &BTreeMap<String, Tensor>| {
            m.values().fold(Tensor::scalar_of(0.0, DType::F32), |a, b| {
                &a + &b.reshape(&[])
            })
        });
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), f32s(&[1], vec![1.0]));
        g.call(&m).unwrap();
        let mut m2 = BTreeMap::new();
        m2.insert("b".to_string(), f32s(&[1], vec![5.0]));
        assert_eq!(
            g.call(&m2).unwrap().to_vec::<f32>().unwrap(),
            vec![5.0],
            "{label}"
        );
        assert_eq!(
            g.compile_count(),
            2,
            "{label}: field names are part of the signature"
        );
    }
}

#[test]
fn same_results_on_every_backend() {
    fn f(x: &(Tensor, Tensor)) -> (Tensor, Tensor) {
        let (a, b) = x;
        ((a * b).exp() - a, (a / b).tanh().maximum(&b.neg()))
    }
    let a = f32s(&[2, 3], vec![0.5, -1.0, 2.0, 0.0, 3.5, -0.25]);
    let b = f32s(&[2, 3], vec![1.0, 2.0, -3.0, 4.0, 0.5, 8.0]);
    let reference = Runtime::interpreter()
        .jit(f)
        .call(&(a.clone(), b.clone()))
        .unwrap();
    for (label, rt) in cpu_runtimes() {
        let got = rt.jit(f).call(&(a.clone(), b.clone())).unwrap();
        for (r, g) in [(&reference.0, &got.0), (&reference.1, &got.1)] {
            let (r, g) = (r.to_vec::<f32>().unwrap(), g.to_vec::<f32>().unwrap());
            for (x, y) in r.iter().zip(&g) {
                assert!(
                    (x - y).abs() <= 1e-5 * x.abs().max(1.0),
                    "{label}: {r:?} vs {g:?}"
                );
            }
        }
    }
}

#[test]
fn donation_updates_in_place_and_consumes_the_input() {
    for (label, rt) in all_runtimes() {
        // (params, batch) -> (new params, loss-like output); params donated.
        let step = rt
            .jit(|(p, x): &(Vec<Tensor>, Tensor)| {
                let new: Vec<Tensor> = p.iter().map(|w| w - &(x * 0.5)).collect();
                let out = &new[0] * x;
                (new, out)
            })
            .donate_args(&[0]);
        let text = step
            .stablehlo(&(vec![f32s(&[3], vec![0.0; 3]); 2], f32s(&[3], vec![0.0; 3])))
            .unwrap();
        // stablehlo() shows what the backend compiles: plugins older than API 0.100 get no
        // aliases (wrong results measured on 0.81), the donated inputs are still consumed.
        let aliased = rax_runtime::aliases_supported(rt.info().api_version);
        assert_eq!(
            text.contains("tf.aliasing_output = 0 : i32"),
            aliased,
            "{label}: {text}"
        );
        assert_eq!(
            text.contains("tf.aliasing_output = 1 : i32"),
            aliased,
            "{label}: {text}"
        );
        assert!(
            !text.contains("%arg2: tensor<3xf32> {"),
            "batch is not donated: {text}"
        );

        let p0 = rt
            .put(&Literal::from_vec([3], vec![1.0f32, 2.0, 3.0]).unwrap())
            .unwrap();
        let p1 = rt
            .put(&Literal::from_vec([3], vec![4.0f32, 5.0, 6.0]).unwrap())
            .unwrap();
        let x = f32s(&[3], vec![2.0, 2.0, 2.0]);
        let params = vec![p0.clone(), p1];
        let (params2, out) = step.call(&(params.clone(), x.clone())).unwrap();
        assert_eq!(
            params2[0].to_vec::<f32>().unwrap(),
            vec![0.0, 1.0, 2.0],
            "{label}"
        );
        assert_eq!(out.to_vec::<f32>().unwrap(), vec![0.0, 2.0, 4.0], "{label}");
        // The old params were consumed.
        assert!(is_donated(p0.array().unwrap()), "{label}");
        // Plugins older than API 0.100 get no aliases (see `Pjrt::compile`): rax still
        // consumes the donated input, but the plugin keeps its buffer until it is dropped.
        let aliases = rt.info().api_version.is_none_or(|v| v >= (0, 100));
        if let (true, Some(Array::Device(d))) = (aliases, p0.array()) {
            if let Some(pa) = d.as_any().downcast_ref::<PjrtArray>() {
                assert!(
                    pa.buffer().is_deleted().unwrap(),
                    "{label}: plugin kept the buffer"
                );
            }
        }
        let e = p0.to_literal().unwrap_err().to_string();
        assert!(e.contains("donated"), "{label}: {e}");
        let e = step.call(&(params, x.clone())).unwrap_err().to_string();
        assert!(e.contains("`0.0`") && e.contains("donated"), "{label}: {e}");
        // The batch (host literal) was not donated, and chaining donations works.
        let mut p = params2;
        for _ in 0..5 {
            p = step.call(&(p, x.clone())).unwrap().0;
        }
        assert_eq!(
            p[1].to_vec::<f32>().unwrap(),
            vec![-2.0, -1.0, 0.0],
            "{label}"
        );
        assert_eq!(step.compile_count(), 1, "{label}");
    }
}

#[test]
fn donation_assignment_rules() {
    let f = AVal::new([2], DType::F32);
    let g = AVal::new([3], DType::F32);
    let d = Donation::assign(
        &[f.clone(), g.clone(), f.clone(), f.clone()],
        &[f.clone(), f.clone(), g.clone()],
        &[true, true, false, true],
    );
    assert_eq!(d.aliases, vec![(0, 0), (1, 2), (3, 1)]);
    assert!(d.donors.is_empty());
    let d = Donation::assign(
        &[f.clone(), f.clone()],
        std::slice::from_ref(&f),
        &[true, true],
    );
    assert_eq!(d.aliases, vec![(0, 0)]);
    assert_eq!(d.donors, vec![1]);
    assert!(Donation {
        aliases: vec![(0, 0)],
        donors: vec![]
    }
    .validate(std::slice::from_ref(&g), std::slice::from_ref(&f))
    .is_err());
    assert!(Donation {
        aliases: vec![(5, 0)],
        donors: vec![]
    }
    .validate(std::slice::from_ref(&f), std::slice::from_ref(&f))
    .is_err());
}

#[test]
fn bad_arguments_are_errors_not_aborts() {
    for (label, rt) in all_runtimes() {
        let traced = rax_core::trace(&[AVal::new([4], DType::F32)], |x| vec![&x[0] + 1.0]).unwrap();
        let donation = Donation {
            aliases: vec![(0, 0)],
            donors: vec![],
        };
        let exe = rt.backend().compile(&traced.graph, &donation).unwrap();
        let ok = rt
            .backend()
            .to_device(&Literal::zeros(&AVal::new([4], DType::F32)))
            .unwrap();
        let wrong_shape = rt
            .backend()
            .to_device(&Literal::zeros(&AVal::new([5], DType::F32)))
            .unwrap();
        let wrong_dtype = Array::Host(Literal::zeros(&AVal::new([4], DType::I32)).into());
        let e = exe.execute(&[]).unwrap_err().to_string();
        assert!(e.contains("takes 1 arguments, 0 given"), "{label}: {e}");
        let e = exe
            .execute(&[ok.clone(), ok.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("takes 1 arguments, 2 given"), "{label}: {e}");
        let e = exe.execute(&[wrong_shape]).unwrap_err().to_string();
        assert!(e.contains("must be f32[4]"), "{label}: {e}");
        let e = exe.execute(&[wrong_dtype]).unwrap_err().to_string();
        assert!(e.contains("must be f32[4], got i32[4]"), "{label}: {e}");
        // Donated once: fine; twice: an error before reaching the plugin.
        let out = exe.execute(std::slice::from_ref(&ok)).unwrap();
        assert_eq!(
            out[0].to_literal().unwrap().to_f64_vec(),
            vec![1.0; 4],
            "{label}"
        );
        let e = exe.execute(&[ok]).unwrap_err().to_string();
        assert!(e.contains("donated"), "{label}: {e}");
        // A donation that does not fit the program.
        let bad = Donation {
            aliases: vec![(0, 1)],
            donors: vec![],
        };
        assert!(
            rt.backend().compile(&traced.graph, &bad).is_err(),
            "{label}"
        );
    }
}

#[test]
fn the_same_buffer_donated_and_passed_twice_is_rejected() {
    for (label, rt) in all_runtimes() {
        let f = rt
            .jit(|(a, b): &(Tensor, Tensor)| a + b)
            .donate(|p| p == "1");
        let x = rt
            .put(&Literal::from_vec([2], vec![1.0f32, 2.0]).unwrap())
            .unwrap();
        let e = f.call(&(x.clone(), x.clone())).unwrap_err().to_string();
        assert!(e.contains("also argument"), "{label}: {e}");
        assert!(!is_donated(x.array().unwrap()), "{label}");
        assert_eq!(
            f.call(&(x.clone(), x.to_literal().map(Tensor::from_literal).unwrap()))
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            vec![2.0, 4.0]
        );
    }
}

#[test]
fn host_device_round_trip_every_dtype() {
    for (label, rt) in all_runtimes() {
        for d in DType::ALL {
            let lit = Literal::from_f64s([2, 3], d, &[0.0, 1.0, 2.0, 3.0, -1.0, 0.5]).unwrap();
            let t = rt.put(&lit).unwrap();
            assert_eq!(t.to_literal().unwrap(), lit, "{label} {d}");
            let e = Literal::zeros(&AVal::new([0, 4], d));
            assert_eq!(
                rt.put(&e).unwrap().to_literal().unwrap(),
                e,
                "{label} {d} empty"
            );
            let s = Literal::from_f64s([], d, &[1.0]).unwrap();
            assert_eq!(
                rt.put(&s).unwrap().to_literal().unwrap(),
                s,
                "{label} {d} scalar"
            );
        }
    }
}

#[test]
fn arrays_of_another_backend_are_copied_in() {
    let interp = Runtime::interpreter();
    let x = interp
        .put(&Literal::from_vec([2], vec![1.0f32, 2.0]).unwrap())
        .unwrap();
    for (label, rt) in cpu_runtimes() {
        let f = rt.jit(|x: &Tensor| x + 1.0);
        let y = f.call(&x).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 3.0], "{label}");
        // And back: a plugin's array into an interpreter jit.
        let z = interp.jit(|x: &Tensor| x * 3.0).call(&y).unwrap();
        assert_eq!(z.to_vec::<f32>().unwrap(), vec![6.0, 9.0], "{label}");
    }
}

#[test]
fn jit_inside_a_trace_is_inlined_and_errors_carry_the_call_site() {
    let rt = Runtime::interpreter();
    let inner = rt.jit(|x: &Tensor| x * 2.0);
    let outer = rt.jit(|x: &Tensor| inner.call(x).unwrap() + 1.0);
    let y = outer.call(&f32s(&[2], vec![1.0, 2.0])).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, 5.0]);
    assert_eq!(inner.compile_count(), 0);
    let bad = rt.jit(|x: &Tensor| x + &Tensor::zeros(&[3], DType::F32));
    let e = bad
        .call(&f32s(&[2], vec![1.0, 2.0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("runtime.rs"), "{e}");
    assert_eq!(bad.compile_count(), 0);
}

#[test]
fn missing_or_broken_plugins_are_errors() {
    let e = Runtime::pjrt("/nonexistent/libpjrt.so")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found"), "{e}");
    // Not a shared library at all.
    let dir = std::env::temp_dir().join(format!("rax-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("fake_plugin.so");
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let e = Runtime::pjrt(&fake).unwrap_err().to_string();
    // Checked before dlopen (a truncated library would SIGBUS inside it).
    assert!(e.contains("too short for an ELF header"), "{e}");
    // A real shared library that is not a PJRT plugin.
    for lib in [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ] {
        if std::path::Path::new(lib).exists() {
            let e = Runtime::pjrt(lib).unwrap_err().to_string();
            assert!(e.contains("not a PJRT plugin"), "{e}");
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn describes_its_backend() {
    let rt = Runtime::interpreter();
    assert!(
        rt.description().starts_with("interpreter on host"),
        "{}",
        rt.description()
    );
    for (label, rt) in cpu_runtimes() {
        let d = rt.description();
        assert!(d.starts_with("pjrt on cpu, PJRT C API 0."), "{label}: {d}");
        assert!(d.contains("why: explicit plugin path"), "{label}: {d}");
    }
}

#[test]
fn max_min_clamp_propagate_nan_like_jax() {
    for (label, rt) in all_runtimes() {
        let f = rt.jit(|(a, b): &(Tensor, Tensor)| (a.maximum(b), a.minimum(b)));
        let a = f32s(&[3], vec![f32::NAN, 1.0, 0.0]);
        let b = f32s(&[3], vec![0.0, f32::NAN, -1.0]);
        let (mx, mn) = f.call(&(a, b)).unwrap();
        let (mx, mn) = (mx.to_vec::<f32>().unwrap(), mn.to_vec::<f32>().unwrap());
        assert!(
            mx[0].is_nan() && mx[1].is_nan() && mx[2] == 0.0,
            "{label}: {mx:?}"
        );
        assert!(
            mn[0].is_nan() && mn[1].is_nan() && mn[2] == -1.0,
            "{label}: {mn:?}"
        );
    }
}

#[test]
fn jit_of_a_result_body_propagates_errors_and_differentiates() {
    for (label, rt) in all_runtimes() {
        let f = rt.jit(|x: &Tensor| {
            let (v, g) = rax_core::value_and_grad(|x: &Tensor| {
                let y = (x * x).reshape(&[]);
                y * 3.0
            })(x)?;
            Ok((v, g))
        });
        let (v, g) = f.call(&f32s(&[1], vec![2.0])).unwrap();
        assert_eq!(v.to_vec::<f32>().unwrap(), vec![12.0], "{label}");
        assert_eq!(g.to_vec::<f32>().unwrap(), vec![12.0], "{label}");
        let bad = rt.jit(|_: &Tensor| -> rax_core::Result<Tensor> {
            Err(rax_core::Error::arg("mine", "boom"))
        });
        let e = bad.call(&f32s(&[1], vec![2.0])).unwrap_err().to_string();
        assert!(e.contains("boom"), "{label}: {e}");
        assert_eq!(bad.compile_count(), 0);
    }
}
