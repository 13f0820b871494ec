//! End-to-end over real HTTP on loopback: a real server on an OS-assigned port and a real client
//! (reqwest), for every fixture, every signature vector and every bad input of the answer
//! policy. After each bad input the server still answers. One suite, run against both adapters
//! (actix-web and axum); HTTPS against actix-web; and the README's status table against both.

mod support;
#[path = "../roamify-hooks/tests/support/tapped.rs"]
mod tapped;

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpServer};
use roamify_hooks::delivery::{QueueOptions, Role};
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::{
    Dispatch, Receiver, Secret, State, UnknownEvent, delivery::DeliveryMode, handlers, on_event,
    testing,
};

/// The web framework a test runs against.
#[derive(Debug, Clone, Copy)]
enum Adapter {
    Actix,
    Axum,
}

/// Each listed suite function, once per adapter: `actix::name` and `axum::name`.
macro_rules! for_both_adapters {
    ($($name:ident),* $(,)?) => {
        mod actix {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::Adapter::Actix).await;
                }
            )*
        }
        mod axum {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::Adapter::Axum).await;
                }
            )*
        }
    };
}

for_both_adapters!(
    every_fixture_is_handled,
    every_signature_vector,
    bad_inputs_get_the_documented_answers,
    the_readme_status_table_is_what_the_adapter_answers,
    the_probes_say_live_and_which_readiness_condition_failed,
);

