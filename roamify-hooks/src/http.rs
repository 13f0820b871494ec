//! The HTTP policy of a webhook endpoint, as plain numbers and bytes: every adapter (actix-web,
//! axum, your own) answers the same way, and only translates.
//!
//! | status | body | when |
//! |---|---|---|
//! | 200 | `{"code":200,"message":"success"}` | handled; unknown or unhandled event acknowledged; stored for the workers (queued, durable); duplicate |
//! | 401 | `{"code":401,"message":"invalid signature"}` | signature missing, malformed, wrong, or sent twice (which, is never said) |
//! | 400 | `{"code":400,"message":"malformed event"}` | signed, but not a Roamify envelope, a known kind whose payload does not parse, or older than the configured maximum age; or a body that could not be read |
//! | 413 | `{"code":413,"message":"payload too large"}` | body over the limit (256 KiB by default; refused on `Content-Length` before reading) |
//! | 405 | `{"code":405,"message":"method not allowed"}` | any method but `POST` on the path (with `Allow: POST`) |
//! | 500 | `{"code":500,"message":"handler failed"}` | the handler returned an error or panicked (Roamify retries) |
//! | 503 | `{"code":503,"message":"temporarily unavailable"}` | queued/durable modes: the queue is full, the store failing, or the receiver shutting down (Roamify retries) |
//!
//! Every body is JSON ([`CONTENT_TYPE`]). No `Content-Type` is required of the request: Roamify
//! documents none. An adapter reads the body with [`read_body`], hands the bytes and the
//! [`SIGNATURE_HEADER`](crate::signature::SIGNATURE_HEADER) values to [`Receiver::receive`], and answers
//! [`Outcome::reply`]:
//!
//! ```
//! use roamify_hooks::http::{read_body, Reply, DEFAULT_LIMIT};
//! use roamify_hooks::{Dispatch, Receiver};
//!
//! /// What a framework adapter does with one `POST`, minus the framework's types.
//! async fn answer<D: Dispatch>(
//!     receiver: &Receiver<D>,
//!     content_length: Option<&[u8]>,
//!     chunks: Vec<Vec<u8>>,
//!     signatures: Vec<Vec<u8>>,
//! ) -> Reply {
//!     let chunks = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
//!     match read_body(content_length, DEFAULT_LIMIT, chunks).await {
//!         Ok(body) => receiver.receive(signatures, &body).await.reply(),
//!         Err(refused) => refused.reply(),
//!     }
//! }
//! ```
//!
//! [`Receiver::receive`]: crate::Receiver::receive

use futures_util::{Stream, StreamExt as _};

use crate::health::NotReady;
use crate::outcome::Outcome;

/// The default body limit: 256 KiB, far above any documented Roamify event.
pub const DEFAULT_LIMIT: usize = 256 * 1024;

/// The `Content-Type` of every answer.
pub const CONTENT_TYPE: &str = "application/json";

/// The `Allow` header of a 405 answer: the endpoint takes `POST` only.
pub const ALLOW: &str = "POST";

/// One HTTP answer: a status and a JSON body, both fixed at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reply {
    status: u16,
    body: &'static str,
}

