//! The README's quickstart, run for real: the `server` example as a child process on an
//! OS-assigned port, and the `send` example delivering every kind to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use roamify_hooks::CATALOG;

/// `target/<profile>/examples/<name>`, built by `cargo test` with the test itself.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server example and returns it with its `host:port`.
fn start_server(secret: &str) -> (Running, String) {
    let mut child = Command::new(example("server"))
        .env("ROAMIFY_WEBHOOK_SECRET", secret)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("WORKERS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server example (built by cargo test)");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server's first line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/webhooks/roamify"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (running, addr)
}

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
    let (_server, addr) = start_server("whsec_readme");
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

#[test]
fn server_refuses_to_start_without_a_secret() {
    let output = Command::new(example("server"))
        .env_remove("ROAMIFY_WEBHOOK_SECRET")
        .env("BIND_ADDR", "127.0.0.1:0")
        .output()
        .expect("run the server example");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("server:"))
        .collect();
    assert_eq!(message.len(), 1, "{stderr}");
    assert!(message[0].contains("ROAMIFY_WEBHOOK_SECRET"), "{stderr}");
}
