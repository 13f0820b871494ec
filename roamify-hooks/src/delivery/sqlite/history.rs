//! The SQLite store's delivery history: table `history`, written in the transaction of the
//! change it records, read by the admin API.
//!
//! Cheap to write: a row is appended at arrival (ids follow arrival), its delivery's row points
//! to it (`deliveries.hid`, written with the delivery), and every later change reaches it through
//! that pointer, on pages just written; the count bound is a range of the oldest ids, trimmed 64
//! at a time. No index is kept on it:
//! a search scans the bounded history, the newest first (20 000 rows by default, a few
//! milliseconds), and a delivery whose row is gone from `deliveries` is found by its key the
//! same way. Each row's attempts are a JSON array, appended to in SQL.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::owner::Meta;
use crate::delivery::filter::{Described, Filter};
use crate::delivery::history::{
    Attempt, Delivery, Fate, HISTORY_ATTEMPTS, HistoryLimits, HistoryPage, Page, millis,
};
use crate::delivery::store::{Incoming, Settlement};

/// The schema of version 5: the history, and each delivery's `category.kind` with the kinds
/// paused (rows stored by an older release have none, and are never paused).
pub(super) const SCHEMA: &str = "CREATE TABLE history (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         key TEXT NOT NULL,
         category TEXT NOT NULL,
         kind TEXT NOT NULL,
         iccid TEXT,
         received_ms INTEGER NOT NULL,
         finished_ms INTEGER,
         fate INTEGER NOT NULL,
         attempts TEXT NOT NULL DEFAULT '[]',
         duplicates INTEGER NOT NULL DEFAULT 0,
         replays INTEGER NOT NULL DEFAULT 0
     );
     ALTER TABLE deliveries ADD COLUMN kind TEXT;
     ALTER TABLE deliveries ADD COLUMN hid INTEGER;
     CREATE TABLE paused (kind TEXT PRIMARY KEY) WITHOUT ROWID;";

/// A fate's number in the table.
fn code(fate: Fate) -> i64 {
    i64::from(fate.code())
}

/// The history's row of the delivery `key`, through its delivery's row.
const ROW: &str = "(SELECT hid FROM deliveries WHERE key = ?1)";

/// Rows trimmed at once past the count bound, at most: once full, the history holds between
/// `entries - 63` and `entries` rows (a quarter of a bound under 256 at once).
const TRIM: i64 = 64;

/// The id of the next row, read once per transaction (the owner holds the write lock). Ids are
/// never reused (`AUTOINCREMENT`), even once every row was trimmed: a delivery's pointer never
/// reaches another's row.
pub(super) fn next_id(tx: &Connection, meta: &mut Meta) -> rusqlite::Result<i64> {
    if let Some(id) = meta.next_hid {
        return Ok(id);
    }
    let id = tx
        .prepare_cached(
            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'history'), 0) + 1",
        )?
        .query_row([], |r| r.get(0))?;
    meta.next_hid = Some(id);
    Ok(id)
}

/// The delivery stored at `now` under history row `id` (its delivery's row already points to
/// it); then the oldest go once more than the bound are kept.
pub(super) fn stored(
    tx: &Connection,
    meta: &mut Meta,
    id: i64,
    delivery: &Incoming,
    limits: HistoryLimits,
    now: i64,
) -> rusqlite::Result<()> {
    let about = delivery.described();
    tx.prepare_cached(
        "INSERT INTO history (id, key, category, kind, iccid, received_ms, fate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
    )?
    .execute(params![
        id,
        delivery.key,
        about.category,
        about.kind,
        about.iccid,
        now
    ])?;
    meta.next_hid = Some(id + 1);
    let entries = i64::try_from(limits.entries).unwrap_or(i64::MAX);
    let oldest = match meta.oldest_hid {
        Some(oldest) => oldest,
        None => tx
            .prepare_cached("SELECT coalesce(min(id), 0) FROM history")?
            .query_row([], |r| r.get(0))?,
    };
    meta.oldest_hid = Some(oldest);
    if id - oldest >= entries {
        let keep_from = id - entries + (entries / 4).clamp(1, TRIM);
        tx.prepare_cached("DELETE FROM history WHERE id < ?1")?
            .execute(params![keep_from])?;
        meta.oldest_hid = Some(keep_from);
    }
    Ok(())
}

