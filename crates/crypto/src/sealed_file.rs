//! Sealed files: a chunked AES-256-GCM format for data set files at rest, so that an HTTP
//! range request is served by decrypting only the chunks it covers.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header  magic "STWSEAL1" | chunk_bytes u32 | salt [32] | wrapped_key_len u16 | wrapped_key
//!         | plaintext_len u64   (written by `finish`; u64::MAX while the file is unfinished)
//! body    chunk 0 | chunk 1 | ... | chunk n-1        n = max(1, ceil(plaintext_len / chunk_bytes))
//! chunk   AES-256-GCM ciphertext of chunk_bytes plaintext bytes (the last: the rest, maybe 0) | tag [16]
//! ```
//!
//! - The chunk key is HMAC-SHA256(caller key, "steward-sealed-file-v1" ‖ salt), with a random
//!   salt per file, so a caller that reuses its key across files still never reuses a
//!   (key, nonce) pair. The nonce of chunk `i` is `i` as u64 ‖ four zero bytes.
//! - The associated data of chunk `i` is `context ‖ SHA-256(header without plaintext_len) ‖
//!   i as u64 ‖ is_last u8`: chunks cannot be reordered, dropped, moved to another file or
//!   another context, and the last one cannot be cut off or followed by another.
//! - `plaintext_len` is not covered by any tag directly; a reader checks it against the file
//!   size and authenticates the last chunk when it opens the file (its index and length follow
//!   from `plaintext_len`), so a forged length fails at `open`.
//!
//! The module stores the wrapped per-file key but never wraps or unwraps it: the caller does,
//! with the tenant key and [`dataset_file_key_context`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::RngCore;

use crate::{CryptoError, Key256, hmac_sha256, sha256};

/// The first eight bytes of every sealed file.
pub const MAGIC: &[u8; 8] = b"STWSEAL1";
/// Plaintext bytes per chunk written by [`SealedWriter::new`].
pub const CHUNK_BYTES: u32 = 64 * 1024;
/// Largest chunk size a reader accepts (a reader allocates one chunk per read).
pub const CHUNK_BYTES_MAX: u32 = 16 * 1024 * 1024;
/// Bytes each chunk adds to its plaintext (the GCM tag).
pub const CHUNK_OVERHEAD_BYTES: u64 = TAG_BYTES as u64;

const TAG_BYTES: usize = 16;
const SALT_BYTES: usize = 32;
/// magic, chunk size, salt, wrapped key length.
const FIXED_PREFIX_BYTES: usize = 8 + 4 + SALT_BYTES + 2;
const UNFINISHED: u64 = u64::MAX;
const KEY_LABEL: &[u8] = b"steward-sealed-file-v1";

/// The context a data set file's key is wrapped under (with the tenant key) and that its
/// chunks are bound to: pass it as `context` to [`SealedWriter::new`] and [`SealedReader::open`].
pub fn dataset_file_key_context(tenant: &str) -> Vec<u8> {
    crate::context(&[b"dataset-file", tenant.as_bytes()])
}

fn malformed(reason: impl Into<String>) -> CryptoError {
    CryptoError::SealedFile {
        reason: reason.into(),
    }
}

fn io_error(source: std::io::Error) -> CryptoError {
    CryptoError::SealedFileIo { source }
}

/// The parts of a header that chunks are bound to, and the derived cipher.
struct Binding {
    cipher: Aes256Gcm,
    /// `context ‖ SHA-256(header without plaintext_len)`; chunk index and flag follow.
    aad_prefix: Vec<u8>,
}

impl Binding {
    fn new(key: &Key256, context: &[u8], salt: &[u8; SALT_BYTES], header: &[u8]) -> Binding {
        let chunk_key = Key256::from_bytes(hmac_sha256(key, &[KEY_LABEL, salt]));
        let cipher = Aes256Gcm::new(chunk_key.expose().into());
        let mut aad_prefix = Vec::with_capacity(context.len() + 32 + 9);
        aad_prefix.extend_from_slice(context);
        aad_prefix.extend_from_slice(&sha256(&[header]));
        Binding { cipher, aad_prefix }
    }

