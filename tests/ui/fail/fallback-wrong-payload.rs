use roamify_hooks::events::PartnerBalance;
use roamify_hooks::on_event;

#[on_event(fallback)]
fn unknown(_event: PartnerBalance) {}

fn main() {}
