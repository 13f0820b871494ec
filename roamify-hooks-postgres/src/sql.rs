//! The statements, with the schema's name in them, and the one place job states become numbers.

/// A job's state, stored as a number in column `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Waiting or leased: leased while `lease` is not 0 (until `visible_at`); a retry waits for
    /// `visible_at`.
    Waiting,
    /// A dead letter, since `dead_at`. (A completed job is deleted.)
    Dead,
    /// A serial delivery waiting behind its stream's pending one (see `order.rs`).
    Parked,
}

impl JobState {
    /// The number stored for the state: the only place it is written.
    pub(crate) const fn code(self) -> i16 {
        match self {
            Self::Waiting => 0,
            Self::Dead => 2,
            Self::Parked => 3,
        }
    }
}

/// The statements, with the schema name in them.
pub(crate) struct Sql {
    pub(crate) schema: String,
    pub(crate) mark: String,
    pub(crate) insert_job: String,
    pub(crate) add_pending: String,
    pub(crate) lease: String,
    pub(crate) complete: String,
    pub(crate) retry: String,
    pub(crate) dead: String,
    pub(crate) release: String,
    pub(crate) dead_letters: String,
    pub(crate) replay: String,
    pub(crate) pending: String,
    pub(crate) purge: String,
    pub(crate) counts: String,
    pub(crate) discard: String,
    pub(crate) heartbeat: String,
    pub(crate) forget_holders: String,
    pub(crate) take_back: String,
    pub(crate) lock_stream: String,
    pub(crate) open_gate: String,
    pub(crate) advance: String,
    pub(crate) replayed_order: String,
    pub(crate) purge_marks: String,
    pub(crate) history: crate::history::HistorySql,
}