    fn aad(&self, index: u64, last: bool) -> Vec<u8> {
        let mut aad = self.aad_prefix.clone();
        aad.extend_from_slice(&index.to_le_bytes());
        aad.push(u8::from(last));
        aad
    }
}

fn nonce(index: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&index.to_le_bytes());
    nonce
}

/// Writes a sealed file: everything written is buffered up to one chunk, then sealed.
/// After an I/O error the writer refuses everything (the file is unusable; delete it).
pub struct SealedWriter<W: Write + Seek> {
    out: W,
    binding: Binding,
    chunk_bytes: usize,
    /// Where `plaintext_len` sits in `out`.
    length_at: u64,
    buf: Vec<u8>,
    next_index: u64,
    written: u64,
    poisoned: bool,
}

impl<W: Write + Seek> SealedWriter<W> {
    /// Starts a sealed file at the current position of `out` (a reader expects it at offset 0)
    /// with chunks of [`CHUNK_BYTES`]. `key` must be the file's own key; `wrapped_key` is
    /// stored as is (at most 65,535 bytes).
    pub fn new(
        out: W,
        key: &Key256,
        context: &[u8],
        wrapped_key: &[u8],
    ) -> Result<Self, CryptoError> {
        Self::with_chunk_bytes(out, key, context, wrapped_key, CHUNK_BYTES)
    }

    /// As [`SealedWriter::new`] with another chunk size (1 ..= [`CHUNK_BYTES_MAX`]).
    pub fn with_chunk_bytes(
        mut out: W,
        key: &Key256,
        context: &[u8],
        wrapped_key: &[u8],
        chunk_bytes: u32,
    ) -> Result<Self, CryptoError> {
        if chunk_bytes == 0 || chunk_bytes > CHUNK_BYTES_MAX {
            return Err(malformed(format!(
                "chunk size {chunk_bytes} outside 1..={CHUNK_BYTES_MAX}"
            )));
        }
        let wrapped_len = u16::try_from(wrapped_key.len()).map_err(|_| {
            malformed(format!(
                "wrapped key of {} bytes exceeds 65535",
                wrapped_key.len()
            ))
        })?;
        let mut salt = [0u8; SALT_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut header = Vec::with_capacity(FIXED_PREFIX_BYTES + wrapped_key.len() + 8);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&chunk_bytes.to_le_bytes());
        header.extend_from_slice(&salt);
        header.extend_from_slice(&wrapped_len.to_le_bytes());
        header.extend_from_slice(wrapped_key);
        let binding = Binding::new(key, context, &salt, &header);
        header.extend_from_slice(&UNFINISHED.to_le_bytes());
        let start = out.stream_position().map_err(io_error)?;
        out.write_all(&header).map_err(io_error)?;
        let length_at = start + (header.len() - 8) as u64;
        let chunk_bytes = chunk_bytes as usize;
        Ok(SealedWriter {
            out,
            binding,
            chunk_bytes,
            length_at,
            buf: Vec::with_capacity(chunk_bytes + TAG_BYTES),
            next_index: 0,
            written: 0,
            poisoned: false,
        })
    }

    fn check(&self) -> std::io::Result<()> {
        if self.poisoned {
            return Err(std::io::Error::other(
                "sealed writer failed earlier; the file is unusable",
            ));
        }
        Ok(())
    }

