//! Events out of order through a receiver: inline and queued, `latest` and `serial`, set per
//! receiver and per handler. No timing assertions: the tests assert what ran and in what order,
//! and wait (bounded) for conditions.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering as Atomic};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roamify_hooks::delivery::{DeliveryMode, QueueOptions, RetryPolicy};
use roamify_hooks::events::{EsimStatus, Refund};
use roamify_hooks::ordering::Ordering;
use roamify_hooks::{
    BuildError, Dispatch, Outcome, Receiver, Secret, State, handlers, on_event, testing,
};
use support::eventually;

const SECRET: &str = "whsec_ordering";

fn status(iccid: &str, at: i64, status: &str) -> Vec<u8> {
    format!(
        r#"{{"event_category":"esim","event_type":"status","data":{{"timestamp":{at},"iccid":"{iccid}","esim_id":"e","status":"{status}"}}}}"#
    )
    .into_bytes()
}

async fn deliver<D: Dispatch>(receiver: &Receiver<D>, body: &[u8]) -> Outcome {
    receiver.receive([testing::sign(SECRET, body)], body).await
}

/// What the handlers saw: each run's (ICCID, timestamp) in the order they started, how many of
/// one ICCID ran at once at most, and the first attempts to fail.
#[derive(Default)]
struct Seen {
    started: Mutex<Vec<(String, i64)>>,
    running: Mutex<HashMap<String, u32>>,
    most_at_once: AtomicU32,
    /// Deliveries (ICCID, timestamp) whose first run fails (then succeeds on its retry).
    fail_once: Mutex<Vec<(String, i64)>>,
    /// A run of this ICCID sleeps this long.
    slow: Mutex<Option<(String, Duration)>>,
}

impl Seen {
    fn started(&self) -> Vec<(String, i64)> {
        self.started.lock().expect("not poisoned").clone()
    }

    fn of(&self, iccid: &str) -> Vec<i64> {
        self.started()
            .into_iter()
            .filter(|(i, _)| i == iccid)
            .map(|(_, at)| at)
            .collect()
    }
}

async fn record(event: &EsimStatus, seen: &Seen) -> Result<(), std::io::Error> {
    let at = event.timestamp.as_secs();
    seen.started
        .lock()
        .expect("not poisoned")
        .push((event.iccid.clone(), at));
    let now = {
        let mut running = seen.running.lock().expect("not poisoned");
        let n = running.entry(event.iccid.clone()).or_default();
        *n += 1;
        *n
    };
    seen.most_at_once.fetch_max(now, Atomic::SeqCst);
    let slow = seen.slow.lock().expect("not poisoned").clone();
    if let Some((iccid, pause)) = slow
        && iccid == event.iccid
    {
        tokio::time::sleep(pause).await;
    }
    tokio::task::yield_now().await;
    *seen
        .running
        .lock()
        .expect("not poisoned")
        .get_mut(&event.iccid)
        .expect("running") -= 1;
    let mut fail_once = seen.fail_once.lock().expect("not poisoned");
    if let Some(i) = fail_once
        .iter()
        .position(|(iccid, t)| *iccid == event.iccid && *t == at)
    {
        fail_once.remove(i);
        return Err(std::io::Error::other("first attempt fails"));
    }
    Ok(())
}

#[on_event(category = "esim", kind = "status")]
async fn by_receiver(event: EsimStatus, seen: State<Seen>) -> Result<(), std::io::Error> {
    record(&event, &seen).await
}

#[on_event(category = "esim", kind = "status", ordering = "serial")]
async fn serial_status(event: EsimStatus, seen: State<Seen>) -> Result<(), std::io::Error> {
    record(&event, &seen).await
}

#[on_event(category = "refund", kind = "refunded", ordering = "latest")]
fn ordered_refund(_: Refund) {}

