use roamify_hooks::events::EsimUsage;
use roamify_hooks::on_event;

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: EsimUsage) {}

fn main() {}
