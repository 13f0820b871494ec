use roamify_hooks::events::EsimUsage;
use roamify_hooks::on_event;

#[on_event(category = "esim", kind = "esim_usage")]
fn usage(_event: EsimUsage) {}

fn main() {}
