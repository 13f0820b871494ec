use roamify_hooks::on_event;

#[on_event(category = "partner", kind = "low_balance")]
struct LowBalance;

fn main() {
    let _ = LowBalance;
}
