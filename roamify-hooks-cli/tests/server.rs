//! The `roamify-hooks` binary against a running server's admin API (`--server`), on a journal
//! store the server holds the whole time: the history searched by ICCID and kind, a filtered
//! dry run, a dead letter replayed by filter and then handled in that server, a kind paused
//! and resumed, and a wrong token refused.

use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{App, HttpServer};
use roamify_hooks::admin::{AdminTokens, DEFAULT_PATH};
use roamify_hooks::delivery::{DeliveryMode, QueueOptions, RetryPolicy};
use roamify_hooks::events::EsimStatus;
use roamify_hooks::{EventKind, Receiver, Secret, State, handlers, on_event, testing};

const SECRET: &str = "whsec_cli_server";
const TOKEN: &str = "cli-server-admin-token-0123";
const ICCID_A: &str = "8991000000000000001";
const ICCID_B: &str = "8992000000000000002";

/// Whether the handler fails, and the ICCIDs it ran for.
#[derive(Default)]
struct Switch {
    failing: AtomicBool,
    ran: Mutex<Vec<String>>,
}

#[on_event(category = "esim", kind = "status")]
async fn status(event: EsimStatus, switch: State<Switch>) -> Result<(), String> {
    if switch.failing.load(Ordering::SeqCst) {
        return Err(format!("carrier timeout for {}", event.iccid));
    }
    switch
        .ran
        .lock()
        .map_err(|e| e.to_string())?
        .push(event.iccid.clone());
    Ok(())
}

/// Runs the binary with `args` against the server at `base` with `token`, off the test's thread.
async fn cli(base: &str, token: &str, args: &[&str]) -> Output {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.extend(["--server".to_owned(), base.to_owned()]);
    let token = token.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_roamify-hooks"))
            .args(&args)
            .env_remove("ROAMIFY_DELIVERY")
            .env("ROAMIFY_ADMIN_TOKEN", token)
            .output()
            .expect("run roamify-hooks")
    })
    .await
    .expect("the binary's thread")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting: {what}");
}

/// Posts a signed esim.status for `iccid` at `timestamp` to the webhook.
async fn deliver(url: &str, iccid: &str, timestamp: i64) {
    let body = testing::sample_with(EventKind::EsimStatus, |v| {
        v["data"]["iccid"] = iccid.into();
        v["data"]["timestamp"] = timestamp.into();
    });
    let signature = testing::sign(SECRET, &body);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answer = reqwest::Client::new()
        .post(url)
        .header("X-Roamify-Signature", signature)
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), 200);
}

