// Every mistake is reported at once, and a table listing a broken handler adds no error.
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{handlers, on_event, Receiver, Secret};

#[on_event(category = "partnr", kind = 7, colour = "red")]
fn low_balance(_event: PartnerBalance) {}

fn main() {
    let _ = Receiver::builder().secret(Secret::new("whsec").unwrap()).build(handlers![low_balance]);
}
