//! Parsing `#[on_event(…)]`'s arguments into a typed struct, collecting every mistake.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Path};

use crate::suggest;

/// The attribute's arguments, each with the span of its key for later errors.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) category: Option<LitStr>,
    pub(crate) kind: Option<LitStr>,
    pub(crate) uncatalogued: Option<Span>,
    pub(crate) fallback: Option<Span>,
    pub(crate) krate: Option<Path>,
    /// `ordering = "off" | "latest" | "serial"`, checked.
    pub(crate) ordering: Option<LitStr>,
    /// Keys that were given, valid or not, or suggested for a misspelled key: a key in this list
    /// is not reported as missing (its own error says enough).
    pub(crate) mentioned: Vec<&'static str>,
}

const VALID: &[&str] = &[
    "category",
    "kind",
    "uncatalogued",
    "fallback",
    "ordering",
    "crate",
];

/// The values `ordering` takes.
pub(crate) const ORDERINGS: &[&str] = &["off", "latest", "serial"];

/// Collects errors so one compile shows every mistake.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish(self) -> Option<syn::Error> {
        self.0
    }
}

/// Sets `slot` once; a repeated key is reported on the repeated key.
fn set<T>(slot: &mut Option<T>, value: T, key: &Path, errors: &mut Errors) {
    if slot.is_some() {
        let name = key
            .get_ident()
            .map_or_else(|| "argument".to_owned(), ToString::to_string);
        errors.at(
            key.span(),
            format!("duplicate argument `{name}`: give it once"),
        );
    } else {
        *slot = Some(value);
    }
}

pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.clone();
        let name = key.get_ident().map(ToString::to_string).unwrap_or_default();
        if let Some(known) = VALID.iter().find(|v| **v == name) {
            args.mentioned.push(known);
        }
        match name.as_str() {
            "category" | "kind" => {
                let value: Expr = meta.value()?.parse()?;
                match value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(lit), ..
                    }) => {
                        let slot = if name == "category" {
                            &mut args.category
                        } else {
                            &mut args.kind
                        };
                        set(slot, lit, &key, errors);
                    }
                    other => errors.at(
                        other.span(),
                        format!(
                            "`{name}` takes a string literal, like `{name} = \"{}\"`",
                            if name == "category" {
                                "partner"
                            } else {
                                "low_balance"
                            }
                        ),
                    ),
                }
            }
            "uncatalogued" | "fallback" => {
                if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                    let rest: TokenStream = meta.input.parse()?;
                    errors.at(
                        rest.span(),
                        format!("`{name}` is a flag and takes no value"),
                    );
                    return Ok(());
                }
                let slot = if name == "uncatalogued" {
                    &mut args.uncatalogued
                } else {
                    &mut args.fallback
                };
                set(slot, key.span(), &key, errors);
            }
            "ordering" => {
                let value: Expr = meta.value()?.parse()?;
                match value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(lit), ..
                    }) if ORDERINGS.contains(&lit.value().as_str()) => {
                        set(&mut args.ordering, lit, &key, errors);
                    }
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(lit), ..
                    }) => {
                        let given = lit.value();
                        errors.at(
                            lit.span(),
                            format!(
                                "unknown ordering `{given}`{}\nvalid orderings: {}",
                                suggest::did_you_mean(&given, ORDERINGS),
                                suggest::list(ORDERINGS)
                            ),
                        );
                    }
                    other => errors.at(
                        other.span(),
                        "`ordering` takes a string literal: `ordering = \"latest\"` (or \"serial\", \"off\")",
                    ),
                }
            }
            "crate" => {
                let value: Expr = meta.value()?.parse()?;
                match crate_path(&value) {
                    Ok(path) => set(&mut args.krate, path, &key, errors),
                    Err(e) => errors.push(e),
                }
            }
            _ => {
                let shown = if name.is_empty() {
                    quote::quote!(#key).to_string().replace(' ', "")
                } else {
                    name.clone()
                };
                if let Some(meant) = suggest::nearest(&shown, VALID) {
                    args.mentioned.push(meant);
                }
                errors.at(
                    key.span(),
                    format!(
                        "unknown argument `{shown}`{}\nvalid arguments: {}",
                        suggest::did_you_mean(&shown, VALID),
                        suggest::list(VALID)
                    ),
                );
                // Skip the value, if any, so the next argument still gets checked.
                if meta.input.peek(syn::Token![=]) {
                    let _: Expr = meta.value()?.parse()?;
                }
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(tokens) {
        errors.push(e);
    }
    args
}

/// `crate = path` or `crate = "path"` (serde's spelling).
pub(crate) fn crate_path(value: &Expr) -> syn::Result<Path> {
    let bad = |span| {
        syn::Error::new(
            span,
            "`crate` takes the path this SDK is re-exported at, like `crate = ::my_sdk::roamify_hooks`",
        )
    };
    let path = match value {
        Expr::Path(p) if p.qself.is_none() => p.path.clone(),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => s.parse::<Path>().map_err(|_| bad(s.span()))?,
        other => return Err(bad(other.span())),
    };
    if path.segments.iter().any(|s| !s.arguments.is_none()) {
        return Err(bad(path.span()));
    }
    Ok(path)
}
