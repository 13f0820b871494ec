//! The admin API mounted by both adapters, through the examples (`server` on actix-web,
//! `axum_server` on axum), over real HTTP on loopback: beside the webhook and on an address of
//! its own (`ROAMIFY_ADMIN_ADDR`); refused without a token, with a wrong one, and for writes
//! with the read-only one; the page with its Content-Security-Policy; a body over the limit;
//! and not mounted at all without `ROAMIFY_ADMIN_TOKEN`.

mod support;

use reqwest::StatusCode;
use roamify_hooks::{EventKind, testing};
use support::{start_example, start_with_admin};

const SECRET: &str = "whsec_admin_http";
const FULL: &str = "admin-http-full-token-0123";
const READ: &str = "admin-http-read-token-0123";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("GET")
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: String) -> StatusCode {
    client
        .post(url)
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("POST")
        .status()
}

/// Everything the API promises over HTTP, on the admin API at `admin` (`…/roamify/admin/`) of
/// the example whose webhook is at `webhook`.
async fn check(example: &str, webhook: &str, admin: &str) {
    let client = client();
    let page = get(&client, admin, None).await;
    assert_eq!(page.status(), 200, "{example}: the page needs no token");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"));
    assert!(page.text().await.expect("text").contains("assets/app.js"));
    let bare = get(&client, admin.trim_end_matches('/'), None).await;
    assert_eq!(bare.status(), 308, "{example}: the mount without its slash");
    assert!(
        bare.headers()["location"]
            .to_str()
            .expect("ascii")
            .ends_with("/roamify/admin/")
    );

    let counts = format!("{admin}api/counts");
    for token in [None, Some("wrong-token-0123456789")] {
        let refused = get(&client, &counts, token).await;
        assert_eq!(refused.status(), 401, "{example}: {token:?}");
        assert!(refused.headers().contains_key("www-authenticate"));
    }
    for token in [FULL, READ] {
        assert_eq!(
            get(&client, &counts, Some(token)).await.status(),
            200,
            "{example}"
        );
    }
    let replay = format!("{admin}api/dead-letters/replay");
    let all = r#"{"filter":{}}"#.to_owned();
    assert_eq!(
        post(&client, &replay, READ, all.clone()).await,
        403,
        "{example}"
    );
    assert_eq!(post(&client, &replay, FULL, all).await, 200, "{example}");
    let huge = format!(r#"{{"keys":["{}"]}}"#, "k".repeat(70 * 1024));
    assert_eq!(post(&client, &replay, FULL, huge).await, 413, "{example}");

    // A delivery is in the history, searched by its eSIM.
    let body = testing::sample(EventKind::EsimStatus);
    let sent = client
        .post(format!("http://{webhook}/webhooks/roamify"))
        .header("X-Roamify-Signature", testing::sign(SECRET, body))
        .body(body)
        .send()
        .await
        .expect("deliver");
    assert_eq!(sent.status(), 200);
    let search = format!("{admin}api/deliveries?iccid=8991234567890123456");
    let mut found = serde_json::Value::Null;
    for _ in 0..200 {
        let text = get(&client, &search, Some(READ)).await.text().await;
        found = serde_json::from_str(&text.expect("text")).expect("JSON");
        if found["items"][0]["outcome"] == "handled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        found["items"][0]["outcome"], "handled",
        "{example}: {found}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn both_adapters_serve_the_admin_api_beside_the_webhook_or_apart() {
    for example in ["server", "axum_server"] {
        let tokens = [
            ("ROAMIFY_DELIVERY", "queued"),
            ("ROAMIFY_ADMIN_TOKEN", FULL),
            ("ROAMIFY_ADMIN_READ_TOKEN", READ),
        ];
        let (_beside, webhook, admin) = start_with_admin(example, SECRET, &tokens);
        assert!(
            admin.contains(&webhook),
            "{example}: beside the webhook: {admin}"
        );
        check(example, &webhook, &admin).await;

        let mut apart = tokens.to_vec();
        apart.push(("ROAMIFY_ADMIN_ADDR", "127.0.0.1:0"));
        let (_apart, webhook, admin) = start_with_admin(example, SECRET, &apart);
        assert!(
            !admin.contains(&webhook),
            "{example}: on its own address: {admin}"
        );
        check(example, &webhook, &admin).await;
        let elsewhere = format!("http://{webhook}/roamify/admin/api/counts");
        let not_there = get(&client(), &elsewhere, Some(FULL)).await;
        assert_eq!(
            not_there.status(),
            404,
            "{example}: not on the webhook's address"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_admin_api_is_not_mounted() {
    for example in ["server", "axum_server"] {
        let (_server, webhook) = start_example(example, SECRET, &[("ROAMIFY_DELIVERY", "queued")]);
        for path in ["/roamify/admin/", "/roamify/admin/api/counts"] {
            let answer = get(&client(), &format!("http://{webhook}{path}"), Some(FULL)).await;
            assert_eq!(answer.status(), 404, "{example}: {path}");
        }
    }
}
