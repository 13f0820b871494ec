//! Ordering on PostgreSQL ([`roamify_hooks::ordering`]).
//!
//! - **Marks** live in table `marks`, one row per stream. `lease` hands the ordered jobs it took
//!   to the function `advance` (created by the schema's migration), which upserts each stream's
//!   row in order: the row lock makes compare-and-move atomic across every receiver, and the
//!   returned array names the stale jobs with the newer timestamp.
//! - **Gates**: a serial job enqueued (or replayed) while another of its stream is pending is
//!   *parked*, out of the lease's scan, and the stream's oldest parked job becomes due when the
//!   pending one is finished for good. Both steps hold the stream's transaction-level advisory
//!   lock, so a check cannot miss a finish committed meanwhile (see `Sql::lock_stream`).

use std::collections::BTreeSet;

use deadpool_postgres::GenericClient;
use roamify_hooks::delivery::Job;

use crate::sql::Sql;

/// Takes the advisory locks of `streams`, in order (so two transactions never wait on each
/// other), until the transaction ends.
pub(crate) async fn lock_streams<C: GenericClient>(
    client: &C,
    sql: &Sql,
    streams: &BTreeSet<String>,
) -> Result<(), tokio_postgres::Error> {
    for_each(client, &sql.lock_stream, streams).await
}

/// Runs `statement` once for each of `streams`, in order.
async fn for_each<C: GenericClient>(
    client: &C,
    statement: &str,
    streams: &BTreeSet<String>,
) -> Result<(), tokio_postgres::Error> {
    if streams.is_empty() {
        return Ok(());
    }
    let statement = client.prepare_cached(statement).await?;
    for stream in streams {
        client.execute(&statement, &[stream]).await?;
    }
    Ok(())
}

/// The serial streams whose pending job was just finished: each one's oldest parked job becomes
/// due. Takes the streams' locks first.
pub(crate) async fn open_gates<C: GenericClient>(
    client: &C,
    sql: &Sql,
    streams: &BTreeSet<String>,
) -> Result<(), tokio_postgres::Error> {
    lock_streams(client, sql, streams).await?;
    for_each(client, &sql.open_gate, streams).await
}

/// Judges the ordered ones among `jobs` (just leased) against their streams' marks, moving the
/// marks forward: a stale job gets [`Job::stale`].
pub(crate) async fn advance<C: GenericClient>(
    client: &C,
    sql: &Sql,
    jobs: &mut [Job],
    retention_ms: i64,
) -> Result<(), tokio_postgres::Error> {
    let (streams, ats): (Vec<&str>, Vec<i64>) = jobs
        .iter()
        .filter_map(|job| job.order.as_ref())
        .map(|order| (order.stream.as_str(), order.at))
        .unzip();
    if streams.is_empty() {
        return Ok(());
    }
    let advance = client.prepare_cached(&sql.advance).await?;
    let row = client
        .query_one(&advance, &[&streams, &ats, &retention_ms])
        .await?;
    let newest: Vec<Option<i64>> = row.get(0);
    let ordered = jobs.iter_mut().filter(|job| job.order.is_some());
    for (job, newest) in ordered.zip(newest) {
        job.stale = newest;
    }
    Ok(())
}
