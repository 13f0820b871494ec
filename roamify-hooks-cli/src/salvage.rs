//! `roamify-hooks journal salvage <dir>`: a journal the server refused as damaged, rewritten
//! with every record that still reads.

use std::fmt::Write as _;
use std::path::Path;

use roamify_hooks::delivery::{JournalOptions, JournalStore, Salvaged, StoreError};

/// Salvages the journal in `dir` (see [`JournalStore::salvage`]).
///
/// # Errors
/// As [`JournalStore::salvage`]: the journal in use, no journal, or I/O.
pub fn salvage(dir: &Path) -> Result<Salvaged, StoreError> {
    JournalStore::salvage(dir, &JournalOptions::default())
}

/// What an operator reads after a salvage.
#[must_use]
pub fn report(dir: &Path, salvaged: &Salvaged) -> String {
    let counts = &salvaged.counts;
    let mut out = format!(
        "salvaged {}: {} records read; the fresh journal holds {} pending and {} dead\n",
        dir.display(),
        salvaged.records,
        counts.pending(),
        counts.dead,
    );
    if salvaged.unreadable.is_empty() {
        out.push_str("every record read\n");
    } else {
        let bytes: u64 = salvaged.unreadable.iter().map(|(_, a, b)| b - a).sum();
        let _ = writeln!(
            out,
            "could not read {bytes} bytes in {} places (deliveries recorded there are lost; \
             outcomes recorded there make their deliveries run again):",
            salvaged.unreadable.len()
        );
        for (file, from, to) in &salvaged.unreadable {
            let _ = writeln!(out, "  {} bytes {from}..{to}", file.display());
        }
    }
    let _ = writeln!(
        out,
        "the damaged files are kept in {}",
        salvaged.kept_aside.display()
    );
    out
}
