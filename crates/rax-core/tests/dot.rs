//! Tests of the `dot` family: dot_general rule (and each error), eager results, matmul,
//! einsum, lowering snapshots, and the matmul throughput probe (ignored by default).
use rax_core::ir::{DotDims, Precision};
use rax_core::lower::{lower_module, ModuleOptions};
use rax_core::*;

fn dd(lb: &[usize], rb: &[usize], lc: &[usize], rc: &[usize]) -> DotDims {
    DotDims {
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
    }
}

fn t32(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

fn iota_f32(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    t32(shape, (0..n).map(|i| i as f32).collect())
}

/// Naive reference: out[b, m, n] for row-major [B, M, K] x [B, K, N].
fn naive(a: &[f32], b: &[f32], nb: usize, m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut o = vec![0f32; nb * m * n];
    for bi in 0..nb {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for l in 0..k {
                    s += a[bi * m * k + i * k + l] as f64 * b[bi * k * n + l * n + j] as f64;
                }
                o[bi * m * n + i * n + j] = s as f32;
            }
        }
    }
    o
}

/// The StableHLO module of `f` traced on arguments of types `args`.
fn lowered(args: &[AVal], f: impl Fn(&[Tensor]) -> Vec<Tensor>) -> String {
    let t = trace(args, f).unwrap();
    lower_module(&t.graph, &ModuleOptions::default()).unwrap()
}

