// Generated code names only absolute paths: shadowing prelude names changes nothing.
#![allow(dead_code, non_camel_case_types)]

use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{handlers, on_event, Receiver, Secret};

type Result<T> = std::result::Result<T, ()>;
struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Box;
struct Send;
struct Future;
struct u16;
struct str;
struct bool;

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance) -> std::result::Result<(), std::io::Error> {
    std::result::Result::Ok(())
}

#[on_event(category = "partner", kind = "top_up")]
async fn top_up(_event: PartnerBalance) {}

fn main() {
    let _: Result<()> = std::result::Result::Ok(());
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec").unwrap())
        .build(handlers![low_balance, top_up]);
    assert!(receiver.is_ok());
}
