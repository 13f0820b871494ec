// Handlers live in other modules; the table names them by path or through `use`.
mod esim {
    use roamify_hooks::events::{EsimStatus, EsimUsage};
    use roamify_hooks::on_event;

    #[on_event(category = "esim", kind = "usage")]
    pub fn usage(_event: EsimUsage) {}

    pub mod nested {
        use roamify_hooks::events::EsimStatus as Status;
        use roamify_hooks::on_event;

        #[on_event(category = "esim", kind = "status")]
        pub fn status(_event: Status) {}
    }

    pub fn unrelated(_: EsimStatus) {}
}

mod partner {
    use roamify_hooks::events::PartnerBalance;
    use roamify_hooks::on_event;

    #[on_event(category = "partner", kind = "low_balance")]
    pub fn low_balance(_event: PartnerBalance) {}
}

use partner::low_balance;
use roamify_hooks::{handlers, Receiver, Secret};

fn main() {
    let _ = esim::unrelated;
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec").unwrap())
        .build(handlers![esim::usage, crate::esim::nested::status, low_balance]);
    assert!(receiver.is_ok());
}
