//! `#[on_event]`: the function is emitted unchanged; beside it, a hidden item of the same name in
//! the type namespace (`enum name {}`) implements `Handler`. `handlers![name]` names that item
//! through the same path as the function, so nothing generated ever needs importing.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Path};

use crate::ast::{self, HandlerFn};
use crate::attr::{self, Errors};
use crate::fallback;
use crate::valid::{self, Route};

pub(crate) fn on_event(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let krate = krate(args.krate.as_ref());
    let Ok(item_fn) = syn::parse2::<ItemFn>(item.clone()) else {
        return fallback::not_a_function(item, errors);
    };
    let route = valid::route(&args, &mut errors);
    let ordering = args.ordering.as_ref().map(syn::LitStr::value);
    let example = route
        .as_ref()
        .map_or_else(|| "event: …".to_owned(), Route::example_argument);
    let handler = ast::read(&item_fn, &example, &mut errors);
    match (errors.finish(), route, handler) {
        (None, Some(route), Some(handler)) => expand(&krate, &route, &handler, ordering.as_deref()),
        (error, ..) => fallback::with_errors(&krate, &item_fn, error),
    }
}

/// The path generated code starts from: `::roamify_hooks` unless `crate = …` says otherwise.
pub(crate) fn krate(path: Option<&Path>) -> TokenStream {
    path.map_or_else(|| quote!(::roamify_hooks), |p| quote!(#p))
}

fn expand(
    krate: &TokenStream,
    route: &Route,
    handler: &HandlerFn<'_>,
    ordering: Option<&str>,
) -> TokenStream {
    let item = handler.item;
    let ident = &item.sig.ident;
    let private = quote!(#krate::__private);
    let payload = handler.payload;
    let payload_ty = quote_spanned!(payload.span()=> #payload);

    let (category, kind, route_key, take, fallback_impl) = match route {
        Route::Catalog(entry) => {
            let marker = Ident::new(entry.ident, payload.span());
            let (category, kind) = (entry.category, entry.kind);
            (
                quote!(#category),
                quote!(#kind),
                quote!(<#private::kind::#marker as #private::CatalogKind>::KIND as ::core::primitive::u16),
                quote_spanned! {payload.span()=>
                    match <#payload as #private::payload_of::#marker>::take(__event) {
                        #private::Ok(__payload) => #private::Ok(__payload),
                        #private::Err(__event) => #private::Err(#private::Taken::NotMine(__event)),
                    }
                },
                quote!(),
            )
        }
        Route::Uncatalogued { category, kind } => (
            quote!(#category),
            quote!(#kind),
            quote!(#private::BY_NAME),
            quote_spanned!(payload.span()=> #private::take_uncatalogued::<#payload>(__event, #category, #kind)),
            quote!(),
        ),
        Route::Fallback => (
            quote!(""),
            quote!(""),
            quote!(#private::BY_NAME),
            quote_spanned! {payload.span()=>
                #private::take_unhandled::<#payload>(__event)
            },
            quote! {
                const FALLBACK: ::core::primitive::bool = true;
            },
        ),
    };
    let fallback_marker = matches!(route, Route::Fallback).then(|| {
        quote! {
            impl #private::FallbackHandler for #ident {}
        }
    });

    let state_ty = handler
        .state
        .map_or_else(|| quote!(()), |s| quote_spanned!(s.span()=> #s));
    let args = if handler.state.is_some() {
        quote!(__payload, __state)
    } else {
        quote!(__payload)
    };
    let bind_state = if handler.state.is_some() {
        quote!()
    } else {
        quote!(let () = __state;)
    };
    let is_async = item.sig.asyncness.is_some();
    let awaited = if is_async { quote!(.await) } else { quote!() };
    let output = handler
        .output
        .map_or_else(|| quote!(()), |o| quote_spanned!(o.span()=> #o));
    let into_result = handler.output.map_or_else(
        || quote!(#private::IntoHandlerResult),
        |o| quote_spanned!(o.span()=> <#o as #private::IntoHandlerResult>),
    );
    let name = ident.to_string();
    // The function called and its output converted: the body of `call`'s future and, for a
    // synchronous function, of the plain call `CALL_NOW` that tables run in place.
    let invoke = quote! {
        #bind_state
        let __output: #output = #ident(#args)#awaited;
        #into_result::into_handler_result(__output)
    };
    let call_now = (!is_async).then(|| {
        quote! {
            const CALL_NOW: #private::Option<
                fn(Self::Payload, Self::State) -> #private::Result<(), #private::BoxError>,
            > = #private::Some(|__payload, __state| { #invoke });
        }
    });

    // Checked by the attribute's parser: one of `attr::ORDERINGS`.
    let ordering = ordering.map(|ordering| {
        let variant = match ordering {
            "off" => quote!(Off),
            "serial" => quote!(Serial),
            _ => quote!(Latest),
        };
        quote! {
            const ORDERING: #private::Option<#private::Ordering> =
                #private::Some(#private::Ordering::#variant);
        }
    });
    let registration = registration(
        krate,
        item,
        &quote! {
            const NAME: &'static ::core::primitive::str = #name;
            const CATEGORY: &'static ::core::primitive::str = #category;
            const KIND: &'static ::core::primitive::str = #kind;
            const ROUTE_KEY: ::core::primitive::u16 = #route_key;
            #fallback_impl
            #ordering
            type Payload = #payload_ty;
            type State = #state_ty;
            #call_now

            #[inline]
            fn take(__event: #private::Event) -> #private::Result<Self::Payload, #private::Taken> {
                #take
            }

            fn call(
                __payload: Self::Payload,
                __state: Self::State,
            ) -> impl #private::Future<Output = #private::Result<(), #private::BoxError>> + #private::Send + 'static {
                async move { #invoke }
            }
        },
    );
    quote! {
        // Handlers take their payload and state by value because the dispatch table hands them
        // over; a handler that only reads them is not a mistake.
        #[allow(clippy::needless_pass_by_value)]
        #item
        #registration
        #fallback_marker
    }
}

/// The hidden `enum name {}` and its `Handler` impl with `body`.
pub(crate) fn registration(krate: &TokenStream, item: &ItemFn, body: &TokenStream) -> TokenStream {
    let ident = &item.sig.ident;
    let vis = &item.vis;
    let private = quote!(#krate::__private);
    quote! {
        // The registration of the handler function of the same name, in the type namespace so
        // that any path reaching the function reaches it too.
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis enum #ident {}

        const _: () = {
            #[automatically_derived]
            impl #private::Registration for #ident {}
            #[automatically_derived]
            impl #private::Handler for #ident {
                #body
            }
        };
    }
}
