//! The f32 inner loops of every trainer and scorer: dot, axpy and a symmetric matrix-vector
//! product, written so they vectorize and give the same bits on every x86-64 or ARM CPU.
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
