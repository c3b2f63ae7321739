//! `QuantItems`: an int8 copy of a factor model's item rows that lets recommend skip the exact
//! f32 score of almost every item without changing a single answer.
//!
//! Why: scoring a user against every item streams all item rows (12.8 MB for 50k items at 64
//! factors), and the f32 pass is bound by that traffic. The int8 copy is a quarter of it and
//! integer dot products are exact on every CPU, so the pre-scan costs a fraction and cannot make
//! answers depend on the machine.
//!
//! How the answer stays exact: item values are codes `q = round(v / s)` (one scale `s` for the
//! model, `|q| <= 127`), the user's `p = round(u / t)` (`|p| <= 63`, per call). For every item
//! `|u·v - t·s·(p·q)| <= s/2·‖u‖₁ + t·s/2·max‖q‖₁ = E`, plus a float-rounding slack. With
//! `approx = t·s·(p·q) + bias`, each item's exact score lies in `[approx - E, approx + E]`. The
//! k-th best lower bound among items that pass the filter, `θ`, is at most the k-th best exact
//! score, so every item of the exact top k has `approx + E >= θ`: those candidates (a few dozen
//! on real and random models) are scored exactly, by the same `dot` as the full scan, and
//! offered to the same heap in ascending item order. The answer is the full scan's, bit for bit
//! and tie for tie; tests compare the two on random, tied and skewed models.
//!
//! Layout: blocks of 16 items; within a block, for each group of 4 factors, 64 bytes (item r's
//! 4 codes at bytes 4r..4r+4), the operand shape of AVX-512 VNNI's `vpdpbusd` (one instruction
//! scores 16 items on 4 factors). AVX2 does the same with `vpmaddubsw` + `vpmaddwd` (user codes
//! are kept at 7 bits so the 16-bit pair sums cannot saturate); other CPUs run a plain loop.
//! The user's codes are sent as `p + 64` (unsigned, as the instructions want) and each item's
//! `64·Σq` is subtracted after.

use crate::kernels::{dot, wide_fn};
use crate::model::topk::TopK;

/// Items per block: one 512-bit lane set of 32-bit sums.
const BLOCK: usize = 16;
/// Blocks scored per kernel call (their sums sit in a stack buffer).
const CHUNK_BLOCKS: usize = 16;
/// Catalogues smaller than this are scanned exactly: the f32 pass over them is already short.
pub(crate) const QUANTIZE_MIN_ITEMS: usize = 4096;
/// Above this many (padded) factors the integer sums could leave `f32`'s exact range.
const MAX_PADDED_FACTORS: usize = 2048;
const ITEM_CODE_MAX: f32 = 127.0;
const USER_CODE_MAX: f64 = 63.0;
const USER_CODE_OFFSET: i32 = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuantItems {
    /// Factors padded to a multiple of 4 (the padding codes are 0).
    padded: usize,
    items: usize,
    /// `s`: an item value is about `s · code`.
    scale: f32,
    /// `blocks · padded · 16` codes in the layout above; rows past `items` are 0.
    codes: Vec<i8>,
    /// `64 · Σ codes` per item (padded to whole blocks).
    offsets: Vec<i32>,
    /// The largest `Σ |code|` of an item.
    max_l1: i64,
    /// The largest `|value|` of an item factor, and of a bias.
    max_value: f32,
    max_bias: f32,
}

