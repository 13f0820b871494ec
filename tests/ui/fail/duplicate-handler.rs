use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{handlers, on_event, Receiver, Secret};

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance) {}

mod alerts {
    use super::*;

    #[on_event(category = "partner", kind = "low_balance")]
    pub(crate) fn page_on_call(_event: PartnerBalance) {}
}

fn main() {
    let _ = Receiver::builder()
        .secret(Secret::new("whsec").unwrap())
        .build(handlers![low_balance, alerts::page_on_call]);
}
