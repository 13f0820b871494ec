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
//! - `ROAMIFY_DELIVERY` (default `inline`): `inline` (handlers run before the answer),
//!   `queued` (acknowledge at once, in-memory queue), `durable:<path>` (commit to the SQLite file
//!   at `<path>` before acknowledging; pending events resume after a restart), `journal:<dir>`
//!   (the same guarantee from an append-only journal in directory `<dir>`: faster, one process
//!   at a time), `postgres://user@host/db` (a store shared by every server using that database, in schema
//!   `PG_SCHEMA`, default `roamify`) or `redis://host:port/db` (a store shared by every server
//!   using that Redis, on Redis Streams, under the key tag `REDIS_NAME`, default `roamify`).
//! - `ROAMIFY_ROLE` (default `both`): `ingest` accepts and stores deliveries but runs no
//!   handlers; `worker` runs handlers of stored deliveries and serves no HTTP (until SIGINT or
//!   SIGTERM). Needs a queued mode.
//! - `JOURNAL_SEGMENT_BYTES` (default 67108864; less than 65536 is raised to it): with
//!   `journal:<dir>`, the size of each of the journal's two segment files (see
//!   `roamify_hooks::delivery::JournalOptions::segment_size`).
//! - `QUEUE_CAPACITY` (default 10000), `QUEUE_CONCURRENCY` (8), `QUEUE_BATCH` (64),
//!   `MAX_ATTEMPTS` (8), `HANDLER_TIMEOUT_SECS` (60), `VISIBILITY_TIMEOUT_SECS` (300): the queued
//!   and durable modes' options (see `roamify_hooks::delivery::QueueOptions`).
//! - `IDEMPOTENCY_WINDOW_SECS` (default 86400): how long a delivery's key is remembered so a
//!   duplicate is acknowledged without running handlers again; `0` turns deduplication off.
//! - `HANDLED_LOG` (optional): a file to which each handled event's idempotency key is appended,
//!   one per line — an audit trail.
//! - `ROAMIFY_ORDERING` (default `off`): `off`, `latest` or `serial`, how deliveries of an
//!   eSIM's status, its usage and the partner balance are ordered (see the README's
//!   "Out-of-order events").
//! - `ORDER_LOG` (optional): a file to which the eSIM handlers append a line when each run
//!   starts and ends (`start|end <kind> <iccid> <timestamp> <unix ns> <pid>`); `HANDLER_SLEEP_MS`
//!   (default 0): how long each eSIM handler run lasts. For the ordering tests.
//! - `HISTORY_ENTRIES` (default 20000; `0`: none) and `HISTORY_AGE_SECS` (default 604800): the
//!   delivery history the store keeps, the newest so many of the last so long (queued and
//!   store-backed modes).
//! - `ROAMIFY_ADMIN_TOKEN` (optional, 16 characters or more): serve the admin API and the
//!   operations page at `/roamify/admin/`, for holders of this bearer token; without it they are
//!   not served. `ROAMIFY_ADMIN_READ_TOKEN` (optional): a second token that may only read.
//!   `ROAMIFY_ADMIN_ADDR` (optional, e.g. `127.0.0.1:9000`; port `0` picks a free one): serve them
//!   there instead of beside the webhook — recommended, off the internet-facing port. The
//!   address is printed (`admin on http://ADDR/roamify/admin/`).
//! - `RUST_LOG` (default `info`): log filter. Logs go to standard output in batches (a line
//!   reaches it within 100 ms; see `common::BatchedStdout`).
//! - `METRICS_ADDR` (optional, e.g. `127.0.0.1:9090`): serve the metrics in Prometheus text
//!   format at `http://METRICS_ADDR/metrics` (port `0` picks a free port; the address is
//!   printed after the webhook's).
//!
//! The server prints `listening on http(s)://ADDR/webhooks/roamify` once it accepts connections.

mod common;

use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, web};
use roamify_hooks::delivery::Role;

