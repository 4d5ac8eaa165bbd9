//! ComplexEMA and TimestepNorm against megalodon-jax 0.2.2 layer goldens (written by
//! crates/rax-models/gen/megalodon_goldens.py, copied to tests/data/megalodon_layers.safetensors)
//! and the EMA's four paths against each other.
use rax_core::{DType, Literal, Sensitive, Tensor};
use rax_nn::cema::{self, ComplexEma, Cplx, SegmentScan};
use rax_nn::segments::derive;
use rax_nn::timestep_norm::{NormState, TimestepNorm};
use std::collections::BTreeMap;

fn golden() -> BTreeMap<String, Literal> {
    rax_nn::checkpoint::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/megalodon_layers.safetensors"
    ))
    .unwrap()
}

fn t(g: &BTreeMap<String, Literal>, k: &str) -> Tensor {
    Tensor::from_literal(g.get(k).unwrap_or_else(|| panic!("{k}")).clone())
}

/// max |a − b| relative to max |b|.
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    assert_eq!(a.len(), b.len());
    let s = b.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-6);
    a.iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
        / s
}

fn stacked(h: &Cplx) -> Tensor {
    Tensor::stack(&[h.re.clone(), h.im.clone()], 3)
}

fn ema(g: &BTreeMap<String, Literal>) -> ComplexEma {
    ComplexEma {
        alpha: Sensitive(t(g, "cema.alpha")),
        delta: Sensitive(t(g, "cema.delta")),
        theta: Sensitive(t(g, "cema.theta")),
        gamma_real: Sensitive(t(g, "cema.gamma_real")),
        gamma_imag: Sensitive(t(g, "cema.gamma_imag")),
        omega: Sensitive(t(g, "cema.omega")),
    }
}

// Tolerances: everything is f32; the FFT convolution (length 128 transforms) and the closed-form
// powers |q|^j e^{i·arg(q)·j} accumulate rounding differently from XLA's, a few 1e-6 of the
// output scale: allow 2e-5 (megalodon-jax's own rtol for model outputs).
const TOL: f64 = 2e-5;

#[test]
fn cema_paths_match_peer() {
    let g = golden();
    let e = ema(&g);
    let (xl, xs) = (t(&g, "cema.x_long"), t(&g, "cema.x_short"));
    let h0 = Cplx {
        re: t(&g, "cema.h0_re"),
        im: t(&g, "cema.h0_im"),
    };
    let (y, _) = e.apply(&xl, None, false, None, None);
    assert!(rel(&y, &t(&g, "cema.y_fft")) < TOL, "fft");
    let (_, h) = e.apply(&xl, None, true, None, None);
    assert!(
        rel(&stacked(&h.unwrap()), &t(&g, "cema.h_fft")) < TOL,
        "fft state"
    );
    let (y, h) = e.apply(&xl, Some(&h0), true, None, None);
    assert!(rel(&y, &t(&g, "cema.y_fft_h0")) < TOL, "fft + h0");
    assert!(
        rel(&stacked(&h.unwrap()), &t(&g, "cema.h_fft_h0")) < TOL,
        "fft + h0 state"
    );
    let (y, h) = e.apply(&xs, Some(&h0), true, None, None);
    assert!(rel(&y, &t(&g, "cema.y_seq_h0")) < TOL, "sequential");
    assert!(
        rel(&stacked(&h.unwrap()), &t(&g, "cema.h_seq_h0")) < TOL,
        "sequential state"
    );
    let meta = derive(&t(&g, "cema.segment_ids"));
    for how in [SegmentScan::Associative, SegmentScan::Sequential] {
        let (y, h) = e.apply(&xl, None, true, None, Some((&meta, how)));
        let ey = rel(&y, &t(&g, "cema.y_seg"));
        let eh = rel(&stacked(&h.unwrap()), &t(&g, "cema.h_seg"));
        eprintln!("{how:?}: y {ey:.2e} state {eh:.2e}");
        assert!(ey < TOL && eh < TOL, "{how:?}");
    }
}

