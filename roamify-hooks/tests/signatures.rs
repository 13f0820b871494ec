//! The signature vectors made with node:crypto, through the public API; header-count rules;
//! rotation; secrets.

mod support;

use roamify_hooks::{
    Secret, SecretError,
    signature::{Secrets, SignatureError},
    testing,
};

use support::vectors;

#[test]
fn every_vector_gives_its_expected_result() {
    let all = vectors();
    assert_eq!(all.header, roamify_hooks::signature::SIGNATURE_HEADER);
    assert!(all.vectors.len() >= 30, "{} vectors", all.vectors.len());
    let (mut valid, mut invalid) = (0, 0);
    for v in &all.vectors {
        let body = hex::decode(&v.body_hex).expect("body_hex");
        let secrets = Secrets::new(Secret::new(v.secret.clone()).expect("non-empty"));
        let result = secrets.verify([v.header.as_bytes()], &body);
        match v.expect.as_str() {
            "valid" => {
                let verified = result.unwrap_or_else(|e| panic!("{}: {e}", v.name));
                assert_eq!(verified.body(), &body[..], "{}", v.name);
                assert_eq!(verified.secret_index(), 0);
                // The test kit signs exactly like node:crypto.
                assert!(
                    v.header
                        .trim()
                        .eq_ignore_ascii_case(&testing::sign(&v.secret, &body)),
                    "{}",
                    v.name
                );
                valid += 1;
            }
            "invalid" if testing::sign(&v.secret, &body) == v.header => {
                // A vector marked invalid whose header *is* the HMAC of its body cannot be
                // rejected by any correct verifier. One such vector exists upstream: "one flipped
                // bit in the body" carries the unflipped body. Test what it describes instead,
                // and fail on any other such vector so new fixture defects are seen.
                assert_eq!(
                    v.name, "one flipped bit in the body",
                    "self-contradictory vector"
                );
                let mut flipped = body.clone();
                flipped[body.len() / 2] ^= 1;
                assert!(
                    secrets.verify([v.header.as_bytes()], &flipped).is_err(),
                    "{}: accepted",
                    v.name
                );
                invalid += 1;
            }
            "invalid" => {
                assert!(result.is_err(), "{}: accepted", v.name);
                invalid += 1;
            }
            other => panic!("{}: unknown expectation {other}", v.name),
        }
    }
    assert!(
        valid > 10 && invalid > 10,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn header_rules() {
    let secrets = Secrets::new(Secret::new("k").expect("secret"));
    let body = b"{}";
    let good = testing::sign("k", body);
    assert_eq!(
        secrets.verify(Vec::<&[u8]>::new(), body).unwrap_err(),
        SignatureError::Missing
    );
    assert_eq!(
        secrets
            .verify([good.as_str(), good.as_str()], body)
            .unwrap_err(),
        SignatureError::Multiple(2)
    );
    assert!(matches!(
        secrets.verify(["   "], body).unwrap_err(),
        SignatureError::Malformed(_)
    ));
    assert!(matches!(
        secrets
            .verify([format!("sha256={good}")], body)
            .unwrap_err(),
        SignatureError::Malformed(_)
    ));
    assert!(matches!(
        secrets.verify([&good[..63]], body).unwrap_err(),
        SignatureError::Malformed(_)
    ));
    assert!(matches!(
        secrets.verify(["g".repeat(64)], body).unwrap_err(),
        SignatureError::Malformed(_)
    ));
    assert_eq!(
        secrets.verify(["0".repeat(64)], body).unwrap_err(),
        SignatureError::Mismatch
    );
    assert!(
        secrets
            .verify([format!("\t{}  ", good.to_uppercase())], body)
            .is_ok()
    );
    // Non-UTF-8 header bytes are just malformed.
    assert!(matches!(
        secrets.verify([&[0xff_u8; 64][..]], body).unwrap_err(),
        SignatureError::Malformed(_)
    ));
}

#[test]
fn rotation_reports_the_matching_secret() {
    let secrets = Secrets::new(Secret::new("old").expect("s")).with(Secret::new("new").expect("s"));
    assert_eq!(secrets.len(), 2);
    let body = b"any bytes \xff\x00";
    assert_eq!(
        secrets
            .verify([testing::sign("old", body)], body)
            .expect("old")
            .secret_index(),
        0
    );
    assert_eq!(
        secrets
            .verify([testing::sign("new", body)], body)
            .expect("new")
            .secret_index(),
        1
    );
    assert_eq!(
        secrets
            .verify([testing::sign("other", body)], body)
            .unwrap_err(),
        SignatureError::Mismatch
    );
}

#[test]
fn secrets_never_print_and_never_empty() {
    let secret = Secret::new("whsec_very_secret").expect("s");
    assert!(!format!("{secret:?}{secret}").contains("very"));
    let secrets = Secrets::new(secret);
    assert!(!format!("{secrets:?}").contains("very"));
    assert_eq!(Secret::new("").unwrap_err(), SecretError::Empty);
    assert_eq!(
        Secret::from_bytes(Vec::new()).unwrap_err(),
        SecretError::Empty
    );
    assert_eq!(
        Secret::from_env_var("ROAMIFY_HOOKS_TEST_UNSET_VARIABLE").unwrap_err(),
        SecretError::NotSet("ROAMIFY_HOOKS_TEST_UNSET_VARIABLE")
    );
}
