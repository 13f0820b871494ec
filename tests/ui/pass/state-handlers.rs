// Handlers take shared state as `State<T>`; each handler may take a different type.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use roamify_hooks::events::{PartnerBalance, Refund};
use roamify_hooks::{handlers, on_event, Receiver, Secret, State};

#[derive(Default)]
struct Metrics {
    low: AtomicU64,
}

struct Mailer {
    from: String,
}

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance, metrics: State<Metrics>) {
    metrics.low.fetch_add(1, Ordering::Relaxed);
}

#[on_event(category = "refund", kind = "rejected")]
async fn rejected(event: Refund, mailer: State<Mailer>) -> Result<(), std::io::Error> {
    println!("{} would mail about {}", mailer.from, event.refund_id);
    Ok(())
}

fn main() {
    let metrics = Arc::new(Metrics::default());
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec").unwrap())
        .state_arc(metrics.clone())
        .state(Mailer { from: "ops@example.com".to_owned() })
        .build(handlers![low_balance, rejected]);
    assert!(receiver.is_ok());
    assert_eq!(metrics.low.load(Ordering::Relaxed), 0);
}
