//! The store's schema, created or migrated under an advisory lock when a store connects.

use deadpool_postgres::Pool;
use roamify_hooks::delivery::StoreError;

use crate::sql::{JobState, PENDING_SLOTS};
use crate::{backend, pool_error};

/// The schema version this release writes.
const SCHEMA_VERSION: i32 = 4;

pub(crate) async fn migrate(
    pool: &Pool,
    schema: &str,
    owner: Option<&str>,
) -> Result<(), StoreError> {
    let fail = backend("migrate the schema");
    let mut client = pool.get().await.map_err(pool_error("connect"))?;
    let tx = client.transaction().await.map_err(&fail)?;
    // One migration at a time across every receiver, released at commit.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('roamify_hooks:' || $1))",
        &[&schema],
    )
    .await
    .map_err(&fail)?;
    let s = schema;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer NOT NULL);"
    ))
    .await
    .map_err(&fail)?;
    let version: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {s}.schema_version"),
            &[],
        )
        .await
        .map_err(&fail)?
        .get(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::backend(
            "migrate the schema",
            format!("schema {s} has version {version}, newer than this release's {SCHEMA_VERSION}"),
        ));
    }
    if version < 1 {
        tx.batch_execute(&format!(
            "CREATE TABLE {s}.keys (
                 key text PRIMARY KEY,
                 expires_at timestamptz NOT NULL
             );
             CREATE INDEX keys_expiry ON {s}.keys (expires_at);
             CREATE TABLE {s}.jobs (
                 key text PRIMARY KEY,
                 body bytea NOT NULL,
                 state smallint NOT NULL,
                 attempts integer NOT NULL DEFAULT 0,
                 visible_at timestamptz NOT NULL,
                 lease bigint NOT NULL DEFAULT 0,
                 error text,
                 received_at timestamptz NOT NULL,
                 dead_at timestamptz
             );
             CREATE INDEX jobs_due ON {s}.jobs (visible_at) WHERE state = {waiting};
             CREATE INDEX jobs_dead ON {s}.jobs (dead_at) WHERE state = {dead};
             CREATE SEQUENCE {s}.lease_seq;
             CREATE TABLE {s}.pending (slot integer PRIMARY KEY, n bigint NOT NULL);
             INSERT INTO {s}.pending SELECT slot, 0 FROM generate_series(0, {last}) slot;
             INSERT INTO {s}.schema_version (version) VALUES (1);",
            last = PENDING_SLOTS - 1,
            waiting = JobState::Waiting.code(),
            dead = JobState::Dead.code(),
        ))
        .await
        .map_err(&fail)?;
    }
    if version < 2 {
        // Version 2: the holder of each lease (NULL: none, or leased by a release before 2,
        // whose leases end with their visibility timeout), and the live holders' heartbeats.
        tx.batch_execute(&format!(
            "ALTER TABLE {s}.jobs ADD COLUMN holder bigint;
             CREATE TABLE {s}.holders (id bigint PRIMARY KEY, seen_at timestamptz NOT NULL);
             CREATE TABLE {s}.owner (name text NOT NULL, since timestamptz NOT NULL DEFAULT now());
             INSERT INTO {s}.schema_version (version) VALUES (2);"
        ))
        .await
        .map_err(&fail)?;
    }
    if version < 3 {
        // Version 3: ordering. Each job's stream, signed timestamp and whether its stream is
        // serial (serial deliveries behind their stream's pending one are parked, state 3), each
        // stream's mark, and the function that compares and moves marks (`order.rs`).
        tx.batch_execute(&format!(
            "ALTER TABLE {s}.jobs ADD COLUMN stream text,
                 ADD COLUMN at bigint NOT NULL DEFAULT 0,
                 ADD COLUMN serial boolean NOT NULL DEFAULT false;
             CREATE INDEX jobs_stream ON {s}.jobs (stream, received_at) WHERE stream IS NOT NULL;
             CREATE TABLE {s}.marks (
                 stream text PRIMARY KEY,
                 at bigint NOT NULL,
                 moved_at timestamptz NOT NULL
             );
             CREATE INDEX marks_moved ON {s}.marks (moved_at);
             CREATE FUNCTION {s}.advance(streams text[], ats bigint[], retention_ms bigint)
             RETURNS bigint[] LANGUAGE plpgsql AS $fn$
             DECLARE
                 result bigint[] := ARRAY[]::bigint[];
                 newest bigint;
             BEGIN
                 -- In order: each compared with its stream's mark, atomically (the row is locked
                 -- by the upsert until the transaction ends); a mark not moved for the retention
                 -- is forgotten.
                 FOR i IN 1 .. coalesce(array_length(streams, 1), 0) LOOP
                     INSERT INTO {s}.marks AS m (stream, at, moved_at) VALUES (streams[i], ats[i], now())
                     ON CONFLICT (stream) DO UPDATE SET
                         at = CASE WHEN EXCLUDED.at >= m.at
                                     OR m.moved_at < now() - retention_ms * interval '1 millisecond'
                                   THEN EXCLUDED.at ELSE m.at END,
                         moved_at = CASE WHEN EXCLUDED.at >= m.at
                                     OR m.moved_at < now() - retention_ms * interval '1 millisecond'
                                   THEN now() ELSE m.moved_at END
                     RETURNING m.at INTO newest;
                     result := result || CASE WHEN newest > ats[i] THEN newest END;
                 END LOOP;
                 RETURN result;
             END
             $fn$;
             INSERT INTO {s}.schema_version (version) VALUES (3);"
        ))
        .await
        .map_err(&fail)?;
    }
    if version < 4 {
        // Version 4: the delivery history (`history.rs`).
        tx.batch_execute(&format!(
            "{}
             INSERT INTO {s}.schema_version (version) VALUES (4);",
            crate::history::schema(s)
        ))
        .await
        .map_err(&fail)?;
    }
    if let Some(owner) = owner {
        claim(&tx, schema, owner).await?;
    }
    tx.commit().await.map_err(&fail)
}

/// Checks that `owner` owns the schema, recording it when nobody does (under the migration's
/// advisory lock, so two applications starting at once cannot both claim it).
async fn claim(
    tx: &deadpool_postgres::Transaction<'_>,
    s: &str,
    owner: &str,
) -> Result<(), StoreError> {
    let fail = backend("check the schema's owner");
    let recorded = tx
        .query_opt(&format!("SELECT name FROM {s}.owner LIMIT 1"), &[])
        .await
        .map_err(&fail)?;
    if let Some(row) = recorded {
        let name: String = row.get(0);
        if name == owner {
            return Ok(());
        }
        return Err(StoreError::backend(
            "connect",
            format!(
                "schema {s} belongs to the application {name:?}, not to {owner:?}: give each \
                 application a schema of its own (PgOptions::schema, PG_SCHEMA in the examples)"
            ),
        ));
    }
    let used: bool = tx
        .query_one(
            &format!("SELECT EXISTS (SELECT 1 FROM {s}.jobs) OR EXISTS (SELECT 1 FROM {s}.keys)"),
            &[],
        )
        .await
        .map_err(&fail)?
        .get(0);
    tx.execute(
        &format!("INSERT INTO {s}.owner (name) VALUES ($1)"),
        &[&owner],
    )
    .await
    .map_err(&fail)?;
    if used {
        tracing::warn!(
            target: "roamify_hooks",
            schema = s,
            owner,
            "adopted schema {s}, which held deliveries but recorded no owner: it now belongs to {owner:?}"
        );
    }
    Ok(())
}
