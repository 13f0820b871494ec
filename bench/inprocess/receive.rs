//! In-process cost of one delivery, side by side with the floor, as ratios.
//!
//! For every file in `../shared/fixtures/events/`:
//! - `sdk`: `Receiver::receive` through the public API (verify + parse + dispatch to a table of
//!   8 handlers), idempotency off, like the floor;
//! - `sdk+idem`: the same with the default idempotency; it cycles through 64 copies of the body
//!   made distinct by trailing whitespace, so after the first 64 iterations it measures the
//!   duplicate path (verify, parse, fingerprint, look up), which repeated HTTP load also takes;
//! - `floor`: HMAC-SHA256 from a prepared key, hex decode (the `hex` crate), constant-time
//!   compare, and one `serde_json` parse into the same typed struct — what a careful hand-written
//!   receiver does;
//! - `floor-simd`: the same floor decoding the signature with the SIMD decoder the runtime uses
//!   (`faster-hex`), so `sdk/f-simd` is the runtime's own cost, apart from its faster decoding;
//! - `sdk-async`: `sdk` with the same handlers written `async fn` (as the examples' are): the
//!   path a handler that must be awaited takes, where `sdk`'s synchronous handlers run in place;
//! - `peer`: the reference peer's logic (`../shared/bench/peers/actix-handwritten`, the receiver
//!   the HTTP benchmarks measure against): the floor's verification, then the envelope's names
//!   read, matched, and the payload parsed (nested, else flat); unknown events are acknowledged
//!   unread. `floor` knows the fixture's kind in advance and parses once, which no receiver can
//!   do; `sdk/floor` is the stricter ratio.
//!
//! Also the generated dispatch table against a hand-written `match` over 8 handlers.
//!
//! `PARTS=name.json` shows where one fixture's time goes instead: verification, parse and the
//! whole delivery each beside the floor's same step; the generated table and a hand-written
//! `match` after the SDK's parse; verify, parse and the hand-written `match` as one pipeline; and
//! the sizes of the values a delivery moves.
//!
//! Method: each case runs in alternating rounds (sdk, floor, sdk, floor, …) so both see the same
//! machine state; a round times a batch of iterations; the median round is reported, with the
//! ratio to the floor. Run: `cargo bench -p roamify-hooks --bench receive` (`ROUNDS`, `BATCH`).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::{
    Dispatch, Event, Receiver, Secret, UnknownEvent, handlers, on_event, signature::Verified,
    testing,
};
use sha2::Sha256;

const SECRET: &str = "whsec_bench";

#[on_event(category = "esim", kind = "usage")]
fn usage(e: EsimUsage) {
    black_box(&e);
}
#[on_event(category = "esim", kind = "status")]
fn status(e: EsimStatus) {
    black_box(&e);
}
#[on_event(category = "partner", kind = "low_balance")]
fn low(e: PartnerBalance) {
    black_box(&e);
}
#[on_event(category = "partner", kind = "insufficient_balance")]
fn insufficient(e: PartnerBalance) {
    black_box(&e);
}
#[on_event(category = "partner", kind = "top_up")]
fn top_up(e: PartnerBalance) {
    black_box(&e);
}
#[on_event(category = "affiliate", kind = "order")]
fn order(e: AffiliateOrder) {
    black_box(&e);
}
#[on_event(category = "refund", kind = "refunded")]
fn refunded(e: Refund) {
    black_box(&e);
}
#[on_event(category = "refund", kind = "rejected")]
fn rejected(e: Refund) {
    black_box(&e);
}
#[on_event(fallback)]
fn unknown(e: UnknownEvent) {
    black_box(&e);
}

/// The same handlers, `async`.
mod awaited {
    use super::*;

