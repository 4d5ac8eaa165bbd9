//! The dtype policy (string form, serde, validation messages), loss scaling, and the
//! precision-sensitive parameter tools (audit, ensure, cast_floating, the narrowing guard).

use rax_core::policy::{LossScale, Policy};
use rax_core::precision::{
    all_finite, assign_checked, audit, audit_policy, cast_floating, ensure, select_tree,
};
use rax_core::tree::flatten;
use rax_core::{DType, Error, Sensitive, Tensor};
use std::collections::BTreeMap;

fn t(v: f64, d: DType) -> Tensor {
    Tensor::full(&[2], v, d)
}

#[test]
fn string_form_round_trips() {
    let p = Policy::parse("p=f32,c=bf16,a=f32,s=f32").unwrap();
    assert_eq!(p, Policy::bf16_compute());
    assert_eq!(p.to_string(), "p=f32,c=bf16,a=f32,s=f32");
    assert_eq!(p.to_string().parse::<Policy>().unwrap(), p);
    // Long keys and dtype names; missing keys default to f32.
    let q = Policy::parse("params=float32, compute=bfloat16").unwrap();
    assert_eq!(q, p);
    assert_eq!(Policy::parse("").unwrap(), Policy::default());
    // A bare dtype sets all four (`--policy f32` on the command line; blanket bf16).
    assert_eq!(Policy::parse("f32").unwrap(), Policy::default());
    assert_eq!(
        Policy::parse(" bf16 ").unwrap().to_string(),
        "p=bf16,c=bf16,a=bf16,s=bf16"
    );
    assert_eq!(Policy::default().to_string(), "p=f32,c=f32,a=f32,s=f32");
    for bad in ["p=f33", "x=f32", "p", "p=f32,p=bf16"] {
        let e = Policy::parse(bad).unwrap_err().to_string();
        assert!(e.contains("Policy::parse"), "{bad}: {e}");
    }
    assert!(Policy::parse("q=f32")
        .unwrap_err()
        .to_string()
        .contains("unknown key `q`"));
}

