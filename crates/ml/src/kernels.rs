//! The f32 inner loops of every trainer and scorer: dot (and dot of one vector with many rows),
//! axpy and a symmetric matrix-vector product, written so they vectorize and give the same bits
//! on every x86-64 or ARM CPU.
//!
//! Why lanes of 16: each kernel keeps 16 independent partial sums (`as_chunks::<16>`, so no
//! bounds check in the loop) and adds them in a fixed tree at the end. Rust never reassociates
//! float adds nor fuses a multiply and an add, so the result is defined by this source, not by
//! the vector width the compiler picks: SSE2 (4 lanes), AVX (8) and AVX-512 (16) compute the
//! same value. That keeps models bit-identical across CPUs (BPR, item-kNN weighting and popularity
//! decay also call the C library's `exp`/`ln`, which another libc may round differently in the
//! last bit), and lets hot loops be compiled a second time for AVX2 ([`wide_fn!`]) without changing results.
//! All are `#[inline(always)]` so they inherit the caller's target features.

pub(crate) const LANES: usize = 16;

/// Sum of 16 partials in a fixed tree order.
#[inline(always)]
fn reduce(mut acc: [f32; LANES]) -> f32 {
    for j in 0..8 {
        acc[j] += acc[j + 8];
    }
    for j in 0..4 {
        acc[j] += acc[j + 4];
    }
    for j in 0..2 {
        acc[j] += acc[j + 2];
    }
    acc[0] + acc[1]
}

/// `a · b` over the shorter length.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    for (j, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[j] += x * y;
    }
    reduce(acc)
}

/// `out[r] = dot(user, row r of rows)` for the `out.len()` rows of width `user.len()` that
/// `rows` starts with, four rows per pass so each load of `user` serves four rows: every row's
/// sum is formed in exactly `dot`'s order (the same 16 partial sums, the same remainder lanes,
/// the same tree), so the bits are `dot`'s. The pass over a long list of item rows is the
/// scoring loop of recommend and similar items.
#[inline(always)]
pub(crate) fn dot_rows(user: &[f32], rows: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if !user.is_empty()
            && user.len().is_multiple_of(LANES)
            && std::arch::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU has AVX2, just checked.
            unsafe { dot_rows_avx2(user, rows, out) };
            return;
        }
    }
    dot_rows_portable(user, rows, out);
}