    #[on_event(category = "esim", kind = "usage")]
    pub(crate) async fn usage(e: EsimUsage) {
        black_box(&e);
    }
    #[on_event(category = "esim", kind = "status")]
    pub(crate) async fn status(e: EsimStatus) {
        black_box(&e);
    }
    #[on_event(category = "partner", kind = "low_balance")]
    pub(crate) async fn low(e: PartnerBalance) {
        black_box(&e);
    }
    #[on_event(category = "partner", kind = "insufficient_balance")]
    pub(crate) async fn insufficient(e: PartnerBalance) {
        black_box(&e);
    }
    #[on_event(category = "partner", kind = "top_up")]
    pub(crate) async fn top_up(e: PartnerBalance) {
        black_box(&e);
    }
    #[on_event(category = "affiliate", kind = "order")]
    pub(crate) async fn order(e: AffiliateOrder) {
        black_box(&e);
    }
    #[on_event(category = "refund", kind = "refunded")]
    pub(crate) async fn refunded(e: Refund) {
        black_box(&e);
    }
    #[on_event(category = "refund", kind = "rejected")]
    pub(crate) async fn rejected(e: Refund) {
        black_box(&e);
    }
    #[on_event(fallback)]
    pub(crate) async fn unknown(e: UnknownEvent) {
        black_box(&e);
    }
}

