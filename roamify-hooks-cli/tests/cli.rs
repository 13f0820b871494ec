//! The `roamify-hooks` binary end to end: a durable receiver served over HTTP on loopback whose
//! handler fails for chosen deliveries; the binary sends deliveries to it, lists the dead letter
//! they became, replays one once the failure is switched off (the handler then runs once),
//! discards another, reports the store's counts, and checks signatures.

use roamify_hooks::delivery::Incoming;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{App, HttpServer};
use roamify_hooks::delivery::{QueueOptions, RetryPolicy};
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{Receiver, Secret, State, delivery::DeliveryMode, handlers, on_event};

const SECRET: &str = "whsec_cli";

/// Whether handlers fail, and the balances they ran for.
#[derive(Default)]
struct Switch {
    failing: AtomicBool,
    ran: Mutex<Vec<String>>,
}

#[on_event(category = "partner", kind = "top_up")]
async fn top_up(event: PartnerBalance, switch: State<Switch>) -> Result<(), String> {
    if switch.failing.load(Ordering::SeqCst) {
        return Err(format!("ledger unavailable for {}", event.balance));
    }
    switch
        .ran
        .lock()
        .map_err(|e| e.to_string())?
        .push(event.balance.to_string());
    Ok(())
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roamify-hooks"))
        .args(args)
        .env_remove("ROAMIFY_DELIVERY")
        .env_remove("ROAMIFY_WEBHOOK_SECRET")
        .output()
        .expect("run roamify-hooks")
}

/// [`cli`] off the test's thread, which must keep serving the HTTP server meanwhile.
async fn cli_async(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&args)
    })
    .await
    .expect("the binary's thread")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn body(balance: &str) -> String {
    format!(
        r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":1700000000,"balance":{balance},"currency":"EUR"}}}}"#
    )
}

/// Sends `body` through the binary; returns the status it printed.
async fn send(url: &str, file: &Path, body: &str) -> String {
    std::fs::write(file, body).expect("write the body");
    let path = file.to_str().expect("utf-8 path");
    let sent = cli_async(&["send", path, "--url", url, "--secret", SECRET]).await;
    assert!(sent.status.success(), "send: {sent:?}");
    stdout(&sent)
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting: {what}");
}

