//! The two sides of the store contract, each operation one script.

use std::time::Duration;

use roamify_hooks::delivery::backend::unix_millis;
use roamify_hooks::delivery::{
    Admin, DeadLetter, Delivery, Described, Enqueued, Filter, HistoryPage, Incoming, Job, Page,
    Queue, Resolution, Settlement, StoreCounts, StoreError, StoreFuture, StoreLimits,
};
use roamify_hooks::events::UnixTime;
use roamify_hooks::ordering::Order;

use crate::{FORGET_EVERY_MS, RedisStore, ms};

/// The order a script returns as stream (`''`: none), timestamp and serial.
fn order_of(stream: String, at: i64, serial: i64) -> Option<Order> {
    (!stream.is_empty()).then(|| Order::new(stream, at, serial == 1))
}

/// A leased job as the lease script returns it.
type Leased = (String, Vec<u8>, u32, u64, String, i64, i64, String);

impl Queue for RedisStore {
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued> {
        let limits = self.shared.limits;
        let (window, capacity) = (limits.window, limits.capacity);
        let entries = if limits.history.is_on() {
            limits.history.entries
        } else {
            0
        };
        let Incoming {
            key,
            body,
            order,
            about,
            ..
        } = delivery;
        let about = about.unwrap_or_else(|| Described::of(&body));
        let kind = about.name();
        let (stream, at, serial) = order.map_or((String::new(), 0, "0"), |o| {
            (o.stream, o.at, if o.serial { "1" } else { "0" })
        });
        let answer = self.invoke(
            "enqueue",
            |s| &s.enqueue,
            move |i| {
                // `PX` takes at least 1 ms.
                i.arg(key).arg(body).arg(ms(window).max(1)).arg(capacity);
                i.arg(stream).arg(at).arg(serial);
                i.arg(about.category).arg(about.kind);
                i.arg(about.iccid.unwrap_or_default());
                i.arg(entries).arg(ms(limits.history.age));
                i.arg(kind);
            },
        );
        Box::pin(async move {
            let answer: String = answer.await?;
            match answer.as_str() {
                "stored" => Ok(Enqueued::Stored),
                "duplicate" => Ok(Enqueued::Duplicate),
                "full" => Ok(Enqueued::Full),
                other => Err(StoreError::backend(
                    "enqueue",
                    format!("unexpected answer {other:?} from the enqueue script"),
                )),
            }
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        let now = unix_millis();
        let forget = {
            let mut at = self
                .shared
                .forget_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = now >= *at;
            if due {
                *at = now + FORGET_EVERY_MS;
            }
            due
        };
        let consumer = self.shared.consumer.clone();
        let idle = self.shared.forget_idle;
        let forgotten = forget.then(|| {
            let consumer = consumer.clone();
            self.invoke::<i64, _>(
                "remove stopped consumers",
                |s| &s.forget,
                move |i| {
                    i.arg(consumer).arg(idle);
                },
            )
        });
        let retention = crate::retention_ms(self.shared.limits);
        let leased = self.invoke::<Vec<Leased>, _>(
            "lease",
            |s| &s.lease,
            move |i| {
                i.arg(consumer).arg(max).arg(ms(visibility)).arg(retention);
            },
        );
        Box::pin(async move {
            if let Some(forgotten) = forgotten {
                // Housekeeping: its failure must not stop leasing.
                match forgotten.await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        consumers = n,
                        "removed consumers of stopped receivers from the Redis group"
                    ),
                    Err(error) => {
                        tracing::warn!(error = %error.report(), "could not remove stopped consumers")
                    }
                }
            }
            Ok(leased
                .await?
                .into_iter()
                .map(
                    |(key, body, attempts, lease, stream, at, serial, stale)| Job {
                        key,
                        body,
                        attempts,
                        lease,
                        order: order_of(stream, at, serial),
                        stale: stale.parse().ok(),
                    },
                )
                .collect())
        })
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        if batch.is_empty() {
            return Box::pin(std::future::ready(Ok(Vec::new())));
        }
        let settled = self.invoke::<Vec<i64>, _>(
            "settle",
            |s| &s.settle,
            move |i| {
                for Settlement {
                    key,
                    lease,
                    resolution,
                    ran,
                    ..
                } in batch
                {
                    // The history's attempt, when it ran (a stale or released job did not).
                    let (at, took) = match (&resolution, ran) {
                        (Resolution::Stale | Resolution::Released, _) => (String::new(), 0),
                        (_, Some((at, took))) => (at.to_string(), took),
                        (_, None) => (unix_millis().to_string(), 0),
                    };
                    let (name, after, error) = match resolution {
                        Resolution::Completed => ("completed", 0, String::new()),
                        Resolution::Stale => ("stale", 0, String::new()),
                        Resolution::Retry { after, error } => ("retry", ms(after), error),
                        Resolution::Dead { error } => ("dead", 0, error),
                        Resolution::Released => ("released", 0, String::new()),
                    };
                    i.arg(key).arg(lease).arg(name).arg(after).arg(error);
                    i.arg(at).arg(took);
                }
            },
        );
        Box::pin(async move { Ok(settled.await?.into_iter().map(|n| n == 1).collect()) })
    }

    fn limits(&self) -> StoreLimits {
        self.shared.limits
    }
}

impl Admin for RedisStore {
    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        self.search_history(filter, page)
    }

    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        self.history_of(key)
    }

    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        let paused = self.invoke::<i64, _>(
            "pause",
            |s| &s.pause,
            move |i| {
                i.arg(kind);
            },
        );
        Box::pin(async move { Ok(paused.await? == 1) })
    }

    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        let resumed = self.invoke::<i64, _>(
            "resume",
            |s| &s.resume,
            move |i| {
                i.arg(kind);
            },
        );
        Box::pin(async move { Ok(resumed.await? == 1) })
    }

    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        let mut connection = self.connection.clone();
        let key = format!("{}paused", self.shared.prefix);
        self.runtime.run("list paused kinds", async move {
            let mut kinds: Vec<String> = redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut connection)
                .await
                .map_err(|e| StoreError::backend("list paused kinds", e))?;
            kinds.sort();
            Ok(kinds)
        })
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        type Listed = (String, Vec<u8>, u32, String, i64, String, i64, i64);
        let listed =
            self.invoke::<Vec<Listed>, _>("list dead letters", |s| &s.dead_letters, |_| {});
        Box::pin(async move {
            Ok(listed
                .await?
                .into_iter()
                .map(
                    |(key, body, attempts, error, dead_at, stream, at, serial)| DeadLetter {
                        key,
                        body,
                        attempts,
                        error,
                        dead_at: UnixTime::from_secs(dead_at / 1000),
                        order: order_of(stream, at, serial),
                    },
                )
                .collect())
        })
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        let replayed = self.invoke::<i64, _>(
            "replay",
            |s| &s.replay,
            move |i| {
                i.arg(key);
            },
        );
        Box::pin(async move { Ok(replayed.await? == 1) })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        let counted = self.invoke::<(usize, usize, usize, usize), _>(
            "count deliveries",
            |s| &s.counts,
            |_| {},
        );
        Box::pin(async move {
            let (ready, leased, retrying, dead) = counted.await?;
            Ok(StoreCounts::new(ready, leased, retrying, dead))
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        let discarded = self.invoke::<i64, _>(
            "discard",
            |s| &s.discard,
            move |i| {
                i.arg(key);
            },
        );
        Box::pin(async move { Ok(discarded.await? == 1) })
    }
}
