//! The PostgreSQL store: the store contract's conformance kit, the admin API, stores sharing one schema,
//! bad input, leases of a receiver that stopped beating taken back, and a schema written by the
//! previous release opened with nothing lost. Run when `ROAMIFY_TEST_POSTGRES` holds a database
//! URL (CI sets it); each test says it was skipped otherwise.

#[path = "../../tests/support/postgres.rs"]
mod support;
#[path = "../../tests/support/upgrade.rs"]
mod upgrade;

use roamify_hooks::delivery::Incoming;
use std::sync::Arc;
use std::time::Duration;

use roamify_hooks::delivery::{
    Admin, Enqueued, HistoryLimits, Queue, Store, StoreError, StoreLimits,
};

const LONG: Duration = Duration::from_secs(3600);
use roamify_hooks::testing::conformance;
use roamify_hooks_postgres::{HOLDER_TIMEOUT, PgOptions, PgStore};
use support::{drop_schema, postgres_url, unique_schema};

/// A connect that must fail, with `expected` in its report.
fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: &str) {
    let error = result.expect_err(expected);
    assert!(error.report().contains(expected), "{}", error.report());
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_keeps_the_store_promises() {
    let Some(url) = postgres_url("postgres_store_keeps_the_store_promises") else {
        return;
    };
    let mut schemas = Vec::new();
    conformance::check("postgres", |limits| {
        let schema = unique_schema("roamify_conformance");
        schemas.push(schema.clone());
        let url = url.clone();
        async move {
            let options = PgOptions::default().schema(schema).limits(limits);
            Arc::new(PgStore::connect(&url, options).await.expect("connect")) as Arc<dyn Store>
        }
    })
    .await;
    for schema in schemas {
        drop_schema(&url, &schema).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_on_the_postgres_store() {
    let Some(url) = postgres_url("the_admin_api_on_the_postgres_store") else {
        return;
    };
    let schema = unique_schema("roamify_admin");
    let options = PgOptions::default().schema(schema.as_str());
    let store = PgStore::connect(&url, options).await.expect("connect");
    conformance::check_admin("postgres", Arc::new(store)).await;
    drop_schema(&url, &schema).await;
    let schema = unique_schema("roamify_history");
    let limits = StoreLimits::default().history(HistoryLimits::new(25, LONG));
    let options = PgOptions::default().schema(schema.as_str()).limits(limits);
    let store = PgStore::connect(&url, options).await.expect("connect");
    conformance::check_history_bound("postgres", Arc::new(store)).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stores_on_one_schema_share_everything_and_migrate_once() {
    let Some(url) = postgres_url("postgres_stores_on_one_schema_share_everything_and_migrate_once")
    else {
        return;
    };
    let schema = unique_schema("roamify_shared");
    // Three receivers starting at once migrate the same schema once.
    let options = PgOptions::default().schema(schema.as_str());
    let (a, b, c) = tokio::join!(
        PgStore::connect(&url, options.clone()),
        PgStore::connect(&url, options.clone()),
        PgStore::connect(&url, options.clone()),
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    conformance::check_shared(&a, &b, &c).await;
    drop((a, b, c));
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_refuses_bad_input_clearly() {
    refused(
        PgStore::connect(
            "postgres://127.0.0.1/test",
            PgOptions::default().schema("x; DROP TABLE y"),
        )
        .await,
        "invalid schema name",
    );
    refused(
        PgStore::connect(
            "postgres://nobody@127.0.0.1:1/none",
            PgOptions::default().timeout(Duration::from_secs(2)),
        )
        .await,
        "the delivery store could not ",
    );
}

/// A receiver that stopped beating (its store dropped here, as a killed process's heartbeat
/// stops) has its leases taken back by a live one within the holder timeout and a heartbeat,
/// not after their visibility timeout of an hour.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_takes_back_the_leases_of_a_receiver_that_stopped_beating() {
    let Some(url) = postgres_url("postgres_takes_back_the_leases_of_a_receiver_that_stopped")
    else {
        return;
    };
    let schema = unique_schema("roamify_takeover");
    let options = PgOptions::default().schema(schema.as_str());
    let live = PgStore::connect(&url, options.clone()).await.expect("live");
    let gone = PgStore::connect(&url, options).await.expect("gone");
    conformance::check_takeover(&live, Box::new(gone), HOLDER_TIMEOUT * 3).await;
    drop(live);
    drop_schema(&url, &schema).await;
}

/// A schema written by the release before the stores moved to their own crates (schema version
/// 1, `tests/fixtures/upgrade/postgres-v1.sql`) is migrated in place with every acknowledged
/// delivery, dedupe key and dead letter intact.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_opens_a_schema_written_by_the_previous_release_with_nothing_lost() {
    let Some(url) = postgres_url("postgres_opens_a_schema_written_by_the_previous_release") else {
        return;
    };
    let schema = "roamify_upgrade_v1";
    drop_schema(&url, schema).await;
    let dump = std::fs::read_to_string(upgrade::fixture("postgres-v1.sql")).expect("the fixture");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client.batch_execute(&dump).await.expect("load the fixture");
    let store = PgStore::connect(
        &url,
        PgOptions::default()
            .schema(schema)
            .limits(StoreLimits::default().window(upgrade::WINDOW)),
    )
    .await
    .expect("migrate");
    upgrade::upgraded(&store).await;
    drop(store);
    drop_schema(&url, schema).await;
}

/// A schema records the application that owns it: another application is refused at start-up
/// with a clear error, an operator's store (no owner) opens it, and a schema with deliveries but
/// no recorded owner (an earlier release's) is adopted once.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_refuses_a_schema_owned_by_another_application() {
    let Some(url) = postgres_url("postgres_refuses_a_schema_owned_by_another_application") else {
        return;
    };
    let schema = unique_schema("roamify_owner");
    let options = PgOptions::default().schema(schema.as_str());
    // Written with no owner, as an earlier release did.
    let unowned = PgStore::connect(&url, options.clone())
        .await
        .expect("connect");
    let stored = unowned
        .enqueue(Incoming::new("kept".to_owned(), b"{}".to_vec()))
        .await;
    assert_eq!(stored.expect("enqueue"), Enqueued::Stored);
    drop(unowned);
    let adopted = PgStore::connect(&url, options.clone().owner("esim-reseller"))
        .await
        .expect("adopted by the first application with a name");
    assert_eq!(
        adopted.counts().await.expect("counts").pending(),
        1,
        "nothing lost"
    );
    let again = PgStore::connect(&url, options.clone().owner("esim-reseller")).await;
    assert!(again.is_ok(), "the owner itself connects again");
    refused(
        PgStore::connect(&url, options.clone().owner("loyalty-app")).await,
        &format!(
            "schema {schema} belongs to the application \"esim-reseller\", not to \"loyalty-app\""
        ),
    );
    assert!(
        PgStore::connect(&url, options).await.is_ok(),
        "an operator's store, with no owner, opens it"
    );
    drop((adopted, again));
    drop_schema(&url, &schema).await;
}
