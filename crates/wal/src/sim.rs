//! A simulated file system for deterministic fault injection (tests; see STYLE.md, TigerBeetle
//! and redb): it can fail I/O after a countdown of operations, and [`SimFs::crash_image`]
//! rebuilds the exact files a crash leaves, from a seed.
//!
//! Model: a name points at a file (an inode, so a renamed or still-open file keeps its bytes);
//! every file has the bytes written (`volatile`) and the bytes made durable by its last sync
//! (`durable`). Names created, renamed or removed become durable at the next `sync_dir` of their
//! directory; until then a crash keeps each such name as it was or as it is, independently,
//! except that a rename is atomic: a file renamed from a durable name is found after a crash
//! under its old name, its new one, or both, never under neither. Of the data not synced, a
//! crash keeps:
//! - for a file only appended to since its last sync (the log): some prefix of the appended
//!   range, within which each 512-byte sector either reached the disk or reads as zeros (a write
//!   cut short, or a size update whose data never landed);
//! - for a file written in place, sized or cut (the catalog, opened for random access): the old
//!   or the new length, and each 512-byte sector that changed reads whole as its old or its new
//!   content (zeros where that version had no bytes).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::fsio::{ReadSource, Vfs, VfsFile, VfsRandomFile};

/// Sector size of the crash model: the unit a crash keeps or loses.
pub const SECTOR_BYTES: usize = 512;

/// A small deterministic PRNG (xorshift64*), so a seed replays the same run on every platform
/// and with every dependency version.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

type Inode = u64;

#[derive(Debug, Clone, Default)]
struct SimFile {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    /// Written in place or sized with `set_len` (a random-access file): its length after a
    /// crash is one it was set to, never a prefix of an append.
    in_place: bool,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<Inode, SimFile>,
    next_inode: Inode,
    /// Names as the running process sees them, and as the disk holds them.
    names: BTreeMap<PathBuf, Inode>,
    durable_names: BTreeMap<PathBuf, Inode>,
    dirs: BTreeSet<PathBuf>,
    /// Files locked by an open handle.
    locked: BTreeSet<Inode>,
    /// Renames of a durably named file whose new name is not durable yet: `(from, to, inode)`.
    renames: Vec<(PathBuf, PathBuf, Inode)>,
    /// Mutating operations left before every later one fails (`None`: never).
    fail_after: Option<u64>,
    failed: bool,
    ops: u64,
}