    /// Seals the buffered chunk and writes it out.
    fn emit(&mut self, last: bool) -> std::io::Result<()> {
        let index = self.next_index;
        let aad = self.binding.aad(index, last);
        let tag = self
            .binding
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce(index)), &aad, &mut self.buf)
            .map_err(|_| std::io::Error::other("AES-GCM refused a chunk"))?;
        self.buf.extend_from_slice(&tag);
        let result = self.out.write_all(&self.buf);
        self.buf.clear();
        result?;
        self.next_index += 1;
        Ok(())
    }

    /// Writes the last chunk (an empty file has one, empty) and the plaintext length, and
    /// flushes `out`; the caller fsyncs. Returns `out`, positioned after the last chunk, and
    /// the number of plaintext bytes.
    pub fn finish(mut self) -> Result<(W, u64), CryptoError> {
        self.check().map_err(io_error)?;
        self.emit(true).map_err(io_error)?;
        let end = self.out.stream_position().map_err(io_error)?;
        self.out
            .seek(SeekFrom::Start(self.length_at))
            .map_err(io_error)?;
        self.out
            .write_all(&self.written.to_le_bytes())
            .map_err(io_error)?;
        self.out.seek(SeekFrom::Start(end)).map_err(io_error)?;
        self.out.flush().map_err(io_error)?;
        Ok((self.out, self.written))
    }
}

impl<W: Write + Seek> Write for SealedWriter<W> {
    /// Takes all of `data`. A full chunk is sealed only once more data follows it, since
    /// whether a chunk is the last is part of what its tag covers.
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.check()?;
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() == self.chunk_bytes
                && let Err(e) = self.emit(false)
            {
                self.poisoned = true;
                return Err(e);
            }
            let take = (self.chunk_bytes - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        self.written += data.len() as u64;
        Ok(data.len())
    }

    /// Flushes `out`; a partial chunk stays buffered until it fills or [`SealedWriter::finish`].
    fn flush(&mut self) -> std::io::Result<()> {
        self.check()?;
        self.out.flush()
    }
}

impl<W: Write + Seek> std::fmt::Debug for SealedWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedWriter")
            .field("chunk_bytes", &self.chunk_bytes)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// A parsed header.
struct Header {
    chunk_bytes: u32,
    salt: [u8; SALT_BYTES],
    wrapped_key: Vec<u8>,
    /// Header bytes without `plaintext_len`: what chunks are bound to.
    bound: Vec<u8>,
    plaintext_len: u64,
}

impl Header {
    fn len(&self) -> u64 {
        self.bound.len() as u64 + 8
    }
}

/// Reads and checks a header through `read_at(offset, buf)`.
fn read_header(
    read_at: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> Result<Header, CryptoError> {
    let eof = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            malformed("file shorter than its header")
        } else {
            io_error(e)
        }
    };
    let mut fixed = [0u8; FIXED_PREFIX_BYTES];
    read_at(0, &mut fixed).map_err(eof)?;
    if &fixed[..8] != MAGIC {
        return Err(malformed("not a sealed file (bad magic)"));
    }
    let chunk_bytes = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    if chunk_bytes == 0 || chunk_bytes > CHUNK_BYTES_MAX {
        return Err(malformed(format!(
            "chunk size {chunk_bytes} outside 1..={CHUNK_BYTES_MAX}"
        )));
    }
    let mut salt = [0u8; SALT_BYTES];
    salt.copy_from_slice(&fixed[12..12 + SALT_BYTES]);
    let wrapped_len = usize::from(u16::from_le_bytes([
        fixed[FIXED_PREFIX_BYTES - 2],
        fixed[FIXED_PREFIX_BYTES - 1],
    ]));
    let mut rest = vec![0u8; wrapped_len + 8];
    read_at(FIXED_PREFIX_BYTES as u64, &mut rest).map_err(eof)?;
    let mut length = [0u8; 8];
    length.copy_from_slice(&rest[wrapped_len..]);
    let plaintext_len = u64::from_le_bytes(length);
    rest.truncate(wrapped_len);
    let mut bound = Vec::with_capacity(FIXED_PREFIX_BYTES + wrapped_len);
    bound.extend_from_slice(&fixed);
    bound.extend_from_slice(&rest);
    Ok(Header {
        chunk_bytes,
        salt,
        wrapped_key: rest,
        bound,
        plaintext_len,
    })
}

/// Reads the wrapped key from the header of the sealed file at `path`, and nothing else.
pub fn read_wrapped_key(path: &Path) -> Result<Vec<u8>, CryptoError> {
    let mut file = File::open(path).map_err(io_error)?;
    let header = read_header(&mut |offset, buf| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    })?;
    Ok(header.wrapped_key)
}