async fn dead_keys(store: &str) -> Vec<(String, String, String)> {
    let listed = cli_async(&["dead-letters", "list", "--json", "--store", store]).await;
    assert!(listed.status.success(), "list: {listed:?}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&listed.stdout).expect("list --json prints JSON");
    rows.iter()
        .map(|row| {
            let field = |name: &str| row[name].as_str().unwrap_or_default().to_owned();
            (field("key"), field("event"), field("error"))
        })
        .collect()
}

/// A durable receiver on `db` whose handler fails while its switch is on (it starts on), one
/// attempt allowed (a failure is a dead letter at once), served over HTTP on loopback: the
/// receiver, its switch, the webhook's URL and the server's handle.
fn serve_failing(
    db: &Path,
) -> (
    Receiver<impl roamify_hooks::Dispatch>,
    std::sync::Arc<Switch>,
    String,
    actix_web::dev::ServerHandle,
) {
    let switch = std::sync::Arc::new(Switch::default());
    switch.failing.store(true, Ordering::SeqCst);
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(switch.clone())
        .delivery(DeliveryMode::Durable {
            path: db.to_owned(),
            options: QueueOptions::default().retry(RetryPolicy::new(
                1,
                Duration::from_millis(10),
                Duration::from_millis(10),
            )),
        })
        .build(handlers![top_up])
        .expect("build");
    let server = {
        let receiver = receiver.clone();
        HttpServer::new(move || {
            App::new().service(roamify_hooks_actix::webhook(
                "/webhooks/roamify",
                receiver.clone(),
            ))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind")
    };
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (
        receiver,
        switch,
        format!("http://{addr}/webhooks/roamify"),
        handle,
    )
}

#[actix_web::test]
async fn dead_letters_are_listed_replayed_discarded_and_counted_by_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("deliveries.sqlite");
    let store = format!("durable:{}", db.display());
    let (receiver, switch, url, handle) = serve_failing(&db);

    // Two deliveries fail for good (one attempt allowed) and become dead letters.
    let file = dir.path().join("body.json");
    assert!(send(&url, &file, &body("1.11")).await.starts_with("200 "));
    assert!(send(&url, &file, &body("2.22")).await.starts_with("200 "));
    let r = receiver.clone();
    let mut dead = Vec::new();
    for _ in 0..1000 {
        dead = r.dead_letters().await.expect("dead letters");
        if dead.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead.len(), 2, "both deliveries died");

    // The binary lists them from the file, with event and cause.
    let listed = dead_keys(&store).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (_, event, error) in &listed {
        assert_eq!(event, "partner.top_up");
        assert!(error.contains("ledger unavailable for"), "{error}");
    }
    let table = stdout(&cli_async(&["dead-letters", "list", "--store", &store]).await);
    assert!(table.contains("2 dead letters"), "{table}");
    let (first, second) = {
        let key_of = |balance: &str| {
            listed
                .iter()
                .find(|(_, _, e)| e.ends_with(balance))
                .map(|(k, _, _)| k.clone())
                .expect("a dead letter for each balance")
        };
        (key_of("1.11"), key_of("2.22"))
    };
    let shown = cli(&["dead-letters", "show", &first[..12], "--store", &store]);
    assert!(shown.status.success(), "show by prefix: {shown:?}");
    assert!(
        stdout(&shown).contains("\"balance\": 1.11"),
        "{}",
        stdout(&shown)
    );

    // The bug is fixed: the replayed delivery runs once, in the running server.
    switch.failing.store(false, Ordering::SeqCst);
    let replayed = cli_async(&["dead-letters", "replay", &first, "--store", &store]).await;
    assert!(replayed.status.success(), "replay: {replayed:?}");
    assert!(
        stdout(&replayed).contains("replayed 1 of 1"),
        "{}",
        stdout(&replayed)
    );
    eventually("the replayed delivery ran", || {
        switch.ran.lock().map(|r| r.len() == 1).unwrap_or(false)
    })
    .await;
    assert_eq!(*switch.ran.lock().expect("lock"), ["1.11"]);

    // Discard asks for confirmation when not told --yes (and refuses without a terminal).
    let refused = cli_async(&["dead-letters", "discard", &second, "--store", &store]).await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    let discarded = cli_async(&[
        "dead-letters",
        "discard",
        &second,
        "--yes",
        "--store",
        &store,
    ])
    .await;
    assert!(discarded.status.success(), "discard: {discarded:?}");
    assert!(dead_keys(&store).await.is_empty(), "no dead letters left");
    let missing = cli_async(&["dead-letters", "replay", &second, "--store", &store]).await;
    assert_eq!(missing.status.code(), Some(1), "a discarded letter is gone");

    // The counts come from the store: nothing pending, nothing dead.
    let stats = cli_async(&["stats", "--json", "--store", &store]).await;
    assert!(stats.status.success(), "stats: {stats:?}");
    let counts: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("JSON");
    assert_eq!(counts["dead"], 0, "{counts}");
    assert_eq!(counts["pending"], 0, "{counts}");
    // Only the replayed delivery ran; the discarded one never did.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*switch.ran.lock().expect("lock"), ["1.11"]);

    handle.stop(true).await;
    receiver.shutdown(Duration::from_secs(5));
}

/// `send --set` changes one field of a sample (the server receives the changed value, every
/// other value as written), `send --print` shows the body without sending it, and
/// `dead-letters show` prints the stored body with its values exactly as received (`-5.00`, not
/// the `-5.0` a JSON parser would print), byte for byte with `--raw`.
#[actix_web::test]
async fn send_changes_a_field_and_show_prints_the_stored_bytes_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("deliveries.sqlite");
    let store = format!("durable:{}", db.display());
    let (receiver, switch, url, handle) = serve_failing(&db);

    // Printed, not sent: the sample with its balance changed, the rest as the sample has it.
    let set = [
        "--set",
        "data.balance=-5.00",
        "--set",
        "data.note=refund pending",
    ];
    let mut args = vec!["send", "partner.top_up", "--print"];
    args.extend(set);
    let printed = cli_async(&args).await;
    assert!(printed.status.success(), "print: {printed:?}");
    let body = printed.stdout.clone();
    let text = String::from_utf8(body.clone()).expect("utf-8");
    assert!(text.contains(r#""balance":-5.00"#), "{text}");
    assert!(text.contains(r#""note":"refund pending""#), "{text}");
    assert!(
        text.contains("1764205200"),
        "the sample's other values: {text}"
    );
    assert!(switch.ran.lock().expect("lock").is_empty());
    assert!(
        receiver
            .dead_letters()
            .await
            .expect("dead letters")
            .is_empty(),
        "nothing sent"
    );

    // Sent: the handler gets the changed balance (its error names it) and gives up at once.
    let mut args = vec!["send", "partner.top_up", "--url", &url, "--secret", SECRET];
    args.extend(set);
    let sent = cli_async(&args).await;
    assert!(sent.status.success(), "send: {sent:?}");
    let r = receiver.clone();
    let mut dead = Vec::new();
    for _ in 0..1000 {
        dead = r.dead_letters().await.expect("dead letters");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead.len(), 1, "the delivery died");
    assert!(
        dead[0].error.contains("ledger unavailable for -5.00"),
        "{}",
        dead[0].error
    );
    assert_eq!(dead[0].body, body, "the body sent is the body printed");

    // Shown: indented, every value as stored; --raw: the bytes themselves.
    let key = dead[0].key.clone();
    let shown = cli_async(&["dead-letters", "show", &key, "--store", &store]).await;
    assert!(shown.status.success(), "show: {shown:?}");
    let shown = stdout(&shown);
    assert!(shown.contains("\"balance\": -5.00"), "{shown}");
    assert!(
        !shown.contains("-5.0,") && !shown.contains("-5.0\n"),
        "{shown}"
    );
    let raw = cli_async(&["dead-letters", "show", &key, "--raw", "--store", &store]).await;
    assert!(raw.status.success(), "show --raw: {raw:?}");
    assert_eq!(raw.stdout, body, "--raw prints the stored bytes");
    // A path through a plain value is refused with a clear message, nothing sent.
    let refused = cli_async(&[
        "send",
        "partner.top_up",
        "--print",
        "--set",
        "data.balance.x=1",
    ])
    .await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("`data.balance` is neither an object nor an array"),
        "{refused:?}"
    );

    handle.stop(true).await;
    receiver.shutdown(Duration::from_secs(5));
}

/// A journal is read by the binary while its server holds it (lists, shows, counts), and
/// changed (replay) once the server let go of it; while held, a replay says why it cannot.
#[actix_web::test]
async fn a_journal_is_read_while_held_and_changed_once_its_server_let_go_of_it() {
    use roamify_hooks::delivery::{Admin, Enqueued, JournalStore, Queue, Resolution, Settlement};

    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let store_url = format!("journal:{}", journal.display());
    let missing = cli_async(&["stats", "--store", &store_url]).await;
    assert!(!missing.status.success(), "no journal yet: {missing:?}");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no database at"));

    let store = JournalStore::open(&journal).expect("open");
    let window = Duration::from_secs(3600);
    let enqueue = |key: &str, balance: &str| {
        store.enqueue(Incoming::new(key.to_owned(), body(balance).into_bytes()))
    };
    assert_eq!(
        enqueue("dead-1", "3.33").await.expect("enqueue"),
        Enqueued::Stored
    );
    let job = store.lease(1, window).await.expect("lease").remove(0);
    let dead = Resolution::Dead {
        error: "ledger unavailable".to_owned(),
    };
    let settled = store.settle(vec![Settlement::new(&job, dead)]).await;
    assert_eq!(settled.expect("settle"), [true]);

    // Outcomes are flushed with the next group: this delivery's answer waits for the burial.
    assert_eq!(
        enqueue("fresh", "4.44").await.expect("enqueue"),
        Enqueued::Stored
    );

    let held = dead_keys(&store_url).await;
    assert_eq!(held.len(), 1, "read while held: {held:?}");
    assert_eq!(held[0].0, "dead-1");
    assert_eq!(held[0].2, "ledger unavailable");
    let shown = cli_async(&["dead-letters", "show", "dead", "--store", &store_url]).await;
    assert!(shown.status.success(), "show while held: {shown:?}");
    assert!(stdout(&shown).contains("ledger unavailable"), "{shown:?}");
    assert!(stdout(&shown).contains("3.33"), "the body: {shown:?}");
    let stats = cli_async(&["stats", "--json", "--store", &store_url]).await;
    assert!(stats.status.success(), "stats while held: {stats:?}");
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stats json");
    assert_eq!(
        (stats["ready"].as_u64(), stats["dead"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    let refused = cli_async(&["dead-letters", "replay", "dead-1", "--store", &store_url]).await;
    assert!(!refused.status.success(), "replay while held: {refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("stop its server first"), "{said}");
    assert!(
        said.contains("in use by another process"),
        "the cause: {said}"
    );
    drop(store);

    let listed = dead_keys(&store_url).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].0, "dead-1");
    assert_eq!(listed[0].2, "ledger unavailable");
    let replayed = cli_async(&["dead-letters", "replay", "dead-1", "--store", &store_url]).await;
    assert!(replayed.status.success(), "replay: {replayed:?}");
    let store = JournalStore::open(&journal).expect("reopen");
    assert!(store.dead_letters().await.expect("dead letters").is_empty());
    assert_eq!(
        store.counts().await.expect("counts").pending(),
        2,
        "replayed, waiting to run beside the fresh one"
    );
    drop(store);

    // A journal that fails to open for another reason (a segment file replaced by a
    // directory) says so, without blaming a server.
    std::fs::remove_file(journal.join("journal.1")).expect("remove a segment");
    std::fs::create_dir(journal.join("journal.1")).expect("a directory in its place");
    let broken = cli_async(&["dead-letters", "replay", "dead-1", "--store", &store_url]).await;
    assert!(!broken.status.success(), "replay: {broken:?}");
    let said = String::from_utf8_lossy(&broken.stderr);
    assert!(!said.contains("stop its server"), "{said}");
    assert!(said.contains("journal.1"), "names the file: {said}");
}

#[test]
fn verify_accepts_a_right_signature_and_explains_a_wrong_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("captured.json");
    let sent = body("9.99");
    let signature = roamify_hooks::testing::sign(SECRET, sent.as_bytes());
    let path = file.to_str().expect("utf-8 path");

    let check = |secret: &str, signature: &str, content: &str, code: i32, says: &str| {
        std::fs::write(&file, content).expect("write");
        let checked = cli(&["verify", "--secret", secret, "--signature", signature, path]);
        assert_eq!(checked.status.code(), Some(code), "{checked:?}");
        assert!(stdout(&checked).contains(says), "{}", stdout(&checked));
    };
    check(SECRET, &signature, &sent, 0, "valid: the signature matches");
    // Saved by an editor: a final newline.
    check(SECRET, &signature, &format!("{sent}\n"), 1, "newline");
    // Pretty-printed (keys in their order) before it was checked.
    let pretty = "{\n  \"event_category\": \"partner\",\n  \"event_type\": \"top_up\",\n  \"data\": {\n    \"timestamp\": 1700000000,\n    \"balance\": 9.99,\n    \"currency\": \"EUR\"\n  }\n}\n";
    check(SECRET, &signature, pretty, 1, "reformatted");
    // A secret pasted with a newline, and another environment's secret.
    check(&format!("{SECRET}\n"), &signature, &sent, 1, "whitespace");
    check(
        "whsec_other",
        &signature,
        &sent,
        1,
        "the secret is not the one",
    );
    // Not a signature at all.
    check(SECRET, "xyz", &sent, 1, "64 hex");
}
