//! Ordering on SQLite ([`crate::ordering`]): each stream's mark in table `marks`, and the gate
//! of serial streams as a row state: a serial delivery enqueued while another of its stream is
//! pending (ready, leased or retrying) waits as [`Row::Waiting`], out of the lease's scan, until
//! that one is finished for good. Every write runs in the owner's `IMMEDIATE` transaction, so
//! check and change are atomic across the processes sharing the file.

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::Row;
use crate::ordering::Order;

/// The statements on a serial stream's deliveries. Each says `serial = 1 AND state <> Done`,
/// the index `deliveries_serial`'s own condition, so SQLite uses that index (it matches a
/// partial index's condition by its terms).
static SERIAL: LazyLock<[String; 2]> = LazyLock::new(|| {
    let done = Row::Done.code();
    [
        format!(
            "SELECT 1 FROM deliveries WHERE stream = ?1 AND serial = 1 AND state <> {done}
                 AND state IN (?2, ?3) AND key <> ?4 LIMIT 1"
        ),
        format!(
            "UPDATE deliveries SET state = ?2, due_ms = ?3 WHERE rowid =
                 (SELECT rowid FROM deliveries WHERE stream = ?1 AND serial = 1 AND state <> {done}
                  AND state = ?4 ORDER BY received_ms, rowid LIMIT 1)"
        ),
    ]
});

/// The state the pending delivery `key` starts in (new, replayed, or stored again once its
/// window ended): waiting behind its serial stream's pending delivery, if another one is
/// pending; ready otherwise.
pub(super) fn first_state(
    tx: &Connection,
    key: &str,
    order: Option<&Order>,
) -> rusqlite::Result<Row> {
    let Some(order) = order.filter(|o| o.serial) else {
        return Ok(Row::Ready);
    };
    let held = tx
        .prepare_cached(&SERIAL[0])?
        .query_row(params![order.stream, Row::Ready, Row::Leased, key], |_| {
            Ok(())
        })
        .optional()?;
    Ok(if held.is_some() {
        Row::Waiting
    } else {
        Row::Ready
    })
}

/// A serial delivery of `stream` is finished for good: the oldest one waiting behind it becomes
/// due now.
pub(super) fn open_gate(tx: &Connection, stream: &str, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(&SERIAL[1])?
        .execute(params![stream, Row::Ready, now, Row::Waiting])?;
    Ok(())
}

/// Compares `order`'s timestamp with its stream's mark (one kept less than `retention_ms`):
/// `Some(newest)` when the delivery is stale; otherwise the mark moves to it and `None`.
pub(super) fn advance(
    tx: &Connection,
    order: &Order,
    retention_ms: i64,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    // One statement in the common case: the mark moves unless it is newer (and still kept).
    let moved = tx
        .prepare_cached(
            "INSERT INTO marks (stream, at, moved_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (stream) DO UPDATE SET at = excluded.at, moved_ms = excluded.moved_ms
                 WHERE marks.at <= excluded.at OR marks.moved_ms <= ?4",
        )?
        .execute(params![
            order.stream,
            order.at,
            now,
            now.saturating_sub(retention_ms)
        ])?;
    if moved == 1 {
        return Ok(None);
    }
    tx.prepare_cached("SELECT at FROM marks WHERE stream = ?1")?
        .query_row(params![order.stream], |r| r.get(0))
        .optional()
}

/// Deletes up to `limit` marks that have not moved since `before` (a scan: marks have no index
/// but their stream); how many.
pub(super) fn purge(tx: &Connection, before: i64, limit: i64) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "DELETE FROM marks WHERE stream IN (SELECT stream FROM marks WHERE moved_ms < ?1 LIMIT ?2)",
    )?
    .execute(params![before, limit])
}

/// The order stored in a row's `stream`, `at` and `serial` columns.
pub(super) fn from_columns(stream: Option<String>, at: i64, serial: bool) -> Option<Order> {
    stream.map(|stream| Order::new(stream, at, serial))
}
