//! The encrypted container of a backup: a plaintext header, then the archive sealed in
//! chunks under a key derived from the master key and the header's random salt.
//!
//! ```text
//! "STWDBAK1" ‖ u32 header length ‖ header JSON ‖ { u32 sealed length ‖ sealed chunk }*
//! ```
//!
//! Each chunk is AES-256-GCM sealed with associated data binding it to the header (its
//! SHA-256), its index and whether it is the last: chunks cannot be reordered, dropped,
//! spliced from another backup, or cut off after a chunk boundary without the reader noticing.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use steward_crypto::{Key256, MasterKey, Sealer, hmac_sha256, sha256};

use super::BackupError;

pub(crate) const MAGIC: &[u8; 8] = b"STWDBAK1";
/// Plaintext bytes per chunk.
const CHUNK_BYTES: usize = 1 << 20;
const HEADER_BYTES_MAX: u32 = 64 << 10;
const SEALED_OVERHEAD: usize = steward_crypto::SEAL_OVERHEAD_BYTES;

/// The plaintext header: enough to refuse a foreign file before decrypting anything.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format: u32,
    pub created_at: String,
    pub steward_version: String,
    /// The master key's public fingerprint: a backup made under another key is foreign.
    pub master_fingerprint: String,
    /// Hex; with the master key it derives this backup's key.
    pub salt: String,
}

fn backup_key(master: &MasterKey, salt: &[u8]) -> Key256 {
    Key256::from_bytes(hmac_sha256(master.key(), &[b"steward-backup-v1", salt]))
}

fn aad(header_digest: &[u8; 32], index: u64, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"steward-backup-chunk");
    aad.extend_from_slice(header_digest);
    aad.extend_from_slice(&index.to_le_bytes());
    aad.push(u8::from(last));
    aad
}

/// Seals everything written to it; [`SealWriter::finish`] writes the last chunk.
pub(crate) struct SealWriter<W: Write> {
    out: W,
    sealer: Sealer,
    digest: [u8; 32],
    buf: Vec<u8>,
    index: u64,
    sealed: Vec<u8>,
    /// Bytes written to `out` so far.
    pub written: u64,
}

impl<W: Write> SealWriter<W> {
    pub fn new(mut out: W, master: &MasterKey) -> Result<SealWriter<W>, BackupError> {
        let salt = Key256::random();
        let header = BackupHeader {
            format: 1,
            created_at: chrono::Utc::now().to_rfc3339(),
            steward_version: env!("CARGO_PKG_VERSION").to_owned(),
            master_fingerprint: master.fingerprint(),
            salt: data_encoding::HEXLOWER.encode(salt.expose()),
        };
        let json = serde_json::to_vec(&header).map_err(|e| BackupError::Io(e.to_string()))?;
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&(json.len() as u32).to_le_bytes());
        head.extend_from_slice(&json);
        out.write_all(&head).map_err(BackupError::write)?;
        Ok(SealWriter {
            out,
            sealer: Sealer::new(&backup_key(master, salt.expose())),
            digest: sha256(&[&head]),
            buf: Vec::with_capacity(CHUNK_BYTES),
            index: 0,
            sealed: Vec::with_capacity(CHUNK_BYTES + SEALED_OVERHEAD),
            written: head.len() as u64,
        })
    }

    fn emit(&mut self, last: bool) -> std::io::Result<()> {
        self.sealed.clear();
        self.sealer.seal_into(
            &aad(&self.digest, self.index, last),
            &self.buf,
            &mut self.sealed,
        );
        self.out
            .write_all(&(self.sealed.len() as u32).to_le_bytes())?;
        self.out.write_all(&self.sealed)?;
        self.written += 4 + self.sealed.len() as u64;
        self.index += 1;
        self.buf.clear();
        Ok(())
    }

    /// Seals what is buffered as the last chunk and flushes; returns the inner writer.
    pub fn finish(mut self) -> Result<(W, u64), BackupError> {
        self.emit(true).map_err(BackupError::write)?;
        self.out.flush().map_err(BackupError::write)?;
        Ok((self.out, self.written))
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK_BYTES - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK_BYTES {
            self.emit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens what [`SealWriter`] sealed, chunk by chunk, refusing any damage.
pub(crate) struct OpenReader<R: Read> {
    input: R,
    sealer: Sealer,
    digest: [u8; 32],
    plain: Vec<u8>,
    pos: usize,
    index: u64,
    ended: bool,
    pub header: BackupHeader,
}

/// Reads and checks the header: the magic, the format, and that `master` made it.
pub(crate) fn read_header<R: Read>(
    mut input: R,
    master: &MasterKey,
) -> Result<OpenReader<R>, BackupError> {
    let mut magic = [0u8; 8];
    read_full(&mut input, &mut magic)?;
    if &magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let mut len = [0u8; 4];
    read_full(&mut input, &mut len)?;
    let len = u32::from_le_bytes(len);
    if len > HEADER_BYTES_MAX {
        return Err(BackupError::Damaged("header too long"));
    }
    let mut json = vec![0u8; len as usize];
    read_full(&mut input, &mut json)?;
    let header: BackupHeader =
        serde_json::from_slice(&json).map_err(|_| BackupError::Damaged("header"))?;
    if header.format != 1 {
        return Err(BackupError::UnknownFormat);
    }
    if header.master_fingerprint != master.fingerprint() {
        return Err(BackupError::Foreign);
    }
    let salt = data_encoding::HEXLOWER
        .decode(header.salt.as_bytes())
        .map_err(|_| BackupError::Damaged("header salt"))?;
    let mut head = magic.to_vec();
    head.extend_from_slice(&len.to_le_bytes());
    head.extend_from_slice(&json);
    Ok(OpenReader {
        input,
        sealer: Sealer::new(&backup_key(master, &salt)),
        digest: sha256(&[&head]),
        plain: Vec::new(),
        pos: 0,
        index: 0,
        ended: false,
        header,
    })
}

/// `read_exact`, with a short file reported as truncation.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<(), BackupError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => BackupError::Damaged("truncated"),
        _ => BackupError::Io(e.to_string()),
    })
}

