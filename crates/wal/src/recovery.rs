//! Recovery: validates every WAL file, replays records to the caller, and truncates a torn tail.
//!
//! The rules (see `format.md`): only the last file may end in a torn frame, and only if no frame
//! with a valid checksum follows it; any other damage, and any gap or repeat in lsns, is corruption.

use std::fs;
use std::path::Path;

use crate::error::{ReplayError, WalError, corrupted, io_error};
use crate::format::{self, FILE_HEADER_BYTES};
use crate::frame::{self, FrameError};
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
    dir: &Path,
    after_lsn: Lsn,
    replay: &mut Replay<'_>,
) -> Result<Recovered, WalError> {
    let listed = fsio::list_wal_files(dir)?;
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
        let bytes = fs::read(&path).map_err(io_error("read", &path))?;

        if is_last
            && bytes.len() <= FILE_HEADER_BYTES
            && format::decode_file_header(&bytes).is_err()
        {
            // A crash while creating the file: no frame was ever acknowledged in it (frames are
            // written only after the header and directory are fsynced), so it can go.
            remove_half_created(dir, &path, bytes.len(), &mut report)?;
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
            handle_bad_frame(&path, &bytes, &bad, is_last, &mut report)?;
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
    path: &Path,
    bytes: &[u8],
    bad: &BadFrame,
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
    let bytes_truncated = (bytes.len() - bad.offset) as u64;
    tracing::warn!(
        file = %path.display(),
        offset = bad.offset,
        bytes_truncated,
        error = %bad.error,
        "truncating torn tail of the write-ahead log"
    );
    fsio::truncate_file(path, bad.offset as u64)?;
    report.torn_tail = Some(TornTail {
        file: path.to_path_buf(),
        offset: bad.offset as u64,
        bytes_truncated,
    });
    Ok(())
}

/// Removes a last file whose header never became durable (see [`recover`]).
fn remove_half_created(
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
        });
    }
    fsio::remove_file_durably(dir, path)
}