/// Random access to the plaintext of a sealed file. Reads are positioned (`pread`), so one
/// reader serves concurrent ranges from many threads.
pub struct SealedReader {
    file: File,
    binding: Binding,
    chunk_bytes: u64,
    body_at: u64,
    plaintext_len: u64,
    chunks: u64,
    wrapped_key: Vec<u8>,
}

impl SealedReader {
    /// Opens a sealed file written with `key` and `context`. Checks the header, that the
    /// declared length matches the file size, and authenticates the last chunk (so a wrong
    /// key or context, or a forged length, fails here).
    pub fn open(file: File, key: &Key256, context: &[u8]) -> Result<Self, CryptoError> {
        let header = read_header(&mut |offset, buf| file.read_exact_at(buf, offset))?;
        if header.plaintext_len == UNFINISHED {
            return Err(malformed(
                "unfinished file (the writer never called finish)",
            ));
        }
        let chunk_bytes = u64::from(header.chunk_bytes);
        let chunks = header.plaintext_len.div_ceil(chunk_bytes).max(1);
        let expected = chunks
            .checked_mul(CHUNK_OVERHEAD_BYTES)
            .and_then(|tags| tags.checked_add(header.plaintext_len))
            .and_then(|body| body.checked_add(header.len()));
        let actual = file.metadata().map_err(io_error)?.len();
        if expected != Some(actual) {
            return Err(malformed(format!(
                "declared length {} does not match a file of {actual} bytes",
                header.plaintext_len
            )));
        }
        let binding = Binding::new(key, context, &header.salt, &header.bound);
        let reader = SealedReader {
            file,
            binding,
            chunk_bytes,
            body_at: header.len(),
            plaintext_len: header.plaintext_len,
            chunks,
            wrapped_key: header.wrapped_key,
        };
        let mut scratch = Vec::new();
        reader.open_chunk(chunks - 1, &mut scratch)?;
        Ok(reader)
    }

    /// Plaintext bytes in the file.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// The wrapped key stored in the header.
    pub fn wrapped_key(&self) -> &[u8] {
        &self.wrapped_key
    }

    /// Decrypts chunk `index` into `buf` (replacing its contents).
    fn open_chunk(&self, index: u64, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        let start = index * self.chunk_bytes;
        let plain = (self.plaintext_len - start).min(self.chunk_bytes) as usize;
        buf.clear();
        buf.resize(plain + TAG_BYTES, 0);
        let at = self.body_at + index * (self.chunk_bytes + CHUNK_OVERHEAD_BYTES);
        self.file.read_exact_at(buf, at).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                malformed("file shrank after it was opened")
            } else {
                io_error(e)
            }
        })?;
        let (body, tag) = buf.split_at_mut(plain);
        let tag = Tag::clone_from_slice(tag);
        let aad = self.binding.aad(index, index + 1 == self.chunks);
        self.binding
            .cipher
            .decrypt_in_place_detached(Nonce::from_slice(&nonce(index)), &aad, body, &tag)
            .map_err(|_| CryptoError::Authentication)?;
        buf.truncate(plain);
        Ok(())
    }

    /// The plaintext bytes `offset .. offset + len`, decrypting only the chunks they touch.
    /// A range reaching past the end is an error.
    pub fn read_range(&self, offset: u64, len: u64) -> Result<Vec<u8>, CryptoError> {
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= self.plaintext_len)
            .ok_or_else(|| {
                malformed(format!(
                    "range {offset}+{len} past the end of {} plaintext bytes",
                    self.plaintext_len
                ))
            })?;
        // `len` fits: it is at most the plaintext length, which is below the file's size.
        let mut out = Vec::with_capacity(len as usize);
        if len == 0 {
            return Ok(out);
        }
        let mut chunk = Vec::with_capacity(self.chunk_bytes as usize + TAG_BYTES);
        for index in offset / self.chunk_bytes..=(end - 1) / self.chunk_bytes {
            self.open_chunk(index, &mut chunk)?;
            let chunk_start = index * self.chunk_bytes;
            let from = (offset.max(chunk_start) - chunk_start) as usize;
            let to = (end.min(chunk_start + chunk.len() as u64) - chunk_start) as usize;
            out.extend_from_slice(&chunk[from..to]);
        }
        Ok(out)
    }

    /// The whole plaintext.
    pub fn read_all(&self) -> Result<Vec<u8>, CryptoError> {
        self.read_range(0, self.plaintext_len)
    }
}

