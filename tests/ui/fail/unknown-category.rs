use roamify_hooks::events::PartnerBalance;
use roamify_hooks::on_event;

#[on_event(category = "partnr", kind = "low_balance")]
fn low_balance(_event: PartnerBalance) {}

fn main() {}
