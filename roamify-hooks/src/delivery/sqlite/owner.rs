//! The thread that owns the connection: runs every waiting command in one transaction (group
//! commit) and answers each once it committed (a stored delivery once it is on disk).

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::holders::{Gone, Holder};
use super::{Answer, Command, Op, Reply, backend, history, is_full, order, rows, sync};
use crate::delivery::StoreError;
use crate::delivery::backend::{PurgePacer, unix_millis};
use crate::delivery::store::{Enqueued, StoreLimits};

/// Commands run in one transaction, at most.
const MAX_GROUP: usize = 4096;

/// The thread that owns the connection.
pub(super) struct Owner {
    pub(super) conn: Connection,
    pub(super) purge: PurgePacer,
    /// Committed answers, on their way to the flusher.
    pub(super) committed: mpsc::Sender<sync::Committed>,
    pub(super) limits: StoreLimits,
    /// This store's registration, and when to look for holders that are gone.
    pub(super) holder: Holder,
    /// Holders whose leases the running transaction takes back: forgotten once it commits.
    pub(super) taken_back: Vec<Gone>,
}

/// The shared counters, read at the start of a transaction and written back at its end.
pub(super) struct Meta {
    pub(super) pending: i64,
    pub(super) next_lease: i64,
    /// The id the next history row takes, once this transaction read it (no other process
    /// writes while it holds the write lock).
    pub(super) next_hid: Option<i64>,
    /// The oldest history row kept, once read.
    pub(super) oldest_hid: Option<i64>,
}

impl Owner {
    /// Takes back the leases of every holder that is gone, in a transaction of its own.
    pub(super) fn take_back(&mut self) -> Result<(), StoreError> {
        self.run_group(&[]).map(drop)
    }

    pub(super) fn serve(&mut self, commands: &mpsc::Receiver<Command>) {
        while let Ok(first) = commands.recv() {
            let mut group = vec![first];
            group.extend(commands.try_iter().take(MAX_GROUP - 1));
            let (ops, replies): (Vec<Op>, Vec<Reply>) =
                group.into_iter().map(|c| (c.op, c.reply)).unzip();
            match self.run_group(&ops) {
                // A full file fails what needs more room, not what frees or only reads it: each
                // command runs again on its own, so workers still record their outcomes (and free
                // space) while new deliveries are refused.
                Err(error) if ops.len() > 1 && is_full(&error) => {
                    let mut refused = 0_usize;
                    for (op, reply) in ops.iter().zip(replies) {
                        let result = self.run_group(std::slice::from_ref(op));
                        refused += usize::from(result.is_err());
                        self.answer(vec![reply], std::slice::from_ref(op), result);
                    }
                    // One line per group, not per command: a full file refuses every delivery.
                    tracing::error!(error = %error.report(), commands = ops.len(), refused, "the SQLite file is full: its commands ran one by one, those needing room were refused");
                }
                Err(error) => {
                    tracing::error!(error = %error.report(), commands = ops.len(), "SQLite transaction failed; nothing of it was kept");
                    self.answer(replies, &ops, Err(error));
                }
                Ok(answers) => self.answer(replies, &ops, Ok(answers)),
            }
        }
    }

    /// Answers the commands of one transaction: on success each with its own answer (a stored
    /// delivery only once the flusher made it durable), on failure all with its error (logged by
    /// the caller).
    fn answer(&self, replies: Vec<Reply>, ops: &[Op], result: Result<Vec<Answer>, StoreError>) {
        match result {
            Ok(answers) => {
                let mut to_flush = Vec::new();
                for ((reply, answer), op) in replies.into_iter().zip(answers).zip(ops) {
                    if op.answered_when_flushed() {
                        to_flush.push((reply, answer));
                    } else {
                        reply(Ok(answer));
                    }
                }
                if !to_flush.is_empty()
                    && let Err(mpsc::SendError(lost)) = self.committed.send(to_flush)
                {
                    for (reply, _) in lost {
                        reply(Err(StoreError::Closed));
                    }
                }
            }
            Err(error) => {
                for reply in replies {
                    reply(Err(error.clone()));
                }
            }
        }
    }