/// [`dot_rows`] for widths that are a multiple of 16 on AVX2, in registers: each row's 16
/// partial sums are two 8-lane vectors, multiplied and added separately (never fused), then
/// reduced across the four rows in [`reduce`]'s order with shuffles, so the bits are the
/// portable loop's (this module's tests compare them) at about a fifth fewer instructions per row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_rows_avx2(user: &[f32], rows: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::{
        __m256, _mm_storeu_ps, _mm_unpacklo_ps, _mm256_add_ps, _mm256_castps256_ps128,
        _mm256_extractf128_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_permute2f128_ps,
        _mm256_setzero_ps, _mm256_shuffle_ps,
    };
    let f = user.len();
    let (cu, _) = user.as_chunks::<LANES>();
    let (quads, rest) = out.as_chunks_mut::<4>();
    for (quad, block) in quads.iter_mut().zip(rows.chunks_exact(4 * f)) {
        let (c0, _) = block[..f].as_chunks::<LANES>();
        let (c1, _) = block[f..2 * f].as_chunks::<LANES>();
        let (c2, _) = block[2 * f..3 * f].as_chunks::<LANES>();
        let (c3, _) = block[3 * f..].as_chunks::<LANES>();
        let zero = _mm256_setzero_ps();
        let [mut a0l, mut a0h, mut a1l, mut a1h] = [zero; 4];
        let [mut a2l, mut a2h, mut a3l, mut a3h] = [zero; 4];
        for ((((u, x0), x1), x2), x3) in cu.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
            // SAFETY: every pointer is to a 16-float chunk; the loads read its two halves.
            unsafe {
                let (ul, uh) = (
                    _mm256_loadu_ps(u.as_ptr()),
                    _mm256_loadu_ps(u.as_ptr().add(8)),
                );
                let load = |x: &[f32; LANES]| -> (__m256, __m256) {
                    (
                        _mm256_loadu_ps(x.as_ptr()),
                        _mm256_loadu_ps(x.as_ptr().add(8)),
                    )
                };
                let (x0l, x0h) = load(x0);
                a0l = _mm256_add_ps(a0l, _mm256_mul_ps(ul, x0l));
                a0h = _mm256_add_ps(a0h, _mm256_mul_ps(uh, x0h));
                let (x1l, x1h) = load(x1);
                a1l = _mm256_add_ps(a1l, _mm256_mul_ps(ul, x1l));
                a1h = _mm256_add_ps(a1h, _mm256_mul_ps(uh, x1h));
                let (x2l, x2h) = load(x2);
                a2l = _mm256_add_ps(a2l, _mm256_mul_ps(ul, x2l));
                a2h = _mm256_add_ps(a2h, _mm256_mul_ps(uh, x2h));
                let (x3l, x3h) = load(x3);
                a3l = _mm256_add_ps(a3l, _mm256_mul_ps(ul, x3l));
                a3h = _mm256_add_ps(a3h, _mm256_mul_ps(uh, x3h));
            }
        }
        // h_r[j] = a_r[j] + a_r[j + 8]: one add per row.
        let (h0, h1) = (_mm256_add_ps(a0l, a0h), _mm256_add_ps(a1l, a1h));
        let (h2, h3) = (_mm256_add_ps(a2l, a2h), _mm256_add_ps(a3l, a3h));
        // q_r[j] = h_r[j] + h_r[j + 4], two rows per vector: [q0 | q1] and [q2 | q3].
        let q01 = _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(h0, h1),
            _mm256_permute2f128_ps::<0x31>(h0, h1),
        );
        let q23 = _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(h2, h3),
            _mm256_permute2f128_ps::<0x31>(h2, h3),
        );
        // d_r[j] = q_r[j] + q_r[j + 2]: per 128-bit half [d0.0 d0.1 d2.0 d2.1 | d1.0 d1.1 d3.0 d3.1].
        let d = _mm256_add_ps(
            _mm256_shuffle_ps::<0x44>(q01, q23),
            _mm256_shuffle_ps::<0xEE>(q01, q23),
        );
        // s_r = d_r[0] + d_r[1]: [s0 s2 s0 s2 | s1 s3 s1 s3].
        let s = _mm256_add_ps(
            _mm256_shuffle_ps::<0x88>(d, d),
            _mm256_shuffle_ps::<0xDD>(d, d),
        );
        let sums = _mm_unpacklo_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        // SAFETY: `quad` is 4 floats.
        unsafe { _mm_storeu_ps(quad.as_mut_ptr(), sums) };
    }
    let done = quads.len() * 4;
    for (r, o) in rest.iter_mut().enumerate() {
        let start = (done + r) * f;
        *o = dot(user, &rows[start..start + f]);
    }
}

/// [`dot_rows`] in portable Rust (any width, any CPU).
#[inline(always)]
fn dot_rows_portable(user: &[f32], rows: &[f32], out: &mut [f32]) {
    let f = user.len();
    if f == 0 {
        out.fill(0.0);
        return;
    }
    let (cu, ru) = user.as_chunks::<LANES>();
    let (quads, rest) = out.as_chunks_mut::<4>();
    let mut row_blocks = rows.chunks_exact(4 * f);
    for (quad, block) in quads.iter_mut().zip(&mut row_blocks) {
        let (r0, tail) = block.split_at(f);
        let (r1, tail) = tail.split_at(f);
        let (r2, r3) = tail.split_at(f);
        let (c0, t0) = r0.as_chunks::<LANES>();
        let (c1, t1) = r1.as_chunks::<LANES>();
        let (c2, t2) = r2.as_chunks::<LANES>();
        let (c3, t3) = r3.as_chunks::<LANES>();
        let mut a0 = [0f32; LANES];
        let mut a1 = [0f32; LANES];
        let mut a2 = [0f32; LANES];
        let mut a3 = [0f32; LANES];
        for ((((u, x0), x1), x2), x3) in cu.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
            for j in 0..LANES {
                a0[j] += u[j] * x0[j];
                a1[j] += u[j] * x1[j];
                a2[j] += u[j] * x2[j];
                a3[j] += u[j] * x3[j];
            }
        }
        for (j, ((((u, x0), x1), x2), x3)) in ru.iter().zip(t0).zip(t1).zip(t2).zip(t3).enumerate()
        {
            a0[j] += u * x0;
            a1[j] += u * x1;
            a2[j] += u * x2;
            a3[j] += u * x3;
        }
        *quad = reduce4([a0, a1, a2, a3]);
    }
    let done = quads.len() * 4;
    for (r, o) in rest.iter_mut().enumerate() {
        let start = (done + r) * f;
        *o = dot(user, &rows[start..start + f]);
    }
}

