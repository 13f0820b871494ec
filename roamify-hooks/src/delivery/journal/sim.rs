//! A simulated disk for the journal's tests: it keeps what was written but not yet synced apart
//! from what is durable and, at a simulated power cut, keeps any part of it at page granularity
//! (nothing, everything, a prefix in write order, random pages, or all but a torn last page).
//!
//! - A name (a file or a directory created) is durable once its directory is synced; at a power
//!   cut, names that are not are gone, with what they held.
//! - A write or a sync can be made to fail (EIO, ENOSPC); a failed sync loses the file's unsynced
//!   pages, as Linux does after a writeback error.
//! - After the power is cut, every call fails until [`SimDisk::after_power_cut`] gives the disk
//!   as it comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::disk::{Disk, Segment};

/// Pages: what a power cut keeps or loses whole.
const PAGE: usize = 4096;
/// Sectors: how a torn page tears.
const SECTOR: usize = 512;

/// What a power cut keeps of the data written since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    Nothing,
    Everything,
    /// The first pages in write order (the count drawn at random).
    Prefix,
    /// Each page kept or lost at random.
    RandomPages,
    /// Every page but the last written, of which only the first sectors are kept.
    TornLast,
}

impl Cut {
    pub(super) const ALL: [Self; 5] = [
        Self::Nothing,
        Self::Everything,
        Self::Prefix,
        Self::RandomPages,
        Self::TornLast,
    ];
}

#[derive(Debug, Default, Clone)]
struct File {
    /// What reads see.
    current: Vec<u8>,
    /// What survives a power cut for sure.
    durable: Vec<u8>,
    /// Pages written since the last sync, in the order first written.
    dirty: Vec<usize>,
}

impl File {
    fn sync(&mut self) {
        self.durable.clone_from(&self.current);
        self.dirty.clear();
    }

    fn write(&mut self, bytes: &[u8], at: usize) {
        let end = at + bytes.len();
        if self.current.len() < end {
            self.current.resize(end, 0);
        }
        self.current[at..end].copy_from_slice(bytes);
        if bytes.is_empty() {
            return;
        }
        for page in at / PAGE..=(end - 1) / PAGE {
            if !self.dirty.contains(&page) {
                self.dirty.push(page);
            }
        }
    }

    /// The file after a power cut that keeps `kept` of its dirty pages (the last one only up
    /// to `torn` bytes when set).
    fn after_cut(&self, kept: &[usize], torn: Option<(usize, usize)>) -> Vec<u8> {
        let mut out = self.durable.clone();
        let mut copy = |page: usize, len: usize| {
            let from = page * PAGE;
            let to = (from + len).min(self.current.len());
            if from >= to {
                return;
            }
            if out.len() < to {
                out.resize(to, 0);
            }
            out[from..to].copy_from_slice(&self.current[from..to]);
        };
        for &page in kept {
            copy(page, PAGE);
        }
        if let Some((page, len)) = torn {
            copy(page, len);
        }
        out
    }
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, File>,
    /// Directories and files that exist, and those whose names are durable.
    names: BTreeSet<PathBuf>,
    durable_names: BTreeSet<PathBuf>,
    locked: BTreeSet<PathBuf>,
    /// Calls that change something (writes, syncs), counted.
    ops: u64,
    /// The power goes at this call.
    cut_at: Option<u64>,
    off: bool,
    /// This call fails with this error (the data it would have made durable lost).
    fail_at: Option<(u64, io::ErrorKind)>,
    /// Every directory synced, in order.
    dir_syncs: Vec<PathBuf>,
}

/// The simulated disk; clones share it.
#[derive(Debug, Clone, Default)]
pub(super) struct SimDisk(Arc<Mutex<State>>);

impl SimDisk {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a call that changes something: an error when the power is off (or goes now), or
    /// when this call is to fail.
    fn op(state: &mut State) -> io::Result<()> {
        if state.off {
            return Err(io::Error::other("the power is off"));
        }
        state.ops += 1;
        if state.cut_at.is_some_and(|at| state.ops >= at) {
            state.off = true;
            return Err(io::Error::other("the power is off"));
        }
        match state.fail_at {
            Some((at, kind)) if at == state.ops => Err(io::Error::from(kind)),
            _ => Ok(()),
        }
    }

    /// The power goes at the `n`th call from now that changes something.
    pub(super) fn cut_power_after(&self, n: u64) {
        let mut state = self.state();
        state.cut_at = Some(state.ops + n.max(1));
    }

    /// The `n`th call from now that changes something fails with `kind`.
    pub(super) fn fail_after(&self, n: u64, kind: io::ErrorKind) {
        let mut state = self.state();
        state.fail_at = Some((state.ops + n.max(1), kind));
    }

    pub(super) fn is_off(&self) -> bool {
        self.state().off
    }

    /// Cuts the power now (if it is still on).
    pub(super) fn cut_power(&self) {
        self.state().off = true;
    }

    /// Directories synced so far, in order.
    pub(super) fn dir_syncs(&self) -> Vec<PathBuf> {
        self.state().dir_syncs.clone()
    }