    /// Runs every op in one transaction; answers only once it committed.
    fn run_group(&mut self, ops: &[Op]) -> Result<Vec<Answer>, StoreError> {
        let conn = &self.conn;
        // Statements are prepared once and cached: parsing SQL would cost more than running it.
        conn.prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(backend("begin a transaction"))?;
        let result = self.in_transaction(ops);
        let conn = &self.conn;
        match result {
            Ok(answers) => match conn
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]))
            {
                Ok(_) => {
                    for gone in self.taken_back.drain(..) {
                        self.holder.forget(gone);
                    }
                    Ok(answers)
                }
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    // Unlocked again: the next look finds them.
                    self.taken_back.clear();
                    Err(StoreError::backend("commit", e))
                }
            },
            Err(error) => {
                let _ = conn.execute_batch("ROLLBACK");
                self.taken_back.clear();
                Err(error)
            }
        }
    }

    fn in_transaction(&mut self, ops: &[Op]) -> Result<Vec<Answer>, StoreError> {
        let now = unix_millis();
        let tx = &self.conn;
        let mut meta = tx
            .prepare_cached("SELECT pending, next_lease FROM roamify_meta WHERE id = 1")
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok(Meta {
                        pending: r.get(0)?,
                        next_lease: r.get(1)?,
                        next_hid: None,
                        oldest_hid: None,
                    })
                })
            })
            .map_err(backend("read the counters"))?;
        let before = (meta.pending, meta.next_lease);
        let mut answers = Vec::with_capacity(ops.len());
        for op in ops {
            answers.push(run(tx, &mut meta, op, self.limits, self.holder.id, now)?);
        }
        if self.purge.due(now) {
            let purged = rows::purge(tx, now).map_err(backend("purge finished deliveries"))?;
            let before = now.saturating_sub(super::ms(retention(self.limits)));
            order::purge(tx, before, crate::delivery::backend::PURGE_BATCH)
                .map_err(backend("purge old ordering marks"))?;
            history::trim_age(
                tx,
                self.limits.history,
                now,
                crate::delivery::backend::PURGE_BATCH,
            )
            .map_err(backend("purge old history"))?;
            self.purge
                .ran(now, u64::try_from(purged).unwrap_or(u64::MAX));
        }
        if self.holder.due(now) {
            for gone in self.holder.gone() {
                let taken = rows::take_back(tx, gone.id, now)
                    .map_err(backend("take back the leases of a holder that is gone"))?;
                if taken > 0 {
                    tracing::warn!(target: crate::logs::TARGET, holder = gone.id, deliveries = taken, "took back the leases of a process that is gone: due again now");
                }
                self.taken_back.push(gone);
            }
        }
        if (meta.pending, meta.next_lease) != before {
            tx.prepare_cached("UPDATE roamify_meta SET pending = ?1, next_lease = ?2 WHERE id = 1")
                .and_then(|mut s| s.execute(params![meta.pending, meta.next_lease]))
                .map_err(backend("write the counters"))?;
        }
        Ok(answers)
    }
}

/// How long a stream's mark is kept after it last moved: the dedupe window (24 h without one).
fn retention(limits: StoreLimits) -> Duration {
    if limits.window.is_zero() {
        crate::delivery::DEFAULT_IDEMPOTENCY_WINDOW
    } else {
        limits.window
    }
}

fn run(
    tx: &Connection,
    meta: &mut Meta,
    op: &Op,
    limits: StoreLimits,
    holder: i64,
    now: i64,
) -> Result<Answer, StoreError> {
    Ok(match op {
        Op::Enqueue(delivery) => {
            let hid = if limits.history.is_on() {
                Some(history::next_id(tx, meta).map_err(backend("read the history"))?)
            } else {
                None
            };
            let enqueued =
                rows::enqueue(tx, meta, delivery, hid, limits, now).map_err(backend("enqueue"))?;
            if let Some(hid) = hid {
                let key = &delivery.key;
                match enqueued {
                    Enqueued::Stored => {
                        history::stored(tx, meta, hid, delivery, limits.history, now)
                    }
                    Enqueued::Duplicate => history::duplicate(tx, key),
                    _ => Ok(()),
                }
                .map_err(backend("write the history"))?;
            }
            Answer::Enqueued(enqueued)
        }
        Op::Lease { max, visibility } => Answer::Jobs(
            rows::lease(tx, meta, *max, *visibility, retention(limits), holder, now)
                .map_err(backend("lease"))?,
        ),
        Op::Settle(batch) => Answer::Settled(
            batch
                .iter()
                .map(|one| {
                    let settled = rows::settle(tx, meta, one, now)?;
                    if settled && limits.history.is_on() {
                        history::settled(tx, one, now)?;
                    }
                    Ok(settled)
                })
                .collect::<Result<_, rusqlite::Error>>()
                .map_err(backend("settle"))?,
        ),
        Op::DeadLetters => {
            Answer::Dead(rows::dead_letters(tx).map_err(backend("list dead letters"))?)
        }
        Op::Replay(key) => {
            let replayed = rows::replay(tx, key, now).map_err(backend("replay"))?;
            if replayed {
                meta.pending += 1;
                history::replayed(tx, key).map_err(backend("write the history"))?;
            }
            Answer::Replayed(replayed)
        }
        Op::Counts => Answer::Counts(rows::counts(tx, now).map_err(backend("count deliveries"))?),
        Op::Discard(key) => {
            let discarded = rows::discard(tx, key, now).map_err(backend("discard"))?;
            if discarded {
                history::discarded(tx, key, now).map_err(backend("write the history"))?;
            }
            Answer::Discarded(discarded)
        }
        Op::History(filter, page) => Answer::History(
            history::search(tx, filter, *page).map_err(backend("search the history"))?,
        ),
        Op::Delivery(key) => {
            Answer::Delivery(history::get(tx, key).map_err(backend("read the history"))?)
        }
        Op::Pause(kind) => Answer::Changed(rows::pause(tx, kind).map_err(backend("pause"))?),
        Op::Resume(kind) => Answer::Changed(rows::resume(tx, kind).map_err(backend("resume"))?),
        Op::Paused => Answer::Paused(rows::paused(tx).map_err(backend("list paused kinds"))?),
    })
}
