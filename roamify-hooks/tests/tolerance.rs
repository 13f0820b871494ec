//! The spec's "What a receiver must tolerate", one test each, plus the three kinds of error.

use roamify_hooks::events::{EsimState, OrderStatus, RefundStatus};
use roamify_hooks::{Event, EventKind, ParseError, signature::Verified};

fn parse(body: &str) -> Result<Event, ParseError> {
    Event::parse(&Verified::assume_signed(body.as_bytes()))
}

fn balance(body: &str) -> roamify_hooks::events::PartnerBalance {
    match parse(body).expect("parses") {
        Event::PartnerLowBalance(p) => p,
        other => panic!("wrong variant {other:?}"),
    }
}

#[test]
fn any_key_order_including_data_before_the_names() {
    let p = balance(
        r#"{"data":{"currency":"USD","balance":1,"timestamp":5},"event_type":"low_balance","event_category":"partner"}"#,
    );
    assert_eq!(p.balance.to_string(), "1");
    assert_eq!(p.timestamp.as_secs(), 5);
}

#[test]
fn unknown_fields_are_kept_at_every_level() {
    let body = r#"{"event_category":"partner","event_type":"low_balance","delivery":"x","data":{"timestamp":1,"balance":2,"currency":"USD","region":{"eu":true}}}"#;
    let p = balance(body);
    assert_eq!(p.extra["region"], serde_json::json!({"eu": true}));
    assert_eq!(
        p.extra["delivery"],
        serde_json::json!("x"),
        "top-level unknown keys are kept too"
    );

    let body = r#"{"event_category":"esim","event_type":"usage","data":{"timestamp":1,"iccid":"1","esim_id":"e","status":"NEW",
        "usage_data":{"isUnlimited":true,"bonus_data":5},"usage_list":[{"date":"2025-01-01","data_used":1.5,"network":"X"}]}}"#;
    let Ok(Event::EsimUsage(u)) = parse(body) else {
        panic!()
    };
    let d = u.usage_data.expect("usage_data");
    assert_eq!(d.extra["bonus_data"], serde_json::json!(5));
    assert_eq!(u.usage_list[0].extra["network"], serde_json::json!("X"));
    assert_eq!(
        u.usage_list[0].data_used.map(|d| d.to_string()).as_deref(),
        Some("1.5")
    );
}

#[test]
fn optional_fields_absent_null_or_empty() {
    for threshold in ["", r#","threshold":null"#, r#","threshold":"""#] {
        let body = format!(
            r#"{{"event_category":"partner","event_type":"low_balance","data":{{"timestamp":1,"balance":2,"currency":"USD"{threshold}}}}}"#
        );
        assert_eq!(balance(&body).threshold, None, "{body}");
    }
    let body = r#"{"event_category":"esim","event_type":"status","data":{"timestamp":1,"iccid":"1","esim_id":"e","status":"NEW","reference_id":null,"start":"","end":null}}"#;
    let Ok(Event::EsimStatus(s)) = parse(body) else {
        panic!()
    };
    assert_eq!((s.reference_id, s.start, s.end), (None, None, None));
}

#[test]
fn numbers_with_or_without_decimals_and_exact_money() {
    for (text, shown) in [
        ("50", "50"),
        ("50.00", "50.00"),
        ("12.5", "12.5"),
        ("49.99", "49.99"),
        ("\"49.99\"", "49.99"),
        ("1e2", "100"),
        ("0.1", "0.1"),
    ] {
        let body = format!(
            r#"{{"event_category":"partner","event_type":"low_balance","data":{{"timestamp":1,"balance":{text},"currency":"USD"}}}}"#
        );
        assert_eq!(balance(&body).balance.to_string(), shown, "{text}");
    }
    // Integers where documented, given as integral floats or strings.
    let body = r#"{"event_category":"partner","event_type":"low_balance","data":{"timestamp":1700000000.0,"balance":1,"currency":"USD"}}"#;
    assert_eq!(balance(body).timestamp.as_secs(), 1_700_000_000);
    let body = r#"{"event_category":"partner","event_type":"low_balance","data":{"timestamp":"1700000000","balance":1,"currency":"USD"}}"#;
    assert_eq!(balance(body).timestamp.as_secs(), 1_700_000_000);
    // More digits than an f64 holds: still exact.
    let body = r#"{"event_category":"partner","event_type":"low_balance","data":{"timestamp":1,"balance":12345678901234567.89,"currency":"USD"}}"#;
    assert_eq!(balance(body).balance.to_string(), "12345678901234567.89");
}

#[test]
fn unknown_enum_values_are_kept() {
    let body = r#"{"event_category":"esim","event_type":"status","data":{"timestamp":1,"iccid":"1","esim_id":"e","status":"SUSPENDED"}}"#;
    let Ok(Event::EsimStatus(s)) = parse(body) else {
        panic!()
    };
    assert_eq!(s.status, EsimState::Other("SUSPENDED".into()));
    assert_eq!(s.status.as_str(), "SUSPENDED");
    assert_eq!(
        OrderStatus::from_wire("chargeback"),
        OrderStatus::Other("chargeback".into())
    );
    assert_eq!(
        RefundStatus::from_wire("PARTIALLY_REFUNDED").to_string(),
        "PARTIALLY_REFUNDED"
    );
    assert_eq!(EsimState::from_wire("activated"), EsimState::Activated);
}