const SECRET: &str = "whsec_roamify_test";

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Seen {
    fn push(&self, what: String) {
        self.0.lock().expect("lock").push(what);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

#[on_event(category = "esim", kind = "usage")]
async fn usage(e: EsimUsage, seen: State<Seen>) {
    seen.push(format!("usage {}", e.iccid));
}
#[on_event(category = "esim", kind = "status")]
async fn status(e: EsimStatus, seen: State<Seen>) {
    seen.push(format!("status {}", e.status));
}
#[on_event(category = "partner", kind = "low_balance")]
async fn low(e: PartnerBalance, seen: State<Seen>) {
    seen.push(format!("low_balance {}", e.balance));
}
#[on_event(category = "partner", kind = "insufficient_balance")]
async fn insufficient(e: PartnerBalance, seen: State<Seen>) {
    seen.push(format!("insufficient_balance {}", e.balance));
}
/// Fails on a balance of 666, panics on 999: the 500 paths.
#[on_event(category = "partner", kind = "top_up")]
async fn top_up(e: PartnerBalance, seen: State<Seen>) -> Result<(), std::io::Error> {
    if e.balance.to_string() == "999" {
        panic!("top-up handler bug");
    }
    if e.balance.to_string() == "666" {
        return Err(std::io::Error::other("ledger unavailable"));
    }
    // The readiness test's delivery waits while it holds the queue full.
    while e.balance.to_string() == "777" && HOLD.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    seen.push(format!("top_up {}", e.balance));
    Ok(())
}
#[on_event(category = "affiliate", kind = "order")]
async fn order(e: AffiliateOrder, seen: State<Seen>) {
    seen.push(format!("order {}", e.order_data.total));
}
#[on_event(category = "refund", kind = "refunded")]
async fn refunded(e: Refund, seen: State<Seen>) {
    seen.push(format!("refunded {}", e.refund_id));
}
#[on_event(category = "refund", kind = "rejected")]
async fn rejected(e: Refund, seen: State<Seen>) {
    seen.push(format!("rejected {}", e.refund_id));
}
#[on_event(fallback)]
async fn unknown(e: UnknownEvent, seen: State<Seen>) {
    seen.push(format!("unknown {}.{}", e.category(), e.kind()));
}

struct Server {
    url: String,
    seen: Arc<Seen>,
    client: reqwest::Client,
    /// Makes each liveness probe a distinct event (identical bodies are duplicates).
    probes: std::sync::atomic::AtomicU32,
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn receiver(seen: Arc<Seen>) -> Receiver<impl Dispatch> {
    builder(seen).build(table()).expect("receiver")
}

fn builder(seen: Arc<Seen>) -> roamify_hooks::ReceiverBuilder {
    Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(seen)
}

fn table() -> impl roamify_hooks::dispatch::Handlers {
    handlers![
        usage,
        status,
        low,
        insufficient,
        top_up,
        order,
        refunded,
        rejected,
        fallback = unknown
    ]
}

/// Serves `receiver` on 127.0.0.1:0 with `adapter` (actix-web with two workers, or axum on the
/// test's runtime), with a body limit when given, and its probes (`/healthz`, `/readyz`);
/// returns the webhook's URL.
async fn serve<D: Dispatch>(
    adapter: Adapter,
    receiver: Receiver<D>,
    limit: Option<usize>,
) -> String {
    let addr = match adapter {
        Adapter::Actix => {
            let server = HttpServer::new(move || {
                let hook = roamify_hooks_actix::webhook("/webhooks/roamify", receiver.clone());
                App::new()
                    .service(match limit {
                        Some(limit) => hook.limit(limit),
                        None => hook,
                    })
                    .service(roamify_hooks_actix::liveness("/healthz"))
                    .service(roamify_hooks_actix::readiness("/readyz", receiver.clone()))
            })
            .workers(2)
            .bind(("127.0.0.1", 0))
            .expect("bind");
            let addr = server.addrs()[0];
            actix_web::rt::spawn(server.run());
            addr
        }
        Adapter::Axum => {
            let route = roamify_hooks_axum::webhook_with_limit(
                receiver.clone(),
                limit.unwrap_or(roamify_hooks_axum::DEFAULT_LIMIT),
            );
            let app = ::axum::Router::new()
                .route("/webhooks/roamify", route)
                .route("/healthz", roamify_hooks_axum::liveness())
                .route("/readyz", roamify_hooks_axum::readiness(receiver));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("address");
            tokio::spawn(async move { ::axum::serve(listener, app).await });
            addr
        }
    };
    format!("http://{addr}/webhooks/roamify")
}

/// [`serve`], returning the base URL (the probes' paths follow it).
async fn serve_with_probes<D: Dispatch>(adapter: Adapter, receiver: Receiver<D>) -> String {
    let url = serve(adapter, receiver, None).await;
    url.trim_end_matches("/webhooks/roamify").to_owned()
}

/// `GET base + path`: the status and the body.
async fn probe(client: &reqwest::Client, base: &str, path: &str) -> (u16, String) {
    let response = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("probe");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// POSTs `body`, signed, to the webhook under `base`; the status.
async fn deliver_to(client: &reqwest::Client, base: &str, body: &[u8]) -> u16 {
    client
        .post(format!("{base}/webhooks/roamify"))
        .header("X-Roamify-Signature", testing::sign(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("deliver")
        .status()
        .as_u16()
}

/// The readiness probe's answer once it is `expected` (readiness is cached for a second).
async fn readiness_becomes(client: &reqwest::Client, base: &str, expected: (u16, &str)) {
    let mut last = (0, String::new());
    for _ in 0..300 {
        last = probe(client, base, "/readyz").await;
        if last.0 == expected.0 && last.1 == expected.1 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("readiness stayed {last:?}, expected {expected:?}");
}

/// Holds `top_up` runs of a balance of 777 while set (the queue-full case holds its one slot
/// with it).
static HOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Taken by the probes test for its whole run: its actix and axum runs share `HOLD`, and one
/// clearing it would release the other's held delivery (its queue would never read as full).
static HOLDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const READY: &str = r#"{"code":200,"message":"ready"}"#;

/// Liveness answers 200; readiness answers 200, then 503 naming the condition that failed: the
/// store stopped answering (and back), the queue full (and drained), the receiver shutting down
/// — while deliveries are still taken.
async fn the_probes_say_live_and_which_readiness_condition_failed(adapter: Adapter) {
    let _holding = HOLDING.lock().await;
    install_crypto();
    let client = reqwest::Client::new();
    let seen = Arc::new(Seen::default());
    let body = testing::sample(roamify_hooks::EventKind::EsimStatus);

    // A store that stops answering, as a database whose connection dropped.
    let store = Arc::new(tapped::Tapped::new(Arc::new(
        roamify_hooks::delivery::MemoryStore::new(),
    )));
    let receiver = builder(seen.clone())
        .store(store.clone(), QueueOptions::default())
        .build(table())
        .expect("receiver");
    let base = serve_with_probes(adapter, receiver.clone()).await;
    assert_eq!(
        probe(&client, &base, "/healthz").await,
        (200, r#"{"code":200,"message":"live"}"#.to_owned())
    );
    readiness_becomes(&client, &base, (200, READY)).await;
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    readiness_becomes(
        &client,
        &base,
        (
            503,
            r#"{"code":503,"message":"not ready","reason":"store_unavailable"}"#,
        ),
    )
    .await;
    assert_eq!(probe(&client, &base, "/healthz").await.0, 200, "still live");
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    readiness_becomes(&client, &base, (200, READY)).await;

    // Shutting down: not ready at once, and a delivery still taken.
    receiver.begin_shutdown();
    assert_eq!(
        probe(&client, &base, "/readyz").await,
        (
            503,
            r#"{"code":503,"message":"not ready","reason":"shutting_down"}"#.to_owned()
        )
    );
    assert_eq!(
        deliver_to(&client, &base, body).await,
        200,
        "taken while shutting down"
    );
    receiver.shutdown(std::time::Duration::from_secs(5));

    // A queue of one, held by a handler that waits: full, then not once it ran.
    HOLD.store(true, std::sync::atomic::Ordering::SeqCst);
    let full = builder(seen.clone())
        .delivery(DeliveryMode::Queued(QueueOptions::default().capacity(1)))
        .build(table())
        .expect("receiver");
    let base = serve_with_probes(adapter, full.clone()).await;
    readiness_becomes(&client, &base, (200, READY)).await;
    let top_up = testing::sample_with(roamify_hooks::EventKind::PartnerTopUp, |json| {
        json["data"]["balance"] = 777.into();
    });
    assert_eq!(deliver_to(&client, &base, &top_up).await, 200);
    readiness_becomes(
        &client,
        &base,
        (
            503,
            r#"{"code":503,"message":"not ready","reason":"queue_full"}"#,
        ),
    )
    .await;
    HOLD.store(false, std::sync::atomic::Ordering::SeqCst);
    readiness_becomes(&client, &base, (200, READY)).await;
    full.shutdown(std::time::Duration::from_secs(5));
}

/// Starts the test receiver with `adapter`.
async fn start(adapter: Adapter, limit: Option<usize>) -> Server {
    install_crypto();
    let seen = Arc::new(Seen::default());
    let url = serve(adapter, receiver(seen.clone()), limit).await;
    Server {
        url,
        seen,
        client: reqwest::Client::new(),
        probes: 0.into(),
    }
}

impl Server {
    async fn post(&self, body: impl Into<Vec<u8>>, signatures: &[&str]) -> (u16, String) {
        let mut request = self.client.post(&self.url).body(body.into());
        for signature in signatures {
            request = request.header("X-Roamify-Signature", *signature);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    async fn signed(&self, body: &[u8]) -> (u16, String) {
        self.post(body.to_vec(), &[&testing::sign(SECRET, body)])
            .await
    }

    /// POSTs `body` on a new connection the way a sender that reads nothing before it has
    /// written everything does (`Content-Length`, or chunked in 16 KiB chunks), then reads the
    /// answer to its end.
    async fn write_all_then_read(&self, body: &[u8], chunked: bool) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let authority = self
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("an authority");
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("connect");
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {}", body.len())
        };
        let head = format!(
            "POST /webhooks/roamify HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nX-Roamify-Signature: {}\r\n{framing}\r\nConnection: close\r\n\r\n",
            testing::sign(SECRET, body)
        );
        stream
            .write_all(head.as_bytes())
            .await
            .expect("write the head");
        if chunked {
            for chunk in body.chunks(16 * 1024) {
                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                stream
                    .write_all(&framed)
                    .await
                    .expect("write a chunk: the server hung up");
            }
            stream
                .write_all(b"0\r\n\r\n")
                .await
                .expect("write the last chunk");
        } else {
            stream
                .write_all(body)
                .await
                .expect("write the body: the server hung up");
        }
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .expect("read the answer: the server reset the connection");
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// A good delivery still gets its 200 and reaches its handler.
    async fn still_serving(&self) {
        let n = self
            .probes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = format!(
            r#"{{"event_category":"esim","event_type":"status","data":{{"timestamp":{n},"iccid":"1","esim_id":"e","status":"ACTIVATED"}}}}"#
        );
        assert_eq!(
            self.signed(body.as_bytes()).await.0,
            200,
            "the server stopped answering"
        );
        assert_eq!(self.seen.take(), ["status ACTIVATED"]);
    }
}

const OK: &str = r#"{"code":200,"message":"success"}"#;
const UNAUTHORIZED: &str = r#"{"code":401,"message":"invalid signature"}"#;

async fn every_fixture_is_handled(adapter: Adapter) {
    let server = start(adapter, None).await;
    for name in support::runtime::event_names() {
        let body = support::runtime::event(&name);
        let (status, answer) = server.signed(&body).await;
        assert_eq!((status, answer.as_str()), (200, OK), "{name}");
        let seen = server.seen.take();
        assert_eq!(seen.len(), 1, "{name}: {seen:?}");
        let expected_prefix = name.split(['_', '.']).next().unwrap_or_default();
        let matches = match expected_prefix {
            "esim" => seen[0].starts_with("usage") || seen[0].starts_with("status"),
            "partner" => seen[0].contains("balance") || seen[0].starts_with("top_up"),
            "affiliate" => seen[0].starts_with("order"),
            "refund" => seen[0].starts_with("refunded") || seen[0].starts_with("rejected"),
            _ => seen[0] == "unknown esim.topup",
        };
        assert!(matches, "{name} reached {seen:?}");
    }
}

async fn every_signature_vector(adapter: Adapter) {
    let server = start(adapter, None).await;
    for v in support::runtime::vectors().vectors {
        // The server knows one secret; vectors made with other secrets are valid only for them.
        let body = hex::decode(&v.body_hex).expect("hex");
        let ours = v.secret == SECRET;
        let (status, answer) = server.post(body.clone(), &[&v.header]).await;
        let self_contradictory =
            v.expect == "invalid" && testing::sign(&v.secret, &body) == v.header;
        match (v.expect.as_str(), ours) {
            ("valid", true) => assert_ne!(status, 401, "{}: {answer}", v.name),
            _ if self_contradictory => assert_eq!(v.name, "one flipped bit in the body"),
            _ => assert_eq!((status, answer.as_str()), (401, UNAUTHORIZED), "{}", v.name),
        }
        if v.name.starts_with("empty body") {
            assert_eq!(
                status, 400,
                "signed empty body: malformed, not a bad signature"
            );
        }
        server.seen.take();
    }
    server.still_serving().await;
}

async fn bad_inputs_get_the_documented_answers(adapter: Adapter) {
    let server = start(adapter, Some(64 * 1024)).await;
    let good = testing::sample(roamify_hooks::EventKind::PartnerLowBalance);
    let signature = testing::sign(SECRET, good);

    // 401, identical body whatever the reason.
    for (what, signatures) in [
        ("missing", vec![]),
        ("two headers", vec![signature.as_str(), signature.as_str()]),
        ("malformed", vec!["sha256=abc"]),
        (
            "wrong",
            vec!["00000000000000000000000000000000000000000000000000000000000000ff"],
        ),
    ] {
        let (status, answer) = server.post(good.to_vec(), &signatures).await;
        assert_eq!((status, answer.as_str()), (401, UNAUTHORIZED), "{what}");
        server.still_serving().await;
    }
    // Signed but not an envelope; a known kind with a payload that does not parse.
    for body in [&b"not json at all"[..], b"{\"event_category\":\"partner\",\"event_type\":\"low_balance\",\"data\":{\"balance\":\"lots\"}}"] {
        let (status, answer) = server.signed(body).await;
        assert_eq!((status, answer.as_str()), (400, r#"{"code":400,"message":"malformed event"}"#));
        server.still_serving().await;
    }
    // Over the limit: refused on Content-Length, and while reading a chunked body.
    let big = vec![b' '; 64 * 1024 + 1];
    let (status, _) = server.signed(&big).await;
    assert_eq!(status, 413);
    server.still_serving().await;
    let chunks =
        futures_util::stream::iter((0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let response = server
        .client
        .post(&server.url)
        .header("X-Roamify-Signature", &signature)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // The server may answer before the client has sent everything, or close the connection.
    if let Ok(response) = response {
        assert_eq!(response.status().as_u16(), 413);
    }
    server.still_serving().await;
    // A sender that writes its whole body before it reads anything (Node's `http` does) reads
    // the 413 too, body declared or chunked, rather than a broken pipe.
    // 8 MiB: more than loopback's socket buffers hold (a megabyte fits in them), so the write
    // itself fails if the server stops reading (axum did: a broken pipe); within the bound the
    // runtime still reads a refused body (`http::DRAIN_LIMIT`).
    let huge = vec![b' '; 8 * 1024 * 1024];
    for chunked in [false, true] {
        let answer = server.write_all_then_read(&huge, chunked).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "chunked {chunked}: {answer:?}"
        );
        assert!(
            answer.contains(r#""code":413"#),
            "chunked {chunked}: {answer:?}"
        );
        server.still_serving().await;
    }
    // Other methods.
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = server
            .client
            .request(method.clone(), &server.url)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
    }
    let other_path = server.url.replace("/webhooks/roamify", "/webhooks/other");
    assert_eq!(
        server
            .client
            .post(other_path)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        404
    );
    // A failing handler and a panicking one: 500, and the server keeps serving.
    for balance in ["666", "999"] {
        let body = format!(
            r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":1,"balance":{balance},"currency":"EUR"}}}}"#
        );
        let (status, answer) = server.signed(body.as_bytes()).await;
        assert_eq!(
            (status, answer.as_str()),
            (500, r#"{"code":500,"message":"handler failed"}"#),
            "{balance}"
        );
        server.still_serving().await;
    }
    // No content type is required, and any is accepted.
    let response = server
        .client
        .post(&server.url)
        .header("X-Roamify-Signature", &signature)
        .header("content-type", "text/plain")
        .body(good.to_vec())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(server.seen.take(), ["low_balance 50.00"]);
}

/// The rows of the README's "What the endpoint answers" table: status and body.
fn readme_rows() -> Vec<(u16, String)> {
    let readme = include_str!("../README.md");
    let table = readme
        .split("| status | body | when |")
        .nth(1)
        .expect("the README has the status table");
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let status = cells[1]
                .parse()
                .unwrap_or_else(|_| panic!("a status in {line:?}"));
            (status, cells[2].trim_matches('`').to_owned())
        })
        .collect()
}

async fn the_readme_status_table_is_what_the_adapter_answers(adapter: Adapter) {
    let rows = readme_rows();
    // The runtime's policy is the table, and the table is the policy.
    for reply in roamify_hooks::http::Reply::ALL {
        let row = (reply.status(), reply.body().to_owned());
        assert!(rows.contains(&row), "{row:?} is missing from the README");
    }
    for (status, body) in &rows {
        if *status != 404 {
            assert!(
                roamify_hooks::http::Reply::ALL
                    .iter()
                    .any(|r| r.status() == *status && r.body() == body),
                "the README's {status} {body} is not an answer of the runtime"
            );
        }
    }

    // What the adapter answers, over HTTP, for one request of each kind.
    let server = start(adapter, Some(64 * 1024)).await;
    let refusing = serve(
        adapter,
        builder(Arc::new(Seen::default()))
            .delivery(DeliveryMode::Queued(QueueOptions::default()))
            .role(Role::WorkerOnly)
            .build(table())
            .expect("worker-only receiver"),
        None,
    )
    .await;
    let good = testing::sample(roamify_hooks::EventKind::PartnerLowBalance);
    let signed = |body: &[u8]| {
        server
            .client
            .post(&server.url)
            .header("X-Roamify-Signature", testing::sign(SECRET, body))
            .body(body.to_vec())
    };
    let failing = br#"{"event_category":"partner","event_type":"top_up","data":{"timestamp":1,"balance":666,"currency":"EUR"}}"#;
    let requests = [
        signed(good),
        server.client.post(&server.url).body(good.to_vec()),
        signed(b"not json"),
        signed(&vec![b' '; 64 * 1024 + 1]),
        server.client.get(&server.url),
        server
            .client
            .post(server.url.replace("/webhooks/roamify", "/elsewhere")),
        signed(failing),
        server
            .client
            .post(&refusing)
            .header("X-Roamify-Signature", testing::sign(SECRET, good))
            .body(good.to_vec()),
    ];
    let mut answered = Vec::new();
    for request in requests {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/json");
        let body = response.text().await.expect("body");
        assert!(
            rows.contains(&(status, body.clone())),
            "{adapter:?} answered {status} {body:?}, which the README's table does not list"
        );
        assert_eq!(json, status != 404, "{adapter:?} {status}: content type");
        answered.push(status);
    }
    let mut documented: Vec<u16> = rows.iter().map(|(status, _)| *status).collect();
    documented.dedup();
    answered.sort_unstable();
    documented.sort_unstable();
    documented.dedup();
    assert_eq!(answered, documented, "every documented status was seen");
}

#[actix_web::test]
async fn https_with_a_generated_certificate() {
    install_crypto();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_der = cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .expect("server config");
    let seen = Arc::new(Seen::default());
    let receiver = receiver(seen.clone());
    let server = HttpServer::new(move || {
        App::new().service(roamify_hooks_actix::webhook(
            "/webhooks/roamify",
            receiver.clone(),
        ))
    })
    .workers(1)
    .bind_rustls_0_23(("127.0.0.1", 0), server_config)
    .expect("bind");
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).expect("root");
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(client_config)
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .build()
        .expect("client");
    let url = format!("https://localhost:{port}/webhooks/roamify");
    let body = testing::sample(roamify_hooks::EventKind::AffiliateOrder);
    let response = client
        .post(&url)
        .header("X-Roamify-Signature", testing::sign(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("https request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("body"), OK);
    assert_eq!(seen.take(), ["order 49.99"]);
    // A client that does not trust the certificate cannot deliver.
    let untrusting = reqwest::Client::builder()
        .use_preconfigured_tls(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .build()
        .expect("client");
    assert!(
        untrusting
            .post(&url)
            .body(body.to_vec())
            .send()
            .await
            .is_err()
    );
}
