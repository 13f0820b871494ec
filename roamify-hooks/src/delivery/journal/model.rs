//! The journal checked against a model through simulated power cuts: random sequences of
//! enqueues, duplicates, leases, settlements (done, retry, dead), replays and discards on the
//! real store over [`SimDisk`], the power cut at a random call (inside segment switches and
//! snapshots too), the disk coming back with any part of what was not synced, and after every
//! reopen the store compared with what at-least-once delivery allows.
//!
//! Seeded: a failure names its seed; `ROAMIFY_MODEL_SEEDS` and `ROAMIFY_MODEL_FIRST_SEED` set how
//! many runs and from which seed (`bench/journal-model.sh` runs many). The flusher thread
//! decides how settlements group into flushes, so a seed replays the same operations but not
//! always the same flushes.

use crate::delivery::Incoming;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::sim::{Cut, SimDisk};
use super::{JournalOptions, JournalStore, MIN_SEGMENT_SIZE};
use crate::delivery::store::{Admin, Enqueued, Job, Queue, Resolution, Settlement, StoreLimits};

const DIR: &str = "/data/journal";
const LONG: Duration = Duration::from_secs(3600);

/// What the model knows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Its enqueue returned an error: it may or may not be stored (pending), never dead.
    Maybe,
    Pending,
    Dead,
    /// Completed: gone, or pending again while the record is not known to be on disk.
    Completed,
    Discarded,
}

impl Known {
    /// Where a key in this state may be found after a reopen.
    fn places(self) -> u8 {
        match self {
            Self::Maybe => PENDING | GONE,
            Self::Pending => PENDING,
            Self::Dead => DEAD,
            Self::Completed | Self::Discarded => GONE,
        }
    }
}

const PENDING: u8 = 1;
const DEAD: u8 = 2;
const GONE: u8 = 4;

#[derive(Debug, Clone, Copy)]
struct Key {
    known: Known,
    /// Where it may be found after a reopen: its state when the disk last caught up (a later
    /// operation that waits for the disk returned), and every state since.
    places: u8,
    /// Its enqueue returned `Stored` (or a reopen found it): its dedupe key must stay known.
    acked: bool,
}

/// One run's settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub(super) seed: u64,
    /// Power cuts (and reopens) in the run.
    pub(super) cuts: u32,
    /// The defect to catch: the journal answers before `fdatasync`.
    pub(super) answer_before_sync: bool,
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

fn options() -> JournalOptions {
    JournalOptions::default()
        .segment_size(MIN_SEGMENT_SIZE)
        .limits(StoreLimits::default().window(LONG).capacity(100_000))
        .dead_letters(100_000)
}

/// Runs one seeded sequence; `Err` names the first way the store broke a promise.
pub(super) fn check(run: Run) -> Result<u64, String> {
    let mut rng = fastrand::Rng::with_seed(run.seed);
    let mut disk = SimDisk::default();
    let mut keys: BTreeMap<String, Key> = BTreeMap::new();
    let mut next = 0u64;
    let mut operations = 0;
    for cut in 0..=run.cuts {
        let last = cut == run.cuts;
        if !last {
            disk.cut_power_after(rng.u64(3..120));
        }
        let opened = JournalStore::open_on(Arc::new(disk.clone()), Path::new(DIR), options(), None);
        let store = match opened {
            Ok(store) => store,
            Err(error) if disk.is_off() => {
                let _ = error;
                disk = disk.after_power_cut(Cut::ALL[rng.usize(..Cut::ALL.len())], &mut rng);
                continue;
            }
            Err(error) => return Err(format!("reopen failed: {}", error.report())),
        };
        if run.answer_before_sync {
            store
                .shared
                .answer_before_sync
                .store(true, Ordering::Relaxed);
        }
        compare(&store, &mut keys).map_err(|e| format!("after reopen {cut}: {e}"))?;
        if !last && rng.u8(..6) == 0 {
            // A write or a flush fails (its unsynced data lost) without a power cut.
            let kind = if rng.bool() {
                std::io::ErrorKind::StorageFull
            } else {
                std::io::ErrorKind::Other
            };
            disk.fail_after(rng.u64(1..20), kind);
        }
        let steps = if last { 0 } else { 400 };
        let mut leased: Vec<Job> = Vec::new();
        for _ in 0..steps {
            if disk.is_off() {
                break;
            }
            operations += 1;
            step(&store, &mut rng, &mut keys, &mut next, &mut leased);
        }
        disk.cut_power();
        drop(store);
        disk = disk.after_power_cut(Cut::ALL[rng.usize(..Cut::ALL.len())], &mut rng);
    }
    Ok(operations)
}

