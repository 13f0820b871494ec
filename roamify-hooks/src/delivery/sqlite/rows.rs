//! The statements on the `deliveries` table, and the one place row states become numbers.

use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::ms;
use super::order::{self, from_columns};
use super::owner::Meta;
use crate::delivery::backend::PURGE_BATCH;
use crate::delivery::store::{
    DeadLetter, Enqueued, Incoming, Job, Resolution, Settlement, StoreCounts, StoreLimits,
};
use crate::time::UnixTime;

/// A row's state, stored as a number in column `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Row {
    /// Waiting for a worker (a retry: once `due_ms` has come).
    Ready,
    /// Leased until `due_ms`, by `holder`.
    Leased,
    /// Finished: its key stays known (no body) until `due_ms`, its window's end.
    Done,
    /// A dead letter, since `due_ms`.
    Dead,
    /// A serial delivery waiting behind its stream's pending one (see `order.rs`).
    Waiting,
}

impl Row {
    /// The number stored for the state: the only place it is written.
    pub(super) const fn code(self) -> i64 {
        match self {
            Self::Ready => 0,
            Self::Leased => 1,
            Self::Done => 2,
            Self::Dead => 3,
            Self::Waiting => 4,
        }
    }

    fn from_code(code: i64) -> Option<Self> {
        [
            Self::Ready,
            Self::Leased,
            Self::Done,
            Self::Dead,
            Self::Waiting,
        ]
        .into_iter()
        .find(|state| state.code() == code)
    }
}

impl ToSql for Row {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Integer(self.code())))
    }
}

/// The query of due rows in `state` (ready or leased). The state is written in, and the limit
/// cast: SQLite (whose bundled build enables STAT4) plans with the values bound to a `LIMIT ?`
/// or an indexed column's `?` and re-prepares the statement whenever they change — as the
/// number of free worker slots does on every lease — which cost a full SQL parse per lease.
pub(super) fn due_query(state: Row) -> &'static str {
    static QUERIES: LazyLock<[String; 2]> = LazyLock::new(|| {
        [Row::Ready, Row::Leased].map(|state| {
            format!(
                "SELECT rowid, key, body, attempts, stream, at, serial FROM deliveries WHERE state = {} AND due_ms <= ?1 AND (kind IS NULL OR kind NOT IN (SELECT kind FROM paused)) ORDER BY due_ms LIMIT CAST(?2 AS INTEGER)",
                state.code()
            )
        })
    });
    &QUERIES[usize::from(state != Row::Ready)]
}

pub(super) fn counts(tx: &Connection, now: i64) -> Result<StoreCounts, rusqlite::Error> {
    let mut counts = StoreCounts::default();
    let mut query = tx.prepare_cached(
        "SELECT state, due_ms > ?1, count(*) FROM deliveries WHERE state IN (?2, ?3, ?4, ?5) GROUP BY 1, 2",
    )?;
    let rows = query.query_map(
        params![now, Row::Ready, Row::Leased, Row::Dead, Row::Waiting],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    )?;
    for row in rows {
        let (state, later, n) = row?;
        let n = usize::try_from(n).unwrap_or(0);
        match (Row::from_code(state), later) {
            (Some(Row::Ready), false) | (Some(Row::Waiting), _) => counts.ready += n,
            (Some(Row::Ready), true) => counts.retrying += n,
            (Some(Row::Leased), _) => counts.leased += n,
            (Some(Row::Dead), _) => counts.dead += n,
            (Some(Row::Done) | None, _) => {}
        }
    }
    Ok(counts)
}

