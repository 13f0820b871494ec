//! The receiver: verify, parse, dispatch — one call per delivery, with no web framework in it.

use std::fmt;
use std::sync::Arc;

use crate::catalog::{Event, EventKind};
use crate::dispatch::{Dispatch, Dispatched, HandlerError, Handlers, MissingState, States};
use crate::parse::ParseError;
use crate::secret::{Secret, SecretError};
use crate::signature::{Secrets, SignatureError};

/// Receives Roamify deliveries: holds the secrets and a bound dispatch table.
///
/// Cheap to clone (one `Arc`); build it once and share it between server workers.
///
/// ```
/// use roamify_hooks::{handlers, on_event, testing, Outcome, Receiver, Secret};
/// use roamify_hooks::events::PartnerBalance;
///
/// #[on_event(category = "partner", kind = "low_balance")]
/// fn low_balance(event: PartnerBalance) {
///     println!("balance down to {} {}", event.balance, event.currency);
/// }
///
/// # futures_executor::block_on(async {
/// let receiver = Receiver::builder()
///     .secret(Secret::new("whsec_test")?)
///     .build(handlers![low_balance])?;
///
/// let body = testing::sample(roamify_hooks::EventKind::PartnerLowBalance);
/// let signature = testing::sign("whsec_test", body);
/// let outcome = receiver.receive([signature.as_bytes()], body).await;
/// assert!(matches!(outcome, Outcome::Handled { handler: "low_balance", .. }));
///
/// let outcome = receiver.receive(["0".repeat(64)], body).await;
/// assert!(matches!(outcome, Outcome::BadSignature(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Receiver<D> {
    inner: Arc<Inner<D>>,
}

struct Inner<D> {
    secrets: Secrets,
    table: D,
}

impl<D> Clone for Receiver<D> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<D> fmt::Debug for Receiver<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("secrets", &self.inner.secrets)
            .finish_non_exhaustive()
    }
}

/// What happened to one delivery. An adapter maps it to an HTTP answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Verified, parsed, and its handler succeeded.
    Handled {
        /// The event.
        event: EventName,
        /// The handler that ran.
        handler: &'static str,
        /// Which secret matched.
        secret_index: usize,
    },
    /// Verified and parsed, but no handler runs for it (an unknown event without a fallback, or
    /// a known one without a handler). Acknowledge it: failing it would only make Roamify retry.
    Acknowledged {
        /// The event.
        event: EventName,
        /// Which secret matched.
        secret_index: usize,
    },
    /// The signature is missing, malformed or wrong. Never say which to the sender.
    BadSignature(SignatureError),
    /// Signed, but not a Roamify envelope, or a known kind whose payload does not parse.
    Malformed {
        /// What is wrong.
        error: ParseError,
        /// Which secret matched.
        secret_index: usize,
    },
    /// The handler returned an error or panicked; the sender should retry.
    HandlerFailed {
        /// The event.
        event: EventName,
        /// The failure.
        error: HandlerError,
        /// Which secret matched.
        secret_index: usize,
    },
}

impl Outcome {
    /// The event's names, when the body was verified and parsed.
    #[must_use]
    pub fn event(&self) -> Option<&EventName> {
        match self {
            Self::Handled { event, .. }
            | Self::Acknowledged { event, .. }
            | Self::HandlerFailed { event, .. } => Some(event),
            Self::BadSignature(_) | Self::Malformed { .. } => None,
        }
    }

    /// Which secret verified the delivery, when one did.
    #[must_use]
    pub fn secret_index(&self) -> Option<usize> {
        match self {
            Self::Handled { secret_index, .. }
            | Self::Acknowledged { secret_index, .. }
            | Self::Malformed { secret_index, .. }
            | Self::HandlerFailed { secret_index, .. } => Some(*secret_index),
            Self::BadSignature(_) => None,
        }
    }

    /// A short label for logs and metrics: `handled`, `acknowledged`, `bad_signature`,
    /// `malformed`, `handler_failed`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Handled { .. } => "handled",
            Self::Acknowledged { .. } => "acknowledged",
            Self::BadSignature(_) => "bad_signature",
            Self::Malformed { .. } => "malformed",
            Self::HandlerFailed { .. } => "handler_failed",
        }
    }
}

