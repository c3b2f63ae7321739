//! `QuantItems`: an int8 copy of a factor model's item rows that lets recommend skip the exact
//! f32 score of almost every item without changing a single answer.
//!
//! Why: scoring a user against every item streams all item rows (12.8 MB for 50k items at 64
//! factors), and the f32 pass is bound by that traffic. The int8 copy is a quarter of it and
//! integer dot products are exact on every CPU, so the pre-scan costs a fraction and cannot make
//! answers depend on the machine.
//!
//! How the answer stays exact: item values are codes `q = round(v / s)` (one scale `s` for the
//! model, `|q| <= 127`), the user's `p = round(u / t)` per call (`|p| <= 127`, 63 for AVX2).
//! Since `u·v - t·s·(p·q) = u·(v - s·q) + (u - t·p)·(s·q)`, Cauchy-Schwarz bounds every item's
//! error by `E = ‖u‖₂·max‖v - s·q‖₂ + ‖u - t·p‖₂·s·max‖q‖₂`, plus a float-rounding slack. With
//! `approx = t·s·(p·q) + bias`, each item's exact score lies in `[approx - E, approx + E]`. The
//! k-th best lower bound among items that pass the filter, `θ`, is at most the k-th best exact
//! score, so every item of the exact top k has `approx + E >= θ`: those candidates (about 20 of
//! 50k on random and trained models at 64 factors) are scored exactly, by the same `dot` as the
//! full scan, and offered to the same heap in ascending item order. The answer is the full
//! scan's, bit for bit and tie for tie; tests compare the two on random, tied, skewed and
//! worst-case models with every kernel the CPU has.
//!
//! Layout: blocks of 16 items; within a block, for each group of 4 factors, 64 bytes (item r's
//! 4 codes at bytes 4r..4r+4), the operand shape of AVX-512 VNNI's `vpdpbusd` (one instruction
//! scores 16 items on 4 factors; `recommend_many` feeds four users from each load). AVX2 does
//! the same with `vpmaddubsw` + `vpmaddwd` (its user codes stay at 7 bits so the 16-bit pair
//! sums cannot saturate); other CPUs run a plain loop. The user's codes are sent as `p + 128`
//! (`p + 64` for AVX2), unsigned as the instructions want, and the offset times each item's
//! `Σq` is taken off inside the kernel, which also keeps each block's largest sum so that a
//! block, or a chunk of 16 blocks, without a candidate is skipped on one comparison.

use crate::kernels::{dot, prefetch};
use crate::model::topk::TopK;

