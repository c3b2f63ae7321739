//! Recovery: validates every WAL file, replays records to the caller, and truncates a torn tail.
//!
//! The rules (see `format.md`): only the last file may end in a torn frame, and only if no frame
//! with a valid checksum follows it; any other damage, and any gap or repeat in lsns, is corruption.

use std::fs;
use std::path::Path;

use crate::error::{ReplayError, WalError, corrupted, io_error};
use crate::format::{self, FILE_HEADER_BYTES};
use crate::frame::{self, FrameError};
use crate::fsio::Vfs;
use crate::{FileMeta, Lsn, Recovery, TornTail, WalFileInfo, fsio};

/// Result of [`recover`]: the surviving files, oldest first, and the report for the caller.
pub(crate) struct Recovered {
    pub files: Vec<FileMeta>,
    pub report: Recovery,
}

/// The replay callback as recovery sees it.
pub(crate) type Replay<'a> = dyn FnMut(Lsn, &[u8]) -> Result<(), ReplayError> + 'a;

/// Validates and replays the log in `dir` (which must exist); see `Wal::open`.
pub(crate) fn recover(
    vfs: &dyn Vfs,
    dir: &Path,
    after_lsn: Lsn,
    replay: &mut Replay<'_>,
) -> Result<Recovered, WalError> {
    let listed = fsio::list_wal_files(vfs, dir)?;
    let file_count = listed.len();
    let mut report = Recovery {
        records_replayed: 0,
        frames_read: 0,
        last_lsn: after_lsn,
        torn_tail: None,
    };
    let mut files: Vec<FileMeta> = Vec::with_capacity(file_count);
    // Lower bound for the next lsn from a removed half-created file, so lsns are never reused.
    let mut removed_floor: Lsn = 0;

    for (index, (name_lsn, path)) in listed.into_iter().enumerate() {
        let is_last = index + 1 == file_count;
        let bytes = vfs.read(&path).map_err(io_error("read", &path))?;

        if is_last
            && bytes.len() <= FILE_HEADER_BYTES
            && format::decode_file_header(&bytes).is_err()
        {
            // A crash while creating the file: no frame was ever acknowledged in it (frames are
            // written only after the header and directory are fsynced), so it can go.
            remove_half_created(vfs, dir, &path, bytes.len(), &mut report)?;
            removed_floor = name_lsn.saturating_sub(1);
            continue;
        }

        let first_lsn =
            format::decode_file_header(&bytes).map_err(|reason| corrupted(&path, 0, reason))?;
        if first_lsn != name_lsn {
            return Err(corrupted(
                &path,
                0,
                format!("header first lsn {first_lsn} does not match the file name"),
            ));
        }
        match files.last() {
            Some(previous) if previous.last_lsn + 1 != first_lsn => {
                return Err(corrupted(
                    &path,
                    0,
                    format!(
                        "file starts at lsn {first_lsn} but the previous file ends at lsn {}",
                        previous.last_lsn
                    ),
                ));
            }
            None if first_lsn > after_lsn.saturating_add(1) => {
                return Err(corrupted(
                    &path,
                    0,
                    format!(
                        "log starts at lsn {first_lsn}; lsns {}..{first_lsn} after the applied lsn {after_lsn} are missing",
                        after_lsn + 1
                    ),
                ));
            }
            _ => {}
        }

        let scan = scan_frames(&path, &bytes, first_lsn, after_lsn, replay, &mut report)?;
        let mut valid_bytes = bytes.len();
        if let Some(bad) = scan.bad {
            valid_bytes = bad.offset;
            handle_bad_frame(
                vfs,
                &path,
                &bytes,
                &bad,
                scan.next_lsn,
                is_last,
                &mut report,
            )?;
        }
        files.push(FileMeta {
            path,
            first_lsn,
            last_lsn: scan.next_lsn - 1,
            bytes: valid_bytes as u64,
        });
    }

    match files.last() {
        Some(last) if last.last_lsn < after_lsn => {
            return Err(WalError::LogBehindCaller {
                after_lsn,
                last_lsn: last.last_lsn,
            });
        }
        Some(last) => report.last_lsn = last.last_lsn,
        None => report.last_lsn = after_lsn.max(removed_floor),
    }
    Ok(Recovered { files, report })
}

/// Reads one WAL file strictly (no torn-tail tolerance), calling `visit` for every record; for
/// tools such as erasure that read or rewrite closed files.
pub fn read_file(
    path: &Path,
    mut visit: impl FnMut(Lsn, &[u8]) -> Result<(), ReplayError>,
) -> Result<WalFileInfo, WalError> {
    let bytes = fs::read(path).map_err(io_error("read", path))?;
    let first_lsn =
        format::decode_file_header(&bytes).map_err(|reason| corrupted(path, 0, reason))?;
    let mut report = Recovery {
        records_replayed: 0,
        frames_read: 0,
        last_lsn: 0,
        torn_tail: None,
    };
    let scan = scan_frames(path, &bytes, first_lsn, 0, &mut visit, &mut report)?;
    if let Some(bad) = scan.bad {
        return Err(corrupted(path, bad.offset, bad.error.to_string()));
    }
    Ok(WalFileInfo {
        path: path.to_path_buf(),
        first_lsn,
        last_lsn: scan.next_lsn - 1,
        bytes: bytes.len() as u64,
        closed: true,
    })
}

