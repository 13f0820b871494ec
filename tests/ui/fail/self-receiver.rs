use roamify_hooks::events::PartnerBalance;
use roamify_hooks::on_event;

struct Service;

impl Service {
    #[on_event(category = "partner", kind = "low_balance")]
    fn low_balance(&self, _event: PartnerBalance) {}
}

fn main() {}