fn mark_synced(keys: &mut BTreeMap<String, Key>) {
    for key in keys.values_mut() {
        if key.known != Known::Maybe {
            key.places = key.known.places();
        }
    }
}

impl Key {
    /// A change not yet known to be on disk.
    fn change(&mut self, known: Known) {
        self.known = known;
        self.places |= known.places();
    }
}

fn step(
    store: &JournalStore,
    rng: &mut fastrand::Rng,
    keys: &mut BTreeMap<String, Key>,
    next: &mut u64,
    leased: &mut Vec<Job>,
) {
    match rng.u8(..10) {
        0..=3 => {
            *next += 1;
            let key = format!("k{next}");
            let body = vec![b'x'; rng.usize(10..3000)];
            let known = match block_on(store.enqueue(Incoming::new(key.clone(), body))) {
                Ok(Enqueued::Stored) => {
                    mark_synced(keys);
                    Known::Pending
                }
                _ => Known::Maybe,
            };
            let acked = known == Known::Pending;
            let places = known.places();
            keys.insert(
                key,
                Key {
                    known,
                    places,
                    acked,
                },
            );
        }
        4 => {
            let acked: Vec<&String> = keys
                .iter()
                .filter(|(_, k)| k.acked)
                .map(|(k, _)| k)
                .collect();
            if let Some(key) = acked.get(rng.usize(..acked.len().max(1))) {
                let key = (*key).clone();
                if let Ok(answer) = block_on(store.enqueue(Incoming::new(key, b"again".to_vec()))) {
                    assert_eq!(answer, Enqueued::Duplicate, "a known key");
                    mark_synced(keys);
                }
            }
        }
        5 | 6 => {
            if let Ok(jobs) = block_on(store.lease(rng.usize(1..4), LONG)) {
                leased.extend(jobs);
            }
        }
        7 | 8 => {
            if leased.is_empty() {
                return;
            }
            let job = leased.swap_remove(rng.usize(..leased.len()));
            let (resolution, known) = match rng.u8(..3) {
                0 => (Resolution::Completed, Known::Completed),
                1 => (
                    Resolution::Retry {
                        after: Duration::ZERO,
                        error: "again".into(),
                    },
                    Known::Pending,
                ),
                _ => (
                    Resolution::Dead {
                        error: "gave up".into(),
                    },
                    Known::Dead,
                ),
            };
            let settled = block_on(store.settle(vec![Settlement::new(&job, resolution)]));
            if settled.is_ok_and(|done| done == [true])
                && let Some(key) = keys.get_mut(&job.key)
            {
                key.change(known);
            }
        }
        _ => {
            let dead: Vec<String> = keys
                .iter()
                .filter(|(_, k)| k.known == Known::Dead)
                .map(|(k, _)| k.clone())
                .collect();
            let Some(key) = dead.get(rng.usize(..dead.len().max(1))).cloned() else {
                return;
            };
            let replay = rng.bool();
            let answer = if replay {
                block_on(store.replay(key.clone()))
            } else {
                block_on(store.discard(key.clone()))
            };
            let known = if replay {
                Known::Pending
            } else {
                Known::Discarded
            };
            match answer {
                Ok(true) => {
                    keys.get_mut(&key).expect("known").change(known);
                    mark_synced(keys);
                }
                // Changed in memory; on disk or not.
                Err(_) => keys.get_mut(&key).expect("known").change(known),
                Ok(false) => {}
            }
        }
    }
}

