//! The journal's only door to the file system: a [`Disk`] that opens segment files and syncs
//! directories, and the [`Segment`] files it gives.
//!
//! The store runs on [`OsDisk`]; its tests run the same store on a simulated disk that keeps
//! written-but-unsynced data apart and, at a simulated power cut, loses or tears it (see
//! `sim.rs`). Everything the journal's durability rests on is in these few calls: a write is
//! durable once [`Segment::sync_data`] has returned, a file's name once its directory has been
//! synced with [`Disk::sync_dir`].

use std::fmt::Debug;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// A file system as the journal uses it.
pub(super) trait Disk: Debug + Send + Sync {
    /// Opens the segment file at `path` for reading and writing, creating it (empty) when
    /// `create` is set and it does not exist; `Ok(None)` when it does not exist and `create` is
    /// not set.
    fn open(&self, path: &Path, create: bool) -> io::Result<Option<Box<dyn Segment>>>;

    /// Creates `dir` and its missing parents; the directories created, outermost first.
    fn create_dir_all(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;

    /// Takes the lock of the journal in `dir`, held until the value returned is dropped;
    /// `Ok(None)` when another process holds it.
    fn lock(&self, dir: &Path) -> io::Result<Option<Box<dyn Debug + Send + Sync>>>;

    /// Makes the names in `dir` (files created, renamed or removed in it) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// One segment file.
pub(super) trait Segment: Debug + Send + Sync {
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;

    /// Reads `buf.len()` bytes at `offset`, or fewer at the end of the file; how many.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Writes all of `bytes` at `offset` (not yet durable).
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;

    /// Makes every byte written before this call durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;

    /// Makes the contents and the length durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;

    /// Cuts the file to `len` bytes (not yet durable).
    fn truncate(&self, len: u64) -> io::Result<()>;
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OsDisk;

impl Disk for OsDisk {
    fn open(&self, path: &Path, create: bool) -> io::Result<Option<Box<dyn Segment>>> {
        match OpenOptions::new()
            .create(create)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(file) => Ok(Some(Box::new(OsSegment(file)))),
            Err(e) if !create && e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|dir| !dir.as_os_str().is_empty() && !dir.is_dir())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        std::fs::create_dir_all(dir)?;
        Ok(missing)
    }

    fn lock(&self, dir: &Path) -> io::Result<Option<Box<dyn Debug + Send + Sync>>> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(Box::new(lock))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    #[cfg(unix)]
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    #[cfg(not(unix))]
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct OsSegment(File);

impl Segment for OsSegment {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match self.0.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    #[cfg(not(unix))]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = &self.0;
        file.seek(SeekFrom::Start(offset))?;
        let mut done = 0;
        while done < buf.len() {
            match file.read(&mut buf[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    #[cfg(unix)]
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, bytes, offset)
    }

    #[cfg(not(unix))]
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = &self.0;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

/// Reads exactly `buf.len()` bytes at `offset`; `false` when the file ends first.
pub(super) fn read_exact_at(
    segment: &dyn Segment,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<bool> {
    Ok(segment.read_at(buf, offset)? == buf.len())
}
