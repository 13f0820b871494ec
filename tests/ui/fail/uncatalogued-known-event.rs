use roamify_hooks::events::PartnerBalance;
use roamify_hooks::on_event;

#[on_event(category = "partner", kind = "top_up", uncatalogued)]
fn top_up(_event: PartnerBalance) {}

fn main() {}
