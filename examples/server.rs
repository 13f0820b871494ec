//! The quickstart: an actix-web server receiving every documented Roamify event.
//!
//! ```text
//! ROAMIFY_WEBHOOK_SECRET=whsec_test cargo run --example server
//! cargo run --example send -- partner.low_balance      # in another terminal
//! ```
//!
//! Environment:
//! - `ROAMIFY_WEBHOOK_SECRET` (required): the secret from the Roamify dashboard.
//! - `BIND_ADDR` (default `127.0.0.1:8080`): where to listen; port `0` picks a free port.
//! - `WORKERS` (default: one per core): actix worker threads.
//! - `TLS_CERT_FILE` and `TLS_KEY_FILE` (PEM): serve HTTPS directly (Roamify only delivers to
//!   HTTPS endpoints with a valid certificate); without them, plain HTTP behind a TLS proxy.
//! - `RUST_LOG` (default `info`): log filter.
//!
//! The server prints `listening on http(s)://ADDR/webhooks/roamify` once it accepts connections.

use std::process::ExitCode;

use actix_web::{App, HttpServer};
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::{Receiver, Secret, UnknownEvent, handlers, on_event};
use tracing::info;

#[on_event(category = "esim", kind = "usage")]
async fn esim_usage(event: EsimUsage) {
    let remaining = event.usage_data.as_ref().and_then(|u| u.remaining_data);
    let units = event.data_units.as_deref().unwrap_or("?");
    info!(iccid = %event.iccid, status = %event.status, ?remaining, units, days = event.usage_list.len(), "eSIM usage");
}

#[on_event(category = "esim", kind = "status")]
async fn esim_status(event: EsimStatus) {
    info!(iccid = %event.iccid, esim = %event.esim_id, status = %event.status, reference = ?event.reference_id, "eSIM status changed");
}

#[on_event(category = "partner", kind = "low_balance")]
async fn low_balance(event: PartnerBalance) {
    info!(balance = %event.balance, currency = %event.currency, threshold = ?event.threshold, "partner balance is low");
}

#[on_event(category = "partner", kind = "insufficient_balance")]
async fn insufficient_balance(event: PartnerBalance) {
    info!(balance = %event.balance, currency = %event.currency, "a purchase exceeded the partner balance");
}

#[on_event(category = "partner", kind = "top_up")]
async fn top_up(event: PartnerBalance) {
    info!(balance = %event.balance, currency = %event.currency, "partner balance topped up");
}

#[on_event(category = "affiliate", kind = "order")]
async fn affiliate_order(event: AffiliateOrder) {
    let order = &event.order_data;
    info!(order = %order.order_id, total = %order.total, currency = %order.currency, status = %order.status,
          commission = %event.commission_amount, "affiliate order");
}

#[on_event(category = "refund", kind = "refunded")]
async fn refunded(event: Refund) {
    info!(refund = %event.refund_id, event_id = ?event.event_id, esim = ?event.esim_id, "refund paid back");
}

#[on_event(category = "refund", kind = "rejected")]
async fn rejected(event: Refund) {
    info!(refund = %event.refund_id, reason = ?event.rejection_reason, "refund rejected");
}

#[on_event(fallback)]
async fn unknown(event: UnknownEvent) {
    info!(
        category = event.category(),
        kind = event.kind(),
        "event unknown to this version, acknowledged"
    );
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let secret = Secret::from_env().map_err(|e| {
        format!("{e}. Start it as: ROAMIFY_WEBHOOK_SECRET=whsec_... cargo run --example server")
    })?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let workers = match std::env::var("WORKERS") {
        Ok(w) => w
            .parse::<usize>()
            .ok()
            .filter(|w| *w > 0)
            .ok_or(format!("WORKERS must be a positive number, not {w:?}"))?,
        Err(_) => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let tls = tls::from_env()?;

    let receiver = Receiver::builder().secret(secret).build(handlers![
        esim_usage,
        esim_status,
        low_balance,
        insufficient_balance,
        top_up,
        affiliate_order,
        refunded,
        rejected,
        fallback = unknown,
    ])?;

    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new().service(roamify_hooks_actix::webhook(
                "/webhooks/roamify",
                receiver.clone(),
            ))
        })
        .workers(workers);
        let (server, scheme) = match tls {
            Some(config) => (server.bind_rustls_0_23(&bind, config)?, "https"),
            None => (server.bind(&bind)?, "http"),
        };
        for addr in server.addrs() {
            println!("listening on {scheme}://{addr}/webhooks/roamify");
        }
        server.run().await
    })?;
    Ok(())
}

/// TLS from `TLS_CERT_FILE` / `TLS_KEY_FILE` (PEM), with rustls.
mod tls {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    pub(crate) fn from_env() -> Result<Option<rustls::ServerConfig>, Box<dyn std::error::Error>> {
        let (cert, key) = match (
            std::env::var("TLS_CERT_FILE"),
            std::env::var("TLS_KEY_FILE"),
        ) {
            (Ok(cert), Ok(key)) => (cert, key),
            (Err(_), Err(_)) => return Ok(None),
            _ => return Err("set both TLS_CERT_FILE and TLS_KEY_FILE, or neither".into()),
        };
        let certs = CertificateDer::pem_file_iter(&cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("{cert}: {e}"))?;
        let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("{key}: {e}"))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        Ok(Some(config))
    }
}
