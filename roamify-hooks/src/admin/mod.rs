//! The admin API: what an operator asks of a running receiver's store, over HTTP, with no web
//! framework in it (feature `admin`). Each adapter mounts it as one scope:
//! `roamify_hooks_actix::admin`, `roamify_hooks_axum::admin`; your own adapter builds an
//! [`AdminRequest`] and answers the [`AdminReply`] of [`AdminApi::handle`].
//!
//! Mount it only when a token is configured, and preferably on an address apart from the
//! webhook's, off the internet-facing port. Every request carries
//! `Authorization: Bearer <token>` ([`AdminTokens`]): without it, or with a token that matches
//! neither, the answer is 401 whatever the path; a read-only token's replay or discard is 403.
//!
//! | method and path (under the mount, [`DEFAULT_PATH`] by default) | answer |
//! |---|---|
//! | `GET /api/counts` | `{"pending", "ready", "leased", "retrying", "dead", "paused": [kinds]}` |
//! | `GET /api/deliveries?iccid=…&kind=…&since=…&until=…&error=…&outcome=…&offset=0&limit=50` | the history: `{"total", "offset", "items": [delivery]}`, the newest first |
//! | `GET /api/deliveries/{key}` | one delivery of the history, with its `body` while the store holds it (a dead letter's); 404 when none |
//! | `GET /api/dead-letters?iccid=…&kind=…&since=…&until=…&error=…&offset=0&limit=50` | `{"total", "offset", "items": [dead letter]}`, the newest first |
//! | `GET /api/dead-letters/{key}` | one dead letter, with its `body` as stored; 404 when none |
//! | `POST /api/dead-letters/replay` | body `{"keys": […]}` or `{"filter": {…}}`, optionally `"dry_run": true`: `{"matched", "done", "keys"}` |
//! | `POST /api/dead-letters/discard` | the same, deleting |
//! | `GET /api/paused` | `{"paused": [kinds]}` |
//! | `POST /api/pause`, `POST /api/resume` | body `{"kind": "esim.status"}`: `{"kind", "paused", "changed"}`; deliveries of a paused kind are still acknowledged and stored, and wait (on every receiver of the store) until it is resumed |
//!
//! The filter's names and values are [`Filter::set`]'s (`since=2h`, `kind=esim.status`,
//! `outcome=dead`); each delivery is `{"key", "event", "category", "kind", "iccid", "outcome",
//! "received_ms", "received", "finished_ms", "finished", "attempts": [{"at_ms", "at", "took_ms",
//! "error"}], "error" (the last), "duplicates", "replays"}` (times in unix milliseconds and RFC
//! 3339); each dead letter is `{"key", "event", "category", "kind", "iccid", "attempts", "error", "dead_at"
//! (unix seconds), "died" (RFC 3339), "stream"}`. A replay or discard by filter applies to the
//! dead letters that match when it runs, one by one: one that is replayed or discarded meanwhile
//! by someone else is counted in `matched` but not in `done`.
//!
//! Errors are JSON too, `{"code": 400, "message": "…"}`: 400 for a filter or body that does not
//! read (the message says which part), 404 for an unknown path, 405 for a known path with another
//! method, 409 for a pause of an inline receiver (nothing is stored), 413 for a body over
//! [`BODY_LIMIT`], 503 when the store fails or cannot do what is asked (the message carries the
//! store's error: only a token holder sees it). Every answer has `Cache-Control: no-store`.
//!
//! The same paths serve the operations page without a token (`GET /`, and its script and style
//! sheet under `/assets/`): it asks for the token and sends it with each call.
//!
//! ```
//! use std::sync::Arc;
//! use roamify_hooks::admin::{AdminApi, AdminRequest, AdminTokens};
//! use roamify_hooks::delivery::MemoryStore;
//!
//! # futures_executor::block_on(async {
//! let api = AdminApi::new(Arc::new(MemoryStore::new()), AdminTokens::new("4f1c0a9e6b2d7c3e8a5f")?);
//! let reply = api
//!     .handle(AdminRequest::new("GET", "/api/counts", "").authorization(b"Bearer 4f1c0a9e6b2d7c3e8a5f"))
//!     .await;
//! assert_eq!(reply.status(), 200);
//! let refused = api.handle(AdminRequest::new("GET", "/api/counts", "")).await;
//! assert_eq!(refused.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod auth;
mod page;
mod routes;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use auth::{AdminTokens, MIN_TOKEN_LEN, TokenError};

use crate::delivery::Admin;
pub use crate::delivery::{Filter, FilterError};

