//! redb's storage on the file system abstraction (`steward_wal::Vfs`), so the catalog's page
//! writes meet the same fault injection and crash model as the WAL and the segments.
//!
//! redb writes at every open (its integrity check ends in a repair commit) and at close. An
//! open that is then refused (a damaged segment or WAL file) must leave every file as it was,
//! the catalog included, so the backend can hold writes: while held, writes, lengths and syncs
//! are kept in memory in their order (reads see them) and reach the file only when released,
//! replayed with the same syncs between them, so a crash during the replay leaves what a crash
//! during the original writes could have. Dropped unreleased, the file is untouched.

use parking_lot::Mutex;
use redb::{BackendError, StorageBackend};
use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use steward_wal::VfsRandomFile;

fn whole_file(start: Bound<u64>, end: Bound<u64>) -> bool {
    matches!(start, Bound::Unbounded | Bound::Included(0)) && end == Bound::Unbounded
}

/// Bytes per page of the held view (redb's page size; any size works).
const HELD_PAGE_BYTES: u64 = 4096;

/// One operation on the file, in the order redb made it.
#[derive(Debug)]
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
    Sync,
}

/// Writes held back from the file, and the file as they make it look.
#[derive(Debug)]
struct Held {
    len: u64,
    /// Bytes of the file at or past this offset read as zeros (it was cut, then grown).
    cut: u64,
    /// Pages written while held, whole.
    pages: BTreeMap<u64, Vec<u8>>,
    log: Vec<Op>,
}

/// The state shared by redb's backend and the [`Catalog`](crate::Catalog) that releases it.
#[derive(Debug)]
pub(crate) struct BackendState {
    file: Box<dyn VfsRandomFile>,
    locked: AtomicBool,
    held: Mutex<Option<Held>>,
    /// A release failed part way: the file's state is unknown to redb, so every later
    /// operation fails (reopen to recover, as after a crash).
    failed: AtomicBool,
}

impl BackendState {
    /// A backend over `file`, holding its writes from the start when `hold` is set.
    pub(crate) fn new(file: Box<dyn VfsRandomFile>, hold: bool) -> io::Result<Arc<BackendState>> {
        let held = if hold {
            let len = file.len()?;
            Some(Held {
                len,
                cut: len,
                pages: BTreeMap::new(),
                log: Vec::new(),
            })
        } else {
            None
        };
        Ok(Arc::new(BackendState {
            file,
            locked: AtomicBool::new(false),
            held: Mutex::new(held),
            failed: AtomicBool::new(false),
        }))
    }

    /// Replays the held writes onto the file, with their syncs, and passes later ones through.
    pub(crate) fn release(&self) -> io::Result<()> {
        let mut held = self.held.lock();
        let Some(Held { log, .. }) = held.take() else {
            return Ok(());
        };
        for op in log {
            let done = match op {
                Op::Write(offset, bytes) => self.file.write_at(offset, &bytes),
                Op::SetLen(len) => self.file.set_len(len),
                Op::Sync => self.file.sync_data(),
            };
            if let Err(e) = done {
                self.failed.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        Ok(())
    }

    fn check(&self) -> io::Result<()> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(io::Error::other(
                "an earlier replay of held catalog writes failed; reopen the catalog",
            ));
        }
        Ok(())
    }

    /// Fills `out` with the file's bytes from `offset` as the held view sees them, outside pages.
    fn read_file(&self, held: &Held, offset: u64, out: &mut [u8]) -> io::Result<()> {
        out.fill(0);
        let end = (offset + out.len() as u64).min(held.cut);
        if offset < end {
            self.file
                .read_at(offset, &mut out[..(end - offset) as usize])?;
        }
        Ok(())
    }
}

/// The catalog file as redb's storage. Locking: the whole file or nothing (redb then falls back
/// to one whole-file lock), released at close.
#[derive(Debug)]
pub(crate) struct VfsBackend(pub(crate) Arc<BackendState>);

