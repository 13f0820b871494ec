//! Sending a correctly (or deliberately wrongly) signed delivery, as Roamify would.

use std::path::{Path, PathBuf};

use roamify_hooks::{EventKind, signature::SIGNATURE_HEADER, testing};

/// Why a delivery could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Neither a known `category.kind` nor an existing file.
    #[error("{0:?} is neither a known event (see --list) nor a file")]
    Unknown(String),
    /// The body file could not be read.
    #[error("cannot read {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request failed (nothing listening, TLS, timeout…).
    #[error("POST {url} failed")]
    Http {
        /// Where it was sent.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
}

/// `category.kind` (or `category/kind`, any spelling the catalog accepts) to a kind.
#[must_use]
pub fn kind_named(name: &str) -> Option<EventKind> {
    let (category, kind) = name.split_once(['.', '/'])?;
    EventKind::from_wire(category, kind)
}

/// The body for `event`: the built-in sample of a `category.kind`, or a file's exact bytes.
///
/// # Errors
/// When `event` names neither a known kind nor a readable file.
pub fn body(event: &str) -> Result<Vec<u8>, SendError> {
    if let Some(kind) = kind_named(event) {
        return Ok(testing::sample(kind).to_vec());
    }
    let path = Path::new(event);
    if !path.is_file() {
        return Err(SendError::Unknown(event.to_owned()));
    }
    std::fs::read(path).map_err(|source| SendError::File {
        path: path.to_owned(),
        source,
    })
}

/// `http://$BIND_ADDR/webhooks/roamify`, `BIND_ADDR` defaulting to `127.0.0.1:8080` as for the
/// `server` example.
#[must_use]
pub fn default_url() -> String {
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    format!("http://{bind}/webhooks/roamify")
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl Answer {
    /// Whether the status is 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// POSTs `body` to `url` with `X-Roamify-Signature` made with `secret` — or, with
/// `bad_signature`, a well-formed signature that does not match.
///
/// # Errors
/// When the request fails or its answer cannot be read.
pub async fn post(
    url: &str,
    secret: &str,
    body: Vec<u8>,
    bad_signature: bool,
) -> Result<Answer, SendError> {
    // reqwest is built without a bundled TLS provider; use ring, as the server example does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let signature = if bad_signature {
        "0".repeat(64)
    } else {
        testing::sign(secret, &body)
    };
    let http = |source| SendError::Http {
        url: url.to_owned(),
        source,
    };
    let response = reqwest::Client::new()
        .post(url)
        .header(SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(http)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(http)?;
    Ok(Answer { status, body })
}
