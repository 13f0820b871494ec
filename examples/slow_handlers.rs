//! A receiver whose handlers are slow, to show (and benchmark) that queued delivery acknowledges
//! at once whatever the handlers cost.
//!
//! ```text
//! ROAMIFY_WEBHOOK_SECRET=whsec_test ROAMIFY_DELIVERY=queued cargo run --release --example slow_handlers
//! ```
//!
//! Every handler sleeps `SLEEP_MS` (default 2500) without blocking a thread, like a call to a
//! slow API. Reads `ROAMIFY_WEBHOOK_SECRET`, `BIND_ADDR` (default `127.0.0.1:8080`), `WORKERS`
//! (default 1) and `ROAMIFY_DELIVERY` (`inline` or `queued`, default `queued`). The queue holds up
//! to `QUEUE_CAPACITY` deliveries (default 1 000 000) with up to `CONCURRENCY` handlers running
//! (default 256). Deduplication is off, so a load generator repeating one body exercises the
//! whole path.

use std::time::Duration;

use actix_web::{App, HttpServer};
use roamify_hooks::delivery::QueueOptions;
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::{Receiver, Secret, delivery::DeliveryMode, handlers, on_event};

fn sleep_time() -> Duration {
    Duration::from_millis(
        std::env::var("SLEEP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2500),
    )
}

#[on_event(category = "esim", kind = "usage")]
async fn usage(_: EsimUsage) {
    tokio::time::sleep(sleep_time()).await;
}
#[on_event(category = "esim", kind = "status")]
async fn status(_: EsimStatus) {
    tokio::time::sleep(sleep_time()).await;
}
#[on_event(category = "partner", kind = "low_balance")]
async fn low_balance(_: PartnerBalance) {
    tokio::time::sleep(sleep_time()).await;
}
#[on_event(category = "affiliate", kind = "order")]
async fn order(_: AffiliateOrder) {
    tokio::time::sleep(sleep_time()).await;
}
#[on_event(category = "refund", kind = "refunded")]
async fn refunded(_: Refund) {
    tokio::time::sleep(sleep_time()).await;
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = Secret::from_env()?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let options = QueueOptions::default()
        .capacity(env_or("QUEUE_CAPACITY", 1_000_000))
        .concurrency(env_or("CONCURRENCY", 256));
    let mode = match std::env::var("ROAMIFY_DELIVERY").as_deref() {
        Ok("inline") => DeliveryMode::Inline,
        Ok("queued") | Err(_) => DeliveryMode::Queued(options),
        Ok(other) => {
            return Err(format!("ROAMIFY_DELIVERY must be inline or queued, not {other:?}").into());
        }
    };
    let receiver = Receiver::builder()
        .secret(secret)
        .delivery(mode)
        .without_idempotency()
        .build(handlers![usage, status, low_balance, order, refunded])?;
    let for_server = receiver.clone();
    let server = HttpServer::new(move || {
        App::new().service(roamify_hooks_actix::webhook(
            "/webhooks/roamify",
            for_server.clone(),
        ))
    })
    .workers(env_or("WORKERS", 1))
    .bind(&bind)?;
    println!("listening on http://{bind}/webhooks/roamify");
    server.run().await?;
    println!("stats: {}", receiver.stats());
    Ok(())
}