fn err_of(t: &Tensor) -> String {
    t.error().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn rule_result_shape_is_batch_lhs_free_rhs_free() {
    let out = trace(
        &[
            AVal::new([2, 3, 4, 5], DType::F32),
            AVal::new([5, 2, 6, 4], DType::F32),
        ],
        |a| vec![a[0].dot_general(&a[1], dd(&[0], &[1], &[2], &[3]), DType::F32)],
    )
    .unwrap();
    assert_eq!(
        out.graph.out_avals()[0],
        AVal::new([2, 3, 5, 5, 6], DType::F32)
    );
    let bf = trace(
        &[
            AVal::new([3, 4], DType::BF16),
            AVal::new([4, 5], DType::BF16),
        ],
        |a| vec![a[0].dot_general(&a[1], dd(&[], &[], &[1], &[0]), DType::F32)],
    )
    .unwrap();
    assert_eq!(bf.graph.out_avals()[0], AVal::new([3, 5], DType::F32));
}

#[test]
fn rule_errors_name_op_and_shapes() {
    let a = Tensor::zeros(&[2, 3], DType::F32);
    let b = Tensor::zeros(&[4, 5], DType::F32);
    let e = err_of(&a.dot_general(&b, dd(&[], &[], &[1], &[0]), DType::F32));
    assert!(
        e.contains("dot_general") && e.contains("contracting dimension sizes differ"),
        "{e}"
    );
    assert!(e.contains("f32[2, 3]") && e.contains("f32[4, 5]"), "{e}");
    assert!(e.contains("dot.rs"), "call site: {e}");

    let h = Tensor::zeros(&[3, 2], DType::BF16);
    let e = err_of(&a.dot_general(&h, dd(&[], &[], &[1], &[1]), DType::F32));
    assert!(
        e.contains("dot_general") && e.contains("dtypes differ") && e.contains("bf16[3, 2]"),
        "{e}"
    );

    let e = err_of(&a.dot_general(&b, dd(&[], &[], &[2], &[0]), DType::F32));
    assert!(e.contains("out of range") && e.contains("f32[2, 3]"), "{e}");

    let c = Tensor::zeros(&[3, 3], DType::F32);
    let e = err_of(&c.dot_general(&c, dd(&[0], &[0], &[0], &[1]), DType::F32));
    assert!(e.contains("repeated"), "{e}");

    let e = err_of(&c.dot_general(&c, dd(&[0], &[], &[1], &[1]), DType::F32));
    assert!(e.contains("batch dimensions"), "{e}");

    let e = err_of(&c.dot_general(&c, dd(&[], &[], &[0, 1], &[1]), DType::F32));
    assert!(e.contains("contracting dimensions"), "{e}");

    let d = Tensor::zeros(&[2, 3], DType::F32);
    let e = err_of(&c.dot_general(&d, dd(&[0], &[0], &[1], &[1]), DType::F32));
    assert!(e.contains("batch dimension sizes differ"), "{e}");

    let e = err_of(&c.dot_general(&c, dd(&[], &[], &[1], &[0]), DType::I32));
    assert!(e.contains("same kind"), "{e}");

    let p = Tensor::zeros(&[2], DType::Bool);
    let e = err_of(&p.dot_general(&p, dd(&[], &[], &[0], &[0]), DType::Bool));
    assert!(e.contains("dot_general: unsupported dtype bool"), "{e}");
}

#[test]
fn eager_matmul_transposed_and_batched() {
    let a = iota_f32(&[2, 3]);
    let b = iota_f32(&[3, 2]);
    let r = a.matmul(&b).to_vec::<f32>().unwrap();
    assert_eq!(r, vec![10.0, 13.0, 28.0, 40.0]);
    // lhs contracting on dim 0 (a transposed view, no copy), rhs contracting on dim 1.
    let at = iota_f32(&[3, 2]);
    let bt = iota_f32(&[2, 3]);
    let r = at
        .dot_general(&bt, dd(&[], &[], &[0], &[1]), DType::F32)
        .to_vec::<f32>()
        .unwrap();
    // at^T = [[0,2,4],[1,3,5]], bt^T = [[0,3],[1,4],[2,5]]
    assert_eq!(r, vec![10.0, 28.0, 13.0, 40.0]);
    // Batch dim in the middle of lhs and last in rhs (forces the copying path).
    let x = iota_f32(&[3, 2, 4]); // [m, b, k]
    let y = iota_f32(&[4, 5, 2]); // [k, n, b]
    let r = x
        .dot_general(&y, dd(&[1], &[2], &[2], &[0]), DType::F32)
        .to_vec::<f32>()
        .unwrap();
    let xv = x.to_vec::<f32>().unwrap();
    let yv = y.to_vec::<f32>().unwrap();
    let mut a3 = vec![0f32; 2 * 3 * 4];
    let mut b3 = vec![0f32; 2 * 4 * 5];
    for b in 0..2 {
        for m in 0..3 {
            for k in 0..4 {
                a3[b * 12 + m * 4 + k] = xv[m * 8 + b * 4 + k];
            }
        }
        for k in 0..4 {
            for n in 0..5 {
                b3[b * 20 + k * 5 + n] = yv[k * 10 + n * 2 + b];
            }
        }
    }
    assert_eq!(r, naive(&a3, &b3, 2, 3, 4, 5));
}

#[test]
fn dtypes_accumulate_as_documented() {
    // bf16: 256 + 1 + 1 is exact in f32 (258) and rounds once to bf16 258.
    let a = Tensor::from_vec(
        [1, 3],
        vec![
            half::bf16::from_f32(256.0),
            half::bf16::ONE,
            half::bf16::ONE,
        ],
    )
    .unwrap();
    let b = Tensor::from_vec([3, 1], vec![half::bf16::ONE; 3]).unwrap();
    assert_eq!(a.matmul(&b).to_f64_vec().unwrap(), vec![258.0]);
    assert_eq!(a.matmul_acc(&b, DType::F32).dtype(), DType::F32);
    // i8 x i8 -> i8 wraps: 100 * 2 = 200 -> -56.
    let i = Tensor::from_vec([1, 1], vec![100i8]).unwrap();
    let j = Tensor::from_vec([1, 1], vec![2i8]).unwrap();
    assert_eq!(i.matmul(&j).to_vec::<i8>().unwrap(), vec![-56]);
    assert_eq!(
        i.matmul_acc(&j, DType::I32).to_vec::<i32>().unwrap(),
        vec![200]
    );
    // i32 wraps.
    let i = Tensor::from_vec([2], vec![i32::MAX, 1]).unwrap();
    let r = i.dot_general(&i, dd(&[], &[], &[0], &[0]), DType::I32);
    assert_eq!(
        r.to_vec::<i32>().unwrap(),
        vec![1i32.wrapping_add(i32::MAX.wrapping_mul(i32::MAX))]
    );
    // complex
    use num_complex::Complex32 as C;
    let z = Tensor::from_vec([2], vec![C::new(1.0, 2.0), C::new(0.0, 1.0)]).unwrap();
    let r = z.dot_general(&z, dd(&[], &[], &[0], &[0]), DType::C64);
    assert_eq!(
        r.to_vec::<C>().unwrap(),
        vec![C::new(-3.0, 4.0) + C::new(-1.0, 0.0)]
    );
    // f64
    let x = Tensor::from_vec([2], vec![1e300f64, 2.0]).unwrap();
    let y = Tensor::from_vec([2], vec![1e-300f64, 3.0]).unwrap();
    assert_eq!(
        x.dot_general(&y, dd(&[], &[], &[0], &[0]), DType::F64)
            .to_vec::<f64>()
            .unwrap(),
        vec![7.0]
    );
    // Empty contraction gives zeros; outer product with no contraction.
    let e = Tensor::zeros(&[2, 0], DType::F32);
    let f = Tensor::zeros(&[0, 3], DType::F32);
    assert_eq!(e.matmul(&f).to_vec::<f32>().unwrap(), vec![0.0; 6]);
    let u = t32(&[2], vec![1.0, 2.0]);
    let v = t32(&[3], vec![1.0, 10.0, 100.0]);
    let o = u.dot_general(&v, DotDims::default(), DType::F32);
    assert_eq!(o.dims(), vec![2, 3]);
    assert_eq!(
        o.to_vec::<f32>().unwrap(),
        vec![1.0, 10.0, 100.0, 2.0, 20.0, 200.0]
    );
    // NaN and inf propagate like IEEE (inf * 0 = NaN).
    let p = t32(&[1, 2], vec![f32::INFINITY, 1.0]);
    let q = t32(&[2, 1], vec![0.0, 1.0]);
    assert!(p.matmul(&q).to_vec::<f32>().unwrap()[0].is_nan());
}

#[test]
fn matmul_numpy_semantics() {
    let a = iota_f32(&[2, 3, 4]);
    let b = iota_f32(&[4, 5]);
    assert_eq!(a.matmul(&b).dims(), vec![2, 3, 5]);
    let c = iota_f32(&[1, 4, 5]);
    assert_eq!(a.matmul(&c).dims(), vec![2, 3, 5]);
    let v = iota_f32(&[4]);
    assert_eq!(a.matmul(&v).dims(), vec![2, 3]);
    assert_eq!(v.matmul(&c).dims(), vec![1, 5]);
    assert_eq!(v.matmul(&v).dims(), Vec::<usize>::new());
    assert_eq!(v.matmul(&v).to_vec::<f32>().unwrap(), vec![14.0]);
    // Broadcast result agrees with per-batch results.
    let r = a.matmul(&c).to_vec::<f32>().unwrap();
    let r2 = a.matmul(&b).to_vec::<f32>().unwrap();
    assert_eq!(r, r2);
    let e = err_of(&a.matmul(&iota_f32(&[3, 5])));
    assert!(
        e.contains("matmul") && e.contains("contracting dimensions differ (4 vs 3)"),
        "{e}"
    );
    assert!(e.contains("f32[2, 3, 4]"), "{e}");
    let s = Tensor::scalar_of(1.0, DType::F32);
    assert!(err_of(&s.matmul(&v)).contains("rank >= 1"));
    let e = err_of(&iota_f32(&[2, 3, 4]).matmul(&iota_f32(&[3, 4, 5])));
    assert!(e.contains("not broadcastable"), "{e}");
}

#[test]
fn einsum_forms() {
    let a = iota_f32(&[2, 3, 4]);
    let b = iota_f32(&[2, 4, 5]);
    let r = Tensor::einsum("bij,bjk->bik", &[&a, &b]);
    assert_eq!(r.dims(), vec![2, 3, 5]);
    assert_eq!(
        r.to_vec::<f32>().unwrap(),
        naive(&a.to_vec().unwrap(), &b.to_vec().unwrap(), 2, 3, 4, 5)
    );
    let m = iota_f32(&[3, 4]);
    let n = iota_f32(&[4, 5]);
    assert_eq!(
        Tensor::einsum("ij,jk->ik", &[m.clone(), n.clone()])
            .to_vec::<f32>()
            .unwrap(),
        m.matmul(&n).to_vec::<f32>().unwrap()
    );
    // Output permutation: ik->ki is the transpose.
    let t = Tensor::einsum("ij,jk->ki", &[&m, &n]);
    assert_eq!(t.dims(), vec![5, 3]);
    assert_eq!(
        t.to_vec::<f32>().unwrap(),
        m.matmul(&n).transpose(&[1, 0]).to_vec::<f32>().unwrap()
    );
    let q = iota_f32(&[2, 2, 3, 4]);
    let k = iota_f32(&[2, 2, 5, 4]);
    assert_eq!(
        Tensor::einsum("bhqd,bhkd->bhqk", &[&q, &k]).dims(),
        vec![2, 2, 3, 5]
    );
    let x = iota_f32(&[2, 3, 4]); // g s m
    let y = iota_f32(&[2, 3, 5, 6]); // g s e c
    let r = Tensor::einsum("gsm,gsec->egcm", &[&x, &y]);
    assert_eq!(r.dims(), vec![5, 2, 6, 4]);
    // Check one element: r[e=1, g=1, c=2, m=3] = sum_s x[1,s,3] * y[1,s,1,2]
    let xv = x.to_vec::<f32>().unwrap();
    let yv = y.to_vec::<f32>().unwrap();
    let want: f32 = (0..3)
        .map(|s| xv[12 + s * 4 + 3] * yv[90 + s * 30 + 6 + 2])
        .sum();
    let rv = r.to_vec::<f32>().unwrap();
    assert_eq!(rv[48 + 24 + 2 * 4 + 3], want);
    // A letter only in one operand is summed first.
    let s = Tensor::einsum("ij,j->i", &[&iota_f32(&[2, 3]), &iota_f32(&[3])]);
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![5.0, 14.0]);
    let s = Tensor::einsum("ij,k->i", &[&iota_f32(&[2, 3]), &iota_f32(&[3])]);
    assert_eq!(s.to_vec::<f32>().unwrap(), vec![9.0, 36.0]);
}

