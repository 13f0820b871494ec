//! The operations page in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven through WebDriver with fantoccini), at a phone's size: the page asks for the token,
//! an ICCID with a dead letter is searched and opened, the dead letter is replayed once its
//! handler is fixed and seen handled, and the counts change; a delivery whose payload and error
//! hold HTML and script shows them as text, and no script of theirs runs.
//!
//! Run when ChromeDriver is found (`ROAMIFY_TEST_CHROMEDRIVER`, else `/usr/bin/chromedriver`);
//! `.ci/run` installs it and sets the variable, so CI never skips it.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use fantoccini::{Client, ClientBuilder, Locator};
use roamify_hooks::admin::{AdminTokens, DEFAULT_PATH};
use roamify_hooks::delivery::{DeliveryMode, QueueOptions, RetryPolicy};
use roamify_hooks::events::EsimStatus;
use roamify_hooks::{EventKind, Receiver, Secret, State, handlers, on_event, testing};
use serde_json::json;

const SECRET: &str = "whsec_page";
const TOKEN: &str = "page-admin-token-0123456789";
const ICCID_DEAD: &str = "8991000000000000001";
const ICCID_FINE: &str = "8992000000000000002";
const ICCID_HOSTILE: &str = "8993000000000000003";
/// A payload string an attacker might send: markup and script, to be shown as text.
const HOSTILE: &str =
    r#"<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>"#;

#[derive(Default)]
struct Switch {
    failing: AtomicBool,
    ran: Mutex<Vec<String>>,
}

/// Fails while the switch is on for the first eSIM, always for the hostile one (echoing its
/// reference in the error, as a careless handler would).
#[on_event(category = "esim", kind = "status")]
async fn status(event: EsimStatus, switch: State<Switch>) -> Result<(), String> {
    if event.iccid == ICCID_HOSTILE {
        return Err(format!(
            "rejected reference {}",
            event.reference_id.unwrap_or_default()
        ));
    }
    if event.iccid == ICCID_DEAD && switch.failing.load(Ordering::SeqCst) {
        return Err("carrier timeout".to_owned());
    }
    switch
        .ran
        .lock()
        .map_err(|e| e.to_string())?
        .push(event.iccid);
    Ok(())
}

/// ChromeDriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<String> {
    let path = std::env::var("ROAMIFY_TEST_CHROMEDRIVER")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr/bin/chromedriver".to_owned());
    if std::path::Path::new(&path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("ROAMIFY_TEST_CHROMEDRIVER").is_none(),
        "ROAMIFY_TEST_CHROMEDRIVER names {path}, which does not exist"
    );
    None
}

async fn start_driver(path: &str) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

