//! The index file formats: [`AnnIndex`] (graph and codes), [`F32Rows`] (in `rows.rs`) and the
//! pair a [`crate::VectorIndex`] writes. Specified in `crates/ml/src/ann/format.md`.
//!
//! Every file is an envelope: magic (8 bytes), version `u32`, zero `u32`, total length `u64`
//! (checksum included), the body, CRC-32C of every byte before it. Reading checks magic,
//! version, length and checksum before parsing, then validates every count against the bytes
//! left and the crate's limits before allocating, and every value (states, levels, links, ids,
//! scales, codes of free slots) against the invariants the index relies on: no input makes it
//! panic, and none makes it allocate more than a small multiple of the input's length (the
//! layer-0 link array: at most `(4 m + 4) / (14 + dim)` times the bytes of the slots).

use super::{AnnIndex, AnnParams, F32Rows, FullVectors, IdTable, Metric, NONE, STATE_FREE};
use super::{I8Kernel, STATE_LIVE};
use crate::error::AnnFormatError;
use crate::limits::{ANN_LEVELS_MAX, ANN_SLOTS_MAX};

const HEADER_BYTES: usize = 24;
const CHECKSUM_BYTES: usize = 4;
const INDEX_MAGIC: &[u8; 8] = b"STWANNIX";
const PAIR_MAGIC: &[u8; 8] = b"STWVECIX";
/// The version written and read (all three formats).
pub const ANN_FORMAT_VERSION: u32 = 1;

pub(crate) fn start_envelope(magic: &[u8; 8], version: u32, body_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + body_hint + CHECKSUM_BYTES);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out
}

pub(crate) fn finish_envelope(mut out: Vec<u8>) -> Vec<u8> {
    let total = (out.len() + CHECKSUM_BYTES) as u64;
    out[16..24].copy_from_slice(&total.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The body of a checked envelope.
pub(crate) fn check_envelope<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    version: u32,
) -> Result<&'a [u8], AnnFormatError> {
    if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES || &bytes[..8] != magic {
        return Err(AnnFormatError::NotAnIndexFile);
    }
    let mut r = Reader::new(&bytes[8..HEADER_BYTES]);
    let found = r.u32()?;
    if found != version {
        return Err(AnnFormatError::UnsupportedVersion {
            version: found,
            supported: version,
        });
    }
    if r.u32()? != 0 {
        return Err(AnnFormatError::Invalid {
            what: "reserved header bytes",
        });
    }
    let length = r.u64()?;
    if length != bytes.len() as u64 {
        return Err(AnnFormatError::Length {
            expected: length,
            actual: bytes.len() as u64,
        });
    }
    let (data, sum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    if crc32c::crc32c(data).to_le_bytes() != sum {
        return Err(AnnFormatError::Checksum);
    }
    Ok(&data[HEADER_BYTES..])
}

/// Bounds-checked little-endian reads.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], AnnFormatError> {
        if n > self.bytes.len() {
            return Err(AnnFormatError::Invalid {
                what: "a count runs past the end",
            });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// `count` items of `size` bytes, refused before any allocation when they do not fit.
    pub(crate) fn array(&mut self, count: usize, size: usize) -> Result<&'a [u8], AnnFormatError> {
        let n = count.checked_mul(size).ok_or(AnnFormatError::Invalid {
            what: "a count overflows",
        })?;
        self.take(n)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, AnnFormatError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, AnnFormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, AnnFormatError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn left(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn end(&self) -> Result<(), AnnFormatError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(AnnFormatError::Invalid {
                what: "trailing bytes",
            })
        }
    }
}

fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::Cosine => 1,
        Metric::InnerProduct => 2,
    }
}