impl Reply {
    /// 200: received (handled, acknowledged, stored or a duplicate).
    pub const OK: Self = Self::new(200, r#"{"code":200,"message":"success"}"#);
    /// 400: a malformed, too old or unreadable delivery.
    pub const BAD_REQUEST: Self = Self::new(400, r#"{"code":400,"message":"malformed event"}"#);
    /// 401: the signature is missing, malformed or wrong.
    pub const UNAUTHORIZED: Self = Self::new(401, r#"{"code":401,"message":"invalid signature"}"#);
    /// 405: not a `POST` (send [`ALLOW`] with it).
    pub const METHOD_NOT_ALLOWED: Self =
        Self::new(405, r#"{"code":405,"message":"method not allowed"}"#);
    /// 413: the body is over the limit.
    pub const PAYLOAD_TOO_LARGE: Self =
        Self::new(413, r#"{"code":413,"message":"payload too large"}"#);
    /// 500: the handler failed; Roamify retries.
    pub const HANDLER_FAILED: Self = Self::new(500, r#"{"code":500,"message":"handler failed"}"#);
    /// 503: the delivery could not be stored now; Roamify retries.
    pub const UNAVAILABLE: Self =
        Self::new(503, r#"{"code":503,"message":"temporarily unavailable"}"#);

    /// 200: a liveness probe (the process answers).
    pub const LIVE: Self = Self::new(200, r#"{"code":200,"message":"live"}"#);
    /// 200: a readiness probe, ready.
    pub const READY: Self = Self::new(200, r#"{"code":200,"message":"ready"}"#);
    /// 503: a readiness probe, shutting down.
    pub const NOT_READY_SHUTTING_DOWN: Self = Self::new(
        503,
        r#"{"code":503,"message":"not ready","reason":"shutting_down"}"#,
    );
    /// 503: a readiness probe, the store does not answer.
    pub const NOT_READY_STORE_UNAVAILABLE: Self = Self::new(
        503,
        r#"{"code":503,"message":"not ready","reason":"store_unavailable"}"#,
    );
    /// 503: a readiness probe, the queue is full.
    pub const NOT_READY_QUEUE_FULL: Self = Self::new(
        503,
        r#"{"code":503,"message":"not ready","reason":"queue_full"}"#,
    );

    /// The answer to a readiness probe (see [`crate::health`]).
    #[must_use]
    pub const fn readiness(readiness: Result<(), NotReady>) -> Self {
        match readiness {
            Ok(()) => Self::READY,
            Err(NotReady::ShuttingDown) => Self::NOT_READY_SHUTTING_DOWN,
            Err(NotReady::StoreUnavailable) => Self::NOT_READY_STORE_UNAVAILABLE,
            Err(NotReady::QueueFull) => Self::NOT_READY_QUEUE_FULL,
        }
    }

    /// Every answer the endpoint gives.
    pub const ALL: [Self; 7] = [
        Self::OK,
        Self::UNAUTHORIZED,
        Self::BAD_REQUEST,
        Self::PAYLOAD_TOO_LARGE,
        Self::METHOD_NOT_ALLOWED,
        Self::HANDLER_FAILED,
        Self::UNAVAILABLE,
    ];

    const fn new(status: u16, body: &'static str) -> Self {
        Self { status, body }
    }

    /// The status code.
    #[must_use]
    pub const fn status(self) -> u16 {
        self.status
    }

    /// The JSON body.
    #[must_use]
    pub const fn body(self) -> &'static str {
        self.body
    }
}

impl Outcome {
    /// The HTTP answer to this outcome: 200 when received, 401 for a bad signature, 400 when
    /// malformed or too old, 500 when the handler failed, 503 when it could not be stored now.
    #[must_use]
    pub fn reply(&self) -> Reply {
        match self {
            Self::Handled { .. }
            | Self::Acknowledged { .. }
            | Self::Queued { .. }
            | Self::Duplicate { .. }
            | Self::Stale { .. } => Reply::OK,
            Self::BadSignature(_) => Reply::UNAUTHORIZED,
            Self::Malformed { .. } | Self::TooOld { .. } => Reply::BAD_REQUEST,
            Self::Unavailable { .. } | Self::ShuttingDown => Reply::UNAVAILABLE,
            Self::HandlerFailed { .. } => Reply::HANDLER_FAILED,
        }
    }
}

/// Why a delivery was refused before its body could be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unread {
    /// Over the size limit (413).
    TooLarge,
    /// The body could not be read (400): the connection failed or the encoding is broken.
    Unreadable,
}

impl Unread {
    /// Logs the refusal at WARN, counts it (`roamify_refused_total`, reason `too_large` or
    /// `unreadable`), and gives its answer. Everything after the body is read whole is logged
    /// and counted by [`Receiver::receive`](crate::Receiver::receive).
    #[must_use = "send the reply"]
    pub fn reply(self) -> Reply {
        let (label, reply, why) = match self {
            Self::TooLarge => (
                "too_large",
                Reply::PAYLOAD_TOO_LARGE,
                "body over the size limit",
            ),
            Self::Unreadable => ("unreadable", Reply::BAD_REQUEST, "body could not be read"),
        };
        crate::observe::unread(label, reply.status(), why);
        reply
    }
}

/// How much of a body over the limit is still read, and thrown away, before the 413 is sent:
/// a client that writes its whole body before reading the answer (Node's `http`, many scripts)
/// can then read the 413, where a server that stops reading makes that client's write fail
/// (a broken pipe) once the socket's buffers are full. Past this (declared or read), the answer
/// is sent at once and the connection is left to the server to close. Nothing read past the
/// limit is kept: it costs the time to read it, no memory.
pub const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Reads a whole request body from its chunks (a framework's body stream), under `limit`
/// bytes: refused on `Content-Length` (the header's raw value, when sent) before keeping
/// anything, and as soon as the chunks read pass the limit. A refused body is then read to its
/// end and thrown away, up to [`DRAIN_LIMIT`] bytes in all, so its sender can read the answer. A
/// `Content-Length` that is not a number is left to the server; the limit still holds while
/// reading.
///
/// # Errors
/// [`Unread::TooLarge`] over the limit; [`Unread::Unreadable`] when a chunk is an error.
pub async fn read_body<S, B, E>(
    content_length: Option<&[u8]>,
    limit: usize,
    chunks: S,
) -> Result<Vec<u8>, Unread>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    let mut chunks = std::pin::pin!(chunks);
    let (refused, mut read) = match BodyReader::new(content_length, limit) {
        Ok(mut body) => loop {
            let Some(chunk) = chunks.next().await else {
                return Ok(body.bytes);
            };
            let chunk = chunk.map_err(|_| Unread::Unreadable)?;
            if let Err(refused) = body.push(chunk.as_ref()) {
                break (refused, body.bytes.len() + chunk.as_ref().len());
            }
        },
        Err(refused) => (refused, 0),
    };
    if declared_length(content_length).is_none_or(|n| n <= DRAIN_LIMIT) {
        // Read what the sender still writes, keeping none of it, within the bound.
        while read <= DRAIN_LIMIT {
            match chunks.next().await {
                Some(Ok(chunk)) => read += chunk.as_ref().len(),
                Some(Err(_)) | None => break,
            }
        }
    }
    Err(refused)
}

/// A `Content-Length` value as a number, when it is one.
fn declared_length(content_length: Option<&[u8]>) -> Option<usize> {
    content_length
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
}

/// A body being read under a limit (see [`read_body`]).
#[derive(Debug)]
struct BodyReader {
    bytes: Vec<u8>,
    limit: usize,
}

impl BodyReader {
    /// Starts reading a body declared `content_length` bytes long under `limit` bytes; over
    /// the limit already by its declared length, [`Unread::TooLarge`].
    fn new(content_length: Option<&[u8]>, limit: usize) -> Result<Self, Unread> {
        let declared = declared_length(content_length);
        if declared.is_some_and(|n| n > limit) {
            return Err(Unread::TooLarge);
        }
        Ok(Self {
            bytes: Vec::with_capacity(declared.unwrap_or(0)),
            limit,
        })
    }

    /// Appends a chunk; [`Unread::TooLarge`] once the body passes the limit (stop reading).
    fn push(&mut self, chunk: &[u8]) -> Result<(), Unread> {
        if self.bytes.len() + chunk.len() > self.limit {
            return Err(Unread::TooLarge);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The body read so far.
    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_reader_refuses_on_declared_length_and_while_reading() {
        assert_eq!(
            BodyReader::new(Some(b"11"), 10).unwrap_err(),
            Unread::TooLarge
        );
        let mut body = BodyReader::new(Some(b"not a number"), 10).unwrap();
        body.push(b"12345").unwrap();
        body.push(b"67890").unwrap();
        assert_eq!(body.push(b"!").unwrap_err(), Unread::TooLarge);
        assert_eq!(body.bytes(), b"1234567890");
        assert!(BodyReader::new(None, 0).unwrap().bytes().is_empty());
    }

    /// A refused body is read to its end, nothing kept, within `DRAIN_LIMIT`; past it, or when
    /// its declared length is past it, reading stops.
    #[test]
    fn a_refused_body_is_drained_within_the_bound() {
        const CHUNK: usize = 64 * 1024;
        fn read(declared: Option<&[u8]>, chunks: usize) -> (Result<Vec<u8>, Unread>, usize) {
            let pulled = std::cell::Cell::new(0);
            let stream = futures_util::stream::iter((0..chunks).map(|_| {
                pulled.set(pulled.get() + 1);
                Ok::<_, std::io::Error>(vec![b' '; CHUNK])
            }));
            let result = futures_executor::block_on(read_body(declared, 10 * CHUNK, stream));
            (result, pulled.get())
        }
        // Over the limit while reading: the rest is still read.
        let (result, pulled) = read(None, 100);
        assert_eq!(result.unwrap_err(), Unread::TooLarge);
        assert_eq!(pulled, 100);
        // Declared over the limit but within the bound: read, none of it kept.
        let declared = (100 * CHUNK).to_string();
        let (result, pulled) = read(Some(declared.as_bytes()), 100);
        assert_eq!(result.unwrap_err(), Unread::TooLarge);
        assert_eq!(pulled, 100);
        // Past the bound: reading stops there.
        let (result, pulled) = read(None, 1000);
        assert_eq!(result.unwrap_err(), Unread::TooLarge);
        assert_eq!(pulled, DRAIN_LIMIT / CHUNK + 1);
        // Declared past the bound: not read at all.
        let declared = (DRAIN_LIMIT + 1).to_string();
        let (result, pulled) = read(Some(declared.as_bytes()), 100);
        assert_eq!(result.unwrap_err(), Unread::TooLarge);
        assert_eq!(pulled, 0);
        // Within the limit: the body.
        let (result, _) = read(Some(b"131072"), 2);
        assert_eq!(result.unwrap().len(), 2 * CHUNK);
    }

    #[test]
    fn every_reply_is_json_naming_its_status() {
        for reply in Reply::ALL {
            let json: serde_json::Value = serde_json::from_str(reply.body()).unwrap();
            assert_eq!(json["code"], reply.status());
            assert!(json["message"].is_string());
        }
    }
}
