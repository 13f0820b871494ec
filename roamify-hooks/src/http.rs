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
            | Self::Duplicate { .. } => Reply::OK,
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

/// Reads a whole request body from its chunks (a framework's body stream), under `limit`
/// bytes: refused on `Content-Length` (the header's raw value, when sent) before reading, and as
/// soon as the chunks read pass the limit. A `Content-Length` that is not a number is left to the
/// server; the limit still holds while reading.
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
    let mut body = BodyReader::new(content_length, limit)?;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        body.push(chunk.map_err(|_| Unread::Unreadable)?.as_ref())?;
    }
    Ok(body.bytes)
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
        let declared = content_length
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
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

    #[test]
    fn every_reply_is_json_naming_its_status() {
        for reply in Reply::ALL {
            let json: serde_json::Value = serde_json::from_str(reply.body()).unwrap();
            assert_eq!(json["code"], reply.status());
            assert!(json["message"].is_string());
        }
    }
}
