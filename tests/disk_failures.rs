//! The durable stores when the disk refuses writes, for real: the server example runs as a
//! child process in a durable mode while the operating system makes its store's files unwritable.
//!
//! - A file size limit (`RLIMIT_FSIZE`, set with `prlimit`, with `SIGXFSZ` ignored) that the
//!   SQLite database reaches: writes past it fail with `EFBIG` or come out short, as on a full
//!   disk. The journal writes into segment files allocated whole when it opens, so it meets a
//!   full disk at start-up, not while running: the server then refuses to start.
//! - The SQLite database's files, or the journal's segment files, made immutable (`chattr +i`),
//!   then writable again (needs root with `CAP_LINUX_IMMUTABLE` on a file system that supports
//!   it; skipped, saying so, elsewhere, unless `ROAMIFY_TEST_NO_SKIP` is set, as CI does).
//!
//! Each time the server keeps running, answers 503 for deliveries it cannot store and logs which
//! delivery and why, and loses nothing it acknowledged: every delivery answered 200 is handled in
//! the end, checked by idempotency key in the server's `HANDLED_LOG`.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use support::{Running, start_server};

const SECRET: &str = "whsec_disk";

fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":{n}.25,"currency":"EUR","padding":"{}"}}}}"#, "x".repeat(200))
        .into_bytes()
}

/// Says a test was skipped, and why; fails it instead when `ROAMIFY_TEST_NO_SKIP` is set (as
/// CI does, so that CI never skips).
fn skip(why: &str) {
    assert!(
        std::env::var_os("ROAMIFY_TEST_NO_SKIP").is_none(),
        "{why}, and ROAMIFY_TEST_NO_SKIP is set"
    );
    eprintln!("skipped: {why}");
}

/// A server's files: its store (a SQLite database or a journal's directory), its `HANDLED_LOG`,
/// in a directory of their own.
struct Files {
    dir: tempfile::TempDir,
    store: std::path::PathBuf,
    handled: std::path::PathBuf,
    mode: String,
}

impl Files {
    /// For `ROAMIFY_DELIVERY=<scheme>:…`: `durable` (SQLite) or `journal`.
    fn new(scheme: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join(match scheme {
            "durable" => "deliveries.sqlite",
            _ => "journal",
        });
        Self {
            handled: dir.path().join("handled.log"),
            mode: format!("{scheme}:{}", store.display()),
            store,
            dir,
        }
    }

    /// The store's files that the disk can refuse to write. For SQLite, the database and its
    /// write-ahead log, not the `-shm` index: SQLite maps it into memory, and a write through a
    /// mapping of an immutable file kills the process with SIGBUS (seen: exit status 135), which
    /// no store can answer. For a journal, its segment files.
    fn writes(&self) -> Vec<std::path::PathBuf> {
        if self.store.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&self.store)
                .expect("the journal's directory")
                .map(|entry| entry.expect("a directory entry").path())
                .filter(|path| path.is_file())
                .collect();
            files.sort();
            files
        } else {
            let mut wal = self.store.clone().into_os_string();
            wal.push("-wal");
            vec![self.store.clone(), wal.into()]
        }
    }

    /// The server's variables: the delivery mode on the store, the handled log, and a short
    /// visibility timeout (a stopped server's leases are taken over soon after a restart).
    fn env(&self) -> [(&str, &str); 3] {
        [
            ("ROAMIFY_DELIVERY", &self.mode),
            ("HANDLED_LOG", self.handled.to_str().expect("utf-8 path")),
            ("VISIBILITY_TIMEOUT_SECS", "2"),
        ]
    }
}

/// How the server answered one delivery.
struct Answer {
    status: u16,
    body: String,
    key: String,
}

