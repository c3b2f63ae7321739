//! A simulated file system for deterministic fault injection (tests; see STYLE.md, TigerBeetle
//! and redb): it can fail I/O after a countdown of operations, and [`SimFs::crash_image`]
//! rebuilds the exact files a crash leaves, from a seed.
//!
//! Model: every file has the bytes written (`volatile`) and the bytes made durable by its last
//! sync (`durable`); names created or removed become durable at the next `sync_dir` of their
//! directory. A crash keeps all durable state, and of what was not synced: an appended range is
//! kept for some prefix of its length, and within that prefix each 512-byte sector of the file
//! either reached the disk or reads as zeros (a write cut short, or a size update whose data
//! never landed); an unsynced truncation or name change either happened or did not.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::fsio::{Vfs, VfsFile};

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

#[derive(Debug, Clone, Default)]
struct SimFile {
    durable: Vec<u8>,
    volatile: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, SimFile>,
    /// Names as the running process sees them, and as the disk holds them.
    names: BTreeSet<PathBuf>,
    durable_names: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
    /// Mutating operations left before every later one fails (`None`: never).
    fail_after: Option<u64>,
    failed: bool,
    ops: u64,
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
                state.files.insert(path.clone(), SimFile { durable: bytes.clone(), volatile: bytes.clone() });
                state.names.insert(path.clone());
                state.durable_names.insert(path.clone());
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
        state.names.iter().filter_map(|p| state.files.get(p).map(|f| (p.clone(), f.volatile.clone()))).collect()
    }

    /// What a crash now leaves on disk, chosen by `rng` within the model (module doc).
    pub fn crash_image(&self, rng: &mut SimRng) -> Image {
        let state = self.state.lock();
        let mut out = Image::new();
        let candidates: BTreeSet<&PathBuf> = state.names.iter().chain(state.durable_names.iter()).collect();
        for path in candidates {
            let durable_name = state.durable_names.contains(path);
            let visible_name = state.names.contains(path);
            // An unsynced creation or removal happened or not.
            let exists = if durable_name == visible_name { durable_name } else { rng.chance(2) };
            if !exists {
                continue;
            }
            let Some(file) = state.files.get(path) else { continue };
            out.insert(path.clone(), crash_bytes(file, rng));
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
    if volatile.len() < durable.len() || volatile[..durable.len()] != durable[..] {
        // An unsynced truncation (the log only appends otherwise): it happened or not.
        return if rng.chance(2) { volatile.clone() } else { durable.clone() };
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

#[derive(Debug)]
struct SimHandle {
    fs: Arc<SimFs>,
    path: PathBuf,
}

impl VfsFile for SimHandle {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.fs.mutate()?;
        let file = state.files.get_mut(&self.path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.volatile.extend_from_slice(bytes);
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.fs.mutate()?;
        let file = state.files.get_mut(&self.path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.durable = file.volatile.clone();
        Ok(())
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// The simulated file system as a log's [`Vfs`]: wrap the `Arc` returned by [`SimFs::new`].
#[derive(Debug, Clone)]
pub struct SimVfs(pub Arc<SimFs>);

impl Vfs for SimVfs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.0.state.lock().dirs.insert(dir.to_owned());
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, bool)>> {
        let state = self.0.state.lock();
        Ok(state
            .names
            .iter()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(|n| (n.to_owned(), true)))
            .collect())
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = self.0.state.lock();
        if !state.names.contains(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(state.files.get(path).map(|f| f.volatile.clone()).unwrap_or_default())
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let mut state = self.0.mutate()?;
        if state.names.contains(path) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        state.names.insert(path.to_owned());
        state.files.insert(path.to_owned(), SimFile::default());
        Ok(Box::new(SimHandle { fs: self.0.clone(), path: path.to_owned() }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        if !self.0.state.lock().names.contains(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(Box::new(SimHandle { fs: self.0.clone(), path: path.to_owned() }))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.0.mutate()?;
        let file = state.files.get_mut(path).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.volatile.truncate(len as usize);
        file.durable = file.volatile.clone();
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.0.mutate()?;
        if !state.names.remove(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.0.mutate()?;
        let state = &mut *state;
        state.durable_names.retain(|p| p.parent() != Some(dir));
        let names: Vec<PathBuf> = state.names.iter().filter(|p| p.parent() == Some(dir)).cloned().collect();
        state.durable_names.extend(names);
        // Files whose names are gone everywhere are forgotten.
        let (names, durable) = (&state.names, &state.durable_names);
        state.files.retain(|p, _| names.contains(p) || durable.contains(p));
        Ok(())
    }
}
