//! The full-precision side of an index: the f32 rows that exact re-scoring reads, kept apart from
//! the graph and its int8 codes so the memory the graph needs is measured on its own and the rows
//! can live elsewhere (a file, a memory map) behind [`FullVectors`].

use crate::error::AnnFormatError;

use super::format::{Reader, check_envelope, finish_envelope, start_envelope};

/// Where exact re-scoring reads a slot's f32 row (already normalized for a cosine index).
pub trait FullVectors {
    /// The row of `slot`, or `None` when the slot holds no vector.
    fn row(&self, slot: u32) -> Option<&[f32]>;
}

/// A [`FullVectors`] the index can also write: [`crate::AnnIndex::upsert`] puts the (normalized)
/// vector of the slot it chose, [`crate::AnnIndex::delete`] erases it.
pub trait FullVectorsMut: FullVectors {
    fn put(&mut self, slot: u32, row: &[f32]);
    /// Overwrites the slot's values with zeros and forgets it.
    fn erase(&mut self, slot: u32);
}

/// The in-memory [`FullVectors`]: `dim` floats per slot, a presence flag per slot. An erased
/// slot's values are zeros in memory and absent from [`F32Rows::to_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub struct F32Rows {
    dim: usize,
    data: Vec<f32>,
    present: Vec<bool>,
}

const MAGIC: &[u8; 8] = b"STWANNF3";
const VERSION: u32 = 1;

impl F32Rows {
    pub fn new(dim: usize) -> F32Rows {
        F32Rows {
            dim,
            data: Vec::new(),
            present: Vec::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Heap bytes held (capacity, not length).
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() * 4 + self.present.capacity()
    }

    pub(crate) fn slots(&self) -> usize {
        self.present.len()
    }

    pub fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
        self.present.shrink_to_fit();
    }

    /// Little-endian: magic `STWANNF3`, version `u32` 1, length `u64`, dim `u32`, slots `u32`,
    /// one presence byte per slot, then the present rows' f32 values in slot order, CRC-32C.
    pub fn to_bytes(&self) -> Vec<u8> {
        let rows = self.present.iter().filter(|p| **p).count();
        let mut out = start_envelope(MAGIC, VERSION, 8 + self.present.len() + rows * self.dim * 4);
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.present.len() as u32).to_le_bytes());
        out.extend(self.present.iter().map(|p| u8::from(*p)));
        for (slot, _) in self.present.iter().enumerate().filter(|(_, p)| **p) {
            for x in &self.data[slot * self.dim..(slot + 1) * self.dim] {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        finish_envelope(out)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<F32Rows, AnnFormatError> {
        let body = check_envelope(bytes, MAGIC, VERSION)?;
        let mut r = Reader::new(body);
        let dim = r.u32()? as usize;
        if dim == 0 || dim > crate::limits::ANN_DIM_MAX {
            return Err(AnnFormatError::Invalid { what: "dimension" });
        }
        let slots = r.u32()? as usize;
        if slots > crate::limits::ANN_SLOTS_MAX as usize {
            return Err(AnnFormatError::Invalid { what: "slot count" });
        }
        let flags = r.take(slots)?;
        let mut present = Vec::with_capacity(slots);
        let mut rows = 0usize;
        for f in flags {
            match f {
                0 => present.push(false),
                1 => {
                    present.push(true);
                    rows += 1;
                }
                _ => {
                    return Err(AnnFormatError::Invalid {
                        what: "presence flag",
                    });
                }
            }
        }
        let values = r.array(rows, dim * 4)?;
        r.end()?;
        let mut data = vec![0f32; slots * dim];
        let mut chunks = values.chunks_exact(4);
        for (slot, _) in present.iter().enumerate().filter(|(_, p)| **p) {
            for x in &mut data[slot * dim..(slot + 1) * dim] {
                let c = chunks
                    .next()
                    .ok_or(AnnFormatError::Invalid { what: "rows" })?;
                let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if !v.is_finite() {
                    return Err(AnnFormatError::Invalid {
                        what: "row value not finite",
                    });
                }
                *x = v;
            }
        }
        Ok(F32Rows { dim, data, present })
    }
}

impl FullVectors for F32Rows {
    #[inline]
    fn row(&self, slot: u32) -> Option<&[f32]> {
        let s = slot as usize;
        if *self.present.get(s)? {
            self.data.get(s * self.dim..(s + 1) * self.dim)
        } else {
            None
        }
    }
}

impl FullVectorsMut for F32Rows {
    fn put(&mut self, slot: u32, row: &[f32]) {
        let s = slot as usize;
        if s >= self.present.len() {
            let slots = s + 1;
            super::grow_exact(&mut self.present, slots);
            self.present.resize(slots, false);
            super::grow_exact(&mut self.data, slots * self.dim);
            self.data.resize(slots * self.dim, 0.0);
        }
        let dst = &mut self.data[s * self.dim..(s + 1) * self.dim];
        let n = row.len().min(self.dim);
        dst[..n].copy_from_slice(&row[..n]);
        dst[n..].fill(0.0);
        self.present[s] = true;
    }

    fn erase(&mut self, slot: u32) {
        let s = slot as usize;
        if let Some(p) = self.present.get_mut(s) {
            *p = false;
            self.data[s * self.dim..(s + 1) * self.dim].fill(0.0);
        }
    }
}