fn fixtures() -> PathBuf {
    std::env::var_os("ROAMIFY_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Polls a future that never waits (the handlers are synchronous) to completion, without an
/// executor: what is measured is the receiver, not a runtime's scheduling.
fn run<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// The floor: what a careful hand-written receiver must do for one delivery — HMAC-SHA256 from
/// a prepared key, hex decode, constant-time compare, and one `serde_json` parse into the typed
/// payload struct, the kind being known in advance (no routing at all).
struct Floor {
    mac: Hmac<Sha256>,
    parse: fn(&[u8]) -> bool,
    decode: fn(&[u8], &mut [u8; 32]) -> bool,
}

/// The `hex` crate's decoding, as a hand-written receiver would do it.
fn hex_decode(signature: &[u8], out: &mut [u8; 32]) -> bool {
    hex::decode_to_slice(signature, out).is_ok()
}

/// The SIMD decoding the runtime uses, to show the runtime's own cost apart from its faster
/// decoding.
fn simd_decode(signature: &[u8], out: &mut [u8; 32]) -> bool {
    faster_hex::hex_decode(signature, out).is_ok()
}

impl Floor {
    /// The floor for one fixture: the key prepared from `SECRET`, `decode` for the signature,
    /// and the one typed parse of the fixture's kind and shape.
    fn for_fixture(event: &Event, body: &[u8], decode: fn(&[u8], &mut [u8; 32]) -> bool) -> Self {
        Floor {
            mac: Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key"),
            parse: floor_parser(event, body),
            decode,
        }
    }

    /// The reference peer's receiver: verification as [`Floor::for_fixture`]'s, then the
    /// peer's own parse (envelope, `match`, payload), which learns the kind from the body.
    fn peer() -> Self {
        Floor {
            mac: Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key"),
            parse: peer_parse,
            decode: hex_decode,
        }
    }

    /// Verification alone: decode, HMAC from the prepared key, constant-time compare.
    #[inline]
    fn verify(&self, signature: &[u8], body: &[u8]) -> bool {
        let mut expected = [0u8; 32];
        if !(self.decode)(signature, &mut expected) {
            return false;
        }
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }

    fn receive(&self, signature: &[u8], body: &[u8]) -> bool {
        self.verify(signature, body) && (self.parse)(body)
    }
}

#[derive(serde::Deserialize)]
struct Nested<T> {
    data: T,
}

fn nested<T: serde::de::DeserializeOwned>(body: &[u8]) -> bool {
    serde_json::from_slice::<Nested<T>>(body)
        .map(|n| black_box(n.data))
        .is_ok()
}

fn flat<T: serde::de::DeserializeOwned>(body: &[u8]) -> bool {
    serde_json::from_slice::<T>(body).map(black_box).is_ok()
}

/// The envelope's names, borrowed, as the reference peer reads them.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event_category: &'a str,
    #[serde(borrow)]
    event_type: &'a str,
}

/// A payload nested under `data`, else flat (early deliveries), as the reference peer reads it.
fn nested_or_flat<T: serde::de::DeserializeOwned>(body: &[u8]) -> bool {
    nested::<T>(body) || flat::<T>(body)
}

/// The reference peer's parse (`../shared/bench/peers/actix-handwritten`, the floor the brief
/// measures against): the envelope's names, a `match` on them, then the payload's typed parse;
/// here into the runtime's payload types, as the other floors.
fn peer_parse(body: &[u8]) -> bool {
    let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(body) else {
        return false;
    };
    match (envelope.event_category, envelope.event_type) {
        ("esim", "usage" | "esim_usage") => nested_or_flat::<EsimUsage>(body),
        ("esim", "status" | "esim_status") => nested_or_flat::<EsimStatus>(body),
        ("partner", "low_balance" | "insufficient_balance" | "top_up") => {
            nested_or_flat::<PartnerBalance>(body)
        }
        ("affiliate", "order") => nested_or_flat::<AffiliateOrder>(body),
        ("refund", "refunded" | "rejected") => nested_or_flat::<Refund>(body),
        _ => true,
    }
}

/// The one typed parse a receiver that already knows the fixture's kind and shape would do.
fn floor_parser(event: &Event, body: &[u8]) -> fn(&[u8]) -> bool {
    let is_flat = !String::from_utf8_lossy(body).contains("\"data\"");
    match (event, is_flat) {
        (Event::EsimUsage(_), false) => nested::<EsimUsage>,
        (Event::EsimUsage(_), true) => flat::<EsimUsage>,
        (Event::EsimStatus(_), false) => nested::<EsimStatus>,
        (Event::EsimStatus(_), true) => flat::<EsimStatus>,
        (
            Event::PartnerLowBalance(_)
            | Event::PartnerInsufficientBalance(_)
            | Event::PartnerTopUp(_),
            false,
        ) => nested::<PartnerBalance>,
        (
            Event::PartnerLowBalance(_)
            | Event::PartnerInsufficientBalance(_)
            | Event::PartnerTopUp(_),
            true,
        ) => flat::<PartnerBalance>,
        (Event::AffiliateOrder(_), _) => nested::<AffiliateOrder>,
        (Event::RefundRefunded(_) | Event::RefundRejected(_), _) => nested::<Refund>,
        // Unknown events: the floor reads the envelope into a generic JSON value.
        _ => |b| {
            serde_json::from_slice::<serde_json::Value>(b)
                .map(black_box)
                .is_ok()
        },
    }
}

/// Median nanoseconds per iteration over `rounds` rounds for each case, run alternately.
fn compare(rounds: usize, batch: usize, cases: &mut [(&str, &mut dyn FnMut(usize))]) -> Vec<f64> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    for (_, case) in cases.iter_mut() {
        for i in 0..batch {
            case(i); // warm up
        }
    }
    let mut offset = batch;
    for _ in 0..rounds {
        for (index, (_, case)) in cases.iter_mut().enumerate() {
            let started = Instant::now();
            for i in 0..batch {
                case(offset + i);
            }
            samples[index].push(started.elapsed().as_nanos() as f64 / batch as f64);
        }
        offset += batch;
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

fn main() {
    if let Ok(case) = std::env::var("ONLY") {
        return only(&case);
    }
    if let Ok(name) = std::env::var("PARTS") {
        return parts(&name);
    }
    let rounds = env_usize("ROUNDS", 31);
    let batch = env_usize("BATCH", 2000);
    let table = || {
        handlers![
            usage,
            status,
            low,
            insufficient,
            top_up,
            order,
            refunded,
            rejected,
            fallback = unknown
        ]
    };
    let plain = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .without_idempotency()
        .build(table())
        .expect("receiver");
    let idem = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(table())
        .expect("receiver");
    let asynced = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .without_idempotency()
        .build(handlers![
            awaited::usage,
            awaited::status,
            awaited::low,
            awaited::insufficient,
            awaited::top_up,
            awaited::order,
            awaited::refunded,
            awaited::rejected,
            fallback = awaited::unknown
        ])
        .expect("receiver");

    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("events"))
        .expect("../shared/fixtures/events (or set ROAMIFY_FIXTURES)")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();

    println!("receive: median ns per delivery over {rounds} alternating rounds of {batch}");
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>11} {:>9} {:>11} {:>9} {:>11}",
        "fixture",
        "floor",
        "floor-simd",
        "sdk",
        "sdk+idem",
        "sdk/floor",
        "idem/floor",
        "sdk/f-simd",
        "sdk-async",
        "async/floor",
        "peer",
        "sdk/peer"
    );
    let mut worst: f64 = 0.0;
    let mut worst_simd: f64 = 0.0;
    let mut worst_async: f64 = 0.0;
    let mut worst_peer: f64 = 0.0;
    let peer = Floor::peer();
    for name in &names {
        let body = std::fs::read(fixtures().join("events").join(name)).expect("fixture");
        let signature = testing::sign(SECRET, &body);
        let event = Event::parse(&Verified::assume_signed(&body)).expect("fixture parses");
        let floor = Floor::for_fixture(&event, &body, hex_decode);
        let floor_simd = Floor::for_fixture(&event, &body, simd_decode);
        // Distinct bodies for the idempotent receiver (trailing whitespace is valid JSON), signed
        // in advance so the loop measures only receiving.
        let variants: Vec<(Vec<u8>, String)> = (0..64)
            .map(|i| {
                let mut b = body.clone();
                b.extend(std::iter::repeat_n(b' ', i + 1));
                let s = testing::sign(SECRET, &b);
                (b, s)
            })
            .collect();
        let mut idem_i = 0usize;
        let [f, fs, s, i, a, p]: [f64; 6] = compare(
            rounds,
            batch,
            &mut [
                ("floor", &mut |_| {
                    black_box(floor.receive(black_box(signature.as_bytes()), black_box(&body)));
                }),
                ("floor, SIMD hex", &mut |_| {
                    black_box(
                        floor_simd.receive(black_box(signature.as_bytes()), black_box(&body)),
                    );
                }),
                ("sdk", &mut |_| {
                    black_box(run(
                        plain.receive([black_box(signature.as_bytes())], black_box(&body))
                    ));
                }),
                ("sdk+idem", &mut |_| {
                    idem_i += 1;
                    let (b, s) = &variants[idem_i % variants.len()];
                    black_box(run(idem.receive([s.as_bytes()], b)));
                }),
                ("sdk, async handlers", &mut |_| {
                    black_box(run(
                        asynced.receive([black_box(signature.as_bytes())], black_box(&body))
                    ));
                }),
                ("peer", &mut |_| {
                    black_box(peer.receive(black_box(signature.as_bytes()), black_box(&body)));
                }),
            ],
        )
        .try_into()
        .expect("one median per case");
        worst = worst.max(s / f);
        worst_simd = worst_simd.max(s / fs);
        worst_async = worst_async.max(a / f);
        worst_peer = worst_peer.max(s / p);
        println!(
            "{name:<40} {f:>9.0} {fs:>9.0} {s:>9.0} {i:>9.0} {:>11.3} {:>11.3} {:>11.3} {a:>9.0} {:>11.3} {p:>9.0} {:>11.3}",
            s / f,
            i / f,
            s / fs,
            a / f,
            s / p
        );
    }
    println!("worst sdk/floor ratio: {worst:.3}");
    println!("worst sdk/(floor with the runtime's SIMD hex decoding) ratio: {worst_simd:.3}");
    println!("worst sdk-async/floor ratio: {worst_async:.3}");
    println!("worst sdk/peer ratio: {worst_peer:.3}");

    // The generated table against a hand-written match over the same 8 handlers.
    let events: Vec<Event> = names
        .iter()
        .filter_map(|n| {
            let body = std::fs::read(fixtures().join("events").join(n)).ok()?;
            Event::parse(&Verified::assume_signed(&body)).ok()
        })
        .collect();
    let bound = plain_table();
    let medians = compare(
        rounds,
        batch,
        &mut [
            ("hand", &mut |i| {
                black_box(hand_match(black_box(events[i % events.len()].clone())));
            }),
            ("table", &mut |i| {
                black_box(run(
                    bound.dispatch(black_box(events[i % events.len()].clone()))
                ));
            }),
        ],
    );
    println!(
        "dispatch: hand-written match {:.1} ns, generated table {:.1} ns, ratio {:.3} (includes cloning the event)",
        medians[0],
        medians[1],
        medians[1] / medians[0]
    );
}

