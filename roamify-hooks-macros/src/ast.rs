//! Reading a handler's signature: payload argument, optional state argument, async-ness and
//! return type. Every unsupported shape is an error on its own tokens.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::attr::Errors;

/// What the expansion needs to know about the handler function.
pub(crate) struct HandlerFn<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) payload: &'a Type,
    pub(crate) state: Option<&'a Type>,
    pub(crate) output: Option<&'a Type>,
}

pub(crate) fn read<'a>(
    item: &'a ItemFn,
    example: &str,
    errors: &mut Errors,
) -> Option<HandlerFn<'a>> {
    let sig = &item.sig;
    let mut ok = true;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.at(
            sig.generics.span(),
            "a handler cannot be generic: each event is dispatched to one concrete function, so write the payload and state types out",
        );
        ok = false;
    }
    if sig.constness.is_some() {
        errors.at(sig.constness.span(), "a handler cannot be a `const fn`");
        ok = false;
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        errors.at(
            token.span(),
            "a handler cannot be `unsafe`: the dispatch table calls it like any safe function",
        );
        ok = false;
    }
    if let Some(abi) = &sig.abi {
        errors.at(abi.span(), "a handler cannot have an `extern` ABI");
        ok = false;
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic.span(), "a handler cannot be variadic");
        ok = false;
    }
    let mut typed = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => {
                errors.at(
                    receiver.span(),
                    "a handler is a free function and cannot take `self`; move it out of the `impl` block and pass what it needs as `State<T>`",
                );
                ok = false;
            }
            FnArg::Typed(pat) => typed.push(&*pat.ty),
        }
    }
    if typed.len() > 2 {
        for extra in &typed[2..] {
            errors.at(
                extra.span(),
                "too many arguments: a handler takes the payload and, optionally, `State<T>`",
            );
        }
        ok = false;
    }
    for (index, ty) in typed.iter().take(2).enumerate() {
        if let Type::Reference(reference) = ty {
            let message = if index == 0 {
                "a handler takes its payload by value: drop the `&`".to_owned()
            } else {
                let inner = &reference.elem;
                format!(
                    "a handler takes state as `State<T>`, not a reference: write `State<{}>`",
                    quote::quote!(#inner)
                )
            };
            errors.at(reference.and_token.span(), message);
            ok = false;
        }
    }
    let payload = typed.first().copied();
    if payload.is_none() && ok {
        errors.at(
            sig.paren_token.span.join(),
            format!("a handler takes the event's payload as its first argument, like `fn {}({example})`", sig.ident),
        );
        ok = false;
    }
    let output = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty),
    };
    let payload = payload?;
    ok.then(|| HandlerFn {
        item,
        payload,
        state: typed.get(1).copied(),
        output,
    })
}