impl State {
    fn inode(&self, path: &Path) -> io::Result<Inode> {
        self.names
            .get(path)
            .copied()
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn file(&self, inode: Inode) -> io::Result<&SimFile> {
        self.files
            .get(&inode)
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn file_mut(&mut self, inode: Inode) -> io::Result<&mut SimFile> {
        self.files
            .get_mut(&inode)
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn create(&mut self, path: &Path) -> Inode {
        let inode = self.next_inode;
        self.next_inode += 1;
        self.files.insert(inode, SimFile::default());
        self.names.insert(path.to_owned(), inode);
        inode
    }
}

/// The simulated file system; clone the `Arc` to share it with a log.
#[derive(Debug, Default)]
pub struct SimFs {
    state: Mutex<State>,
}

/// The files a crash left: path → bytes.
pub type Image = BTreeMap<PathBuf, Vec<u8>>;

impl SimFs {
    pub fn new() -> Arc<SimFs> {
        Arc::new(SimFs::default())
    }

    /// A file system holding `image`, all of it durable (the state after a reboot).
    pub fn from_image(image: &Image) -> Arc<SimFs> {
        let fs = SimFs::default();
        {
            let mut state = fs.state.lock();
            for (path, bytes) in image {
                if let Some(dir) = path.parent() {
                    state.dirs.insert(dir.to_owned());
                }
                let inode = state.create(path);
                state.files.insert(
                    inode,
                    SimFile {
                        durable: bytes.clone(),
                        volatile: bytes.clone(),
                        in_place: false,
                    },
                );
                state.durable_names.insert(path.clone(), inode);
            }
        }
        Arc::new(fs)
    }

    /// Every mutating operation after the next `ops` fails (a disk that went away), and so does
    /// everything after it.
    pub fn fail_after(&self, ops: u64) {
        let mut state = self.state.lock();
        state.fail_after = Some(ops);
    }

    /// Whether an injected failure has happened.
    pub fn has_failed(&self) -> bool {
        self.state.lock().failed
    }

    /// Mutating operations performed so far.
    pub fn ops(&self) -> u64 {
        self.state.lock().ops
    }

    /// The files as the process sees them now (everything written, synced or not).
    pub fn visible_image(&self) -> Image {
        let state = self.state.lock();
        state
            .names
            .iter()
            .filter_map(|(p, inode)| {
                state
                    .files
                    .get(inode)
                    .map(|f| (p.clone(), f.volatile.clone()))
            })
            .collect()
    }

    /// What a crash now leaves on disk, chosen by `rng` within the model (module doc).
    pub fn crash_image(&self, rng: &mut SimRng) -> Image {
        let state = self.state.lock();
        let mut out = Image::new();
        let mut contents: BTreeMap<Inode, Vec<u8>> = BTreeMap::new();
        let candidates: BTreeSet<&PathBuf> = state
            .names
            .keys()
            .chain(state.durable_names.keys())
            .collect();
        for path in candidates {
            let durable = state.durable_names.get(path).copied();
            let visible = state.names.get(path).copied();
            // An unsynced creation, removal or rename happened or not, name by name.
            let inode = if durable == visible || rng.chance(2) {
                visible
            } else {
                durable
            };
            let Some(inode) = inode else { continue };
            let Some(file) = state.files.get(&inode) else {
                continue;
            };
            let bytes = match contents.get(&inode) {
                Some(bytes) => bytes.clone(),
                None => {
                    let bytes = crash_bytes(file, rng);
                    contents.insert(inode, bytes.clone());
                    bytes
                }
            };
            out.insert(path.clone(), bytes);
        }
        // A rename is atomic: a file it moved is under one of its names.
        for (from, to, inode) in &state.renames {
            if contents.contains_key(inode) {
                continue;
            }
            let Some(file) = state.files.get(inode) else {
                continue;
            };
            let name = if out.contains_key(to) || rng.chance(2) {
                from
            } else {
                to
            };
            let bytes = crash_bytes(file, rng);
            contents.insert(*inode, bytes.clone());
            out.insert(name.clone(), bytes);
        }
        out
    }

    fn mutate(&self) -> io::Result<parking_lot::MutexGuard<'_, State>> {
        let mut state = self.state.lock();
        state.ops += 1;
        if state.failed {
            return Err(io::Error::other("injected failure (the disk is gone)"));
        }
        if let Some(left) = state.fail_after.as_mut() {
            if *left == 0 {
                state.failed = true;
                return Err(io::Error::other("injected failure"));
            }
            *left -= 1;
        }
        Ok(state)
    }
}

/// The bytes of one file after a crash.
fn crash_bytes(file: &SimFile, rng: &mut SimRng) -> Vec<u8> {
    let (durable, volatile) = (&file.durable, &file.volatile);
    let appended = volatile.len() >= durable.len() && volatile[..durable.len()] == durable[..];
    if file.in_place || !appended {
        return crash_bytes_in_place(durable, volatile, rng);
    }
    if volatile.len() == durable.len() {
        return durable.clone();
    }
    // Appended, not synced: some prefix of the new length, and each sector of it on disk or zeros.
    let extra = volatile.len() - durable.len();
    let kept = match rng.below(4) {
        0 => 0,
        1 => extra,
        _ => rng.below(extra as u64 + 1) as usize,
    };
    let mut out = volatile[..durable.len() + kept].to_vec();
    let first_sector = durable.len() / SECTOR_BYTES;
    let last_sector = out.len().div_ceil(SECTOR_BYTES);
    for sector in first_sector..last_sector {
        if rng.chance(3) {
            let lo = (sector * SECTOR_BYTES).max(durable.len());
            let hi = ((sector + 1) * SECTOR_BYTES).min(out.len());
            out[lo..hi].fill(0);
        }
    }
    out
}

/// A file written in place or cut since its last sync: the old or the new length, and every
/// sector whole as its old or its new content.
fn crash_bytes_in_place(durable: &[u8], volatile: &[u8], rng: &mut SimRng) -> Vec<u8> {
    let len = if rng.chance(2) {
        durable.len()
    } else {
        volatile.len()
    };
    let mut out = vec![0u8; len];
    let padded = |bytes: &[u8], lo: usize, hi: usize| -> Vec<u8> {
        let mut sector = vec![0u8; hi - lo];
        if lo < bytes.len() {
            let end = hi.min(bytes.len());
            sector[..end - lo].copy_from_slice(&bytes[lo..end]);
        }
        sector
    };
    for sector in 0..len.div_ceil(SECTOR_BYTES) {
        let lo = sector * SECTOR_BYTES;
        let hi = (lo + SECTOR_BYTES).min(len);
        let (old, new) = (padded(durable, lo, hi), padded(volatile, lo, hi));
        let landed = old == new || rng.chance(2);
        out[lo..hi].copy_from_slice(if landed { &new } else { &old });
    }
    out
}

#[derive(Debug)]
struct SimHandle {
    fs: Arc<SimFs>,
    inode: Inode,
}

impl VfsFile for SimHandle {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.fs.mutate()?;
        state
            .file_mut(self.inode)?
            .volatile
            .extend_from_slice(bytes);
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.fs.mutate()?;
        let file = state.file_mut(self.inode)?;
        file.durable = file.volatile.clone();
        Ok(())
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl VfsRandomFile for SimHandle {
    fn len(&self) -> io::Result<u64> {
        Ok(self.fs.state.lock().file(self.inode)?.volatile.len() as u64)
    }
    fn read_at(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let state = self.fs.state.lock();
        let bytes = &state.file(self.inode)?.volatile;
        let start =
            usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let end = start
            .checked_add(out.len())
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(&bytes[start..end]);
        Ok(())
    }
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.fs.mutate()?;
        let file = state.file_mut(self.inode)?;
        file.in_place = true;
        let start =
            usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let end = start + bytes.len();
        if file.volatile.len() < end {
            file.volatile.resize(end, 0);
        }
        file.volatile[start..end].copy_from_slice(bytes);
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.fs.mutate()?;
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let file = state.file_mut(self.inode)?;
        file.in_place = true;
        file.volatile.resize(len, 0);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.fs.mutate()?;
        let file = state.file_mut(self.inode)?;
        file.durable = file.volatile.clone();
        Ok(())
    }
    fn try_lock(&self) -> io::Result<bool> {
        Ok(self.fs.state.lock().locked.insert(self.inode))
    }
    fn unlock(&self) -> io::Result<()> {
        self.fs.state.lock().locked.remove(&self.inode);
        Ok(())
    }
}

/// The simulated file system as a [`Vfs`]: wrap the `Arc` returned by [`SimFs::new`].
#[derive(Debug, Clone)]
pub struct SimVfs(pub Arc<SimFs>);

impl SimVfs {
    fn handle(&self, path: &Path) -> io::Result<SimHandle> {
        let inode = self.0.state.lock().inode(path)?;
        Ok(SimHandle {
            fs: self.0.clone(),
            inode,
        })
    }
}

impl Vfs for SimVfs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.0.state.lock().dirs.insert(dir.to_owned());
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, bool)>> {
        let state = self.0.state.lock();
        Ok(state
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .map(|n| (n.to_owned(), true))
            })
            .collect())
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.0.state.lock();
        Ok(state.file(state.inode(path)?)?.volatile.clone())
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let mut state = self.0.mutate()?;
        if state.names.contains_key(path) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        let inode = state.create(path);
        Ok(Box::new(SimHandle {
            fs: self.0.clone(),
            inode,
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(self.handle(path)?))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.0.mutate()?;
        let inode = state.inode(path)?;
        let file = state.file_mut(inode)?;
        file.volatile.truncate(len as usize);
        file.durable = file.volatile.clone();
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.0.mutate()?;
        state
            .names
            .remove(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.0.mutate()?;
        let state = &mut *state;
        state.durable_names.retain(|p, _| p.parent() != Some(dir));
        let names: Vec<(PathBuf, Inode)> = state
            .names
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        state.durable_names.extend(names);
        // Files no name points at, on disk or in the process, are forgotten.
        let (names, durable) = (&state.names, &state.durable_names);
        let referenced: BTreeSet<Inode> = names.values().chain(durable.values()).copied().collect();
        state.files.retain(|inode, _| referenced.contains(inode));
        // A rename whose new name is durable is done.
        let durable = &state.durable_names;
        state
            .renames
            .retain(|(_, to, inode)| durable.get(to) != Some(inode));
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.0.mutate()?;
        let inode = state
            .names
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        state.names.insert(to.to_owned(), inode);
        if state.durable_names.get(from) == Some(&inode) {
            state.renames.push((from.to_owned(), to.to_owned(), inode));
        }
        Ok(())
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let state = self.0.state.lock();
        Ok(state.file(state.inode(path)?)?.volatile.len() as u64)
    }
    fn open_read(&self, path: &Path) -> io::Result<ReadSource> {
        Ok(ReadSource::Bytes(self.read(path)?))
    }
    fn open_random(&self, path: &Path, create: bool) -> io::Result<Box<dyn VfsRandomFile>> {
        if let Ok(handle) = self.handle(path) {
            return Ok(Box::new(handle));
        }
        if !create {
            return Err(io::ErrorKind::NotFound.into());
        }
        let mut state = self.0.mutate()?;
        let inode = state.create(path);
        Ok(Box::new(SimHandle {
            fs: self.0.clone(),
            inode,
        }))
    }
}
