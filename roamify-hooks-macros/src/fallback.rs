//! The error path: the user's item comes back unchanged beside `compile_error!`s, so the IDE keeps
//! completing and no follow-on error hides the real one. A function also gets an inert
//! registration, so a `handlers![…]` that lists it reports nothing more.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::attr::Errors;
use crate::expand::registration;

pub(crate) fn with_errors(
    krate: &TokenStream,
    item: &ItemFn,
    error: Option<syn::Error>,
) -> TokenStream {
    let errors = error.map(|e| e.to_compile_error());
    let private = quote!(#krate::__private);
    // A route no event has and no other handler shares (the function's own name).
    let name = item.sig.ident.to_string();
    let inert = registration(
        krate,
        item,
        &quote! {
            const NAME: &'static ::core::primitive::str = #name;
            const CATEGORY: &'static ::core::primitive::str = "";
            const KIND: &'static ::core::primitive::str = #name;
            const ROUTE_KEY: ::core::primitive::u16 = #private::BY_NAME;
            type Payload = ();
            type State = ();
            fn take(event: #private::Event) -> #private::Result<(), #private::Taken> {
                #private::Err(#private::Taken::NotMine(event))
            }
            fn call(_: (), _: ()) -> impl #private::Future<Output = #private::Result<(), #private::BoxError>> + #private::Send + 'static {
                async { #private::Ok(()) }
            }
        },
    );
    // A method (`self` receiver) sits in an `impl` block, where the registration cannot go.
    let in_impl = matches!(item.sig.inputs.first(), Some(syn::FnArg::Receiver(_)));
    let inert = (!in_impl).then_some(inert);
    quote! {
        #item
        #inert
        #errors
    }
}

pub(crate) fn not_a_function(item: TokenStream, mut errors: Errors) -> TokenStream {
    let (span, what) = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(s)) => (s.struct_token.span(), "a struct"),
        Ok(syn::Item::Enum(e)) => (e.enum_token.span(), "an enum"),
        Ok(syn::Item::Mod(m)) => (m.mod_token.span(), "a module"),
        Ok(syn::Item::Impl(i)) => (i.impl_token.span(), "an impl block"),
        Ok(syn::Item::Const(c)) => (c.const_token.span(), "a const"),
        Ok(syn::Item::Static(s)) => (s.static_token.span(), "a static"),
        Ok(syn::Item::Trait(t)) => (t.trait_token.span(), "a trait"),
        Ok(syn::Item::Type(t)) => (t.type_token.span(), "a type alias"),
        Ok(syn::Item::Use(u)) => (u.use_token.span(), "a `use`"),
        _ => (item.span(), "this item"),
    };
    errors.at(
        span,
        format!("`#[on_event]` applies to handler functions, not to {what}"),
    );
    let errors = errors.finish().map(|e| e.to_compile_error());
    quote! {
        #item
        #errors
    }
}