impl QuantItems {
    /// `None` when quantizing would not pay or not be sound: fewer than `min_items` items, no
    /// factors or too many, a value not finite, or every value zero.
    pub(crate) fn build(
        rows: &[f32],
        factors: usize,
        bias: Option<&[f32]>,
        min_items: usize,
    ) -> Option<QuantItems> {
        if factors == 0 || !rows.len().is_multiple_of(factors) {
            return None;
        }
        let items = rows.len() / factors;
        let padded = factors.div_ceil(4) * 4;
        if items < min_items.max(1) || padded > MAX_PADDED_FACTORS {
            return None;
        }
        if !rows.iter().all(|v| v.is_finite())
            || !bias.is_none_or(|b| b.iter().all(|v| v.is_finite()))
        {
            return None;
        }
        let max_value = rows.iter().fold(0f32, |m, v| m.max(v.abs()));
        let max_bias = bias.map_or(0.0, |b| b.iter().fold(0f32, |m, v| m.max(v.abs())));
        if max_value <= 0.0 {
            return None;
        }
        let scale = max_value / ITEM_CODE_MAX;
        let blocks = items.div_ceil(BLOCK);
        let mut codes = vec![0i8; blocks * BLOCK * padded];
        let mut offsets = vec![0i32; blocks * BLOCK];
        let mut max_l1 = 0i64;
        for (i, row) in rows.chunks_exact(factors).enumerate() {
            let (b, r) = (i / BLOCK, i % BLOCK);
            let (mut sum, mut l1) = (0i32, 0i64);
            for (j, &v) in row.iter().enumerate() {
                let q = (v / scale).round().clamp(-ITEM_CODE_MAX, ITEM_CODE_MAX) as i8;
                codes[(b * (padded / 4) + j / 4) * 4 * BLOCK + r * 4 + j % 4] = q;
                sum += i32::from(q);
                l1 += i64::from(q).abs();
            }
            offsets[i] = USER_CODE_OFFSET * sum;
            max_l1 = max_l1.max(l1);
        }
        Some(QuantItems {
            padded,
            items,
            scale,
            codes,
            offsets,
            max_l1,
            max_value,
            max_bias,
        })
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.codes.capacity() + 4 * self.offsets.capacity()
    }

    /// Ranks like the exact scan (`rows`, row-major `factors` wide, and `bias` are the model's
    /// f32 item side this was built from) into `top`: the same answer, the same ties. `false`
    /// (and `top` untouched) when the user vector cannot be bounded (a value not finite, all
    /// zero, or so large a bound could overflow) or the bound is too loose to prune (more than
    /// an eighth of the catalogue stays a candidate): the caller then scans exactly.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rank(
        &self,
        rows: &[f32],
        factors: usize,
        bias: Option<&[f32]>,
        user: &[f32],
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
        top: &mut TopK,
    ) -> bool {
        let k = top.capacity();
        if k == 0 {
            return true;
        }
        let Some(mut scan) = Scan::new(self, user, exclude, k) else {
            return false;
        };
        let kernel = Kernel::detect();
        let block_bytes = BLOCK * self.padded;
        let blocks = self.items.div_ceil(BLOCK);
        let mut sums = [0i32; CHUNK_BLOCKS * BLOCK];
        let mut b0 = 0;
        while b0 < blocks {
            let nb = CHUNK_BLOCKS.min(blocks - b0);
            let codes = &self.codes[b0 * block_bytes..(b0 + nb) * block_bytes];
            kernel.run(
                &scan.bound.codes,
                codes,
                self.padded,
                &mut sums[..nb * BLOCK],
            );
            if !scan.offer(self, b0, &sums[..nb * BLOCK], bias, keep) {
                return false;
            }
            b0 += nb;
        }
        scan.finish(rows, factors, bias, user, keep, top);
        true
    }

    /// [`QuantItems::rank`] for up to [`GROUP_USERS`] users at once, without a filter: each
    /// chunk of codes is read once for all of them. `None` for a user the pre-scan declined
    /// (the caller scans that one exactly).
    pub(crate) fn rank_group(
        &self,
        rows: &[f32],
        factors: usize,
        bias: Option<&[f32]>,
        users: &[&[f32]],
        exclude: &[&[u32]],
        k: usize,
    ) -> Vec<Option<Vec<(u32, f32)>>> {
        let keep = |_: u32| true;
        let mut scans: Vec<Option<Scan<'_>>> = users
            .iter()
            .zip(exclude)
            .map(|(user, exclude)| Scan::new(self, user, exclude, k))
            .collect();
        if k > 0 {
            let kernel = Kernel::detect();
            let block_bytes = BLOCK * self.padded;
            let blocks = self.items.div_ceil(BLOCK);
            let mut sums = vec![[0i32; CHUNK_BLOCKS * BLOCK]; GROUP_USERS];
            for part in scans.chunks_mut(GROUP_USERS) {
                let mut b0 = 0;
                while b0 < blocks {
                    let nb = CHUNK_BLOCKS.min(blocks - b0);
                    let codes = &self.codes[b0 * block_bytes..(b0 + nb) * block_bytes];
                    let live: Vec<&[u8]> = part
                        .iter()
                        .map(|s| s.as_ref().map_or(&[][..], |s| &s.bound.codes[..]))
                        .collect();
                    kernel.run_group(&live, codes, self.padded, &mut sums, nb * BLOCK);
                    for (scan, sums) in part.iter_mut().zip(&sums) {
                        if let Some(s) = scan
                            && !s.offer(self, b0, &sums[..nb * BLOCK], bias, &keep)
                        {
                            *scan = None;
                        }
                    }
                    b0 += nb;
                }
            }
        }
        scans
            .into_iter()
            .zip(users)
            .map(|(scan, user)| {
                let mut top = TopK::new(k);
                if k > 0 {
                    scan?.finish(rows, factors, bias, user, &keep, &mut top);
                }
                Some(top.into_sorted())
            })
            .collect()
    }
}