/// Writes an index; slots deleted and not yet consolidated are written as free, and links to
/// them are left out, so the bytes hold nothing of a deleted vector.
pub(crate) fn write_index(ix: &AnnIndex) -> Vec<u8> {
    let slots = ix.ids.len();
    let live = |s: usize| ix.states[s] == STATE_LIVE;
    let mut out = start_envelope(
        INDEX_MAGIC,
        ANN_FORMAT_VERSION,
        64 + slots * (14 + ix.dim + ix.stride0() * 4),
    );
    out.push(metric_code(ix.params.metric));
    out.extend_from_slice(&[0, 0, 0]);
    for v in [ix.params.dim, ix.params.m, ix.params.ef_construction] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&ix.params.seed.to_le_bytes());
    out.extend_from_slice(&ix.inserts.to_le_bytes());
    out.extend_from_slice(&(slots as u32).to_le_bytes());
    out.extend_from_slice(&(ix.live as u32).to_le_bytes());
    out.extend_from_slice(&ix.entry.to_le_bytes());
    out.push(ix.top_level);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend((0..slots).map(|s| if live(s) { STATE_LIVE } else { STATE_FREE }));
    out.extend((0..slots).map(|s| if live(s) { ix.levels[s] } else { 0 }));
    for s in 0..slots {
        let id = if live(s) { ix.ids[s] } else { 0 };
        out.extend_from_slice(&id.to_le_bytes());
    }
    for s in 0..slots {
        let scale = if live(s) { ix.scales[s] } else { 0.0 };
        out.extend_from_slice(&scale.to_le_bytes());
    }
    for s in 0..slots {
        if live(s) {
            out.extend(ix.code(s as u32).iter().map(|c| *c as u8));
        } else {
            out.resize(out.len() + ix.dim, 0);
        }
    }
    for s in (0..slots).filter(|&s| live(s)) {
        for level in 0..=ix.levels[s] {
            let list: Vec<u32> = ix
                .links(s as u32, level)
                .iter()
                .copied()
                .filter(|&x| ix.states[x as usize] == STATE_LIVE)
                .collect();
            out.push(list.len() as u8);
            for x in list {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    finish_envelope(out)
}

fn bad(what: &'static str) -> AnnFormatError {
    AnnFormatError::Invalid { what }
}

pub(crate) fn read_index(bytes: &[u8]) -> Result<AnnIndex, AnnFormatError> {
    let body = check_envelope(bytes, INDEX_MAGIC, ANN_FORMAT_VERSION)?;
    let mut r = Reader::new(body);
    let metric = match r.u8()? {
        1 => Metric::Cosine,
        2 => Metric::InnerProduct,
        _ => return Err(bad("metric")),
    };
    if r.take(3)? != [0, 0, 0] {
        return Err(bad("reserved bytes"));
    }
    let params = AnnParams {
        metric,
        dim: r.u32()?,
        m: r.u32()?,
        ef_construction: r.u32()?,
        seed: r.u64()?,
    };
    params.validate().map_err(|_| bad("parameters"))?;
    let inserts = r.u64()?;
    let slots = r.u32()? as usize;
    let live_count = r.u32()? as usize;
    let entry = r.u32()?;
    let top_level = r.u8()?;
    if r.take(3)? != [0, 0, 0] {
        return Err(bad("reserved bytes"));
    }
    let dim = params.dim as usize;
    // Every slot has 14 + dim bytes of fixed fields: refuse a count the bytes cannot hold
    // before allocating anything for it.
    if slots > ANN_SLOTS_MAX as usize || slots.saturating_mul(14 + dim) > r.left() {
        return Err(bad("slot count"));
    }
    if live_count > slots {
        return Err(bad("live count"));
    }
    let mut ix = AnnIndex::new(params).map_err(|_| bad("parameters"))?;
    ix.kernel = I8Kernel::detect();
    ix.inserts = inserts;
    let states = r.array(slots, 1)?;
    let levels = r.array(slots, 1)?;
    let ids = r.array(slots, 8)?;
    let scales = r.array(slots, 4)?;
    let codes = r.array(slots, dim)?;
    ix.states = states.to_vec();
    ix.levels = levels.to_vec();
    ix.ids = ids
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect();
    ix.scales = scales
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ix.codes = codes.iter().map(|&b| b as i8).collect();
    ix.table = IdTable::with_items(live_count);
    let mut live = 0usize;
    let mut max_level = 0u8;
    for s in 0..slots {
        let code = &ix.codes[s * dim..(s + 1) * dim];
        match ix.states[s] {
            STATE_FREE => {
                if ix.levels[s] != 0
                    || ix.ids[s] != 0
                    || ix.scales[s].to_bits() != 0
                    || code.iter().any(|&c| c != 0)
                {
                    return Err(bad("a free slot holds data"));
                }
            }
            STATE_LIVE => {
                if ix.levels[s] >= ANN_LEVELS_MAX {
                    return Err(bad("level"));
                }
                let scale = ix.scales[s];
                if !(scale.is_finite() && scale >= 0.0) || code.contains(&i8::MIN) {
                    return Err(bad("codes or scale"));
                }
                if ix.table.get(ix.ids[s], &ix.ids).is_some() {
                    return Err(bad("an id repeats"));
                }
                ix.table.insert(ix.ids[s], s as u32, &ix.ids);
                live += 1;
                max_level = max_level.max(ix.levels[s]);
            }
            _ => return Err(bad("slot state")),
        }
    }
    if live != live_count {
        return Err(bad("live count"));
    }
    ix.live = live;
    if live == 0 {
        if entry != NONE || top_level != 0 {
            return Err(bad("entry point"));
        }
    } else if entry as usize >= slots
        || ix.states[entry as usize] != STATE_LIVE
        || ix.levels[entry as usize] != top_level
        || top_level != max_level
    {
        return Err(bad("entry point"));
    }
    ix.entry = entry;
    ix.top_level = top_level;
    ix.links0 = vec![0u32; slots * ix.stride0()];
    let mut list: Vec<u32> = Vec::with_capacity(2 * ix.m());
    let mut sorted: Vec<u32> = Vec::with_capacity(2 * ix.m());
    for s in 0..slots {
        if ix.states[s] != STATE_LIVE {
            continue;
        }
        let level = ix.levels[s];
        if level > 0 {
            let words = level as usize * (ix.m() + 1);
            ix.upper
                .insert(s as u32, vec![0u32; words].into_boxed_slice());
        }
        for lev in 0..=level {
            let count = r.u8()? as usize;
            if count > ix.cap(lev) {
                return Err(bad("too many links"));
            }
            let raw = r.array(count, 4)?;
            list.clear();
            for c in raw.chunks_exact(4) {
                let x = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let xs = x as usize;
                if xs >= slots || xs == s || ix.states[xs] != STATE_LIVE || ix.levels[xs] < lev {
                    return Err(bad("a link"));
                }
                list.push(x);
            }
            sorted.clear();
            sorted.extend_from_slice(&list);
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(bad("a link repeats"));
            }
            ix.set_links(s as u32, lev, &list);
        }
    }
    r.end()?;
    ix.free = (0..slots as u32)
        .rev()
        .filter(|&s| ix.states[s as usize] == STATE_FREE)
        .collect();
    Ok(ix)
}

/// The pair file: envelope `STWVECIX`, then the index's length (`u64`), its bytes, and the rows'
/// bytes.
pub(crate) fn write_pair(ix: &AnnIndex, rows: &F32Rows) -> Vec<u8> {
    let a = write_index(ix);
    let b = rows.to_bytes();
    let mut out = start_envelope(PAIR_MAGIC, ANN_FORMAT_VERSION, 8 + a.len() + b.len());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    out.extend_from_slice(&a);
    out.extend_from_slice(&b);
    finish_envelope(out)
}

pub(crate) fn read_pair(bytes: &[u8]) -> Result<(AnnIndex, F32Rows), AnnFormatError> {
    let body = check_envelope(bytes, PAIR_MAGIC, ANN_FORMAT_VERSION)?;
    let mut r = Reader::new(body);
    let n = r.u64()?;
    let n = usize::try_from(n).map_err(|_| bad("section length"))?;
    let a = r.take(n)?;
    let ix = read_index(a)?;
    let rows = F32Rows::from_bytes(r.take(r.left())?)?;
    if rows.dim() != ix.dim || rows.slots() > ix.ids.len() {
        return Err(bad("rows do not match the index"));
    }
    for s in 0..ix.ids.len() {
        if (ix.states[s] == STATE_LIVE) != rows.row(s as u32).is_some() {
            return Err(bad("rows do not match the index"));
        }
    }
    Ok((ix, rows))
}
