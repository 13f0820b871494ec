//! The delivery history in PostgreSQL: table `history`, written in the transaction of the change
//! it records (the enqueue, the settlement batch, the replay, the discard), read by the admin
//! API. Its `id` follows arrival, so the count bound is an id range and the newest come first by
//! walking it backwards; an index finds an eSIM's deliveries by ICCID prefix. Times are the
//! server's clock, in unix milliseconds.

use deadpool_postgres::GenericClient;
use roamify_hooks::delivery::{
    Attempt, Delivery, Described, Fate, Filter, HISTORY_ATTEMPTS, HistoryLimits, HistoryPage, Page,
    Settlement,
};
use tokio_postgres::types::ToSql;

/// The server's clock in unix milliseconds.
const NOW_MS: &str = "(extract(epoch FROM now()) * 1000)::bigint";

/// Version 4 of the schema: the history, and each job's `category.kind` with the kinds paused
/// (jobs stored by an older release have none, and are never paused).
pub(crate) fn schema(s: &str) -> String {
    format!(
        "CREATE TABLE {s}.history (
             id bigserial PRIMARY KEY,
             key text NOT NULL UNIQUE,
             category text NOT NULL,
             kind text NOT NULL,
             iccid text,
             received_ms bigint NOT NULL,
             finished_ms bigint,
             fate smallint NOT NULL,
             attempts jsonb NOT NULL DEFAULT '[]',
             duplicates integer NOT NULL DEFAULT 0,
             replays integer NOT NULL DEFAULT 0
         );
         CREATE INDEX history_iccid ON {s}.history (iccid text_pattern_ops) WHERE iccid IS NOT NULL;
         ALTER TABLE {s}.jobs ADD COLUMN kind text;
         CREATE TABLE {s}.paused (kind text PRIMARY KEY);"
    )
}

/// The history's statements for one schema.
#[derive(Debug)]
pub(crate) struct HistorySql {
    schema: String,
    stored: String,
    duplicate: String,
    settled: String,
    replayed: String,
    discarded: String,
    trim_age: String,
    get: String,
}

const COLUMNS: &str = "key, category, kind, iccid, received_ms, finished_ms, fate, attempts::text, duplicates, replays";