async fn browser(driver: &Driver) -> Client {
    let binary =
        std::env::var("ROAMIFY_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=390,844"]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Waits until `script` (a JavaScript expression) is true in the page.
async fn until(client: &Client, script: &str, what: &str) {
    let started = Instant::now();
    loop {
        let value = client
            .execute(&format!("return Boolean({script});"), vec![])
            .await
            .expect("run a script");
        if value == json!(true) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .text()
        .await
        .expect("text")
}

async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

async fn deliver(url: &str, iccid: &str, reference: &str, timestamp: i64) {
    let body = testing::sample_with(EventKind::EsimStatus, |v| {
        v["data"]["iccid"] = iccid.into();
        v["data"]["reference_id"] = reference.into();
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
async fn an_operator_finds_replays_and_sees_handled_a_dead_letter_in_a_real_browser() {
    let Some(path) = chromedriver() else {
        eprintln!("skipped: no chromedriver (install Debian's chromium and chromium-driver)");
        return;
    };
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
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let webhook = format!("{base}/webhooks/roamify");
    deliver(&webhook, ICCID_DEAD, "ref-dead", 1_700_000_001).await;
    deliver(&webhook, ICCID_FINE, "ref-fine", 1_700_000_002).await;
    deliver(&webhook, ICCID_HOSTILE, HOSTILE, 1_700_000_003).await;
    let page = format!("{base}{DEFAULT_PATH}/");
    let served = reqwest::get(&page).await.expect("the page");
    let policy = served.headers()["content-security-policy"]
        .to_str()
        .expect("a policy")
        .to_owned();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe"),
        "{policy}"
    );

    let driver = start_driver(&path).await;
    let client = browser(&driver).await;
    client.goto(&page).await.expect("open the page");

    // The page asks for the token once.
    until(
        &client,
        "!document.getElementById('login').hidden",
        "the login form",
    )
    .await;
    fill(&client, "#token", TOKEN).await;
    click(&client, "#login-form button[type=submit]").await;
    until(&client, "!document.getElementById('app').hidden", "the app").await;
    until(
        &client,
        "document.querySelector('[data-count=dead]').textContent === '2'",
        "two dead letters counted",
    )
    .await;

    // Search the ICCID that has a dead letter, and open it.
    fill(&client, "#search-iccid", ICCID_DEAD).await;
    click(&client, "#search-button").await;
    until(
        &client,
        "document.querySelectorAll('#deliveries tbody tr').length === 1",
        "one delivery found",
    )
    .await;
    let row = text(&client, "#deliveries tbody tr").await;
    assert!(
        row.contains(ICCID_DEAD) && row.contains("dead") && row.contains("carrier timeout"),
        "{row}"
    );
    click(&client, "#deliveries tbody tr").await;
    until(
        &client,
        "!document.getElementById('detail').hidden",
        "the detail",
    )
    .await;
    assert_eq!(text(&client, "#d-outcome").await, "dead");
    assert_eq!(text(&client, "#d-iccid").await, ICCID_DEAD);
    assert!(
        text(&client, "#d-attempts tbody")
            .await
            .contains("carrier timeout")
    );
    assert!(
        text(&client, "#d-body").await.contains("ref-dead"),
        "its body"
    );

    // The handler is fixed; replay, confirm, and see it handled and the counts change.
    switch.failing.store(false, Ordering::SeqCst);
    click(&client, "#replay").await;
    until(
        &client,
        "!document.getElementById('confirm').hidden",
        "the confirmation",
    )
    .await;
    assert!(text(&client, "#confirm-text").await.contains("Replay"));
    click(&client, "#confirm-yes").await;
    until(
        &client,
        "document.getElementById('status').textContent.includes('Replayed')",
        "replayed",
    )
    .await;
    let started = Instant::now();
    while text(&client, "#d-outcome").await != "handled" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the replay was not handled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        click(&client, "#refresh-detail").await;
    }
    assert!(
        switch
            .ran
            .lock()
            .expect("lock")
            .contains(&ICCID_DEAD.to_owned())
    );
    assert_eq!(text(&client, "#d-replays").await, "1");
    until(
        &client,
        "document.querySelector('[data-count=dead]').textContent === '1'",
        "one dead letter left",
    )
    .await;

    // A delivery whose payload and error hold markup and script shows them as text.
    fill(&client, "#search-iccid", ICCID_HOSTILE).await;
    click(&client, "#search-button").await;
    until(
        &client,
        "document.querySelectorAll('#deliveries tbody tr').length === 1",
        "the hostile delivery",
    )
    .await;
    click(&client, "#deliveries tbody tr").await;
    until(
        &client,
        &format!("document.getElementById('d-iccid').textContent === '{ICCID_HOSTILE}'"),
        "its detail",
    )
    .await;
    let error = text(&client, "#d-error").await;
    assert!(
        error.ends_with(&format!("rejected reference {HOSTILE}")),
        "shown as text, exactly: {error}"
    );
    assert!(
        text(&client, "#d-body")
            .await
            .contains("<script>window.__pwned=2</script>")
    );
    let injected = client
        .execute(
            "return [window.__pwned === undefined, document.querySelectorAll('main img, main b, main script').length];",
            vec![],
        )
        .await
        .expect("inspect the page");
    assert_eq!(
        injected,
        json!([true, 0]),
        "no markup of the sender's became elements, no script ran"
    );

    client.close().await.expect("close the browser");
    handle.stop(true).await;
    receiver.shutdown(Duration::from_secs(5));
}