/// Sends delivery `n` to the server at `url`, whose log is `log` (shown if it does not answer).
async fn send(client: &reqwest::Client, url: &str, log: &Path, n: u32) -> Answer {
    let body = body(n);
    let signature = roamify_hooks::testing::sign(SECRET, &body);
    let key = hex::encode(Sha256::digest(&body));
    let response = match client
        .post(url)
        .header("X-Roamify-Signature", signature)
        .body(body)
        .send()
        .await
    {
        Ok(response) => response,
        Err(error) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!(
                "delivery {n}: the server did not answer: {error}; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        }
    };
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Answer { status, body, key }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The server example with its log (WARN and above) copied to `log`, under a file size limit of
/// `limit` bytes when given, with `SIGXFSZ` ignored so that a write past the limit fails instead
/// of killing the process.
fn start_logged(limit: Option<u64>, log: &Path, env: &[(&str, &str)]) -> (Running, String) {
    let mut command = match limit {
        Some(limit) => limited_server(limit),
        None => Command::new(support::example("server")),
    };
    command.env("NO_COLOR", "1");
    support::start_command_logged(command, "server", SECRET, env, log)
}

/// The server example under a file size limit of `limit` bytes, with `SIGXFSZ` ignored.
fn limited_server(limit: u64) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"trap '' XFSZ; exec prlimit --fsize="$1" -- "$2""#)
        .arg("sh")
        .arg(limit.to_string())
        .arg(support::example("server"));
    command
}

/// Whether `prlimit` can be run; says the test was skipped when not.
fn has_prlimit() -> bool {
    let found = Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !found {
        skip("prlimit (util-linux) is not installed");
    }
    found
}

/// The server's log once it holds `needle` (lines reach it within about 100 ms), for the causes
/// of its refusals: answers say only "temporarily unavailable", since what failed inside is not
/// the sender's business.
async fn log_with(path: &Path, needle: &str) -> String {
    for _ in 0..100 {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the server's log never said {needle:?}:\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

/// The server's log line for the refusal of the delivery `key`, checked for the store's reason
/// and the event's names.
async fn refusal(log: &Path, key: &str) -> String {
    let needle = format!("key=\"{key}\"");
    let line = log_with(log, &needle)
        .await
        .lines()
        .find(|line| line.contains(&needle))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.contains("delivery refused for now (503)")
            && line.contains(r#"reason="store_failed""#)
            && line.contains("category=partner kind=top_up"),
        "{line}"
    );
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_at_the_file_size_limit_answers_503_and_loses_nothing_acknowledged() {
    if !has_prlimit() {
        return;
    }
    let files = Files::new("durable");
    let (log, env) = (&files.handled, files.env());
    // Room for some tens of deliveries (each commit appends several 4 KiB pages to the
    // write-ahead log); the handled log (65 bytes a delivery) stays far under it.
    let limit = 2 * 1024 * 1024;
    let server_log = files.dir.path().join("server.log");
    let (server, addr) = start_logged(Some(limit), &server_log, &env);
    let url = format!("http://{addr}/webhooks/roamify");
    let client = client();

    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    let mut n = 0;
    while refused.len() < 20 && n < 20_000 {
        n += 1;
        let answer = send(&client, &url, &server_log, n).await;
        match answer.status {
            200 => acknowledged.push(answer.key),
            503 => refused.push(answer),
            other => panic!("delivery {n}: {other} {}", answer.body),
        }
    }
    assert!(
        refused.len() == 20,
        "{n} deliveries of about 400 bytes each fit under a {limit}-byte file size limit"
    );
    assert!(
        acknowledged.len() > 10,
        "only {} deliveries were stored before the limit",
        acknowledged.len()
    );
    // The answer says only "temporarily unavailable"; the log says which delivery and why.
    let line = refusal(&server_log, &refused[0].key).await;
    let cause = line.split("cause=").nth(1).unwrap_or_default();
    assert!(
        cause.contains("disk I/O error") || cause.contains("database or disk is full"),
        "{line}"
    );
    eprintln!(
        "{} deliveries acknowledged under the limit, then 503: {}; logged cause: {cause}",
        acknowledged.len(),
        refused[0].body
    );
    // Still serving: another refused delivery is answered, not dropped.
    assert_eq!(send(&client, &url, &server_log, n + 1).await.status, 503);
    drop(server);

    // Restarted without the limit, on the same file: every acknowledged delivery is handled,
    // and new deliveries are stored again.
    let (_server, addr) = start_server(SECRET, &env);
    let url = format!("http://{addr}/webhooks/roamify");
    let answer = send(&client, &url, &server_log, n + 2).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    acknowledged.push(answer.key);
    support::all_handled(&acknowledged, log).await;
}

/// The journal allocates its two segment files whole when it opens (64 MiB each by default), so
/// a disk without room for them stops the server at start-up, saying which file and why, rather
/// than accepting deliveries it could not store. The half-allocated file it leaves does not stand
/// in the way: started again with room, the server opens the same directory and stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_without_room_for_its_segments_stops_the_server_at_start_up() {
    if !has_prlimit() {
        return;
    }
    let files = Files::new("journal");
    let env = files.env();
    let mut server = limited_server(1024 * 1024)
        .envs(env)
        .env("ROAMIFY_WEBHOOK_SECRET", SECRET)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server example");
    // It must stop on its own; one that started serving is killed and the test fails.
    let mut waited = Duration::ZERO;
    while server.try_wait().expect("the server's status").is_none() {
        if waited > Duration::from_secs(30) {
            let _ = server.kill();
            panic!("the server started although its journal has no room for its segments");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let output = server.wait_with_output().expect("the server's output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let segment = files.store.join("journal.0");
    let line = stderr
        .lines()
        .find(|line| {
            line.starts_with("server: cannot build the receiver: the delivery store could not")
        })
        .unwrap_or_else(|| panic!("no start-up error on stderr:\n{stderr}"));
    assert!(
        line.contains(&segment.display().to_string()) && line.contains("File too large"),
        "the error names the segment file and the cause: {line}"
    );
    eprintln!("refused to start: {line}");

    // With room, the same directory opens and stores deliveries.
    let server_log = files.dir.path().join("server.log");
    let (_server, addr) = start_logged(None, &server_log, &env);
    let url = format!("http://{addr}/webhooks/roamify");
    let answer = send(&client(), &url, &server_log, 1).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    support::all_handled(&[answer.key], &files.handled).await;
}

/// `chattr` on the store's files; false when the file system or the process cannot.
fn chattr(flag: &str, files: &[std::path::PathBuf]) -> bool {
    files.iter().all(|file| {
        Command::new("chattr")
            .arg(flag)
            .arg(file)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

/// Removes the immutable flag from `files` when dropped, so a failed assertion leaves a
/// directory that can be deleted.
struct Mutable<'a>(&'a [std::path::PathBuf]);

impl Drop for Mutable<'_> {
    fn drop(&mut self) {
        chattr("-i", self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_database_answers_503_and_recovers_once_writable_again() {
    immutable_store_answers_503_and_recovers("durable", "disk I/O error").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_journal_answers_503_and_recovers_once_writable_again() {
    immutable_store_answers_503_and_recovers("journal", "Operation not permitted").await;
}

/// The store of `ROAMIFY_DELIVERY=<scheme>:…` made immutable while the server runs: 503s whose
/// logged cause holds `cause`; writable again, deliveries are stored again, and every delivery
/// acknowledged before, during or after is handled.
async fn immutable_store_answers_503_and_recovers(scheme: &str, cause: &str) {
    let files = Files::new(scheme);
    let (log, env) = (&files.handled, files.env());
    let server_log = files.dir.path().join("server.log");
    let (_server, addr) = start_logged(None, &server_log, &env);
    let url = format!("http://{addr}/webhooks/roamify");
    let client = client();

    let mut acknowledged = Vec::new();
    for n in 1..=20 {
        let answer = send(&client, &url, &server_log, n).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        acknowledged.push(answer.key);
    }
    let unwritable = files.writes();
    let guard = Mutable(&unwritable);
    if !chattr("+i", &unwritable) {
        skip(
            "`chattr +i` is not available here (needs root with CAP_LINUX_IMMUTABLE on ext4, XFS or btrfs)",
        );
        return;
    }

    // Unwritable: nothing is acknowledged; the log says which delivery and why.
    for n in 21..=40 {
        let answer = send(&client, &url, &server_log, n).await;
        assert_eq!(answer.status, 503, "delivery {n}: {}", answer.body);
        if n == 40 {
            let line = refusal(&server_log, &answer.key).await;
            assert!(line.contains(cause), "{line}");
        }
    }

    // Writable again: deliveries are stored again (the first may still meet the failed state).
    drop(guard);
    let mut n = 41;
    let mut recovered = false;
    for _ in 0..200 {
        let answer = send(&client, &url, &server_log, n).await;
        n += 1;
        match answer.status {
            200 => {
                acknowledged.push(answer.key);
                recovered = true;
                break;
            }
            503 => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("delivery {n}: {other} {}", answer.body),
        }
    }
    assert!(
        recovered,
        "still refusing 10 s after the files became writable"
    );
    for m in n..n + 20 {
        let answer = send(&client, &url, &server_log, m).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        acknowledged.push(answer.key);
    }
    // Every delivery acknowledged before, during or after is handled.
    support::all_handled(&acknowledged, log).await;
}
