//! The webhook secret.

use std::fmt;

use zeroize::Zeroizing;

/// The environment variable Roamify's samples read the webhook secret from.
pub const SECRET_ENV: &str = "ROAMIFY_WEBHOOK_SECRET";

/// A Roamify webhook secret: the key of the `X-Roamify-Signature` HMAC.
///
/// Never empty. `Debug` and `Display` print `Secret(***)`, never the value, and the bytes are
/// wiped from memory when the secret is dropped.
///
/// ```
/// use roamify_hooks::Secret;
///
/// let secret = Secret::new("whsec_roamify_test")?;
/// assert_eq!(format!("{secret:?}"), "Secret(***)");
/// assert!(Secret::new("").is_err());
/// # Ok::<(), roamify_hooks::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

/// Why a [`Secret`] could not be made.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret is empty (an unset dashboard value, or an empty variable).
    #[error("the webhook secret is empty")]
    Empty,
    /// The environment variable is not set.
    #[error(
        "the environment variable {0} is not set (copy the webhook secret from the Roamify dashboard)"
    )]
    NotSet(&'static str),
    /// The environment variable is not valid Unicode.
    #[error("the environment variable {0} is not valid UTF-8")]
    NotUnicode(&'static str),
}

impl Secret {
    /// A secret from its text, used as its UTF-8 bytes (as Roamify's own samples do).
    ///
    /// # Errors
    /// [`SecretError::Empty`] when `secret` is empty.
    pub fn new(secret: impl Into<String>) -> Result<Self, SecretError> {
        Self::from_bytes(secret.into().into_bytes())
    }

    /// A secret from raw bytes.
    ///
    /// # Errors
    /// [`SecretError::Empty`] when `bytes` is empty.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let bytes = Zeroizing::new(bytes.into());
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(bytes))
    }

    /// The secret from the `ROAMIFY_WEBHOOK_SECRET` environment variable.
    ///
    /// # Errors
    /// When the variable is unset, not Unicode, or empty.
    pub fn from_env() -> Result<Self, SecretError> {
        Self::from_env_var(SECRET_ENV)
    }

    /// The secret from the environment variable `name`.
    ///
    /// # Errors
    /// When the variable is unset, not Unicode, or empty.
    pub fn from_env_var(name: &'static str) -> Result<Self, SecretError> {
        match std::env::var(name) {
            Ok(value) => Self::new(value),
            Err(std::env::VarError::NotPresent) => Err(SecretError::NotSet(name)),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::NotUnicode(name)),
        }
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

crate::report::debug_as_report!(SecretError);
