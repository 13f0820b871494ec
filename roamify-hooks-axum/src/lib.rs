//! Mount a [`roamify_hooks::Receiver`] in axum with one call.
//!
//! ```no_run
//! use axum::Router;
//! use roamify_hooks::events::PartnerBalance;
//! use roamify_hooks::{handlers, on_event, Receiver, Secret};
//!
//! #[on_event(category = "partner", kind = "low_balance")]
//! async fn low_balance(event: PartnerBalance) {
//!     println!("balance down to {} {}", event.balance, event.currency);
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let receiver = Receiver::builder()
//!         .secret(Secret::from_env()?)
//!         .build(handlers![low_balance])?;
//!     let app = Router::new().route("/webhooks/roamify", roamify_hooks_axum::webhook(receiver));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! # What it answers
//!
//! What every adapter answers, per [`roamify_hooks::http`]: 200 when received, 401 for a bad
//! signature, 400 when malformed, 413 over the body limit, 405 for any method but `POST`, 500
//! when the handler failed, 503 when the delivery could not be stored now — each with a small
//! JSON body. No `Content-Type` is required: Roamify documents none. The body is read raw (not
//! through axum's `DefaultBodyLimit`, which this route ignores: its own limit applies) and
//! verified before anything parses it.
//!
//! # Logs
//!
//! The receiver logs and counts each delivery (see [`Receiver::receive`]); a body refused before
//! verification (over the limit, or unreadable) is logged by [`roamify_hooks::http::Unread`].
//! Secrets and bodies are never logged.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{MethodRouter, get, post};
use roamify_hooks::health::Graces;
use roamify_hooks::http::{self as policy, Reply};
use roamify_hooks::{Dispatch, Receiver};

#[cfg(feature = "admin")]
mod admin;
pub mod test;

#[cfg(feature = "admin")]
pub use admin::admin;

/// The default body limit: 256 KiB, far above any documented Roamify event.
pub const DEFAULT_LIMIT: usize = policy::DEFAULT_LIMIT;

/// `X-Roamify-Signature` (header names are matched case-insensitively).
static SIGNATURE: header::HeaderName = header::HeaderName::from_static("x-roamify-signature");

/// The webhook route for `receiver`: `POST` answers per [`roamify_hooks::http`], any other method
/// 405. Mount it with `Router::route(path, …)`; it fits a router with any state.
///
/// A clone of the receiver is one `Arc`: build it once.
pub fn webhook<S, D>(receiver: Receiver<D>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    D: Dispatch,
{
    webhook_with_limit(receiver, DEFAULT_LIMIT)
}

/// [`webhook`] with a body limit of `limit` bytes instead of [`DEFAULT_LIMIT`].
pub fn webhook_with_limit<S, D>(receiver: Receiver<D>, limit: usize) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    D: Dispatch,
{
    post(move |request: Request| async move { respond(deliver(&receiver, request, limit).await) })
        .fallback(method_not_allowed)
}

/// The liveness probe (`GET`; mount it at e.g. `/healthz`): 200 while the process answers.
/// No token, no body (see [`roamify_hooks::health`]).
pub fn liveness<S>() -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    get(|| async { respond(Reply::LIVE) })
}

/// The readiness probe of `receiver` (`GET`; mount it at e.g. `/readyz`): 200 when ready, 503
/// saying which condition failed (`shutting_down`, `store_unavailable`, `queue_full`); see
/// [`Receiver::readiness`].
pub fn readiness<S, D>(receiver: Receiver<D>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    D: Dispatch,
{
    get(move || async move { respond(Reply::readiness(receiver.readiness().await)) })
}

/// A clean stop in one call: serves `app` on `listener` until `signal` completes (SIGTERM,
/// say), then makes `receiver` not ready at once while it still takes deliveries for
/// `graces.shutdown`, stops taking connections (requests in flight finish), and calls
/// [`Receiver::shutdown`] with `graces.drain`. Returns how many deliveries were still pending.
///
/// ```no_run
/// # use roamify_hooks::{handlers, Receiver, Secret};
/// # async fn run() -> std::io::Result<()> {
/// # let receiver = Receiver::builder().secret(Secret::new("s").unwrap()).build(handlers![]).unwrap();
/// use axum::Router;
/// use roamify_hooks::health::Graces;
///
/// let app = Router::new()
///     .route("/webhooks/roamify", roamify_hooks_axum::webhook(receiver.clone()))
///     .route("/healthz", roamify_hooks_axum::liveness())
///     .route("/readyz", roamify_hooks_axum::readiness(receiver.clone()));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// let sigterm = async {
///     let _ = tokio::signal::ctrl_c().await; // or SIGTERM, as the examples do
/// };
/// roamify_hooks_axum::serve_until_stopped(listener, app, receiver, Graces::default(), sigterm)
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// The server's own error.
pub async fn serve_until_stopped<D: Dispatch>(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    receiver: Receiver<D>,
    graces: Graces,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<usize> {
    let stopping = receiver.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            signal.await;
            stopping.begin_shutdown();
            tokio::time::sleep(graces.shutdown).await;
        })
        .await?;
    Ok(receiver.shutdown(graces.drain))
}

async fn method_not_allowed() -> Response {
    let mut response = respond(Reply::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(policy::ALLOW));
    response
}

/// The reply as an axum response.
fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(policy::CONTENT_TYPE),
        )],
        reply.body(),
    )
        .into_response()
}

async fn deliver<D: Dispatch>(receiver: &Receiver<D>, request: Request, limit: usize) -> Reply {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .map(HeaderValue::as_bytes);
    let body = match policy::read_body(declared, limit, body.into_data_stream()).await {
        Ok(body) => body,
        Err(refused) => return refused.reply(),
    };
    let signatures = parts
        .headers
        .get_all(&SIGNATURE)
        .iter()
        .map(HeaderValue::as_bytes);
    // The receiver logs and counts the outcome.
    receiver.receive(signatures, &body).await.reply()
}