pub(super) fn enqueue(
    tx: &Connection,
    meta: &mut Meta,
    delivery: &Incoming,
    hid: Option<i64>,
    limits: StoreLimits,
    now: i64,
) -> Result<Enqueued, rusqlite::Error> {
    let Incoming {
        key, body, order, ..
    } = delivery;
    let kind = delivery.described().name();
    let (stream, at, serial) = order
        .as_ref()
        .map_or((None, 0, false), |o| (Some(&o.stream), o.at, o.serial));
    let known: Option<(i64, i64)> = tx
        .prepare_cached("SELECT expires_ms, state FROM deliveries WHERE key = ?1")?
        .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let expires = now.saturating_add(ms(limits.window));
    Ok(match known {
        Some((until, _)) if now < until => Enqueued::Duplicate,
        _ if usize::try_from(meta.pending).unwrap_or(0) >= limits.capacity => Enqueued::Full,
        Some((_, state)) => {
            // Known before the window: a new delivery of an old event.
            let first = order::first_state(tx, key, order.as_ref())?;
            tx.prepare_cached(
                "UPDATE deliveries SET body = ?2, state = ?3, attempts = 0, due_ms = ?4, received_ms = ?4, error = NULL, lease = 0, expires_ms = ?5, stream = ?6, at = ?7, serial = ?8, kind = ?9, hid = ?10 WHERE key = ?1",
            )?
            .execute(params![key, body, first, now, expires, stream, at, serial, kind, hid])?;
            if !matches!(
                Row::from_code(state),
                Some(Row::Ready | Row::Leased | Row::Waiting)
            ) {
                meta.pending += 1;
            }
            Enqueued::Stored
        }
        None => {
            let first = order::first_state(tx, key, order.as_ref())?;
            tx.prepare_cached(
                "INSERT INTO deliveries (key, body, state, due_ms, received_ms, expires_ms, stream, at, serial, kind, hid) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![key, body, first, now, expires, stream, at, serial, kind, hid])?;
            meta.pending += 1;
            Enqueued::Stored
        }
    })
}

/// Due ready rows first, then leases whose visibility timeout passed; each query walks the
/// `(state, due_ms)` index in order, so nothing is sorted. Each row taken records `holder`.
#[allow(clippy::too_many_arguments)]
pub(super) fn lease(
    tx: &Connection,
    meta: &mut Meta,
    max: usize,
    visibility: Duration,
    retention: Duration,
    holder: i64,
    now: i64,
) -> Result<Vec<Job>, rusqlite::Error> {
    let mut found: Vec<(i64, Job)> = Vec::new();
    for state in [Row::Ready, Row::Leased] {
        let room = max.saturating_sub(found.len());
        if room == 0 {
            break;
        }
        let mut due = tx.prepare_cached(due_query(state))?;
        let rows = due.query_map(params![now, i64::try_from(room).unwrap_or(i64::MAX)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Job {
                    key: r.get(1)?,
                    body: r.get(2)?,
                    attempts: r.get(3)?,
                    lease: 0,
                    order: from_columns(r.get(4)?, r.get(5)?, r.get(6)?),
                    stale: None,
                },
            ))
        })?;
        for row in rows {
            found.push(row?);
        }
    }
    let until = now.saturating_add(ms(visibility));
    let mut take = tx.prepare_cached(
        "UPDATE deliveries SET state = ?2, lease = ?3, due_ms = ?4, holder = ?5 WHERE rowid = ?1",
    )?;
    let mut jobs = Vec::with_capacity(found.len());
    for (rowid, mut job) in found {
        meta.next_lease += 1;
        take.execute(params![rowid, Row::Leased, meta.next_lease, until, holder])?;
        job.lease = u64::try_from(meta.next_lease).unwrap_or(0);
        if let Some(order) = &job.order {
            job.stale = order::advance(tx, order, ms(retention), now)?;
        }
        jobs.push(job);
    }
    Ok(jobs)
}

/// Makes every row leased by `holder` (a process that is gone) due at once; how many.
pub(super) fn take_back(tx: &Connection, holder: i64, now: i64) -> Result<usize, rusqlite::Error> {
    tx.prepare_cached(
        "UPDATE deliveries SET state = ?3, due_ms = ?4, holder = 0 WHERE state = ?2 AND holder = ?1",
    )?
    .execute(params![holder, Row::Leased, Row::Ready, now])
}

