//! Every documented example payload parses to the expected variant, with exact fields.

mod support;

use std::str::FromStr;

use roamify_hooks::events::{EsimState, OrderStatus, RefundStatus};
use roamify_hooks::{Event, EventKind, events::UnixTime};
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

#[test]
fn every_fixture_is_covered_here() {
    let covered = [
        "affiliate_order.json",
        "esim_status.json",
        "esim_status_flat.json",
        "esim_status_legacy_name_compact.json",
        "esim_usage.json",
        "esim_usage_flat.json",
        "partner_insufficient_balance.json",
        "partner_low_balance.json",
        "partner_low_balance_flat.json",
        "partner_top_up.json",
        "refund_refunded.json",
        "refund_rejected.json",
        "unknown_future_event.json",
    ];
    assert_eq!(
        support::event_names(),
        covered,
        "a fixture was added or removed: cover it in this file"
    );
}

#[test]
fn esim_usage_nested_and_flat() {
    for name in ["esim_usage.json", "esim_usage_flat.json"] {
        let Event::EsimUsage(u) = support::parsed_event(name) else {
            panic!("{name}: wrong variant")
        };
        assert_eq!(u.timestamp, UnixTime::from_secs(1_700_000_000));
        assert_eq!(u.iccid, "8991234567890123456");
        assert_eq!(u.esim_id, "c2a9cdae-430e-4251-bf65-a84df4562ed9");
        assert_eq!(u.reference_id.as_deref(), Some("ref_1234567890"));
        assert_eq!(u.start, Some(UnixTime::from_secs(1_699_996_800)));
        assert_eq!(u.end, Some(UnixTime::from_secs(1_700_000_400)));
        assert_eq!(u.status, EsimState::Activated);
        assert_eq!(
            u.package_id.as_deref(),
            Some("esim-afghanistan-7days-1gb-all")
        );
        assert_eq!(u.package_name.as_deref(), Some("1 GB - 7 Days"));
        assert_eq!(u.data_units.as_deref(), Some("MB"));
        assert_eq!(u.voice_units.as_deref(), Some("minutes"));
        assert_eq!(u.sms_units.as_deref(), Some("sms"));
        let d = u.usage_data.as_ref().expect("usage_data");
        assert_eq!(d.is_unlimited, Some(false));
        assert_eq!(d.allowed_data, Some(dec("1024")));
        assert_eq!(d.remaining_data, Some(dec("512")));
        assert_eq!(d.allowed_sms, Some(dec("100")));
        assert_eq!(d.remaining_sms, Some(dec("50")));
        assert_eq!(d.allowed_voice, Some(dec("500")));
        assert_eq!(d.remaining_voice, Some(dec("250")));
        assert_eq!(u.usage_list.len(), 2);
        assert_eq!(u.usage_list[0].date, "2023-11-01");
        assert_eq!(u.usage_list[0].data_used, Some(dec("100")));
        assert_eq!(u.usage_list[1].data_used, Some(dec("200")));
        assert_eq!(u.usage_list[1].location.as_deref(), Some("Afghanistan"));
        assert!(
            u.extra.is_empty(),
            "{name}: nothing unmodelled, got {:?}",
            u.extra
        );
    }
}

#[test]
fn esim_status_nested_flat_and_legacy() {
    for name in ["esim_status.json", "esim_status_flat.json"] {
        let Event::EsimStatus(s) = support::parsed_event(name) else {
            panic!("{name}: wrong variant")
        };
        assert_eq!(s.timestamp.as_secs(), 1_700_000_000);
        assert_eq!(s.iccid, "8991234567890123456");
        assert_eq!(s.reference_id.as_deref(), Some("ref_1234567890"));
        assert_eq!(s.start.map(UnixTime::as_secs), Some(1_699_996_800));
        assert_eq!(s.end.map(UnixTime::as_secs), Some(1_700_000_400));
        assert_eq!(s.status, EsimState::Activated);
    }
    let Event::EsimStatus(s) = support::parsed_event("esim_status_legacy_name_compact.json") else {
        panic!("legacy name")
    };
    assert_eq!(s.iccid, "8935308728471951");
    assert_eq!(s.esim_id, "f6d83dcb-e7b5-45f7-8c1d-b2a07ebd49f4");
    assert_eq!(s.reference_id, None, "\"\" reads as None");
    assert_eq!(s.timestamp.as_secs(), 1_764_201_600);
    assert_eq!(s.status, EsimState::Downloaded);
}

#[test]
fn partner_balance_events_keep_money_exact() {
    for name in ["partner_low_balance.json", "partner_low_balance_flat.json"] {
        let Event::PartnerLowBalance(p) = support::parsed_event(name) else {
            panic!("{name}: wrong variant")
        };
        assert_eq!(p.timestamp.as_secs(), 1_673_123_456);
        assert_eq!(p.balance, dec("50.00"));
        assert_eq!(p.balance.to_string(), "50.00", "scale kept as sent");
        assert_eq!(p.threshold, Some(dec("100.00")));
        assert_eq!(p.threshold_percentage, Some(dec("50")));
        assert_eq!(p.currency, "USD");
    }
    let Event::PartnerInsufficientBalance(p) =
        support::parsed_event("partner_insufficient_balance.json")
    else {
        panic!()
    };
    assert_eq!(p.balance.to_string(), "3.25");
    assert_eq!((p.threshold, p.threshold_percentage), (None, None));
    assert_eq!(p.currency, "EUR");
    let Event::PartnerTopUp(p) = support::parsed_event("partner_top_up.json") else {
        panic!()
    };
    assert_eq!(p.balance.to_string(), "1003.25");
    assert_eq!(p.threshold, None, "null reads as None");
    assert_eq!(p.timestamp.as_secs(), 1_764_205_200);
}