/// Items per block: one 512-bit lane set of 32-bit sums.
const BLOCK: usize = 16;
/// Blocks scored per kernel call (their sums sit in a stack buffer).
const CHUNK_BLOCKS: usize = 16;
/// Catalogues smaller than this are scanned exactly: the f32 pass over them is already short.
pub(crate) const QUANTIZE_MIN_ITEMS: usize = 4096;
/// A bound on the factors keeps every integer sum far inside `i32` (255·127·2048 < 2^26).
const MAX_PADDED_FACTORS: usize = 2048;
const ITEM_CODE_MAX: f32 = 127.0;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuantItems {
    /// Factors padded to a multiple of 4 (the padding codes are 0).
    padded: usize,
    items: usize,
    /// `s`: an item value is about `s · code`.
    scale: f32,
    /// `blocks · padded · 16` codes in the layout above; rows past `items` are 0.
    codes: Vec<i8>,
    /// `Σ codes` per item (padded to whole blocks): the user offset times it is taken off.
    sums: Vec<i32>,
    /// The largest `‖v - s·q‖₂` of an item (rounded up) and the largest `‖q‖₂`.
    max_residual: f64,
    max_code_norm: f64,
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
        let mut sums = vec![0i32; blocks * BLOCK];
        let (mut max_residual, mut max_code_norm) = (0f64, 0f64);
        for (i, row) in rows.chunks_exact(factors).enumerate() {
            let (b, r) = (i / BLOCK, i % BLOCK);
            let (mut sum, mut residual, mut norm) = (0i32, 0f64, 0f64);
            for (j, &v) in row.iter().enumerate() {
                let q = (v / scale).round().clamp(-ITEM_CODE_MAX, ITEM_CODE_MAX) as i8;
                codes[(b * (padded / 4) + j / 4) * 4 * BLOCK + r * 4 + j % 4] = q;
                sum += i32::from(q);
                let d = f64::from(v) - f64::from(scale) * f64::from(q);
                residual += d * d;
                norm += f64::from(q) * f64::from(q);
            }
            sums[i] = sum;
            max_residual = max_residual.max(residual.sqrt());
            max_code_norm = max_code_norm.max(norm.sqrt());
        }
        Some(QuantItems {
            padded,
            items,
            scale,
            codes,
            sums,
            // f64 rounding here is ~1e-16 relative; the margin is far above it.
            max_residual: max_residual * (1.0 + 1e-9),
            max_code_norm: max_code_norm * (1.0 + 1e-9),
            max_value,
            max_bias,
        })
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.codes.capacity() + 4 * self.sums.capacity()
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
        let kernel = Kernel::detect();
        let Some(mut scan) = Scan::new(self, kernel, user, exclude, k) else {
            return false;
        };
        let block_bytes = BLOCK * self.padded;
        let blocks = self.items.div_ceil(BLOCK);
        let mut chunk = Chunk::new();
        let mut b0 = 0;
        while b0 < blocks {
            let nb = CHUNK_BLOCKS.min(blocks - b0);
            let codes = &self.codes[b0 * block_bytes..(b0 + nb) * block_bytes];
            let item_sums = &self.sums[b0 * BLOCK..(b0 + nb) * BLOCK];
            kernel.run(&scan.bound, codes, item_sums, self.padded, chunk.part(nb));
            if !scan.offer(self, b0, &chunk, nb, bias, keep) {
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
        let kernel = Kernel::detect();
        let mut scans: Vec<Option<Scan<'_>>> = users
            .iter()
            .zip(exclude)
            .map(|(user, exclude)| Scan::new(self, kernel, user, exclude, k))
            .collect();
        if k > 0 {
            let block_bytes = BLOCK * self.padded;
            let blocks = self.items.div_ceil(BLOCK);
            let mut chunks: Vec<Chunk> = (0..GROUP_USERS).map(|_| Chunk::new()).collect();
            for part in scans.chunks_mut(GROUP_USERS) {
                // Four live users share each read of the codes (VNNI); their codes as lanes,
                // once per group. A scan abandoned midway keeps its lanes (its sums go unread).
                let lanes = match &*part {
                    [Some(a), Some(b), Some(c), Some(d)] if kernel.shares_reads() => Some(
                        Lanes::new([&a.bound, &b.bound, &c.bound, &d.bound], self.padded),
                    ),
                    _ => None,
                };
                let mut b0 = 0;
                while b0 < blocks {
                    let nb = CHUNK_BLOCKS.min(blocks - b0);
                    let codes = &self.codes[b0 * block_bytes..(b0 + nb) * block_bytes];
                    let item_sums = &self.sums[b0 * BLOCK..(b0 + nb) * BLOCK];
                    match &lanes {
                        Some(lanes) => {
                            kernel.run_four(lanes, codes, item_sums, self.padded, &mut chunks, nb)
                        }
                        None => {
                            for (scan, chunk) in part.iter().zip(chunks.iter_mut()) {
                                if let Some(s) = scan {
                                    kernel.run(
                                        &s.bound,
                                        codes,
                                        item_sums,
                                        self.padded,
                                        chunk.part(nb),
                                    );
                                }
                            }
                        }
                    }
                    for (scan, chunk) in part.iter_mut().zip(&chunks) {
                        if let Some(s) = scan
                            && !s.offer(self, b0, chunk, nb, bias, &keep)
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
    fn new(
        q: &QuantItems,
        kernel: Kernel,
        user: &[f32],
        exclude: &'a [u32],
        k: usize,
    ) -> Option<Scan<'a>> {
        Some(Scan {
            bound: UserCodes::new(user, q, kernel.user_code_max())?,
            lows: TopK::new(k),
            theta: f32::NEG_INFINITY,
            floor: i64::MIN,
            candidates: Vec::new(),
            skip: exclude.iter().peekable(),
            limit: (q.items / 8).max(4 * k).max(256),
        })
    }

    /// Takes the integer sums of the `nb` blocks from `b0` on; `false` when the bound proves too
    /// loose to prune (the scan is then abandoned).
    fn offer(
        &mut self,
        q: &QuantItems,
        b0: usize,
        chunk: &Chunk,
        nb: usize,
        bias: Option<&[f32]>,
        keep: &dyn Fn(u32) -> bool,
    ) -> bool {
        // Most chunks hold no candidate once the heap is full: one vectorized maximum decides.
        if bias.is_none() {
            let best = chunk.maxima[..nb].iter().fold(i32::MIN, |m, &x| m.max(x));
            if i64::from(best) < self.floor {
                return true;
            }
        }
        for (g, (group, &max)) in chunk.sums[..nb * BLOCK]
            .chunks_exact(BLOCK)
            .zip(&chunk.maxima[..nb])
            .enumerate()
        {
            if bias.is_none() && i64::from(max) < self.floor {
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
        const AHEAD: usize = 4;
        let theta = self.theta;
        let live: Vec<u32> = self
            .candidates
            .into_iter()
            .filter(|&(_, upper)| upper >= theta)
            .map(|(item, _)| item)
            .collect();
        let row = |i: u32| &rows[i as usize * factors..(i as usize + 1) * factors];
        for &item in live.iter().take(AHEAD) {
            prefetch(row(item));
        }
        for (n, &item) in live.iter().enumerate() {
            if let Some(&next) = live.get(n + AHEAD) {
                prefetch(row(next));
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

/// A kernel's output for one chunk: each item's `p·q` and each block's largest.
struct Chunk {
    sums: [i32; CHUNK_BLOCKS * BLOCK],
    maxima: [i32; CHUNK_BLOCKS],
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            sums: [0; CHUNK_BLOCKS * BLOCK],
            maxima: [0; CHUNK_BLOCKS],
        }
    }

    fn part(&mut self, blocks: usize) -> (&mut [i32], &mut [i32]) {
        (&mut self.sums[..blocks * BLOCK], &mut self.maxima[..blocks])
    }
}

/// One call's user side: codes, the unit of an integer sum, and the error bound.
#[derive(Clone)]
struct UserCodes {
    /// `p + offset` per factor (padding: `offset`, i.e. p = 0), as the instructions want them.
    codes: Vec<u8>,
    /// log2 of the offset (64 or 128): `Σ (p + offset)·q = p·q + offset·Σq`.
    shift: u32,
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

    /// Codes `|p| <= code_max` (63 or 127, by kernel) and the bound for this user.
    fn new(user: &[f32], q: &QuantItems, code_max: i32) -> Option<UserCodes> {
        let (mut l1, mut max, mut norm) = (0f64, 0f64, 0f64);
        for &u in user {
            let a = f64::from(u).abs();
            l1 += a;
            max = max.max(a);
            norm += a * a;
        }
        if !l1.is_finite() || max <= 0.0 {
            return None;
        }
        let norm = norm.sqrt();
        let s = f64::from(q.scale);
        let magnitude = l1 * f64::from(q.max_value) + f64::from(q.max_bias);
        if magnitude > 1e30 {
            return None;
        }
        let offset = code_max + 1;
        let cap = f64::from(code_max);
        let t = max / cap;
        let mut codes = vec![offset as u8; q.padded];
        let mut off = 0f64;
        for (c, &u) in codes.iter_mut().zip(user) {
            let p = (f64::from(u) / t).round().clamp(-cap, cap);
            let d = f64::from(u) - t * p;
            off += d * d;
            *c = (p as i32 + offset) as u8;
        }
        // u·v - t·s·(p·q) = u·(v - s·q) + (u - t·p)·(s·q), each bounded by Cauchy-Schwarz.
        let quantization = norm * q.max_residual + off.sqrt() * s * q.max_code_norm;
        // A slack far above every rounding in play: the exact scan's f32 dot (at most
        // `factors` roundings of partial sums bounded by ‖u‖₁·max|v|), the bias add, this
        // approximation's multiply-add, the f64 norms and the bound's own add/subtract.
        let slack = (q.padded as f64 + 16.0) * 2f64.powi(-20) * (magnitude + quantization);
        let error = ((quantization + slack) * (1.0 + 2f64.powi(-16))) as f32;
        Some(UserCodes {
            codes,
            shift: offset.trailing_zeros(),
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

#[cfg(test)]
thread_local! {
    /// Tests run every kernel the CPU has through the whole pre-scan.
    static FORCED: std::cell::Cell<Option<Kernel>> = const { std::cell::Cell::new(None) };
}

impl Kernel {
    fn detect() -> Kernel {
        #[cfg(test)]
        if let Some(kernel) = FORCED.with(std::cell::Cell::get) {
            return kernel;
        }
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

    /// The largest user code magnitude: AVX2's `vpmaddubsw` saturates a 16-bit pair sum, so its
    /// unsigned codes stay under 128 (2·127·127 < 2^15); the others take 8 bits.
    fn user_code_max(self) -> i32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 63,
            _ => 127,
        }
    }

    /// For each item r of block b: `sums[16·b + r]` = Σ_j p_j · q_rj (the user's codes less their
    /// offset, times the item's), and `maxima[b]` the block's largest (padding rows count as 0,
    /// which only makes a block's maximum larger). Every kernel gives the same integers for the
    /// same codes.
    fn run(
        self,
        user: &UserCodes,
        codes: &[i8],
        item_sums: &[i32],
        padded: usize,
        (sums, maxima): (&mut [i32], &mut [i32]),
    ) {
        match self {
            Kernel::Portable => portable(user, codes, item_sums, padded, sums, maxima),
            // SAFETY: `detect` saw the features these functions are compiled for.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2(user, codes, item_sums, padded, sums, maxima) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe { vnni(user, codes, item_sums, padded, sums, maxima) },
        }
    }

    /// Whether [`Kernel::run_four`] reads the codes once for four users (else it runs each).
    fn shares_reads(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Vnni {
            return true;
        }
        false
    }

    /// [`Kernel::run`] for the four users of `lanes` over the same `blocks` blocks of codes,
    /// into `chunks[u]`: VNNI reads each 64 bytes of codes once for all four.
    fn run_four(
        self,
        lanes: &Lanes,
        codes: &[i8],
        item_sums: &[i32],
        padded: usize,
        chunks: &mut [Chunk],
        blocks: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Vnni
            && let [ca, cb, cc, cd] = chunks
        {
            // SAFETY: `detect` saw the features this function is compiled for.
            unsafe {
                vnni4(
                    lanes,
                    codes,
                    item_sums,
                    [
                        ca.part(blocks),
                        cb.part(blocks),
                        cc.part(blocks),
                        cd.part(blocks),
                    ],
                )
            };
            return;
        }
        for (user, chunk) in lanes.users.iter().zip(chunks.iter_mut()) {
            self.run(user, codes, item_sums, padded, chunk.part(blocks));
        }
    }
}

/// Four users' codes, each group of 4 factors as one i32 per user (what `vnni4` broadcasts).
struct Lanes {
    lanes: Vec<[i32; 4]>,
    shifts: [u32; 4],
    users: [UserCodes; 4],
}

impl Lanes {
    fn new(users: [&UserCodes; 4], padded: usize) -> Lanes {
        let lanes = (0..padded / 4)
            .map(|g| {
                users.map(|u| {
                    let c = &u.codes;
                    i32::from_le_bytes([c[4 * g], c[4 * g + 1], c[4 * g + 2], c[4 * g + 3]])
                })
            })
            .collect();
        Lanes {
            lanes,
            shifts: users.map(|u| u.shift),
            users: users.map(UserCodes::clone),
        }
    }
}

fn portable(
    user: &UserCodes,
    codes: &[i8],
    item_sums: &[i32],
    padded: usize,
    sums: &mut [i32],
    maxima: &mut [i32],
) {
    let (quads, _) = user.codes[..padded].as_chunks::<4>();
    for (((block, items), out), max) in codes
        .chunks_exact(BLOCK * padded)
        .zip(item_sums.chunks_exact(BLOCK))
        .zip(sums.chunks_exact_mut(BLOCK))
        .zip(maxima.iter_mut())
    {
        let mut acc = [0i32; BLOCK];
        let (groups, _) = block.as_chunks::<{ 4 * BLOCK }>();
        for (group, u) in groups.iter().zip(quads) {
            for (r, a) in acc.iter_mut().enumerate() {
                for c in 0..4 {
                    *a += i32::from(u[c]) * i32::from(group[4 * r + c]);
                }
            }
        }
        let mut best = i32::MIN;
        for ((o, a), &x) in out.iter_mut().zip(acc).zip(items) {
            *o = a - (x << user.shift);
            best = best.max(*o);
        }
        *max = best;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2(
    user: &UserCodes,
    codes: &[i8],
    item_sums: &[i32],
    padded: usize,
    sums: &mut [i32],
    maxima: &mut [i32],
) {
    use std::arch::x86_64::{
        _mm_cvtsi32_si128, _mm_max_epi32, _mm256_add_epi32, _mm256_castsi128_si256,
        _mm256_castsi256_si128, _mm256_cvtsi256_si32, _mm256_extracti128_si256, _mm256_loadu_si256,
        _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_max_epi32, _mm256_set1_epi16,
        _mm256_set1_epi32, _mm256_setzero_si256, _mm256_shuffle_epi32, _mm256_sll_epi32,
        _mm256_storeu_si256, _mm256_sub_epi32,
    };
    let ones = _mm256_set1_epi16(1);
    let shift = _mm_cvtsi32_si128(user.shift as i32);
    let (quads, _) = user.codes[..padded].as_chunks::<4>();
    for (((block, items), out), max) in codes
        .chunks_exact(BLOCK * padded)
        .zip(item_sums.chunks_exact(BLOCK))
        .zip(sums.chunks_exact_mut(BLOCK))
        .zip(maxima.iter_mut())
    {
        let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let (groups, _) = block.as_chunks::<{ 4 * BLOCK }>();
        for (group, u) in groups.iter().zip(quads) {
            let u = _mm256_set1_epi32(i32::from_le_bytes(*u));
            // SAFETY: `group` is 64 bytes; the loads read its two halves.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(group.as_ptr().cast()),
                    _mm256_loadu_si256(group.as_ptr().add(32).cast()),
                )
            };
            // User codes are at most 127, so a pair sum is at most 2·127·127 < 2^15.
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), ones));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(u, b), ones));
        }
        // SAFETY: `items` and `out` are 16 i32s each.
        unsafe {
            let off_lo = _mm256_sll_epi32(_mm256_loadu_si256(items.as_ptr().cast()), shift);
            let off_hi = _mm256_sll_epi32(_mm256_loadu_si256(items.as_ptr().add(8).cast()), shift);
            lo = _mm256_sub_epi32(lo, off_lo);
            hi = _mm256_sub_epi32(hi, off_hi);
            _mm256_storeu_si256(out.as_mut_ptr().cast(), lo);
            _mm256_storeu_si256(out.as_mut_ptr().add(8).cast(), hi);
        }
        let m = _mm256_max_epi32(lo, hi);
        let m = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256::<1>(m));
        let m = _mm256_castsi128_si256(m);
        let m = _mm256_max_epi32(m, _mm256_shuffle_epi32::<0x4E>(m));
        let m = _mm256_max_epi32(m, _mm256_shuffle_epi32::<0xB1>(m));
        *max = _mm256_cvtsi256_si32(m);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
fn vnni(
    user: &UserCodes,
    codes: &[i8],
    item_sums: &[i32],
    padded: usize,
    sums: &mut [i32],
    maxima: &mut [i32],
) {
    use std::arch::x86_64::{
        _mm_cvtsi32_si128, _mm512_add_epi32, _mm512_dpbusd_epi32, _mm512_loadu_si512,
        _mm512_reduce_max_epi32, _mm512_set1_epi32, _mm512_setzero_si512, _mm512_sll_epi32,
        _mm512_storeu_si512, _mm512_sub_epi32,
    };
    let shift = _mm_cvtsi32_si128(user.shift as i32);
    let (quads, _) = user.codes[..padded].as_chunks::<4>();
    let (user_pairs, user_rest) = quads.as_chunks::<2>();
    for (((block, items), out), max) in codes
        .chunks_exact(BLOCK * padded)
        .zip(item_sums.chunks_exact(BLOCK))
        .zip(sums.chunks_exact_mut(BLOCK))
        .zip(maxima.iter_mut())
    {
        let (mut even, mut odd) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let (pairs, rest) = block.as_chunks::<{ 8 * BLOCK }>();
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
        // SAFETY: `items` and `out` are 16 i32s each.
        let total = unsafe {
            let offsets = _mm512_sll_epi32(_mm512_loadu_si512(items.as_ptr().cast()), shift);
            let total = _mm512_sub_epi32(_mm512_add_epi32(even, odd), offsets);
            _mm512_storeu_si512(out.as_mut_ptr().cast(), total);
            total
        };
        *max = _mm512_reduce_max_epi32(total);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
fn vnni4(lanes: &Lanes, codes: &[i8], item_sums: &[i32], outs: [(&mut [i32], &mut [i32]); 4]) {
    use std::arch::x86_64::{
        _mm_cvtsi32_si128, _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_reduce_max_epi32,
        _mm512_set1_epi32, _mm512_setzero_si512, _mm512_sll_epi32, _mm512_storeu_si512,
        _mm512_sub_epi32,
    };
    let padded = lanes.lanes.len() * 4;
    let shifts = lanes.shifts.map(|s| _mm_cvtsi32_si128(s as i32));
    let mut outs = outs;
    for (b, (block, items)) in codes
        .chunks_exact(BLOCK * padded)
        .zip(item_sums.chunks_exact(BLOCK))
        .enumerate()
    {
        let mut acc = [_mm512_setzero_si512(); 4];
        let (groups, _) = block.as_chunks::<{ 4 * BLOCK }>();
        for (group, lane) in groups.iter().zip(&lanes.lanes) {
            // SAFETY: `group` is 64 bytes.
            let x = unsafe { _mm512_loadu_si512(group.as_ptr().cast()) };
            for (a, &u) in acc.iter_mut().zip(lane) {
                *a = _mm512_dpbusd_epi32(*a, _mm512_set1_epi32(u), x);
            }
        }
        // SAFETY: `items` is 16 i32s.
        let item_sums = unsafe { _mm512_loadu_si512(items.as_ptr().cast()) };
        for ((a, (sums, maxima)), shift) in acc.iter().zip(outs.iter_mut()).zip(shifts) {
            let total = _mm512_sub_epi32(*a, _mm512_sll_epi32(item_sums, shift));
            let out = &mut sums[b * BLOCK..(b + 1) * BLOCK];
            // SAFETY: `out` is 16 i32s.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), total) };
            maxima[b] = _mm512_reduce_max_epi32(total);
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

    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(Kernel::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                all.push(Kernel::Vnni);
            }
        }
        all
    }

    #[test]
    fn kernels_give_the_definitions_sums_and_maxima() {
        let mut rng = Rng(7);
        for padded in [4usize, 8, 12, 64, 68, 260] {
            let blocks = 3;
            let codes: Vec<i8> = (0..blocks * BLOCK * padded)
                .map(|_| ((rng.next() % 255) as i32 - 127) as i8)
                .collect();
            let mut item_sums = vec![0i32; blocks * BLOCK];
            for (i, s) in item_sums.iter_mut().enumerate() {
                let (b, r) = (i / BLOCK, i % BLOCK);
                *s = (0..padded)
                    .map(|j| {
                        i32::from(codes[(b * (padded / 4) + j / 4) * 4 * BLOCK + r * 4 + j % 4])
                    })
                    .sum();
            }
            for kernel in kernels() {
                let code_max = kernel.user_code_max();
                let p: Vec<i32> = (0..padded)
                    .map(|_| (rng.next() % (2 * code_max as u64 + 1)) as i32 - code_max)
                    .collect();
                let user = UserCodes {
                    codes: p.iter().map(|&x| (x + code_max + 1) as u8).collect(),
                    shift: (code_max + 1).trailing_zeros(),
                    unit: 1.0,
                    error: 0.0,
                };
                let mut want = vec![0i32; blocks * BLOCK];
                for (i, w) in want.iter_mut().enumerate() {
                    let (b, r) = (i / BLOCK, i % BLOCK);
                    *w = (0..padded)
                        .map(|j| {
                            p[j] * i32::from(
                                codes[(b * (padded / 4) + j / 4) * 4 * BLOCK + r * 4 + j % 4],
                            )
                        })
                        .sum();
                }
                let want_max: Vec<i32> = want
                    .chunks(BLOCK)
                    .map(|c| *c.iter().max().unwrap())
                    .collect();
                let mut chunk = Chunk::new();
                kernel.run(&user, &codes, &item_sums, padded, chunk.part(blocks));
                assert_eq!(
                    &chunk.sums[..blocks * BLOCK],
                    &want[..],
                    "{kernel:?} at {padded} factors"
                );
                assert_eq!(&chunk.maxima[..blocks], &want_max[..], "{kernel:?} maxima");
                // Four users at once (VNNI's shared read of the codes).
                let lanes = Lanes::new([&user, &user, &user, &user], padded);
                let mut chunks: Vec<Chunk> = (0..GROUP_USERS).map(|_| Chunk::new()).collect();
                kernel.run_four(&lanes, &codes, &item_sums, padded, &mut chunks, blocks);
                for c in &chunks {
                    assert_eq!(&c.sums[..blocks * BLOCK], &want[..], "{kernel:?} group");
                    assert_eq!(
                        &c.maxima[..blocks],
                        &want_max[..],
                        "{kernel:?} group maxima"
                    );
                }
            }
        }
    }

    /// Every item's exact score lies within the bound of its approximation, and items built
    /// to make the quantization error as large as Cauchy-Schwarz allows come close to it (so a
    /// bound made smaller, i.e. unsound, fails here).
    #[test]
    fn the_bound_holds_and_is_nearly_tight() {
        let mut rng = Rng(23);
        let (items, factors) = (64usize, 32usize);
        let s0 = 0.01f32;
        for kernel in kernels() {
            let signs: Vec<f32> = (0..factors)
                .map(|_| {
                    if rng.next().is_multiple_of(2) {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect();
            let user: Vec<f32> = signs.clone();
            let mut rows = Vec::with_capacity(items * factors);
            for i in 0..items {
                for (j, sign) in signs.iter().enumerate() {
                    // Item 0 pins the scale (a value of exactly 127·s0); the others sit just
                    // short of a rounding midpoint, on the user's side, in every factor.
                    let v = if i == 0 && j == 0 {
                        127.0 * s0
                    } else {
                        let q = (rng.next() % 201) as f32 - 100.0;
                        s0 * (q + 0.499 * sign)
                    };
                    rows.push(v);
                }
            }
            let q = QuantItems::build(&rows, factors, None, 0).expect("quantizable");
            let bound = UserCodes::new(&user, &q, kernel.user_code_max()).expect("bounded");
            let blocks = items.div_ceil(BLOCK);
            let mut chunk = Chunk::new();
            kernel.run(&bound, &q.codes, &q.sums, q.padded, chunk.part(blocks));
            let mut worst = 0f32;
            for i in 0..items {
                let exact = dot(&user, &rows[i * factors..(i + 1) * factors]);
                let approx = chunk.sums[i] as f32 * bound.unit;
                let gap = (exact - approx).abs();
                assert!(
                    gap <= bound.error,
                    "{kernel:?}: item {i}: {gap} > {}",
                    bound.error
                );
                worst = worst.max(gap);
            }
            assert!(
                worst > 0.9 * bound.error,
                "{kernel:?}: worst {worst}, bound {}",
                bound.error
            );
        }
    }

    #[test]
    fn the_answer_is_the_full_scans_bit_for_bit() {
        for kernel in kernels() {
            FORCED.with(|f| f.set(Some(kernel)));
            answers_are_exact(kernel);
        }
    }

    fn answers_are_exact(kernel: Kernel) {
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
                            "{kernel:?}: {items} items, {factors} factors, k {k}, case {case}"
                        );
                    }
                }
            }
            assert!(pruned > 100, "the pre-scan gave up too often: {pruned}");
        }
    }

    #[test]
    fn groups_of_users_get_the_single_answers() {
        for kernel in kernels() {
            FORCED.with(|f| f.set(Some(kernel)));
            groups_match_single_answers();
        }
    }

    fn groups_match_single_answers() {
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
                for kernel in kernels() {
                    FORCED.with(|f| f.set(Some(kernel)));
                    if let Some(got) = quantized(&f, &q, &user, &exclude, &keep, k) {
                        let bits = |v: &[(u32, f32)]| v.iter().map(|&(i, s)| (i, s.to_bits())).collect::<Vec<_>>();
                        proptest::prop_assert_eq!(bits(&got), bits(&want), "{:?}", kernel);
                    }
                }
            }
        }
    }
}