/// Users whose pre-scans share one read of the codes in [`QuantItems::rank_group`].
pub(crate) const GROUP_USERS: usize = 4;

/// One user's pre-scan in progress.
struct Scan<'a> {
    bound: UserCodes,
    /// The k best lower bounds among kept items; `theta` is the worst of them once full.
    lows: TopK,
    theta: f32,
    /// Once the heap is full, a group whose best integer sum is below `floor` cannot hold a
    /// candidate: `sum · unit + E < θ` with units to spare for the float rounding of the
    /// product (unbiased models; biased ones test the float approximation).
    floor: i64,
    candidates: Vec<(u32, f32)>,
    skip: std::iter::Peekable<std::slice::Iter<'a, u32>>,
    limit: usize,
}

impl<'a> Scan<'a> {
    fn new(q: &QuantItems, user: &[f32], exclude: &'a [u32], k: usize) -> Option<Scan<'a>> {
        Some(Scan {
            bound: UserCodes::new(user, q)?,
            lows: TopK::new(k),
            theta: f32::NEG_INFINITY,
            floor: i64::MIN,
            candidates: Vec::new(),
            skip: exclude.iter().peekable(),
            limit: (q.items / 8).max(4 * k).max(256),
        })
    }

    /// Takes the integer sums of the blocks from `b0` on; `false` when the bound proves too
    /// loose to prune (the scan is then abandoned).
    fn offer(
        &mut self,
        q: &QuantItems,
        b0: usize,
        sums: &[i32],
        bias: Option<&[f32]>,
        keep: &dyn Fn(u32) -> bool,
    ) -> bool {
        let nb = sums.len() / BLOCK;
        let mut adjusted = [0i32; CHUNK_BLOCKS * BLOCK];
        let mut maxima = [0i32; CHUNK_BLOCKS];
        subtract_and_max(
            sums,
            &q.offsets[b0 * BLOCK..(b0 + nb) * BLOCK],
            &mut adjusted[..nb * BLOCK],
            &mut maxima[..nb],
        );
        for (g, group) in adjusted[..nb * BLOCK].chunks_exact(BLOCK).enumerate() {
            if bias.is_none() && i64::from(maxima[g]) < self.floor {
                continue;
            }
            let first = (b0 + g) * BLOCK;
            let n = BLOCK.min(q.items - first);
            let mut approx = [0f32; BLOCK];
            for (a, &x) in approx.iter_mut().zip(group) {
                *a = x as f32 * self.bound.unit;
            }
            if let Some(bias) = bias {
                for (a, &x) in approx[..n].iter_mut().zip(&bias[first..first + n]) {
                    *a += x;
                }
                let best = approx[..n].iter().fold(f32::NEG_INFINITY, |m, &a| m.max(a));
                if best + self.bound.error < self.theta {
                    continue;
                }
            }
            while self.skip.next_if(|&&e| (e as usize) < first).is_some() {}
            for (r, &a) in approx[..n].iter().enumerate() {
                let item = (first + r) as u32;
                if self.skip.next_if_eq(&&item).is_some() {
                    continue;
                }
                let upper = a + self.bound.error;
                if upper < self.theta {
                    continue;
                }
                let lower = a - self.bound.error;
                if self.lows.would_keep(item, lower) {
                    if !keep(item) {
                        continue;
                    }
                    self.lows.push(item, lower);
                    if let Some(worst) = self.lows.bar() {
                        self.theta = worst;
                        self.floor = self.bound.floor(worst);
                    }
                }
                self.candidates.push((item, upper));
            }
            if self.candidates.len() > self.limit {
                let theta = self.theta;
                self.candidates.retain(|&(_, upper)| upper >= theta);
                if self.candidates.len() > self.limit {
                    return false;
                }
            }
        }
        true
    }

    /// Scores the surviving candidates exactly (`dot` + bias, the full scan's bits) into `top`,
    /// in ascending item order.
    fn finish(
        self,
        rows: &[f32],
        factors: usize,
        bias: Option<&[f32]>,
        user: &[f32],
        keep: &dyn Fn(u32) -> bool,
        top: &mut TopK,
    ) {
        for (item, upper) in self.candidates {
            if upper < self.theta {
                continue;
            }
            let i = item as usize;
            let extra = bias.map_or(0.0, |b| b[i]);
            let score = dot(user, &rows[i * factors..(i + 1) * factors]) + extra;
            if top.would_keep(item, score) && keep(item) {
                top.push(item, score);
            }
        }
    }
}

wide_fn! {
    /// `adjusted = sums - offsets` and the maximum of each 16 of it: one pass the compiler
    /// vectorizes (AVX2 where the CPU has it).
    fn subtract_and_max(sums: &[i32], offsets: &[i32], adjusted: &mut [i32], maxima: &mut [i32]) {
        for (((s, o), a), m) in sums
            .chunks_exact(BLOCK)
            .zip(offsets.chunks_exact(BLOCK))
            .zip(adjusted.chunks_exact_mut(BLOCK))
            .zip(maxima.iter_mut())
        {
            let mut best = i32::MIN;
            for r in 0..BLOCK {
                a[r] = s[r] - o[r];
                best = best.max(a[r]);
            }
            *m = best;
        }
    }
}

/// One call's user side: codes, the unit of an integer sum, and the error bound.
struct UserCodes {
    codes: Vec<u8>,
    /// `t · s`: approx = sum · unit + bias.
    unit: f32,
    /// `E` plus the float slack, rounded up.
    error: f32,
}

impl UserCodes {
    /// The integer sum below which `sum · unit + error < theta` surely holds (two units spare for the
    /// rounding of the f32 product and sum it stands for).
    fn floor(&self, theta: f32) -> i64 {
        let t = (f64::from(theta) - f64::from(self.error)) / f64::from(self.unit) - 2.0;
        if t.is_nan() {
            i64::MIN
        } else {
            t.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64
        }
    }

