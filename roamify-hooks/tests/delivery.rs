//! Delivery modes: acknowledgement before slow handlers, idempotency, back-pressure, retries,
//! dead letters and replay, and resuming from SQLite. No timing assertions: the tests assert
//! the order of events and wait (bounded) for conditions.

mod support;
#[path = "support/tapped.rs"]
mod tapped;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use roamify_hooks::delivery::{QueueOptions, RetryPolicy, idempotency_key};
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{
    Dispatch, Event, EventKind, Outcome, Receiver, Secret, State, delivery::DeliveryMode, handlers,
    on_event, signature::Verified, testing,
};
use support::eventually;
use tokio::sync::Semaphore;

const SECRET: &str = "whsec_delivery";

/// A distinct signed `partner.top_up` body per `n`.
fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":{n},"currency":"EUR"}}}}"#)
        .into_bytes()
}

async fn deliver<D: Dispatch>(receiver: &Receiver<D>, body: &[u8]) -> Outcome {
    receiver.receive([testing::sign(SECRET, body)], body).await
}

fn fast_retries(options: QueueOptions, attempts: u32) -> QueueOptions {
    options.retry(RetryPolicy::new(
        attempts,
        Duration::from_millis(5),
        Duration::from_millis(20),
    ))
}

#[derive(Default)]
struct Slow {
    finished: AtomicBool,
}