/// Compares the reopened store with the model, then takes what it holds as the model's truth.
fn compare(store: &JournalStore, keys: &mut BTreeMap<String, Key>) -> Result<(), String> {
    let counts = block_on(store.counts()).map_err(|e| e.report())?;
    if counts.leased != 0 {
        return Err(format!("leases survived a reopen: {counts:?}"));
    }
    let jobs = block_on(store.lease(usize::MAX, LONG)).map_err(|e| e.report())?;
    let pending: BTreeSet<String> = jobs.iter().map(|job| job.key.clone()).collect();
    let releases = jobs
        .iter()
        .map(|job| Settlement::new(job, Resolution::Released))
        .collect();
    block_on(store.settle(releases)).map_err(|e| e.report())?;
    if pending.len() != counts.pending() {
        return Err(format!("{} leasable, {counts:?}", pending.len()));
    }
    let dead: BTreeSet<String> = block_on(store.dead_letters())
        .map_err(|e| e.report())?
        .into_iter()
        .map(|letter| letter.key)
        .collect();
    for key in pending.iter().chain(&dead) {
        if !keys.contains_key(key) {
            return Err(format!("{key} was never enqueued, yet it is there"));
        }
    }
    for (key, model) in keys.iter_mut() {
        let (is_pending, is_dead) = (pending.contains(key), dead.contains(key));
        let place = if is_pending {
            PENDING
        } else if is_dead {
            DEAD
        } else {
            GONE
        };
        // Never acknowledged: it may or may not have been stored, and then run.
        let allowed = !model.acked || model.places & place != 0;
        if !allowed {
            return Err(format!(
                "{key}: the model has {model:?}, the store has it {}",
                if is_pending {
                    "pending"
                } else if is_dead {
                    "dead"
                } else {
                    "gone"
                }
            ));
        }
        model.known = if is_pending {
            Known::Pending
        } else if is_dead {
            Known::Dead
        } else if model.known == Known::Discarded {
            Known::Discarded
        } else {
            Known::Completed
        };
        model.acked |= is_pending || is_dead;
        model.places = place;
    }
    // Every acknowledged key is still known for deduplication.
    for (key, model) in keys.iter() {
        if model.acked {
            let answer = block_on(store.enqueue(Incoming::new(key.clone(), b"again".to_vec())))
                .map_err(|e| e.report())?;
            if answer != Enqueued::Duplicate {
                return Err(format!(
                    "{key}: acknowledged, yet no longer known ({answer:?})"
                ));
            }
        }
    }
    Ok(())
}

/// How many seeded runs, from which seed: `ROAMIFY_MODEL_SEEDS`, `ROAMIFY_MODEL_FIRST_SEED`.
fn seeds(default: u64) -> std::ops::Range<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let first = var("ROAMIFY_MODEL_FIRST_SEED").unwrap_or(1);
    first..first + var("ROAMIFY_MODEL_SEEDS").unwrap_or(default)
}

#[test]
fn the_journal_keeps_its_promises_through_simulated_power_cuts() {
    let mut operations = 0;
    let seeds = seeds(60);
    let runs = seeds.end - seeds.start;
    for seed in seeds {
        let run = Run {
            seed,
            cuts: 6,
            answer_before_sync: false,
        };
        match check(run) {
            Ok(done) => operations += done,
            Err(error) => panic!(
                "seed {seed}: {error} (ROAMIFY_MODEL_FIRST_SEED={seed} ROAMIFY_MODEL_SEEDS=1 reruns it)"
            ),
        }
    }
    eprintln!(
        "{runs} runs, {operations} operations, {} power cuts",
        runs * 6
    );
}

/// The harness can fail: a journal that answers before its `fdatasync` returns is caught.
#[test]
fn the_power_cut_check_catches_a_journal_that_answers_before_fdatasync() {
    let caught = (1..=200).find_map(|seed| {
        let run = Run {
            seed,
            cuts: 6,
            answer_before_sync: true,
        };
        check(run).err().map(|error| (seed, error))
    });
    let (seed, error) = caught
        .expect("a journal answering before fdatasync lost no acknowledged delivery in 200 runs");
    eprintln!("caught at seed {seed}: {error}");
    assert!(
        error.contains("the model has"),
        "caught by the model's comparison: {error}"
    );
}
