//! How the stores' own writer threads are scheduled.

/// Makes the calling thread a *batch* thread (Linux's `SCHED_BATCH`): it keeps its nice value
/// and its fair share of CPU time, but its wake-ups no longer preempt the thread that is
/// running. Elsewhere (another system, musl) it does nothing.
///
/// For the threads that write a store to disk (the journal's flusher, SQLite's two): woken when
/// the disk answers, such a thread otherwise preempts the HTTP thread in the middle of the
/// requests it has ready, answers the few deliveries stored so far and starts the next flush with
/// a small group. As a batch thread it runs once the HTTP thread waits, and takes everything that
/// thread stored meanwhile. On one core (the server and its stores on CPU 0) this raised the
/// journal's throughput by 17–22 % and SQLite's by 1–6 %, with lower median latency. Tried the
/// same way, the queued mode's workers got slower and the network stores' threads (PostgreSQL,
/// Redis) gained nothing measurable, so they are left as they are (`BENCHMARKS.md`, 2026-12-03).
/// The price: on a core kept fully busy, a woken writer waits for the running thread's time
/// slice to end (a few milliseconds at most) before it flushes; with a core to spare it runs at
/// once, as before.
///
/// A failure (a seccomp filter, say) is logged at DEBUG and changes nothing else.
fn batch_thread() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Err(error) = set_batch_policy() {
        tracing::debug!(
            target: "roamify_hooks",
            %error,
            "this store thread stays under the default scheduling policy"
        );
    }
}

/// Starts a store's writer thread named `name`, running `work` as a batch thread (see
/// [`batch_thread`]).
pub(super) fn spawn_writer<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            batch_thread();
            work()
        })
}

/// `sched_setscheduler(0, SCHED_BATCH, {0})`: the calling thread's policy, nothing else.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_batch_policy() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: the call only reads `param`, a valid value that outlives it, and changes only the
    // scheduling policy of the calling thread (pid 0); a normal policy such as `SCHED_BATCH`
    // needs no privilege and keeps the thread's nice value.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &raw const param) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    /// The calling thread's scheduling policy, as the system reports it: field 41 of
    /// `/proc/thread-self/stat` (0 is `SCHED_OTHER`, 3 `SCHED_BATCH`).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        // The fields after the command name (which may hold spaces) start at field 3.
        let after_name = stat.rsplit_once(") ").expect("a stat line").1;
        let field = after_name.split(' ').nth(41 - 3).expect("field 41");
        field.parse().expect("a policy number")
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn only_the_calling_thread_becomes_a_batch_thread() {
        let before = policy();
        let inside = std::thread::spawn(|| {
            super::batch_thread();
            policy()
        })
        .join()
        .expect("the thread ran");
        assert_eq!(before, 0, "threads start under SCHED_OTHER");
        assert_eq!(inside, 3, "SCHED_BATCH after batch_thread()");
        assert_eq!(
            policy(),
            before,
            "the calling thread's neighbours are unchanged"
        );
    }
}