#[test]
fn unknown_categories_and_kinds_are_events_not_errors() {
    for body in [
        r#"{"event_category":"esim","event_type":"topup","data":{}}"#,
        r#"{"event_category":"loyalty","event_type":"points","data":{"n":1}}"#,
        r#"{"event_category":"refund","event_type":"created","event_id":"rfd_1_created","data":{}}"#,
    ] {
        let Ok(Event::Unknown(u)) = parse(body) else {
            panic!("{body}")
        };
        assert_eq!(u.raw(), body);
    }
}

#[test]
fn both_spellings_of_esim_kinds() {
    let usage = r#"{"event_category":"esim","event_type":"esim_usage","timestamp":1,"iccid":"1","esim_id":"e","status":"NEW"}"#;
    assert_eq!(
        parse(usage).expect("legacy flat usage").kind(),
        Some(EventKind::EsimUsage)
    );
    let status = r#"{"event_category":"esim","event_type":"esim_status","data":{"timestamp":1,"iccid":"1","esim_id":"e","status":"NEW"}}"#;
    assert_eq!(
        parse(status).expect("legacy status").kind(),
        Some(EventKind::EsimStatus)
    );
}

#[test]
fn not_an_envelope() {
    for body in [
        "",
        "not json",
        "[]",
        "42",
        r#"{"event_type":"x"}"#,
        r#"{"event_category":"esim"}"#,
        r#"{"event_category":1,"event_type":"x"}"#,
        r#"{"event_category":"esim","event_type":"usage"} trailing"#,
        "\u{feff}{}",
    ] {
        match parse(body) {
            Err(ParseError::NotEnvelope { .. }) => {}
            other => panic!("{body:?}: expected NotEnvelope, got {other:?}"),
        }
    }
    let invalid_utf8 = b"{\"event_category\":\"\xff\",\"event_type\":\"x\"}";
    assert!(matches!(
        Event::parse(&Verified::assume_signed(invalid_utf8)),
        Err(ParseError::NotEnvelope { .. })
    ));
}

#[test]
fn keys_are_read_as_json_strings() {
    // Escaped envelope keys name the same fields as plain ones.
    let escaped = r#"{"event\u005fcategory":"partner","event_typ\u0065":"top_up","\u0064ata":{"timestamp":1,"balance":2.5,"currency":"EUR"}}"#;
    let Ok(Event::PartnerTopUp(top_up)) = parse(escaped) else {
        panic!("{escaped}: expected a top-up");
    };
    assert_eq!(top_up.balance.to_string(), "2.5");
    // So do the escaped keys of a flat payload, and an escaped unknown key is kept aside.
    let flat = r#"{"event_category":"partner","event_type":"top_up","b\u0061lance":2.5,"timestamp":1,"currency":"EUR","n\u00e9w":1}"#;
    assert_eq!(
        parse(flat).expect("flat, escaped keys").kind(),
        Some(EventKind::PartnerTopUp)
    );
    // A top-level key that is not UTF-8 is refused like any other invalid JSON string, whether
    // before or after the event's names.
    for body in [
        &b"{\"\xff\":1,\"event_category\":\"partner\",\"event_type\":\"top_up\",\"data\":{\"timestamp\":1,\"balance\":1,\"currency\":\"EUR\"}}"[..],
        &b"{\"event_category\":\"partner\",\"event_type\":\"top_up\",\"\xc3\":1,\"data\":{\"timestamp\":1,\"balance\":1,\"currency\":\"EUR\"}}"[..],
    ] {
        match Event::parse(&Verified::assume_signed(body)) {
            Err(ParseError::NotEnvelope { reason }) => {
                assert!(reason.contains("UTF-8"), "{reason}");
            }
            other => panic!("{}: expected NotEnvelope, got {other:?}", body.escape_ascii()),
        }
    }
}

#[test]
fn invalid_payload_names_the_field() {
    let cases = [
        (
            r#"{"event_category":"partner","event_type":"low_balance","data":{"timestamp":1,"balance":"lots","currency":"USD"}}"#,
            "data.balance",
        ),
        (
            r#"{"event_category":"partner","event_type":"low_balance","data":{"timestamp":1,"currency":"USD"}}"#,
            "data",
        ),
        (
            r#"{"event_category":"affiliate","event_type":"order","data":{"timestamp":1,"partner_name":"p","partner_id":"i","commission_rate":1,"commission_amount":1,
            "order_data":{"order_id":"o","order_total":1,"order_currency":"USD","order_status":"completed","order_items":[{"item_id":"a","item_quantity":-1,"item_price":1}]}}}"#,
            "data.order_data.order_items[0].item_quantity",
        ),
        (
            r#"{"data":{"timestamp":"soon","balance":1,"currency":"USD"},"event_category":"partner","event_type":"top_up"}"#,
            "data.timestamp",
        ),
        (
            r#"{"event_category":"esim","event_type":"status","timestamp":1,"iccid":"1","esim_id":"e","status":{"code":7}}"#,
            "status",
        ),
    ];
    for (body, path) in cases {
        match parse(body) {
            Err(ParseError::InvalidPayload { path: p, .. }) => assert_eq!(p, path, "{body}"),
            other => panic!("{body}: expected InvalidPayload at {path}, got {other:?}"),
        }
    }
    let Err(e) = parse(cases[0].0) else { panic!() };
    assert_eq!(
        e.to_string().split(':').next(),
        Some("invalid `partner.low_balance` payload at `data.balance`")
    );
}
