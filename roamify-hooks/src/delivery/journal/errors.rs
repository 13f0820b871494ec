//! Why a journal does not open: in use by another process, damaged, or written by a newer
//! release.

use std::path::PathBuf;

#[cfg(doc)]
use super::JournalStore;
#[cfg(doc)]
use crate::delivery::StoreError;

/// Why [`JournalStore::open`] failed when another process holds the journal (its directory's
/// lock): the engine's error in the [`StoreError`] it returns, to tell this case from others.
///
/// ```no_run
/// use roamify_hooks::delivery::{JournalInUse, JournalStore};
///
/// match JournalStore::open("/var/lib/app/journal") {
///     Ok(_store) => {}
///     Err(error) => match error.backend_error::<JournalInUse>() {
///         Some(in_use) => eprintln!("stop the server of {} first", in_use.dir.display()),
///         None => eprintln!("{}", error.report()),
///     },
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{} is in use by another process (it holds the directory's lock)", .dir.display())]
pub struct JournalInUse {
    /// The journal's directory.
    pub dir: PathBuf,
}

/// Why [`JournalStore::open`] refused a journal whose files it cannot read without losing or
/// inventing deliveries: the engine's error in the [`StoreError`] it returns. Nothing was
/// changed in the directory.
///
/// A write that a crash cut short (a *torn* tail) is not damage: it held no acknowledged
/// delivery, and the journal opens without it. Damage is a record that does not read although
/// valid records of a later flush follow it.
///
/// ```no_run
/// use roamify_hooks::delivery::{JournalDamaged, JournalStore};
///
/// if let Err(error) = JournalStore::open("/var/lib/app/journal") {
///     if let Some(JournalDamaged::Corrupt { dir, .. }) = error.backend_error::<JournalDamaged>() {
///         eprintln!("run: roamify-hooks journal salvage {}", dir.display());
///     }
///     eprintln!("{}", error.report());
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalDamaged {
    /// A record (or a segment's header) does not read, and valid records of a later flush
    /// follow it.
    #[error(
        "{} is damaged at byte {offset}: records written after it are valid, so this is not the \
         torn tail of a write a crash cut short, and opening the journal would lose acknowledged \
         deliveries. Nothing was changed. Stop every process using {}, then run \
         `roamify-hooks journal salvage {}`: it keeps every record that can be read, writes a \
         fresh journal, moves the damaged files aside and reports what it could not read",
        .file.display(),
        .dir.display(),
        .dir.display()
    )]
    Corrupt {
        /// The journal's directory.
        dir: PathBuf,
        /// The damaged segment file.
        file: PathBuf,
        /// The offset in it of the first byte that does not read.
        offset: u64,
    },
    /// A file holds a format or a record this release does not know: it was written by a newer
    /// release.
    #[error(
        "{} holds {what} at byte {offset}, which this release does not know: the journal was \
         written by a newer release of roamify-hooks. Nothing was changed; open it with that \
         release or a later one",
        .file.display()
    )]
    Newer {
        /// The segment file.
        file: PathBuf,
        /// Where the unknown header or record is.
        offset: u64,
        /// What is unknown (a format version, a kind of record).
        what: String,
    },
}
