//! `handlers![a, module::b, fallback = c]`: a dispatch table whose `dispatch` is one `match` on
//! the event's route key, each arm a constant that `#[on_event]` gave the handler.
//!
//! What a delivery executes: `match route_key(&event) { K_a => run::<a>(…), K_b => …, _ => … }`.
//! Catalog kinds are `u16` constants, so the `match` is a jump table; the `_` arm (unknown events
//! and kinds without a handler) tries the handlers found by name, then the fallback.
//!
//! `dispatch_boxed` is the same `match`, each arm boxing only its own handler's future (so a
//! small handler's box is small), the `_` arm likewise for the handler found by name or the
//! fallback that takes the event.
//!
//! `dispatch_now` is the same `match` without a future: an arm whose handler is synchronous
//! (`Handler::CALL_NOW`) calls it in place, and so does the `_` arm with a synchronous fallback
//! when no handler is found by name; every other event is given back for `dispatch`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Path, Token};

use crate::attr::{Errors, crate_path};
use crate::expand::krate;

enum Entry {
    Handler(Path),
    Fallback(Path),
    Crate(Path),
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            return crate_path(&input.parse()?).map(Entry::Crate);
        }
        let path: Path = input.parse()?;
        if input.peek(Token![=]) {
            if !path.is_ident("fallback") {
                return Err(syn::Error::new(
                    path.span(),
                    "expected a handler path, `fallback = handler` or `crate = path`",
                ));
            }
            input.parse::<Token![=]>()?;
            return Ok(Entry::Fallback(input.parse()?));
        }
        Ok(Entry::Handler(path))
    }
}

