//! The norm-freeze demonstration on a short run: under a blanket bf16 cast no norm scale moves
//! and the audit flags every norm; under the policy every norm scale moves and the audit is clean.
//! (The experiment is `examples/norm_freeze/experiment.rs`, run in full by the norm_freeze example.)
use rax::core::policy::Policy;
use rax::runtime::Runtime;
use rax_examples::norm_freeze::{run, Setup};

#[test]
fn blanket_bf16_freezes_norms_and_the_policy_trains_them() {
    let rt = Runtime::interpreter();
    let setup = Setup {
        steps: 40,
        ..Setup::default()
    };
    let policy = Policy::parse("p=f32,c=bf16,a=f32,s=f32").unwrap();
    let blanket = run(&rt, &setup, true, &policy).unwrap();
    let pol = run(&rt, &setup, false, &policy).unwrap();
    assert_eq!(
        blanket.norm_moved_frac, 0.0,
        "bf16 norm scales must be frozen at 1.0"
    );
    assert_eq!(
        blanket.audit_flagged, setup.layers,
        "the audit flags every norm"
    );
    assert_eq!(pol.norm_moved_frac, 1.0, "every f32 norm scale trains");
    assert_eq!(pol.audit_flagged, 0);
    assert!(
        pol.losses.last().unwrap() < &pol.losses[0],
        "loss falls under the policy"
    );
}