#[test]
fn cema_paths_agree_with_each_other() {
    let g = golden();
    let e = ema(&g);
    let c = e.coeffs();
    let xl = t(&g, "cema.x_long");
    let h0 = Cplx {
        re: t(&g, "cema.h0_re"),
        im: t(&g, "cema.h0_im"),
    };
    // FFT (one kernel block) vs FFT with the kernel built in blocks of 7 exponents.
    let y1 = cema::fft_conv(&xl, &c, 4096);
    let y7 = cema::fft_conv(&xl, &c, 7);
    assert!(rel(&y7, &y1) < 1e-6, "blocked kernel");
    // FFT + carried state vs the sequential recurrence from the same state.
    let yf = &y1 + cema::initial_state_bias(&h0, &c, 40, 4096);
    let hf = cema::final_state_parallel(&xl, Some(&h0), &c, 4096);
    let hf7 = cema::final_state_parallel(&xl, Some(&h0), &c, 7);
    let (ys, hs) = cema::sequential(&xl, &c, Some(&h0), None);
    let e1 = rel(&yf, &ys);
    let e2 = rel(&stacked(&hf), &stacked(&hs));
    eprintln!("fft vs sequential: y {e1:.2e} state {e2:.2e}");
    assert!(e1 < TOL && e2 < TOL);
    assert!(rel(&stacked(&hf7), &stacked(&hf)) < 1e-6, "blocked state");
    // The associative scan with a single segment vs the FFT path.
    let one = Tensor::full(&[2, 40], 1.0, DType::I32);
    let (ya, ha) = cema::segmented_scan(&xl, &c, &derive(&one));
    let hf0 = cema::final_state_parallel(&xl, None, &c, 4096);
    assert!(
        rel(&ya, &y1) < TOL && rel(&stacked(&ha), &stacked(&hf0)) < TOL,
        "assoc vs fft"
    );
    // Segmented: associative scan vs sequential recurrence with resets.
    let meta = derive(&t(&g, "cema.segment_ids"));
    let (ya, ha) = cema::segmented_scan(&xl, &c, &meta);
    let (yq, hq) = cema::sequential(&xl, &c, None, Some(&meta));
    assert!(
        rel(&ya, &yq) < TOL && rel(&stacked(&ha), &stacked(&hq)) < TOL,
        "segmented"
    );
    // Continuation: FFT over 40 tokens == 25 tokens, then 15 continued from the state.
    let (a, b) = (xl.slice_axis(2, 0, 25), xl.slice_axis(2, 25, 40));
    let (ya, h) = e.apply(&a, None, true, None, None);
    let (yb, _) = e.apply(&b, h.as_ref(), true, None, None);
    let (yall, _) = e.apply(&xl, None, false, None, None);
    assert!(
        rel(&Tensor::concat(&[ya, yb], 2), &yall) < TOL,
        "continuation"
    );
}

#[test]
fn cema_gradients_match_peer() {
    let g = golden();
    let e = ema(&g);
    let (xl, w) = (t(&g, "cema.x_long"), t(&g, "cema.w"));
    let grads =
        rax_core::grad(|e: &ComplexEma| (e.apply(&xl, None, false, None, None).0 * &w).sum_all())(
            &e,
        )
        .unwrap();
    for (name, gr) in [
        ("alpha", &grads.alpha.0),
        ("delta", &grads.delta.0),
        ("theta", &grads.theta.0),
        ("gamma_real", &grads.gamma_real.0),
        ("gamma_imag", &grads.gamma_imag.0),
        ("omega", &grads.omega.0),
    ] {
        let er = rel(gr, &t(&g, &format!("cema.grad.{name}")));
        eprintln!("cema grad {name} rel err {er:.2e}");
        // f32 gradients through the FFT: megalodon-jax's gradient tolerance rtol 8e-4.
        assert!(er < 8e-4, "{name}: {er}");
    }
}

fn tn(g: &BTreeMap<String, Literal>, prior: bool) -> TimestepNorm {
    let mut n = TimestepNorm::init(32, 4, if prior { 3 } else { 0 }, 1e-5).unwrap();
    n.weight = Sensitive(t(g, "tn.weight"));
    n.bias = Sensitive(t(g, "tn.bias"));
    if prior {
        n.prior_mean = Some(Sensitive(t(g, "tn.prior_mean")));
        n.prior_logv = Some(Sensitive(t(g, "tn.prior_logv")));
    }
    n
}

fn check_state(g: &BTreeMap<String, Literal>, s: &NormState, sfx: &str) {
    if !sfx.ends_with("prior") {
        assert_eq!(
            s.count.to_vec::<i32>().unwrap(),
            t(g, &format!("tn.count{sfx}")).to_vec::<i32>().unwrap(),
            "count{sfx}"
        );
    }
    assert!(
        rel(&s.mean, &t(g, &format!("tn.mean{sfx}"))) < TOL,
        "mean{sfx}"
    );
    assert!(
        rel(&s.var, &t(g, &format!("tn.var{sfx}"))) < TOL,
        "var{sfx}"
    );
}