pub(super) fn settle(
    tx: &Connection,
    meta: &mut Meta,
    settlement: &Settlement,
    now: i64,
) -> Result<bool, rusqlite::Error> {
    let Settlement {
        key,
        lease,
        resolution,
        ..
    } = settlement;
    let lease = i64::try_from(*lease).unwrap_or(-1);
    // A final outcome returns the row's stream when it is serial, whose gate then opens.
    let finished = |sql: &str, p: &[&dyn ToSql]| -> rusqlite::Result<Option<Option<String>>> {
        tx.prepare_cached(sql)?
            .query_row(p, |r| r.get::<_, Option<String>>(0))
            .optional()
    };
    let ended = match resolution {
        Resolution::Completed => finished(
            "UPDATE deliveries SET state = ?3, body = x'', attempts = attempts + 1, due_ms = expires_ms, error = NULL WHERE key = ?1 AND lease = ?2 AND state = ?4 RETURNING CASE WHEN serial = 1 THEN stream END",
            params![key, lease, Row::Done, Row::Leased],
        )?,
        Resolution::Stale => finished(
            "UPDATE deliveries SET state = ?3, body = x'', due_ms = expires_ms, error = NULL WHERE key = ?1 AND lease = ?2 AND state = ?4 RETURNING CASE WHEN serial = 1 THEN stream END",
            params![key, lease, Row::Done, Row::Leased],
        )?,
        Resolution::Dead { error } => finished(
            "UPDATE deliveries SET state = ?3, attempts = attempts + 1, due_ms = ?4, error = ?5 WHERE key = ?1 AND lease = ?2 AND state = ?6 RETURNING CASE WHEN serial = 1 THEN stream END",
            params![key, lease, Row::Dead, now, error, Row::Leased],
        )?,
        Resolution::Retry { after, error } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE deliveries SET state = ?3, attempts = attempts + 1, due_ms = ?4, error = ?5 WHERE key = ?1 AND lease = ?2 AND state = ?6",
                )?
                .execute(params![
                    key,
                    lease,
                    Row::Ready,
                    now.saturating_add(ms(*after)),
                    error,
                    Row::Leased
                ])?;
            return Ok(changed == 1);
        }
        Resolution::Released => {
            let changed = tx
                .prepare_cached(
                    "UPDATE deliveries SET state = ?3, due_ms = ?4 WHERE key = ?1 AND lease = ?2 AND state = ?5",
                )?
                .execute(params![key, lease, Row::Ready, now, Row::Leased])?;
            return Ok(changed == 1);
        }
    };
    let Some(gate) = ended else {
        return Ok(false);
    };
    meta.pending -= 1;
    if let Some(stream) = gate {
        order::open_gate(tx, &stream, now)?;
    }
    Ok(true)
}

