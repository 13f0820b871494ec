//! One path for a delivery: the same deliveries sent through the inline path and through a
//! queued receiver's workers leave the same records of their runs, the same handler metrics, the
//! same `on_handled` calls and the same `handled` count. Only what one side alone knows may
//! differ: a request's `secret` and `latency_us`, a job's `attempt`.
//!
//! A global `tracing` subscriber and a global metrics recorder (the workers run on the
//! receiver's own threads), so in a binary of its own, with one test.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use roamify_hooks::delivery::{DeliveryMode, QueueOptions, RetryPolicy};
use roamify_hooks::events::{EsimStatus, EsimUsage, PartnerBalance};
use roamify_hooks::testing::sign;
use roamify_hooks::{Outcome, Receiver, Secret, UnknownEvent, handlers, on_event};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

mod support;

const SECRET: &str = "whsec_one_path";

/// Synchronous: run in place on both paths.
#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_: PartnerBalance) {}

/// Awaited on both paths (boxed in the workers).
#[on_event(category = "esim", kind = "usage")]
async fn usage(_: EsimUsage) {
    tokio::task::yield_now().await;
}

/// Fails on every delivery.
#[on_event(category = "partner", kind = "top_up")]
async fn top_up(_: PartnerBalance) -> Result<(), String> {
    Err("the ledger said no".to_owned())
}

/// Panics on every delivery.
#[on_event(category = "esim", kind = "status")]
fn status(_: EsimStatus) {
    panic!("status handler bug");
}

#[on_event(fallback)]
fn unknown(_: UnknownEvent) {}

/// The fixtures sent: every handler above, a kind without a handler (refunds), both shapes of
/// an event, and an unknown one.
const FIXTURES: &[&str] = &[
    "partner_low_balance.json",
    "partner_low_balance_flat.json",
    "esim_usage.json",
    "esim_usage_flat.json",
    "partner_top_up.json",
    "esim_status.json",
    "refund_refunded.json",
    "unknown_future_event.json",
];

/// What one log record said: level, message and fields, by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Record {
    level: String,
    message: String,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps every record of the receiver's target.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Record>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "roamify_hooks" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        self.0.lock().expect("lock").push(Record {
            level: event.metadata().level().to_string(),
            message,
            fields: fields.0,
        });
    }
}

/// The records a run leaves (not a request's "stored", nor a worker's retry or dead letter),
/// without the fields only one side has.
fn runs(records: &[Record]) -> Vec<Record> {
    const RUN_MESSAGES: &[&str] = &[
        "delivery handled",
        "acknowledged, no handler",
        "handler failed",
        "malformed event: the payload does not fit its handler",
    ];
    let mut runs: Vec<Record> = records
        .iter()
        .filter(|r| RUN_MESSAGES.contains(&r.message.as_str()))
        .cloned()
        .map(|mut r| {
            for only_one_side in ["secret", "latency_us", "attempt"] {
                r.fields.remove(only_one_side);
            }
            r
        })
        .collect();
    runs.sort();
    runs
}

/// Handler runs by `category`, `kind` and `result`, from the duration histogram (drained by
/// each snapshot).
fn handler_runs(snapshotter: &Snapshotter) -> BTreeMap<Vec<(String, String)>, usize> {
    let mut runs = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if key.key().name() != "roamify_handler_duration_seconds" {
            continue;
        }
        let DebugValue::Histogram(values) = value else {
            panic!("the handler duration is a histogram");
        };
        let mut labels: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        if !values.is_empty() {
            *runs.entry(labels).or_default() += values.len();
        }
    }
    runs
}

/// What one path left: run records, handler runs, `on_handled` calls, and its `handled` count.
#[derive(Debug, PartialEq, Eq)]
struct Left {
    runs: Vec<Record>,
    handler_runs: BTreeMap<Vec<(String, String)>, usize>,
    hooked: Vec<(String, String, String, &'static str)>,
    handled: u64,
}

fn send_all(mode: DeliveryMode, capture: &Capture, snapshotter: &Snapshotter) -> Left {
    capture.0.lock().expect("lock").clear();
    let _ = handler_runs(snapshotter);
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let hook = Arc::clone(&hooked);
    let queued = !matches!(mode, DeliveryMode::Inline);
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .delivery(mode)
        .on_handled(move |handled| {
            hook.lock().expect("lock").push((
                handled.key.to_owned(),
                handled.event.category().to_owned(),
                handled.event.kind().to_owned(),
                handled.handler,
            ));
        })
        .build(handlers![
            low_balance,
            usage,
            top_up,
            status,
            fallback = unknown
        ])
        .expect("build");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for name in FIXTURES {
        let body = support::event(name);
        let outcome = runtime.block_on(receiver.receive([sign(SECRET, &body)], &body));
        if queued {
            assert!(
                matches!(outcome, Outcome::Queued { .. }),
                "{name}: {outcome:?}"
            );
        }
    }
    if queued {
        // A failure's dead letter is recorded after its run: wait for both.
        runtime.block_on(support::eventually(
            "every delivery run and settled",
            || receiver.stats().handled + receiver.stats().dead_lettered == 7,
        ));
        let idle = runtime.block_on(receiver.wait_idle(Duration::from_secs(30)));
        assert!(matches!(idle, Ok(true)), "{idle:?}");
        receiver.shutdown(Duration::from_secs(5));
    }
    let mut hooked = hooked.lock().expect("lock").clone();
    hooked.sort();
    Left {
        runs: runs(&capture.0.lock().expect("lock")),
        handler_runs: handler_runs(snapshotter),
        hooked,
        handled: receiver.stats().handled,
    }
}

#[test]
fn inline_and_workers_leave_the_same_records_metrics_and_hook_calls() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(capture.clone())
            .with(tracing_subscriber::filter::LevelFilter::INFO),
    )
    .expect("the only subscriber of this binary");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");

    let inline = send_all(DeliveryMode::Inline, &capture, &snapshotter);
    // One attempt: a failure goes to the dead letters at once, as inline answers it 500 once.
    let options = QueueOptions::default().retry(RetryPolicy::new(
        1,
        Duration::from_millis(1),
        Duration::from_millis(1),
    ));
    let workers = send_all(DeliveryMode::Queued(options), &capture, &snapshotter);

    // What the comparison rests on: every kind of run is there.
    let messages: Vec<&str> = inline.runs.iter().map(|r| r.message.as_str()).collect();
    for expected in [
        "delivery handled",
        "acknowledged, no handler",
        "handler failed",
    ] {
        assert!(messages.contains(&expected), "{expected}: {messages:?}");
    }
    assert_eq!(inline.runs.len(), FIXTURES.len(), "{:#?}", inline.runs);
    assert!(
        inline.runs.iter().all(|r| r.fields.contains_key("key")),
        "with the hook set, inline records carry the key: {:#?}",
        inline.runs
    );
    let panicked = inline
        .runs
        .iter()
        .find(|r| r.fields.get("kind").is_some_and(|k| k == "status"))
        .expect("the status run");
    assert!(
        panicked.fields["cause"].contains("status handler bug"),
        "{panicked:?}"
    );
    assert_eq!(
        inline.handled, 5,
        "two low balances, two usages, the unknown event"
    );
    assert_eq!(inline.hooked.len(), 5);
    assert!(!inline.handler_runs.is_empty());

    assert_eq!(inline.runs, workers.runs);
    assert_eq!(inline.handler_runs, workers.handler_runs);
    assert_eq!(inline.hooked, workers.hooked);
    assert_eq!(inline.handled, workers.handled);
}