#[test]
fn einsum_errors() {
    let m = iota_f32(&[3, 4]);
    let n = iota_f32(&[4, 5]);
    for (spec, want) in [
        ("ij,jk", "explicit output"),
        ("ii,jk->ik", "repeats in operand 0"),
        ("...ij,jk->ik", "ellipsis"),
        ("ij,jk->iz", "appears in no operand"),
        ("ijk,jk->ik", "rank 2"),
        ("ij,kk->ik", "repeats"),
        (
            "ij,ik->jk",
            "letter `i` has size 3 in operand 0 and 4 in operand 1",
        ),
    ] {
        let e = err_of(&Tensor::einsum(spec, &[&m, &n]));
        assert!(e.contains("einsum") && e.contains(want), "{spec}: {e}");
        assert!(e.contains("f32[3, 4]"), "{spec}: {e}");
    }
    let e = err_of(&Tensor::einsum("ij->ij", &[&m]));
    assert!(e.contains("two-operand"), "{e}");
}

#[test]
fn lowering_snapshots() {
    let text = lowered(
        &[
            AVal::new([2, 3, 4], DType::F32),
            AVal::new([2, 4, 5], DType::F32),
        ],
        |a| vec![a[0].dot_general(&a[1], dd(&[0], &[0], &[2], &[1]), DType::F32)],
    );
    assert!(text.contains("#stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]>"), "{text}");
    insta::assert_snapshot!("dot_general_batched", text);
    let text = lowered(
        &[
            AVal::new([3, 4], DType::BF16),
            AVal::new([4, 5], DType::BF16),
        ],
        |a| {
            vec![a[0].dot_general_with(
                &a[1],
                dd(&[], &[], &[1], &[0]),
                Precision::Highest,
                DType::F32,
            )]
        },
    );
    insta::assert_snapshot!("dot_general_bf16_to_f32", text);
    let text = lowered(
        &[AVal::new([3], DType::F32), AVal::new([4], DType::F32)],
        |a| vec![a[0].dot_general(&a[1], DotDims::default(), DType::F32)],
    );
    assert!(
        text.contains("dot_dimension_numbers = #stablehlo.dot<>"),
        "{text}"
    );
    insta::assert_snapshot!("dot_general_outer", text);
    let text = lowered(
        &[
            AVal::new([2, 3, 4], DType::F32),
            AVal::new([2, 5, 6, 4], DType::F32),
        ],
        |a| vec![Tensor::einsum("gmd,gecd->egcm", &[&a[0], &a[1]])],
    );
    insta::assert_snapshot!("dot_general_einsum", text);
}