/// The first frame of a file that failed to decode.
struct BadFrame {
    offset: usize,
    error: FrameError,
}

/// Outcome of scanning the frames of one file.
struct Scan {
    /// Lsn the next frame must start with (one past the last valid record).
    next_lsn: Lsn,
    bad: Option<BadFrame>,
}

/// Decodes frames from the end of the header until the end of the file or the first bad frame,
/// checking lsn continuity and replaying records above `after_lsn`.
fn scan_frames(
    path: &Path,
    bytes: &[u8],
    first_lsn: Lsn,
    after_lsn: Lsn,
    replay: &mut Replay<'_>,
    report: &mut Recovery,
) -> Result<Scan, WalError> {
    let mut offset = FILE_HEADER_BYTES;
    let mut next_lsn = first_lsn;
    while offset < bytes.len() {
        let frame = match frame::decode_frame(&bytes[offset..]) {
            Ok(frame) => frame,
            Err(error) => {
                return Ok(Scan {
                    next_lsn,
                    bad: Some(BadFrame { offset, error }),
                });
            }
        };
        if frame.first_lsn != next_lsn {
            return Err(corrupted(
                path,
                offset,
                format!(
                    "frame starts at lsn {} but lsn {next_lsn} was expected",
                    frame.first_lsn
                ),
            ));
        }
        for (lsn, payload) in frame.records() {
            if lsn > after_lsn {
                replay(lsn, payload).map_err(WalError::Replay)?;
                report.records_replayed += 1;
            }
        }
        report.frames_read += 1;
        next_lsn = frame.last_lsn() + 1;
        offset += frame.encoded_bytes;
    }
    debug_assert_eq!(offset, bytes.len());
    Ok(Scan {
        next_lsn,
        bad: None,
    })
}

/// Decides whether a bad frame is a torn tail (truncate and report) or corruption (fail).
fn handle_bad_frame(
    vfs: &dyn Vfs,
    path: &Path,
    bytes: &[u8],
    bad: &BadFrame,
    next_lsn: Lsn,
    is_last: bool,
    report: &mut Recovery,
) -> Result<(), WalError> {
    if !is_last {
        return Err(corrupted(
            path,
            bad.offset,
            format!("{} (in a file that is not the last)", bad.error),
        ));
    }
    if bad.error.checksum_held() {
        return Err(corrupted(path, bad.offset, bad.error.to_string()));
    }
    if let Some(valid_at) = frame::find_checksummed_frame(bytes, bad.offset + 1) {
        return Err(corrupted(
            path,
            bad.offset,
            format!("{}; a valid frame follows at offset {valid_at}", bad.error),
        ));
    }
    let declared = declared_lsns(&bytes[bad.offset..], next_lsn);
    if let TailVerdict::Damaged(why) = classify_tail(bytes, bad.offset, &bad.error) {
        metrics::counter!("steward_wal_damaged_last_frames_total").increment(1);
        let lsns = match declared {
            Some((first, last)) => format!("lsns {first}..={last}"),
            None => format!("records from lsn {next_lsn}"),
        };
        return Err(corrupted(
            path,
            bad.offset,
            format!(
                "the last frame was written whole but is damaged ({why}; {}): it may hold acknowledged {lsns}, so it is not dropped. \
                 Restore this file from a backup; only to accept losing {lsns}, truncate the file to {} bytes",
                bad.error, bad.offset
            ),
        ));
    }
    let bytes_truncated = (bytes.len() - bad.offset) as u64;
    let (first, last) = match declared {
        Some((first, last)) => (first.to_string(), last.to_string()),
        None => (next_lsn.to_string(), "?".to_owned()),
    };
    tracing::warn!(
        file = %path.display(),
        offset = bad.offset,
        bytes_truncated,
        error = %bad.error,
        first_lsn = %first,
        last_lsn = %last,
        "truncating torn tail of the write-ahead log: a write cut short by a crash, never acknowledged (lsns {first}..={last} are dropped)"
    );
    metrics::counter!("steward_wal_torn_tails_total").increment(1);
    if let Some((first, last)) = declared {
        metrics::counter!("steward_wal_torn_records_total").increment(last + 1 - first);
    }
    fsio::truncate_file(vfs, path, bad.offset as u64)?;
    report.torn_tail = Some(TornTail {
        file: path.to_path_buf(),
        offset: bad.offset as u64,
        bytes_truncated,
        lsns: declared,
    });
    Ok(())
}

