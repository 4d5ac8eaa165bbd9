//! Tests of the fft primitive: rule errors, eager results on hand-checked inputs (normalisation,
//! rfft half spectrum, irfft ignoring imaginary DC/Nyquist parts, multi-dim), the causal
//! convolution recipe of `ComplexEMA`, and lowering snapshots.
use num_complex::Complex32 as C;
use rax_core::ir::FftKind;
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn c64s(shape: &[usize], v: &[(f32, f32)]) -> Tensor {
    Tensor::from_vec(
        shape.to_vec(),
        v.iter().map(|&(a, b)| C::new(a, b)).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
}

fn err_of(t: &Tensor) -> String {
    t.error().expect("an error").to_string()
}

fn close_c(got: &[C], want: &[(f32, f32)], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g.re - w.0).abs() <= tol && (g.im - w.1).abs() <= tol,
            "element {i}: got {g}, want {w:?}"
        );
    }
}

fn close_f(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w}");
    }
}

// ---- rules ----

#[test]
fn fft_rule_errors() {
    let x = f32s(&[2, 8], &[0.0; 16]);
    let e = err_of(&x.fft());
    assert!(
        e.contains("fft") && e.contains("unsupported dtype f32") && e.contains("FFT takes c64"),
        "{e}"
    );
    let c = c64s(&[2, 5], &[(0.0, 0.0); 10]);
    let e = err_of(&c.rfft());
    assert!(
        e.contains("fft") && e.contains("c64") && e.contains("RFFT takes f32"),
        "{e}"
    );
    let e = err_of(&c.irfft(10));
    assert!(
        e.contains("fft")
            && e.contains("needs trailing dims [6], got [5]")
            && e.contains("c64[2, 5]"),
        "{e}"
    );
    let e = err_of(&c.fft_axes(FftKind::Fft, &[2, 4]));
    assert!(e.contains("needs trailing dims [2, 4], got [2, 5]"), "{e}");
    let e = err_of(&c.fft_axes(FftKind::Fft, &[1, 1, 2, 5]));
    assert!(
        e.contains("fft") && e.contains("1 to 3 trailing dims"),
        "{e}"
    );
    let e = err_of(&c.fft_axes(FftKind::Fft, &[3, 2, 5]));
    assert!(
        e.contains("fft") && e.contains("rank >= 3") && e.contains("c64[2, 5]"),
        "{e}"
    );
    let e = err_of(&c.fft_axes(FftKind::Ifft, &[]));
    assert!(e.contains("1 to 3"), "{e}");
    let s = Tensor::from_vec([], vec![C::new(1.0, 0.0)]).unwrap();
    let e = err_of(&s.fft());
    assert!(
        e.contains("fft") && e.contains("rank >= 1") && e.contains("c64[]"),
        "{e}"
    );
    let z = f32s(&[0], &[]);
    let e = err_of(&z.rfft());
    assert!(e.contains("must be positive"), "{e}");
}

#[test]
fn fft_rule_error_carries_call_site() {
    let r = trace(&[AVal::new([4], DType::F32)], |a| vec![a[0].fft()]);
    let e = r.unwrap_err().to_string();
    assert!(e.contains("fft") && e.contains("tests/fft.rs"), "{e}");
}

#[test]
fn fft_result_types() {
    let t = trace(
        &[
            AVal::new([3, 8], DType::F32),
            AVal::new([2, 4, 5], DType::C64),
        ],
        |a| {
            vec![
                a[0].rfft(),
                a[0].rfft().irfft(8),
                a[1].fft_axes(FftKind::Irfft, &[4, 9]),
                a[1].fft_axes(FftKind::Ifft, &[2, 4, 5]),
            ]
        },
    )
    .unwrap();
    let outs: Vec<String> = t.graph.out_avals().iter().map(|a| a.to_string()).collect();
    assert_eq!(
        outs,
        ["c64[3, 5]", "f32[3, 8]", "f32[2, 4, 9]", "c64[2, 4, 5]"]
    );
}

// ---- kernels ----

#[test]
fn fft_and_ifft_of_small_vectors() {
    let x = c64s(&[4], &[(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)]);
    let y = x.fft();
    close_c(
        &y.to_vec::<C>().unwrap(),
        &[(10.0, 0.0), (-2.0, 2.0), (-2.0, 0.0), (-2.0, -2.0)],
        1e-6,
    );
    // ifft is normalised by 1/n.
    close_c(
        &y.ifft().to_vec::<C>().unwrap(),
        &[(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)],
        1e-6,
    );
    let imp = c64s(&[3], &[(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)]);
    let h = 3f32.sqrt() / 2.0;
    close_c(
        &imp.fft().to_vec::<C>().unwrap(),
        &[(1.0, 0.0), (-0.5, -h), (-0.5, h)],
        1e-6,
    );
}

