//! Who may use the admin API: bearer tokens, compared in constant time.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The shortest token taken: 16 characters (a random token of 32 hex digits or more is advised).
pub const MIN_TOKEN_LEN: usize = 16;

/// The admin API's tokens: one that may do everything, and optionally one that may only read.
///
/// Tokens are kept as their SHA-256 digests, and a presented token is digested and compared with
/// each in constant time, so neither its content nor its length shows in the time taken.
///
/// ```
/// use roamify_hooks::admin::AdminTokens;
///
/// let tokens = AdminTokens::new("4f1c0a9e6b2d7c3e8a5f")?.read_only("9d8c7b6a5f4e3d2c1b0a")?;
/// assert!(AdminTokens::new("short").is_err());
/// # Ok::<(), roamify_hooks::admin::TokenError>(())
/// ```
#[derive(Clone)]
pub struct AdminTokens {
    full: [u8; 32],
    read_only: Option<[u8; 32]>,
}

/// A token refused when configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Shorter than [`MIN_TOKEN_LEN`].
    #[error("an admin token must be at least {MIN_TOKEN_LEN} characters (got {0})")]
    TooShort(usize),
    /// Holds whitespace or control characters, which an `Authorization` header cannot carry
    /// intact.
    #[error("an admin token must be printable characters without spaces")]
    NotPrintable,
    /// The read-only token is the full token.
    #[error("the read-only admin token must differ from the full one")]
    SameAsFull,
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read and change (replay, discard).
    Full,
    /// Read only.
    Read,
}

impl AdminTokens {
    /// The full token.
    ///
    /// # Errors
    /// [`TokenError`] for a token too short or not printable.
    pub fn new(token: &str) -> Result<Self, TokenError> {
        Ok(Self {
            full: digest_checked(token)?,
            read_only: None,
        })
    }

    /// Adds a token that may read (counts, searches, a delivery's detail) but not change
    /// anything: answered 403 on replay and discard.
    ///
    /// # Errors
    /// [`TokenError`] as [`AdminTokens::new`], or [`TokenError::SameAsFull`].
    pub fn read_only(mut self, token: &str) -> Result<Self, TokenError> {
        let digest = digest_checked(token)?;
        if bool::from(digest.ct_eq(&self.full)) {
            return Err(TokenError::SameAsFull);
        }
        self.read_only = Some(digest);
        Ok(self)
    }

    /// Reads `ROAMIFY_ADMIN_TOKEN` and `ROAMIFY_ADMIN_READ_TOKEN`: `None` when the first is
    /// unset or empty (the admin API is then not to be mounted).
    ///
    /// # Errors
    /// [`TokenError`] for a token that is set but refused.
    pub fn from_env() -> Result<Option<Self>, TokenError> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let Some(full) = var("ROAMIFY_ADMIN_TOKEN") else {
            return Ok(None);
        };
        let tokens = Self::new(&full)?;
        match var("ROAMIFY_ADMIN_READ_TOKEN") {
            Some(read) => tokens.read_only(&read).map(Some),
            None => Ok(Some(tokens)),
        }
    }

    /// What the `Authorization` header's value allows; `None` when missing, not `Bearer`, or no
    /// token matches. Both tokens are always compared.
    pub(crate) fn check(&self, authorization: Option<&[u8]>) -> Option<Access> {
        let presented = authorization.and_then(bearer)?;
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let full = digest.ct_eq(&self.full);
        let read = self
            .read_only
            .as_ref()
            .map_or(subtle::Choice::from(0), |read| digest.ct_eq(read));
        if bool::from(full) {
            Some(Access::Full)
        } else if bool::from(read) {
            Some(Access::Read)
        } else {
            None
        }
    }
}

impl fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminTokens")
            .field("read_only", &self.read_only.is_some())
            .finish_non_exhaustive()
    }
}

fn digest_checked(token: &str) -> Result<[u8; 32], TokenError> {
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(TokenError::TooShort(token.chars().count()));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::NotPrintable);
    }
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// The token of `Bearer <token>` (the scheme's case ignored, RFC 9110).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.starts_with(b" ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_token_reads_and_writes_the_read_token_only_reads() {
        let tokens = AdminTokens::new("full-token-0123456789")
            .and_then(|t| t.read_only("read-token-0123456789"))
            .expect("tokens");
        let check = |header: &str| tokens.check(Some(header.as_bytes()));
        assert_eq!(check("Bearer full-token-0123456789"), Some(Access::Full));
        assert_eq!(check("bearer  full-token-0123456789 "), Some(Access::Full));
        assert_eq!(check("Bearer read-token-0123456789"), Some(Access::Read));
        assert_eq!(check("Bearer full-token-012345678"), None);
        assert_eq!(check("Basic full-token-0123456789"), None);
        assert_eq!(check("Bearerfull-token-0123456789"), None);
        assert_eq!(check("Bearer "), None);
        assert_eq!(check(""), None);
        assert_eq!(tokens.check(None), None);
    }

    #[test]
    fn weak_or_repeated_tokens_are_refused() {
        assert_eq!(
            AdminTokens::new("short").err(),
            Some(TokenError::TooShort(5))
        );
        assert_eq!(
            AdminTokens::new("with a space inside it").err(),
            Some(TokenError::NotPrintable)
        );
        let same = AdminTokens::new("same-token-0123456789")
            .and_then(|t| t.read_only("same-token-0123456789"));
        assert_eq!(same.err(), Some(TokenError::SameAsFull));
        let shown = format!(
            "{:?}",
            AdminTokens::new("secret-token-0123456789").expect("ok")
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}