pub(crate) fn handlers(input: TokenStream) -> TokenStream {
    let parsed =
        syn::parse::Parser::parse2(Punctuated::<Entry, Token![,]>::parse_terminated, input);
    let entries = match parsed {
        Ok(entries) => entries,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let (mut handlers, mut fallback, mut krate_path) = (Vec::new(), None, None);
    for entry in entries {
        match entry {
            Entry::Handler(path) => {
                let text = path_text(&path);
                if handlers.iter().any(|p| path_text(p) == text) {
                    errors.at(path.span(), format!("`{text}` is listed twice"));
                } else {
                    handlers.push(path);
                }
            }
            Entry::Fallback(path) if fallback.is_some() => {
                errors.at(path.span(), "a table has one `fallback`")
            }
            Entry::Fallback(path) => fallback = Some(path),
            Entry::Crate(path) if krate_path.is_some() => {
                errors.at(path.span(), "duplicate argument `crate`")
            }
            Entry::Crate(path) => krate_path = Some(path),
        }
    }
    if let Some(error) = errors.finish() {
        return error.to_compile_error();
    }
    expand(&krate(krate_path.as_ref()), &handlers, fallback.as_ref())
}

fn path_text(path: &Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

/// How many entries get an alias with a plain-function check: as many as `__private::unregistered`
/// has stand-ins. Entries past it are named by their path (a plain function there is reported
/// by rustc as "expected type, found function").
const CHECKED_ENTRIES: usize = 32;

/// Each entry's name in the table: an alias imported over a glob of stand-ins, so that a plain
/// function (which has no registration in the type namespace) reaches a stand-in, and a check
/// can say "add `#[on_event]`".
fn aliases(private: &TokenStream, handlers: &[Path]) -> (TokenStream, Vec<TokenStream>) {
    let mut imports = vec![quote! {
        #[allow(unused_imports)]
        use #private::unregistered::*;
    }];
    let names = handlers
        .iter()
        .enumerate()
        .map(|(i, path)| {
            if i >= CHECKED_ENTRIES {
                return quote!(#path);
            }
            let alias = format_ident!("__roamify_handler_{}", i, span = path.span());
            let text = path_text(path);
            let message = format!(
                "`{text}` is a plain function: annotate it with `#[on_event(category = \"…\", kind = \"…\")]` to list it in `handlers![…]`"
            );
            imports.push(quote_spanned! {path.span()=>
                #[allow(unused_imports)]
                use #path as #alias;
                const _: () = ::core::assert!(<#alias as #private::Registration>::REGISTERED, #message);
            });
            quote!(#alias)
        })
        .collect();
    (quote!(#(#imports)*), names)
}

/// In `dispatch_now`: runs synchronous handler `handler` in place on `__event`, with its state
/// from field `state` of the table, or gives the event back when the handler must be awaited.
fn run_now(private: &TokenStream, handler: &impl ToTokens, state: &impl ToTokens) -> TokenStream {
    quote! {
        match <#handler as #private::Handler>::CALL_NOW {
            #private::Some(__call) => #private::Ok(match #private::take::<#handler>(__event) {
                #private::Ok(__payload) => #private::call_now::<#handler>(
                    __call,
                    __payload,
                    ::core::clone::Clone::clone(&self.#state),
                ),
                #private::Err(__done) => __done,
            }),
            #private::None => #private::Err(__event),
        }
    }
}

fn expand(krate: &TokenStream, paths: &[Path], fallback: Option<&Path>) -> TokenStream {
    let private = quote!(#krate::__private);
    let (imports, handlers) = aliases(&private, paths);
    let handlers = &handlers[..];
    let states: Vec<_> = (0..paths.len())
        .map(|i| format_ident!("state_{i}"))
        .collect();

    // Compile-time checks, each on the offending path.
    let mut checks = Vec::new();
    for (i, (b, b_path)) in handlers.iter().zip(paths).enumerate() {
        let b_text = path_text(b_path);
        checks.push(quote_spanned! {b_path.span()=>
            const _: () = ::core::assert!(
                !<#b as #private::Handler>::FALLBACK,
                ::core::concat!("`", #b_text, "` is a fallback handler: list it as `fallback = ", #b_text, "`"),
            );
        });
        for (a, a_path) in handlers[..i].iter().zip(paths) {
            let message = format!(
                "`{b_text}` handles the same event as `{}`: a dispatch table takes one handler per event",
                path_text(a_path)
            );
            checks.push(quote_spanned! {b_path.span()=>
                const _: () = ::core::assert!(!#private::same_route::<#a, #b>(), #message);
            });
        }
    }
    if let Some(f) = fallback {
        checks.push(quote_spanned! {f.span()=>
            const _: () = #private::assert_fallback::<#f>();
        });
    }

    // Each arm takes the payload out of the event synchronously, so the future that is awaited
    // holds only the handler's call, not the whole event.
    let arms = handlers.iter().zip(&states).map(|(h, s)| {
        quote! {
            <#h as #private::Handler>::ROUTE_KEY => match #private::take::<#h>(__event) {
                #private::Ok(__payload) => #private::called::<#h>(
                    #private::call::<#h>(__payload, ::core::clone::Clone::clone(&self.#s)).await,
                ),
                #private::Err(__done) => __done,
            },
        }
    });
    // The same arms, each boxing only its own handler's future (for a worker, which moves it).
    let arms_boxed = handlers.iter().zip(&states).map(|(h, s)| {
        quote! {
            <#h as #private::Handler>::ROUTE_KEY => match #private::take::<#h>(__event) {
                #private::Ok(__payload) => #private::call_boxed::<#h>(
                    __payload,
                    ::core::clone::Clone::clone(&self.#s),
                ),
                #private::Err(__done) => #private::done(__done),
            },
        }
    });
    // The same arms run in place when the handler is synchronous; anything else is given back.
    let arms_now = handlers.iter().zip(&states).map(|(h, s)| {
        let run = run_now(&private, h, s);
        quote!(<#h as #private::Handler>::ROUTE_KEY => #run,)
    });
    // Events no arm takes go to the handlers found by name and the fallback, awaited.
    let by_name_keys = handlers
        .iter()
        .map(|h| quote!(<#h as #private::Handler>::ROUTE_KEY == #private::BY_NAME));
    let by_name = handlers.iter().zip(&states).map(|(h, s)| {
        quote! {
            if <#h as #private::Handler>::ROUTE_KEY == #private::BY_NAME {
                match #private::run::<#h>(__event, &self.#s).await {
                    #private::Ok(__done) => return __done,
                    #private::Err(__other) => __event = __other,
                }
            }
        }
    });
    // In place, a synchronous fallback runs as an arm does; any other is awaited.
    let fallback_now = match fallback {
        Some(f) => run_now(&private, f, &quote!(fallback)),
        None => quote! {{
            ::core::mem::drop(__event);
            #private::Ok(#private::Dispatched::NoHandler)
        }},
    };
    let (fallback_field, fallback_bind, fallback_run) = match fallback {
        Some(f) => (
            quote!(fallback: <#f as #private::Handler>::State,),
            quote!(fallback: <<#f as #private::Handler>::State as #private::StateArg>::resolve(__states, <#f as #private::Handler>::NAME)?,),
            quote! {
                match #private::run::<#f>(__event, &self.fallback).await {
                    #private::Ok(__done) => __done,
                    #private::Err(_) => #private::Dispatched::NoHandler,
                }
            },
        ),
        None => (
            quote!(),
            quote!(),
            quote!({
                let _ = __event;
                #private::Dispatched::NoHandler
            }),
        ),
    };
    // In `dispatch_boxed`, the same, each handler's future boxed on its own: one async block
    // around them all would be as large as the largest handler's future (a handler not found by
    // name is skipped at run time, but its future is still laid out in the block).
    let by_name_boxed = handlers.iter().zip(&states).map(|(h, s)| {
        quote! {
            if <#h as #private::Handler>::ROUTE_KEY == #private::BY_NAME {
                match #private::run_boxed::<#h>(__event, &self.#s) {
                    #private::Ok(__run) => return __run,
                    #private::Err(__other) => __event = __other,
                }
            }
        }
    });
    let fallback_boxed = match fallback {
        Some(f) => quote! {
            match #private::run_boxed::<#f>(__event, &self.fallback) {
                #private::Ok(__run) => __run,
                #private::Err(_) => #private::done(#private::Dispatched::NoHandler),
            }
        },
        None => quote! {{
            let _ = __event;
            #private::done(#private::Dispatched::NoHandler)
        }},
    };
    let table = quote!(__RoamifyTable);
    let unbound = quote!(__RoamifyHandlers);
    let span = Span::call_site();
    quote_spanned! {span=>
        {
            #imports
            #(#checks)*

            /// The table before binding: `handlers![…]`'s value.
            struct #unbound;

            /// The bound table: each handler's resolved state.
            struct #table {
                #( #states: <#handlers as #private::Handler>::State, )*
                #fallback_field
            }

            impl #private::Handlers for #unbound {
                type Bound = #table;
                fn bind(self, __states: &#private::States) -> #private::Result<#table, #private::MissingState> {
                    #private::Ok(#table {
                        #( #states: <<#handlers as #private::Handler>::State as #private::StateArg>::resolve(
                            __states,
                            <#handlers as #private::Handler>::NAME,
                        )?, )*
                        #fallback_bind
                    })
                }
            }

            impl #private::Dispatch for #table {
                // Handlers found by name share one never-matching key: their arms are dead, and
                // `_` tries them.
                #[allow(unreachable_patterns, unused_mut)]
                fn dispatch(&self, __event: #private::Event)
                    -> impl #private::Future<Output = #private::Dispatched> + #private::Send + '_
                {
                    async move {
                        match #private::route_key(&__event) {
                            #(#arms)*
                            _ => {
                                let mut __event = __event;
                                #(#by_name)*
                                #fallback_run
                            }
                        }
                    }
                }

                #[allow(unreachable_patterns, unused_mut)]
                fn dispatch_boxed(&self, __event: #private::Event) -> #private::BoxDispatch<'_> {
                    match #private::route_key(&__event) {
                        #(#arms_boxed)*
                        _ => {
                            let mut __event = __event;
                            #(#by_name_boxed)*
                            #fallback_boxed
                        }
                    }
                }

                fn orderings(&self) -> #private::Vec<#private::HandlerOrdering> {
                    let mut __orderings = #private::Vec::new();
                    #(
                        if let #private::Some(__ordering) = <#handlers as #private::Handler>::ORDERING {
                            __orderings.push(#private::HandlerOrdering::new(
                                <#handlers as #private::Handler>::CATEGORY,
                                <#handlers as #private::Handler>::KIND,
                                __ordering,
                            ));
                        }
                    )*
                    __orderings
                }

                #[allow(unreachable_patterns)]
                #[inline]
                fn dispatch_now(&self, __event: #private::Event)
                    -> #private::Result<#private::Dispatched, #private::Event>
                {
                    match #private::route_key(&__event) {
                        #(#arms_now)*
                        // Handlers found by name are awaited (whichever takes the event is
                        // known only once one has taken it).
                        _ => {
                            if false #(|| #by_name_keys)* {
                                #private::Err(__event)
                            } else {
                                #fallback_now
                            }
                        }
                    }
                }
            }

            #unbound
        }
    }
}
