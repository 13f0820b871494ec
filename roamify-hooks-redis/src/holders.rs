//! Who holds leases: every connected store beats a heartbeat into `{name}:holders`; the jobs of
//! a consumer that stopped beating are made due by the next heartbeat of any live store
//! (`lua/heartbeat.lua`).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use roamify_hooks::delivery::StoreError;
use roamify_hooks::delivery::backend;

use crate::{Shared, invoke, ms};

/// How often a connected store records that it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// How long a consumer may go without a heartbeat before it is taken for gone and its leases are
/// due again. Five missed heartbeats: a store whose Redis answers slowly for a while is not
/// taken for dead, and a killed process's leases wait at most this long plus one heartbeat.
pub const HOLDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Records that this store's consumer is alive and takes back the leases of gone ones; how many.
pub(crate) async fn beat(
    connection: ConnectionManager,
    shared: Arc<Shared>,
) -> Result<u64, StoreError> {
    let consumer = shared.consumer.clone();
    invoke(
        connection,
        shared,
        "record a heartbeat",
        |s| &s.heartbeat,
        move |i| {
            i.arg(consumer).arg(ms(HOLDER_TIMEOUT));
        },
    )
    .await
}

/// Beats every [`HEARTBEAT_EVERY`] until the store's runtime stops.
pub(crate) async fn keep_beating(connection: ConnectionManager, shared: Arc<Shared>) {
    backend::keep_beating(HEARTBEAT_EVERY, "Redis", || {
        beat(connection.clone(), Arc::clone(&shared))
    })
    .await;
}