impl<R: Read> OpenReader<R> {
    fn next_chunk(&mut self) -> Result<(), BackupError> {
        let mut len = [0u8; 4];
        read_full(&mut self.input, &mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if !(SEALED_OVERHEAD..=CHUNK_BYTES + SEALED_OVERHEAD).contains(&len) {
            return Err(BackupError::Damaged("chunk length"));
        }
        let mut sealed = vec![0u8; len];
        read_full(&mut self.input, &mut sealed)?;
        // Try as a middle chunk, then as the last: the flag is authenticated, not stored.
        let plain = match self
            .sealer
            .open(&aad(&self.digest, self.index, false), &sealed)
        {
            Ok(plain) => plain,
            Err(_) => {
                let plain = self
                    .sealer
                    .open(&aad(&self.digest, self.index, true), &sealed)
                    .map_err(|_| BackupError::Damaged("a chunk fails authentication"))?;
                self.ended = true;
                let mut probe = [0u8; 1];
                match self.input.read(&mut probe) {
                    Ok(0) => {}
                    Ok(_) => return Err(BackupError::Damaged("bytes after the last chunk")),
                    Err(e) => return Err(BackupError::Io(e.to_string())),
                }
                plain
            }
        };
        self.index += 1;
        self.plain = plain;
        self.pos = 0;
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.ended {
                return Ok(0);
            }
            self.next_chunk().map_err(std::io::Error::other)?;
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seal_all(master: &MasterKey, plain: &[u8]) -> Vec<u8> {
        let mut writer = SealWriter::new(Vec::new(), master).unwrap();
        writer.write_all(plain).unwrap();
        writer.finish().unwrap().0
    }

    fn open_all(master: &MasterKey, sealed: &[u8]) -> Result<Vec<u8>, BackupError> {
        let mut reader = read_header(sealed, master)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(BackupError::from_io)?;
        Ok(out)
    }

    #[test]
    fn chunks_round_trip_across_boundaries() {
        let master = MasterKey::generate();
        for len in [
            0,
            1,
            CHUNK_BYTES - 1,
            CHUNK_BYTES,
            CHUNK_BYTES + 1,
            2 * CHUNK_BYTES + 7,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            assert_eq!(
                open_all(&master, &seal_all(&master, &plain)).unwrap(),
                plain
            );
        }
    }

    #[test]
    fn a_cut_at_a_chunk_boundary_is_refused() {
        let master = MasterKey::generate();
        let plain = vec![7u8; CHUNK_BYTES * 2 + 10];
        let sealed = seal_all(&master, &plain);
        // Drop the last chunk whole: what is left ends on a boundary.
        let last = 4 + 10 + SEALED_OVERHEAD;
        assert!(open_all(&master, &sealed[..sealed.len() - last]).is_err());
        assert!(matches!(
            open_all(&MasterKey::generate(), &sealed),
            Err(BackupError::Foreign)
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Outside input: any bytes behind the magic are refused, never a panic or a hang.
        #[test]
        fn arbitrary_files_are_refused(tail in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let master = MasterKey::generate();
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            prop_assert!(crate::backup::verify(&bytes[..], &master).is_err());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_flipped_byte_is_refused(plain in proptest::collection::vec(any::<u8>(), 0..3000), at in any::<usize>(), bit in 0u8..8) {
            let master = MasterKey::generate();
            let mut sealed = seal_all(&master, &plain);
            let at = at % sealed.len();
            sealed[at] ^= 1 << bit;
            prop_assert!(open_all(&master, &sealed).is_err());
        }
    }
}
