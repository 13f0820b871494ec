//! `X-Roamify-Signature` verification: HMAC-SHA256 over the exact body bytes, as lowercase hex.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub use crate::secret::SECRET_ENV;
use crate::secret::Secret;

/// The header Roamify signs deliveries with (match it case-insensitively).
pub const SIGNATURE_HEADER: &str = "X-Roamify-Signature";

type HmacSha256 = Hmac<Sha256>;

/// The secrets a receiver accepts signatures from, with each one's HMAC key state prepared once.
///
/// Hold several during a rotation: a delivery signed with any of them verifies, and
/// [`Verified::secret_index`] says which one matched.
///
/// ```
/// use roamify_hooks::signature::Secrets;
/// use roamify_hooks::{testing, Secret};
///
/// let secrets = Secrets::new(Secret::new("whsec_old")?).with(Secret::new("whsec_new")?);
/// let body = br#"{"event_category":"esim","event_type":"status","data":{}}"#;
///
/// let verified = secrets.verify([testing::sign("whsec_new", body).as_bytes()], body)?;
/// assert_eq!(verified.secret_index(), 1);
/// assert!(secrets.verify([testing::sign("whsec_other", body).as_bytes()], body).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Secrets {
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} × ***)", self.keys.len())
    }
}

/// Why a delivery's signature was refused. For logs only: an HTTP answer must not say which check
/// failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `X-Roamify-Signature` header.
    #[error("missing X-Roamify-Signature header")]
    Missing,
    /// More than one `X-Roamify-Signature` value (Roamify sends exactly one).
    #[error("{0} X-Roamify-Signature headers (expected exactly one)")]
    Multiple(usize),
    /// The value is not 64 hex digits.
    #[error("malformed X-Roamify-Signature: {0}")]
    Malformed(&'static str),
    /// Well-formed, but no configured secret produced it over these bytes.
    #[error("X-Roamify-Signature does not match the body")]
    Mismatch,
}

impl Secrets {
    /// Accept signatures made with `secret`.
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self { keys: Vec::new() }.with(secret)
    }

    /// Also accept signatures made with `secret` (for rotation). Its index is the number of
    /// secrets added before it.
    #[must_use]
    pub fn with(mut self, secret: Secret) -> Self {
        // HMAC takes keys of any length; this cannot fail.
        let Ok(key) = HmacSha256::new_from_slice(secret.expose()) else {
            unreachable!("HMAC-SHA256 accepts keys of every length")
        };
        self.keys.push(key);
        self
    }

    /// How many secrets are accepted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a `Secrets` holds at least one secret.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `body` against the values of its `X-Roamify-Signature` header(s).
    ///
    /// `signatures` holds every value of the header the request carried (none, one, or several);
    /// anything but exactly one is refused. The value may carry surrounding whitespace and use
    /// either hex case. The body may be any bytes. The comparison is constant-time (through the
    /// `hmac` crate).
    ///
    /// # Errors
    /// See [`SignatureError`].
    pub fn verify<'b, I>(
        &self,
        signatures: I,
        body: &'b [u8],
    ) -> Result<Verified<'b>, SignatureError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut values = signatures.into_iter();
        let Some(first) = values.next() else {
            return Err(SignatureError::Missing);
        };
        let extra = values.count();
        if extra > 0 {
            return Err(SignatureError::Multiple(extra + 1));
        }
        let expected = decode_signature(first.as_ref())?;
        for (index, key) in self.keys.iter().enumerate() {
            let mut mac = key.clone();
            mac.update(body);
            if mac.verify_slice(&expected).is_ok() {
                return Ok(Verified {
                    body,
                    secret_index: index,
                });
            }
        }
        Err(SignatureError::Mismatch)
    }
}

fn decode_signature(value: &[u8]) -> Result<[u8; 32], SignatureError> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return Err(SignatureError::Malformed("empty"));
    }
    if value.len() != 64 {
        return Err(SignatureError::Malformed("not 64 hex digits"));
    }
    let mut out = [0u8; 32];
    // Either case, as `hex` accepts; SIMD where the CPU has it.
    faster_hex::hex_decode(value, &mut out)
        .map_err(|_| SignatureError::Malformed("not hexadecimal"))?;
    Ok(out)
}

/// A body whose signature has been verified. Only [`Secrets::verify`] makes one (and, for
/// tests and tools, the explicitly named [`Verified::assume_signed`]); parsing and dispatch take
/// nothing else, so "parse before verify" cannot be written.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'b> {
    body: &'b [u8],
    secret_index: usize,
}

impl<'b> Verified<'b> {
    /// The verified bytes, exactly as received.
    #[must_use]
    pub fn body(&self) -> &'b [u8] {
        self.body
    }

    /// Which secret matched: its index in the order given to [`Secrets`].
    #[must_use]
    pub fn secret_index(&self) -> usize {
        self.secret_index
    }

    /// Treats `body` as verified **without checking any signature**.
    ///
    /// For tests, replays of bodies verified earlier, and tools that read stored events. Never
    /// call it on bytes that came from the network.
    #[must_use]
    pub fn assume_signed(body: &'b [u8]) -> Self {
        Self {
            body,
            secret_index: 0,
        }
    }
}
