//! Checking the attribute's event against the catalog.

use proc_macro2::Span;
use syn::LitStr;

use crate::attr::{Args, Errors};
use crate::catalog::{self, Entry};
use crate::suggest;

/// Where the handler is routed.
pub(crate) enum Route {
    /// A catalog event.
    Catalog(&'static Entry),
    /// An event Roamify added after this release (`uncatalogued`).
    Uncatalogued { category: LitStr, kind: LitStr },
    /// Every unknown event without a handler (`fallback`).
    Fallback,
}

impl Route {
    /// How the payload argument looks, for messages.
    pub(crate) fn example_argument(&self) -> String {
        match self {
            Route::Catalog(e) => format!("event: {}", e.payload),
            Route::Uncatalogued { .. } => "event: MyPayload".to_owned(),
            Route::Fallback => "event: UnknownEvent".to_owned(),
        }
    }
}

pub(crate) fn route(args: &Args, errors: &mut Errors) -> Option<Route> {
    if let Some(fallback) = args.fallback {
        let mut ok = true;
        for (present, name) in [
            (args.category.as_ref().map(LitStr::span), "category"),
            (args.kind.as_ref().map(LitStr::span), "kind"),
            (args.uncatalogued, "uncatalogued"),
        ] {
            if let Some(span) = present {
                errors.at(
                    span,
                    format!("a `fallback` handler receives every unknown event: remove `{name}`"),
                );
                ok = false;
            }
        }
        if let Some(ordering) = &args.ordering {
            errors.at(
                ordering.span(),
                "a `fallback` handler receives events of many kinds, and ordering is per kind: remove `ordering` (give an uncatalogued kind its own handler to order it)",
            );
            ok = false;
        }
        let _ = fallback;
        return ok.then_some(Route::Fallback);
    }
    let categories = catalog::categories();
    let missing = |name: &str| !args.mentioned.contains(&name);
    let (Some(category), Some(kind)) = (&args.category, &args.kind) else {
        if args.category.is_none() && missing("category") {
            errors.at(
                Span::call_site(),
                format!(
                    "missing `category = \"…\"`; valid categories: {}",
                    suggest::list(&categories)
                ),
            );
        }
        if let Some(category) = &args.category {
            let name = category.value();
            if args.uncatalogued.is_none() && !categories.contains(&name.as_str()) {
                unknown_category(category, &categories, errors);
            } else if missing("kind") {
                let kinds = catalog::kinds(&name);
                let valid = if kinds.is_empty() {
                    String::new()
                } else {
                    format!("; kinds of `{name}`: {}", suggest::list(&kinds))
                };
                errors.at(Span::call_site(), format!("missing `kind = \"…\"`{valid}"));
            }
        } else if args.kind.is_none() && missing("kind") {
            errors.at(Span::call_site(), "missing `kind = \"…\"`");
        }
        return None;
    };
    let category_name = category.value();
    let kind_name = kind.value();

    if let Some(flag) = args.uncatalogued {
        if category_name.is_empty() || kind_name.is_empty() {
            errors.at(
                if category_name.is_empty() {
                    category.span()
                } else {
                    kind.span()
                },
                "event names cannot be empty",
            );
            return None;
        }
        let known = catalog::CATALOG.iter().find(|e| {
            e.category == category_name
                && (e.kind == kind_name || e.aliases.contains(&kind_name.as_str()))
        });
        if let Some(entry) = known {
            errors.at(
                flag,
                format!(
                    "`{}`/`{}` is in the catalog: remove `uncatalogued` and take its typed payload `{}`",
                    entry.category, entry.kind, entry.payload
                ),
            );
            return None;
        }
        return Some(Route::Uncatalogued {
            category: category.clone(),
            kind: kind.clone(),
        });
    }

    if !categories.contains(&category_name.as_str()) {
        unknown_category(category, &categories, errors);
        return None;
    }
    if let Some(entry) = catalog::find(&category_name, &kind_name) {
        return Some(Route::Catalog(entry));
    }
    let kinds = catalog::kinds(&category_name);
    if let Some(entry) = catalog::CATALOG
        .iter()
        .find(|e| e.category == category_name && e.aliases.contains(&kind_name.as_str()))
    {
        errors.at(
            kind.span(),
            format!(
                "`{kind_name}` is the legacy wire spelling of `{}`: write `kind = \"{}\"`; deliveries spelled `{kind_name}` are routed to it as well",
                entry.kind, entry.kind
            ),
        );
        return None;
    }
    errors.at(
        kind.span(),
        format!(
            "unknown kind `{kind_name}` for category `{category_name}`{}\nkinds of `{category_name}`: {}\nfor an event Roamify added after this release, add `uncatalogued`",
            suggest::did_you_mean(&kind_name, &kinds),
            suggest::list(&kinds),
        ),
    );
    None
}

fn unknown_category(category: &LitStr, categories: &[&str], errors: &mut Errors) {
    let name = category.value();
    errors.at(
        category.span(),
        format!(
            "unknown Roamify event category `{name}`{}\nvalid categories: {}\nfor an event Roamify added after this release, add `uncatalogued`",
            suggest::did_you_mean(&name, categories),
            suggest::list(categories),
        ),
    );
}