/// Throughput probe: `cargo test -p rax-core --test dot matmul_gflops -- --ignored --nocapture`.
#[test]
#[ignore]
fn matmul_gflops() {
    let n = 512;
    let a = t32(&[n, n], (0..n * n).map(|i| (i % 7) as f32 * 0.5).collect());
    let b = t32(&[n, n], (0..n * n).map(|i| (i % 5) as f32 * 0.25).collect());
    let _ = a.matmul(&b);
    let reps = 10;
    let t0 = std::time::Instant::now();
    for _ in 0..reps {
        let _ = a.matmul(&b).check().unwrap();
    }
    let dt = t0.elapsed().as_secs_f64() / reps as f64;
    let gflops = 2.0 * (n as f64).powi(3) / dt / 1e9;
    println!(
        "512x512x512 f32 matmul: {:.2} ms, {gflops:.1} GFLOP/s",
        dt * 1e3
    );
    // bf16 path (convert to f32, GEMM, round).
    let ab = a.cast(DType::BF16);
    let bb = b.cast(DType::BF16);
    let t0 = std::time::Instant::now();
    for _ in 0..reps {
        let _ = ab.matmul(&bb).check().unwrap();
    }
    let dt = t0.elapsed().as_secs_f64() / reps as f64;
    println!(
        "512^3 bf16 matmul: {:.2} ms, {:.1} GFLOP/s",
        dt * 1e3,
        2.0 * (n as f64).powi(3) / dt / 1e9
    );
}

