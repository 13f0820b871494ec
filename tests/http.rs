//! End-to-end over real HTTP on loopback: a real actix-web server on an OS-assigned port and a
//! real client (reqwest), for every fixture, every signature vector and every bad input of the
//! answer policy. After each bad input the server still answers.

#[path = "../roamify-hooks/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpServer};
use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::{Receiver, Secret, State, UnknownEvent, handlers, on_event, testing};

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

fn receiver(seen: Arc<Seen>) -> Receiver<impl roamify_hooks::Dispatch> {
    Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(seen)
        .build(handlers![
            usage,
            status,
            low,
            insufficient,
            top_up,
            order,
            refunded,
            rejected,
            fallback = unknown
        ])
        .expect("receiver")
}

/// Starts the server on 127.0.0.1:0 (two workers) inside the test's actix system.
fn start(limit: Option<usize>) -> Server {
    install_crypto();
    let seen = Arc::new(Seen::default());
    let receiver = receiver(seen.clone());
    let server = HttpServer::new(move || {
        let hook = roamify_hooks_actix::webhook("/webhooks/roamify", receiver.clone());
        App::new().service(match limit {
            Some(limit) => hook.limit(limit),
            None => hook,
        })
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    Server {
        url: format!("http://{addr}/webhooks/roamify"),
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

#[actix_web::test]
async fn every_fixture_is_handled() {
    let server = start(None);
    for name in common::event_names() {
        let body = common::event(&name);
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

#[actix_web::test]
async fn every_signature_vector() {
    let server = start(None);
    for v in common::vectors().vectors {
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

#[actix_web::test]
async fn bad_inputs_get_the_documented_answers() {
    let server = start(Some(64 * 1024));
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
