// A local module named like the crate does not capture the expansion's `::roamify_hooks` paths.
#![allow(dead_code)]

mod roamify_hooks {
    pub mod __private {}
}

use ::roamify_hooks::events::EsimStatus;
use ::roamify_hooks::{handlers, on_event, Receiver, Secret};

#[on_event(category = "esim", kind = "status")]
fn status(_event: EsimStatus) {}

fn main() {
    let receiver = Receiver::builder().secret(Secret::new("whsec").unwrap()).build(handlers![status]);
    assert!(receiver.is_ok());
}
