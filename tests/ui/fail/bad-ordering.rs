use roamify_hooks::events::{EsimStatus, EsimUsage, PartnerBalance};
use roamify_hooks::{on_event, Event};

#[on_event(category = "esim", kind = "status", ordering = "newest")]
fn status(_event: EsimStatus) {}

#[on_event(category = "esim", kind = "usage", ordering = serial)]
fn usage(_event: EsimUsage) {}

#[on_event(category = "partner", kind = "top_up", ordering = "latest", ordering = "off")]
fn top_up(_event: PartnerBalance) {}

#[on_event(fallback, ordering = "latest")]
fn everything_else(_event: Event) {}

fn main() {}
