use roamify_hooks::{handlers, on_event, Receiver, Secret, UnknownEvent};

#[on_event(fallback)]
fn unknown(_event: UnknownEvent) {}

fn main() {
    let _ = Receiver::builder().secret(Secret::new("whsec").unwrap()).build(handlers![unknown]);
}