impl HistorySql {
    pub(crate) fn new(s: &str) -> Self {
        let final_fates = [Fate::Handled, Fate::Dead, Fate::Stale, Fate::Discarded]
            .map(|f| f.code().to_string())
            .join(", ");
        Self {
            schema: s.to_owned(),
            // A key stored again (its window ended) starts over as the newest; the oldest past
            // the count bound go in the same statement.
            stored: format!(
                "WITH ins AS (
                     INSERT INTO {s}.history (key, category, kind, iccid, received_ms, fate)
                     VALUES ($1, $2, $3, $4, {NOW_MS}, 0)
                     ON CONFLICT (key) DO UPDATE SET id = nextval('{s}.history_id_seq'),
                         category = EXCLUDED.category, kind = EXCLUDED.kind, iccid = EXCLUDED.iccid,
                         received_ms = EXCLUDED.received_ms, fate = 0, finished_ms = NULL,
                         attempts = '[]', duplicates = 0, replays = 0
                     RETURNING id)
                 DELETE FROM {s}.history WHERE id <= (SELECT id FROM ins) - $5"
            ),
            duplicate: format!("UPDATE {s}.history SET duplicates = duplicates + 1 WHERE key = $1"),
            settled: format!(
                "UPDATE {s}.history h SET fate = u.fate,
                     finished_ms = CASE WHEN u.fate IN ({final_fates}) THEN {NOW_MS} END,
                     attempts = CASE WHEN u.at IS NULL THEN h.attempts ELSE
                         (CASE WHEN jsonb_array_length(h.attempts) >= {HISTORY_ATTEMPTS}
                               THEN h.attempts - 0 ELSE h.attempts END)
                         || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                                'at_ms', u.at, 'took_ms', u.took, 'error', u.error))) END
                 FROM unnest($1::text[], $2::smallint[], $3::bigint[], $4::bigint[], $5::text[])
                     AS u(key, fate, at, took, error)
                 WHERE h.key = u.key"
            ),
            replayed: format!(
                "UPDATE {s}.history SET fate = 0, finished_ms = NULL, replays = replays + 1
                 WHERE key = $1"
            ),
            discarded: format!(
                "UPDATE {s}.history SET fate = {}, finished_ms = {NOW_MS} WHERE key = $1",
                Fate::Discarded.code()
            ),
            trim_age: format!(
                "DELETE FROM {s}.history
                 WHERE id IN (SELECT id FROM {s}.history ORDER BY id LIMIT $2)
                   AND received_ms < {NOW_MS} - $1"
            ),
            get: format!("SELECT {COLUMNS} FROM {s}.history WHERE key = $1"),
        }
    }

    /// A delivery stored (`limits` on).
    pub(crate) async fn stored(
        &self,
        client: &impl GenericClient,
        key: &str,
        about: &Described,
        limits: HistoryLimits,
    ) -> Result<(), tokio_postgres::Error> {
        let entries = i64::try_from(limits.entries).unwrap_or(i64::MAX);
        let statement = client.prepare_cached(&self.stored).await?;
        client
            .execute(
                &statement,
                &[&key, &about.category, &about.kind, &about.iccid, &entries],
            )
            .await
            .map(drop)
    }

    /// A redelivery acknowledged as a duplicate.
    pub(crate) async fn duplicate(
        &self,
        client: &impl GenericClient,
        key: &str,
    ) -> Result<(), tokio_postgres::Error> {
        let statement = client.prepare_cached(&self.duplicate).await?;
        client.execute(&statement, &[&key]).await.map(drop)
    }

    /// The settlements of a batch that were recorded, in one statement.
    pub(crate) async fn settled(
        &self,
        client: &impl GenericClient,
        settlements: &[&Settlement],
    ) -> Result<(), tokio_postgres::Error> {
        let (mut keys, mut fates, mut ats, mut tooks, mut errors) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for settlement in settlements {
            let (attempt, fate) = settlement.history();
            let Some(fate) = fate else { continue };
            keys.push(settlement.key.as_str());
            fates.push(fate.code());
            ats.push(attempt.as_ref().map(|a| a.at_ms));
            tooks.push(
                attempt
                    .as_ref()
                    .map(|a| i64::try_from(a.took_ms).unwrap_or(i64::MAX)),
            );
            errors.push(attempt.and_then(|a| a.error));
        }
        if keys.is_empty() {
            return Ok(());
        }
        let statement = client.prepare_cached(&self.settled).await?;
        client
            .execute(&statement, &[&keys, &fates, &ats, &tooks, &errors])
            .await
            .map(drop)
    }

    pub(crate) async fn replayed(
        &self,
        client: &impl GenericClient,
        key: &str,
    ) -> Result<(), tokio_postgres::Error> {
        client.execute(&self.replayed, &[&key]).await.map(drop)
    }

    pub(crate) async fn discarded(
        &self,
        client: &impl GenericClient,
        key: &str,
    ) -> Result<(), tokio_postgres::Error> {
        client.execute(&self.discarded, &[&key]).await.map(drop)
    }

    /// Drops rows past the age bound among the oldest `batch`.
    pub(crate) async fn trim_age(
        &self,
        client: &impl GenericClient,
        limits: HistoryLimits,
        batch: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        let age = i64::try_from(limits.age.as_millis()).unwrap_or(i64::MAX);
        let statement = client.prepare_cached(&self.trim_age).await?;
        client.execute(&statement, &[&age, &batch]).await
    }

    pub(crate) async fn get(
        &self,
        client: &impl GenericClient,
        key: &str,
    ) -> Result<Option<Delivery>, tokio_postgres::Error> {
        Ok(client
            .query_opt(&self.get, &[&key])
            .await?
            .map(|r| read(&r)))
    }

    /// The deliveries matching `filter`, the newest first.
    pub(crate) async fn search(
        &self,
        client: &impl GenericClient,
        filter: &Filter,
        page: Page,
    ) -> Result<HistoryPage, tokio_postgres::Error> {
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut add = |condition: &dyn Fn(usize) -> String, value: Box<dyn ToSql + Sync + Send>| {
            values.push(value);
            conditions.push(condition(values.len()));
        };
        if let Some(iccid) = &filter.iccid {
            // Digits and letters only (the filter checks): no LIKE wildcard in it.
            add(
                &|n| format!("iccid LIKE ${n} || '%'"),
                Box::new(iccid.clone()),
            );
        }
        if let Some(event) = &filter.event {
            match event.split_once('.') {
                Some((category, kind)) => {
                    add(
                        &|n| format!("category = ${n}"),
                        Box::new(category.to_owned()),
                    );
                    add(&|n| format!("kind = ${n}"), Box::new(kind.to_owned()));
                }
                None => add(&|n| format!("category = ${n}"), Box::new(event.clone())),
            }
        }
        if let Some(since) = filter.since {
            let ms = since.as_secs().saturating_mul(1000);
            add(&|n| format!("received_ms >= ${n}"), Box::new(ms));
        }
        if let Some(until) = filter.until {
            let ms = until.as_secs().saturating_add(1).saturating_mul(1000);
            add(&|n| format!("received_ms < ${n}"), Box::new(ms));
        }
        if let Some(fate) = filter.fate {
            add(&|n| format!("fate = ${n}"), Box::new(fate.code()));
        }
        if let Some(error) = &filter.error {
            add(
                &|n| format!("position(lower(${n}) in lower(attempts->-1->>'error')) > 0"),
                Box::new(error.clone()),
            );
        }
        let s = &self.schema;
        let condition = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let mut bound: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let total: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {s}.history {condition}"),
                &bound,
            )
            .await?
            .get(0);
        let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
        let n = bound.len();
        bound.push(&limit);
        bound.push(&offset);
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM {s}.history {condition} ORDER BY id DESC LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                ),
                &bound,
            )
            .await?;
        Ok(HistoryPage::new(
            usize::try_from(total).unwrap_or(0),
            rows.iter().map(read).collect(),
        ))
    }
}

fn read(row: &tokio_postgres::Row) -> Delivery {
    let about = Described::new(
        row.get::<_, String>(1),
        row.get::<_, String>(2),
        row.get::<_, Option<String>>(3),
    );
    let mut delivery = Delivery::new(row.get::<_, String>(0), about, row.get(4));
    delivery.finished_ms = row.get(5);
    delivery.fate = Fate::from_code(i64::from(row.get::<_, i16>(6))).unwrap_or(Fate::Pending);
    delivery.attempts = Attempt::list_from_json(&row.get::<_, String>(7));
    delivery.duplicates = u32::try_from(row.get::<_, i32>(8)).unwrap_or(0);
    delivery.replays = u32::try_from(row.get::<_, i32>(9)).unwrap_or(0);
    delivery
}
