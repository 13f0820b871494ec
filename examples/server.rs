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
//!   at `<path>` before acknowledging; pending events resume after a restart) or
//!   `postgres://user@host/db` (a store shared by every server using that database, in schema
//!   `PG_SCHEMA`, default `roamify`) or `redis://host:port/db` (a store shared by every server
//!   using that Redis, on Redis Streams, under the key tag `REDIS_NAME`, default `roamify`).
//! - `ROAMIFY_ROLE` (default `both`): `ingest` accepts and stores deliveries but runs no
//!   handlers; `worker` runs handlers of stored deliveries and serves no HTTP (until SIGINT or
//!   SIGTERM). Needs a queued mode.
//! - `QUEUE_CAPACITY` (default 10000), `QUEUE_CONCURRENCY` (8), `QUEUE_BATCH` (64),
//!   `MAX_ATTEMPTS` (8), `HANDLER_TIMEOUT_SECS` (60), `VISIBILITY_TIMEOUT_SECS` (300): the queued
//!   and durable modes' options (see `roamify_hooks::delivery::QueueOptions`).
//! - `IDEMPOTENCY_WINDOW_SECS` (default 86400): how long a delivery's key is remembered so a
//!   duplicate is acknowledged without running handlers again; `0` turns deduplication off.
//! - `HANDLED_LOG` (optional): a file to which each handled event's idempotency key is appended,
//!   one per line — an audit trail.
//! - `RUST_LOG` (default `info`): log filter. Logs go to standard output through a
//!   non-blocking writer (a thread of its own writes them; it never drops a line, it makes the
//!   server wait if it falls 128k lines behind).
//! - `METRICS_ADDR` (optional, e.g. `127.0.0.1:9090`): serve the metrics in Prometheus text
//!   format at `http://METRICS_ADDR/metrics` (port `0` picks a free port; the address is
//!   printed after the webhook's).
//!
//! The server prints `listening on http(s)://ADDR/webhooks/roamify` once it accepts connections.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{App, HttpServer};
use roamify_hooks::delivery::{QueueOptions, RetryPolicy, Role};
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::{DeliveryMode, Receiver, Secret, UnknownEvent, handlers, on_event};
use roamify_hooks_cli::store::{StoreConfig, StoreUrl};
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
    // Formatting stays on the request's thread; writing moves to the appender's, which writes
    // every line waiting at once (one `write` per batch, not per line) and flushes when idle.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(writer)
        .with_ansi(std::io::stdout().is_terminal())
        .compact()
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The error and its causes, on one line.
            let mut line = format!("server: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{line}");
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
    let metrics = metrics::from_env()?;
    let mut builder = Receiver::builder().secret(secret);
    builder = match delivery()? {
        Delivery::Mode(mode) => builder.delivery(mode),
        Delivery::Shared(config) => {
            let store = futures_executor::block_on(config.open())?;
            builder.store(store, queue_options()?)
        }
    };
    let role = role()?;
    builder = builder.role(role);
    match std::env::var("IDEMPOTENCY_WINDOW_SECS").map(|v| v.parse::<u64>()) {
        Ok(Ok(0)) => builder = builder.without_idempotency(),
        Ok(Ok(secs)) => builder = builder.idempotency_window(Duration::from_secs(secs)),
        Ok(Err(_)) => return Err("IDEMPOTENCY_WINDOW_SECS must be a number of seconds".into()),
        Err(_) => {}
    }
    if let Ok(path) = std::env::var("HANDLED_LOG") {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("HANDLED_LOG {path}: {e}"))?;
        let file = Mutex::new(file);
        builder = builder.on_handled(move |handled| {
            // One `write` call per line: `writeln!` would write the key and the newline
            // separately, and a process killed between the two would glue the next line to it.
            let line = format!("{}\n", handled.key);
            if let Ok(mut file) = file.lock()
                && let Err(error) = file.write_all(line.as_bytes())
            {
                tracing::error!(%error, "could not append to HANDLED_LOG");
            }
        });
    }

    let receiver = builder.build(handlers![
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

    if role == Role::WorkerOnly {
        // Nothing to serve: run the workers until SIGINT or SIGTERM.
        println!("running workers only (ROAMIFY_ROLE=worker)");
        actix_web::rt::System::new().block_on(async {
            if let Some(metrics) = metrics {
                actix_web::rt::spawn(metrics.serve()?);
            }
            let mut term = actix_web::rt::signal::unix::signal(
                actix_web::rt::signal::unix::SignalKind::terminate(),
            )?;
            tokio::select! {
                _ = actix_web::rt::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            Ok::<(), std::io::Error>(())
        })?;
        let pending = receiver.shutdown(Duration::from_secs(10));
        info!(pending, "workers stopped");
        return Ok(());
    }
    let for_server = receiver.clone();
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new().service(roamify_hooks_actix::webhook(
                "/webhooks/roamify",
                for_server.clone(),
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
        if let Some(metrics) = metrics {
            actix_web::rt::spawn(metrics.serve()?);
        }
        server.run().await
    })?;
    // The HTTP server has stopped (SIGINT/SIGTERM): let running handlers finish.
    let pending = receiver.shutdown(Duration::from_secs(10));
    if pending > 0 {
        info!(
            pending,
            "stopped with deliveries pending (a durable store resumes them on the next start)"
        );
    }
    Ok(())
}

enum Delivery {
    Mode(DeliveryMode),
    /// A store shared by several servers, opened as `roamify-hooks` (the CLI) opens it.
    Shared(StoreConfig),
}

/// `ROAMIFY_DELIVERY`: `inline` (default), `queued`, `durable:<path>`, `postgres://…` or
/// `redis://…`.
fn delivery() -> Result<Delivery, String> {
    let value = std::env::var("ROAMIFY_DELIVERY").unwrap_or_else(|_| "inline".to_owned());
    let invalid = || {
        format!(
            "ROAMIFY_DELIVERY must be inline, queued, durable:<path>, postgres://… or redis://…, not {value:?}"
        )
    };
    let scope = |name| std::env::var(name).unwrap_or_else(|_| "roamify".to_owned());
    Ok(match value.as_str() {
        "inline" => Delivery::Mode(DeliveryMode::Inline),
        "queued" => Delivery::Mode(DeliveryMode::Queued(queue_options()?)),
        _ => match value.parse::<StoreUrl>().map_err(|_| invalid())? {
            StoreUrl::Sqlite(path) => Delivery::Mode(DeliveryMode::Durable {
                path,
                options: queue_options()?,
            }),
            url => Delivery::Shared(StoreConfig {
                url,
                pg_schema: scope("PG_SCHEMA"),
                redis_name: scope("REDIS_NAME"),
            }),
        },
    })
}

/// `ROAMIFY_ROLE`: `both` (default), `ingest` or `worker`.
fn role() -> Result<Role, String> {
    match std::env::var("ROAMIFY_ROLE").as_deref() {
        Err(_) | Ok("both") => Ok(Role::Both),
        Ok("ingest") => Ok(Role::IngestOnly),
        Ok("worker") => Ok(Role::WorkerOnly),
        Ok(other) => Err(format!(
            "ROAMIFY_ROLE must be both, ingest or worker, not {other:?}"
        )),
    }
}

/// The queued modes' options from `QUEUE_CAPACITY`, `QUEUE_CONCURRENCY`, `QUEUE_BATCH`,
/// `MAX_ATTEMPTS`, `HANDLER_TIMEOUT_SECS` and `VISIBILITY_TIMEOUT_SECS`.
fn queue_options() -> Result<QueueOptions, String> {
    fn number(name: &str) -> Result<Option<u64>, String> {
        match std::env::var(name) {
            Ok(value) => value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or(format!("{name} must be a positive number, not {value:?}")),
            Err(_) => Ok(None),
        }
    }
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let mut options = QueueOptions::default();
    if let Some(n) = number("QUEUE_CAPACITY")? {
        options = options.capacity(size(n));
    }
    if let Some(n) = number("QUEUE_CONCURRENCY")? {
        options = options.concurrency(size(n));
    }
    if let Some(n) = number("QUEUE_BATCH")? {
        options = options.batch(size(n));
    }
    if let Some(n) = number("MAX_ATTEMPTS")? {
        let retry = options.retry;
        options = options.retry(RetryPolicy::new(
            u32::try_from(n).unwrap_or(u32::MAX),
            retry.base_delay,
            retry.max_delay,
        ));
    }
    if let Some(n) = number("HANDLER_TIMEOUT_SECS")? {
        options = options.handler_timeout(Duration::from_secs(n));
    }
    if let Some(n) = number("VISIBILITY_TIMEOUT_SECS")? {
        options = options.visibility_timeout(Duration::from_secs(n));
    }
    Ok(options)
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

/// `METRICS_ADDR`: the Prometheus endpoint.
mod metrics {
    use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

    pub(crate) struct Metrics {
        addr: String,
        handle: PrometheusHandle,
    }

    /// Installs the Prometheus recorder when `METRICS_ADDR` is set.
    pub(crate) fn from_env() -> Result<Option<Metrics>, Box<dyn std::error::Error>> {
        let Ok(addr) = std::env::var("METRICS_ADDR") else {
            return Ok(None);
        };
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("METRICS_ADDR: cannot install the Prometheus recorder: {e}"))?;
        Ok(Some(Metrics { addr, handle }))
    }

    impl Metrics {
        /// Binds `GET /metrics` (printing where) and returns the server to spawn.
        pub(crate) fn serve(self) -> std::io::Result<Server> {
            let handle = self.handle;
            let server = HttpServer::new(move || {
                let handle = handle.clone();
                App::new().route(
                    "/metrics",
                    web::get().to(move || {
                        let handle = handle.clone();
                        async move {
                            handle.run_upkeep();
                            HttpResponse::Ok()
                                .content_type("text/plain; version=0.0.4")
                                .body(handle.render())
                        }
                    }),
                )
            })
            .workers(1)
            .bind(&self.addr)?;
            for addr in server.addrs() {
                println!("metrics on http://{addr}/metrics");
            }
            Ok(server.run())
        }
    }
}
