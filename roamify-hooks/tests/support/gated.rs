//! A queued receiver whose handlers record what they ran and can be held at a gate, for the
//! tests of stores that fail (`store_failures`, and the workspace's `store_outages`).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use roamify_hooks::delivery::{QueueOptions, Store};
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{Dispatch, Outcome, Receiver, Secret, State, handlers, on_event, testing};
use tokio::sync::Semaphore;

pub const SECRET: &str = "whsec_failures";

/// A distinct signed `partner.top_up` body per `n`, padded with `pad` bytes of note.
pub fn body(n: u32, pad: usize) -> Vec<u8> {
    format!(
        r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":{n},"currency":"EUR","note":"{}"}}}}"#,
        "x".repeat(pad)
    )
    .into_bytes()
}

pub async fn deliver<D: Dispatch>(receiver: &Receiver<D>, body: &[u8]) -> Outcome {
    receiver.receive([testing::sign(SECRET, body)], body).await
}

/// Handled balances (each delivery's `n`), with how many times each ran.
#[derive(Default)]
pub struct Seen {
    pub runs: Mutex<Vec<String>>,
    pub gate: Option<Semaphore>,
}

impl Seen {
    pub fn distinct(&self) -> BTreeSet<String> {
        self.runs.lock().expect("lock").iter().cloned().collect()
    }
    pub fn runs(&self) -> usize {
        self.runs.lock().expect("lock").len()
    }
}

#[on_event(category = "partner", kind = "top_up")]
pub async fn record(event: PartnerBalance, seen: State<Seen>) {
    if let Some(gate) = &seen.gate {
        gate.acquire().await.expect("gate").forget();
    }
    seen.runs
        .lock()
        .expect("lock")
        .push(event.balance.to_string());
}

/// A queued receiver on `store` whose handlers wait for `seen.gate`, two at a time.
pub fn gated(store: Arc<dyn Store>) -> (Receiver<impl Dispatch>, Arc<Seen>) {
    let seen = Arc::new(Seen {
        gate: Some(Semaphore::new(0)),
        ..Seen::default()
    });
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(seen.clone())
        .store(store, QueueOptions::default().concurrency(2))
        .build(handlers![record])
        .expect("build");
    (receiver, seen)
}
