//! The macro crate validates `#[on_event]` against its own copy of the catalog's names; this test
//! proves that copy and the runtime's catalog agree.

use roamify_hooks::{CATALOG, EventKind};

#[test]
fn catalog_agrees_with_macro_crate() {
    let macro_catalog: &[(&str, &str, &[&str], &str, &str)] = roamify_hooks_macros::__catalog!();
    assert_eq!(macro_catalog.len(), CATALOG.len());
    for (entry, (category, name, aliases, ident, payload)) in CATALOG.iter().zip(macro_catalog) {
        assert_eq!(entry.category, *category);
        assert_eq!(entry.name, *name);
        assert_eq!(entry.aliases, *aliases);
        assert_eq!(
            format!("{:?}", entry.kind),
            *ident,
            "EventKind variant / marker name"
        );
        assert_eq!(entry.payload, *payload);
    }
}

#[test]
fn catalog_is_consistent() {
    assert_eq!(CATALOG.len(), EventKind::ALL.len());
    for (entry, kind) in CATALOG.iter().zip(EventKind::ALL) {
        assert_eq!(entry.kind, *kind);
        assert_eq!(
            EventKind::from_wire(entry.category, entry.name),
            Some(*kind)
        );
        for alias in entry.aliases {
            assert_eq!(EventKind::from_wire(entry.category, alias), Some(*kind));
        }
        assert_eq!((kind.category(), kind.name()), (entry.category, entry.name));
    }
    assert_eq!(EventKind::from_wire("esim", "topup"), None);
}
