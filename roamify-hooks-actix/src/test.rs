//! Signed test requests for actix-web's own test tools (`actix_web::test`).
//!
//! ```
//! use actix_web::{App, test};
//! use roamify_hooks::events::PartnerBalance;
//! use roamify_hooks::{EventKind, Receiver, Secret, handlers, on_event, testing};
//!
//! #[on_event(category = "partner", kind = "low_balance")]
//! fn low_balance(event: PartnerBalance) {
//!     assert!(event.balance.is_sign_negative());
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let receiver = Receiver::builder()
//!     .secret(Secret::new("whsec_test")?)
//!     .build(handlers![low_balance])?;
//! let app = test::init_service(
//!     App::new().service(roamify_hooks_actix::webhook("/webhooks/roamify", receiver)),
//! )
//! .await;
//!
//! let body = testing::sample_with(EventKind::PartnerLowBalance, |json| {
//!     json["data"]["balance"] = (-5).into();
//! });
//! let request = roamify_hooks_actix::test::signed_request("/webhooks/roamify", "whsec_test", body);
//! let response = test::call_service(&app, request.to_request()).await;
//! assert_eq!(response.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use actix_web::test::TestRequest;

/// A `POST` to `path` of `body`, with the `X-Roamify-Signature` Roamify would send when signing
/// with `secret`.
#[must_use]
pub fn signed_request(
    path: &str,
    secret: impl AsRef<[u8]>,
    body: impl Into<Vec<u8>>,
) -> TestRequest {
    let body = body.into();
    let signature = roamify_hooks::testing::sign(secret, &body);
    TestRequest::post()
        .uri(path)
        .insert_header((roamify_hooks::signature::SIGNATURE_HEADER, signature))
        .set_payload(body)
}
