//! Not public API. Used by generated code.
//!
//! Everything `#[on_event]` and `handlers![…]` expansions name is re-exported here, so they use
//! only `::roamify_hooks::__private::…` (or the path given with `crate = …`) and `::core::…`.
//! Nothing is defined here: the machinery lives in `dispatch` (its `handler` and `generated`
//! modules), and this module only opens one door to it.

pub use core::future::Future;
pub use core::marker::Send;
pub use core::option::Option::{self, None, Some};
pub use core::result::Result::{self, Err, Ok};
pub use std::vec::Vec;

pub use crate::catalog::{BY_NAME, CatalogKind, Event, kind, payload_of};
pub use crate::dispatch::generated::{
    FallbackPayload, assert_fallback, call, call_boxed, call_now, called, done, route_key, run,
    run_boxed, same_route, take, take_uncatalogued, take_unhandled, unregistered,
};
pub use crate::dispatch::handler::sealed::Registration;
pub use crate::dispatch::handler::{FallbackHandler, Handler, IntoHandlerResult, StateArg, Taken};
pub use crate::dispatch::{
    BoxDispatch, BoxError, Dispatch, Dispatched, HandlerError, Handlers, MissingState, States,
};
pub use crate::ordering::{HandlerOrdering, Ordering};