#[test]
fn timestep_norm_matches_peer() {
    let g = golden();
    let n = tn(&g, false);
    let x = t(&g, "tn.x");
    let (y, s) = n.apply(&x, None, None, None);
    assert!(rel(&y, &t(&g, "tn.y")) < TOL, "fresh");
    check_state(&g, &s, "");
    let st = NormState {
        count: t(&g, "tn.state_count"),
        mean: t(&g, "tn.state_mean"),
        var: t(&g, "tn.state_var"),
    };
    let (y, s) = n.apply(&x, Some(&st), None, None);
    assert!(rel(&y, &t(&g, "tn.y_state")) < TOL, "state");
    check_state(&g, &s, "_state");
    let mask = t(&g, "tn.mask");
    let (y, s) = n.apply(&x, None, Some(&mask), None);
    assert!(rel(&y, &t(&g, "tn.y_mask")) < TOL, "mask");
    check_state(&g, &s, "_mask");
    // Masked tokens emit exact zeros.
    let yv = y.to_f64_vec().unwrap();
    assert!(yv[(12 * 32 + 9 * 32)..(12 * 32 + 10 * 32)]
        .iter()
        .all(|v| *v == 0.0));
    let meta = derive(&t(&g, "tn.segment_ids"));
    let (y, s) = n.apply(&x, None, None, Some(&meta));
    assert!(rel(&y, &t(&g, "tn.y_seg")) < TOL, "segments");
    check_state(&g, &s, "_seg");
    let (y, s) = tn(&g, true).apply(&x, None, None, None);
    assert!(rel(&y, &t(&g, "tn.y_prior")) < TOL, "prior");
    check_state(&g, &s, "_prior");
}

#[test]
fn timestep_norm_continues_a_sequence_exactly_and_rejects_bad_shapes() {
    let g = golden();
    let n = tn(&g, false);
    let x = t(&g, "tn.x");
    let (yall, sall) = n.apply(&x, None, None, None);
    let (ya, sa) = n.apply(&x.slice_axis(1, 0, 5), None, None, None);
    let (yb, sb) = n.apply(&x.slice_axis(1, 5, 12), Some(&sa), None, None);
    assert!(rel(&Tensor::concat(&[ya, yb], 1), &yall) < TOL);
    assert!(rel(&sb.var, &sall.var) < TOL);
    let bad = Tensor::zeros(&[2, 3, 30], DType::F32);
    let e = n
        .apply(&bad, None, None, None)
        .0
        .to_literal()
        .unwrap_err()
        .to_string();
    assert!(e.contains("TimestepNorm"), "{e}");
    assert!(TimestepNorm::init(30, 4, 0, 1e-5).is_err());
}

