//! Handlers, dispatch tables and application state: what a hand-written table, or code generic
//! over tables, names.
//!
//! `#[on_event]` implements a hidden trait (`Handler`, in the `handler` submodule, which generated
//! code reaches through `__private`) for each annotated function, and `handlers![…]` builds a
//! table implementing [`Handlers`] (then, once bound to the application's state, [`Dispatch`])
//! whose `dispatch` is one `match` on the event's kind. Its `dispatch_now` is the same `match` for
//! synchronous handlers, which the receiver then calls in place, with no future around them; its
//! `dispatch_boxed` is the same `match` again, boxing only the chosen handler's future, which a
//! queued mode's worker awaits. Both traits are ordinary and documented: a table can be written
//! by hand (see [`Dispatch`]).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::catalog::{Event, ParseError};

pub(crate) mod generated;
pub(crate) mod handler;

/// A boxed error, what handlers' errors are converted into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A handler's run as a boxed future: what [`Dispatch::dispatch_boxed`] returns.
pub type BoxDispatch<'a> = Pin<Box<dyn Future<Output = Dispatched> + Send + 'a>>;

/// A table of handlers before it is bound to application state: what `handlers![…]` returns.
pub trait Handlers: Send + 'static {
    /// The table once bound.
    type Bound: Dispatch;
    /// Resolves every handler's state from `states`, once, when the receiver is built.
    ///
    /// # Errors
    /// [`MissingState`] when a handler needs state that was not registered.
    fn bind(self, states: &States) -> Result<Self::Bound, MissingState>;
}

/// A bound dispatch table: routes one event to its handler.
///
/// ```
/// use roamify_hooks::dispatch::{Dispatched, Handlers, MissingState, States};
/// use roamify_hooks::{Dispatch, Event};
///
/// /// A hand-written table that counts partner events and acknowledges the rest.
/// struct Counter(std::sync::atomic::AtomicUsize);
///
/// impl Dispatch for Counter {
///     async fn dispatch(&self, event: Event) -> Dispatched {
///         match event {
///             Event::PartnerLowBalance(_) | Event::PartnerTopUp(_) => {
///                 self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///                 Dispatched::Handled { handler: "counter" }
///             }
///             _ => Dispatched::NoHandler,
///         }
///     }
/// }
///
/// impl Handlers for Counter {
///     type Bound = Self;
///     fn bind(self, _: &States) -> Result<Self, MissingState> {
///         Ok(self)
///     }
/// }
/// ```
pub trait Dispatch: Send + Sync + 'static {
    /// Routes `event` to its handler and runs it.
    fn dispatch(&self, event: Event) -> impl Future<Output = Dispatched> + Send + '_;

    /// Routes `event` and runs its handler now, when that needs no awaiting (a synchronous
    /// handler, or no handler at all); gives the event back otherwise, and the receiver then
    /// awaits [`dispatch`](Self::dispatch). Whatever this returns must be what `dispatch` would
    /// have given. The default gives every event back.
    ///
    /// # Errors
    /// The event, untouched, when its handler must be awaited.
    #[allow(clippy::result_large_err)] // The event is handed back by value, as in `Taken`.
    fn dispatch_now(&self, event: Event) -> Result<Dispatched, Event> {
        Err(event)
    }

    /// Routes `event` and returns its handler's run as a boxed future, which can be moved
    /// (into a task, say) without copying it: what the queued and durable modes' workers await
    /// when [`dispatch_now`](Self::dispatch_now) gave the event back. Whatever it resolves to
    /// must be what [`dispatch`](Self::dispatch) would have given.
    ///
    /// The default boxes `dispatch`'s future, which is as large as the table's largest handler's
    /// future. A table made by `handlers![…]` boxes only the future of the handler the event goes
    /// to: a small handler's run takes a small allocation, however large the table's other
    /// handlers' futures are.
    fn dispatch_boxed(&self, event: Event) -> BoxDispatch<'_> {
        Box::pin(self.dispatch(event))
    }

    /// The ordering each handler asked for (`#[on_event(…, ordering = "…")]`), read once when
    /// the receiver is built: see [`crate::ordering`]. The default lists none, so every kind
    /// follows [`ReceiverBuilder::ordering`](crate::ReceiverBuilder::ordering).
    fn orderings(&self) -> Vec<crate::ordering::HandlerOrdering> {
        Vec::new()
    }
}

/// What [`Dispatch::dispatch`] did with one event.
#[derive(Debug)]
#[non_exhaustive]
pub enum Dispatched {
    /// A handler ran and succeeded.
    Handled {
        /// The handler's name.
        handler: &'static str,
    },
    /// No handler is registered for this event (and, for unknown events, no fallback).
    NoHandler,
    /// The handler of an uncatalogued event could not read its payload.
    Invalid(ParseError),
    /// The handler returned an error or panicked.
    Failed(HandlerError),
}

/// A handler's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The handler returned an error.
    #[error("handler `{handler}` failed")]
    Failed {
        /// The handler's name.
        handler: &'static str,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// The handler panicked.
    #[error("handler `{handler}` panicked: {message}")]
    Panicked {
        /// The handler's name.
        handler: &'static str,
        /// The panic's message, when it was a string.
        message: String,
    },
}

impl HandlerError {
    /// The error and its whole cause chain on one line: `handler `x` failed: cause: cause`.
    #[must_use]
    pub fn report(&self) -> String {
        crate::report::report(self)
    }

    /// The failing handler's name.
    #[must_use]
    pub fn handler(&self) -> &'static str {
        match self {
            Self::Failed { handler, .. } | Self::Panicked { handler, .. } => handler,
        }
    }
}

/// Shared application state handed to handlers that take a second argument `State<T>`.
///
/// Register a value with [`ReceiverBuilder::state`](crate::ReceiverBuilder::state); it is
/// resolved once, when the receiver is built, and each call gets a cheap clone (an `Arc`).
/// Dereferences to `T`; build one with [`State::new`] to call a handler directly.
pub struct State<T: ?Sized>(Arc<T>);

impl<T> State<T> {
    /// Wraps `value`, e.g. to call a handler directly in a test.
    pub fn new(value: T) -> Self {
        Self(Arc::new(value))
    }
}

impl<T: ?Sized> State<T> {
    /// Wraps a value that is already shared.
    pub fn from_arc(value: Arc<T>) -> Self {
        Self(value)
    }

    /// The shared value.
    #[must_use]
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> std::ops::Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// The application states registered on a receiver, one per type.
#[derive(Default, Clone)]
pub struct States {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl States {
    /// Registers `value` (replacing an earlier value of the same type).
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.insert_arc(Arc::new(value));
    }

    /// Registers a value that is already shared.
    pub fn insert_arc<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.map.insert(TypeId::of::<T>(), value);
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "States({} registered)", self.map.len())
    }
}

/// A handler needs state that was never registered.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "handler `{handler}` takes `State<{type_name}>`, but no `{type_name}` was registered (call `.state(…)` on the receiver builder)"
)]
pub struct MissingState {
    /// The handler.
    pub handler: &'static str,
    /// The state type it needs.
    pub type_name: &'static str,
}

crate::report::debug_as_report!(MissingState);
