use roamify_hooks::on_event;

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance<T: std::fmt::Debug>(event: T) {
    println!("{event:?}");
}

fn main() {}
