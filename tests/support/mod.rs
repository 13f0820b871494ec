//! The end-to-end tests' helpers: running the examples as child processes; the runtime's own
//! helpers (fixtures) under [`runtime`]; PostgreSQL and Redis under [`postgres`] and [`redis`].
#![allow(dead_code, unreachable_pub)]

/// PostgreSQL's URL, schemas and clean-up (also used by `roamify-hooks-postgres`'s tests).
pub mod postgres;
/// Redis's URL, names and clean-up (also used by `roamify-hooks-redis`'s tests).
pub mod redis;
/// The runtime's test helpers (fixtures), shared with these tests.
#[path = "../../roamify-hooks/tests/support/mod.rs"]
pub mod runtime;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// `target/<profile>/examples/<name>`, built by `cargo test` with the tests.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// A running example, killed (SIGKILL) when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Sends SIGTERM (a clean stop), as an orchestrator does.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit, for at most `timeout`; its status, or `None`.
    pub fn exited(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

/// Starts the server example on 127.0.0.1:0 with `env`, and returns it with its `host:port`.
pub fn start_server(secret: &str, env: &[(&str, &str)]) -> (Running, String) {
    start_example("server", secret, env)
}

/// Starts the example `name` (`server` or `axum_server`) as [`start_server`] does.
pub fn start_example(name: &str, secret: &str, env: &[(&str, &str)]) -> (Running, String) {
    let (running, mut lines) = spawn_server(name, secret, env);
    (running, webhook_addr(&lines.next().unwrap_or_default()))
}

/// As [`start_server`], with `METRICS_ADDR=127.0.0.1:0`; also returns the metrics' `host:port`.
pub fn start_server_with_metrics(secret: &str, env: &[(&str, &str)]) -> (Running, String, String) {
    let mut env = env.to_vec();
    env.push(("METRICS_ADDR", "127.0.0.1:0"));
    let (running, mut lines) = spawn_server("server", secret, &env);
    let addr = webhook_addr(&lines.next().unwrap_or_default());
    let line = lines.next().unwrap_or_default();
    let metrics = line
        .trim()
        .strip_prefix("metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
        .to_owned();
    (running, addr, metrics)
}

/// As [`start_example`], with `ROAMIFY_ADMIN_TOKEN` (and whatever else `env` sets): also
/// returns the admin API's base URL as the server printed it (`http://host:port/roamify/admin/`).
pub fn start_with_admin(
    name: &str,
    secret: &str,
    env: &[(&str, &str)],
) -> (Running, String, String) {
    let (running, mut lines) = spawn_server(name, secret, env);
    let addr = webhook_addr(&lines.next().unwrap_or_default());
    let line = lines.next().unwrap_or_default();
    let admin = line
        .trim()
        .strip_prefix("admin on ")
        .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
        .to_owned();
    (running, addr, admin)
}

/// Starts `command` (which runs the example `name`, e.g. under a wrapper) as [`start_server`]
/// does, and copies the rest of its standard output (its log) to the file `log`, line by line,
/// until it exits; its standard error goes to the same file.
pub fn start_command_logged(
    mut command: Command,
    name: &str,
    secret: &str,
    env: &[(&str, &str)],
    log: &std::path::Path,
) -> (Running, String) {
    use std::io::Write as _;
    configure(&mut command, secret, env);
    let mut file = std::fs::File::create(log).expect("create the log file");
    command.stderr(file.try_clone().expect("the log file, again"));
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start the {name} example (built by cargo test): {e}"));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok);
    let first = lines
        .by_ref()
        .find(|line| line.starts_with("listening on "))
        .unwrap_or_default();
    std::thread::spawn(move || {
        for line in lines {
            if writeln!(file, "{line}").is_err() {
                break;
            }
        }
    });
    (Running(child), webhook_addr(&first))
}

fn spawn_server(
    name: &str,
    secret: &str,
    env: &[(&str, &str)],
) -> (Running, impl Iterator<Item = String> + use<>) {
    let mut command = Command::new(example(name));
    configure(&mut command, secret, env);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start the {name} example (built by cargo test): {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let lines = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter(|line| {
            line.starts_with("listening on ")
                || line.starts_with("metrics on ")
                || line.starts_with("admin on ")
        });
    (Running(child), lines)
}

/// The server's address, secret, one worker, WARN logging, no shutdown grace, its standard
/// output piped; then `env`.
fn configure(command: &mut Command, secret: &str, env: &[(&str, &str)]) {
    command
        .env("ROAMIFY_WEBHOOK_SECRET", secret)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("WORKERS", "1")
        .env("RUST_LOG", "warn")
        // Stop at once on SIGTERM (the tests of a clean stop set their own grace).
        .env("SHUTDOWN_GRACE_SECS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
}

fn webhook_addr(line: &str) -> String {
    line.trim()
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/webhooks/roamify"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}

/// The idempotency keys in a server's `HANDLED_LOG`, one per line, in file order.
///
/// A process killed while appending can leave the start of a line without its newline; the
/// next process's line then follows it on the same line. Body keys are SHA-256 in hex, of fixed
/// length, so a line ending in [`KEY_LEN`] hex digits has those as its key: the torn prefix
/// belongs to a delivery whose outcome was never recorded, which runs again and is logged again
/// whole. Other lines are an `event_id` (refunds) and are their own key.
pub fn handled_keys(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let tail = line
                .len()
                .checked_sub(KEY_LEN)
                .and_then(|at| line.get(at..))
                .filter(|tail| tail.bytes().all(|b| b.is_ascii_hexdigit()));
            tail.unwrap_or(line).to_owned()
        })
        .collect()
}

/// Waits until every key of `acknowledged` (distinct deliveries) is in the `HANDLED_LOG` at
/// `log`, for at most 30 s; panics with how many never were.
/// How long after a restart every acknowledged delivery must have been handled: far below the
/// default visibility timeout (5 min), so leases of a killed process must be taken back.
pub const HANDLED_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn all_handled(acknowledged: &[String], log: &std::path::Path) {
    let expected: std::collections::HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(expected.len(), acknowledged.len(), "distinct deliveries");
    let mut missing = expected.len();
    let deadline = std::time::Instant::now() + HANDLED_WITHIN;
    while std::time::Instant::now() < deadline {
        let handled: std::collections::HashSet<String> = handled_keys(log).into_iter().collect();
        missing = expected.iter().filter(|k| !handled.contains(**k)).count();
        if missing == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "{missing} of {} acknowledged deliveries were not handled within {HANDLED_WITHIN:?}",
        expected.len()
    );
}

/// Length of an idempotency key: a SHA-256 in hex.
pub const KEY_LEN: usize = 64;
