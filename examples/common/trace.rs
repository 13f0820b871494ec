//! `ORDER_LOG` and `HANDLER_SLEEP_MS`: a record of the eSIM handlers' runs, which the ordering
//! tests read to see which deliveries ran, in what order, and whether two of one eSIM overlapped.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the eSIM handlers record their runs (`ORDER_LOG`), and how long each one lasts
/// (`HANDLER_SLEEP_MS`, default 0).
#[derive(Debug, Default)]
pub(crate) struct Trace {
    file: Option<Mutex<std::fs::File>>,
    sleep: Duration,
}

impl Trace {
    pub(crate) fn from_env() -> Result<Self, String> {
        let file = match std::env::var("ORDER_LOG") {
            Err(_) => None,
            Ok(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| format!("ORDER_LOG {path}: {e}"))?,
            )),
        };
        let sleep = match std::env::var("HANDLER_SLEEP_MS") {
            Err(_) => Duration::ZERO,
            Ok(ms) => Duration::from_millis(
                ms.parse()
                    .map_err(|_| "HANDLER_SLEEP_MS must be a number of milliseconds")?,
            ),
        };
        Ok(Self { file, sleep })
    }

    /// Records the start of a run of `kind` for `iccid`'s event signed at `timestamp`; its end
    /// is recorded when the returned guard is dropped.
    pub(crate) fn started<'a>(&'a self, kind: &'a str, iccid: &'a str, timestamp: i64) -> Run<'a> {
        self.write("start", kind, iccid, timestamp);
        Run {
            trace: self,
            kind,
            iccid,
            timestamp,
        }
    }

    /// The run's pause (`HANDLER_SLEEP_MS`).
    pub(crate) async fn pause(&self) {
        if !self.sleep.is_zero() {
            tokio::time::sleep(self.sleep).await;
        }
    }

    /// One line, in one `write` (the file is shared by several processes, in append mode):
    /// `start|end <kind> <iccid> <timestamp> <unix nanoseconds> <process id>`.
    fn write(&self, what: &str, kind: &str, iccid: &str, timestamp: i64) {
        let Some(file) = &self.file else {
            return;
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let line = format!(
            "{what} {kind} {iccid} {timestamp} {nanos} {}\n",
            std::process::id()
        );
        if let Ok(mut file) = file.lock()
            && let Err(error) = file.write_all(line.as_bytes())
        {
            tracing::error!(%error, "could not append to ORDER_LOG");
        }
    }
}

/// A run being recorded: its end is written when dropped.
pub(crate) struct Run<'a> {
    trace: &'a Trace,
    kind: &'a str,
    iccid: &'a str,
    timestamp: i64,
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.trace
            .write("end", self.kind, self.iccid, self.timestamp);
    }
}
