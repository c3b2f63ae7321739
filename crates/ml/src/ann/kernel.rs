//! The int8 dot product of graph traversal, and the per-vector quantization that produces its
//! operands.
//!
//! Quantization: each vector gets its own scale, `max |x_i| / 127`, and codes
//! `round(x_i / scale)` in `-127..=127`; the approximate inner product of two vectors is
//! `scale_a * scale_b * Σ code_a·code_b`. Why per vector rather than per dimension: it needs no
//! training pass, so an index that grows by upserts never re-quantizes or drifts, and an inner
//! product index keeps each vector's magnitude exactly in its scale (module doc of `ann`).
//!
//! The sum is exact integer arithmetic, so every kernel (AVX-512 VNNI, AVX2, portable) returns
//! the same value: results never depend on the CPU. Codes never hold -128, so two products fit
//! an `i16` pair sum (the AVX2 pattern) and `vpdpbusd`'s unsigned operand is `code + 128`.

/// Which implementation of [`I8Kernel::dot`] this CPU runs; chosen once per index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum I8Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

impl I8Kernel {
    pub(crate) fn detect() -> I8Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                return I8Kernel::Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return I8Kernel::Avx2;
            }
        }
        I8Kernel::Portable
    }

    /// Every kernel this CPU can run (tests compare them).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<I8Kernel> {
        let mut all = vec![I8Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(I8Kernel::Avx2);
            }
            if I8Kernel::detect() == I8Kernel::Vnni {
                all.push(I8Kernel::Vnni);
            }
        }
        all
    }

    /// `Σ a_i·b_i` over the shorter length; codes in `-127..=127`.
    #[inline]
    pub(crate) fn dot(self, a: &[i8], b: &[i8]) -> i32 {
        match self {
            I8Kernel::Portable => dot_portable(a, b),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this kernel because the CPU has AVX2.
            I8Kernel::Avx2 => unsafe { dot_avx2(a, b) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this kernel because the CPU has AVX-512 F, BW and VNNI.
            I8Kernel::Vnni => unsafe { dot_vnni(a, b) },
        }
    }
}

impl I8Kernel {
    /// `out[i] = dot(q, row slots[i] of codes)` (rows of `dim` codes): one dispatch for a node's
    /// neighbours, the kernel inlined into the loop.
    pub(crate) fn dots(
        self,
        q: &[i8],
        codes: &[i8],
        dim: usize,
        slots: &[u32],
        out: &mut Vec<i32>,
    ) {
        out.clear();
        match self {
            I8Kernel::Portable => dots_portable(q, codes, dim, slots, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this kernel because the CPU has AVX2.
            I8Kernel::Avx2 => unsafe { dots_avx2(q, codes, dim, slots, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this kernel because the CPU has AVX-512 F, BW and VNNI.
            I8Kernel::Vnni => unsafe { dots_vnni(q, codes, dim, slots, out) },
        }
    }
}

fn dots_portable(q: &[i8], codes: &[i8], dim: usize, slots: &[u32], out: &mut Vec<i32>) {
    for &s in slots {
        let s = s as usize * dim;
        out.push(codes.get(s..s + dim).map_or(0, |row| dot_portable(q, row)));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots_avx2(q: &[i8], codes: &[i8], dim: usize, slots: &[u32], out: &mut Vec<i32>) {
    dots_portable(q, codes, dim, slots, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dots_vnni(q: &[i8], codes: &[i8], dim: usize, slots: &[u32], out: &mut Vec<i32>) {
    for &s in slots {
        let s = s as usize * dim;
        out.push(codes.get(s..s + dim).map_or(0, |row| dot_vnni(q, row)));
    }
}

#[inline(always)]
fn dot_portable(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<32>();
    let (cb, rb) = b[..n].as_chunks::<32>();
    let mut acc = [0i32; 16];
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..16 {
            // Two products of codes in -127..=127 fit an i16 sum: the `pmaddwd` shape.
            let p = i16::from(x[2 * j]) * i16::from(y[2 * j])
                + i16::from(x[2 * j + 1]) * i16::from(y[2 * j + 1]);
            acc[j] += i32::from(p);
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += i32::from(*x) * i32::from(*y);
    }
    sum
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[i8], b: &[i8]) -> i32 {
    dot_portable(a, b)
}

/// 64 codes per step: `vpdpbusd(a + 128, b) - vpdpbusd(128, b)`, both exact in i32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
fn dot_vnni(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::{
        _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_reduce_add_epi32, _mm512_set1_epi8,
        _mm512_setzero_si512, _mm512_xor_si512,
    };
    let n = a.len().min(b.len());
    let (ca, ra) = a[..n].as_chunks::<64>();
    let (cb, rb) = b[..n].as_chunks::<64>();
    let flip = _mm512_set1_epi8(i8::MIN);
    let mut acc = _mm512_setzero_si512();
    let mut bias = _mm512_setzero_si512();
    for (x, y) in ca.iter().zip(cb) {
        // SAFETY: each pointer is to a 64-byte chunk, exactly one unaligned 512-bit load.
        let (x, y) = unsafe {
            (
                _mm512_loadu_si512(x.as_ptr().cast()),
                _mm512_loadu_si512(y.as_ptr().cast()),
            )
        };
        acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(x, flip), y);
        bias = _mm512_dpbusd_epi32(bias, flip, y);
    }
    let mut sum = _mm512_reduce_add_epi32(acc) - _mm512_reduce_add_epi32(bias);
    for (x, y) in ra.iter().zip(rb) {
        sum += i32::from(*x) * i32::from(*y);
    }
    sum
}

/// Writes the codes of `v` into `out` (same length) and returns the scale (0 for a zero vector,
/// whose codes are all 0).
pub(crate) fn quantize(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.fill(0);
        return 0.0;
    }
    let scale = max / 127.0;
    let inv = 127.0 / max;
    for (o, x) in out.iter_mut().zip(v) {
        *o = (x * inv).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn kernels_agree_with_the_definition() {
        let mut rng = Rng::derive(3, &[]);
        for n in [0usize, 1, 7, 31, 32, 63, 64, 65, 100, 384, 1000] {
            let a: Vec<i8> = (0..n)
                .map(|_| (rng.below(255) as i32 - 127) as i8)
                .collect();
            let b: Vec<i8> = (0..n)
                .map(|_| (rng.below(255) as i32 - 127) as i8)
                .collect();
            let want: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
            for k in I8Kernel::available() {
                assert_eq!(k.dot(&a, &b), want, "{k:?} n={n}");
            }
            let ext: Vec<i8> = vec![127; n];
            let want: i32 = ext.iter().map(|_| 127 * 127).sum();
            for k in I8Kernel::available() {
                assert_eq!(k.dot(&ext, &ext), want);
                assert_eq!(
                    k.dot(&ext, &ext.iter().map(|x| -x).collect::<Vec<_>>()),
                    -want
                );
            }
        }
    }

    #[test]
    fn quantization_error_is_small() {
        let v: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut c = vec![0i8; 64];
        let s = quantize(&v, &mut c);
        for (x, q) in v.iter().zip(&c) {
            assert!((x - s * f32::from(*q)).abs() <= s * 0.5 + 1e-6);
        }
        assert_eq!(quantize(&[0.0; 4], &mut c[..4]), 0.0);
        assert_eq!(&c[..4], &[0, 0, 0, 0]);
    }
}
