//! Implementation detail of [`roamify-hooks`](https://docs.rs/roamify-hooks): the
//! `#[on_event]` attribute and the `handlers!` macro. Depend on `roamify-hooks`, which re-exports
//! both and documents them.
//!
//! The attribute is a pipeline of small steps: `attr` parses the arguments, `ast` reads the
//! function's signature, `valid` checks the event against the `catalog`, `expand` emits the
//! registration, and `fallback` emits the function unchanged beside the errors when any step
//! fails.

use proc_macro::TokenStream;

mod ast;
mod attr;
mod catalog;
mod expand;
mod fallback;
mod handlers;
mod suggest;
mod valid;

/// Registers a function as the handler of one Roamify event. Documented in `roamify-hooks`.
#[proc_macro_attribute]
pub fn on_event(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::on_event(args.into(), item.into()).into()
}

/// Gathers handlers into a compile-time dispatch table. Documented in `roamify-hooks`.
#[proc_macro]
pub fn handlers(input: TokenStream) -> TokenStream {
    handlers::handlers(input.into()).into()
}

/// The catalog this crate validates against, as a literal, for the runtime's agreement test.
#[doc(hidden)]
#[proc_macro]
pub fn __catalog(_: TokenStream) -> TokenStream {
    catalog::as_literal().into()
}
