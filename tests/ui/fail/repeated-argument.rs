use roamify_hooks::events::PartnerBalance;
use roamify_hooks::on_event;

#[on_event(category = "partner", kind = "low_balance", category = "partner")]
fn low_balance(_event: PartnerBalance) {}

fn main() {}