/// An event's category and kind, for outcomes and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventName {
    /// A catalog kind.
    Known(EventKind),
    /// An event the catalog does not know, with its names as sent.
    Unknown {
        /// `event_category`.
        category: String,
        /// `event_type`.
        kind: String,
    },
}

impl EventName {
    fn of(event: &Event) -> Self {
        match event {
            Event::Unknown(u) => Self::Unknown {
                category: u.category().to_owned(),
                kind: u.kind().to_owned(),
            },
            known => match known.kind() {
                Some(kind) => Self::Known(kind),
                None => Self::Unknown {
                    category: String::new(),
                    kind: String::new(),
                },
            },
        }
    }

    /// `event_category`.
    #[must_use]
    pub fn category(&self) -> &str {
        match self {
            Self::Known(kind) => kind.category(),
            Self::Unknown { category, .. } => category,
        }
    }

    /// `event_type` (the canonical spelling for known kinds).
    #[must_use]
    pub fn kind(&self) -> &str {
        match self {
            Self::Known(kind) => kind.name(),
            Self::Unknown { kind, .. } => kind,
        }
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.category(), self.kind())
    }
}

impl Receiver<()> {
    /// Starts a receiver: add secrets and state, then [`ReceiverBuilder::build`] with a table.
    #[must_use]
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }
}

impl<D: Dispatch> Receiver<D> {
    /// Handles one delivery: verifies `body` against the `X-Roamify-Signature` value(s), parses
    /// it, and runs its handler.
    pub async fn receive<I>(&self, signatures: I, body: &[u8]) -> Outcome
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let verified = match self.inner.secrets.verify(signatures, body) {
            Ok(verified) => verified,
            Err(error) => return Outcome::BadSignature(error),
        };
        let secret_index = verified.secret_index();
        let event = match Event::parse(&verified) {
            Ok(event) => event,
            Err(error) => {
                return Outcome::Malformed {
                    error,
                    secret_index,
                };
            }
        };
        self.dispatch(event, secret_index).await
    }

    /// Runs the handler of an already verified and parsed event.
    pub async fn dispatch(&self, event: Event, secret_index: usize) -> Outcome {
        let name = EventName::of(&event);
        match self.inner.table.dispatch(event).await {
            Dispatched::Handled { handler } => Outcome::Handled {
                event: name,
                handler,
                secret_index,
            },
            Dispatched::NoHandler => Outcome::Acknowledged {
                event: name,
                secret_index,
            },
            Dispatched::Invalid(error) => Outcome::Malformed {
                error,
                secret_index,
            },
            Dispatched::Failed(error) => Outcome::HandlerFailed {
                event: name,
                error,
                secret_index,
            },
        }
    }

    /// The accepted secrets.
    #[must_use]
    pub fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }
}

/// Builds a [`Receiver`].
#[derive(Debug, Default)]
pub struct ReceiverBuilder {
    secrets: Option<Secrets>,
    states: States,
}

/// Why a [`Receiver`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No secret was given.
    #[error("no webhook secret configured (call `.secret(…)` on the receiver builder)")]
    NoSecret,
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A handler needs state that was never registered.
    #[error(transparent)]
    MissingState(#[from] MissingState),
}

impl ReceiverBuilder {
    /// Accepts signatures made with `secret` (call again to accept several, during a rotation).
    #[must_use]
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secrets = Some(match self.secrets.take() {
            Some(secrets) => secrets.with(secret),
            None => Secrets::new(secret),
        });
        self
    }

    /// Accepts signatures made with any of `secrets` (replacing secrets given before).
    #[must_use]
    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Registers application state; handlers take it as `State<T>`.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Registers application state that is already shared (`State<T>` in handlers).
    #[must_use]
    pub fn state_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.states.insert_arc(value);
        self
    }

    /// Binds `table` to the registered state and builds the receiver.
    ///
    /// # Errors
    /// [`BuildError::NoSecret`], or [`BuildError::MissingState`] when a handler takes state that
    /// was not registered — at start-up, never on a request.
    pub fn build<H: Handlers>(self, table: H) -> Result<Receiver<H::Bound>, BuildError> {
        let secrets = self.secrets.ok_or(BuildError::NoSecret)?;
        let table = table.bind(&self.states)?;
        Ok(Receiver {
            inner: Arc::new(Inner { secrets, table }),
        })
    }
}
