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
//! What every adapter answers, per [`roamify_hooks::http`]: 200 when received, 401 for a bad
//! signature, 400 when malformed, 413 over the body limit, 405 for any method but `POST`, 500
//! when the handler failed, 503 when the delivery could not be stored now — each with a small
//! JSON body. No `Content-Type` is required: Roamify documents none. The body is read raw and
//! verified before anything parses it.
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
use roamify_hooks::health::Graces;
use roamify_hooks::http::{self as policy, Reply};
use roamify_hooks::{Dispatch, Receiver};

#[cfg(feature = "admin")]
mod admin;
pub mod test;

#[cfg(feature = "admin")]
pub use admin::admin;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// `X-Roamify-Signature`, parsed once (header names are matched case-insensitively).
static SIGNATURE: header::HeaderName = header::HeaderName::from_static("x-roamify-signature");

/// The default body limit: 256 KiB, far above any documented Roamify event.
pub const DEFAULT_LIMIT: usize = policy::DEFAULT_LIMIT;

/// The webhook endpoint: `POST` at one path, answering per [`roamify_hooks::http`].
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
            async move { respond(deliver(&receiver, &request, payload, limit).await) }
        };
        web::resource(path)
            .route(web::post().to(receive))
            .default_service(web::to(method_not_allowed))
            .register(config);
    }
}

/// The liveness probe at `path` (`GET`, e.g. `/healthz`): 200 while the process answers. No
/// token, no body: mount it where the orchestrator can reach it (see [`roamify_hooks::health`]).
pub fn liveness(path: &str) -> actix_web::Resource {
    web::resource(path).route(web::get().to(|| async { respond(Reply::LIVE) }))
}

/// The readiness probe of `receiver` at `path` (`GET`, e.g. `/readyz`): 200 when ready, 503
/// saying which condition failed (`shutting_down`, `store_unavailable`, `queue_full`); see
/// [`Receiver::readiness`].
pub fn readiness<D: Dispatch>(path: &str, receiver: Receiver<D>) -> actix_web::Resource {
    web::resource(path).route(web::get().to(move || {
        let receiver = receiver.clone();
        async move { respond(Reply::readiness(receiver.readiness().await)) }
    }))
}

/// A clean stop in one call: runs `server` until `signal` completes (SIGTERM, say), then makes
/// `receiver` not ready at once while it still takes deliveries for `graces.shutdown`, stops
/// the server (no new connections, requests in flight finish), and calls
/// [`Receiver::shutdown`] with `graces.drain`. Returns how many deliveries were still pending.
///
/// Build the server with [`HttpServer::disable_signals`](actix_web::HttpServer::disable_signals):
/// otherwise actix-web stops it at once on SIGTERM, before readiness could fail.
///
/// ```no_run
/// # use roamify_hooks::{handlers, Receiver, Secret};
/// # async fn run() -> std::io::Result<()> {
/// # let receiver = Receiver::builder().secret(Secret::new("s").unwrap()).build(handlers![]).unwrap();
/// use actix_web::{App, HttpServer};
/// use roamify_hooks::health::Graces;
///
/// let for_server = receiver.clone();
/// let server = HttpServer::new(move || {
///     App::new()
///         .service(roamify_hooks_actix::webhook("/webhooks/roamify", for_server.clone()))
///         .service(roamify_hooks_actix::liveness("/healthz"))
///         .service(roamify_hooks_actix::readiness("/readyz", for_server.clone()))
/// })
/// .disable_signals()
/// .bind("0.0.0.0:8080")?
/// .run();
/// let sigterm = async {
///     let _ = actix_web::rt::signal::ctrl_c().await; // or SIGTERM, as the examples do
/// };
/// roamify_hooks_actix::run_until_stopped(server, receiver, Graces::default(), sigterm).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// The server's own error.
pub async fn run_until_stopped<D: Dispatch>(
    server: actix_web::dev::Server,
    receiver: Receiver<D>,
    graces: Graces,
    signal: impl std::future::Future<Output = ()> + 'static,
) -> std::io::Result<usize> {
    let handle = server.handle();
    let stopping = receiver.clone();
    actix_web::rt::spawn(async move {
        signal.await;
        stopping.begin_shutdown();
        actix_web::rt::time::sleep(graces.shutdown).await;
        handle.stop(true).await;
    });
    server.await?;
    Ok(receiver.shutdown(graces.drain))
}

async fn method_not_allowed() -> HttpResponse {
    let mut response = respond(Reply::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(policy::ALLOW));
    response
}

/// The reply as an actix response.
fn respond(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(policy::CONTENT_TYPE),
        ))
        .body(reply.body())
}

async fn deliver<D: Dispatch>(
    receiver: &Receiver<D>,
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Reply {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(HeaderValue::as_bytes);
    let body = match policy::read_body(declared, limit, payload).await {
        Ok(body) => body,
        Err(refused) => return refused.reply(),
    };
    let signatures = request
        .headers()
        .get_all(&SIGNATURE)
        .map(HeaderValue::as_bytes);
    // The receiver logs and counts the outcome.
    receiver.receive(signatures, &body).await.reply()
}
