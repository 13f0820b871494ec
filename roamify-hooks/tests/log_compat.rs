//! Where no `tracing` subscriber is installed, the receiver's records reach a `log` logger
//! (env_logger, log4rs…), as actix's `Logger` users expect. In a binary of its own: once any
//! `tracing` subscriber was set in a process, `tracing` stops forwarding to `log`.

use std::sync::Mutex;

use roamify_hooks::events::PartnerBalance;
use roamify_hooks::testing::sign;
use roamify_hooks::{Receiver, Secret, handlers, on_event};

const SECRET: &str = "whsec_logs";

#[on_event(category = "partner", kind = "top_up")]
async fn failing(_: PartnerBalance) -> Result<(), String> {
    Err("the ledger said no".to_owned())
}

fn top_up() -> Vec<u8> {
    br#"{"event_category":"partner","event_type":"top_up","data":{"timestamp":1700000000,"balance":5.00,"currency":"EUR"}}"#.to_vec()
}

#[test]
fn without_a_tracing_subscriber_records_reach_log() {
    struct Collect(Mutex<Vec<String>>);
    impl log::Log for Collect {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let line = format!("{} {}", record.level(), record.args());
                self.0.lock().expect("lock").push(line);
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: std::sync::OnceLock<Collect> = std::sync::OnceLock::new();
    let logger = LOGGER.get_or_init(|| Collect(Mutex::new(Vec::new())));
    log::set_logger(logger).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Warn);

    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![failing])
        .expect("build");
    futures_executor::block_on(receiver.receive([sign(SECRET, top_up())], &top_up()));
    let records = logger.0.lock().expect("lock").clone();
    let failed: Vec<&String> = records
        .iter()
        .filter(|r| r.contains("handler failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{records:#?}");
    assert!(failed[0].starts_with("ERROR"), "{}", failed[0]);
    assert!(failed[0].contains("the ledger said no"), "{}", failed[0]);
}