#[on_event(category = "partner", kind = "top_up")]
async fn slow(_: PartnerBalance, state: State<Slow>) {
    tokio::time::sleep(Duration::from_millis(2500)).await;
    state.finished.store(true, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_acknowledges_before_a_slow_handler_finishes() {
    let state = Arc::new(Slow::default());
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(state.clone())
        .delivery(DeliveryMode::Queued(QueueOptions::default()))
        .build(handlers![slow])
        .unwrap();
    let outcome = deliver(&receiver, &body(1)).await;
    assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
    assert!(
        !state.finished.load(Ordering::SeqCst),
        "the answer came before the handler finished"
    );
    eventually("the slow handler finishes", || {
        state.finished.load(Ordering::SeqCst)
    })
    .await;
    eventually("counted as handled", || receiver.stats().handled == 1).await;
}

#[derive(Default)]
struct Count(AtomicU32);

#[on_event(category = "partner", kind = "top_up")]
async fn count(_: PartnerBalance, n: State<Count>) {
    n.0.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_body_three_times_runs_once_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let modes = [
        DeliveryMode::Inline,
        DeliveryMode::Queued(QueueOptions::default()),
        DeliveryMode::Durable {
            path: dir.path().join("dedupe.sqlite"),
            options: QueueOptions::default(),
        },
    ];
    for mode in modes {
        let label = format!("{mode:?}");
        let n = Arc::new(Count::default());
        let receiver = Receiver::builder()
            .secret(Secret::new(SECRET).unwrap())
            .state_arc(n.clone())
            .delivery(mode)
            .build(handlers![count])
            .unwrap();
        let outcomes = [
            deliver(&receiver, &body(7)).await,
            deliver(&receiver, &body(7)).await,
            deliver(&receiver, &body(7)).await,
        ];
        assert!(
            matches!(
                outcomes[0],
                Outcome::Handled { .. } | Outcome::Queued { .. }
            ),
            "{label}: {:?}",
            outcomes[0]
        );
        for duplicate in &outcomes[1..] {
            assert!(
                matches!(duplicate, Outcome::Duplicate { .. }),
                "{label}: {duplicate:?}"
            );
        }
        eventually("handled", || n.0.load(Ordering::SeqCst) == 1).await;
        // A different body is not a duplicate.
        deliver(&receiver, &body(8)).await;
        eventually("second event handled", || n.0.load(Ordering::SeqCst) == 2).await;
        assert_eq!(receiver.stats().deduplicated, 2, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_deduplicate_on_event_id_even_when_the_body_changes() {
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .build(handlers![])
        .unwrap();
    let first = testing::sample(EventKind::RefundRefunded);
    // A redelivery carries a new `timestamp` (when it was sent) but the same event_id.
    let again = String::from_utf8(first.to_vec())
        .unwrap()
        .replace("1764288000", "1764288999");
    assert!(matches!(
        deliver(&receiver, first).await,
        Outcome::Acknowledged { .. }
    ));
    assert!(matches!(
        deliver(&receiver, again.as_bytes()).await,
        Outcome::Duplicate { .. }
    ));
    // The key is the event_id, not the body's hash.
    let event = Event::parse(&Verified::assume_signed(first)).unwrap();
    assert_eq!(
        idempotency_key(&event, first),
        "rfd_7d1c2b0e-5f43-4c84-9f0e-2f7a1c9b8e11_refunded"
    );
    assert_eq!(
        idempotency_key(&event, again.as_bytes()),
        idempotency_key(&event, first)
    );
}

struct Gate {
    open: Semaphore,
    handled: std::sync::Mutex<Vec<String>>,
}

#[on_event(category = "partner", kind = "top_up")]
async fn gated(event: PartnerBalance, gate: State<Gate>) {
    let permit = gate.open.acquire().await;
    drop(permit);
    gate.handled
        .lock()
        .expect("lock")
        .push(event.balance.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_and_loses_nothing() {
    let gate = Arc::new(Gate {
        open: Semaphore::new(0),
        handled: std::sync::Mutex::new(Vec::new()),
    });
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(gate.clone())
        .delivery(DeliveryMode::Queued(
            QueueOptions::default().capacity(3).concurrency(1),
        ))
        .build(handlers![gated])
        .unwrap();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for n in 1..=10 {
        match deliver(&receiver, &body(n)).await {
            Outcome::Queued { .. } => accepted.push(n),
            Outcome::Unavailable { .. } => refused.push(n),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        accepted,
        [1, 2, 3],
        "capacity counts waiting and running deliveries"
    );
    assert_eq!(refused, (4..=10).collect::<Vec<_>>());
    assert_eq!(receiver.stats().refused_full, 7);
    gate.open.add_permits(1000);
    eventually("accepted deliveries handled", || {
        gate.handled.lock().unwrap().len() == 3
    })
    .await;
    // The handlers finished; wait for the store to record it (bounded), then there is room.
    for _ in 0..3000 {
        if receiver.pending().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(receiver.pending().await.unwrap(), 0);
    // Roamify retries what was refused, until there is room.
    for n in refused {
        let mut stored = false;
        for _ in 0..3000 {
            match deliver(&receiver, &body(n)).await {
                Outcome::Queued { .. } => {
                    stored = true;
                    break;
                }
                Outcome::Unavailable { .. } => tokio::time::sleep(Duration::from_millis(5)).await,
                other => panic!("retry of {n}: {other:?}"),
            }
        }
        assert!(stored, "retry of {n} never found room");
    }
    eventually("every delivery handled", || {
        gate.handled.lock().unwrap().len() == 10
    })
    .await;
    let mut handled: Vec<u32> = gate
        .handled
        .lock()
        .unwrap()
        .iter()
        .map(|b| b.parse().unwrap())
        .collect();
    handled.sort_unstable();
    assert_eq!(handled, (1..=10).collect::<Vec<_>>(), "each exactly once");
}

#[derive(Default)]
struct Flaky {
    calls: AtomicU32,
    fail_first: u32,
}

#[on_event(category = "partner", kind = "top_up")]
async fn flaky(_: PartnerBalance, state: State<Flaky>) -> Result<(), String> {
    let call = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if call <= state.fail_first {
        Err(format!("failure {call}"))
    } else {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_twice_then_succeeding_is_retried_to_success() {
    let state = Arc::new(Flaky {
        calls: AtomicU32::new(0),
        fail_first: 2,
    });
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(state.clone())
        .delivery(DeliveryMode::Queued(fast_retries(
            QueueOptions::default(),
            5,
        )))
        .build(handlers![flaky])
        .unwrap();
    assert!(matches!(
        deliver(&receiver, &body(1)).await,
        Outcome::Queued { .. }
    ));
    eventually("handled on the third run", || receiver.stats().handled == 1).await;
    assert_eq!(state.calls.load(Ordering::SeqCst), 3);
    let stats = receiver.stats();
    assert_eq!((stats.retried, stats.dead_lettered), (2, 0), "{stats}");
    assert!(receiver.dead_letters().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn always_failing_ends_in_dead_letters_and_replay_runs_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let modes = [
        DeliveryMode::Queued(fast_retries(QueueOptions::default(), 3)),
        DeliveryMode::Durable {
            path: dir.path().join("dead.sqlite"),
            options: fast_retries(QueueOptions::default(), 3),
        },
    ];
    for mode in modes {
        let label = format!("{mode:?}");
        let state = Arc::new(Flaky {
            calls: AtomicU32::new(0),
            fail_first: 3,
        });
        let receiver = Receiver::builder()
            .secret(Secret::new(SECRET).unwrap())
            .state_arc(state.clone())
            .delivery(mode)
            .build(handlers![flaky])
            .unwrap();
        assert!(matches!(
            deliver(&receiver, &body(1)).await,
            Outcome::Queued { .. }
        ));
        eventually("dead-lettered", || receiver.stats().dead_lettered == 1).await;
        let dead = receiver.dead_letters().await.unwrap();
        assert_eq!(dead.len(), 1, "{label}");
        assert_eq!(
            (dead[0].attempts, dead[0].error.as_str()),
            (3, "handler `flaky` failed: failure 3"),
            "{label}"
        );
        assert_eq!(
            dead[0].body,
            body(1),
            "{label}: the verified bytes are kept"
        );
        assert_eq!(state.calls.load(Ordering::SeqCst), 3);
        // The cause is fixed (the 4th call succeeds): replay it.
        assert!(receiver.replay(&dead[0].key).await.unwrap(), "{label}");
        eventually("replayed and handled", || receiver.stats().handled == 1).await;
        assert_eq!(state.calls.load(Ordering::SeqCst), 4);
        assert!(receiver.dead_letters().await.unwrap().is_empty(), "{label}");
        assert!(!receiver.replay("no such key").await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn durable_deliveries_resume_after_the_process_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resume.sqlite");
    {
        // A handler that never finishes: the process "dies" with one delivery leased and four
        // waiting, all acknowledged.
        let stuck = Arc::new(Gate {
            open: Semaphore::new(0),
            handled: std::sync::Mutex::new(Vec::new()),
        });
        let first = Receiver::builder()
            .secret(Secret::new(SECRET).unwrap())
            .state_arc(stuck)
            .delivery(DeliveryMode::Durable {
                path: path.clone(),
                // Its lease runs out soon after it "dies": the next process takes it over then.
                options: QueueOptions::default()
                    .concurrency(1)
                    .handler_timeout(Duration::from_millis(500))
                    .visibility_timeout(Duration::from_secs(1)),
            })
            .build(handlers![gated])
            .unwrap();
        for n in 1..=5 {
            assert!(matches!(
                deliver(&first, &body(n)).await,
                Outcome::Queued { .. }
            ));
        }
        eventually("one delivery leased", || first.stats().in_flight == 1).await;
        assert_eq!(first.pending().await.unwrap(), 5);
    } // Dropped without completing anything.
    let n = Arc::new(Count::default());
    let second = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(n.clone())
        .delivery(DeliveryMode::Durable {
            path,
            options: QueueOptions::default(),
        })
        .build(handlers![count])
        .unwrap();
    eventually(
        "every acknowledged delivery handled after the restart",
        || n.0.load(Ordering::SeqCst) == 5,
    )
    .await;
    // A handler's count moves before its outcome is recorded (in the settler's next batch).
    eventually("every outcome recorded", || {
        futures_executor::block_on(second.pending()).unwrap() == 0
    })
    .await;
    // Roamify's redeliveries of those events are duplicates: they do not run again.
    assert!(matches!(
        deliver(&second, &body(1)).await,
        Outcome::Duplicate { .. }
    ));
    let second = second.clone();
    let pending = tokio::task::spawn_blocking(move || second.shutdown(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(pending, 0);
}

#[on_event(category = "partner", kind = "top_up")]
async fn accept_all(_: PartnerBalance) {}

#[tokio::test(flavor = "multi_thread")]
async fn maximum_age_refuses_old_events_when_set() {
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .max_age(Duration::from_secs(3600))
        .build(handlers![accept_all])
        .unwrap();
    assert!(
        matches!(deliver(&receiver, &body(1)).await, Outcome::TooOld { .. }),
        "1970 is too old"
    );
    let now = roamify_hooks::events::UnixTime::now().as_secs();
    let fresh = format!(
        r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{now},"balance":1,"currency":"EUR"}}}}"#
    );
    assert!(matches!(
        deliver(&receiver, fresh.as_bytes()).await,
        Outcome::Handled { .. }
    ));
    let off = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .build(handlers![accept_all])
        .unwrap();
    assert!(
        matches!(deliver(&off, &body(2)).await, Outcome::Handled { .. }),
        "off by default"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_waits_for_running_handlers_then_refuses_and_reports_pending() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate {
        open: Semaphore::new(0),
        handled: std::sync::Mutex::new(Vec::new()),
    });
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(gate.clone())
        .delivery(DeliveryMode::Durable {
            path: dir.path().join("shutdown.sqlite"),
            options: QueueOptions::default().concurrency(1),
        })
        .build(handlers![gated])
        .unwrap();
    for n in 1..=3 {
        assert!(matches!(
            deliver(&receiver, &body(n)).await,
            Outcome::Queued { .. }
        ));
    }
    eventually("one handler running", || receiver.stats().in_flight == 1).await;
    // Let the running handler finish while shutdown waits for it.
    let opener = {
        let gate = gate.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.open.add_permits(1);
        })
    };
    // Called from inside an async task: it must not nest runtimes.
    let pending = receiver.shutdown(Duration::from_secs(10));
    opener.await.unwrap();
    assert_eq!(
        gate.handled.lock().expect("lock").len(),
        1,
        "the running handler finished"
    );
    assert_eq!(
        pending, 2,
        "the two waiting deliveries stay in the store for the next start"
    );
    let refused = deliver(&receiver, &body(9)).await;
    assert!(
        matches!(refused, Outcome::ShuttingDown),
        "refused after shutdown, as its own outcome: {refused:?}"
    );
    let stats = receiver.stats();
    assert_eq!(stats.refused_shutting_down, 1, "{stats}");
    assert_eq!(stats.refused_full + stats.refused_unavailable, 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_only_and_worker_only_receivers_split_the_work_over_one_store() {
    use roamify_hooks::delivery::{MemoryStore, Role, Store, Unavailable};
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let ingested = Arc::new(Count::default());
    let ingest = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(ingested.clone())
        .store(store.clone(), QueueOptions::default())
        .role(Role::IngestOnly)
        .build(handlers![count])
        .unwrap();
    for n in 1..=4 {
        let outcome = deliver(&ingest, &body(n)).await;
        assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        ingested.0.load(Ordering::SeqCst),
        0,
        "an ingest-only receiver runs no handlers"
    );
    assert_eq!(store.counts().await.unwrap().pending(), 4);

    let worked = Arc::new(Count::default());
    let worker = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(worked.clone())
        .store(store.clone(), QueueOptions::default())
        .role(Role::WorkerOnly)
        .build(handlers![count])
        .unwrap();
    eventually("the worker-only receiver runs what was stored", || {
        worked.0.load(Ordering::SeqCst) == 4
    })
    .await;
    let refused = deliver(&worker, &body(5)).await;
    assert!(
        matches!(
            refused,
            Outcome::Unavailable {
                reason: Unavailable::WorkerOnly,
                ..
            }
        ),
        "a worker-only receiver accepts nothing: {refused:?}"
    );

    let inline = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state(Count::default())
        .role(Role::IngestOnly)
        .build(handlers![count]);
    assert!(
        matches!(inline, Err(roamify_hooks::BuildError::RoleWithoutQueue)),
        "a role needs a queue"
    );
}

#[derive(Default)]
struct Sleepy(AtomicU32);

#[on_event(category = "partner", kind = "top_up")]
async fn sleepy(_: PartnerBalance, n: State<Sleepy>) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    n.0.fetch_add(1, Ordering::SeqCst);
}

/// `wait_idle` returns once every stored delivery ran, in queued and durable modes, and at once
/// inline; it reports a timeout as `false` rather than waiting on.
#[tokio::test(flavor = "multi_thread")]
async fn wait_idle_returns_once_every_stored_delivery_ran() {
    let dir = tempfile::tempdir().unwrap();
    let modes = [
        DeliveryMode::Queued(QueueOptions::default().concurrency(2)),
        DeliveryMode::Durable {
            path: dir.path().join("idle.sqlite"),
            options: QueueOptions::default().concurrency(2),
        },
    ];
    for mode in modes {
        let ran = Arc::new(Sleepy::default());
        let receiver = Receiver::builder()
            .secret(Secret::new(SECRET).unwrap())
            .state_arc(ran.clone())
            .delivery(mode)
            .build(handlers![sleepy])
            .unwrap();
        for n in 0..20 {
            let outcome = deliver(&receiver, &body(n)).await;
            assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
        }
        // 20 runs of 20 ms, two at a time, cannot be done in 1 ms.
        assert!(!receiver.wait_idle(Duration::from_millis(1)).await.unwrap());
        assert!(receiver.wait_idle(Duration::from_secs(30)).await.unwrap());
        assert_eq!(ran.0.load(Ordering::SeqCst), 20);
        assert_eq!(receiver.pending().await.unwrap(), 0);
    }
    let inline = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state(Sleepy::default())
        .build(handlers![sleepy])
        .unwrap();
    assert!(inline.wait_idle(Duration::ZERO).await.unwrap());
}

#[on_event(category = "partner", kind = "top_up")]
async fn too_slow(_: PartnerBalance) {
    tokio::time::sleep(Duration::from_secs(30)).await;
}

/// A handler still running at `handler_timeout` is stopped and its delivery retried, then
/// dead-lettered with the reason; the timer starts on its first poll.
#[tokio::test(flavor = "multi_thread")]
async fn a_handler_over_its_timeout_is_stopped_and_dead_lettered() {
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .delivery(DeliveryMode::Queued(fast_retries(
            QueueOptions::default().handler_timeout(Duration::from_millis(50)),
            2,
        )))
        .build(handlers![too_slow])
        .unwrap();
    assert!(matches!(
        deliver(&receiver, &body(7)).await,
        Outcome::Queued { .. }
    ));
    eventually("the delivery is dead after two timed-out runs", || {
        receiver.stats().dead_lettered == 1
    })
    .await;
    let dead = receiver.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    assert!(
        dead[0].error.contains("timed out after 50ms"),
        "{}",
        dead[0].error
    );
}

/// How many handlers run at once, and the most that ever did.
#[derive(Default)]
struct Overlap {
    now: AtomicU32,
    most: AtomicU32,
    done: AtomicU32,
    /// Set by the test to let the handlers finish.
    release: AtomicBool,
}

/// Runs until released (or for 10 s).
#[on_event(category = "partner", kind = "top_up")]
async fn overlapping(_: PartnerBalance, overlap: State<Overlap>) {
    let now = overlap.now.fetch_add(1, Ordering::SeqCst) + 1;
    overlap.most.fetch_max(now, Ordering::SeqCst);
    for _ in 0..1000 {
        if overlap.release.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    overlap.now.fetch_sub(1, Ordering::SeqCst);
    overlap.done.fetch_add(1, Ordering::SeqCst);
}

/// `concurrency` handlers run at once, and no more: with 4, four waiting handlers overlap (one
/// waiting handler does not hold up the others), and eight more deliveries, leased meanwhile,
/// wait for them rather than join them.
#[tokio::test(flavor = "multi_thread")]
async fn concurrency_handlers_run_at_once_and_no_more() {
    let overlap = Arc::new(Overlap::default());
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(overlap.clone())
        .delivery(DeliveryMode::Queued(QueueOptions::default().concurrency(4)))
        .build(handlers![overlapping])
        .unwrap();
    let store = |range: std::ops::Range<u32>| {
        let receiver = &receiver;
        async move {
            for n in range {
                let outcome = deliver(receiver, &body(n)).await;
                assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
            }
        }
    };
    store(0..4).await;
    eventually("four handlers run at once", || {
        overlap.now.load(Ordering::SeqCst) == 4
    })
    .await;
    store(4..12).await;
    for _ in 0..100 {
        if receiver.counts().await.unwrap().leased == 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        receiver.counts().await.unwrap().leased,
        12,
        "all twelve leased"
    );
    // Leased, and still waiting for a free runner.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        overlap.most.load(Ordering::SeqCst),
        4,
        "the most runs at once"
    );
    overlap.release.store(true, Ordering::SeqCst);
    assert!(receiver.wait_idle(Duration::from_secs(60)).await.unwrap());
    assert_eq!(overlap.done.load(Ordering::SeqCst), 12);
    assert_eq!(
        overlap.most.load(Ordering::SeqCst),
        4,
        "the most runs at once"
    );
}

/// With a backlog, the workers lease in groups of at least half a batch, not a job or two each
/// time one finishes (each lease being a store round trip, each a settle batch of its own).
#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_is_leased_in_groups_of_at_least_half_a_batch() {
    use roamify_hooks::delivery::{MemoryStore, Role, Store};
    const BACKLOG: u32 = 600;
    let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let ingest = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state(Count::default())
        .store(inner.clone(), QueueOptions::default())
        .role(Role::IngestOnly)
        .build(handlers![count])
        .unwrap();
    for n in 0..BACKLOG {
        let outcome = deliver(&ingest, &body(n)).await;
        assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
    }
    let counting = Arc::new(tapped::Tapped::new(inner));
    let worked = Arc::new(Count::default());
    let options = QueueOptions::default();
    let half = options.batch.div_ceil(2);
    let _worker = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(worked.clone())
        .store(counting.clone(), options)
        .role(Role::WorkerOnly)
        .build(handlers![count])
        .unwrap();
    eventually("the backlog ran", || {
        worked.0.load(Ordering::SeqCst) == BACKLOG
    })
    .await;
    let leases: Vec<(usize, usize)> = counting
        .leases
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|&(_, got)| got > 0)
        .collect();
    assert!(
        leases.iter().all(|&(asked, _)| asked >= half),
        "each lease asked for at least {half} jobs: {leases:?}"
    );
    assert!(
        leases.len() <= (BACKLOG as usize).div_ceil(half),
        "{} leases for {BACKLOG} jobs: {leases:?}",
        leases.len()
    );
}

/// Options whose public fields were set to 0 work as the setters' minimum of 1: deliveries still
/// run.
#[tokio::test(flavor = "multi_thread")]
async fn zero_concurrency_and_batch_set_through_the_fields_still_run_deliveries() {
    let mut options = QueueOptions::default();
    options.concurrency = 0;
    options.batch = 0;
    let ran = Arc::new(Count::default());
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).unwrap())
        .state_arc(ran.clone())
        .delivery(DeliveryMode::Queued(options))
        .build(handlers![count])
        .unwrap();
    for n in 0..3 {
        let outcome = deliver(&receiver, &body(n)).await;
        assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
    }
    assert!(receiver.wait_idle(Duration::from_secs(30)).await.unwrap());
    assert_eq!(ran.0.load(Ordering::SeqCst), 3);
}