fn plain_table() -> impl Dispatch {
    use roamify_hooks::dispatch::Handlers as _;
    unbound_table()
        .bind(&roamify_hooks::dispatch::States::default())
        .expect("no state")
}

/// The 8 handlers and the fallback, for the measurements that do not count instructions (the
/// timed comparison and `only` build theirs inline: see BENCHMARKS.md).
fn unbound_table() -> impl roamify_hooks::dispatch::Handlers {
    handlers![
        usage,
        status,
        low,
        insufficient,
        top_up,
        order,
        refunded,
        rejected,
        fallback = unknown
    ]
}

fn hand_match(event: Event) -> bool {
    match event {
        Event::EsimUsage(e) => usage(*e),
        Event::EsimStatus(e) => status(*e),
        Event::PartnerLowBalance(e) => low(e),
        Event::PartnerInsufficientBalance(e) => insufficient(e),
        Event::PartnerTopUp(e) => top_up(e),
        Event::AffiliateOrder(e) => order(*e),
        Event::RefundRefunded(e) => refunded(*e),
        Event::RefundRejected(e) => rejected(*e),
        Event::Unknown(e) => unknown(e),
        _ => return false,
    }
    true
}

/// `ONLY=floor|sdk FIXTURE=name.json N=…`: runs one case alone, for instruction counts under
/// `valgrind --tool=callgrind` (see `bench/instructions.sh`).
fn only(case: &str) {
    let name = std::env::var("FIXTURE").expect("FIXTURE=<file in fixtures/events>");
    let n = env_usize("N", 1000);
    let body = std::fs::read(fixtures().join("events").join(&name)).expect("fixture");
    let signature = testing::sign(SECRET, &body);
    let event = Event::parse(&Verified::assume_signed(&body)).expect("fixture parses");
    let floor = Floor::for_fixture(&event, &body, hex_decode);
    // Built inline, not in a shared function: instruction counts are sensitive to inlining
    // (see BENCHMARKS.md).
    let table = handlers![
        usage,
        status,
        low,
        insufficient,
        top_up,
        order,
        refunded,
        rejected,
        fallback = unknown
    ];
    let sdk = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .without_idempotency()
        .build(table)
        .expect("receiver");
    for _ in 0..n {
        match case {
            "floor" => {
                black_box(floor.receive(black_box(signature.as_bytes()), black_box(&body)));
            }
            "sdk" => {
                black_box(run(
                    sdk.receive([black_box(signature.as_bytes())], black_box(&body))
                ));
            }
            "none" => {}
            other => panic!("ONLY={other}: use floor, sdk or none"),
        }
    }
}