#[test]
fn serde_json_round_trips() {
    let p = Policy::parse("p=f32,c=bf16,a=f32,s=f32").unwrap();
    let j = serde_json::to_string(&p).unwrap();
    assert_eq!(
        j,
        r#"{"param":"f32","compute":"bf16","accum":"f32","softmax":"f32"}"#
    );
    assert_eq!(serde_json::from_str::<Policy>(&j).unwrap(), p);
    // Missing fields default to f32; unknown fields are rejected.
    assert_eq!(
        serde_json::from_str::<Policy>(r#"{"compute":"bf16"}"#).unwrap(),
        p
    );
    assert!(serde_json::from_str::<Policy>(r#"{"cmpute":"bf16"}"#).is_err());
    let ls = LossScale::dynamic();
    let j = serde_json::to_string(&ls).unwrap();
    assert_eq!(serde_json::from_str::<LossScale>(&j).unwrap(), ls);
}

#[test]
fn validation_explains() {
    assert!(Policy::default().validate(None).is_ok());
    assert!(Policy::bf16_compute().validate(None).is_ok());
    let f16 = Policy::parse("c=f16").unwrap();
    let e = f16.validate(None).unwrap_err().to_string();
    assert!(e.contains("compute=f16 needs loss scaling"), "{e}");
    assert!(e.contains("LossScale"), "{e}");
    assert!(f16.validate(Some(&LossScale::dynamic())).is_ok());
    assert!(f16
        .validate(Some(&LossScale::Static { scale: 1024.0 }))
        .is_ok());
    let e = Policy::parse("a=bf16")
        .unwrap()
        .validate(None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("accum=bf16") && e.contains("must be f32"), "{e}");
    let e = Policy::parse("c=f8e4m3fn")
        .unwrap()
        .validate(None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fp8 is reserved as a GEMM input format"), "{e}");
    let e = Policy::parse("p=i32")
        .unwrap()
        .validate(None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("real float"), "{e}");
    assert!(Policy::parse_valid("p=f16,c=f16", None).is_err());
}

fn model() -> (Sensitive<BTreeMap<String, Tensor>>, Vec<Tensor>) {
    let mut norms = BTreeMap::new();
    norms.insert("scale".to_string(), t(1.0, DType::F32));
    (
        Sensitive(norms),
        vec![t(0.5, DType::F32), Tensor::full(&[2], 3.0, DType::I32)],
    )
}

#[test]
fn cast_skips_sensitive_and_audit_ensure() {
    let m = model();
    let c = cast_floating(&m, DType::BF16, false);
    let d: Vec<DType> = flatten(&c).iter().map(|x| x.dtype()).collect();
    assert_eq!(d, vec![DType::F32, DType::BF16, DType::I32]);
    assert!(audit(&c).is_empty());
    let forced = cast_floating(&m, DType::BF16, true);
    assert_eq!(audit(&forced), vec![("0.scale".to_string(), DType::BF16)]);
    let fixed = ensure(&forced);
    assert!(audit(&fixed).is_empty());
    assert_eq!(
        flatten(&fixed)[1].dtype(),
        DType::BF16,
        "non-sensitive leaves untouched"
    );
    // The policy-wide audit also lists leaves narrower than `param`.
    let all = audit_policy(&forced, &Policy::default());
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(audit_policy(&forced, &Policy::parse("p=bf16").unwrap()).len() == 1);
    let p = Policy::bf16_compute();
    let d: Vec<DType> = flatten(&p.cast_to_compute(&m))
        .iter()
        .map(|x| x.dtype())
        .collect();
    assert_eq!(d, vec![DType::F32, DType::BF16, DType::I32]);
    let back = p.cast_to_param(&p.cast_to_compute(&m));
    assert!(flatten(&back)
        .iter()
        .take(2)
        .all(|x| x.dtype() == DType::F32));
}

#[test]
fn narrowing_guard_names_path_dtypes_and_site() {
    // An f32 fast-weight state written back into a bf16 slot.
    let mut slots = BTreeMap::new();
    slots.insert("fast_w".to_string(), t(0.0, DType::BF16));
    let mut vals = BTreeMap::new();
    vals.insert("fast_w".to_string(), t(0.25, DType::F32));
    let e = assign_checked(&slots, &vals).unwrap_err();
    let line = line!() - 1;
    let msg = e.to_string();
    assert!(msg.contains("leaf `fast_w`"), "{msg}");
    assert!(msg.contains("f32") && msg.contains("bf16"), "{msg}");
    assert!(msg.contains(&format!("tests/policy.rs:{line}")), "{msg}");
    assert!(matches!(e, Error::InvalidArgument { .. }));
    // Also at trace time: dtypes are static.
    let r = rax_core::trace(&[rax_core::AVal::new(vec![2], DType::F32)], |xs| {
        let mut v = BTreeMap::new();
        v.insert("fast_w".to_string(), xs[0].clone());
        let e = assign_checked(&slots, &v).unwrap_err();
        assert!(e.to_string().contains("fast_w"));
        vec![xs[0].clone()]
    });
    assert!(r.is_ok());
    // Widening is allowed (and casts); same dtype passes through.
    let ok = assign_checked(&vals, &slots).unwrap();
    assert_eq!(ok["fast_w"].dtype(), DType::F32);
    // A sensitive slot accepts only f32.
    let sens = Sensitive(t(1.0, DType::F32));
    let e = assign_checked(&sens, &Sensitive(t(1.0, DType::BF16)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("sensitive"), "{e}");
    // Structure and shape mismatches are errors too.
    assert!(assign_checked(&t(0.0, DType::F32), &Tensor::full(&[3], 0.0, DType::F32)).is_err());
}

#[test]
fn loss_scaling_dynamic_and_skip() {
    let ls = LossScale::Dynamic {
        initial: 8.0,
        period: 2,
        factor: 2.0,
        floor: 1.0,
    };
    let mut st = ls.init();
    let g = vec![Tensor::from_vec([2], vec![8.0f32, 16.0])
        .unwrap()
        .cast(DType::F16)];
    let loss = Tensor::scalar_of(0.5, DType::F16);
    assert_eq!(
        ls.scale_loss(&st, &loss).to_vec::<half::f16>().unwrap()[0].to_f32(),
        4.0
    );
    let (u, fin, next) = ls.unscale_and_adjust(&st, &g);
    assert_eq!(
        u[0].to_vec::<half::f16>()
            .unwrap()
            .iter()
            .map(|x| x.to_f32())
            .collect::<Vec<_>>(),
        vec![1.0, 2.0]
    );
    assert_eq!(fin.to_vec::<bool>().unwrap(), vec![true]);
    st = next;
    // A second finite step reaches the period: the scale doubles.
    let (_, _, next) = ls.unscale_and_adjust(&st, &g);
    assert_eq!(next.scale.to_vec::<f32>().unwrap(), vec![16.0]);
    assert_eq!(next.good_steps.to_vec::<i32>().unwrap(), vec![0]);
    // A non-finite step halves it (not below the floor) and is skipped with select_tree.
    let bad = vec![Tensor::from_vec([2], vec![f32::INFINITY, 1.0]).unwrap()];
    let (_, fin, next2) = ls.unscale_and_adjust(&next, &bad);
    assert_eq!(fin.to_vec::<bool>().unwrap(), vec![false]);
    assert_eq!(next2.scale.to_vec::<f32>().unwrap(), vec![8.0]);
    let old = vec![t(1.0, DType::F32)];
    let new = vec![t(2.0, DType::F32)];
    let kept = select_tree(&fin, &new, &old).unwrap();
    assert_eq!(kept[0].to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
    let mut s = LossScale::Dynamic {
        initial: 1.0,
        period: 2,
        factor: 2.0,
        floor: 1.0,
    }
    .init();
    s = LossScale::Dynamic {
        initial: 1.0,
        period: 2,
        factor: 2.0,
        floor: 1.0,
    }
    .adjust(&s, &Tensor::scalar_of(0.0, DType::Bool));
    assert_eq!(s.scale.to_vec::<f32>().unwrap(), vec![1.0], "floor");
    assert_eq!(
        all_finite(&Vec::<Tensor>::new()).to_vec::<bool>().unwrap(),
        vec![true]
    );
    assert_eq!(
        all_finite(&Tensor::scalar_of(f64::NAN, DType::F32))
            .to_vec::<bool>()
            .unwrap(),
        vec![false]
    );
}
