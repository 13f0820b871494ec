//! What the receiver reports through the `metrics` facade (feature `metrics`), read back from a
//! recorder installed for this thread: deliveries by outcome, refusals by reason, and handler
//! runs by result — a failing handler included.

use metrics::with_local_recorder;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::testing::sign;
use roamify_hooks::{Receiver, Secret, handlers, on_event};

const SECRET: &str = "whsec_metrics";

#[on_event(category = "partner", kind = "top_up")]
async fn top_up(event: PartnerBalance) -> Result<(), String> {
    if event.balance.is_sign_negative() {
        return Err("negative balance".to_owned());
    }
    Ok(())
}

fn body(balance: &str) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":1700000000,"balance":{balance},"currency":"EUR"}}}}"#)
        .into_bytes()
}

/// One recorded metric: name, labels, value.
type Sample = (String, Vec<(String, String)>, DebugValue);

/// The value of the metric `name` whose labels are exactly `labels` (0 when absent).
fn value(snapshot: &[Sample], name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map_or(0, |(_, _, v)| match v {
            DebugValue::Counter(n) => *n,
            DebugValue::Histogram(samples) => samples.len() as u64,
            DebugValue::Gauge(g) => g.into_inner() as u64,
        })
}

#[test]
fn outcomes_refusals_and_handler_runs_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![top_up])
        .expect("build");
    with_local_recorder(&recorder, || {
        futures_executor::block_on(async {
            for balance in ["1.00", "2.00", "-3.00"] {
                let body = body(balance);
                receiver.receive([sign(SECRET, &body)], &body).await;
            }
            receiver.receive(["0".repeat(64)], &body("4.00")).await;
            let duplicate = body("1.00");
            receiver
                .receive([sign(SECRET, &duplicate)], &duplicate)
                .await;
        });
    });
    let snapshot: Vec<Sample> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect();
    let by_outcome = |outcome| {
        value(
            &snapshot,
            "roamify_deliveries_total",
            &[
                ("outcome", outcome),
                ("category", "partner"),
                ("kind", "top_up"),
            ],
        )
    };
    assert_eq!(by_outcome("handled"), 2, "{snapshot:#?}");
    assert_eq!(by_outcome("handler_failed"), 1, "{snapshot:#?}");
    assert_eq!(by_outcome("duplicate"), 1, "{snapshot:#?}");
    assert_eq!(
        value(
            &snapshot,
            "roamify_deliveries_total",
            &[("outcome", "bad_signature"), ("category", ""), ("kind", "")]
        ),
        1
    );
    assert_eq!(
        value(
            &snapshot,
            "roamify_refused_total",
            &[("reason", "bad_signature")]
        ),
        1
    );
    let runs = |result| {
        value(
            &snapshot,
            "roamify_handler_duration_seconds",
            &[
                ("category", "partner"),
                ("kind", "top_up"),
                ("result", result),
            ],
        )
    };
    assert_eq!(runs("ok"), 2, "{snapshot:#?}");
    assert_eq!(runs("error"), 1, "{snapshot:#?}");
}
