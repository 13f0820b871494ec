//! What the `server` (actix-web) and `axum_server` examples share: the handlers, the receiver
//! built from the environment, logging, the metrics recorder, and how errors end the process.
//! Only the HTTP server differs between them.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roamify_hooks::admin::{AdminApi, AdminTokens};
use roamify_hooks::delivery::{
    HistoryLimits, JournalOptions, JournalStore, QueueOptions, RetryPolicy, Role, Store,
    StoreLimits,
};
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::health::Graces;
use roamify_hooks::{
    Dispatch, Receiver, Secret, State, UnknownEvent, delivery::DeliveryMode, handlers, on_event,
};
use roamify_hooks_stores::{StoreConfig, StoreUrl};
use tracing::info;

mod trace;

use trace::Trace;

/// Where the webhook is served.
pub(crate) const PATH: &str = "/webhooks/roamify";
/// Where the admin API and its page are served (`ROAMIFY_ADMIN_TOKEN`).
pub(crate) const ADMIN_PATH: &str = roamify_hooks::admin::DEFAULT_PATH;
/// The liveness probe's path (200 while the process answers).
pub(crate) const LIVE_PATH: &str = "/healthz";
/// The readiness probe's path (503 with the reason while not ready).
pub(crate) const READY_PATH: &str = "/readyz";

#[on_event(category = "esim", kind = "usage")]
async fn esim_usage(event: EsimUsage, trace: State<Trace>) {
    let _run = trace.started("usage", &event.iccid, event.timestamp.as_secs());
    let remaining = event.usage_data.as_ref().and_then(|u| u.remaining_data);
    let units = event.data_units.as_deref().unwrap_or("?");
    info!(iccid = %event.iccid, status = %event.status, ?remaining, units, days = event.usage_list.len(), "eSIM usage");
    trace.pause().await;
}

#[on_event(category = "esim", kind = "status")]
async fn esim_status(event: EsimStatus, trace: State<Trace>) {
    let _run = trace.started("status", &event.iccid, event.timestamp.as_secs());
    info!(iccid = %event.iccid, esim = %event.esim_id, status = %event.status, reference = ?event.reference_id, "eSIM status changed");
    trace.pause().await;
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

/// Logs to standard output, filtered by `RUST_LOG` (default `info`), through a [`BatchedStdout`].
/// Keep the guard until exit: dropping it writes what is left.
pub(crate) fn init_logs() -> FlushOnDrop {
    let stdout = Arc::new(BatchedStdout::default());
    let flusher = Arc::clone(&stdout);
    // A line waits at most this long before it reaches standard output.
    let spawned = std::thread::Builder::new()
        .name("log-flusher".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let _ = (&*flusher).flush();
            }
        });
    if let Err(error) = spawned {
        eprintln!("cannot start the log flusher ({error}): logs are written when 64 KiB wait");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(Arc::clone(&stdout))
        .with_timer(SecondCachedTime)
        .with_ansi(std::io::stdout().is_terminal())
        .compact()
        .init();
    FlushOnDrop(stdout)
}

/// Timestamps as `tracing-subscriber`'s default writes them (RFC 3339, UTC, microseconds), with
/// the date and time of day formatted once per second on each thread rather than for every line.
struct SecondCachedTime;

impl tracing_subscriber::fmt::time::FormatTime for SecondCachedTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        thread_local! {
            static SECOND: std::cell::RefCell<(u64, String)> =
                const { std::cell::RefCell::new((u64::MAX, String::new())) };
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs();
        SECOND.with(|second| {
            let mut second = second.borrow_mut();
            if second.0 != secs {
                let at = i64::try_from(secs)
                    .ok()
                    .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                second.1.clear();
                write!(
                    second.1,
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute(),
                    at.second()
                )?;
                second.0 = secs;
            }
            write!(w, "{}.{:06}Z", second.1, now.subsec_micros())
        })
    }
}

/// Standard output for log lines, in batches: each line is copied into a 64 KiB buffer under a
/// lock (`tracing-subscriber` writes an event in one `write_all`, so lines never interleave),
/// and the buffer goes out in one `write` when full, or when the flusher thread finds lines
/// waiting (every 100 ms). No allocation, channel or thread wake-up per line. A process killed
/// with SIGKILL loses at most the lines of the last 100 ms.
pub(crate) struct BatchedStdout(Mutex<std::io::BufWriter<std::io::Stdout>>);

impl Default for BatchedStdout {
    fn default() -> Self {
        Self(Mutex::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        )))
    }
}

impl std::io::Write for &BatchedStdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes).map(|()| bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut out) => out.write_all(bytes),
            Err(poisoned) => poisoned.into_inner().write_all(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut out) => out.flush(),
            Err(poisoned) => poisoned.into_inner().flush(),
        }
    }
}

/// Writes the waiting log lines when dropped (at the end of `main`).
pub(crate) struct FlushOnDrop(Arc<BatchedStdout>);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let _ = (&*self.0).flush();
    }
}