pub(super) fn replay(tx: &Connection, key: &str, now: i64) -> Result<bool, rusqlite::Error> {
    let dead: Option<(Option<String>, i64, bool)> = tx
        .prepare_cached("SELECT stream, at, serial FROM deliveries WHERE key = ?1 AND state = ?2")?
        .query_row(params![key, Row::Dead], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((stream, at, serial)) = dead else {
        return Ok(false);
    };
    let first = order::first_state(tx, key, from_columns(stream, at, serial).as_ref())?;
    Ok(tx
        .prepare_cached(
            "UPDATE deliveries SET state = ?2, attempts = 0, due_ms = ?3, lease = 0 WHERE key = ?1 AND state = ?4",
        )?
        .execute(params![key, first, now, Row::Dead])?
        == 1)
}

/// Done, without its body: the key stays known until its window ends, then the row is purged
/// like any finished delivery.
pub(super) fn discard(tx: &Connection, key: &str, now: i64) -> Result<bool, rusqlite::Error> {
    Ok(tx
        .prepare_cached(
            "UPDATE deliveries SET state = ?2, body = x'', error = NULL, lease = 0, due_ms = max(expires_ms, ?4) WHERE key = ?1 AND state = ?3",
        )?
        .execute(params![key, Row::Done, Row::Dead, now])?
        == 1)
}

/// Deletes a batch of finished rows whose window ended; how many.
pub(super) fn purge(tx: &Connection, now: i64) -> Result<usize, rusqlite::Error> {
    tx.prepare_cached(
        "DELETE FROM deliveries WHERE rowid IN
             (SELECT rowid FROM deliveries WHERE state = ?1 AND due_ms < ?2 LIMIT ?3)",
    )?
    .execute(params![Row::Done, now, PURGE_BATCH])
}

pub(super) fn dead_letters(tx: &Connection) -> Result<Vec<DeadLetter>, rusqlite::Error> {
    let mut query = tx.prepare_cached(
        "SELECT key, body, attempts, coalesce(error, ''), due_ms, stream, at, serial FROM deliveries WHERE state = ?1 ORDER BY due_ms",
    )?;
    let rows = query.query_map(params![Row::Dead], |r| {
        Ok(DeadLetter {
            key: r.get(0)?,
            body: r.get(1)?,
            attempts: r.get(2)?,
            error: r.get(3)?,
            dead_at: UnixTime::from_secs(r.get::<_, i64>(4)? / 1000),
            order: from_columns(r.get(5)?, r.get(6)?, r.get(7)?),
        })
    })?;
    rows.collect()
}

/// [`Admin::pause`](crate::delivery::Admin::pause): `false` when paused already.
pub(super) fn pause(tx: &Connection, kind: &str) -> Result<bool, rusqlite::Error> {
    Ok(tx
        .prepare_cached("INSERT OR IGNORE INTO paused (kind) VALUES (?1)")?
        .execute(params![kind])?
        == 1)
}

/// [`Admin::resume`](crate::delivery::Admin::resume): `false` when not paused.
pub(super) fn resume(tx: &Connection, kind: &str) -> Result<bool, rusqlite::Error> {
    Ok(tx
        .prepare_cached("DELETE FROM paused WHERE kind = ?1")?
        .execute(params![kind])?
        == 1)
}

pub(super) fn paused(tx: &Connection) -> Result<Vec<String>, rusqlite::Error> {
    tx.prepare_cached("SELECT kind FROM paused ORDER BY kind")?
        .query_map([], |r| r.get(0))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::schema;
    use super::*;

    /// A fresh database (kept while the directory is), its counters, and limits with `window`.
    fn fresh(window: Duration) -> (tempfile::TempDir, Connection, Meta, StoreLimits) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("q.sqlite")).unwrap();
        schema::migrate(&mut conn).unwrap();
        let meta = Meta {
            pending: 0,
            next_lease: 0,
            next_hid: None,
            oldest_hid: None,
        };
        let limits = StoreLimits::default().window(window).capacity(100);
        (dir, conn, meta, limits)
    }

    /// Leasing with a different number of free slots each time runs the same prepared query; it
    /// is never parsed again.
    #[test]
    fn the_lease_query_is_not_re_prepared_when_its_limit_changes() {
        let (_dir, conn, mut meta, limits) = fresh(Duration::from_secs(60));
        for (n, max) in [3_usize, 1, 7, 2, 64].into_iter().enumerate() {
            let now = i64::try_from(n).unwrap() * 1000;
            let key = format!("k{n}");
            enqueue(
                &conn,
                &mut meta,
                &Incoming::new(key, b"{}".to_vec()),
                None,
                limits,
                now,
            )
            .unwrap();
            let retention = Duration::from_secs(60);
            lease(
                &conn,
                &mut meta,
                max,
                Duration::from_secs(30),
                retention,
                7,
                now,
            )
            .unwrap();
        }
        for state in [Row::Ready, Row::Leased] {
            let statement = conn.prepare_cached(due_query(state)).unwrap();
            assert!(statement.get_status(rusqlite::StatementStatus::Run) > 0);
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "state {state:?}"
            );
        }
    }

    /// A serial delivery stored again once its window ended, while its first delivery is still
    /// pending, does not wait behind itself.
    #[test]
    fn a_serial_delivery_stored_again_does_not_wait_behind_itself() {
        let (_dir, conn, mut meta, limits) = fresh(Duration::from_secs(1));
        let order = crate::ordering::Order::new("esim.status:1", 5, true);
        let delivery = Incoming::new("k", b"{}".to_vec()).ordered(Some(order));
        for now in [0, 5_000] {
            assert_eq!(
                enqueue(&conn, &mut meta, &delivery, None, limits, now).unwrap(),
                Enqueued::Stored
            );
        }
        let state: i64 = conn
            .query_row("SELECT state FROM deliveries WHERE key = 'k'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(state, Row::Ready.code());
    }

    #[test]
    fn every_state_reads_back_as_itself() {
        for state in [Row::Ready, Row::Leased, Row::Done, Row::Dead, Row::Waiting] {
            assert_eq!(Row::from_code(state.code()), Some(state));
        }
        assert_eq!(Row::from_code(9), None);
    }
}
