//! The event names the attribute accepts. The runtime's catalog is the source of truth; its test
//! `catalog_agrees_with_macro_crate` fails when this copy differs.

/// One documented event.
pub(crate) struct Entry {
    pub(crate) category: &'static str,
    pub(crate) kind: &'static str,
    /// Legacy wire spellings of `kind`.
    pub(crate) aliases: &'static [&'static str],
    /// The runtime's `EventKind` variant, marker type and payload-check trait name.
    pub(crate) ident: &'static str,
    /// The payload type's name in `roamify_hooks::events`, for error messages.
    pub(crate) payload: &'static str,
}

pub(crate) const CATALOG: &[Entry] = &[
    Entry {
        category: "esim",
        kind: "usage",
        aliases: &["esim_usage"],
        ident: "EsimUsage",
        payload: "EsimUsage",
    },
    Entry {
        category: "esim",
        kind: "status",
        aliases: &["esim_status"],
        ident: "EsimStatus",
        payload: "EsimStatus",
    },
    Entry {
        category: "partner",
        kind: "low_balance",
        aliases: &[],
        ident: "PartnerLowBalance",
        payload: "PartnerBalance",
    },
    Entry {
        category: "partner",
        kind: "insufficient_balance",
        aliases: &[],
        ident: "PartnerInsufficientBalance",
        payload: "PartnerBalance",
    },
    Entry {
        category: "partner",
        kind: "top_up",
        aliases: &[],
        ident: "PartnerTopUp",
        payload: "PartnerBalance",
    },
    Entry {
        category: "affiliate",
        kind: "order",
        aliases: &[],
        ident: "AffiliateOrder",
        payload: "AffiliateOrder",
    },
    Entry {
        category: "refund",
        kind: "refunded",
        aliases: &[],
        ident: "RefundRefunded",
        payload: "Refund",
    },
    Entry {
        category: "refund",
        kind: "rejected",
        aliases: &[],
        ident: "RefundRejected",
        payload: "Refund",
    },
];

/// The categories, in catalog order, without repeats.
pub(crate) fn categories() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for e in CATALOG {
        if !out.contains(&e.category) {
            out.push(e.category);
        }
    }
    out
}

/// The kinds of `category`, in catalog order.
pub(crate) fn kinds(category: &str) -> Vec<&'static str> {
    CATALOG
        .iter()
        .filter(|e| e.category == category)
        .map(|e| e.kind)
        .collect()
}

pub(crate) fn find(category: &str, kind: &str) -> Option<&'static Entry> {
    CATALOG
        .iter()
        .find(|e| e.category == category && e.kind == kind)
}

/// `&[(category, kind, &[aliases], ident, payload)]`.
pub(crate) fn as_literal() -> proc_macro2::TokenStream {
    let rows = CATALOG.iter().map(|e| {
        let (category, kind, aliases, ident, payload) =
            (e.category, e.kind, e.aliases, e.ident, e.payload);
        quote::quote! { (#category, #kind, &[#(#aliases),*] as &[&str], #ident, #payload) }
    });
    quote::quote! { &[#(#rows),*] }
}