#[test]
fn rfft_keeps_half_spectrum() {
    let x = f32s(&[2, 4], &[1.0, 2.0, 3.0, 4.0, 1.0, 0.0, 0.0, 0.0]);
    let y = x.rfft();
    assert_eq!(y.dims(), vec![2, 3]);
    close_c(
        &y.to_vec::<C>().unwrap(),
        &[
            (10.0, 0.0),
            (-2.0, 2.0),
            (-2.0, 0.0),
            (1.0, 0.0),
            (1.0, 0.0),
            (1.0, 0.0),
        ],
        1e-6,
    );
    let odd = f32s(&[5], &[1.0, 1.0, 1.0, 1.0, 1.0]).rfft();
    close_c(
        &odd.to_vec::<C>().unwrap(),
        &[(5.0, 0.0), (0.0, 0.0), (0.0, 0.0)],
        1e-6,
    );
}

#[test]
fn irfft_ignores_imaginary_dc_and_nyquist() {
    // Spectrum of [1, 2, 3, 4] with garbage imaginary parts on DC and Nyquist.
    let y = c64s(&[3], &[(10.0, 7.0), (-2.0, 2.0), (-2.0, -5.0)]);
    close_f(
        &y.irfft(4).to_vec::<f32>().unwrap(),
        &[1.0, 2.0, 3.0, 4.0],
        1e-6,
    );
    // Odd n: no Nyquist term; the last bin's imaginary part counts.
    let x = f32s(&[5], &[1.0, -2.0, 0.5, 3.0, 4.0]);
    let back = x.rfft().irfft(5);
    close_f(
        &back.to_vec::<f32>().unwrap(),
        &[1.0, -2.0, 0.5, 3.0, 4.0],
        1e-6,
    );
}

#[test]
fn two_dim_round_trips() {
    let v: Vec<f32> = (0..24).map(|i| ((i * 7) % 5) as f32 - 1.5).collect();
    let x = f32s(&[2, 3, 4], &v);
    let y = x.fft_axes(FftKind::Rfft, &[3, 4]);
    assert_eq!(y.dims(), vec![2, 3, 3]);
    let back = y.fft_axes(FftKind::Irfft, &[3, 4]);
    close_f(&back.to_vec::<f32>().unwrap(), &v, 1e-5);
    let c = x.cast(DType::C64);
    let z = c.fft_axes(FftKind::Fft, &[2, 3, 4]);
    // DC term of the 3-d transform is the sum of all elements.
    let dc = z.to_vec::<C>().unwrap()[0];
    assert!((dc.re - v.iter().sum::<f32>()).abs() < 1e-4 && dc.im.abs() < 1e-5);
    let back = z.fft_axes(FftKind::Ifft, &[2, 3, 4]).to_vec::<C>().unwrap();
    let want: Vec<(f32, f32)> = v.iter().map(|&a| (a, 0.0)).collect();
    close_c(&back, &want, 1e-5);
}

#[test]
fn empty_batch_is_fine() {
    let x = f32s(&[0, 8], &[]);
    assert_eq!(x.rfft().dims(), vec![0, 5]);
    assert_eq!(x.rfft().irfft(8).dims(), vec![0, 8]);
}

/// The recipe of the `fft` module doc: causal convolution via rfft/irfft at n = 2·nextpow2(L).
#[test]
fn causal_convolution_recipe_matches_direct_sum() {
    let l = 6usize;
    let x: Vec<f32> = (0..l).map(|i| (i as f32 * 0.7).sin()).collect();
    let k: Vec<f32> = (0..l).map(|i| 0.8f32.powi(i as i32)).collect();
    let n = 2 * l.next_power_of_two();
    let pad = |v: &[f32]| {
        let mut p = v.to_vec();
        p.resize(n, 0.0);
        f32s(&[n], &p)
    };
    let y = (pad(&x).rfft() * pad(&k).rfft()).irfft(n);
    let y = y.to_vec::<f32>().unwrap();
    for t in 0..l {
        let direct: f32 = (0..=t).map(|s| k[s] * x[t - s]).sum();
        assert!((y[t] - direct).abs() < 1e-5, "t={t}: {} vs {direct}", y[t]);
    }
}

// ---- lowering ----

#[test]
fn fft_lowering_snapshots() {
    let t = trace(&[AVal::new([2, 8], DType::F32)], |a| {
        let s = a[0].rfft();
        vec![s.irfft(8)]
    })
    .unwrap();
    let text = lower_module(&t.graph, &ModuleOptions::default()).unwrap();
    assert!(
        text.contains("fft_type = #stablehlo<fft_type RFFT>, fft_length = array<i64: 8>"),
        "{text}"
    );
    insta::assert_snapshot!("fft_rfft_irfft", text);
    let t = trace(&[AVal::new([3, 4, 6], DType::C64)], |a| {
        vec![a[0].fft_axes(FftKind::Fft, &[4, 6]).ifft()]
    })
    .unwrap();
    let text = lower_module(&t.graph, &ModuleOptions::default()).unwrap();
    insta::assert_snapshot!("fft_fft2_ifft", text);
}