#[test]
fn affiliate_order() {
    let Event::AffiliateOrder(o) = support::parsed_event("affiliate_order.json") else {
        panic!()
    };
    assert_eq!(o.timestamp.as_secs(), 1_700_000_000);
    assert_eq!(o.partner_name, "ACME Affiliate");
    assert_eq!(o.partner_id, "6ImuFenqQbPjYaYyhWRIvkYdsF42");
    assert_eq!(o.commission_rate.to_string(), "10.0");
    assert_eq!(o.commission_amount.to_string(), "5.00");
    let d = &o.order_data;
    assert_eq!(d.order_id, "c2a9cdae-430e-4251-bf65-a84df4562ed9");
    assert_eq!(d.total.to_string(), "49.99");
    assert_eq!(d.total, dec("49.99"));
    assert_eq!(d.adjustment, Some(dec("0")));
    assert_eq!(d.subtotal.map(|s| s.to_string()).as_deref(), Some("49.99"));
    assert_eq!(d.discount, Some(dec("0.00")));
    assert_eq!(d.currency, "USD");
    assert_eq!(d.status, OrderStatus::Completed);
    assert_eq!(d.items.len(), 1);
    assert_eq!(d.items[0].item_id, "esim-afghanistan-7days-1gb-all");
    assert_eq!(d.items[0].item_name.as_deref(), Some("1 GB - 7 Days"));
    assert_eq!(d.items[0].quantity, 1);
    assert_eq!(d.items[0].price.to_string(), "49.99");
}

#[test]
fn refunds_carry_their_event_id() {
    let Event::RefundRefunded(r) = support::parsed_event("refund_refunded.json") else {
        panic!()
    };
    assert_eq!(
        r.event_id.as_deref(),
        Some("rfd_7d1c2b0e-5f43-4c84-9f0e-2f7a1c9b8e11_refunded")
    );
    assert_eq!(r.refund_id, "7d1c2b0e-5f43-4c84-9f0e-2f7a1c9b8e11");
    assert_eq!(r.status, RefundStatus::Refunded);
    assert_eq!(r.product_type.as_deref(), Some("esim"));
    assert_eq!(
        r.esim_id.as_deref(),
        Some("f6d83dcb-e7b5-45f7-8c1d-b2a07ebd49f4")
    );
    assert_eq!(r.iccid.as_deref(), Some("89851000000006262546"));
    assert_eq!(r.rejection_reason, None);
    assert_eq!(r.timestamp.as_secs(), 1_764_288_000);

    let Event::RefundRejected(r) = support::parsed_event("refund_rejected.json") else {
        panic!()
    };
    assert_eq!(
        r.event_id.as_deref(),
        Some("rfd_0b6f3a9e-2d7c-4e1a-8b5d-9c3e4f5a6b7c_rejected")
    );
    assert_eq!(r.status, RefundStatus::Rejected);
    assert_eq!(r.iccid, None, "\"\" reads as None");
    assert_eq!(
        r.rejection_reason.as_deref(),
        Some("The eSIM has already used data.")
    );
}

#[test]
fn unknown_event_is_kept_whole() {
    let body = support::event("unknown_future_event.json");
    let Event::Unknown(u) = support::parsed_event("unknown_future_event.json") else {
        panic!()
    };
    assert_eq!((u.category(), u.kind()), ("esim", "topup"));
    assert_eq!(u.event_id(), None);
    assert_eq!(u.raw().as_bytes(), &body[..], "the body, byte for byte");
    #[derive(serde::Deserialize)]
    struct TopUp {
        iccid: String,
        package_id: String,
    }
    let t: TopUp = u.payload().expect("data reads into a user type");
    assert_eq!(t.iccid, "8991234567890123456");
    assert_eq!(t.package_id, "esim-europe-30days-10gb-all");
}

#[test]
fn every_kind_appears_among_fixtures() {
    let mut seen: Vec<EventKind> = support::event_names()
        .iter()
        .filter_map(|n| support::parsed_event(n).kind())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, EventKind::ALL);
}

/// `testing::sample_payload_with`: an edited sample read by the receiver's parser, as the
/// payload type asked for; a clear error when the edit broke it or the type is not the kind's.
#[test]
fn an_edited_sample_payload_is_typed_or_refused_clearly() {
    use roamify_hooks::events::{EsimUsage, PartnerBalance};
    use roamify_hooks::testing::{SampleError, sample_payload_with};
    use roamify_hooks::{Decimal, EventKind};

    // The flat shape of old deliveries, with a string balance: what the parser tolerates.
    let flat: PartnerBalance = sample_payload_with(EventKind::PartnerTopUp, |json| {
        let data = json["data"].take();
        json.as_object_mut().expect("an object").remove("data");
        for (key, value) in data.as_object().expect("data is an object") {
            json[key] = value.clone();
        }
        json["balance"] = "-5.00".into();
    })
    .expect("flat fields parse");
    assert_eq!(flat.balance, Decimal::new(-500, 2));

    let broken = sample_payload_with::<PartnerBalance>(EventKind::PartnerTopUp, |json| {
        json["data"]["balance"] = "lots".into();
    })
    .expect_err("not a number");
    assert!(matches!(broken, SampleError::Parse(_)), "{broken:?}");
    assert!(
        roamify_hooks::report(&broken).contains("data.balance"),
        "names the field: {}",
        roamify_hooks::report(&broken)
    );

    let wrong = sample_payload_with::<EsimUsage>(EventKind::PartnerTopUp, |_| {})
        .expect_err("not the kind's payload");
    assert_eq!(
        wrong.to_string(),
        "`roamify_hooks::events::esim::EsimUsage` is not the payload of `partner.top_up` (see the catalog's payload types)"
    );
}