impl Sql {
    pub(crate) fn new(schema: &str) -> Self {
        let s = schema;
        let (waiting, dead) = (JobState::Waiting.code(), JobState::Dead.code());
        let parked = JobState::Parked.code();
        // A serial delivery parks behind its stream's pending one (waiting, leased or retrying);
        // its caller holds the stream's lock (`lock_stream`), so the check and the insert are
        // one step for every receiver.
        let first_state = |stream: &str, serial: &str| {
            format!(
                "CASE WHEN {serial} AND EXISTS (SELECT 1 FROM {s}.jobs WHERE stream = {stream} AND serial AND state = {waiting})
                      THEN {parked} ELSE {waiting} END"
            )
        };
        let (insert_state, replay_state) = (first_state("$3", "$5"), first_state("$2", "$3"));
        Self {
            schema: s.to_owned(),
            mark: format!(
                "INSERT INTO {s}.keys (key, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
                 ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE {s}.keys.expires_at <= now() RETURNING 1"
            ),
            // A dead job of the same key (its window ended) is replaced; a job still pending is
            // left as it is (it runs anyway), and nothing is counted for it.
            insert_job: format!(
                "INSERT INTO {s}.jobs (key, body, state, visible_at, received_at, stream, at, serial, kind)
                 VALUES ($1, $2, {insert_state}, now(), now(), $3, $4, $5, $6)
                 ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body, state = EXCLUDED.state, attempts = 0,
                     visible_at = now(), lease = 0, error = NULL, received_at = now(), dead_at = NULL,
                     stream = EXCLUDED.stream, at = EXCLUDED.at, serial = EXCLUDED.serial, kind = EXCLUDED.kind
                 WHERE {s}.jobs.state = {dead}"
            ),
            add_pending: format!("UPDATE {s}.pending SET n = n + $2 WHERE slot = $1"),
            lease: format!(
                "UPDATE {s}.jobs j SET lease = nextval('{s}.lease_seq'),
                     visible_at = now() + $2 * interval '1 millisecond', holder = $3
                 FROM (SELECT key FROM {s}.jobs WHERE state = {waiting} AND visible_at <= now()
                         AND (kind IS NULL OR kind NOT IN (SELECT kind FROM {s}.paused))
                       ORDER BY visible_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
                 WHERE j.key = due.key
                 RETURNING j.key, j.body, j.attempts, j.lease, j.stream, j.at, j.serial"
            ),
            complete: format!(
                "DELETE FROM {s}.jobs j USING unnest($1::text[], $2::bigint[]) AS done(key, lease)
                 WHERE j.key = done.key AND j.lease = done.lease AND j.state = {waiting}
                 RETURNING j.key, j.lease, CASE WHEN j.serial THEN j.stream END"
            ),
            retry: format!(
                "UPDATE {s}.jobs SET attempts = attempts + 1, error = $3,
                     visible_at = now() + $4 * interval '1 millisecond', lease = 0
                 WHERE key = $1 AND lease = $2 AND state = {waiting}"
            ),
            dead: format!(
                "UPDATE {s}.jobs SET state = {dead}, attempts = attempts + 1, error = $3, dead_at = now(), lease = 0
                 WHERE key = $1 AND lease = $2 AND state = {waiting}
                 RETURNING CASE WHEN serial THEN stream END"
            ),
            release: format!(
                "UPDATE {s}.jobs SET visible_at = now(), lease = 0
                 WHERE key = $1 AND lease = $2 AND state = {waiting}"
            ),
            dead_letters: format!(
                "SELECT key, body, attempts, coalesce(error, ''), extract(epoch FROM dead_at)::bigint,
                        stream, at, serial
                 FROM {s}.jobs WHERE state = {dead} ORDER BY dead_at"
            ),
            // `$2`, `$3`: the dead letter's stream and whether it is serial (`replayed_order`).
            replay: format!(
                "UPDATE {s}.jobs SET state = {replay_state}, attempts = 0, visible_at = now(), lease = 0, dead_at = NULL
                 WHERE key = $1 AND state = {dead}"
            ),
            replayed_order: format!(
                "SELECT stream, serial FROM {s}.jobs WHERE key = $1 AND state = {dead}"
            ),
            pending: format!("SELECT coalesce(sum(n), 0)::bigint FROM {s}.pending"),
            purge: format!(
                "DELETE FROM {s}.keys WHERE ctid IN
                     (SELECT ctid FROM {s}.keys WHERE expires_at < now() LIMIT $1)"
            ),
            // A leased job has a lease token; a retry or a release clears it.
            counts: format!(
                "SELECT count(*) FILTER (WHERE (state = {waiting} AND lease = 0 AND visible_at <= now()) OR state = {parked}),
                        count(*) FILTER (WHERE state = {waiting} AND lease <> 0),
                        count(*) FILTER (WHERE state = {waiting} AND lease = 0 AND visible_at > now()),
                        count(*) FILTER (WHERE state = {dead})
                 FROM {s}.jobs"
            ),
            // The dedupe mark lives in `keys`, untouched.
            discard: format!("DELETE FROM {s}.jobs WHERE key = $1 AND state = {dead}"),
            heartbeat: format!(
                "INSERT INTO {s}.holders (id, seen_at) VALUES ($1, now())
                 ON CONFLICT (id) DO UPDATE SET seen_at = now()"
            ),
            // Holders not seen for `$1` ms are gone: their rows deleted and returned.
            forget_holders: format!(
                "DELETE FROM {s}.holders WHERE seen_at < now() - $1 * interval '1 millisecond'
                 RETURNING id"
            ),
            // The leases of gone holders `$1` due now (lease 0 fences whatever such a holder
            // might still try to settle).
            take_back: format!(
                "UPDATE {s}.jobs SET visible_at = now(), lease = 0, holder = NULL
                 WHERE state = {waiting} AND lease <> 0 AND holder = ANY($1)"
            ),
            // One serial stream at a time, across receivers, until the transaction ends.
            lock_stream: format!(
                "SELECT pg_advisory_xact_lock(hashtext('roamify_hooks:{s}:' || $1))"
            ),
            // The oldest delivery parked behind the stream's finished one becomes due.
            open_gate: format!(
                "UPDATE {s}.jobs SET state = {waiting}, visible_at = now() WHERE key =
                     (SELECT key FROM {s}.jobs WHERE stream = $1 AND state = {parked}
                      ORDER BY received_at, key LIMIT 1)"
            ),
            advance: format!("SELECT {s}.advance($1::text[], $2::bigint[], $3::bigint)"),
            purge_marks: format!(
                "DELETE FROM {s}.marks WHERE ctid IN
                     (SELECT ctid FROM {s}.marks WHERE moved_at < now() - $2 * interval '1 millisecond' LIMIT $1)"
            ),
            history: crate::history::HistorySql::new(s),
        }
    }
}

/// Rows of the sharded pending count: each change goes to one row picked at random, so
/// concurrent transactions rarely wait on each other's row lock, and the count is their sum.
pub(crate) const PENDING_SLOTS: i32 = 16;

/// Adds `delta` to the pending count, inside the caller's transaction.
pub(crate) async fn add_pending(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &Sql,
    delta: i64,
) -> Result<(), tokio_postgres::Error> {
    let slot = i32::try_from(fastrand::u32(..PENDING_SLOTS.unsigned_abs())).unwrap_or(0);
    let add = tx.prepare_cached(&sql.add_pending).await?;
    tx.execute(&add, &[&slot, &delta]).await.map(drop)
}

/// The periodic purge, a batch of each: keys whose window ended (returns how many), marks not
/// moved for `retention` ms, history past its age.
pub(crate) async fn purge(
    client: &deadpool_postgres::Client,
    sql: &Sql,
    retention: i64,
    history: roamify_hooks::delivery::HistoryLimits,
) -> Result<u64, roamify_hooks::delivery::StoreError> {
    use roamify_hooks::delivery::backend::PURGE_BATCH;

    let fail = crate::backend("purge");
    let purge = client.prepare_cached(&sql.purge).await.map_err(&fail)?;
    let purged = client
        .execute(&purge, &[&PURGE_BATCH])
        .await
        .map_err(crate::backend("purge expired keys"))?;
    let marks = client
        .prepare_cached(&sql.purge_marks)
        .await
        .map_err(&fail)?;
    client
        .execute(&marks, &[&PURGE_BATCH, &(retention as f64)])
        .await
        .map_err(crate::backend("purge old ordering marks"))?;
    if history.is_on() {
        sql.history
            .trim_age(client, history, PURGE_BATCH)
            .await
            .map_err(crate::backend("purge old history"))?;
    }
    Ok(purged)
}