/// A redelivery of `key` acknowledged as a duplicate.
pub(super) fn duplicate(tx: &Connection, key: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "UPDATE history SET duplicates = duplicates + 1 WHERE id = {ROW}"
    ))?
    .execute(params![key])?;
    Ok(())
}

/// A settlement that was recorded.
pub(super) fn settled(tx: &Connection, settlement: &Settlement, now: i64) -> rusqlite::Result<()> {
    let (attempt, fate) = settlement.history();
    let Some(fate) = fate else {
        return Ok(());
    };
    let finished = fate.is_final().then_some(now);
    match attempt {
        Some(Attempt {
            at_ms,
            took_ms,
            error,
            ..
        }) => tx
            .prepare_cached(
                "UPDATE history SET fate = ?2, finished_ms = ?3,
                     attempts = json_insert(
                         CASE WHEN json_array_length(attempts) >= ?7
                              THEN json_remove(attempts, '$[0]') ELSE attempts END,
                         '$[#]', json_object('at_ms', ?4, 'took_ms', ?5, 'error', ?6))
                 WHERE id = (SELECT hid FROM deliveries WHERE key = ?1)",
            )?
            .execute(params![
                settlement.key,
                code(fate),
                finished,
                at_ms,
                i64::try_from(took_ms).unwrap_or(i64::MAX),
                error,
                i64::try_from(HISTORY_ATTEMPTS).unwrap_or(i64::MAX),
            ])?,
        None => reach(tx, &settlement.key, fate, finished)?,
    };
    Ok(())
}

/// `key` reached `fate` (finished at `finished`, when final).
fn reach(tx: &Connection, key: &str, fate: Fate, finished: Option<i64>) -> rusqlite::Result<usize> {
    tx.prepare_cached(&format!(
        "UPDATE history SET fate = ?2, finished_ms = ?3 WHERE id = {ROW}"
    ))?
    .execute(params![key, code(fate), finished])
}

/// A dead letter replayed.
pub(super) fn replayed(tx: &Connection, key: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(&format!(
        "UPDATE history SET fate = ?2, finished_ms = NULL, replays = replays + 1 WHERE id = {ROW}"
    ))?
    .execute(params![key, code(Fate::Pending)])?;
    Ok(())
}

/// A dead letter discarded.
pub(super) fn discarded(tx: &Connection, key: &str, now: i64) -> rusqlite::Result<()> {
    reach(tx, key, Fate::Discarded, Some(now)).map(drop)
}

/// Drops rows past the age bound among the oldest `batch`; how many.
pub(super) fn trim_age(
    tx: &Connection,
    limits: HistoryLimits,
    now: i64,
    batch: i64,
) -> rusqlite::Result<usize> {
    let oldest = now.saturating_sub(millis(limits.age));
    tx.prepare_cached(
        "DELETE FROM history WHERE id IN (SELECT id FROM history ORDER BY id LIMIT ?2)
             AND received_ms < ?1",
    )?
    .execute(params![oldest, batch])
}

const COLUMNS: &str =
    "key, category, kind, iccid, received_ms, finished_ms, fate, attempts, duplicates, replays";

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    let about = Described {
        category: row.get(1)?,
        kind: row.get(2)?,
        iccid: row.get(3)?,
    };
    let mut delivery = Delivery::new(row.get::<_, String>(0)?, about, row.get(4)?);
    delivery.finished_ms = row.get(5)?;
    delivery.fate = Fate::from_code(row.get(6)?).unwrap_or(Fate::Pending);
    delivery.attempts = Attempt::list_from_json(&row.get::<_, String>(7)?);
    delivery.duplicates = row.get(8)?;
    delivery.replays = row.get(9)?;
    Ok(delivery)
}

/// The history of `key`: through its delivery's row, or, once that is purged, by its key (the
/// newest entry).
pub(super) fn get(tx: &Connection, key: &str) -> rusqlite::Result<Option<Delivery>> {
    let linked = tx
        .prepare_cached(&format!("SELECT {COLUMNS} FROM history WHERE id = {ROW}"))?
        .query_row(params![key], read)
        .optional()?;
    if linked.is_some() {
        return Ok(linked);
    }
    tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM history WHERE key = ?1 ORDER BY id DESC LIMIT 1"
    ))?
    .query_row(params![key], read)
    .optional()
}

