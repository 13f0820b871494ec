use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn parse(body: &str) -> Event {
    crate::parse::parse(body.as_bytes()).expect("parses")
}

const STATUS: &str = include_str!("../samples/esim_status.json");
const USAGE: &str = include_str!("../samples/esim_usage.json");
const LOW: &str = include_str!("../samples/partner_low_balance.json");
const TOP_UP: &str = include_str!("../samples/partner_top_up.json");
const REFUND: &str = include_str!("../samples/refund_refunded.json");

fn plan(default: Ordering, handlers: &[HandlerOrdering]) -> Result<Plan, NoOrderKey> {
    Plan::new(default, handlers, &HashMap::new())
}

#[test]
fn settings_read_and_print_as_the_example_servers_spell_them() {
    for ordering in [Ordering::Off, Ordering::Latest, Ordering::Serial] {
        assert_eq!(ordering.to_string().parse::<Ordering>(), Ok(ordering));
    }
    assert_eq!(Ordering::default(), Ordering::Off);
    let error = "newest".parse::<Ordering>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown ordering `newest`: expected `off`, `latest` or `serial`"
    );
}

#[test]
fn every_catalogued_kind_says_what_it_reports() {
    let states: Vec<EventKind> = EventKind::ALL
        .iter()
        .copied()
        .filter(|k| matches!(k.reports(), Reports::State { .. }))
        .collect();
    assert_eq!(
        states,
        [
            EventKind::EsimUsage,
            EventKind::EsimStatus,
            EventKind::PartnerLowBalance,
            EventKind::PartnerTopUp
        ]
    );
}

#[test]
fn state_events_are_ordered_by_their_stream_and_signed_timestamp() {
    let plan = plan(Ordering::Latest, &[]).unwrap();
    assert!(plan.any());
    let status = plan.order(&parse(STATUS)).expect("ordered");
    assert_eq!(
        status,
        Order::new("esim.status:8991234567890123456", 1_700_000_000, false)
    );
    let usage = plan.order(&parse(USAGE)).expect("ordered");
    assert!(usage.stream.starts_with("esim.usage:"), "{usage:?}");
    // Both balance kinds report one state: the account's balance.
    let low = plan.order(&parse(LOW)).expect("ordered").stream;
    let top_up = plan.order(&parse(TOP_UP)).expect("ordered").stream;
    assert_eq!(
        (low.as_str(), top_up.as_str()),
        ("partner.balance:", "partner.balance:")
    );
    assert_eq!(
        plan.order(&parse(REFUND)),
        None,
        "incidents are never judged"
    );
}

#[test]
fn off_orders_nothing_and_a_handler_setting_wins_for_its_kind() {
    let off = plan(Ordering::Off, &[]).unwrap();
    assert!(!off.any());
    assert_eq!(off.order(&parse(STATUS)), None);
    let serial = plan(
        Ordering::Off,
        &[HandlerOrdering::new("esim", "status", Ordering::Serial)],
    )
    .unwrap();
    assert!(serial.order(&parse(STATUS)).expect("ordered").serial);
    assert_eq!(
        serial.order(&parse(USAGE)),
        None,
        "other kinds keep the default"
    );
    let kept = plan(
        Ordering::Latest,
        &[HandlerOrdering::new("esim", "usage", Ordering::Off)],
    )
    .unwrap();
    assert_eq!(
        kept.order(&parse(USAGE)),
        None,
        "a handler that wants every report"
    );
}

#[test]
fn ordering_an_incident_or_an_unknown_kind_needs_a_key() {
    let error = plan(
        Ordering::Latest,
        &[HandlerOrdering::new("refund", "refunded", Ordering::Latest)],
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("order_key(\"refund\", \"refunded\""),
        "{error}"
    );
    let error = plan(
        Ordering::Latest,
        &[HandlerOrdering::new("fleet", "location", Ordering::Serial)],
    )
    .unwrap_err();
    assert_eq!(error.kind, "location");
}

#[test]
fn an_application_key_orders_an_uncatalogued_kind() {
    let mut keys: HashMap<(String, String), KeyFn> = HashMap::new();
    let vehicle: KeyFn = Arc::new(|event: &Event| match event {
        Event::Unknown(u) => u
            .payload::<serde_json::Value>()
            .ok()?
            .get("vehicle")?
            .as_str()
            .map(str::to_owned),
        _ => None,
    });
    keys.insert(("fleet".into(), "location".into()), vehicle);
    let plan = Plan::new(
        Ordering::Latest,
        &[HandlerOrdering::new("fleet", "location", Ordering::Serial)],
        &keys,
    )
    .unwrap();
    let event = parse(
        r#"{"event_category":"fleet","event_type":"location","data":{"timestamp":"1700000100","vehicle":"v7"}}"#,
    );
    assert_eq!(
        plan.order(&event),
        Some(Order::new("fleet.location:v7", 1_700_000_100, true))
    );
    let keyless = parse(r#"{"event_category":"fleet","event_type":"location","timestamp":5}"#);
    assert_eq!(plan.order(&keyless), None, "no key, no order");
}

#[test]
fn a_mark_moves_forward_only_and_equal_timestamps_both_run() {
    let mut marks = MarkIndex::new(10);
    let now = Instant::now();
    let keep = Duration::from_secs(60);
    assert_eq!(marks.advance("s", 10, keep, now), None);
    assert_eq!(marks.advance("s", 10, keep, now), None, "equal runs");
    assert_eq!(marks.advance("s", 9, keep, now), Some(10), "older is stale");
    assert_eq!(marks.advance("s", 11, keep, now), None);
    assert_eq!(marks.advance("t", 1, keep, now), None, "streams are apart");
    // Kept for the retention after it last moved, then forgotten.
    let later = now + keep;
    assert_eq!(marks.advance("s", 5, keep, later), None, "forgotten");
    assert_eq!(marks.len(), 1, "the other stream's mark expired too");
}

#[test]
fn marks_are_bounded_by_evicting_the_one_moved_longest_ago() {
    let mut marks = MarkIndex::new(3);
    let now = Instant::now();
    let keep = Duration::from_secs(60);
    for (stream, at) in [("a", 5), ("b", 5), ("c", 5)] {
        assert_eq!(marks.advance(stream, at, keep, now), None);
    }
    assert_eq!(marks.advance("a", 6, keep, now), None, "a moved last now");
    assert_eq!(marks.advance("d", 1, keep, now), None);
    assert_eq!(marks.len(), 3);
    assert_eq!(marks.advance("b", 1, keep, now), None, "b was evicted");
    assert_eq!(marks.advance("a", 1, keep, now), Some(6), "a was kept");
    let streams: Vec<&str> = marks.entries().map(|(s, _, _)| s).collect();
    assert_eq!(streams.len(), 3, "{streams:?}");
}
