//! The archive inside the sealed stream: directories and files in order, then the manifest.
//!
//! ```text
//! 'D' ‖ u16 path length ‖ path
//! 'F' ‖ u16 path length ‖ path ‖ u64 size ‖ bytes
//! 'M' ‖ u32 length ‖ manifest JSON          (last)
//! ```
//!
//! Paths are relative, `/`-separated, with no empty, `.` or `..` component: a restore never
//! writes outside its target.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

use super::BackupError;
use super::stream::SealWriter;

const PATH_BYTES_MAX: usize = 1024;
const PATH_DEPTH_MAX: usize = 16;
const MANIFEST_BYTES_MAX: u32 = 256 << 20;
const ENTRIES_MAX: usize = 4_000_000;
const COPY_BUF: usize = 256 << 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// What a backup holds, written last and checked against what was read.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: String,
    /// Made by the running server (true) or with the directory's lock held (false).
    pub online: bool,
    pub tenants: Vec<String>,
    pub dirs: Vec<String>,
    pub files: Vec<ManifestFile>,
    pub bytes: u64,
}

pub(crate) struct ArchiveWriter<W: Write> {
    out: SealWriter<W>,
    pub manifest: Manifest,
    buf: Vec<u8>,
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(out: SealWriter<W>) -> ArchiveWriter<W> {
        ArchiveWriter {
            out,
            manifest: Manifest::default(),
            buf: vec![0u8; COPY_BUF],
        }
    }

    fn path(&mut self, tag: u8, path: &str) -> Result<(), BackupError> {
        check_path(path).map_err(|reason| BackupError::DamagedFile {
            path: path.to_owned(),
            reason,
        })?;
        self.out.write_all(&[tag]).map_err(BackupError::write)?;
        self.out
            .write_all(&(path.len() as u16).to_le_bytes())
            .map_err(BackupError::write)?;
        self.out
            .write_all(path.as_bytes())
            .map_err(BackupError::write)
    }

    pub fn dir(&mut self, path: &str) -> Result<(), BackupError> {
        self.path(b'D', path)?;
        self.manifest.dirs.push(path.to_owned());
        Ok(())
    }

    /// Copies exactly `size` bytes of `input` (a file that shrank is an error; one that grew
    /// is copied up to the size it had: an append-only file's prefix).
    pub fn file(
        &mut self,
        path: &str,
        input: &mut impl Read,
        size: u64,
    ) -> Result<(), BackupError> {
        self.path(b'F', path)?;
        self.out
            .write_all(&size.to_le_bytes())
            .map_err(BackupError::write)?;
        let mut hash = Sha256::new();
        let mut left = size;
        while left > 0 {
            let want = (left as usize).min(self.buf.len());
            let n = input
                .read(&mut self.buf[..want])
                .map_err(|e| BackupError::Io(format!("reading {path}: {e}")))?;
            if n == 0 {
                return Err(BackupError::Io(format!(
                    "{path} shrank while it was copied"
                )));
            }
            hash.update(&self.buf[..n]);
            self.out
                .write_all(&self.buf[..n])
                .map_err(BackupError::write)?;
            left -= n as u64;
        }
        self.manifest.files.push(ManifestFile {
            path: path.to_owned(),
            size,
            sha256: data_encoding::HEXLOWER.encode(&hash.finalize()),
        });
        self.manifest.bytes += size;
        Ok(())
    }

    /// Writes the manifest and the last chunk; returns the inner writer and bytes written.
    pub fn finish(mut self) -> Result<(W, u64, Manifest), BackupError> {
        let json =
            serde_json::to_vec(&self.manifest).map_err(|e| BackupError::Io(e.to_string()))?;
        self.out.write_all(b"M").map_err(BackupError::write)?;
        self.out
            .write_all(&(json.len() as u32).to_le_bytes())
            .map_err(BackupError::write)?;
        self.out.write_all(&json).map_err(BackupError::write)?;
        let (out, written) = self.out.finish()?;
        Ok((out, written, self.manifest))
    }
}

/// Checks a relative archive path (the reason names no byte of it).
pub(crate) fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > PATH_BYTES_MAX {
        return Err("path length");
    }
    if path.contains('\0') || path.contains('\\') {
        return Err("path character");
    }
    let mut depth = 0;
    for part in path.split('/') {
        depth += 1;
        if part.is_empty() || part == "." || part == ".." {
            return Err("path component");
        }
    }
    if depth > PATH_DEPTH_MAX {
        return Err("path depth");
    }
    Ok(())
}

