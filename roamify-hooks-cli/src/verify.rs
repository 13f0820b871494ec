//! Whether a captured body matches its `X-Roamify-Signature`, and if not, the most likely
//! reason.
//!
//! Roamify signs the exact bytes it sends (HMAC-SHA256 with the webhook secret, lowercase hex).
//! A captured body stops matching when anything between Roamify and the check changed a byte:
//! an editor adding a final newline, line endings converted, a framework re-serialising the
//! JSON, a secret pasted with a space. [`diagnose`] tries each such change and names the one
//! that makes the signature match.

use std::fmt;

use roamify_hooks::{
    Secret,
    signature::{Secrets, SignatureError},
};

/// What [`diagnose`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnosis {
    /// The signature matches the bytes as they are.
    Valid,
    /// The signature is not a hex SHA-256 digest (64 hexadecimal digits).
    NotHex(&'static str),
    /// The signature carries a `sha256=` prefix; without it, it matches. Roamify sends the bare
    /// digest: whatever added the prefix is not Roamify.
    Prefixed {
        /// Whether the digest without the prefix matches the body.
        matches: bool,
    },
    /// It matches once the body's final newline is removed: the body was saved by an editor or
    /// a tool that ends files with a newline.
    TrailingNewline,
    /// It matches with the body's surrounding whitespace removed.
    SurroundingWhitespace,
    /// It matches with `\r\n` line endings turned into `\n`: the body's line endings were
    /// converted.
    LineEndings,
    /// It matches the compact form of the same JSON (as `JSON.stringify` writes it): the body
    /// was reformatted or re-serialised after it was signed. Verify the raw bytes as received,
    /// before any JSON parsing.
    Reformatted,
    /// It matches with the secret's surrounding whitespace removed: the secret was pasted with a
    /// space or a newline.
    SecretWhitespace,
    /// Nothing explains it: the secret is not the one that signed this body (another
    /// environment's, or rotated), or the body changed beyond whitespace and formatting.
    Mismatch,
}

impl Diagnosis {
    /// Whether the signature matches the body as it is.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        *self == Self::Valid
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid => write!(f, "valid: the signature matches the body"),
            Self::NotHex(why) => write!(
                f,
                "invalid: the signature is {why}; X-Roamify-Signature is a hex SHA-256 digest (64 hexadecimal digits)"
            ),
            Self::Prefixed { matches: true } => write!(
                f,
                "invalid as given: the signature has a `sha256=` prefix; without it, it matches (Roamify sends the bare digest)"
            ),
            Self::Prefixed { matches: false } => write!(
                f,
                "invalid: the signature has a `sha256=` prefix (Roamify sends the bare digest), and even without it, it does not match"
            ),
            Self::TrailingNewline => write!(
                f,
                "invalid: the body ends with a newline the signed body did not have (saved by an editor?); without it, it matches"
            ),
            Self::SurroundingWhitespace => write!(
                f,
                "invalid: the body has whitespace around it that the signed body did not; without it, it matches"
            ),
            Self::LineEndings => write!(
                f,
                "invalid: the body's line endings were converted (\\r\\n); with \\n endings, it matches"
            ),
            Self::Reformatted => write!(
                f,
                "invalid: the body was reformatted or re-serialised after it was signed; its compact JSON matches. Verify the raw bytes as received, before parsing"
            ),
            Self::SecretWhitespace => write!(
                f,
                "invalid: the secret has surrounding whitespace (pasted with a space or newline?); trimmed, it matches"
            ),
            Self::Mismatch => write!(
                f,
                "invalid: the signature does not match; most likely the secret is not the one that signed this body (another environment's, or rotated), or the body changed beyond whitespace and formatting"
            ),
        }
    }
}

/// Checks `signature` (the `X-Roamify-Signature` value) against `body` under `secret`, and
/// if it does not match, tries the usual accidents one by one.
#[must_use]
pub fn diagnose(secret: &str, signature: &str, body: &[u8]) -> Diagnosis {
    let signature = signature.trim();
    if let Some(bare) = signature.strip_prefix("sha256=") {
        return Diagnosis::Prefixed {
            matches: diagnose(secret, bare, body).is_valid(),
        };
    }
    let exact = secret.as_bytes();
    let trimmed = secret.trim().as_bytes();
    let Some(keys) = secrets(exact) else {
        return Diagnosis::Mismatch;
    };
    match keys.verify([signature], body) {
        Ok(_) => return Diagnosis::Valid,
        Err(SignatureError::Malformed(why)) => return Diagnosis::NotHex(why),
        Err(_) => {}
    }
    let matches = |keys: &Secrets, bytes: &[u8]| keys.verify([signature], bytes).is_ok();
    let variants = body_variants(body);
    if let Some((diagnosis, _)) = variants
        .iter()
        .find(|(_, candidate)| matches(&keys, candidate))
    {
        return diagnosis.clone();
    }
    if trimmed != exact
        && let Some(keys) = secrets(trimmed)
        && (matches(&keys, body)
            || variants
                .iter()
                .any(|(_, candidate)| matches(&keys, candidate)))
    {
        return Diagnosis::SecretWhitespace;
    }
    Diagnosis::Mismatch
}

fn secrets(secret: &[u8]) -> Option<Secrets> {
    Secret::from_bytes(secret.to_vec()).ok().map(Secrets::new)
}

/// The body as it may have been before an accident, with the accident's name.
fn body_variants(body: &[u8]) -> Vec<(Diagnosis, Vec<u8>)> {
    let mut variants = Vec::new();
    let without_newline = body
        .strip_suffix(b"\r\n")
        .or_else(|| body.strip_suffix(b"\n"));
    if let Some(stripped) = without_newline {
        variants.push((Diagnosis::TrailingNewline, stripped.to_vec()));
    }
    let trimmed = body.trim_ascii();
    if trimmed.len() != body.len() {
        variants.push((Diagnosis::SurroundingWhitespace, trimmed.to_vec()));
    }
    if body.windows(2).any(|w| w == b"\r\n") {
        let lf: Vec<u8> = String::from_utf8_lossy(body)
            .replace("\r\n", "\n")
            .into_bytes();
        variants.push((Diagnosis::LineEndings, lf));
    }
    if let Some(compact) = compact_json(body)
        && compact != body
    {
        variants.push((Diagnosis::Reformatted, compact));
    }
    variants
}

/// The same JSON without insignificant whitespace, keys in their order (as `JSON.stringify`
/// writes it); `None` when the body is not JSON.
fn compact_json(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut from = serde_json::Deserializer::from_slice(body);
    let mut to = serde_json::Serializer::new(&mut out);
    serde_transcode::transcode(&mut from, &mut to).ok()?;
    from.end().ok()?;
    Some(out)
}
