//! Properties over arbitrary input: no panics, sign-then-verify, bit flips always fail.

use proptest::prelude::*;
use roamify_hooks::{
    Event, Secret,
    signature::{Secrets, Verified},
    testing,
};

fn secrets(key: &[u8]) -> Secrets {
    Secrets::new(Secret::from_bytes(key.to_vec()).expect("non-empty"))
}

/// Bodies that look like Roamify events with random values, and plain random bytes.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let kinds = prop::sample::select(vec![
        ("esim", "usage"),
        ("esim", "esim_status"),
        ("partner", "low_balance"),
        ("partner", "top_up"),
        ("affiliate", "order"),
        ("refund", "rejected"),
        ("x", "y"),
    ]);
    let value = prop_oneof![
        Just("null".to_owned()),
        Just("\"\"".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[a-z0-9.\\-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        Just("{}".to_owned()),
        Just("[{}]".to_owned()),
        Just("1e400".to_owned()),
    ];
    let fields = prop::collection::vec(
        (
            prop::sample::select(vec![
                "timestamp",
                "balance",
                "currency",
                "iccid",
                "esim_id",
                "status",
                "usage_data",
                "usage_list",
                "order_data",
                "refund_id",
                "threshold",
            ]),
            value,
        ),
        0..8,
    );
    let shaped = (kinds, fields, any::<bool>()).prop_map(|((c, k), fields, flat)| {
        let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let fields = fields.join(",");
        let s = if flat {
            format!(
                r#"{{"event_category":"{c}","event_type":"{k}"{}{fields}}}"#,
                if fields.is_empty() { "" } else { "," }
            )
        } else {
            format!(r#"{{"event_category":"{c}","event_type":"{k}","data":{{{fields}}}}}"#)
        };
        s.into_bytes()
    });
    prop_oneof![shaped, prop::collection::vec(any::<u8>(), 0..256)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_never_panics(body in bodies()) {
        let _ = Event::parse(&Verified::assume_signed(&body));
    }

    #[test]
    fn verification_never_panics(key in prop::collection::vec(any::<u8>(), 1..100), header in prop::collection::vec(any::<u8>(), 0..80), body in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = secrets(&key).verify([&header], &body);
    }

    #[test]
    fn sign_then_verify_always_succeeds(key in prop::collection::vec(any::<u8>(), 1..100), body in prop::collection::vec(any::<u8>(), 0..300)) {
        let signature = testing::sign(&key, &body);
        prop_assert!(secrets(&key).verify([signature], &body).is_ok());
    }

    #[test]
    fn flipping_any_body_bit_fails(key in prop::collection::vec(any::<u8>(), 1..64), body in prop::collection::vec(any::<u8>(), 1..200), bit in any::<prop::sample::Index>()) {
        let signature = testing::sign(&key, &body);
        let mut tampered = body.clone();
        let bit = bit.index(body.len() * 8);
        tampered[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(secrets(&key).verify([signature], &tampered).is_err());
    }

    #[test]
    fn flipping_any_signature_bit_fails(key in prop::collection::vec(any::<u8>(), 1..64), body in prop::collection::vec(any::<u8>(), 0..200), bit in 0usize..256) {
        let signature = hex::decode(testing::sign(&key, &body)).expect("hex");
        let mut tampered = signature.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(secrets(&key).verify([hex::encode(tampered)], &body).is_err());
    }
}
