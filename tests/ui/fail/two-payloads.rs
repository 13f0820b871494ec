use roamify_hooks::events::PartnerBalance;
use roamify_hooks::on_event;

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance, _again: PartnerBalance) {}

fn main() {}