/// `PARTS=name.json`: where one delivery's time goes, each step of the SDK beside the floor's
/// same step, in alternating rounds: verification, parse, and the whole delivery.
fn parts(name: &str) {
    use roamify_hooks::signature::Secrets;
    let rounds = env_usize("ROUNDS", 31);
    let batch = env_usize("BATCH", 2000);
    let body = std::fs::read(fixtures().join("events").join(name)).expect("fixture");
    let signature = testing::sign(SECRET, &body);
    let event = Event::parse(&Verified::assume_signed(&body)).expect("fixture parses");
    let floor = Floor::for_fixture(&event, &body, hex_decode);
    let secrets = Secrets::new(Secret::new(SECRET).expect("secret"));
    let sdk = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .without_idempotency()
        .build(unbound_table())
        .expect("receiver");
    let verified = Verified::assume_signed(&body);
    let bound = plain_table();
    println!(
        "sizes: Event {} B, Outcome {} B, Dispatched {} B, receive future {} B, table's dispatch future {} B",
        std::mem::size_of::<Event>(),
        std::mem::size_of::<roamify_hooks::Outcome>(),
        std::mem::size_of::<roamify_hooks::dispatch::Dispatched>(),
        std::mem::size_of_val(&sdk.receive([signature.as_bytes()], &body)),
        std::mem::size_of_val(&bound.dispatch(event.clone())),
    );
    let medians: [f64; 9] = compare(
        rounds,
        batch,
        &mut [
            ("floor verify", &mut |_| {
                black_box(floor.verify(black_box(signature.as_bytes()), black_box(&body)));
            }),
            ("sdk verify", &mut |_| {
                black_box(
                    secrets
                        .verify([black_box(signature.as_bytes())], black_box(&body))
                        .is_ok(),
                );
            }),
            ("floor parse", &mut |_| {
                black_box((floor.parse)(black_box(&body)));
            }),
            ("sdk parse", &mut |_| {
                black_box(Event::parse(black_box(&verified)).is_ok());
            }),
            ("floor", &mut |_| {
                black_box(floor.receive(black_box(signature.as_bytes()), black_box(&body)));
            }),
            ("sdk", &mut |_| {
                black_box(run(
                    sdk.receive([black_box(signature.as_bytes())], black_box(&body))
                ));
            }),
            ("parse + table", &mut |_| {
                if let Ok(event) = Event::parse(black_box(&verified)) {
                    black_box(run(bound.dispatch(event)));
                }
            }),
            ("parse + hand match", &mut |_| {
                if let Ok(event) = Event::parse(black_box(&verified)) {
                    black_box(hand_match(event));
                }
            }),
            ("verify + parse + hand match", &mut |_| {
                if let Ok(verified) =
                    secrets.verify([black_box(signature.as_bytes())], black_box(&body))
                    && let Ok(event) = Event::parse(&verified)
                {
                    black_box(hand_match(event));
                }
            }),
        ],
    )
    .try_into()
    .expect("one median per case");
    let [
        floor_verify,
        sdk_verify,
        floor_parse,
        sdk_parse,
        floor_delivery,
        sdk_delivery,
        parse_table,
        parse_hand,
        pipeline_hand,
    ] = medians;
    println!("{name}: median ns over {rounds} alternating rounds of {batch}");
    println!(
        "{:<30} {:>8} {:>8} {:>10} {:>10}",
        "step", "floor", "sdk", "sdk-floor", "sdk/floor"
    );
    for (step, floor, sdk) in [
        ("verify", floor_verify, sdk_verify),
        ("parse", floor_parse, sdk_parse),
        ("delivery", floor_delivery, sdk_delivery),
    ] {
        println!(
            "{step:<30} {floor:>8.0} {sdk:>8.0} {:>+10.0} {:>10.3}",
            sdk - floor,
            sdk / floor
        );
    }
    for (step, ns) in [
        ("parse + generated table", parse_table),
        ("parse + hand-written match", parse_hand),
    ] {
        println!(
            "{step:<30} {:>8} {ns:>8.0} {:>+10.0} over the sdk's parse",
            "",
            ns - sdk_parse
        );
    }
    println!(
        "{:<30} {:>8} {pipeline_hand:>8.0} {:>10} {:>10.3}  (the least a router on this parse costs)",
        "verify + parse + hand match",
        "",
        "",
        pipeline_hand / floor_delivery
    );
    println!(
        "receive's own steps (delivery - verify - parse - table): {:.0} ns",
        sdk_delivery - sdk_verify - parse_table
    );
}