/// [`reduce`] of four rows of partial sums at once, each row's adds in exactly `reduce`'s
/// order: the first two halvings per row (16 to 8 to 4 lanes), then the rows' last four lanes
/// transposed so the final two steps are adds across rows (lane j of every row in one vector).
/// On x86-64 it is written with SSE (baseline) intrinsics, which the compiler otherwise does
/// not find: it reduced each row through memory, most of the scoring loop's time.
#[inline(always)]
fn reduce4(acc: [[f32; LANES]; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_add_ps, _mm_loadu_ps, _mm_movehl_ps, _mm_movelh_ps, _mm_storeu_ps, _mm_unpackhi_ps,
            _mm_unpacklo_ps,
        };
        // SAFETY: SSE is part of the x86-64 baseline; the loads read 4 floats at offsets 0, 4,
        // 8 and 12 of 16-float arrays and the store writes the 4-float `out`.
        unsafe {
            let q = |a: &[f32; LANES]| {
                let p = a.as_ptr();
                let lo = _mm_add_ps(_mm_loadu_ps(p), _mm_loadu_ps(p.add(8)));
                let hi = _mm_add_ps(_mm_loadu_ps(p.add(4)), _mm_loadu_ps(p.add(12)));
                _mm_add_ps(lo, hi)
            };
            let (q0, q1, q2, q3) = (q(&acc[0]), q(&acc[1]), q(&acc[2]), q(&acc[3]));
            // 4 x 4 transpose: t_j holds lane j of rows 0..4.
            let (u0, u1) = (_mm_unpacklo_ps(q0, q1), _mm_unpacklo_ps(q2, q3));
            let (u2, u3) = (_mm_unpackhi_ps(q0, q1), _mm_unpackhi_ps(q2, q3));
            let (t0, t1) = (_mm_movelh_ps(u0, u1), _mm_movehl_ps(u1, u0));
            let (t2, t3) = (_mm_movelh_ps(u2, u3), _mm_movehl_ps(u3, u2));
            let sum = _mm_add_ps(_mm_add_ps(t0, t2), _mm_add_ps(t1, t3));
            let mut out = [0f32; 4];
            _mm_storeu_ps(out.as_mut_ptr(), sum);
            out
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut t = [[0f32; 4]; 4];
        for (r, a) in acc.iter().enumerate() {
            for j in 0..4 {
                t[j][r] = (a[j] + a[j + 8]) + (a[j + 4] + a[j + 12]);
            }
        }
        let mut out = [0f32; 4];
        for r in 0..4 {
            out[r] = (t[0][r] + t[2][r]) + (t[1][r] + t[3][r]);
        }
        out
    }
}

/// `y += alpha * x` over the shorter length.
#[inline(always)]
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &mut y[..n]);
    let (cx, rx) = x.as_chunks::<LANES>();
    let (cy, ry) = y.as_chunks_mut::<LANES>();
    for (x, y) in cx.iter().zip(cy) {
        for j in 0..LANES {
            y[j] += alpha * x[j];
        }
    }
    for (x, y) in rx.iter().zip(ry) {
        *y += alpha * x;
    }
}

/// `y = x + beta * y` (the CG direction update).
#[inline(always)]
pub(crate) fn xpby(x: &[f32], beta: f32, y: &mut [f32]) {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &mut y[..n]);
    let (cx, rx) = x.as_chunks::<LANES>();
    let (cy, ry) = y.as_chunks_mut::<LANES>();
    for (x, y) in cx.iter().zip(cy) {
        for j in 0..LANES {
            y[j] = x[j] + beta * y[j];
        }
    }
    for (x, y) in rx.iter().zip(ry) {
        *y = x + beta * *y;
    }
}

/// `out = scale * (m x)` for a symmetric `n x n` row-major `m`, as `n` axpys of its rows (the
/// row form needs no horizontal sums). `out.len() == x.len() == n`, `m.len() == n * n`.
#[inline(always)]
pub(crate) fn symv(m: &[f32], x: &[f32], scale: f32, out: &mut [f32]) {
    let n = x.len();
    out.fill(0.0);
    for (c, row) in m.chunks_exact(n.max(1)).enumerate().take(n) {
        axpy(scale * x[c], row, out);
    }
}