    /// The disk as it comes back after a power cut keeping `cut` of the unsynced data (`rng`
    /// draws which).
    pub(super) fn after_power_cut(&self, cut: Cut, rng: &mut fastrand::Rng) -> Self {
        let state = self.state();
        let mut files = BTreeMap::new();
        for (path, file) in &state.files {
            if !state.durable_names.contains(path) {
                continue;
            }
            let dirty = &file.dirty;
            let (kept, torn): (Vec<usize>, _) = match cut {
                Cut::Nothing => (Vec::new(), None),
                Cut::Everything => (dirty.clone(), None),
                Cut::Prefix => (dirty[..rng.usize(..=dirty.len())].to_vec(), None),
                Cut::RandomPages => (dirty.iter().copied().filter(|_| rng.bool()).collect(), None),
                Cut::TornLast => match dirty.split_last() {
                    Some((&last, rest)) => (
                        rest.to_vec(),
                        Some((last, rng.usize(0..PAGE / SECTOR) * SECTOR)),
                    ),
                    None => (Vec::new(), None),
                },
            };
            let bytes = file.after_cut(&kept, torn);
            let file = File {
                current: bytes.clone(),
                durable: bytes,
                dirty: Vec::new(),
            };
            files.insert(path.clone(), file);
        }
        let names = state.durable_names.clone();
        Self(Arc::new(Mutex::new(State {
            files,
            durable_names: names.clone(),
            names,
            ..State::default()
        })))
    }

    /// The bytes a file holds now (`None`: no such file).
    pub(super) fn read(&self, path: &Path) -> Option<Vec<u8>> {
        self.state().files.get(path).map(|f| f.current.clone())
    }

    /// Replaces a file's bytes, durably (to damage it).
    pub(super) fn replace(&self, path: &Path, bytes: Vec<u8>) {
        let mut state = self.state();
        if let Some(file) = state.files.get_mut(path) {
            file.current = bytes;
            file.sync();
        }
    }
}

impl Disk for SimDisk {
    fn open(&self, path: &Path, create: bool) -> io::Result<Option<Box<dyn Segment>>> {
        let mut state = self.state();
        if state.off {
            return Err(io::Error::other("the power is off"));
        }
        if !state.files.contains_key(path) {
            if !create {
                return Ok(None);
            }
            let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
            if !state.names.contains(&parent) {
                return Err(io::ErrorKind::NotFound.into());
            }
            state.files.insert(path.to_path_buf(), File::default());
            state.names.insert(path.to_path_buf());
        }
        let segment = SimSegment {
            disk: self.clone(),
            path: path.to_path_buf(),
        };
        Ok(Some(Box::new(segment)))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut state = self.state();
        Self::op(&mut state)?;
        let mut created: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| d.parent().is_some() && !state.names.contains(*d))
            .map(Path::to_path_buf)
            .collect();
        created.reverse();
        state.names.extend(created.iter().cloned());
        Ok(created)
    }

    fn lock(&self, dir: &Path) -> io::Result<Option<Box<dyn Debug + Send + Sync>>> {
        let mut state = self.state();
        if !state.locked.insert(dir.to_path_buf()) {
            return Ok(None);
        }
        Ok(Some(Box::new(SimLock {
            disk: self.clone(),
            dir: dir.to_path_buf(),
        })))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        Self::op(&mut state)?;
        state.dir_syncs.push(dir.to_path_buf());
        let children: Vec<PathBuf> = state
            .names
            .iter()
            .filter(|name| name.parent() == Some(dir))
            .cloned()
            .collect();
        state.durable_names.extend(children);
        if dir.parent().is_none() {
            state.durable_names.insert(dir.to_path_buf());
        }
        Ok(())
    }
}

#[derive(Debug)]
struct SimLock {
    disk: SimDisk,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.disk.state().locked.remove(&self.dir);
    }
}

#[derive(Debug)]
struct SimSegment {
    disk: SimDisk,
    path: PathBuf,
}

impl SimSegment {
    fn with<T>(&self, f: impl FnOnce(&mut File) -> T) -> io::Result<T> {
        let mut state = self.disk.state();
        let file = state
            .files
            .get_mut(&self.path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(f(file))
    }

    /// A call that changes something: counted, and failed when the power is off or the call is
    /// to fail (a failed sync loses the unsynced pages).
    fn change<T>(&self, sync: bool, f: impl FnOnce(&mut File) -> T) -> io::Result<T> {
        let mut state = self.disk.state();
        let result = SimDisk::op(&mut state);
        let file = state
            .files
            .get_mut(&self.path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        match result {
            Ok(()) => Ok(f(file)),
            Err(e) => {
                if sync {
                    file.current.clone_from(&file.durable);
                    file.dirty.clear();
                }
                Err(e)
            }
        }
    }
}

impl Segment for SimSegment {
    fn len(&self) -> io::Result<u64> {
        self.with(|file| file.current.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with(|file| {
            let at = usize::try_from(offset).unwrap_or(usize::MAX);
            let Some(bytes) = file.current.get(at..) else {
                return 0;
            };
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            n
        })
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let at = usize::try_from(offset).map_err(io::Error::other)?;
        self.change(false, |file| file.write(bytes, at))
    }

    fn sync_data(&self) -> io::Result<()> {
        self.change(true, File::sync)
    }

    fn sync_all(&self) -> io::Result<()> {
        self.change(true, File::sync)
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.change(false, |file| {
            file.current.truncate(len);
            file.dirty.retain(|&page| page * PAGE < len);
        })
    }
}