/// What a bad frame at the end of the last file is.
#[derive(Debug, PartialEq, Eq)]
enum TailVerdict {
    /// What a crash mid-write leaves: the file ends before the frame does, or parts of the
    /// frame read as zeros (sectors the file system never wrote), or bytes that are no frame.
    Torn,
    /// A frame that was written whole (its length fits the file, no part reads as never
    /// written) and was damaged afterwards: it may have been acknowledged.
    Damaged(&'static str),
}

/// Sector size assumed for torn writes: a crash loses whole sectors of a write, which then read
/// as zeros (new file blocks are zero-filled), or the part of the write past the file's length.
pub(crate) const SECTOR_BYTES: usize = 512;

/// Tells a torn write from a damaged complete frame at `offset`, the last bad frame of the
/// last file (no valid frame follows it). See `format.md`, "Last frame".
fn classify_tail(bytes: &[u8], offset: usize, error: &FrameError) -> TailVerdict {
    use crate::format::{FRAME_MAGIC, FRAME_PREFIX_BYTES};
    let rest = &bytes[offset..];
    if rest.iter().all(|&b| b == 0) {
        return TailVerdict::Torn;
    }
    // A damaged magic or length field: with both set to "a frame filling the rest of the
    // file", the body matches its checksum, so the whole frame was written.
    if rest.len() >= crate::format::FRAME_HEADER_BYTES {
        let mut repaired = rest.to_vec();
        repaired[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
        let body = (rest.len() - FRAME_PREFIX_BYTES) as u32;
        repaired[4..8].copy_from_slice(&body.to_le_bytes());
        if repaired != rest && frame::decode_frame(&repaired).is_ok() {
            // The body was written whole. If the sector holding the magic or length reads as
            // zeros it was never written (a crash lost that sector of an unacknowledged
            // write): torn. Otherwise the fields were damaged after they were written.
            let touched_zero =
                (offset / SECTOR_BYTES..=(offset + 7) / SECTOR_BYTES).any(|sector| {
                    let lo = (sector * SECTOR_BYTES).max(offset);
                    let hi = ((sector + 1) * SECTOR_BYTES).min(bytes.len());
                    bytes[lo..hi].iter().all(|&b| b == 0)
                });
            if touched_zero {
                return TailVerdict::Torn;
            }
            return TailVerdict::Damaged(
                "its magic or length field is damaged; the body matches its checksum",
            );
        }
    }
    match error {
        FrameError::BadChecksum { stored, computed } => {
            if (stored ^ computed).count_ones() == 1 {
                return TailVerdict::Damaged("one bit of its stored checksum is flipped");
            }
            let length = crate::format::read_u32(rest, 4) as usize;
            let end = offset + FRAME_PREFIX_BYTES + length;
            if has_zero_sector(bytes, offset, end.min(bytes.len())) {
                TailVerdict::Torn
            } else {
                TailVerdict::Damaged(
                    "its length fits the file and no part of it reads as never written",
                )
            }
        }
        _ => TailVerdict::Torn,
    }
}

/// Whether some sector of the file, cut to `start..end`, holds only zeros in that range.
fn has_zero_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut at = start;
    while at < end {
        let sector_end = ((at / SECTOR_BYTES) + 1) * SECTOR_BYTES;
        let hi = sector_end.min(end);
        if bytes[at..hi].iter().all(|&b| b == 0) {
            return true;
        }
        at = hi;
    }
    false
}

/// The lsn range a bad frame's body header declares, when it is readable and starts where
/// the log continues (`next_lsn`); `None` when those bytes are missing or implausible.
fn declared_lsns(frame: &[u8], next_lsn: Lsn) -> Option<(Lsn, Lsn)> {
    use crate::format::{FRAME_PREFIX_BYTES, read_u32, read_u64};
    if frame.len() < crate::format::FRAME_HEADER_BYTES {
        return None;
    }
    let first = read_u64(frame, FRAME_PREFIX_BYTES);
    let count = u64::from(read_u32(frame, FRAME_PREFIX_BYTES + 8));
    (first == next_lsn && count > 0).then(|| (first, first + count - 1))
}

/// Removes a last file whose header never became durable (see [`recover`]).
fn remove_half_created(
    vfs: &dyn Vfs,
    dir: &Path,
    path: &Path,
    len: usize,
    report: &mut Recovery,
) -> Result<(), WalError> {
    if len > 0 {
        tracing::warn!(
            file = %path.display(),
            offset = 0,
            bytes_truncated = len,
            "removing half-created write-ahead log file"
        );
        report.torn_tail = Some(TornTail {
            file: path.to_path_buf(),
            offset: 0,
            bytes_truncated: len as u64,
            lsns: None,
        });
    }
    fsio::remove_file_durably(vfs, dir, path)
}