/// The deliveries matching `filter`, the newest first.
pub(super) fn search(
    tx: &Connection,
    filter: &Filter,
    page: Page,
) -> rusqlite::Result<HistoryPage> {
    let mut conditions: Vec<&str> = Vec::new();
    let mut values: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(iccid) = &filter.iccid {
        // A prefix, as a range.
        conditions.push("iccid >= ? AND iccid < ?");
        values.push(Box::new(iccid.clone()));
        values.push(Box::new(format!("{iccid}\u{10FFFF}")));
    }
    if let Some(event) = &filter.event {
        match event.split_once('.') {
            Some((category, kind)) => {
                conditions.push("category = ? AND kind = ?");
                values.push(Box::new(category.to_owned()));
                values.push(Box::new(kind.to_owned()));
            }
            None => {
                conditions.push("category = ?");
                values.push(Box::new(event.clone()));
            }
        }
    }
    if let Some(since) = filter.since {
        conditions.push("received_ms >= ?");
        values.push(Box::new(since.as_secs().saturating_mul(1000)));
    }
    if let Some(until) = filter.until {
        conditions.push("received_ms < ?");
        values.push(Box::new(
            until.as_secs().saturating_add(1).saturating_mul(1000),
        ));
    }
    if let Some(fate) = filter.fate {
        conditions.push("fate = ?");
        values.push(Box::new(code(fate)));
    }
    if let Some(error) = &filter.error {
        conditions.push("instr(lower(json_extract(attempts, '$[#-1].error')), lower(?)) > 0");
        values.push(Box::new(error.clone()));
    }
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let bound: Vec<&dyn ToSql> = values.iter().map(AsRef::as_ref).collect();
    let total: i64 = tx
        .prepare(&format!("SELECT count(*) FROM history {condition}"))?
        .query_row(bound.as_slice(), |r| r.get(0))?;
    let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    let mut paged = bound.clone();
    paged.push(&limit);
    paged.push(&offset);
    let items = tx
        .prepare(&format!(
            "SELECT {COLUMNS} FROM history {condition} ORDER BY id DESC LIMIT ? OFFSET ?"
        ))?
        .query_map(paged.as_slice(), read)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(HistoryPage::new(usize::try_from(total).unwrap_or(0), items))
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::owner::Meta;
    use super::super::{rows, schema};
    use super::*;
    use crate::delivery::store::{Enqueued, Job, Resolution, StoreLimits};

    fn meta() -> Meta {
        Meta {
            pending: 0,
            next_lease: 0,
            next_hid: None,
            oldest_hid: None,
        }
    }

    /// Stores `key` with its history row, as the owner does; its row's id.
    fn store(conn: &Connection, key: &str, now: i64) -> i64 {
        let mut meta = meta();
        let limits = StoreLimits::default();
        let delivery = Incoming::new(key, b"{}".to_vec());
        let id = next_id(conn, &mut meta).expect("next id");
        let enqueued = rows::enqueue(conn, &mut meta, &delivery, Some(id), limits, now);
        assert_eq!(enqueued.expect("enqueue"), Enqueued::Stored);
        stored(conn, &mut meta, id, &delivery, limits.history, now).expect("history row");
        id
    }

    /// Once every row was trimmed (the age bound can empty the table), new rows do not take the
    /// ids of old ones: a delivery still pointing to its trimmed row never reaches another's.
    #[test]
    fn ids_are_never_reused_so_a_trimmed_rows_delivery_reaches_no_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("h.sqlite")).expect("open");
        schema::migrate(&mut conn).expect("migrate");
        let old = store(&conn, "old", 1_000);
        conn.execute("DELETE FROM history", [])
            .expect("trim every row");
        let new = store(&conn, "new", 2_000);
        assert!(new > old, "a new id: {new} after {old}");

        // The old delivery, still pending, is settled: its history is gone, and the new
        // delivery's row is untouched.
        let job = Job {
            key: "old".to_owned(),
            body: Vec::new(),
            attempts: 0,
            lease: 0,
            order: None,
            stale: None,
        };
        let dead = Resolution::Dead {
            error: "boom".to_owned(),
        };
        settled(&conn, &Settlement::new(&job, dead), 3_000).expect("settled");
        assert_eq!(get(&conn, "old").expect("read"), None);
        let kept = get(&conn, "new").expect("read").expect("the new row");
        assert_eq!((kept.fate, kept.attempts.len()), (Fate::Pending, 0));
    }
}
