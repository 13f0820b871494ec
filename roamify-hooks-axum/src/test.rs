//! Signed test requests for axum, to send with `tower::ServiceExt::oneshot`.
//!
//! ```
//! use axum::Router;
//! use roamify_hooks::events::PartnerBalance;
//! use roamify_hooks::{EventKind, Receiver, Secret, handlers, on_event, testing};
//! use tower::ServiceExt as _;
//!
//! #[on_event(category = "partner", kind = "low_balance")]
//! fn low_balance(event: PartnerBalance) {
//!     assert!(event.balance.is_sign_negative());
//! }
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let receiver = Receiver::builder()
//!     .secret(Secret::new("whsec_test")?)
//!     .build(handlers![low_balance])?;
//! let app: Router = Router::new().route("/webhooks/roamify", roamify_hooks_axum::webhook(receiver));
//!
//! let body = testing::sample_with(EventKind::PartnerLowBalance, |json| {
//!     json["data"]["balance"] = (-5).into();
//! });
//! let request = roamify_hooks_axum::test::signed_request("/webhooks/roamify", "whsec_test", body)?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use axum::body::Body;
use axum::http::{Method, Request};

/// A `POST` to `path` of `body`, with the `X-Roamify-Signature` Roamify would send when signing
/// with `secret`.
///
/// # Errors
/// When `path` is not a valid URI.
pub fn signed_request(
    path: &str,
    secret: impl AsRef<[u8]>,
    body: impl Into<Vec<u8>>,
) -> Result<Request<Body>, axum::http::Error> {
    let body = body.into();
    let signature = roamify_hooks::testing::sign(secret, &body);
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(roamify_hooks::signature::SIGNATURE_HEADER, signature)
        .body(Body::from(body))
}
