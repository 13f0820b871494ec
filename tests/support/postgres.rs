//! Helpers of the tests that need a PostgreSQL server: its URL from the environment (a test
//! without one says it was skipped), schemas of their own per run, clean-up.
#![allow(dead_code, unreachable_pub)]

/// The database URL for PostgreSQL tests, or `None` (and a line saying `test` was skipped).
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("ROAMIFY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: set ROAMIFY_TEST_POSTGRES to a PostgreSQL URL to run it");
            None
        }
    }
}

/// A schema name of its own for one test run.
pub fn unique_schema(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// Drops a test's schema and everything in it.
pub async fn drop_schema(url: &str, schema: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to drop the test schema");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .expect("drop the test schema");
}