impl std::fmt::Debug for SealedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedReader")
            .field("chunk_bytes", &self.chunk_bytes)
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONTEXT: &[u8] = b"\x0c\x00\x00\x00dataset-file\x04\x00\x00\x00acme";

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    /// Seals `plain` into a temporary file with chunks of `chunk` bytes.
    fn seal_file(
        key: &Key256,
        context: &[u8],
        plain: &[u8],
        chunk: u32,
    ) -> tempfile::NamedTempFile {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let mut writer = SealedWriter::with_chunk_bytes(
            tmp.as_file_mut(),
            key,
            context,
            b"wrapped-key-bytes",
            chunk,
        )
        .unwrap();
        // Uneven writes, to cross chunk boundaries mid-call.
        for part in plain.chunks(7) {
            writer.write_all(part).unwrap();
        }
        let (_, written) = writer.finish().unwrap();
        assert_eq!(written, plain.len() as u64);
        tmp
    }

    fn open(
        tmp: &tempfile::NamedTempFile,
        key: &Key256,
        context: &[u8],
    ) -> Result<SealedReader, CryptoError> {
        SealedReader::open(tmp.reopen().unwrap(), key, context)
    }

    #[test]
    fn context_helper_matches_the_crate_context() {
        assert_eq!(dataset_file_key_context("acme"), CONTEXT);
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let key = Key256::random();
        let c = CHUNK_BYTES as usize;
        for len in [0, 1, c - 1, c, c + 1, c * 7 / 2] {
            let plain = data(len);
            let mut tmp = tempfile::NamedTempFile::new().unwrap();
            let mut writer = SealedWriter::new(tmp.as_file_mut(), &key, CONTEXT, b"wk").unwrap();
            writer.write_all(&plain).unwrap();
            let (_, written) = writer.finish().unwrap();
            assert_eq!(written, len as u64);
            let size = tmp.as_file().metadata().unwrap().len();
            let chunks = (len as u64).div_ceil(c as u64).max(1);
            assert_eq!(
                size,
                (FIXED_PREFIX_BYTES + 2 + 8) as u64 + len as u64 + chunks * 16,
                "len {len}"
            );
            let reader = open(&tmp, &key, CONTEXT).unwrap();
            assert_eq!(reader.plaintext_len(), len as u64);
            assert_eq!(reader.read_all().unwrap(), plain, "len {len}");
            assert_eq!(reader.wrapped_key(), b"wk");
            assert_eq!(read_wrapped_key(tmp.path()).unwrap(), b"wk");
            assert!(reader.read_range(len as u64, 1).is_err());
            assert!(reader.read_range(0, len as u64 + 1).is_err());
            assert!(reader.read_range(u64::MAX, 2).is_err());
            assert_eq!(reader.read_range(len as u64, 0).unwrap(), b"");
        }
    }

    #[test]
    fn the_plaintext_is_not_in_the_file() {
        let key = Key256::random();
        let plain = b"canary-sealed-7f3a@example.org".repeat(100);
        let tmp = seal_file(&key, CONTEXT, &plain, 256);
        let raw = std::fs::read(tmp.path()).unwrap();
        assert!(!raw.windows(20).any(|w| w == &plain[..20]));
    }

    #[test]
    fn the_same_key_seals_two_files_differently() {
        let key = Key256::random();
        let plain = data(1000);
        let a = std::fs::read(seal_file(&key, CONTEXT, &plain, 256).path()).unwrap();
        let b = std::fs::read(seal_file(&key, CONTEXT, &plain, 256).path()).unwrap();
        let header = FIXED_PREFIX_BYTES + 17 + 8;
        assert_ne!(
            a[header..header + 64],
            b[header..header + 64],
            "a reused key must not reuse keystream"
        );
    }

    /// Opens the file and reads everything: what any accepted tampering would have to pass.
    fn read_back(
        tmp: &tempfile::NamedTempFile,
        key: &Key256,
        context: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        open(tmp, key, context)?.read_all()
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let key = Key256::random();
        let plain = data(600);
        let tmp = seal_file(&key, CONTEXT, &plain, 256);
        let original = std::fs::read(tmp.path()).unwrap();
        // Every byte: magic, chunk size, salt, wrapped key length and bytes, plaintext length,
        // each chunk's ciphertext and tag.
        for i in 0..original.len() {
            let mut bytes = original.clone();
            bytes[i] ^= 0x01;
            std::fs::write(tmp.path(), &bytes).unwrap();
            assert!(
                read_back(&tmp, &key, CONTEXT).is_err(),
                "flip at byte {i} accepted"
            );
        }
        std::fs::write(tmp.path(), &original).unwrap();
        assert_eq!(read_back(&tmp, &key, CONTEXT).unwrap(), plain);
    }

    #[test]
    fn truncation_swaps_and_foreign_chunks_are_rejected() {
        let key = Key256::random();
        let chunk = 256usize;
        let plain = data(chunk * 3);
        let tmp = seal_file(&key, CONTEXT, &plain, chunk as u32);
        let original = std::fs::read(tmp.path()).unwrap();
        let header = FIXED_PREFIX_BYTES + b"wrapped-key-bytes".len() + 8;
        let sealed = chunk + 16;
        let body = |i: usize| header + i * sealed..header + (i + 1) * sealed;
        let set_len = |bytes: &mut Vec<u8>, len: u64| {
            bytes[header - 8..header].copy_from_slice(&len.to_le_bytes())
        };

        // A chunk cut off, with and without the length adjusted to match.
        let mut cut = original[..original.len() - sealed].to_vec();
        std::fs::write(tmp.path(), &cut).unwrap();
        assert!(read_back(&tmp, &key, CONTEXT).is_err());
        set_len(&mut cut, (chunk * 2) as u64);
        std::fs::write(tmp.path(), &cut).unwrap();
        assert!(
            open(&tmp, &key, CONTEXT).is_err(),
            "the new last chunk was not sealed as last"
        );

        // A few bytes cut off the tail.
        std::fs::write(tmp.path(), &original[..original.len() - 3]).unwrap();
        assert!(read_back(&tmp, &key, CONTEXT).is_err());

        // Two chunks swapped: the last one is intact, so open succeeds but reading them fails.
        let mut swapped = original.clone();
        swapped[body(0)].copy_from_slice(&original[body(1)]);
        swapped[body(1)].copy_from_slice(&original[body(0)]);
        std::fs::write(tmp.path(), &swapped).unwrap();
        let reader = open(&tmp, &key, CONTEXT).unwrap();
        assert!(reader.read_range(0, 1).is_err());
        assert!(reader.read_range(chunk as u64, 1).is_err());
        assert_eq!(
            reader.read_range(chunk as u64 * 2, 5).unwrap(),
            plain[chunk * 2..chunk * 2 + 5]
        );

        // A chunk duplicated over the next (same data, wrong index).
        let mut duplicated = original.clone();
        duplicated[body(1)].copy_from_slice(&original[body(0)]);
        std::fs::write(tmp.path(), &duplicated).unwrap();
        assert!(read_back(&tmp, &key, CONTEXT).is_err());

        // A chunk appended after the last, length adjusted.
        let mut extended = original.clone();
        extended.extend_from_slice(&original[body(1)]);
        set_len(&mut extended, (chunk * 4) as u64);
        std::fs::write(tmp.path(), &extended).unwrap();
        assert!(open(&tmp, &key, CONTEXT).is_err());

        // A chunk from another file sealed with the same key and context.
        let other = std::fs::read(seal_file(&key, CONTEXT, &plain, chunk as u32).path()).unwrap();
        let mut foreign = original.clone();
        foreign[body(0)].copy_from_slice(&other[body(0)]);
        std::fs::write(tmp.path(), &foreign).unwrap();
        assert!(read_back(&tmp, &key, CONTEXT).is_err());

        // Wrong key, wrong context.
        std::fs::write(tmp.path(), &original).unwrap();
        assert!(matches!(
            open(&tmp, &Key256::random(), CONTEXT),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            open(&tmp, &key, &dataset_file_key_context("other")),
            Err(CryptoError::Authentication)
        ));
        assert_eq!(read_back(&tmp, &key, CONTEXT).unwrap(), plain);
    }

    #[test]
    fn malformed_headers_are_refused_without_panics() {
        let key = Key256::random();
        let tmp = seal_file(&key, CONTEXT, &data(300), 256);
        let original = std::fs::read(tmp.path()).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("magic only", MAGIC.to_vec()),
            ("half a header", original[..FIXED_PREFIX_BYTES + 4].to_vec()),
            ("huge chunk size", {
                let mut b = original.clone();
                b[8..12].copy_from_slice(&(CHUNK_BYTES_MAX + 1).to_le_bytes());
                b
            }),
            ("zero chunk size", {
                let mut b = original.clone();
                b[8..12].copy_from_slice(&0u32.to_le_bytes());
                b
            }),
            ("huge length", {
                let mut b = original.clone();
                let at = FIXED_PREFIX_BYTES + b"wrapped-key-bytes".len();
                b[at..at + 8].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
                b
            }),
            ("huge wrapped key", {
                let mut b = original.clone();
                b[FIXED_PREFIX_BYTES - 2..FIXED_PREFIX_BYTES]
                    .copy_from_slice(&u16::MAX.to_le_bytes());
                b
            }),
        ];
        for (name, bytes) in cases {
            std::fs::write(tmp.path(), &bytes).unwrap();
            assert!(open(&tmp, &key, CONTEXT).is_err(), "{name}");
        }
        std::fs::write(tmp.path(), b"PAR1 not sealed at all").unwrap();
        assert!(read_wrapped_key(tmp.path()).is_err());
    }

    #[test]
    fn an_unfinished_file_is_refused() {
        let key = Key256::random();
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let mut writer =
            SealedWriter::with_chunk_bytes(tmp.as_file_mut(), &key, CONTEXT, b"wk", 16).unwrap();
        writer.write_all(&data(100)).unwrap();
        drop(writer);
        let error = open(&tmp, &key, CONTEXT).unwrap_err();
        assert!(error.to_string().contains("unfinished"), "{error}");
    }

    #[test]
    fn writer_refuses_bad_parameters() {
        let key = Key256::random();
        let mut out = std::io::Cursor::new(Vec::new());
        assert!(SealedWriter::with_chunk_bytes(&mut out, &key, CONTEXT, b"", 0).is_err());
        assert!(
            SealedWriter::with_chunk_bytes(&mut out, &key, CONTEXT, b"", CHUNK_BYTES_MAX + 1)
                .is_err()
        );
        assert!(SealedWriter::new(&mut out, &key, CONTEXT, &vec![0; 70_000]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn read_range_is_the_slice(
            plain in proptest::collection::vec(any::<u8>(), 0..2000),
            chunk in 1u32..300,
            ranges in proptest::collection::vec((any::<u64>(), any::<u64>()), 1..16),
        ) {
            let key = Key256::random();
            let tmp = seal_file(&key, CONTEXT, &plain, chunk);
            let reader = open(&tmp, &key, CONTEXT).unwrap();
            prop_assert_eq!(reader.read_all().unwrap(), plain.clone());
            let len = plain.len() as u64;
            for (a, b) in ranges {
                let offset = a % (len + 1);
                let take = b % (len - offset + 1);
                prop_assert_eq!(reader.read_range(offset, take).unwrap(), &plain[offset as usize..(offset + take) as usize]);
                prop_assert!(reader.read_range(offset, len - offset + 1).is_err());
            }
        }
    }
}