/// Where the adapters mount the admin API unless told otherwise (and where the CLI's
/// `--server` looks for it).
pub const DEFAULT_PATH: &str = "/roamify/admin";

/// The largest request body read: 64 KiB (a replay by keys of about a thousand keys).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The admin API of one store: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AdminApi {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` for a receiver that stores nothing (inline): nothing pending, no dead letters.
    store: Option<Arc<dyn Admin>>,
    tokens: AdminTokens,
}

impl AdminApi {
    /// The admin API of `store`, for the holders of `tokens`. A receiver gives its own with
    /// `Receiver::admin`.
    #[must_use]
    pub fn new(store: Arc<dyn Admin>, tokens: AdminTokens) -> Self {
        Self::with(Some(store), tokens)
    }

    pub(crate) fn with(store: Option<Arc<dyn Admin>>, tokens: AdminTokens) -> Self {
        Self {
            inner: Arc::new(Inner { store, tokens }),
        }
    }

    /// Answers one request. Never fails: every problem is an answer (see the module docs).
    pub async fn handle(&self, request: AdminRequest<'_>) -> AdminReply {
        if let Some(page) = page::serve(&request) {
            return page;
        }
        let Some(access) = self.inner.tokens.check(request.authorization) else {
            tracing::warn!(
                method = request.method,
                path = request.path,
                "admin request refused: no valid token"
            );
            return AdminReply::unauthorized();
        };
        routes::route(self.inner.store.as_deref(), access, &request).await
    }
}

impl fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminApi")
            .field("store", &self.inner.store.is_some())
            .field("tokens", &self.inner.tokens)
            .finish()
    }
}

/// One request, as an adapter read it.
#[derive(Debug, Clone, Copy)]
pub struct AdminRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) authorization: Option<&'a [u8]>,
    pub(crate) body: &'a [u8],
    pub(crate) mount: &'a str,
}

impl<'a> AdminRequest<'a> {
    /// `method` (`GET`…), `path` under the mount (`/api/counts`) and the query string without
    /// its `?` (empty for none), still percent-encoded.
    #[must_use]
    pub fn new(method: &'a str, path: &'a str, query: &'a str) -> Self {
        Self {
            method,
            path,
            query,
            authorization: None,
            body: &[],
            mount: "",
        }
    }

    /// The path the API is mounted at (`/roamify/admin`), without a trailing `/`: a `GET` of
    /// it is redirected to it with one, where the page is.
    #[must_use]
    pub fn mount(mut self, path: &'a str) -> Self {
        self.mount = path;
        self
    }

    /// The `Authorization` header's value.
    #[must_use]
    pub fn authorization(mut self, value: &'a [u8]) -> Self {
        self.authorization = Some(value);
        self
    }

    /// The body (at most [`BODY_LIMIT`] bytes: an adapter answers [`AdminReply::too_large`]
    /// past it).
    #[must_use]
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }
}

/// One answer: a status, headers and a body, for an adapter to send as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminReply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// Sent with every answer: nothing cached, sniffed, framed or referred.
const HEADERS: [(&str, &str); 4] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// The Content-Security-Policy of the JSON answers: nothing may load.
const JSON_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

impl AdminReply {
    /// An answer with the common headers, `content_type` and `policy` (the
    /// Content-Security-Policy).
    pub(crate) fn new(status: u16, content_type: &str, policy: &str, body: Vec<u8>) -> Self {
        let mut headers: Vec<(&'static str, String)> = HEADERS
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect();
        headers.push(("content-type", content_type.to_owned()));
        headers.push(("content-security-policy", policy.to_owned()));
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(
            status,
            "application/json",
            JSON_POLICY,
            value.to_string().into_bytes(),
        )
    }

    pub(crate) fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "code": status, "message": message }),
        )
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 401, with `WWW-Authenticate: Bearer`.
    #[must_use]
    pub fn unauthorized() -> Self {
        Self::error(
            401,
            "a valid admin token is required (Authorization: Bearer …)",
        )
        .with_header("www-authenticate", "Bearer realm=\"roamify-hooks admin\"")
    }

    /// 413: the body is over [`BODY_LIMIT`].
    #[must_use]
    pub fn too_large() -> Self {
        Self::error(413, "request body over 64 KiB")
    }

    /// 400: the body could not be read (the connection failed, or its encoding is broken).
    #[must_use]
    pub fn unreadable() -> Self {
        Self::error(400, "the request body could not be read")
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers to send (names in lowercase).
    #[must_use]
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken.
    #[must_use]
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}