/// The powers' hand-written VJP (no transcendental function in the backward pass) against the
/// f64 derivative of `L = Σ w_re·Re(qʲ) + w_im·Im(qʲ)` through `r = |q|`, `φ = arg q`, for a
/// split block and a direct one.
#[test]
fn power_gradients_match_the_f64_derivative() {
    let g = golden();
    let c = ema(&g).coeffs();
    let (re, im) = (c.q.re.to_f64_vec().unwrap(), c.q.im.to_f64_vec().unwrap());
    for (start, size) in [(3usize, 300usize), (1, 20)] {
        let dn = c.q.re.dims();
        let count = dn[0] * dn[1] * size;
        // Deterministic weights in [-1, 1].
        let wv = |k: usize, s: usize| (((k * 7919 + s * 104729) % 2001) as f64 / 1000.0) - 1.0;
        let w_re: Vec<f64> = (0..count).map(|k| wv(k, 1)).collect();
        let w_im: Vec<f64> = (0..count).map(|k| wv(k, 2)).collect();
        let shape = [dn[0], dn[1], size];
        let (wr, wi) = (
            Tensor::from_literal(Literal::from_f64s(shape, DType::F32, &w_re).unwrap()),
            Tensor::from_literal(Literal::from_f64s(shape, DType::F32, &w_im).unwrap()),
        );
        let grads = rax_core::grad(|q: &(Tensor, Tensor)| {
            let q = Cplx {
                re: q.0.clone(),
                im: q.1.clone(),
            };
            let p = cema::power_block(&q, start, size);
            (p.re * &wr + p.im * &wi).sum_all()
        })(&(c.q.re.clone(), c.q.im.clone()))
        .unwrap();
        let (gr, gi) = (grads.0.to_f64_vec().unwrap(), grads.1.to_f64_vec().unwrap());
        let mut worst = 0f64;
        for (k, (&qr, &qi)) in re.iter().zip(&im).enumerate() {
            let r = (qr * qr + qi * qi).sqrt();
            assert!(r < 1.0, "the golden q lies inside the unit circle");
            let phi = qi.atan2(qr);
            let (mut d_r, mut d_phi, mut scale) = (0f64, 0f64, 0f64);
            for jj in 0..size {
                let j = (start + jj) as f64;
                let (a, b) = (w_re[k * size + jj], w_im[k * size + jj]);
                let (cj, sj) = ((phi * j).cos(), (phi * j).sin());
                d_r += j * r.powf(j - 1.0) * (a * cj + b * sj);
                d_phi += j * r.powf(j) * (b * cj - a * sj);
                scale += j * r.powf(j - 1.0) * (a.abs() + b.abs()) * (1.0 + j * phi.abs());
            }
            // Chain rule through r = |q| and φ = atan2(im, re).
            let (er, ei) = (
                d_r * qr / r - d_phi * qi / (r * r),
                d_r * qi / r + d_phi * qr / (r * r),
            );
            // f32: each term carries the powers' rounding (the bound of `split_powers_stay_within_f32_rounding`, relative
            // to the term's magnitude); the f32 sums over the exponents stay within it.
            let bound = scale * 4.0 * f32::EPSILON as f64 / r;
            let err = (gr[k] - er).abs().max((gi[k] - ei).abs());
            worst = worst.max(err / bound);
        }
        eprintln!("powers {start}+{size}: worst gradient error / bound {worst:.3}");
        assert!(worst <= 1.0, "power gradients off by {worst} bounds");
    }
}

/// `power_block` over a long block (split into `q^{a·S}·q^b`) and over short blocks (direct
/// `pow`/`cos`/`sin` per exponent) both stay within f32 rounding of `qʲ` computed in f64 from
/// the same f32 `q`. The bound per element is a few ulps of the magnitude plus the rounding of
/// the angle `arg(q)·j`, which grows with `j`: `(1 + j·|arg q|)·4ε·|q|ʲ + 1e-7`.
#[test]
fn split_powers_stay_within_f32_rounding() {
    let g = golden();
    let c = ema(&g).coeffs();
    let (re, im) = (c.q.re.to_f64_vec().unwrap(), c.q.im.to_f64_vec().unwrap());
    let (start, size) = (3usize, 300usize);
    let split = cema::power_block(&c.q, start, size);
    let direct: Vec<Cplx> = (0..size)
        .step_by(30)
        .map(|o| cema::power_block(&c.q, start + o, 30.min(size - o)))
        .collect();
    let direct = Cplx {
        re: Tensor::concat(&direct.iter().map(|p| p.re.clone()).collect::<Vec<_>>(), 2),
        im: Tensor::concat(&direct.iter().map(|p| p.im.clone()).collect::<Vec<_>>(), 2),
    };
    for (name, p) in [("split", &split), ("direct", &direct)] {
        let (pr, pi) = (p.re.to_f64_vec().unwrap(), p.im.to_f64_vec().unwrap());
        let mut worst = 0f64;
        for (k, (&qr, &qi)) in re.iter().zip(&im).enumerate() {
            let (r, phi) = ((qr * qr + qi * qi).sqrt().min(1.0), qi.atan2(qr));
            for jj in 0..size {
                let j = (start + jj) as f64;
                let m = r.powf(j);
                let (er, ei) = (m * (phi * j).cos(), m * (phi * j).sin());
                let (gr, gi) = (pr[k * size + jj], pi[k * size + jj]);
                let err = (gr - er).hypot(gi - ei);
                let bound = (1.0 + j * phi.abs()) * 4.0 * f32::EPSILON as f64 * m + 1e-7;
                worst = worst.max(err / bound);
            }
        }
        eprintln!("{name}: worst error / bound {worst:.3}");
        assert!(worst <= 1.0, "{name} powers off by {worst} bounds");
    }
}