    fn new(user: &[f32], q: &QuantItems) -> Option<UserCodes> {
        let (mut l1, mut max) = (0f64, 0f64);
        for &u in user {
            let a = f64::from(u).abs();
            l1 += a;
            max = max.max(a);
        }
        if !l1.is_finite() || max <= 0.0 {
            return None;
        }
        let s = f64::from(q.scale);
        let magnitude = l1 * f64::from(q.max_value) + f64::from(q.max_bias);
        if magnitude > 1e30 {
            return None;
        }
        let t = max / USER_CODE_MAX;
        let mut codes = vec![USER_CODE_OFFSET as u8; q.padded];
        for (c, &u) in codes.iter_mut().zip(user) {
            let p = (f64::from(u) / t)
                .round()
                .clamp(-USER_CODE_MAX, USER_CODE_MAX) as i32;
            *c = (p + USER_CODE_OFFSET) as u8;
        }
        // Quantization error, then a slack far above every rounding in play: the exact scan's
        // f32 dot (at most `factors` roundings of partial sums bounded by ‖u‖₁·max|v|), the
        // bias add, this approximation's multiply-add and the bound's own add/subtract.
        let quantization = s / 2.0 * l1 + t * s / 2.0 * q.max_l1 as f64;
        let slack = (q.padded as f64 + 16.0) * 2f64.powi(-20) * (magnitude + quantization);
        let error = ((quantization + slack) * (1.0 + 2f64.powi(-16))) as f32;
        Some(UserCodes {
            codes,
            unit: (t * s) as f32,
            error,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

impl Kernel {
    fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                return Kernel::Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// `out[16·b + r]` = Σ user[j] · code of item r of block b, factor j (user codes unsigned).
    /// Every kernel gives the same integers.
    fn run(self, user: &[u8], codes: &[i8], padded: usize, out: &mut [i32]) {
        match self {
            Kernel::Portable => sums_portable(user, codes, padded, out),
            // SAFETY: `detect` saw the features these functions are compiled for.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { sums_avx2(user, codes, padded, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe { sums_vnni(user, codes, padded, out) },
        }
    }
}

impl Kernel {
    /// [`Kernel::run`] for several users (an empty code list is skipped) over the same codes:
    /// `outs[u][..len]` for user u. VNNI reads each 64 bytes of codes once for up to four users.
    fn run_group(
        self,
        users: &[&[u8]],
        codes: &[i8],
        padded: usize,
        outs: &mut [[i32; CHUNK_BLOCKS * BLOCK]],
        len: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Vnni
            && users.len() == GROUP_USERS
            && users.iter().all(|u| u.len() == padded)
        {
            let [a, b, c, d] = outs else {
                unreachable!("outs holds GROUP_USERS buffers")
            };
            // SAFETY: `detect` saw the features this function is compiled for.
            unsafe {
                sums_vnni4(
                    [users[0], users[1], users[2], users[3]],
                    codes,
                    padded,
                    [&mut a[..len], &mut b[..len], &mut c[..len], &mut d[..len]],
                )
            };
            return;
        }
        for (user, out) in users.iter().zip(outs.iter_mut()) {
            if !user.is_empty() {
                self.run(user, codes, padded, &mut out[..len]);
            }
        }
    }
}

fn sums_portable(user: &[u8], codes: &[i8], padded: usize, out: &mut [i32]) {
    let groups = padded / 4;
    for (block, sums) in codes
        .chunks_exact(BLOCK * padded)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        let mut acc = [0i32; BLOCK];
        for (g, quad) in block.chunks_exact(4 * BLOCK).take(groups).enumerate() {
            let u = &user[4 * g..4 * g + 4];
            for (r, a) in acc.iter_mut().enumerate() {
                for c in 0..4 {
                    *a += i32::from(u[c]) * i32::from(quad[4 * r + c]);
                }
            }
        }
        sums.copy_from_slice(&acc);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sums_avx2(user: &[u8], codes: &[i8], padded: usize, out: &mut [i32]) {
    use std::arch::x86_64::{
        _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
        _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256,
    };
    let groups = padded / 4;
    let ones = _mm256_set1_epi16(1);
    for (block, sums) in codes
        .chunks_exact(BLOCK * padded)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for (g, quad) in block.chunks_exact(4 * BLOCK).take(groups).enumerate() {
            let u = i32::from_le_bytes([
                user[4 * g],
                user[4 * g + 1],
                user[4 * g + 2],
                user[4 * g + 3],
            ]);
            let u = _mm256_set1_epi32(u);
            // SAFETY: `quad` is 64 bytes; the loads read its two halves.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(quad.as_ptr().cast()),
                    _mm256_loadu_si256(quad.as_ptr().add(32).cast()),
                )
            };
            // User codes are at most 127, so a pair sum is at most 2·127·127 < 2^15.
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), ones));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(u, b), ones));
        }
        // SAFETY: `sums` is 16 i32s.
        unsafe {
            _mm256_storeu_si256(sums.as_mut_ptr().cast(), lo);
            _mm256_storeu_si256(sums.as_mut_ptr().add(8).cast(), hi);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
fn sums_vnni(user: &[u8], codes: &[i8], padded: usize, out: &mut [i32]) {
    use std::arch::x86_64::{
        _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };
    let (quads, _) = user[..padded].as_chunks::<4>();
    for (block, sums) in codes
        .chunks_exact(BLOCK * padded)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        let (mut even, mut odd) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let (pairs, rest) = block.as_chunks::<{ 8 * BLOCK }>();
        let (user_pairs, user_rest) = quads.as_chunks::<2>();
        // Two accumulators so consecutive dot instructions do not wait on each other.
        for (pair, u) in pairs.iter().zip(user_pairs) {
            // SAFETY: `pair` is 128 bytes; the loads read its two halves.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_si512(pair.as_ptr().cast()),
                    _mm512_loadu_si512(pair.as_ptr().add(4 * BLOCK).cast()),
                )
            };
            even = _mm512_dpbusd_epi32(even, _mm512_set1_epi32(i32::from_le_bytes(u[0])), x);
            odd = _mm512_dpbusd_epi32(odd, _mm512_set1_epi32(i32::from_le_bytes(u[1])), y);
        }
        if let (Some(u), false) = (user_rest.first(), rest.is_empty()) {
            // SAFETY: `rest` is the block's last 64 bytes (an odd count of quads).
            let x = unsafe { _mm512_loadu_si512(rest.as_ptr().cast()) };
            even = _mm512_dpbusd_epi32(even, _mm512_set1_epi32(i32::from_le_bytes(*u)), x);
        }
        let total = std::arch::x86_64::_mm512_add_epi32(even, odd);
        // SAFETY: `sums` is 16 i32s.
        unsafe { _mm512_storeu_si512(sums.as_mut_ptr().cast(), total) };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
