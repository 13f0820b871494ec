//! The `server` example on axum instead of actix-web: the same handlers, receiver, variables and
//! answers, through `roamify-hooks-axum`.
//!
//! ```text
//! ROAMIFY_WEBHOOK_SECRET=whsec_test cargo run --example axum_server
//! cargo run --example send -- partner.low_balance      # in another terminal
//! ```
//!
//! Environment: as the `server` example (`ROAMIFY_WEBHOOK_SECRET`, `BIND_ADDR`, `WORKERS` — here
//! Tokio worker threads —, `ROAMIFY_DELIVERY`, `ROAMIFY_ROLE`, the `QUEUE_*` options,
//! `IDEMPOTENCY_WINDOW_SECS`, `HANDLED_LOG`, `ROAMIFY_ORDERING`, `ORDER_LOG`, `HANDLER_SLEEP_MS`,
//! `RUST_LOG`, `METRICS_ADDR`, `ROAMIFY_ADMIN_TOKEN`, `ROAMIFY_ADMIN_READ_TOKEN`,
//! `ROAMIFY_ADMIN_ADDR`, `HISTORY_ENTRIES`, `HISTORY_AGE_SECS`), except TLS: this one
//! serves plain HTTP only, behind a TLS proxy, and refuses to start when `TLS_CERT_FILE` or
//! `TLS_KEY_FILE` is set rather than serve plain HTTP where HTTPS was asked for.
//!
//! The server prints `listening on http://ADDR/webhooks/roamify` once it accepts connections.

mod common;

use std::process::ExitCode;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use roamify_hooks::delivery::Role;

use common::{ADMIN_PATH, LIVE_PATH, Metrics, PATH, READY_PATH};

fn main() -> ExitCode {
    let _flush_logs_on_exit = common::init_logs();
    common::exit("axum_server", run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("TLS_CERT_FILE").is_some() || std::env::var_os("TLS_KEY_FILE").is_some() {
        return Err(
            "axum_server serves plain HTTP only: unset TLS_CERT_FILE and TLS_KEY_FILE \
                    and terminate TLS in a proxy, or use the `server` example"
                .into(),
        );
    }
    let bind = common::bind_addr();
    let workers = common::workers()?;
    let metrics = Metrics::from_env()?;
    let (receiver, role) = common::receiver("axum_server")?;
    let admin = common::admin(&receiver)?;
    let graces = common::graces()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let for_server = receiver.clone();
    let pending = runtime.block_on(async move {
        if let Some(metrics) = metrics {
            serve_metrics(metrics).await?;
        }
        if role == Role::WorkerOnly {
            // Nothing to serve: run the workers until SIGINT or SIGTERM.
            println!("running workers only (ROAMIFY_ROLE=worker)");
            common::stopped().await;
            return Ok::<_, std::io::Error>(None);
        }
        let mut app = Router::new()
            .route(PATH, roamify_hooks_axum::webhook(for_server.clone()))
            .route(LIVE_PATH, roamify_hooks_axum::liveness())
            .route(
                READY_PATH,
                roamify_hooks_axum::readiness(for_server.clone()),
            );
        let listener = tokio::net::TcpListener::bind(&bind).await?;
        let local = listener.local_addr()?;
        println!("listening on http://{local}{PATH}");
        match admin {
            // The admin API beside the webhook.
            Some((api, None)) => {
                app = app.merge(roamify_hooks_axum::admin(ADMIN_PATH, api));
                println!("admin on http://{local}{ADMIN_PATH}/");
            }
            // On an address of its own.
            Some((api, Some(addr))) => {
                let admin_listener = tokio::net::TcpListener::bind(&addr).await?;
                println!(
                    "admin on http://{}{ADMIN_PATH}/",
                    admin_listener.local_addr()?
                );
                let router: Router = roamify_hooks_axum::admin(ADMIN_PATH, api);
                tokio::spawn(async move { axum::serve(admin_listener, router).await });
            }
            None => {}
        }
        // On SIGTERM: not ready at once, deliveries taken for the grace, then stopped.
        roamify_hooks_axum::serve_until_stopped(
            listener,
            app,
            for_server,
            graces,
            common::stopped(),
        )
        .await
        .map(Some)
    })?;
    drop(runtime);
    match pending {
        Some(pending) => common::stopped_with(pending),
        None => common::stop_workers(&receiver, graces.drain),
    }
    Ok(())
}

/// Serves `GET /metrics` on `METRICS_ADDR` (printing where) in the background.
async fn serve_metrics(metrics: Metrics) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(&metrics.addr).await?;
    println!("metrics on http://{}/metrics", listener.local_addr()?);
    let metrics = std::sync::Arc::new(metrics);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = std::sync::Arc::clone(&metrics);
            async move {
                (
                    [(header::CONTENT_TYPE, common::METRICS_CONTENT_TYPE)],
                    metrics.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    Ok(())
}