/// The backward of a linear layer `y = x·w`: `dx = g·wᵀ` contracts w's trailing dimension and
/// lowers as is; `dw = xᵀ·g` lowers with `x` materialised (an `optimization_barrier`) and
/// transposed to `[4, 8]`, so the dot contracts its left operand's minor dimension (the form
/// XLA's CPU backend hands to YNNPACK) and its result comes out in w's layout, `[4, 3]`, with
/// no transposed result. See `lhs_minor_contracting` in prim/dot.rs. Snapshot for review.
#[test]
fn linear_backward_transposes_only_the_weight_gradients_left_operand() {
    let text = lowered(
        &[
            AVal::new([8, 4], DType::BF16),
            AVal::new([4, 3], DType::BF16),
            AVal::new([8, 3], DType::BF16),
        ],
        |a| {
            let (_, pb) = rax_core::autodiff::vjp(|x| vec![x[0].matmul(&x[1])], &a[..2]).unwrap();
            pb.call(&[a[2].clone()]).unwrap()
        },
    );
    assert_eq!(text.matches("stablehlo.transpose").count(), 1, "{text}");
    assert!(
        text.contains("\"stablehlo.optimization_barrier\"(%arg0)"),
        "{text}"
    );
    assert!(text.contains("permutation = array<i64: 1, 2, 0>"), "{text}");
    // dw = dot_general(xᵀ, g), xᵀ contracting its minor dimension, already [4, 3].
    assert!(
        text.contains("lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>")
            && text.contains("-> tensor<4x3xbf16>"),
        "{text}"
    );
    insta::assert_snapshot!("linear_backward", text);
}

/// A batched dot whose left operand contracts a major dimension (attention's `pᵀ·g`) lowers with
/// that operand's contracting dimensions moved last (reshape, transpose, reshape: XLA's CPU
/// backend hands only that form to its fast GEMM library), the dimension numbers renumbered and
/// the result unchanged in shape, the operand behind an `optimization_barrier`. With
/// `RAX_DOT_LHS_MINOR=batched` an unbatched one would be left as is; by default it is rewritten
/// too. Values are checked against JAX on both plugins by the
/// `dot_general/*/batched_contract_major` conformance cases and every conformance dot that
/// contracts a major dimension.
#[test]
fn batched_dot_moves_the_left_contracting_dims_last() {
    let text = lowered(
        &[
            AVal::new([2, 4, 3], DType::F32),
            AVal::new([2, 4, 5], DType::F32),
        ],
        |a| vec![a[0].dot_general(&a[1], dd(&[0], &[0], &[1], &[1]), DType::F32)],
    );
    assert!(
        text.contains("(tensor<2x4x3xf32>) -> tensor<2x4x3x1xf32>"),
        "{text}"
    );
    assert!(
        text.contains("permutation = array<i64: 0, 2, 3, 1>"),
        "{text}"
    );
    assert!(
        text.contains("(tensor<2x3x1x4xf32>) -> tensor<2x3x4xf32>"),
        "{text}"
    );
    assert!(
        text.contains("lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]"),
        "{text}"
    );
    assert!(text.contains("-> tensor<2x3x5xf32>"), "{text}");
    insta::assert_snapshot!("dot_general_batched_contract_major", text);
    assert!(text.contains("stablehlo.optimization_barrier"), "{text}");
    let text = lowered(
        &[AVal::new([8, 4], DType::F32), AVal::new([3, 4], DType::F32)],
        |a| vec![a[0].dot_general(&a[1], dd(&[], &[], &[1], &[1]), DType::F32)],
    );
    // Already contracting the left operand's minor dimension: nothing to move.
    assert!(!text.contains("stablehlo.transpose"), "{text}");
    assert!(!text.contains("optimization_barrier"), "{text}");
}
