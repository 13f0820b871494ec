//! Mount a [`roamify_hooks::Receiver`] in actix-web with one call.
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use roamify_hooks::events::PartnerBalance;
//! use roamify_hooks::{handlers, on_event, Receiver, Secret};
//!
//! #[on_event(category = "partner", kind = "low_balance")]
//! async fn low_balance(event: PartnerBalance) {
//!     println!("balance down to {} {}", event.balance, event.currency);
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let receiver = Receiver::builder()
//!         .secret(Secret::from_env()?)
//!         .build(handlers![low_balance])?;
//!     HttpServer::new(move || {
//!         App::new().service(roamify_hooks_actix::webhook("/webhooks/roamify", receiver.clone()))
//!     })
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! # What it answers
//!
//! | status | body | when |
//! |---|---|---|
//! | 200 | `{"code":200,"message":"success"}` | handled; unknown or unhandled event acknowledged; stored for the workers (queued, durable); duplicate |
//! | 401 | `{"code":401,"message":"invalid signature"}` | signature missing, malformed, wrong, or sent twice (which, is never said) |
//! | 400 | `{"code":400,"message":"malformed event"}` | signed, but not a Roamify envelope, a known kind whose payload does not parse, or older than the configured maximum age |
//! | 413 | `{"code":413,"message":"payload too large"}` | body over the limit (256 KiB by default; refused on `Content-Length` before reading) |
//! | 405 | `{"code":405,"message":"method not allowed"}` | any method but `POST` on the path |
//! | 500 | `{"code":500,"message":"handler failed"}` | the handler returned an error or panicked (Roamify retries) |
//! | 503 | `{"code":503,"message":"temporarily unavailable"}` | queued/durable modes: the queue is full, the store failing, or the receiver shutting down (Roamify retries) |
//!
//! No `Content-Type` is required: Roamify documents none. The body is read raw and verified
//! before anything parses it.
//!
//! # Logs
//!
//! The receiver logs each delivery (see [`Receiver::receive`]): a `tracing` span
//! `roamify_delivery` with `category` and `kind` around the handler, and one event for the
//! outcome — `info` when handled, acknowledged or stored, `warn` for a refusal, `error`
//! with the whole cause chain when a handler failed; refusals and failures carry their fields
//! themselves, so they are logged even where `info` is off. This adapter adds one `warn` event
//! for a body refused before verification (over the limit, or unreadable). Secrets and bodies
//! are never logged.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use roamify_hooks::{Dispatch, Outcome, Receiver, Unread};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// `X-Roamify-Signature`, parsed once (header names are matched case-insensitively).
static SIGNATURE: header::HeaderName = header::HeaderName::from_static("x-roamify-signature");

/// The default body limit: 256 KiB, far above any documented Roamify event.
pub const DEFAULT_LIMIT: usize = 256 * 1024;

/// The webhook endpoint: `POST` at one path, answering per the table in the crate docs.
///
/// Register it with `App::service`. Build the [`Receiver`] once, outside the `HttpServer`
/// factory, and clone it into each worker (a clone is one `Arc`).
#[derive(Debug)]
pub struct Webhook<D> {
    path: String,
    receiver: Receiver<D>,
    limit: usize,
}

/// The webhook endpoint for `receiver` at `path` (e.g. `/webhooks/roamify`).
pub fn webhook<D: Dispatch>(path: impl Into<String>, receiver: Receiver<D>) -> Webhook<D> {
    Webhook {
        path: path.into(),
        receiver,
        limit: DEFAULT_LIMIT,
    }
}

impl<D: Dispatch> Webhook<D> {
    /// Sets the body limit in bytes (default [`DEFAULT_LIMIT`]).
    #[must_use]
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }
}

impl<D: Dispatch> HttpServiceFactory for Webhook<D> {
    fn register(self, config: &mut AppService) {
        let Webhook {
            path,
            receiver,
            limit,
        } = self;
        let receive = move |request: HttpRequest, payload: web::Payload| {
            let receiver = receiver.clone();
            async move { deliver(&receiver, &request, payload, limit).await }
        };
        web::resource(path)
            .route(web::post().to(receive))
            .default_service(web::to(method_not_allowed))
            .register(config);
    }
}

async fn method_not_allowed() -> HttpResponse {
    let mut response = reply(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The JSON bodies, fixed at compile time.
fn reply(status: StatusCode) -> HttpResponse {
    let body: &'static str = match status.as_u16() {
        200 => r#"{"code":200,"message":"success"}"#,
        400 => r#"{"code":400,"message":"malformed event"}"#,
        401 => r#"{"code":401,"message":"invalid signature"}"#,
        405 => r#"{"code":405,"message":"method not allowed"}"#,
        413 => r#"{"code":413,"message":"payload too large"}"#,
        503 => r#"{"code":503,"message":"temporarily unavailable"}"#,
        _ => r#"{"code":500,"message":"handler failed"}"#,
    };
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(body)
}

/// The HTTP status of an outcome.
#[must_use]
pub fn status_of(outcome: &Outcome) -> StatusCode {
    match outcome {
        Outcome::Handled { .. }
        | Outcome::Acknowledged { .. }
        | Outcome::Queued { .. }
        | Outcome::Duplicate { .. } => StatusCode::OK,
        Outcome::BadSignature(_) => StatusCode::UNAUTHORIZED,
        Outcome::Malformed { .. } | Outcome::TooOld { .. } => StatusCode::BAD_REQUEST,
        Outcome::Unavailable { .. } | Outcome::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        // A new outcome is a failure until this adapter learns it: Roamify will retry.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn deliver<D: Dispatch>(
    receiver: &Receiver<D>,
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> HttpResponse {
    let body = match read_body(request, payload, limit).await {
        Ok(body) => body,
        Err(status) => {
            roamify_hooks::refused_unread(if status == StatusCode::PAYLOAD_TOO_LARGE {
                Unread::TooLarge
            } else {
                Unread::Unreadable
            });
            return reply(status);
        }
    };
    let signatures = request
        .headers()
        .get_all(&SIGNATURE)
        .map(HeaderValue::as_bytes);
    // The receiver logs the outcome (its span, and one event).
    let outcome = receiver.receive(signatures, &body).await;
    reply(status_of(&outcome))
}

/// Reads the whole body, refusing early on `Content-Length` and as soon as the limit is passed.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, StatusCode> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        if body.len() + chunk.len() > limit {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