use common::{ADMIN_PATH, LIVE_PATH, Metrics, PATH, READY_PATH};

fn main() -> ExitCode {
    let _flush_logs_on_exit = common::init_logs();
    common::exit("server", run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bind = common::bind_addr();
    let workers = common::workers()?;
    let tls = tls::from_env()?;
    let metrics = Metrics::from_env()?;
    let (receiver, role) = common::receiver("server")?;
    let graces = common::graces()?;

    if role == Role::WorkerOnly {
        // Nothing to serve: run the workers until SIGINT or SIGTERM.
        println!("running workers only (ROAMIFY_ROLE=worker)");
        actix_web::rt::System::new().block_on(async {
            if let Some(metrics) = metrics {
                actix_web::rt::spawn(serve_metrics(metrics)?);
            }
            common::stopped().await;
            Ok::<(), std::io::Error>(())
        })?;
        common::stop_workers(&receiver, graces.drain);
        return Ok(());
    }
    let admin = common::admin(&receiver)?;
    let for_server = receiver.clone();
    let pending = actix_web::rt::System::new().block_on(async move {
        // The admin API beside the webhook, unless it has an address of its own.
        let beside = match &admin {
            Some((api, None)) => Some(api.clone()),
            _ => None,
        };
        let server = HttpServer::new(move || {
            App::new()
                .service(roamify_hooks_actix::webhook(PATH, for_server.clone()))
                .service(roamify_hooks_actix::liveness(LIVE_PATH))
                .service(roamify_hooks_actix::readiness(
                    READY_PATH,
                    for_server.clone(),
                ))
                .configure(|config| {
                    if let Some(api) = &beside {
                        config.service(roamify_hooks_actix::admin(ADMIN_PATH, api.clone()));
                    }
                })
        })
        .workers(workers)
        // SIGTERM is handled by `run_until_stopped`: readiness fails first.
        .disable_signals();
        let (server, scheme) = match tls {
            Some(config) => (server.bind_rustls_0_23(&bind, config)?, "https"),
            None => (server.bind(&bind)?, "http"),
        };
        for addr in server.addrs() {
            println!("listening on {scheme}://{addr}{PATH}");
            if matches!(admin, Some((_, None))) {
                println!("admin on {scheme}://{addr}{ADMIN_PATH}/");
            }
        }
        if let Some((api, Some(addr))) = admin {
            actix_web::rt::spawn(serve_admin(api, &addr)?);
        }
        if let Some(metrics) = metrics {
            actix_web::rt::spawn(serve_metrics(metrics)?);
        }
        // On SIGTERM: not ready at once, deliveries taken for the grace, then stopped.
        roamify_hooks_actix::run_until_stopped(server.run(), receiver, graces, common::stopped())
            .await
    })?;
    common::stopped_with(pending);
    Ok(())
}

/// Binds the admin API and its page on `addr` (printing where) and returns the server to spawn.
fn serve_admin(
    api: roamify_hooks::admin::AdminApi,
    addr: &str,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new().service(roamify_hooks_actix::admin(ADMIN_PATH, api.clone()))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?;
    for addr in server.addrs() {
        println!("admin on http://{addr}{ADMIN_PATH}/");
    }
    Ok(server.run())
}

/// Binds `GET /metrics` (printing where) and returns the server to spawn.
fn serve_metrics(metrics: Metrics) -> std::io::Result<actix_web::dev::Server> {
    let addr = metrics.addr.clone();
    let metrics = web::Data::new(metrics);
    let server = HttpServer::new(move || {
        App::new().app_data(metrics.clone()).route(
            "/metrics",
            web::get().to(|metrics: web::Data<Metrics>| async move {
                HttpResponse::Ok()
                    .content_type(common::METRICS_CONTENT_TYPE)
                    .body(metrics.render())
            }),
        )
    })
    .workers(1)
    .bind(&addr)?;
    for addr in server.addrs() {
        println!("metrics on http://{addr}/metrics");
    }
    Ok(server.run())
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