fn sums_vnni4(users: [&[u8]; 4], codes: &[i8], padded: usize, outs: [&mut [i32]; 4]) {
    use std::arch::x86_64::{
        _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };
    // Each group of 4 factors as one i32 per user, read in the loop without bounds checks.
    let lanes: Vec<[i32; 4]> = (0..padded / 4)
        .map(|g| {
            users.map(|u| i32::from_le_bytes([u[4 * g], u[4 * g + 1], u[4 * g + 2], u[4 * g + 3]]))
        })
        .collect();
    let [o0, o1, o2, o3] = outs;
    for (b, block) in codes.chunks_exact(BLOCK * padded).enumerate() {
        let mut acc = [_mm512_setzero_si512(); 4];
        let (quads, _) = block.as_chunks::<{ 4 * BLOCK }>();
        for (quad_codes, lane) in quads.iter().zip(&lanes) {
            // SAFETY: `quad_codes` is 64 bytes.
            let x = unsafe { _mm512_loadu_si512(quad_codes.as_ptr().cast()) };
            for (a, &u) in acc.iter_mut().zip(lane) {
                *a = _mm512_dpbusd_epi32(*a, _mm512_set1_epi32(u), x);
            }
        }
        for (a, out) in acc.iter().zip([&mut *o0, &mut *o1, &mut *o2, &mut *o3]) {
            let sums = &mut out[b * BLOCK..(b + 1) * BLOCK];
            // SAFETY: `sums` is 16 i32s.
            unsafe { _mm512_storeu_si512(sums.as_mut_ptr().cast(), *a) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::factors::Factors;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        }
    }

    fn exact(
        f: &Factors,
        user: &[f32],
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
        k: usize,
    ) -> Vec<(u32, f32)> {
        let mut top = TopK::new(k);
        f.rank_exact(user, exclude, keep, &mut top);
        top.into_sorted()
    }

    fn quantized(
        f: &Factors,
        q: &QuantItems,
        user: &[f32],
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
        k: usize,
    ) -> Option<Vec<(u32, f32)>> {
        let mut top = TopK::new(k);
        q.rank(
            &f.item_factors,
            f.factors,
            f.item_bias.as_deref(),
            user,
            exclude,
            keep,
            &mut top,
        )
        .then(|| top.into_sorted())
    }

    #[test]
    fn kernels_give_the_same_sums() {
        let mut rng = Rng(7);
        for padded in [4usize, 8, 12, 64, 68, 260] {
            let blocks = 3;
            let codes: Vec<i8> = (0..blocks * BLOCK * padded)
                .map(|_| ((rng.next() % 255) as i32 - 127) as i8)
                .collect();
            let user: Vec<u8> = (0..padded).map(|_| (rng.next() % 128) as u8).collect();
            let mut want = vec![0i32; blocks * BLOCK];
            sums_portable(&user, &codes, padded, &mut want);
            // The definition, item by item.
            for b in 0..blocks {
                for r in 0..BLOCK {
                    let mut s = 0i32;
                    for j in 0..padded {
                        let code = codes[(b * (padded / 4) + j / 4) * 4 * BLOCK + r * 4 + j % 4];
                        s += i32::from(user[j]) * i32::from(code);
                    }
                    assert_eq!(want[b * BLOCK + r], s);
                }
            }
            #[cfg(target_arch = "x86_64")]
            for kernel in [Kernel::Avx2, Kernel::Vnni] {
                let ok = match kernel {
                    Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
                    _ => {
                        std::arch::is_x86_feature_detected!("avx512f")
                            && std::arch::is_x86_feature_detected!("avx512vnni")
                    }
                };
                if ok {
                    let mut got = vec![0i32; blocks * BLOCK];
                    kernel.run(&user, &codes, padded, &mut got);
                    assert_eq!(got, want, "{kernel:?} at {padded} factors");
                }
            }
        }
    }

    #[test]
    fn the_answer_is_the_full_scans_bit_for_bit() {
        let mut rng = Rng(11);
        for (items, factors, biased) in [
            (1000usize, 64usize, false),
            (777, 13, true),
            (3000, 32, false),
            (50, 3, true),
            (4099, 64, true),
        ] {
            let mut rows: Vec<f32> = (0..items * factors).map(|_| rng.unit()).collect();
            // Ties: some items are copies of others.
            for i in (0..items).step_by(37).skip(1) {
                let (a, b) = rows.split_at_mut(i * factors);
                b[..factors].copy_from_slice(&a[(i / 2) * factors..(i / 2 + 1) * factors]);
            }
            let bias = biased.then(|| (0..items).map(|_| rng.unit() * 0.1).collect::<Vec<f32>>());
            let f = Factors::new(factors, 0, items as u32, Vec::new(), rows, bias);
            let q = QuantItems::build(&f.item_factors, factors, f.item_bias.as_deref(), 0)
                .expect("quantizable");
            let mut pruned = 0;
            for case in 0..60 {
                let user: Vec<f32> = (0..factors).map(|_| rng.unit() * 3.0).collect();
                let exclude: Vec<u32> = {
                    let mut e: Vec<u32> = (0..case % 7 * 5)
                        .map(|_| (rng.next() % items as u64) as u32)
                        .collect();
                    e.sort_unstable();
                    e.dedup();
                    e
                };
                let modulus = 1 + case % 4;
                let keep = move |i: u32| i.is_multiple_of(modulus as u32);
                let all = |_: u32| true;
                let filter: &dyn Fn(u32) -> bool = if case % 2 == 0 { &keep } else { &all };
                for k in [1usize, 10, 100] {
                    let want = exact(&f, &user, &exclude, filter, k);
                    if let Some(got) = quantized(&f, &q, &user, &exclude, filter, k) {
                        pruned += 1;
                        let bits = |v: &[(u32, f32)]| {
                            v.iter().map(|&(i, s)| (i, s.to_bits())).collect::<Vec<_>>()
                        };
                        assert_eq!(
                            bits(&got),
                            bits(&want),
                            "{items} items, {factors} factors, k {k}, case {case}"
                        );
                    }
                }
            }
            assert!(pruned > 100, "the pre-scan gave up too often: {pruned}");
        }
    }

    #[test]
    fn groups_of_users_get_the_single_answers() {
        let mut rng = Rng(19);
        for (items, factors, biased) in [(2000usize, 64usize, false), (999, 20, true)] {
            let rows: Vec<f32> = (0..items * factors).map(|_| rng.unit()).collect();
            let bias = biased.then(|| (0..items).map(|_| rng.unit() * 0.1).collect::<Vec<f32>>());
            let f = Factors::new(factors, 0, items as u32, Vec::new(), rows, bias);
            let q = QuantItems::build(&f.item_factors, factors, f.item_bias.as_deref(), 0)
                .expect("quantizable");
            // 11 users: two full groups and a partial one; one all-zero user the pre-scan declines.
            let mut users: Vec<Vec<f32>> = (0..11)
                .map(|_| (0..factors).map(|_| rng.unit() * 2.0).collect())
                .collect();
            users[5] = vec![0.0; factors];
            let excludes: Vec<Vec<u32>> = (0..11u32)
                .map(|u| (0..u).map(|i| i * 7).collect())
                .collect();
            let refs: Vec<&[f32]> = users.iter().map(Vec::as_slice).collect();
            let lists: Vec<&[u32]> = excludes.iter().map(Vec::as_slice).collect();
            for k in [0usize, 1, 10, 50] {
                let got = q.rank_group(
                    &f.item_factors,
                    factors,
                    f.item_bias.as_deref(),
                    &refs,
                    &lists,
                    k,
                );
                for (u, answer) in got.iter().enumerate() {
                    let want = exact(&f, refs[u], lists[u], &|_| true, k);
                    match answer {
                        Some(answer) => assert_eq!(answer, &want, "user {u}, k {k}"),
                        None => assert_eq!(u, 5, "only the zero user is declined"),
                    }
                }
                assert!(k == 0 || got[5].is_none());
            }
            let grouped = f.rank_group(&refs, &lists, 10);
            for (u, answer) in grouped.iter().enumerate() {
                assert_eq!(answer, &exact(&f, refs[u], lists[u], &|_| true, 10));
            }
        }
    }

    #[test]
    fn skewed_models_stay_exact_or_fall_back() {
        // One huge item makes every other code tiny: the bound is loose, answers stay exact.
        let mut rng = Rng(3);
        let (items, factors) = (2000usize, 16usize);
        let mut rows: Vec<f32> = (0..items * factors).map(|_| rng.unit() * 1e-3).collect();
        rows[5 * factors..6 * factors].fill(1e3);
        let f = Factors::new(factors, 0, items as u32, Vec::new(), rows, None);
        let q = QuantItems::build(&f.item_factors, factors, None, 0).expect("quantizable");
        for _ in 0..20 {
            let user: Vec<f32> = (0..factors).map(|_| rng.unit()).collect();
            let want = exact(&f, &user, &[], &|_| true, 10);
            if let Some(got) = quantized(&f, &q, &user, &[], &|_| true, 10) {
                assert_eq!(got, want);
            }
        }
        // Degenerate inputs are refused, not ranked.
        assert!(quantized(&f, &q, &vec![0.0; factors], &[], &|_| true, 10).is_none());
        let mut nan = vec![0.5; factors];
        nan[3] = f32::NAN;
        assert!(quantized(&f, &q, &nan, &[], &|_| true, 10).is_none());
        assert!(QuantItems::build(&[0.0; 64], 16, None, 0).is_none());
        assert!(QuantItems::build(&[f32::INFINITY; 64], 16, None, 0).is_none());
        assert!(QuantItems::build(&[0.5; 64], 16, None, 5).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any model, user, exclusions, filter and k: the pre-scan's answer (when it gives one)
        /// is the exact scan's, bit for bit.
        #[test]
        fn prescan_equals_exact_scan(
            items in 1usize..400,
            factors in 1usize..24,
            values in proptest::collection::vec(-8i32..=8, 400 * 24),
            magnitude in -6i32..6,
            user in proptest::collection::vec(-50i32..=50, 24),
            biased in proptest::bool::ANY,
            excluded in proptest::collection::btree_set(0u32..400, 0..40),
            modulus in 1u32..4,
            k in 0usize..30,
        ) {
            // Coarse values make ties and equal codes common; the magnitude moves the scale.
            let m = 2f32.powi(magnitude);
            let rows: Vec<f32> = values[..items * factors].iter().map(|&v| v as f32 * m / 8.0).collect();
            let bias = biased.then(|| values[..items].iter().map(|&v| v as f32 / 16.0).collect::<Vec<f32>>());
            let f = Factors::new(factors, 0, items as u32, Vec::new(), rows, bias);
            let user: Vec<f32> = user[..factors].iter().map(|&v| v as f32 / 10.0).collect();
            let exclude: Vec<u32> = excluded.into_iter().filter(|&e| (e as usize) < items).collect();
            let keep = move |i: u32| i.is_multiple_of(modulus);
            if let Some(q) = QuantItems::build(&f.item_factors, factors, f.item_bias.as_deref(), 0) {
                let want = exact(&f, &user, &exclude, &keep, k);
                if let Some(got) = quantized(&f, &q, &user, &exclude, &keep, k) {
                    let bits = |v: &[(u32, f32)]| v.iter().map(|&(i, s)| (i, s.to_bits())).collect::<Vec<_>>();
                    proptest::prop_assert_eq!(bits(&got), bits(&want));
                }
            }
        }
    }
}
