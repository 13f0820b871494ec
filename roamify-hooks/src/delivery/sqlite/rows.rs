//! The statements on the `deliveries` table, and the one place row states become numbers.

use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::ms;
use super::owner::Meta;
use crate::delivery::backend::PURGE_BATCH;
use crate::delivery::store::{
    DeadLetter, Enqueued, Job, Resolution, Settlement, StoreCounts, StoreLimits,
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
}

impl Row {
    /// The number stored for the state: the only place it is written.
    pub(super) const fn code(self) -> i64 {
        match self {
            Self::Ready => 0,
            Self::Leased => 1,
            Self::Done => 2,
            Self::Dead => 3,
        }
    }

    fn from_code(code: i64) -> Option<Self> {
        [Self::Ready, Self::Leased, Self::Done, Self::Dead]
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
                "SELECT rowid, key, body, attempts FROM deliveries WHERE state = {} AND due_ms <= ?1 ORDER BY due_ms LIMIT CAST(?2 AS INTEGER)",
                state.code()
            )
        })
    });
    &QUERIES[usize::from(state != Row::Ready)]
}

pub(super) fn counts(tx: &Connection, now: i64) -> Result<StoreCounts, rusqlite::Error> {
    let mut counts = StoreCounts::default();
    let mut query = tx.prepare_cached(
        "SELECT state, due_ms > ?1, count(*) FROM deliveries WHERE state IN (?2, ?3, ?4) GROUP BY 1, 2",
    )?;
    let rows = query.query_map(params![now, Row::Ready, Row::Leased, Row::Dead], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (state, later, n) = row?;
        let n = usize::try_from(n).unwrap_or(0);
        match (Row::from_code(state), later) {
            (Some(Row::Ready), false) => counts.ready += n,
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
    key: &str,
    body: &[u8],
    limits: StoreLimits,
    now: i64,
) -> Result<Enqueued, rusqlite::Error> {
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
            tx.prepare_cached(
                "UPDATE deliveries SET body = ?2, state = ?3, attempts = 0, due_ms = ?4, received_ms = ?4, error = NULL, lease = 0, expires_ms = ?5 WHERE key = ?1",
            )?
            .execute(params![key, body, Row::Ready, now, expires])?;
            if !matches!(Row::from_code(state), Some(Row::Ready | Row::Leased)) {
                meta.pending += 1;
            }
            Enqueued::Stored
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO deliveries (key, body, state, due_ms, received_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            )?
            .execute(params![key, body, Row::Ready, now, expires])?;
            meta.pending += 1;
            Enqueued::Stored
        }
    })
}

/// Due ready rows first, then leases whose visibility timeout passed; each query walks the
/// `(state, due_ms)` index in order, so nothing is sorted. Each row taken records `holder`.
pub(super) fn lease(
    tx: &Connection,
    meta: &mut Meta,
    max: usize,
    visibility: Duration,
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
    } = settlement;
    let lease = i64::try_from(*lease).unwrap_or(-1);
    let leaves_queue = matches!(resolution, Resolution::Completed | Resolution::Dead { .. });
    let changed = match resolution {
        Resolution::Completed => tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, body = x'', attempts = attempts + 1, due_ms = expires_ms, error = NULL WHERE key = ?1 AND lease = ?2 AND state = ?4",
            )?
            .execute(params![key, lease, Row::Done, Row::Leased])?,
        Resolution::Retry { after, error } => tx
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
            ])?,
        Resolution::Dead { error } => tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, attempts = attempts + 1, due_ms = ?4, error = ?5 WHERE key = ?1 AND lease = ?2 AND state = ?6",
            )?
            .execute(params![key, lease, Row::Dead, now, error, Row::Leased])?,
        Resolution::Released => tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, due_ms = ?4 WHERE key = ?1 AND lease = ?2 AND state = ?5",
            )?
            .execute(params![key, lease, Row::Ready, now, Row::Leased])?,
    };
    let applied = changed == 1;
    if applied && leaves_queue {
        meta.pending -= 1;
    }
    Ok(applied)
}

pub(super) fn replay(tx: &Connection, key: &str, now: i64) -> Result<bool, rusqlite::Error> {
    Ok(tx
        .prepare_cached(
            "UPDATE deliveries SET state = ?2, attempts = 0, due_ms = ?3, lease = 0 WHERE key = ?1 AND state = ?4",
        )?
        .execute(params![key, Row::Ready, now, Row::Dead])?
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
        "SELECT key, body, attempts, coalesce(error, ''), due_ms FROM deliveries WHERE state = ?1 ORDER BY due_ms",
    )?;
    let rows = query.query_map(params![Row::Dead], |r| {
        Ok(DeadLetter {
            key: r.get(0)?,
            body: r.get(1)?,
            attempts: r.get(2)?,
            error: r.get(3)?,
            dead_at: UnixTime::from_secs(r.get::<_, i64>(4)? / 1000),
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::super::schema;
    use super::*;

    /// Leasing with a different number of free slots each time runs the same prepared query; it
    /// is never parsed again.
    #[test]
    fn the_lease_query_is_not_re_prepared_when_its_limit_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("q.sqlite")).unwrap();
        schema::migrate(&mut conn).unwrap();
        let mut meta = Meta {
            pending: 0,
            next_lease: 0,
        };
        let limits = StoreLimits::default()
            .window(Duration::from_secs(60))
            .capacity(100);
        for (n, max) in [3_usize, 1, 7, 2, 64].into_iter().enumerate() {
            let now = i64::try_from(n).unwrap() * 1000;
            let key = format!("k{n}");
            enqueue(&conn, &mut meta, &key, b"{}", limits, now).unwrap();
            lease(&conn, &mut meta, max, Duration::from_secs(30), 7, now).unwrap();
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

    #[test]
    fn every_state_reads_back_as_itself() {
        for state in [Row::Ready, Row::Leased, Row::Done, Row::Dead] {
            assert_eq!(Row::from_code(state.code()), Some(state));
        }
        assert_eq!(Row::from_code(9), None);
    }
}
