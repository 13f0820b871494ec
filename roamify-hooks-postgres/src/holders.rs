//! Who holds leases: every connected store beats its heartbeat into `holders`; the leases of a
//! holder that stopped beating are taken back by the next heartbeat of any live store.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use roamify_hooks::delivery::StoreError;
use roamify_hooks::delivery::backend;

use crate::sql::Sql;
use crate::{backend, pool_error};

/// How often a connected store records that it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// How long a holder may go without a heartbeat before it is taken for gone and its leases are
/// due again. Five missed heartbeats: a store whose database answers slowly for a while is not
/// taken for dead, and a killed process's leases wait at most this long plus one heartbeat.
pub const HOLDER_TIMEOUT: Duration = Duration::from_secs(10);

/// A new holder id: random, so receivers need no coordination to pick one.
pub(crate) fn new_id() -> i64 {
    fastrand::i64(1..)
}

/// Records that `holder` is alive, then takes back the leases of the holders that are gone.
pub(crate) async fn beat(pool: &Pool, sql: &Sql, holder: i64) -> Result<u64, StoreError> {
    let fail = backend("record a heartbeat");
    let mut client = pool.get().await.map_err(pool_error("record a heartbeat"))?;
    let beat = client.prepare_cached(&sql.heartbeat).await.map_err(&fail)?;
    client.execute(&beat, &[&holder]).await.map_err(&fail)?;
    // The gone holders are forgotten in the transaction that takes their leases back.
    let tx = client.transaction().await.map_err(&fail)?;
    let client = &tx;
    // Usually no holder is gone: one indexed delete, and the jobs are not touched.
    let forget = client
        .prepare_cached(&sql.forget_holders)
        .await
        .map_err(&fail)?;
    let timeout = HOLDER_TIMEOUT.as_secs_f64() * 1000.0;
    let gone: Vec<i64> = client
        .query(&forget, &[&timeout])
        .await
        .map_err(&fail)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    let take_back = client.prepare_cached(&sql.take_back).await.map_err(&fail)?;
    let taken = client
        .execute(&take_back, &[&gone])
        .await
        .map_err(backend("take back the leases of gone holders"))?;
    tx.commit().await.map_err(&fail)?;
    Ok(taken)
}

/// Beats every [`HEARTBEAT_EVERY`] until the store's runtime stops.
pub(crate) async fn keep_beating(pool: Pool, sql: Arc<Sql>, holder: i64) {
    backend::keep_beating(HEARTBEAT_EVERY, "PostgreSQL", || beat(&pool, &sql, holder)).await;
}