impl StorageBackend for VfsBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.0.check()?;
        match &*self.0.held.lock() {
            Some(held) => Ok(held.len),
            None => self.0.file.len(),
        }
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.0.check()?;
        let held = self.0.held.lock();
        let Some(held) = &*held else {
            return self.0.file.read_at(offset, out);
        };
        if offset
            .checked_add(out.len() as u64)
            .is_none_or(|end| end > held.len)
        {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut done = 0usize;
        while done < out.len() {
            let at = offset + done as u64;
            let (index, within) = (at / HELD_PAGE_BYTES, (at % HELD_PAGE_BYTES) as usize);
            let n = (HELD_PAGE_BYTES as usize - within).min(out.len() - done);
            match held.pages.get(&index) {
                Some(page) => out[done..done + n].copy_from_slice(&page[within..within + n]),
                None => self.0.read_file(held, at, &mut out[done..done + n])?,
            }
            done += n;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.0.check()?;
        let mut held = self.0.held.lock();
        let Some(held) = &mut *held else {
            return self.0.file.set_len(len);
        };
        if len < held.len {
            held.cut = held.cut.min(len);
            held.pages.retain(|index, _| index * HELD_PAGE_BYTES < len);
            if let Some(page) = held.pages.get_mut(&(len / HELD_PAGE_BYTES)) {
                page[(len % HELD_PAGE_BYTES) as usize..].fill(0);
            }
        }
        held.len = len;
        held.log.push(Op::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.0.check()?;
        let mut held = self.0.held.lock();
        let Some(held) = &mut *held else {
            return self.0.file.sync_data();
        };
        held.log.push(Op::Sync);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.0.check()?;
        let mut guard = self.0.held.lock();
        let Some(held) = &mut *guard else {
            return self.0.file.write_at(offset, data);
        };
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let (index, within) = (at / HELD_PAGE_BYTES, (at % HELD_PAGE_BYTES) as usize);
            let n = (HELD_PAGE_BYTES as usize - within).min(data.len() - done);
            if !held.pages.contains_key(&index) {
                let mut page = vec![0u8; HELD_PAGE_BYTES as usize];
                self.0.read_file(held, index * HELD_PAGE_BYTES, &mut page)?;
                held.pages.insert(index, page);
            }
            if let Some(page) = held.pages.get_mut(&index) {
                page[within..within + n].copy_from_slice(&data[done..done + n]);
            }
            done += n;
        }
        held.len = held.len.max(offset + data.len() as u64);
        held.log.push(Op::Write(offset, data.to_vec()));
        Ok(())
    }

    fn close(&self) -> Result<(), io::Error> {
        if self.0.locked.swap(false, Ordering::SeqCst) {
            self.0.file.unlock()?;
        }
        Ok(())
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        if !whole_file(start, end) {
            return Err(BackendError::Unsupported);
        }
        let taken = self.0.file.try_lock().map_err(BackendError::Io)?;
        if taken {
            self.0.locked.store(true, Ordering::SeqCst);
        }
        Ok(taken)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        if !whole_file(start, end) {
            return Err(BackendError::Unsupported);
        }
        if self.0.locked.swap(false, Ordering::SeqCst) {
            self.0.file.unlock().map_err(BackendError::Io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_wal::Vfs;
    use steward_wal::sim::{SimFs, SimVfs};

    #[test]
    fn held_writes_read_back_never_reach_the_file_unreleased_and_replay_in_order() {
        let fs = SimFs::new();
        let vfs = SimVfs(fs.clone());
        let path = std::path::Path::new("/x/file");
        vfs.open_random(path, true)
            .unwrap()
            .write_at(0, &[7u8; 10_000])
            .unwrap();
        let before = fs.visible_image();
        let state = BackendState::new(vfs.open_random(path, false).unwrap(), true).unwrap();
        let backend = VfsBackend(state.clone());
        backend.write(4090, &[1u8; 20]).unwrap();
        backend.sync_data().unwrap();
        backend.set_len(9_000).unwrap();
        backend.set_len(12_000).unwrap();
        let mut out = vec![0u8; 12_000];
        backend.read(0, &mut out).unwrap();
        assert!(out[..4090].iter().all(|&b| b == 7) && out[4090..4110].iter().all(|&b| b == 1));
        assert!(
            out[4110..9_000].iter().all(|&b| b == 7) && out[9_000..].iter().all(|&b| b == 0),
            "cut, then grown: zeros"
        );
        assert!(backend.read(11_999, &mut [0u8; 2]).is_err(), "past the end");
        assert_eq!(fs.visible_image(), before, "nothing reached the file");
        state.release().unwrap();
        let after = fs.visible_image();
        assert_eq!(after[path], out, "released: the file is what the reads saw");
        backend.write(0, &[2u8; 3]).unwrap();
        assert_eq!(
            &fs.visible_image()[path][..4],
            &[2, 2, 2, 7],
            "after release writes pass through"
        );
    }
}
