//! Handlers that update application state: a partner-balance tracker.
//!
//! ```text
//! ROAMIFY_WEBHOOK_SECRET=whsec_test cargo run --example balance_tracker
//! ROAMIFY_WEBHOOK_SECRET=whsec_test cargo run --example send -- partner.top_up
//! curl http://127.0.0.1:8080/balance
//! ```
//!
//! Every partner event carries the current balance; the tracker keeps the latest one per
//! currency (events may arrive out of order, so the newest `timestamp` wins) and counts alerts.
//! `GET /balance` shows the state. Reads `ROAMIFY_WEBHOOK_SECRET`, `BIND_ADDR`, `WORKERS`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use actix_web::{App, HttpResponse, HttpServer, web};
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{Receiver, Secret, State, events::UnixTime, handlers, on_event};
use rust_decimal::Decimal;

/// The application state the handlers share.
#[derive(Default)]
struct Balances {
    inner: Mutex<Tracked>,
}

#[derive(Default)]
struct Tracked {
    /// Latest balance per currency, with the event time it was reported at.
    latest: BTreeMap<String, (Decimal, UnixTime)>,
    low_alerts: u32,
    refused_purchases: u32,
}

impl Balances {
    fn record(&self, event: &PartnerBalance) -> Result<(), String> {
        let mut tracked = self
            .inner
            .lock()
            .map_err(|_| "balance state poisoned".to_owned())?;
        let slot = tracked
            .latest
            .entry(event.currency.clone())
            .or_insert((event.balance, event.timestamp));
        if event.timestamp >= slot.1 {
            *slot = (event.balance, event.timestamp);
        }
        Ok(())
    }
}

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(event: PartnerBalance, balances: State<Balances>) -> Result<(), String> {
    balances.record(&event)?;
    balances
        .inner
        .lock()
        .map_err(|_| "balance state poisoned")?
        .low_alerts += 1;
    Ok(())
}

#[on_event(category = "partner", kind = "insufficient_balance")]
fn insufficient_balance(event: PartnerBalance, balances: State<Balances>) -> Result<(), String> {
    balances.record(&event)?;
    balances
        .inner
        .lock()
        .map_err(|_| "balance state poisoned")?
        .refused_purchases += 1;
    Ok(())
}

#[on_event(category = "partner", kind = "top_up")]
fn top_up(event: PartnerBalance, balances: State<Balances>) -> Result<(), String> {
    balances.record(&event)
}

async fn show(balances: web::Data<Balances>) -> HttpResponse {
    let Ok(tracked) = balances.inner.lock() else {
        return HttpResponse::InternalServerError().finish();
    };
    let latest: BTreeMap<&str, String> = tracked
        .latest
        .iter()
        .map(|(c, (b, _))| (c.as_str(), b.to_string()))
        .collect();
    HttpResponse::Ok().json(serde_json::json!({
        "balances": latest,
        "low_balance_alerts": tracked.low_alerts,
        "refused_purchases": tracked.refused_purchases,
    }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = Secret::from_env()?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let balances = std::sync::Arc::new(Balances::default());
    let receiver = Receiver::builder()
        .secret(secret)
        .state_arc(balances.clone())
        .build(handlers![low_balance, insufficient_balance, top_up])?;
    let data = web::Data::from(balances);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(roamify_hooks_actix::webhook(
                "/webhooks/roamify",
                receiver.clone(),
            ))
            .route("/balance", web::get().to(show))
    })
    .workers(workers)
    .bind(&bind)?;
    println!("listening on http://{bind}/webhooks/roamify (state at /balance)");
    server.run().await?;
    Ok(())
}