/// The exit code of `result`, printing an error and its causes on one line.
pub(crate) fn exit(name: &str, result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {}", roamify_hooks::report(&*error));
            ExitCode::FAILURE
        }
    }
}

/// `BIND_ADDR` (default `127.0.0.1:8080`).
pub(crate) fn bind_addr() -> String {
    std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
}

/// `WORKERS` (default: one per core).
pub(crate) fn workers() -> Result<usize, String> {
    match std::env::var("WORKERS") {
        Ok(w) => w
            .parse::<usize>()
            .ok()
            .filter(|w| *w > 0)
            .ok_or(format!("WORKERS must be a positive number, not {w:?}")),
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}

/// An admin API and the address to serve it on apart (`None`: beside the webhook).
pub(crate) type Admin = (AdminApi, Option<String>);

/// The admin API the environment asks for: `None` without `ROAMIFY_ADMIN_TOKEN`; with it, the
/// API of `receiver` (with `ROAMIFY_ADMIN_READ_TOKEN` as its read-only token) and
/// `ROAMIFY_ADMIN_ADDR`, the address to serve it on apart (`None`: beside the webhook).
pub(crate) fn admin<D: Dispatch>(
    receiver: &Receiver<D>,
) -> Result<Option<Admin>, Box<dyn std::error::Error>> {
    let Some(tokens) = AdminTokens::from_env().map_err(|e| format!("ROAMIFY_ADMIN_TOKEN: {e}"))?
    else {
        return Ok(None);
    };
    let addr = std::env::var("ROAMIFY_ADMIN_ADDR")
        .ok()
        .filter(|a| !a.is_empty());
    Ok(Some((receiver.admin(tokens), addr)))
}

/// The receiver the environment describes, and its role.
pub(crate) fn receiver(
    example: &str,
) -> Result<(Receiver<impl Dispatch>, Role), Box<dyn std::error::Error>> {
    let secret = Secret::from_env().map_err(|e| {
        format!("{e}. Start it as: ROAMIFY_WEBHOOK_SECRET=whsec_... cargo run --example {example}")
    })?;
    let mut builder = Receiver::builder().secret(secret).state(Trace::from_env()?);
    if let Ok(ordering) = std::env::var("ROAMIFY_ORDERING") {
        builder = builder.ordering(
            ordering
                .parse()
                .map_err(|e| format!("ROAMIFY_ORDERING: {e}"))?,
        );
    }
    builder = match delivery()? {
        Delivery::Mode(mode) => builder.delivery(mode),
        Delivery::Store(store, options) => builder.store(store, options),
        Delivery::Shared(config) => {
            let store = futures_executor::block_on(config.open())?;
            builder.store(store, queue_options()?)
        }
    };
    let role = role()?;
    builder = builder.role(role);
    builder = builder.history(history()?);
    match idempotency_window()? {
        Some(Duration::ZERO) => builder = builder.without_idempotency(),
        Some(window) => builder = builder.idempotency_window(window),
        None => {}
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
    Ok((receiver, role))
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn stopped() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The graces of a clean stop on SIGTERM (0 allowed): `SHUTDOWN_GRACE_SECS` (default 5), how
/// long the server keeps taking deliveries once its readiness failed, so the load balancer
/// notices before connections are refused; `DRAIN_GRACE_SECS` (default 10), then how long
/// running handlers (and, in the queued mode, the queue) get to finish.
pub(crate) fn graces() -> Result<Graces, String> {
    let seconds = |name: &str, default: Duration| match std::env::var(name) {
        Ok(value) => value
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{name} must be a number of seconds, not {value:?}")),
        Err(_) => Ok(default),
    };
    let defaults = Graces::default();
    Ok(Graces::new(
        seconds("SHUTDOWN_GRACE_SECS", defaults.shutdown)?,
        seconds("DRAIN_GRACE_SECS", defaults.drain)?,
    ))
}

/// Worker-only (no HTTP server), after the signal: lets running handlers finish within `drain`.
pub(crate) fn stop_workers<D: Dispatch>(receiver: &Receiver<D>, drain: Duration) {
    let pending = receiver.shutdown(drain);
    info!(pending, "workers stopped");
}

/// What the receiver left pending once stopped (after `run_until_stopped` or
/// `serve_until_stopped`).
pub(crate) fn stopped_with(pending: usize) {
    if pending > 0 {
        info!(
            pending,
            "stopped with deliveries pending (a durable store resumes them on the next start)"
        );
    }
}

enum Delivery {
    Mode(DeliveryMode),
    /// A store opened here with options of its own (a journal with `JOURNAL_SEGMENT_BYTES`).
    Store(Arc<dyn Store>, QueueOptions),
    /// A store shared by several servers, opened from its URL as `roamify-hooks` (the CLI)
    /// opens it, owned by the application `ROAMIFY_APP` (default `roamify-hooks-example`).
    Shared(StoreConfig),
}

/// `ROAMIFY_DELIVERY`: `inline` (default), `queued`, `durable:<path>`, `journal:<dir>`, `postgres://…` or
/// `redis://…`.
fn delivery() -> Result<Delivery, String> {
    let value = std::env::var("ROAMIFY_DELIVERY").unwrap_or_else(|_| "inline".to_owned());
    let invalid = || {
        format!(
            "ROAMIFY_DELIVERY must be inline, queued, durable:<path>, journal:<dir>, postgres://… or redis://…, not {value:?}"
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
            StoreUrl::Journal(dir) => match positive("JOURNAL_SEGMENT_BYTES")? {
                None => Delivery::Mode(DeliveryMode::Journal {
                    dir,
                    options: queue_options()?,
                }),
                Some(bytes) => {
                    let options = JournalOptions::default()
                        .segment_size(bytes)
                        .limits(store_limits()?);
                    let store = JournalStore::open_with(&dir, options).map_err(|e| {
                        format!(
                            "cannot open the journal at {}: {}",
                            dir.display(),
                            e.report()
                        )
                    })?;
                    Delivery::Store(Arc::new(store), queue_options()?)
                }
            },
            url => Delivery::Shared(
                StoreConfig::new(url)
                    .pg_schema(scope("PG_SCHEMA"))
                    .redis_name(scope("REDIS_NAME"))
                    .limits(store_limits()?)
                    .owner(
                        std::env::var("ROAMIFY_APP")
                            .unwrap_or_else(|_| "roamify-hooks-example".to_owned()),
                    ),
            ),
        },
    })
}

/// The variable `name` as a positive number, `None` when unset.
fn positive(name: &str) -> Result<Option<u64>, String> {
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

/// A shared store's dedupe window and capacity, from `IDEMPOTENCY_WINDOW_SECS` (0: none) and
/// `QUEUE_CAPACITY`, as the receiver applies them to the stores it opens.
fn store_limits() -> Result<StoreLimits, String> {
    let mut limits = StoreLimits::default()
        .capacity(queue_options()?.capacity)
        .history(history()?);
    if let Some(window) = idempotency_window()? {
        limits = limits.window(window);
    }
    Ok(limits)
}

/// The delivery history kept: `HISTORY_ENTRIES` (default 20000; 0: none) deliveries of the
/// last `HISTORY_AGE_SECS` (default 604800, 7 days).
fn history() -> Result<HistoryLimits, String> {
    let number = |name: &str| match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(value) => value
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("{name} must be a whole number, not {value:?}")),
    };
    let defaults = HistoryLimits::default();
    let entries = number("HISTORY_ENTRIES")?.map_or(defaults.entries, |n| {
        usize::try_from(n).unwrap_or(usize::MAX)
    });
    let age = number("HISTORY_AGE_SECS")?.map_or(defaults.age, Duration::from_secs);
    Ok(if entries == 0 {
        HistoryLimits::off()
    } else {
        HistoryLimits::new(entries, age)
    })
}

/// `IDEMPOTENCY_WINDOW_SECS`, `None` when unset (0: deduplication off).
fn idempotency_window() -> Result<Option<Duration>, String> {
    match std::env::var("IDEMPOTENCY_WINDOW_SECS") {
        Err(_) => Ok(None),
        Ok(value) => value
            .parse::<u64>()
            .map(|secs| Some(Duration::from_secs(secs)))
            .map_err(|_| "IDEMPOTENCY_WINDOW_SECS must be a number of seconds".to_owned()),
    }
}

/// The queued modes' options from `QUEUE_CAPACITY`, `QUEUE_CONCURRENCY`, `QUEUE_BATCH`,
/// `MAX_ATTEMPTS`, `HANDLER_TIMEOUT_SECS` and `VISIBILITY_TIMEOUT_SECS`.
fn queue_options() -> Result<QueueOptions, String> {
    let number = positive;
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

/// `METRICS_ADDR`: where to serve the Prometheus recorder's text, when set.
pub(crate) struct Metrics {
    pub(crate) addr: String,
    pub(crate) handle: metrics_exporter_prometheus::PrometheusHandle,
}

impl Metrics {
    /// Installs the Prometheus recorder when `METRICS_ADDR` is set.
    pub(crate) fn from_env() -> Result<Option<Self>, Box<dyn std::error::Error>> {
        let Ok(addr) = std::env::var("METRICS_ADDR") else {
            return Ok(None);
        };
        // The handler durations as a histogram with buckets (the exporter's default is a
        // summary), the ones the library suggests.
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "roamify_handler_duration_seconds".to_owned(),
                ),
                roamify_hooks::meter::HANDLER_DURATION_BUCKETS,
            )
            .map_err(|e| format!("METRICS_ADDR: {e}"))?
            .install_recorder()
            .map_err(|e| format!("METRICS_ADDR: cannot install the Prometheus recorder: {e}"))?;
        Ok(Some(Self { addr, handle }))
    }

    /// The text to answer `GET /metrics` with.
    pub(crate) fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// The `Content-Type` of the metrics text.
pub(crate) const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";
