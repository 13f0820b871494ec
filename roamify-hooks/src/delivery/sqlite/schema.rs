//! The schema of the SQLite store, created or migrated on open.

use rusqlite::{Connection, TransactionBehavior};

use super::backend;
use super::rows::Row;
use crate::delivery::StoreError;

/// The schema version this release writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 5;

/// Creates the schema, or brings an older one to [`SCHEMA_VERSION`], in one transaction that
/// holds the write lock: several processes starting at once migrate once.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let fail = backend("migrate the schema");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&fail)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(&fail)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::backend(
            "migrate the schema",
            format!(
                "the database has schema version {version}, newer than this release's {SCHEMA_VERSION}"
            ),
        ));
    }
    if version < 1 {
        // Version 1 (also what releases before versioning created, with user_version 0).
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS deliveries (
                 key TEXT PRIMARY KEY,
                 body BLOB NOT NULL,
                 state INTEGER NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 due_ms INTEGER NOT NULL,
                 lease INTEGER NOT NULL DEFAULT 0,
                 received_ms INTEGER NOT NULL,
                 error TEXT
             );
             CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, due_ms);",
        )
        .map_err(&fail)?;
    }
    if version < 2 {
        // Version 2: each row's own dedupe expiry (done rows are purged by it through the
        // `(state, due_ms)` index), and counters shared by every process using the file.
        tx.execute_batch(&format!(
            "ALTER TABLE deliveries ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;
             UPDATE deliveries SET expires_ms = received_ms + 86400000;
             UPDATE deliveries SET due_ms = expires_ms WHERE state = {done};
             CREATE TABLE roamify_meta (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 pending INTEGER NOT NULL,
                 next_lease INTEGER NOT NULL
             );
             INSERT INTO roamify_meta (id, pending, next_lease)
                 SELECT 1,
                        (SELECT count(*) FROM deliveries WHERE state IN ({ready}, {leased})),
                        (SELECT coalesce(max(lease), 0) FROM deliveries);
             PRAGMA user_version = 2;",
            done = Row::Done.code(),
            ready = Row::Ready.code(),
            leased = Row::Leased.code(),
        ))
        .map_err(&fail)?;
    }
    if version < 3 {
        // Version 3: the holder of each lease (0: none, or leased by a release before 3, whose
        // leases end with their visibility timeout).
        tx.execute_batch(
            "ALTER TABLE deliveries ADD COLUMN holder INTEGER NOT NULL DEFAULT 0;
             PRAGMA user_version = 3;",
        )
        .map_err(&fail)?;
    }
    if version < 4 {
        // Version 4: ordering. Each delivery's stream, signed timestamp and whether its stream
        // is serial; serial deliveries waiting behind their stream's pending one (a state of
        // their own, out of the lease's scan), found through an index of the serial rows not
        // finished (so it stays the size of what is pending, and in SQLite's cache); each
        // stream's mark, in one B-tree keyed by the stream (WITHOUT ROWID, and no index on
        // `moved_ms`: each mark moved writes one page, not three; the purge scans).
        tx.execute_batch(&format!(
            "ALTER TABLE deliveries ADD COLUMN stream TEXT;
             ALTER TABLE deliveries ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE deliveries ADD COLUMN serial INTEGER NOT NULL DEFAULT 0;
             CREATE INDEX deliveries_serial ON deliveries (stream, state)
                 WHERE serial = 1 AND state <> {done};
             CREATE TABLE marks (
                 stream TEXT PRIMARY KEY,
                 at INTEGER NOT NULL,
                 moved_ms INTEGER NOT NULL
             ) WITHOUT ROWID;
             PRAGMA user_version = 4;",
            done = Row::Done.code(),
        ))
        .map_err(&fail)?;
    }
    if version < 5 {
        // Version 5: the delivery history (`history`).
        tx.execute_batch(&format!(
            "{}\nPRAGMA user_version = 5;",
            super::history::SCHEMA
        ))
        .map_err(&fail)?;
    }
    tx.commit().map_err(fail)
}
