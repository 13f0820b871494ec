// Sync and async handlers, returning `()` or `Result<(), E>` with assorted error types.
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance};
use roamify_hooks::{handlers, on_event, BoxError, Receiver, Secret};

#[on_event(category = "esim", kind = "usage")]
fn usage(_event: EsimUsage) {}

#[on_event(category = "esim", kind = "status")]
async fn status(_event: EsimStatus) {}

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance) -> Result<(), std::io::Error> {
    Ok(())
}

#[on_event(category = "partner", kind = "top_up")]
async fn top_up(_event: PartnerBalance) -> Result<(), String> {
    Err("not yet".to_owned())
}

#[on_event(category = "affiliate", kind = "order")]
async fn order(event: AffiliateOrder) -> Result<(), BoxError> {
    tokio_like_yield().await;
    if event.order_data.items.is_empty() {
        return Err("empty order".into());
    }
    Ok(())
}

async fn tokio_like_yield() {}

fn main() {
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec").unwrap())
        .build(handlers![usage, status, low_balance, top_up, order,]);
    assert!(receiver.is_ok());
}
