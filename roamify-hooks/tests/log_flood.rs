//! A flood of requests with a wrong signature — anyone on the internet can send them, as fast as
//! the server refuses them — is counted whole but logged a bounded number of times: per reason,
//! the first 10 refusals of each 10-second interval, then one line summing up the rest when a
//! later interval begins. (In a binary of its own: the limit is process-wide.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{EventKind, Outcome, Receiver, Secret, handlers, on_event, testing};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_: PartnerBalance) {}

/// Counts the receiver's WARN lines.
#[derive(Clone, Default)]
struct Lines(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() == "roamify_hooks" && *meta.level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn a_flood_of_bad_signatures_is_counted_whole_and_logged_a_bounded_number_of_times() {
    const FLOOD: u64 = 100_000;
    let lines = Lines::default();
    let subscriber = tracing_subscriber::registry().with(lines.clone());
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec_flood").expect("secret"))
        .build(handlers![low_balance])
        .expect("build");
    let body = testing::sample(EventKind::PartnerLowBalance);
    let wrong = testing::sign("not the secret", body);
    let started = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..FLOOD {
            let outcome = futures_executor::block_on(receiver.receive([wrong.as_bytes()], body));
            assert!(matches!(outcome, Outcome::BadSignature(_)), "{outcome:?}");
        }
    });
    let elapsed = started.elapsed();

    assert_eq!(
        receiver.stats().refused_bad_signature,
        FLOOD,
        "every refusal counted"
    );
    // The intervals the flood touched (whole 10-second intervals of the clock, so one more than
    // its length covers, and one for rounding): 10 refusals logged in each, and each but the
    // first may begin with a line summing up the previous one.
    let intervals = elapsed.as_secs() / 10 + 2;
    let logged = u64::try_from(lines.0.load(Ordering::Relaxed)).expect("a count");
    assert!(
        logged <= intervals * 10 + intervals,
        "{logged} lines for {FLOOD} refusals over {elapsed:?}"
    );
    assert!(
        logged >= 10,
        "the first refusals are still logged: {logged}"
    );

    // A signed delivery is not held back by the flood of another reason.
    let signature = testing::sign("whsec_flood", body);
    let outcome = futures_executor::block_on(receiver.receive([signature.as_bytes()], body));
    assert!(matches!(outcome, Outcome::Handled { .. }), "{outcome:?}");
}
