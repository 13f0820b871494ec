//! Helpers of the tests that need a Redis server: its URL from the environment (a test without
//! one says it was skipped), store names of their own per run, clean-up.
#![allow(dead_code, unreachable_pub)]

/// A store name of its own for one test run.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{:x}",
        std::process::id(),
        next_suffix()
    )
}

/// A number that differs between two calls in one process (within one nanosecond too).
fn next_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The Redis URL for Redis tests, or `None` (and a line saying `test` was skipped).
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var("ROAMIFY_TEST_REDIS") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: set ROAMIFY_TEST_REDIS to a Redis URL to run it");
            None
        }
    }
}

/// Deletes every key of the Redis store named `name` (keys `{name}:…`).
pub async fn drop_redis_keys(url: &str, name: &str) {
    let client = redis::Client::open(url).expect("Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis to delete the test's keys");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{name}}}:*"))
        .query_async(&mut conn)
        .await
        .expect("list the test's keys");
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .expect("delete the test's keys");
    }
}
