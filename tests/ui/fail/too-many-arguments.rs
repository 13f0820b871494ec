use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{State, on_event};

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance, _state: State<u32>, _extra: u64) {}

fn main() {}