/// Receives what [`read_archive`] reads.
pub(crate) trait Sink {
    fn dir(&mut self, path: &str) -> Result<(), BackupError>;
    /// Takes the file's bytes (exactly `size`) from `input`.
    fn file(&mut self, path: &str, size: u64, input: &mut dyn Read) -> Result<(), BackupError>;
}

/// Hashes what passes through, and counts it.
struct Hashing<'a, R: Read> {
    inner: &'a mut R,
    hash: Sha256,
    left: u64,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = (self.left as usize).min(out.len());
        let n = self.inner.read(&mut out[..want])?;
        if n == 0 {
            return Err(std::io::Error::other(BackupError::Damaged(
                "truncated file",
            )));
        }
        self.hash.update(&out[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

fn read_exact<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<(), BackupError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => BackupError::Damaged("truncated"),
        _ => BackupError::from_io(e),
    })
}

/// Reads every entry into `sink`, then checks the manifest against what was read.
pub(crate) fn read_archive<R: Read>(
    input: &mut R,
    sink: &mut dyn Sink,
) -> Result<Manifest, BackupError> {
    let mut seen_files: Vec<ManifestFile> = Vec::new();
    let mut seen_dirs: Vec<String> = Vec::new();
    let mut paths = std::collections::HashSet::new();
    loop {
        let mut tag = [0u8; 1];
        read_exact(input, &mut tag)?;
        if tag[0] == b'M' {
            let mut len = [0u8; 4];
            read_exact(input, &mut len)?;
            let len = u32::from_le_bytes(len);
            if len > MANIFEST_BYTES_MAX {
                return Err(BackupError::Damaged("manifest too long"));
            }
            let mut json = vec![0u8; len as usize];
            read_exact(input, &mut json)?;
            let manifest: Manifest =
                serde_json::from_slice(&json).map_err(|_| BackupError::Damaged("manifest"))?;
            let mut rest = [0u8; 1];
            match input.read(&mut rest) {
                Ok(0) => {}
                Ok(_) => return Err(BackupError::Damaged("bytes after the manifest")),
                Err(e) => return Err(BackupError::from_io(e)),
            }
            if manifest.files != seen_files || manifest.dirs != seen_dirs {
                return Err(BackupError::Damaged(
                    "the manifest does not list what the archive holds",
                ));
            }
            return Ok(manifest);
        }
        if tag[0] != b'D' && tag[0] != b'F' {
            return Err(BackupError::Damaged("unknown entry"));
        }
        if seen_files.len() + seen_dirs.len() >= ENTRIES_MAX {
            return Err(BackupError::Damaged("too many entries"));
        }
        let mut len = [0u8; 2];
        read_exact(input, &mut len)?;
        let mut path = vec![0u8; usize::from(u16::from_le_bytes(len))];
        read_exact(input, &mut path)?;
        let path = String::from_utf8(path).map_err(|_| BackupError::Damaged("path encoding"))?;
        check_path(&path).map_err(BackupError::Damaged)?;
        if !paths.insert(path.clone()) {
            return Err(BackupError::Damaged("a path appears twice"));
        }
        if tag[0] == b'D' {
            sink.dir(&path)?;
            seen_dirs.push(path);
            continue;
        }
        let mut size = [0u8; 8];
        read_exact(input, &mut size)?;
        let size = u64::from_le_bytes(size);
        let mut hashing = Hashing {
            inner: input,
            hash: Sha256::new(),
            left: size,
        };
        sink.file(&path, size, &mut hashing)?;
        if hashing.left != 0 {
            // The sink stopped early: drain, so the hash covers the whole file.
            std::io::copy(&mut hashing, &mut std::io::sink()).map_err(BackupError::from_io)?;
        }
        let sha256 = data_encoding::HEXLOWER.encode(&hashing.hash.finalize());
        seen_files.push(ManifestFile { path, size, sha256 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_target_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a\\b",
            "a\0b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        let deep = vec!["d"; PATH_DEPTH_MAX + 1].join("/");
        assert!(check_path(&deep).is_err());
        for good in ["STEWARD", "tenants/acme/segments/000001.seg", "a b/c.json"] {
            assert!(check_path(good).is_ok(), "{good:?}");
        }
    }
}
