//! The README's quickstart, run for real: the `server` example (and its axum twin,
//! `axum_server`) as a child process on an OS-assigned port, and the `send` example delivering
//! every kind to it.

mod support;

use std::process::Command;

use roamify_hooks::CATALOG;
use support::{example, handled_keys, start_example, start_server};

fn send(addr: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(example("send"))
        .args(args)
        .env("ROAMIFY_WEBHOOK_SECRET", "whsec_readme")
        .env("BIND_ADDR", addr)
        .output()
        .expect("run the send example");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

#[test]
fn send_delivers_every_kind_to_the_server() {
    let (_server, addr) = start_server("whsec_readme", &[]);
    let (ok, listed) = send(&addr, &["--list"]);
    assert!(ok);
    let kinds: Vec<&str> = listed.lines().collect();
    assert_eq!(kinds.len(), CATALOG.len());
    for kind in kinds {
        let (ok, answer) = send(&addr, &[kind]);
        assert_eq!(answer, r#"200 {"code":200,"message":"success"}"#, "{kind}");
        assert!(ok, "{kind}");
    }
    let (ok, answer) = send(&addr, &["partner.low_balance", "--bad-signature"]);
    assert_eq!(answer, r#"401 {"code":401,"message":"invalid signature"}"#);
    assert!(!ok, "a refused delivery exits non-zero");
    let (_, answer) = send(&addr, &["esim.usage", "--secret", "another secret"]);
    assert!(answer.starts_with("401 "), "{answer}");
}

/// Runs example `name` on `127.0.0.1:0` with `env` only (no webhook secret unless `env` gives
/// one), expecting it to refuse to start; returns what it said on stderr.
fn refused_start(name: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new(example(name))
        .env_remove("ROAMIFY_WEBHOOK_SECRET")
        .env("BIND_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run the {name} example: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "the {name} example started: {stderr}"
    );
    stderr
}

#[test]
fn server_refuses_to_start_without_a_secret() {
    let stderr = refused_start("server", &[]);
    let message: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("server:"))
        .collect();
    assert_eq!(message.len(), 1, "{stderr}");
    assert!(message[0].contains("ROAMIFY_WEBHOOK_SECRET"), "{stderr}");
}

/// `JOURNAL_SEGMENT_BYTES` sizes the journal's segment files, which the journal allocates whole.
#[test]
fn the_server_example_sizes_the_journal_segments_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let mode = format!("journal:{}", journal.display());
    let (server, addr) = start_server(
        "whsec_readme",
        &[
            ("ROAMIFY_DELIVERY", &mode),
            ("JOURNAL_SEGMENT_BYTES", "131072"),
        ],
    );
    let (sent, answer) = send(&addr, &["partner.top_up"]);
    assert!(sent, "{answer}");
    for segment in ["journal.0", "journal.1"] {
        let size = std::fs::metadata(journal.join(segment))
            .expect("a segment file")
            .len();
        assert_eq!(size, 131_072, "{segment}");
    }
    drop(server);

    let said = refused_start(
        "server",
        &[
            ("ROAMIFY_WEBHOOK_SECRET", "whsec_readme"),
            ("ROAMIFY_DELIVERY", &mode),
            ("JOURNAL_SEGMENT_BYTES", "lots"),
        ],
    );
    assert!(
        said.contains("JOURNAL_SEGMENT_BYTES must be a positive number"),
        "{said}"
    );
}

/// A journal damaged before records of later flushes: the server refuses to start, and says
/// which file, where, and the command to run.
#[test]
fn the_server_refuses_a_damaged_journal_and_names_the_salvage_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let mode = format!("journal:{}", journal.display());
    let env = [("ROAMIFY_DELIVERY", mode.as_str())];
    let (server, addr) = start_server("whsec_readme", &env);
    for kind in ["partner.top_up", "partner.low_balance", "esim.usage"] {
        let (sent, answer) = send(&addr, &[kind]);
        assert!(sent, "{answer}");
    }
    drop(server);
    let segment = journal.join("journal.0");
    let mut bytes = std::fs::read(&segment).expect("segment");
    let at = bytes
        .windows(6)
        .position(|w| w == b"top_up")
        .expect("the first delivery's record");
    bytes[at] ^= 0x01;
    std::fs::write(&segment, &bytes).expect("damage");

    let said = refused_start(
        "server",
        &[("ROAMIFY_WEBHOOK_SECRET", "whsec_readme"), env[0]],
    );
    for part in [
        format!("{} is damaged at byte", segment.display()),
        format!("roamify-hooks journal salvage {}", journal.display()),
        "Nothing was changed".to_owned(),
    ] {
        assert!(said.contains(&part), "{part:?} in {said}");
    }
    assert_eq!(std::fs::read(&segment).expect("segment"), bytes);
}

#[test]
fn the_axum_server_example_delivers_durably_like_the_actix_one() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("handled.log");
    let durable = format!("durable:{}", dir.path().join("axum.sqlite").display());
    let (server, addr) = start_example(
        "axum_server",
        "whsec_readme",
        &[
            ("ROAMIFY_DELIVERY", &durable),
            ("HANDLED_LOG", log.to_str().expect("UTF-8 path")),
        ],
    );
    let (ok, listed) = send(&addr, &["--list"]);
    assert!(ok);
    let kinds: Vec<&str> = listed.lines().collect();
    for kind in &kinds {
        let (ok, answer) = send(&addr, &[kind]);
        assert_eq!(answer, r#"200 {"code":200,"message":"success"}"#, "{kind}");
        assert!(ok, "{kind}");
    }
    let (_, answer) = send(&addr, &["partner.low_balance", "--bad-signature"]);
    assert_eq!(answer, r#"401 {"code":401,"message":"invalid signature"}"#);
    // Stored before the answer, then run by the workers: every kind reaches the log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // Refunds' keys are their `event_id`; the others a SHA-256 of the body.
    while handled_keys(&log).len() < kinds.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut keys = handled_keys(&log);
    assert!(keys.iter().any(|k| k.starts_with("rfd_")), "{keys:?}");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), kinds.len(), "each kind handled once");
    drop(server);
}

#[test]
fn the_axum_server_example_refuses_tls_variables_rather_than_serve_plain_http() {
    let stderr = refused_start(
        "axum_server",
        &[
            ("ROAMIFY_WEBHOOK_SECRET", "whsec_readme"),
            ("TLS_CERT_FILE", "/nonexistent/cert.pem"),
            ("TLS_KEY_FILE", "/nonexistent/key.pem"),
        ],
    );
    assert!(
        stderr.contains("axum_server: axum_server serves plain HTTP only"),
        "{stderr}"
    );
}

#[test]
fn handled_keys_reads_torn_lines_and_event_ids() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("handled.log");
    let sha = "a".repeat(64);
    let other = "0123456789abcdef".repeat(4);
    // A key, a torn start glued to the next process's key, a refund's event_id.
    std::fs::write(
        &log,
        format!("{sha}\n{}{other}\nrfd_42_refunded\n", &sha[..10]),
    )
    .expect("write the log");
    assert_eq!(
        handled_keys(&log),
        [sha, other, "rfd_42_refunded".to_owned()]
    );
}