#[actix_web::test]
async fn the_binary_operates_a_running_journal_server_through_its_admin_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let switch = std::sync::Arc::new(Switch::default());
    switch.failing.store(true, Ordering::SeqCst);
    let retry = RetryPolicy::new(1, Duration::from_millis(10), Duration::from_millis(10));
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(switch.clone())
        .delivery(DeliveryMode::Journal {
            dir: dir.path().join("journal"),
            options: QueueOptions::default().retry(retry),
        })
        .build(handlers![status])
        .expect("build");
    let api = receiver.admin(AdminTokens::new(TOKEN).expect("token"));
    let server = {
        let receiver = receiver.clone();
        HttpServer::new(move || {
            App::new()
                .service(roamify_hooks_actix::webhook(
                    "/webhooks/roamify",
                    receiver.clone(),
                ))
                .service(roamify_hooks_actix::admin(DEFAULT_PATH, api.clone()))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind")
    };
    let base = format!("http://{}", server.addrs()[0]);
    let webhook = format!("{base}/webhooks/roamify");
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    // Two eSIMs' status deliveries fail for good (one attempt allowed).
    deliver(&webhook, ICCID_A, 1_700_000_001).await;
    deliver(&webhook, ICCID_B, 1_700_000_002).await;
    eventually("both died", async || {
        let listed = cli(&base, TOKEN, &["dead-letters", "list", "--json"]).await;
        serde_json::from_slice::<Vec<serde_json::Value>>(&listed.stdout)
            .is_ok_and(|items| items.len() == 2)
    })
    .await;

    // The history, searched by ICCID: that eSIM's delivery, its key and why it failed.
    let found = cli(
        &base,
        TOKEN,
        &["deliveries", "--iccid", ICCID_A, "--since", "1h"],
    )
    .await;
    assert!(found.status.success(), "{found:?}");
    let table = stdout(&found);
    assert!(
        table.contains(ICCID_A) && !table.contains(ICCID_B),
        "{table}"
    );
    assert!(
        table.contains("dead") && table.contains("carrier timeout"),
        "{table}"
    );
    assert!(table.contains("1 of 1 deliveries"), "{table}");
    let page = cli(&base, TOKEN, &["deliveries", "--iccid", ICCID_A, "--json"]).await;
    let page: serde_json::Value = serde_json::from_slice(&page.stdout).expect("JSON");
    let key = page["items"][0]["key"].as_str().expect("a key").to_owned();

    // A dry run by filter counts and changes nothing.
    let dry = cli(
        &base,
        TOKEN,
        &[
            "dead-letters",
            "replay",
            "--kind",
            "esim.status",
            "--iccid",
            ICCID_A,
            "--dry-run",
        ],
    )
    .await;
    assert!(
        stdout(&dry).contains("would replay 1 dead letters"),
        "{dry:?}"
    );
    assert!(stdout(&dry).contains(&key), "{dry:?}");

    // The bug is fixed; the dead letter is replayed by filter, without stopping the server,
    // and runs there.
    switch.failing.store(false, Ordering::SeqCst);
    let replayed = cli(
        &base,
        TOKEN,
        &[
            "dead-letters",
            "replay",
            "--kind",
            "esim.status",
            "--iccid",
            ICCID_A,
        ],
    )
    .await;
    assert!(replayed.status.success(), "{replayed:?}");
    assert!(
        stdout(&replayed).contains("replayed 1 of 1 dead letters"),
        "{replayed:?}"
    );
    eventually("the replayed delivery ran", async || {
        switch
            .ran
            .lock()
            .is_ok_and(|ran| ran.as_slice() == [ICCID_A])
    })
    .await;
    eventually("its history says handled", async || {
        let shown = cli(&base, TOKEN, &["deliveries", &key, "--json"]).await;
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap_or_default();
        shown["outcome"] == "handled" && shown["attempts"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    let shown = stdout(&cli(&base, TOKEN, &["deliveries", &key]).await);
    assert!(
        shown.contains("outcome     handled") && shown.contains("replays     1"),
        "{shown}"
    );

    // A paused kind is stored and waits; resumed, it runs.
    let paused = cli(&base, TOKEN, &["pause", "esim.status"]).await;
    assert!(stdout(&paused).contains("paused esim.status"), "{paused:?}");
    deliver(&webhook, "8993000000000000003", 1_700_000_003).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = cli(&base, TOKEN, &["stats", "--json"]).await;
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("JSON");
    assert_eq!(
        (stats["ready"].as_u64(), stats["paused"][0].as_str()),
        (Some(1), Some("esim.status")),
        "{stats}"
    );
    assert_eq!(
        switch.ran.lock().expect("lock").len(),
        1,
        "not run while paused"
    );
    let resumed = cli(&base, TOKEN, &["resume", "esim.status"]).await;
    assert!(
        stdout(&resumed).contains("resumed esim.status"),
        "{resumed:?}"
    );
    eventually("the held delivery ran", async || {
        switch.ran.lock().is_ok_and(|ran| ran.len() == 2)
    })
    .await;

    // A wrong token is refused, and says so.
    let refused = cli(&base, "wrong-token-0123456789", &["stats"]).await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{refused:?}"
    );

    handle.stop(true).await;
    receiver.shutdown(Duration::from_secs(5));
}