/// Asks the CPU to start loading `row` into cache: the item rows an ALS or BPR step reads are
/// scattered over a factor matrix far larger than the caches, and most of a row's time otherwise
/// goes to waiting for its first cache line. A hint only: it changes no value.
#[inline(always)]
pub(crate) fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(16) {
        // SAFETY: `_mm_prefetch` needs SSE, part of the x86-64 baseline, and never faults (it is
        // a hint, valid for any address); the pointer comes from a live slice anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// Defines `fn name(args) -> ret { body }` compiled twice, for the baseline target and for AVX2,
/// choosing at run time by what the CPU has. Both give the same bits (see the module doc); AVX2
/// only does each 16-lane step in two instructions instead of four. The body is an
/// `#[inline(always)]` inner function, so everything it calls is compiled for the feature too
/// (a closure would not be guaranteed to be). Arguments must be plain identifiers.
macro_rules! wide_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn inner($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            #[allow(clippy::too_many_arguments)]
            fn wide($($arg: $ty),*) $(-> $ret)? {
                inner($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: a `#[target_feature]` function only requires that the CPU has the
                    // feature, which was just checked.
                    return unsafe { wide($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}
pub(crate) use wide_fn;

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    #[test]
    fn kernels_agree_with_naive_loops_at_every_length() {
        for n in 0..70 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            assert!(
                (f64::from(dot(&a, &b)) - naive_dot(&a, &b)).abs() < 1e-4,
                "n={n}"
            );
            let mut y = b.clone();
            axpy(0.5, &a, &mut y);
            for i in 0..n {
                assert_eq!(y[i], b[i] + 0.5 * a[i]);
            }
            let mut y = b.clone();
            xpby(&a, 2.0, &mut y);
            for i in 0..n {
                assert_eq!(y[i], a[i] + 2.0 * b[i]);
            }
        }
    }

    #[test]
    fn symv_matches_the_definition() {
        let n = 19;
        let mut m = vec![0f32; n * n];
        for r in 0..n {
            for c in 0..n {
                m[r * n + c] = ((r + c) as f32 * 0.3).sin();
            }
        }
        let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.1 - 0.5).collect();
        let mut out = vec![9f32; n];
        symv(&m, &x, -1.0, &mut out);
        for r in 0..n {
            let want: f64 = -(0..n)
                .map(|c| f64::from(m[r * n + c]) * f64::from(x[c]))
                .sum::<f64>();
            assert!((f64::from(out[r]) - want).abs() < 1e-4);
        }
    }

    #[test]
    fn dot_rows_gives_dot_bits_row_by_row() {
        for f in [1usize, 5, 16, 19, 32, 64, 70, 128] {
            for n in 0..11 {
                let user: Vec<f32> = (0..f).map(|i| (i as f32 * 0.77).sin() * 3.0).collect();
                let rows: Vec<f32> = (0..n * f).map(|i| (i as f32 * 0.13).cos()).collect();
                let mut out = vec![f32::NAN; n];
                dot_rows(&user, &rows, &mut out);
                let mut portable = vec![f32::NAN; n];
                dot_rows_portable(&user, &rows, &mut portable);
                for (r, (&o, &p)) in out.iter().zip(&portable).enumerate() {
                    let want = dot(&user, &rows[r * f..(r + 1) * f]);
                    assert_eq!(o.to_bits(), want.to_bits(), "f={f} n={n} row {r}");
                    assert_eq!(p.to_bits(), want.to_bits(), "portable: f={f} n={n} row {r}");
                }
            }
        }
    }

    wide_fn! {
        fn wide_dot(a: &[f32], b: &[f32]) -> f32 {
            dot(a, b)
        }
    }

    #[test]
    fn wide_vectors_give_the_same_bits() {
        let a: Vec<f32> = (0..203).map(|i| (i as f32 * 1.7).sin() * 1e3).collect();
        let b: Vec<f32> = (0..203).map(|i| (i as f32 * 0.9).cos() * 1e-3).collect();
        assert_eq!(dot(&a, &b).to_bits(), wide_dot(&a, &b).to_bits());
    }
}