fn builder(seen: &Arc<Seen>) -> roamify_hooks::ReceiverBuilder {
    Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(seen.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_an_older_status_is_acknowledged_as_stale_and_never_runs() {
    let seen = Arc::new(Seen::default());
    let receiver = builder(&seen)
        .ordering(Ordering::Latest)
        .build(handlers![by_receiver])
        .unwrap();
    assert!(matches!(
        deliver(&receiver, &status("1", 20, "ACTIVATED")).await,
        Outcome::Handled { .. }
    ));
    let outcome = deliver(&receiver, &status("1", 10, "INSTALLED")).await;
    let Outcome::Stale {
        stream,
        timestamp,
        newer,
        ..
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        (stream.as_str(), *timestamp, *newer),
        ("esim.status:1", 10, 20)
    );
    assert_eq!(outcome.reply().status(), 200, "acknowledged");
    assert_eq!(outcome.label(), "stale");
    // Equal timestamps both run; another eSIM is its own stream.
    assert!(matches!(
        deliver(&receiver, &status("1", 20, "DELETED")).await,
        Outcome::Handled { .. }
    ));
    assert!(matches!(
        deliver(&receiver, &status("2", 5, "NEW")).await,
        Outcome::Handled { .. }
    ));
    assert_eq!(seen.of("1"), [20, 20]);
    assert_eq!(receiver.stats().stale, 1);
    assert_eq!(receiver.stats().handled, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn off_runs_every_status_whatever_its_timestamp() {
    let seen = Arc::new(Seen::default());
    let receiver = builder(&seen).build(handlers![by_receiver]).unwrap();
    for at in [20, 10] {
        assert!(matches!(
            deliver(&receiver, &status("1", at, "ACTIVATED")).await,
            Outcome::Handled { .. }
        ));
    }
    assert_eq!(seen.of("1"), [20, 10], "the library's default is off");
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_a_stale_delivery_is_counted_and_never_runs() {
    let seen = Arc::new(Seen::default());
    let receiver = builder(&seen)
        .ordering(Ordering::Latest)
        .delivery(DeliveryMode::Queued(QueueOptions::default()))
        .build(handlers![by_receiver])
        .unwrap();
    assert!(matches!(
        deliver(&receiver, &status("1", 20, "ACTIVATED")).await,
        Outcome::Queued { .. }
    ));
    eventually("the newer status runs", || seen.of("1") == [20]).await;
    assert!(matches!(
        deliver(&receiver, &status("1", 10, "INSTALLED")).await,
        Outcome::Queued { .. }
    ));
    eventually("the older one is judged stale", || {
        receiver.stats().stale == 1
    })
    .await;
    assert!(receiver.wait_idle(Duration::from_secs(10)).await.unwrap());
    assert_eq!(seen.of("1"), [20], "the stale delivery never ran");
    assert_eq!(
        receiver.counts().await.unwrap().pending(),
        0,
        "and is settled"
    );
}

/// With `serial` (here from the handler's own attribute, over a receiver set to `off`), one
/// eSIM's deliveries never run at once, even when the first is slow and fails once and is
/// retried; another eSIM's deliveries run meanwhile.
async fn serial_holds_one_esim_and_not_the_others(mode: DeliveryMode) {
    let seen = Arc::new(Seen::default());
    *seen.slow.lock().expect("not poisoned") =
        Some(("slow".to_owned(), Duration::from_millis(300)));
    seen.fail_once
        .lock()
        .expect("not poisoned")
        .push(("slow".to_owned(), 1));
    let receiver = builder(&seen)
        .ordering(Ordering::Off)
        .delivery(mode)
        .build(handlers![serial_status])
        .expect("receiver");
    for at in 1..=4 {
        assert!(matches!(
            deliver(&receiver, &status("slow", at, "ACTIVATED")).await,
            Outcome::Queued { .. }
        ));
    }
    for at in 1..=4 {
        deliver(&receiver, &status("quick", at, "ACTIVATED")).await;
    }
    eventually("the other eSIM's deliveries all run", || {
        seen.of("quick").len() == 4
    })
    .await;
    assert!(
        seen.of("slow").len() < 4,
        "the other eSIM did not wait for the slow one: {:?}",
        seen.started()
    );
    eventually("the slow eSIM's deliveries all run", || {
        seen.of("slow").len() == 5
    })
    .await;
    assert_eq!(
        seen.of("slow"),
        [1, 1, 2, 3, 4],
        "in order, the failed first one retried before the next started"
    );
    assert_eq!(seen.of("quick"), [1, 2, 3, 4]);
    assert_eq!(
        seen.most_at_once.load(Atomic::SeqCst),
        1,
        "never two runs of one eSIM at once"
    );
    assert_eq!(receiver.stats().retried, 1);
}

fn fast(options: QueueOptions) -> QueueOptions {
    options.concurrency(8).retry(RetryPolicy::new(
        3,
        Duration::from_millis(50),
        Duration::from_millis(50),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_in_memory() {
    serial_holds_one_esim_and_not_the_others(DeliveryMode::Queued(fast(QueueOptions::default())))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    serial_holds_one_esim_and_not_the_others(DeliveryMode::Journal {
        dir: dir.path().join("journal"),
        options: fast(QueueOptions::default()),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    serial_holds_one_esim_and_not_the_others(DeliveryMode::Durable {
        path: dir.path().join("q.sqlite"),
        options: fast(QueueOptions::default()),
    })
    .await;
}

#[test]
fn ordering_an_incident_without_a_key_is_refused_when_the_receiver_is_built() {
    let Err(error) = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![ordered_refund])
    else {
        panic!("refused");
    };
    assert!(matches!(error, BuildError::NoOrderKey(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("order_key(\"refund\", \"refunded\""),
        "{error}"
    );
    // With a key of the application's, it is ordered by it.
    Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .order_key("refund", "refunded", |_| Some("account".to_owned()))
        .build(handlers![ordered_refund])
        .expect("keyed");
}
